//! HQ's exports over HTTP, checked with GDAL: the demo programme is pushed into a real server through the sync
//! protocol, exported as a GeoPackage and as GeoJSON, whole and filtered, and `ogrinfo` must count exactly the
//! records the test selects from the generated records itself.
#![allow(clippy::unwrap_used)]

use demo::Author;
use domain::records::RecordBody;
use domain::{Record, RecordType};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use tests::TestServer;

/// Feature count per layer, as GDAL reads the file.
fn ogr_counts(path: &Path) -> BTreeMap<String, usize> {
    let output = Command::new("ogrinfo")
        .args(["-so", "-al"])
        .arg(path)
        .output()
        .expect("ogrinfo runs: install gdal-bin (apt-get install gdal-bin)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("4326"), "the CRS is EPSG:4326:\n{text}");
    let mut counts = BTreeMap::new();
    let mut layer = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            layer = name.trim().to_string();
        }
        if let Some(count) = line.strip_prefix("Feature Count: ") {
            counts.insert(layer.clone(), count.trim().parse().unwrap());
        }
    }
    counts
}

/// Generated records per layer name, among those `keep` selects.
fn expected(records: &[Record], keep: impl Fn(&Record) -> bool) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = RecordType::ALL
        .into_iter()
        .map(|t| (layers::layer(t).name.clone(), 0))
        .collect();
    for record in records.iter().filter(|r| keep(r)) {
        *counts.get_mut(&layers::layer(record.record_type()).name).unwrap() += 1;
    }
    counts
}

#[test]
fn exports_hold_exactly_the_filtered_records_and_open_in_gdal() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let (dataset, enrolment) = server.push_demo(3);
    let today = tests::DEMO_TODAY;
    let records: Vec<Record> = dataset.records_by_team().into_values().flatten().collect();
    let hq = enrolment.hq_token();
    let export = format!("{}/v1/hq/export", server.url());

    // Everything, as one GeoPackage: every layer, every record.
    let whole = dir.path().join("whole.gpkg");
    assert_eq!(tests::hq_download(&format!("{export}?format=gpkg"), hq, &whole), 200);
    let counts = ogr_counts(&whole);
    assert_eq!(counts, expected(&records, |_| true));
    assert!(counts["worked_areas"] > 100 && counts["finds"] > 10);

    // Two layers, as one GeoPackage.
    let two = dir.path().join("two.gpkg");
    let url = format!("{export}?format=gpkg&layer=worked_areas,finds");
    assert_eq!(tests::hq_download(&url, hq, &two), 200);
    let mut wanted = expected(&records, |_| true);
    wanted.retain(|layer, _| layer == "worked_areas" || layer == "finds");
    assert_eq!(ogr_counts(&two), wanted);

    // One task: its own record, its records, and the hazard areas it covers.
    let (task_id, hazards) = records
        .iter()
        .find_map(|r| match &r.body {
            RecordBody::Task(t) => Some((r.id(), t.hazard_areas.clone())),
            _ => None,
        })
        .unwrap();
    let one_task = dir.path().join("task.gpkg");
    assert_eq!(
        tests::hq_download(&format!("{export}?format=gpkg&task={task_id}"), hq, &one_task),
        200
    );
    let of_task = |r: &Record| r.task_id() == Some(task_id) || hazards.contains(&r.id());
    assert_eq!(ogr_counts(&one_task), expected(&records, of_task));

    // One team's finds in a period, as GeoJSON.
    let by_id: BTreeMap<_, _> = records.iter().map(|r| (r.id(), r)).collect();
    let team_of_find = |r: &Record| match &r.body {
        RecordBody::Find(f) => f.daily_report.and_then(|d| match &by_id[&d].body {
            RecordBody::DailyReport(report) => Some(report.team.clone()),
            _ => None,
        }),
        _ => None,
    };
    let team = records.iter().find_map(team_of_find).unwrap();
    let (from, to) = (today - chrono::Days::new(20), today - chrono::Days::new(5));
    let finds = dir.path().join("finds.geojson");
    let url = format!(
        "{export}?format=geojson&layer=finds&team={}&from={from}&to={to}",
        team.replace(' ', "%20")
    );
    assert_eq!(tests::hq_download(&url, hq, &finds), 200);
    let wanted = records
        .iter()
        .filter(|r| team_of_find(r).as_deref() == Some(team.as_str()))
        .filter(|r| r.meta.date_of_information >= from && r.meta.date_of_information <= to)
        .count();
    assert!(wanted > 0, "the filter selects some finds");
    assert_eq!(ogr_counts(&finds)["finds"], wanted);

    // Only hq and admin tokens; a GeoJSON export names its layer.
    let refused = dir.path().join("refused.json");
    assert_eq!(
        tests::hq_download(
            &format!("{export}?format=gpkg"),
            enrolment.token(Author::Team(0)).unwrap(),
            &refused
        ),
        403
    );
    assert_eq!(
        tests::hq_download(&format!("{export}?format=geojson"), hq, &refused),
        400
    );
    assert!(std::fs::read_to_string(&refused).unwrap().contains("layer="));
    let url = format!("{export}?format=csv&layer=worked_areas,finds");
    assert_eq!(tests::hq_download(&url, hq, &refused), 400);
    assert!(std::fs::read_to_string(&refused).unwrap().contains("one layer"));
    let url = format!("{export}?format=gpkg&layer=finds,mines");
    assert_eq!(tests::hq_download(&url, hq, &refused), 400);
    let message = std::fs::read_to_string(&refused).unwrap();
    assert!(message.contains("no layer") && message.contains("mines"), "{message}");

    // Exports are written in the data directory's scratch directory, and unlinked once open: none is left.
    let scratch = dir.path().join("server").join("tmp");
    assert!(scratch.is_dir());
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}
