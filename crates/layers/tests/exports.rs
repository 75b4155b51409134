//! The exports as a GIS analyst meets them: real files written from real domain records, read back by GDAL
//! (`ogrinfo`, `ogr2ogr`), the library QGIS and IMSMA Core read them with.
//!
//! GDAL is required: these tests fail, they never skip, when `ogrinfo` is missing (install `gdal-bin`).
#![allow(clippy::unwrap_used)]

use chrono::NaiveDateTime;
use domain::{Record, RecordType};
use layers::{ColumnType, CsvWriter, GeoJsonWriter, GeoPackageWriter, GeometryKind, Value, feature, layer};
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------------------------
// Records

fn record(value: Json) -> Record {
    Record::from_json(value, Uuid::now_v7()).unwrap_or_else(|e| panic!("fixture does not parse: {e}"))
}

fn example(name: &str) -> Record {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/examples")
        .join(name);
    record(serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap())
}

fn id(n: u8) -> String {
    format!("01935f6e-0000-7000-8000-0000000010{n:02x}")
}

const TASK: &str = "01935f6e-0000-7000-8000-000000000031";
const WORKED_AREA: &str = "01935f6e-0000-7000-8000-0000000000b3";

fn captured(lon: f64, lat: f64) -> Json {
    json!({"lon": lon, "lat": lat, "method": "handheld_gnss", "accuracy_m": 2.5})
}

