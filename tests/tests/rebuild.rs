//! Everything the server derives from its change log comes back from the log alone: the demo programme is pushed
//! through sync, every derived table is then emptied (records, snapshots, task scopes, HQ's layer tables and their
//! spatial index), and `rebuild` must make them again row for row, so that HQ's figures and a new device's first
//! sync are what they were.
#![allow(clippy::unwrap_used)]

use rusqlite::types::Value;
use std::collections::BTreeMap;
use std::path::Path;
use store_sqlite::SqliteStorage;
use tests::TestServer;

/// The tables derived from the log (snapshots aside: a rebuild writes a fresh one for every record, checked below
/// by a device's first sync instead).
fn derived_tables(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'layer\\_%' ESCAPE '\\' AND name NOT LIKE '%\\_rtree\\_%' ESCAPE '\\'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.extend(["records", "task_teams", "task_hazards"].map(String::from));
    tables
}

/// Every row of every derived table, in a stable order.
fn dump(db: &Path) -> BTreeMap<String, Vec<Vec<Value>>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    derived_tables(db)
        .into_iter()
        .map(|table| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
            let columns = stmt.column_count();
            let mut rows: Vec<Vec<Value>> = stmt
                .query_map([], |r| (0..columns).map(|i| r.get::<_, Value>(i)).collect())
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            (table, rows)
        })
        .collect()
}

#[test]
fn every_derived_table_is_rebuilt_from_the_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let db = data.join("fieldsync-server.db");
    let server = TestServer::start(&data);
    let (_, enrolment) = server.push_demo(17);
    let hq = enrolment.hq_token().to_string();
    let statistics = |url: &str| {
        let (status, body) = tests::hq_get(&format!("{url}/v1/hq/statistics"), Some(&hq));
        assert_eq!(status, 200, "{body}");
        body
    };
    let stats_before = statistics(&server.url());
    // Two HQ tablets of their own (the demo's HQ device made edits, which the server never sends back to it).
    let (_, first) = server.enrol("HQ tablet", &[], tests::DeviceRole::Hq);
    let (_, second) = server.enrol("HQ tablet 2", &[], tests::DeviceRole::Hq);
    let mut before_tablet = tests::store(&dir.path().join("before.db"), "HQ tablet", "Analyst");
    tests::enrolled(&mut before_tablet, &server, &first);
    before_tablet.sync(|_| {}).unwrap();
    server.stop();

    let before = dump(&db);
    let rows = |dump: &BTreeMap<String, Vec<Vec<Value>>>, table: &str| dump[table].len();
    assert!(rows(&before, "records") > 1_000, "the demo's records");
    assert!(rows(&before, "layer_finds") > 50 && rows(&before, "task_teams") > 5);
    assert!(
        before["records"].iter().any(|r| r[5] != Value::Text("[]".into())),
        "some records carry warnings, which the rebuild must find again"
    );

    // Lose every derived table; only the log, the devices and the quarantine are left.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut wipe: Vec<String> = derived_tables(&db);
    wipe.extend(
        [
            "snapshots",
            "layer_hazard_areas_rtree",
            "layer_worked_areas_rtree",
            "layer_finds_rtree",
        ]
        .map(String::from),
    );
    for table in wipe {
        conn.execute(&format!("DELETE FROM {table}"), []).unwrap();
    }
    drop(conn);
    assert_eq!(rows(&dump(&db), "records"), 0);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let storage = SqliteStorage::open(&data).unwrap();
    let mut passes = Vec::new();
    let summary = runtime
        .block_on(sync_core::rebuild::rebuild(
            &storage,
            &domain::Programme::default(),
            |p| passes.push((p.pass, p.done, p.total)),
        ))
        .unwrap();
    drop(storage);
    assert_eq!(summary.records as usize, rows(&before, "records"));
    assert_eq!(summary.breaking_rules, 0);
    let with_warnings = before["records"]
        .iter()
        .filter(|r| r[5] != Value::Text("[]".into()))
        .count();
    assert_eq!(summary.with_warnings as usize, with_warnings);
    assert_eq!(passes.last(), Some(&(2, summary.records, summary.records)));

    // Row for row what ingest had written.
    let after = dump(&db);
    for (table, rows) in &before {
        assert_eq!(after[table].len(), rows.len(), "{table}");
        for (was, now) in rows.iter().zip(&after[table]) {
            assert_eq!(was, now, "{table}");
        }
    }

    // HQ's figures, the map's spatial index, and a new device's first sync (from the rebuilt snapshots).
    let server = TestServer::start(&data);
    assert_eq!(statistics(&server.url()), stats_before);
    let (status, map) = tests::hq_get(&format!("{}/v1/hq/map", server.url()), Some(&hq));
    assert_eq!(status, 200);
    let finds = map["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["layer"] == "finds")
        .unwrap();
    assert_eq!(finds["total"], rows(&before, "layer_finds"));
    let mut after_tablet = tests::store(&dir.path().join("after.db"), "HQ tablet 2", "Analyst");
    tests::enrolled(&mut after_tablet, &server, &second);
    after_tablet.sync(|_| {}).unwrap();
    let (after, before) = (
        tests::visible_state(&after_tablet),
        tests::visible_state(&before_tablet),
    );
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1, "{}", a.0);
        assert_eq!(a.2, b.2, "{}", a.0);
        assert_eq!(a.3.len(), b.3.len(), "{}", a.0);
        for (x, y) in a.3.iter().zip(&b.3) {
            assert_eq!(x, y, "{}", a.0);
        }
    }
}
