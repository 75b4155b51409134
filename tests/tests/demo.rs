//! The demo programme pushed into a real server over real HTTP: every record accepted, nothing quarantined, and the
//! server holding exactly the generated records, with their history, in the scope of the right devices.
#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use demo::{Author, Dataset, Scale, Scenario};
use domain::records::RecordBody;
use domain::vocabulary::{FindCategory, Outcome};
use domain::{Record, RecordType};
use protocol::SyncRequest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use sync_core::store::SyncStore;
use sync_http::HttpTransport;
use tests::TestServer;
use uuid::Uuid;

/// Totals HQ reports, per team: hectares cleared (computed areas), and AP mines, AT mines and UXO found.
#[derive(Debug, Default, Clone, PartialEq)]
struct Totals {
    cleared_m2: f64,
    ap: i64,
    at: i64,
    uxo: i64,
}

/// Totals per team from a set of records; a record's team is its task's.
fn totals<'a>(records: impl IntoIterator<Item = &'a Record> + Clone) -> BTreeMap<String, Totals> {
    let teams: HashMap<Uuid, String> = records
        .clone()
        .into_iter()
        .filter_map(|r| match &r.body {
            RecordBody::Task(t) => t.teams.iter().next().map(|team| (r.id(), team.clone())),
            _ => None,
        })
        .collect();
    let mut out: BTreeMap<String, Totals> = BTreeMap::new();
    for r in records {
        let Some(team) = r.task_id().and_then(|t| teams.get(&t)) else {
            continue;
        };
        let t = out.entry(team.clone()).or_default();
        match &r.body {
            RecordBody::WorkedArea(w) if w.outcome == Outcome::Cleared => t.cleared_m2 += w.shape.area_m2(),
            RecordBody::Find(f) => match f.category {
                FindCategory::ApMine => t.ap += f.quantity,
                FindCategory::AtMine => t.at += f.quantity,
                FindCategory::Uxo => t.uxo += f.quantity,
                _ => {}
            },
            _ => {}
        }
    }
    out
}

/// Pulls everything a device's token sees, as a device would, page by page; returns the record ids.
fn pull_all(url: &str, token: &str) -> BTreeSet<Uuid> {
    let client = HttpTransport::new(url, token);
    let (mut cursor, mut server_id, mut check) = (0, None, None);
    let mut ids = BTreeSet::new();
    loop {
        let mut request = SyncRequest::new(cursor, server_id);
        request.cursor_check = check;
        let response = client.send(&request).unwrap();
        ids.extend(response.pull.iter().map(|d| d.record_id));
        (cursor, server_id, check) = (response.cursor, Some(response.server_id), response.cursor_check);
        if !response.more {
            return ids;
        }
    }
}