/// A day of work near 40.5°N 47.5°E with at least one record of every type: the README's examples (task T-031,
/// worked area B3, find F-0001) and around them records with every kind of value, geometry and awkward text.
fn day_of_work() -> Vec<Record> {
    let d = "2026-11-20";
    vec![
        example("task.json"),
        example("worked-area.json"),
        example("find.json"),
        // A perimeter walked clockwise, with a hole walked counter-clockwise: both must come out right-handed.
        record(
            json!({"type": "hazard_area", "id": id(1), "label": "CHA-FZ-0142", "date_of_information": d,
            "classification": "cha", "status": "worked_on", "contamination": ["ap_mines", "at_mines"],
            "evidence": ["mine_seen"], "reference_point": captured(47.495, 40.495),
            "benchmark": captured(47.4995, 40.4995), "estimated_area_m2": 90000.0, "perimeter_accuracy_m": 3.0,
            "perimeter": {"type": "Polygon", "coordinates": [
                [[47.5, 40.5], [47.5, 40.503], [47.503, 40.503], [47.503, 40.5], [47.5, 40.5]],
                [[47.501, 40.501], [47.502, 40.501], [47.502, 40.502], [47.501, 40.502], [47.501, 40.501]]]}}),
        ),
        // A suspected area with no perimeter yet: exported with null geometry.
        record(
            json!({"type": "hazard_area", "id": id(2), "label": "SHA-FZ-0007", "date_of_information": "2026-10-01",
            "classification": "sha", "status": "open"}),
        ),
        record(
            json!({"type": "daily_report", "id": id(3), "label": "T-031/DR-2026-11-20", "date_of_information": d,
            "task": TASK, "team": "Team 3", "team_leader": "A. Aliyev",
            "personnel": {"p1": {"name": "A. Aliyev", "hours": 7.5}, "p2": {"name": "R. Mammadova", "hours": 6.0}},
            "start_time": "2026-11-20T04:00:00Z", "end_time": "2026-11-20T12:00:00Z",
            "stoppages": {"s1": {"reason": "weather", "minutes": 40}}, "assets": ["DET-17", "MDD-Rex"],
            "supervisor_signoff": {"by": "R. Mammadova", "at": "2026-11-20T13:05:00Z"}}),
        ),
        // A bent lane: drawn as its band.
        record(
            json!({"type": "worked_area", "id": id(4), "label": "T-031/L1", "date_of_information": d,
            "task": TASK, "daily_report": id(3),
            "shape": {"type": "Lane", "centreline": [[47.5006, 40.5], [47.5016, 40.5], [47.5016, 40.5008]],
                "width_m": 1.2},
            "capture_method": "rtk_gnss", "accuracy_m": 0.05, "reported_area_m2": 200.0,
            "methods": ["manual", "mdd"], "depth_achieved_cm": 20, "outcome": "reduced", "technical_asset": true}),
        ),
        // Text that CSV and JSON must escape; a void record; an instant with milliseconds.
        record(
            json!({"type": "find", "id": id(5), "label": "F-0002", "date_of_information": d, "task": TASK,
            "worked_area": WORKED_AREA, "daily_report": id(3), "location": captured(47.5003, 40.5004),
            "found_at": "2026-11-20T10:20:30.250Z", "found_by": "Əliyev, \"Ali\"\nTeam 3", "detection": "dog_indication",
            "category": "at_mine", "model": "TM-62M", "quantity": 1, "depth_cm": 25, "condition": "corroded",
            "fuzed": "unknown", "armed": "unknown", "booby_trapped": "unknown", "photos": ["aa11", "bb22"],
            "disposal": "disposed", "void": {"reason": "entered twice; see F-0003", "by": "R. Mammadova"}}),
        ),
        record(
            json!({"type": "find", "id": id(6), "label": "F-0003", "date_of_information": "2026-11-21",
            "task": TASK, "location": captured(47.5011, 40.5009), "found_at": "2026-11-21T08:00:00Z",
            "found_by": "A. Aliyev", "detection": "visual", "category": "uxo", "model": "VOG-17", "quantity": 12,
            "depth_cm": 0, "condition": "intact", "fuzed": "yes", "armed": "yes", "booby_trapped": "no",
            "disposal": "pending", "review": "supervisor_approved"}),
        ),
        record(
            json!({"type": "demolition", "id": id(7), "label": "D-0001", "date_of_information": d, "task": TASK,
            "method": "destroyed_in_situ", "site": captured(47.5003, 40.5004), "at": "2026-11-20T14:30:00Z",
            "operator": "EOD 2", "charge": "200 g TNT", "finds": {id(5): {"quantity": 1}},
            "result": "complete"}),
        ),
        record(
            json!({"type": "qa_inspection", "id": id(8), "label": "QA-0001", "date_of_information": d,
            "kind": "external_qa", "inspector": "QA Team 1", "task": TASK, "worked_area": WORKED_AREA,
            "area_checked_m2": 250.5, "result": "minor_non_conformity", "item_found": false,
            "corrective_action": "re-mark lane 3"}),
        ),
        record(
            json!({"type": "completion_report", "id": id(9), "label": "CR-T-031", "date_of_information": "2026-12-01",
            "task": TASK, "final_perimeter": {"type": "Polygon", "coordinates":
                [[[47.5, 40.5], [47.5005, 40.5], [47.5005, 40.5005], [47.5, 40.5005], [47.5, 40.5]]]},
            "turning_points": [{"label": "TP1", "kind": "turning", "point": captured(47.5, 40.5), "marked": true}],
            "depth_cm": 20, "methods": ["manual"], "qa_inspections": [id(8)], "handover_date": "2026-12-02",
            "recipient": "Füzuli district", "people_present": {"female_adult": 2, "male_adult": 4}}),
        ),
        record(
            json!({"type": "incident", "id": id(10), "label": "INC-0001", "date_of_information": d,
            "kind": "incident_without_injury", "occurred_at": "2026-11-20T11:00:00Z",
            "location": captured(47.5012, 40.5002), "task": TASK, "device": "PMN-2"}),
        ),
    ]
}

