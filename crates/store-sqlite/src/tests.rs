//! Tests of the SQLite backend's own layout: layer tables, migrations, query plans.
#![allow(clippy::unwrap_used)]

use crate::FILE_NAME;
use crate::SqliteStorage;
use crate::migrate::*;
use crate::pull::*;
use crate::rows::*;
use domain::Record;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;
use std::path::Path;
use sync_core::store::*;
use uuid::Uuid;

/// HQ's materialized table of finds holds the pushed find's typed row, and is rebuilt from `records` when its
/// layout is not the one this build makes.
#[tokio::test]
async fn layer_tables_follow_each_ingest_and_are_rebuilt_when_their_layout_changes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(include_str!("../../../docs/examples/find.json")).unwrap();
    let find = Record::from_json(json, Uuid::now_v7()).unwrap();
    let ingest = sync_core::testing::ingest_of_new_record(&find, automerge::ActorId::random(), &author(), 1_000);
    storage.ingest(ingest).await.unwrap();
    drop(storage);

    let read = |path: &Path| {
        let conn = Connection::open(path.join(FILE_NAME)).unwrap();
        conn.query_row(
            "SELECT record_id, category, model, quantity, depth_cm, date_of_information, min_lon, max_lat \
             FROM layer_finds",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, f64>(6)?,
                    r.get::<_, f64>(7)?,
                ))
            },
        )
        .unwrap()
    };
    let row = read(dir.path());
    let expected = (
        find.id().to_string(),
        "ap_mine".to_string(),
        "PMN-2".to_string(),
        1,
        8,
        "2026-11-20".to_string(),
        47.50018,
        40.50021,
    );
    assert_eq!(row, expected);

    // A build whose layer schema differs: the tables are dropped, made again and filled from `records`.
    let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
    conn.execute_batch("DELETE FROM layer_finds; UPDATE meta SET value = 'another layout' WHERE key = 'layer_tables';")
        .unwrap();
    drop(conn);
    drop(SqliteStorage::open(dir.path()).unwrap());
    assert_eq!(read(dir.path()), expected);
}

fn author() -> domain::Authorship {
    domain::Authorship {
        device_id: Uuid::nil(),
        device: "Team 3 tablet".into(),
        user: "A. Aliyev".into(),
        action: "create".into(),
    }
}

/// A data directory of schema 1 gets each record's heads (0002), open conflicts and review time (0003), and
/// each change's writer and the device behind the review status (0004) from its changes when migrated.
#[test]
fn migrating_fills_in_what_later_schemas_read_off_each_document() {
    let json: serde_json::Value = serde_json::from_str(include_str!("../../../docs/examples/find.json")).unwrap();
    let find = Record::from_json(json, Uuid::now_v7()).unwrap();
    let (mut tablet, _) = domain::document::create(&find, automerge::ActorId::random(), &author(), 1_000).unwrap();
    // The supervisor's laptop and the tablet change the quantity concurrently.
    let mut laptop = tablet.fork().with_actor(automerge::ActorId::random());
    let mut edited = find.clone();
    for (doc, quantity, time) in [(&mut tablet, 2, 2_000), (&mut laptop, 3, 2_100)] {
        if let domain::RecordBody::Find(f) = &mut edited.body {
            f.quantity = quantity;
        }
        domain::document::edit(doc, &edited, &author(), time).unwrap();
    }
    tablet.merge(&mut laptop).unwrap();
    let changes = tablet.get_changes(&[]);
    assert_eq!(changes.len(), 3);

    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(MIGRATIONS[0]).unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let id = find.id().to_string();
    let (creator, other) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    for change in &changes {
        let pusher = if change.deps().is_empty() { &creator } else { &other };
        conn.execute(
            "INSERT INTO log (kind, record_id, hash, bytes, device_id, received_at) \
             VALUES ('change', ?1, ?2, ?3, ?4, '2026-11-20T12:00:00Z')",
            params![id, &change.hash().0[..], change.raw_bytes(), pusher],
        )
        .unwrap();
    }
    // A real record body: opening also fills HQ's tables from `records`.
    conn.execute(
        "INSERT INTO records (record_id, record_type, task_id, last_seq, body, warnings) \
         VALUES (?1, 'find', NULL, 3, ?2, '[]')",
        params![id, find.to_json().to_string()],
    )
    .unwrap();
    migrate(&mut conn).unwrap();

    let (heads, conflicts, review_since): (Vec<u8>, String, Option<String>) = conn
        .query_row(
            "SELECT heads, conflicts, review_since FROM records WHERE record_id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let expected: Vec<[u8; 32]> = tablet.get_heads().iter().map(|h| h.0).collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(heads, heads_blob(&expected));
    let conflicts: Vec<domain::FieldConflict> = serde_json::from_str(&conflicts).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "quantity");
    let mut values: Vec<_> = conflicts[0].candidates.iter().map(|c| c.value.clone()).collect();
    values.sort_by_key(|v| v.as_i64());
    assert_eq!(values, vec![serde_json::json!(2), serde_json::json!(3)]);
    // The review status was set when the tablet created the find; neither edit touched it.
    assert_eq!(review_since.as_deref(), Some("1970-01-01T00:16:40Z"));
    let review_by: Option<String> = conn
        .query_row("SELECT review_by FROM records WHERE record_id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        review_by,
        Some(creator),
        "the device that pushed the creation set the review status"
    );
    let actors: Vec<Vec<u8>> = conn
        .prepare("SELECT actor FROM log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<Vec<u8>> = changes.iter().map(|c| c.actor_id().to_bytes().to_vec()).collect();
    assert_eq!(actors, expected);
}

/// The query plan of `sql`, one line per step, indented by depth.
fn plan(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let rows = stmt.query_map(params, |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(3)?))
    });
    let rows: Vec<(i64, i64, String)> = rows.unwrap().collect::<Result<_, _>>().unwrap();
    let mut depth = BTreeMap::new();
    rows.into_iter()
        .map(|(id, parent, detail)| {
            let d = depth.get(&parent).map_or(0, |d| d + 1);
            depth.insert(id, d);
            format!("{}{detail}", "  ".repeat(d))
        })
        .collect()
}