#[test]
fn the_small_demo_is_accepted_whole_and_the_server_holds_exactly_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let dataset: Dataset = demo::generate(&Scenario::new(Scale::Small, 11, today));
    let enrolment = server.storage(|s| {
        let dataset = &dataset;
        async move {
            demo::ensure_empty(&s).await.unwrap();
            demo::enrol(&s, dataset, chrono::Utc::now()).await.unwrap()
        }
    });
    let plan = demo::plan(&dataset).unwrap();
    let mut seen = Vec::new();
    let report = demo::push(&server.url(), &enrolment, &plan, |p| seen.push(p)).unwrap();
    assert_eq!(report.records, dataset.record_count());
    assert_eq!(report.changes, plan.changes);
    assert!(plan.changes > plan.records, "records have later edits");
    let last = seen.last().unwrap();
    assert_eq!((last.records, last.changes), (last.records_total, last.changes_total));

    // A second demo into the same data directory is refused.
    let refused = server.storage(|s| async move { demo::ensure_empty(&s).await });
    assert!(refused.unwrap_err().to_string().contains("already holds records"));

    // Nothing quarantined; every generated record on the server, as generated.
    let generated: Vec<Record> = dataset.records_by_team().into_values().flatten().collect();
    let ids: Vec<Uuid> = generated.iter().map(Record::id).collect();
    let (quarantined, rows, edited) = server.storage(|s| {
        let ids = ids.clone();
        let edited: Vec<(Uuid, usize)> = dataset
            .histories()
            .filter(|h| h.versions.len() > 1)
            .map(|h| (h.record().id(), h.versions.len()))
            .collect();
        async move {
            let mut rows = HashMap::new();
            for id in ids {
                rows.insert(id, s.record(id).await.unwrap());
            }
            let mut changes = Vec::new();
            for (id, versions) in edited {
                changes.push((id, versions, s.document_changes(id).await.unwrap().len()));
            }
            (s.quarantined().await.unwrap(), rows, changes)
        }
    });
    assert!(quarantined.is_empty(), "{quarantined:?}");
    let mut on_server = Vec::new();
    for record in &generated {
        let row = rows[&record.id()]
            .as_ref()
            .unwrap_or_else(|| panic!("{} missing", record.meta.label));
        assert_eq!(row.record_type, record.record_type());
        assert_eq!(
            row.body,
            record.to_json(),
            "{} differs on the server",
            record.meta.label
        );
        on_server.push(Record::from_json(row.body.clone(), row.record_id).unwrap());
    }
    // Edited records have their history: one change per version (no version repeats the one before).
    assert!(!edited.is_empty());
    for (id, versions, changes) in &edited {
        assert_eq!(versions, changes, "record {id}");
    }

    // HQ's totals from the server equal the totals computed from the generated records.
    let expected = totals(&generated);
    assert_eq!(expected.len(), dataset.teams.len(), "every team worked");
    assert!(
        expected
            .values()
            .all(|t| t.cleared_m2 > 0.0 || t.ap + t.at + t.uxo == 0)
    );
    assert!(expected.values().map(|t| t.ap + t.at + t.uxo).sum::<i64>() > 0);
    assert_eq!(totals(&on_server), expected);

    // HQ's materialized tables hold one typed row per record, and their sums equal the generated records'.
    let db = rusqlite::Connection::open(dir.path().join("server").join("fieldsync-server.db")).unwrap();
    for record_type in RecordType::ALL {
        let generated_of_type = generated.iter().filter(|r| r.record_type() == record_type).count();
        let table = format!("layer_{}", layers::layer(record_type).name);
        let stored: i64 = db
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored as usize, generated_of_type, "{table}");
    }
    let cleared_m2: f64 = db
        .query_row(
            "SELECT SUM(area_m2) FROM layer_worked_areas WHERE outcome = 'cleared' AND NOT void",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let expected_m2: f64 = expected.values().map(|t| t.cleared_m2).sum();
    assert!(
        (cleared_m2 - expected_m2).abs() < 1e-6 * expected_m2,
        "{cleared_m2} m² against {expected_m2} m²"
    );
    for (category, expected_count) in [
        ("ap_mine", expected.values().map(|t| t.ap).sum::<i64>()),
        ("at_mine", expected.values().map(|t| t.at).sum()),
        ("uxo", expected.values().map(|t| t.uxo).sum()),
    ] {
        let stored: i64 = db
            .query_row(
                "SELECT COALESCE(SUM(quantity), 0) FROM layer_finds WHERE category = ?1 AND NOT void",
                [category],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, expected_count, "{category}");
    }

    // A device pulling from the start (a new store enrolled as it) is sent every record it sees, those it pushed
    // itself included: the HQ device every record, a team's device the shared hazard areas and its team's tasks'
    // records, and nothing of other teams' tasks.
    assert_eq!(
        pull_all(&server.url(), enrolment.hq_token()),
        ids.iter().copied().collect::<BTreeSet<_>>()
    );
    let pulled = pull_all(&server.url(), enrolment.token(Author::Team(0)).unwrap());
    for (i, team) in dataset.teams.iter().enumerate() {
        for record in team.records() {
            let shared = record.record_type() == RecordType::HazardArea;
            if i > 0 && shared {
                assert!(pulled.contains(&record.id()), "team 0 lacks {}", record.meta.label);
            }
            if i > 0 && !shared {
                assert!(!pulled.contains(&record.id()), "team 0 was sent {}", record.meta.label);
            }
        }
    }
    for record in dataset.teams[0].records() {
        assert!(
            pulled.contains(&record.id()),
            "team 0 lacks its own {}",
            record.meta.label
        );
    }
}