fn of_type(records: &[Record], t: RecordType) -> Vec<&Record> {
    records.iter().filter(|r| r.record_type() == t).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// GDAL

/// Runs a GDAL command and returns its standard output; fails the test if GDAL is missing or the command fails.
fn gdal(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{program}` ({e}): these tests need GDAL; install it with `apt-get install gdal-bin`")
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{program} {args:?} failed: {stderr}");
    assert!(
        !stderr.contains("ERROR"),
        "{program} {args:?} reported an error: {stderr}"
    );
    assert!(!stderr.contains("Warning"), "{program} {args:?} warned: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// `ogrinfo -so` of one layer: (geometry, feature count, whether the SRS is EPSG:4326, extent line).
fn summary(path: &Path, layer_name: &str, extra: &[&str]) -> (String, u64, bool, Option<String>) {
    let mut args = vec!["-so", "-ro"];
    args.extend(extra);
    let path = path.to_str().unwrap();
    args.extend([path, layer_name]);
    let out = gdal("ogrinfo", &args);
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no `{name}` in ogrinfo output:\n{out}"))
    };
    let count = field("Feature Count:").parse().unwrap();
    let epsg = out.contains(r#"ID["EPSG",4326]"#);
    let extent = out.lines().find_map(|l| l.strip_prefix("Extent: ")).map(str::to_string);
    (field("Geometry:"), count, epsg, extent)
}

/// Reads a CSV file into rows keyed by header name.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    reader
        .records()
        .map(|row| {
            header
                .iter()
                .cloned()
                .zip(row.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn gpkg_geometry_name(kind: GeometryKind) -> &'static str {
    match kind {
        GeometryKind::None => "None",
        GeometryKind::Point => "Point",
        GeometryKind::Polygon => "Polygon",
        GeometryKind::MultiPolygon => "Multi Polygon",
    }
}

fn write_geopackage(path: &Path, records: &[Record]) {
    let mut writer = GeoPackageWriter::create(path).unwrap();
    for t in RecordType::ALL {
        writer.begin_layer(layer(t)).unwrap();
        for r in of_type(records, t) {
            writer.write(&feature(r)).unwrap();
        }
        let summary = writer.finish_layer().unwrap();
        assert_eq!(summary.features, of_type(records, t).len() as u64);
    }
    writer.finish().unwrap();
}

// ---------------------------------------------------------------------------------------------------------------
// GeoPackage

#[test]
fn ogrinfo_lists_every_layer_with_its_count_geometry_and_epsg_4326() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fieldsync.gpkg");
    let records = day_of_work();
    write_geopackage(&path, &records);

    let listing = gdal("ogrinfo", &["-ro", "-q", path.to_str().unwrap()]);
    for t in RecordType::ALL {
        let l = layer(t);
        assert!(
            listing.contains(&format!(": {} (", l.name)),
            "{} not listed:\n{listing}",
            l.name
        );
        let (geometry, count, epsg, extent) = summary(&path, &l.name, &[]);
        assert_eq!(geometry, gpkg_geometry_name(l.geometry), "{}", l.name);
        assert_eq!(count, of_type(&records, t).len() as u64, "{}", l.name);
        if l.geometry != GeometryKind::None {
            assert!(epsg, "{} does not declare EPSG:4326", l.name);
        }
        if t == RecordType::Find {
            // The extent GDAL reads from gpkg_contents: the three finds' positions.
            assert_eq!(
                extent.as_deref(),
                Some("(47.500180, 40.500210) - (47.501100, 40.500900)")
            );
        }
    }
}

#[test]
fn attribute_values_read_back_through_ogr2ogr_equal_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fieldsync.gpkg");
    let records = day_of_work();
    write_geopackage(&path, &records);
    let out = dir.path().join("csv");
    gdal(
        "ogr2ogr",
        &[
            "-f",
            "CSV",
            out.to_str().unwrap(),
            path.to_str().unwrap(),
            "-lco",
            "GEOMETRY=AS_WKT",
        ],
    );

    let mut checked = 0;
    for t in RecordType::ALL {
        let l = layer(t);
        let rows = read_csv(&out.join(format!("{}.csv", l.name)));
        assert_eq!(rows.len(), of_type(&records, t).len(), "{}", l.name);
        for r in of_type(&records, t) {
            let f = feature(r);
            let row = rows
                .iter()
                .find(|row| row["record_id"] == r.id().to_string())
                .unwrap_or_else(|| panic!("{} {} missing from GDAL's read", l.name, r.id()));
            for (column, value) in l.columns.iter().zip(&f.values) {
                let read = &row[&column.name];
                let context = format!("{}.{} of {}", l.name, column.name, r.meta.label);
                assert_gdal_value(value, column.column_type, read, &context);
                checked += 1;
            }
            if let Some(geo_types::Geometry::Point(p)) = &f.geometry {
                // GDAL decodes our GeoPackage binary: longitude first.
                assert_eq!(row["WKT"], format!("POINT ({} {})", p.x(), p.y()), "{}", r.meta.label);
            }
        }
    }
    assert!(checked > 150, "only {checked} values compared");

    // Spot checks against the records themselves, not only against the features.
    let finds = read_csv(&out.join("finds.csv"));
    let f2 = finds.iter().find(|r| r["label"] == "F-0002").unwrap();
    assert_eq!(f2["found_by"], "Əliyev, \"Ali\"\nTeam 3");
    assert_eq!(f2["void"], "1");
    assert_eq!(f2["void_reason"], "entered twice; see F-0003");
    assert_eq!(f2["found_at"], "2026/11/20 10:20:30.250+00");
    assert_eq!(f2["task_id"], TASK);
    let f1 = finds.iter().find(|r| r["label"] == "F-0001").unwrap();
    assert_eq!((f1["depth_cm"].as_str(), f1["model"].as_str()), ("8", "PMN-2"));
    assert_eq!(f1["date_of_information"], "2026/11/20");
    let worked = read_csv(&out.join("worked_areas.csv"));
    let b3 = worked.iter().find(|r| r["label"] == "T-031/B3").unwrap();
    let area: f64 = b3["area_m2"].parse().unwrap();
    assert!(
        (area - 2353.2).abs() < 1.0,
        "B3 is 0.0005° square at 40.5°N, about 2,353 m²: {area}"
    );
    assert_eq!(b3["reported_area_m2"], "2360");
    let lane = worked.iter().find(|r| r["label"] == "T-031/L1").unwrap();
    assert!(
        lane["WKT"].starts_with("POLYGON (("),
        "a lane is exported as its band: {}",
        lane["WKT"]
    );
    let daily = read_csv(&out.join("daily_reports.csv"));
    assert_eq!(daily[0]["stoppage_minutes"], "40");
    assert_eq!(daily[0]["person_hours"], "13.5");
}

/// Compares one of our values with what GDAL's CSV driver printed for it.
fn assert_gdal_value(value: &Value, column_type: ColumnType, read: &str, context: &str) {
    match value {
        Value::Null => assert_eq!(read, "", "{context}"),
        Value::Text(s) => assert_eq!(read, s, "{context}"),
        Value::Integer(i) => assert_eq!(read, i.to_string(), "{context}"),
        Value::Real(x) => {
            let read: f64 = read
                .parse()
                .unwrap_or_else(|_| panic!("{context}: `{read}` is not a number"));
            assert!((read - x).abs() <= 1e-9 * x.abs().max(1.0), "{context}: {read} != {x}");
        }
        Value::Date(d) => assert_eq!(read, d.format("%Y/%m/%d").to_string(), "{context}"),
        Value::DateTime(t) => {
            let naive = read
                .strip_suffix("+00")
                .unwrap_or_else(|| panic!("{context}: `{read}` is not UTC"));
            let parsed = NaiveDateTime::parse_from_str(naive, "%Y/%m/%d %H:%M:%S%.f").unwrap();
            assert_eq!(parsed.and_utc(), *t, "{context}");
        }
        Value::Boolean(b) => assert_eq!(read, if *b { "1" } else { "0" }, "{context}"),
    }
    assert!(value.fits(column_type), "{context}");
}

#[test]
fn a_large_layer_streams_and_its_spatial_index_answers_gdal_queries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.gpkg");
    let template = example("find.json");
    // 20,000 finds on a 200 × 100 grid of 0.001° cells from 47.0°E, 40.0°N.
    let mut writer = GeoPackageWriter::create(&path).unwrap();
    writer.begin_layer(layer(RecordType::Find)).unwrap();
    for n in 0..20_000u32 {
        let mut r = template.clone();
        r.meta.id = Uuid::from_u128(u128::from(n) + 1);
        r.meta.label = format!("F-{n:05}");
        if let domain::RecordBody::Find(f) = &mut r.body {
            f.location.lon = 47.0 + f64::from(n % 200) * 0.001;
            f.location.lat = 40.0 + f64::from(n / 200) * 0.001;
        }
        writer.write(&feature(&r)).unwrap();
    }
    writer.finish_layer().unwrap();
    // An empty layer is still a layer, with no extent.
    writer.begin_layer(layer(RecordType::Incident)).unwrap();
    let empty = writer.finish_layer().unwrap();
    assert_eq!((empty.features, empty.bbox), (0, None));
    writer.finish().unwrap();

    let (geometry, count, epsg, extent) = summary(&path, "incidents", &[]);
    assert_eq!((geometry.as_str(), count, epsg, extent), ("Point", 0, true, None));
    let (_, count, epsg, extent) = summary(&path, "finds", &[]);
    assert_eq!(count, 20_000);
    assert!(epsg);
    assert_eq!(
        extent.as_deref(),
        Some("(47.000000, 40.000000) - (47.199000, 40.099000)")
    );
    // Columns 10..=19 by rows 20..=29: 100 finds. GDAL answers through the R*Tree, then checks each geometry.
    let (_, in_box, _, _) = summary(&path, "finds", &["-spat", "47.0095", "40.0195", "47.0195", "40.0295"]);
    assert_eq!(in_box, 100);
    let has_index = gdal(
        "ogrinfo",
        &[
            "-ro",
            path.to_str().unwrap(),
            "-sql",
            "SELECT HasSpatialIndex('finds', 'geom')",
        ],
    );
    assert!(has_index.contains("HasSpatialIndex (Integer) = 1"), "{has_index}");
}

// ---------------------------------------------------------------------------------------------------------------
// GeoJSON

/// Twice the signed area of a ring (positive when counter-clockwise), from its [lon, lat] positions.
fn signed_area(ring: &[Json]) -> f64 {
    let p: Vec<(f64, f64)> = ring
        .iter()
        .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
        .collect();
    p.windows(2).map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1).sum()
}

fn assert_position(c: &Json, context: &str) {
    let pair = c.as_array().unwrap();
    assert_eq!(pair.len(), 2, "{context}");
    let (lon, lat) = (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap());
    // Azerbaijan: longitudes 44.7–50.9, latitudes 38.3–41.95, so the order shows.
    assert!(
        (44.7..=50.9).contains(&lon) && (38.3..=41.95).contains(&lat),
        "{context}: [{lon}, {lat}]"
    );
    for v in [lon, lat] {
        assert!(
            ((v * 1e7).round() - v * 1e7).abs() < 1e-3,
            "{context}: {v} has more than 7 decimals"
        );
    }
}

#[test]
fn geojson_is_rfc_7946_with_right_hand_rings_and_gdal_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let records = day_of_work();
    let mut rings_checked = 0;
    for t in RecordType::ALL {
        let l = layer(t);
        let path = dir.path().join(format!("{}.geojson", l.name));
        let mut writer = GeoJsonWriter::new(std::fs::File::create(&path).unwrap(), l).unwrap();
        for r in of_type(&records, t) {
            writer.write(&feature(r)).unwrap();
        }
        writer.finish().unwrap();

        let collection: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(collection["type"], "FeatureCollection");
        assert_eq!(collection["name"], l.name.as_str());
        assert!(collection.get("crs").is_none(), "RFC 7946 has no crs member");
        let features = collection["features"].as_array().unwrap();
        assert_eq!(features.len(), of_type(&records, t).len(), "{}", l.name);
        for (f, r) in features.iter().zip(of_type(&records, t)) {
            let context = format!("{} {}", l.name, r.meta.label);
            assert_eq!(f["type"], "Feature");
            assert_eq!(f["id"], r.id().to_string(), "{context}");
            let properties = f["properties"].as_object().unwrap();
            assert_eq!(properties.len(), l.columns.len(), "{context}");
            assert_eq!(properties["label"], r.meta.label.as_str(), "{context}");
            assert_eq!(
                properties["date_of_information"],
                r.meta.date_of_information.to_string(),
                "{context}"
            );
            assert_eq!(properties["void"], r.meta.void.is_some(), "{context}");
            let geometry = &f["geometry"];
            match l.geometry {
                GeometryKind::None => assert!(geometry.is_null(), "{context}"),
                GeometryKind::Point => {
                    assert_eq!(geometry["type"], "Point");
                    assert_position(&geometry["coordinates"], &context);
                    let expected = r.positions()[0];
                    let c = &geometry["coordinates"];
                    assert_eq!(
                        (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
                        (expected[0], expected[1])
                    );
                }
                GeometryKind::Polygon | GeometryKind::MultiPolygon => {
                    if r.meta.label == "SHA-FZ-0007" {
                        assert!(geometry.is_null(), "no perimeter, no geometry");
                        continue;
                    }
                    assert_eq!(geometry["type"], "Polygon", "{context}");
                    for (i, ring) in geometry["coordinates"].as_array().unwrap().iter().enumerate() {
                        let ring = ring.as_array().unwrap();
                        assert!(ring.len() >= 4, "{context}");
                        assert_eq!(ring.first(), ring.last(), "{context}: ring {i} is not closed");
                        ring.iter().for_each(|c| assert_position(c, &context));
                        let area = signed_area(ring);
                        if i == 0 {
                            assert!(area > 0.0, "{context}: exterior ring is not counter-clockwise");
                        } else {
                            assert!(area < 0.0, "{context}: hole {i} is not clockwise");
                        }
                        rings_checked += 1;
                    }
                }
            }
        }

        let (geometry, count, epsg, _) = summary(&path, &l.name, &[]);
        assert_eq!(
            count,
            of_type(&records, t).len() as u64,
            "GDAL reads {} features of {}",
            count,
            l.name
        );
        if l.geometry != GeometryKind::None {
            assert_eq!(geometry, gpkg_geometry_name(l.geometry), "{}", l.name);
            assert!(epsg, "GDAL takes {} as WGS84", l.name);
        }
    }
    // Hazard area (exterior and hole), two worked areas, the completion report.
    assert_eq!(rings_checked, 5);
}

#[test]
fn geojson_text_is_escaped_and_an_empty_layer_is_an_empty_collection() {
    let records = day_of_work();
    let find = of_type(&records, RecordType::Find)
        .into_iter()
        .find(|r| r.meta.label == "F-0002")
        .unwrap();
    let mut writer = GeoJsonWriter::new(Vec::new(), layer(RecordType::Find)).unwrap();
    writer.write(&feature(find)).unwrap();
    let text = String::from_utf8(writer.finish().unwrap()).unwrap();
    let parsed: Json = serde_json::from_str(&text).unwrap();
    let properties = &parsed["features"][0]["properties"];
    assert_eq!(properties["found_by"], "Əliyev, \"Ali\"\nTeam 3");
    assert_eq!(properties["found_at"], "2026-11-20T10:20:30.250Z");
    assert_eq!(properties["quantity"], 1);
    assert_eq!(properties["accuracy_m"], 2.5);

    let empty = GeoJsonWriter::new(Vec::new(), layer(RecordType::Incident))
        .unwrap()
        .finish()
        .unwrap();
    let parsed: Json = serde_json::from_slice(&empty).unwrap();
    assert_eq!(parsed["features"], json!([]));
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

#[test]
fn csv_has_one_file_per_layer_with_stable_ids_iso_dates_and_geometry_gdal_reads() {
    let dir = tempfile::tempdir().unwrap();
    let records = day_of_work();
    for t in RecordType::ALL {
        let l = layer(t);
        let path = dir.path().join(format!("{}.csv", l.name));
        let mut writer = CsvWriter::new(std::fs::File::create(&path).unwrap(), l).unwrap();
        for r in of_type(&records, t) {
            writer.write(&feature(r)).unwrap();
        }
        writer.finish().unwrap();

        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
        let mut expected: Vec<String> = l.columns.iter().map(|c| c.name.clone()).collect();
        match l.geometry {
            GeometryKind::None => {}
            GeometryKind::Point => expected.extend(["longitude".into(), "latitude".into()]),
            _ => expected.push("geometry_wkt".into()),
        }
        assert_eq!(header, expected, "{}", l.name);
        let rows = read_csv(&path);
        assert_eq!(rows.len(), of_type(&records, t).len());
        for (row, r) in rows.iter().zip(of_type(&records, t)) {
            assert_eq!(row["record_id"], r.id().to_string());
            assert_eq!(
                row["date_of_information"],
                r.meta.date_of_information.format("%Y-%m-%d").to_string()
            );
            if l.geometry == GeometryKind::Point {
                let p = r.positions()[0];
                assert_eq!(row["longitude"].parse::<f64>().unwrap(), p[0]);
                assert_eq!(row["latitude"].parse::<f64>().unwrap(), p[1]);
            }
        }

        // GDAL finds the geometry by the column names QGIS's delimited-text reader also looks for.
        let open_options: &[&str] = match l.geometry {
            GeometryKind::None => &[],
            GeometryKind::Point => &["-oo", "X_POSSIBLE_NAMES=longitude", "-oo", "Y_POSSIBLE_NAMES=latitude"],
            _ => &["-oo", "GEOM_POSSIBLE_NAMES=geometry_wkt"],
        };
        let (geometry, count, _, _) = summary(&path, &l.name, open_options);
        assert_eq!(count, of_type(&records, t).len() as u64, "{}", l.name);
        match l.geometry {
            GeometryKind::None => assert_eq!(geometry, "None"),
            GeometryKind::Point => assert_eq!(geometry, "Point"),
            _ => {
                let all = gdal(
                    "ogrinfo",
                    &[
                        "-ro",
                        "-al",
                        "-oo",
                        "GEOM_POSSIBLE_NAMES=geometry_wkt",
                        path.to_str().unwrap(),
                    ],
                );
                let polygons = all
                    .lines()
                    .filter(|line| line.trim_start().starts_with("POLYGON (("))
                    .count();
                let drawn = of_type(&records, t)
                    .iter()
                    .filter(|r| feature(r).geometry.is_some())
                    .count();
                assert_eq!(polygons, drawn, "{}: GDAL parses every WKT polygon", l.name);
            }
        }
    }

    let finds = read_csv(&dir.path().join("finds.csv"));
    let f2 = finds.iter().find(|r| r["label"] == "F-0002").unwrap();
    assert_eq!(
        f2["found_by"], "Əliyev, \"Ali\"\nTeam 3",
        "quoting survives a comma, quotes and a newline"
    );
    assert_eq!(f2["found_at"], "2026-11-20T10:20:30.250Z");
    assert_eq!(f2["void"], "true");
    assert_eq!(f2["photo_count"], "2");
    let tasks = read_csv(&dir.path().join("tasks.csv"));
    assert_eq!(tasks[0]["authorised_methods"], "manual;mdd");
    assert_eq!(tasks[0]["required_depth_cm"], "20");
}