/// Every pull statement is driven by an index: the log is searched from the cursor by its primary key (so a
/// pull after the last cursor reads nothing), and no table is scanned whole. Only json_each (the device's few
/// teams) is scanned.
#[test]
fn pull_queries_are_index_driven() {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let conn = storage.conn.lock().unwrap();
    let teams = r#"["alpha","bravo"]"#;
    let plans = [
        ("PULL_ALL", plan(&conn, PULL_ALL, params![7, 101, "device", 5, "relay"])),
        (
            "PULL_TEAMS",
            plan(&conn, PULL_TEAMS, params![7, teams, 101, "device", 5, "relay"]),
        ),
        ("EXPAND_TASK", plan(&conn, EXPAND_TASK, params!["t", 9, teams])),
        ("EXPAND_RECORD", plan(&conn, EXPAND_RECORD, params!["r", 9, teams])),
        ("last_seq", plan(&conn, "SELECT COALESCE(max(seq), 0) FROM log", [])),
    ];
    for (name, steps) in &plans {
        println!("{name}:\n  {}", steps.join("\n  "));
        for step in steps {
            let step = step.trim_start();
            assert!(
                !step.starts_with("SCAN") || step.contains("VIRTUAL TABLE"),
                "{name} scans a table: {step}\n{}",
                steps.join("\n")
            );
            assert!(
                !step.contains("TEMP B-TREE"),
                "{name} sorts: {step}\n{}",
                steps.join("\n")
            );
        }
    }
    for name in ["PULL_ALL", "PULL_TEAMS"] {
        let steps = &plans.iter().find(|(n, _)| *n == name).unwrap().1;
        assert!(
            steps[0].contains("USING INTEGER PRIMARY KEY (rowid>?)"),
            "{name}: {}",
            steps.join("\n")
        );
    }
}

/// The server's data directory holds every record and every device's token hash: a new one is 0700 and its
/// database 0600, and the WAL beside it follows the database.
#[tokio::test]
async fn a_new_data_directory_and_its_database_are_the_servers_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("camp").join("data");
    let storage = SqliteStorage::open(&data_dir).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data_dir), 0o700, "the data directory");
    assert_eq!(mode(&data_dir.join(FILE_NAME)), 0o600, "the database");
    let wal = data_dir.join(format!("{FILE_NAME}-wal"));
    assert!(wal.exists(), "the database is in WAL mode");
    assert_eq!(mode(&wal), 0o600, "the WAL");
    drop(storage);
}
