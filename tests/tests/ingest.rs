//! Ingest under load, end to end over real HTTP: many devices pushing at once, and a server killed with SIGKILL
//! in the middle of a large push. The killed server is this test binary itself, re-run as a child process that
//! serves the data directory (as crash_safety.rs does with a device).
#![allow(clippy::unwrap_used)]

use client_core::Store;
use domain::Record;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sync_core::store::{LogEntry, SyncStore, Visibility};
use tests::*;
use uuid::Uuid;

const TEAM: &str = "Team 3";

fn device(dir: &Path, server: &TestServer, name: &str) -> Store {
    let mut store = store(&dir.join(format!("{name}.db")), name, &format!("{name} user"));
    let (_, token) = server.enrol(name, &[TEAM], DeviceRole::Supervisor);
    enrolled(&mut store, server, &token);
    store.sync(|_| {}).unwrap();
    store
}

/// Every logged change, checked to be numbered 1, 2, 3… with no gap and no change logged twice.
async fn logged_changes(storage: &impl SyncStore) -> Vec<(Uuid, Vec<u8>)> {
    let all = storage.entries(&Visibility::All, None, 0, u32::MAX).await.unwrap();
    let seqs: Vec<u64> = all.entries.iter().map(LogEntry::seq).collect();
    assert_eq!(seqs, (1..=all.last_seq).collect::<Vec<_>>(), "the log has no gap");
    let changes: Vec<(Uuid, Vec<u8>)> = all
        .entries
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Change { record_id, bytes, .. } => Some((record_id, bytes)),
            LogEntry::Grant { .. } => None,
        })
        .collect();
    let distinct: BTreeSet<&(Uuid, Vec<u8>)> = changes.iter().collect();
    assert_eq!(distinct.len(), changes.len(), "no change is logged twice");
    changes
}

#[test]
fn twenty_devices_pushing_at_once_converge_with_no_gap_or_duplicate_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut lead = device(dir.path(), &server, "lead");
    // Devices in one team: each sees the others' records, so every push is pulled by everyone.
    let (task, worked_area, shared) = day_of_work(&mut lead);
    lead.sync(|_| {}).unwrap();
    let mut tablets: Vec<Store> = (0..20)
        .map(|i| device(dir.path(), &server, &format!("tablet-{i:02}")))
        .collect();
    // Offline, every tablet records a task of its own with its finds (a few shared with the lead's task), and two
    // of them edit the shared find, each a different field.
    for (i, tablet) in tablets.iter_mut().enumerate() {
        let own = Uuid::now_v7();
        create(tablet, tests::task(own));
        let finds: Vec<Record> = (0..12)
            .map(|j| {
                let id = Uuid::now_v7();
                let (task, area) = if j < 2 { (task, Some(worked_area)) } else { (own, None) };
                Record::from_json(find_on_grid(id, task, area, &format!("F-{i:02}-{j:02}"), i, j), id).unwrap()
            })
            .collect();
        tablet.create_batch(finds).unwrap();
    }
    tablets[0].patch(shared, &json!({"depth_cm": 12})).unwrap();
    tablets[1].patch(shared, &json!({"quantity": 2})).unwrap();

    std::thread::scope(|scope| {
        for tablet in tablets.iter_mut() {
            scope.spawn(move || tablet.sync(|_| {}).unwrap());
        }
    });
    // Once more each, to pull what the others pushed meanwhile.
    for tablet in tablets.iter_mut().chain([&mut lead]) {
        tablet.sync(|_| {}).unwrap();
    }

    let expected = visible_state(&lead);
    assert_eq!(expected.len(), 3 + 20 * 13, "the lead holds every record");
    for (i, tablet) in tablets.iter().enumerate() {
        assert!(visible_state(tablet) == expected, "tablet {i} differs from the lead");
    }
    let shown = lead.get(shared).unwrap().record.to_json();
    assert_eq!(
        (shown["depth_cm"].clone(), shown["quantity"].clone()),
        (json!(12), json!(2))
    );
    let (changes, pushers) = server.storage(|s| async move {
        let changes = logged_changes(&s).await;
        (changes, s.change_pushers(shared).await.unwrap())
    });
    assert_eq!(changes.len(), 3 + 20 * 13 + 2, "every change logged once");
    assert_eq!(
        pushers.len(),
        3,
        "the shared find's document holds its creation and both edits"
    );
}

/// The child: serves the data directory named in the environment on the port named there, until killed.
#[test]
#[ignore = "run by a_server_killed_mid_push_keeps_every_slice_it_committed as its child process"]
fn server_child() {
    let (Ok(dir), Ok(addr)) = (
        std::env::var("FIELDSYNC_CHILD_DATA"),
        std::env::var("FIELDSYNC_CHILD_ADDR"),
    ) else {
        return;
    };
    let _server = TestServer::start_at(Path::new(&dir), addr.parse().unwrap());
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn serve_in_child(data_dir: &Path, addr: &str) -> Child {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "server_child", "--nocapture"])
        .env("FIELDSYNC_CHILD_DATA", data_dir)
        .env("FIELDSYNC_CHILD_ADDR", addr)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the child server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Changes in the server's log, read from its file beside the running server.
fn logged(data_dir: &Path) -> u64 {
    let conn = rusqlite::Connection::open(data_dir.join("fieldsync-server.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let count: i64 = conn
        .query_row("SELECT count(*) FROM log WHERE kind = 'change'", [], |r| r.get(0))
        .unwrap();
    count as u64
}

#[test]
fn a_server_killed_mid_push_keeps_every_slice_it_committed() {
    let records = 8 * sync_core::serve::SLICE_RECORDS;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    // Enrolled before the server starts, as `fieldsync-server device add` would.
    let (token, server_url) = {
        let server = TestServer::start(&data_dir);
        let (_, token) = server.enrol("tablet", &[TEAM], DeviceRole::Supervisor);
        server.stop();
        (token, format!("http://{addr}"))
    };
    // Spread over tasks of 100 records, as a week of a camp's work is.
    let mut tablet = store(&dir.path().join("tablet.db"), "tablet", "tablet user");
    for t in 0..records / 100 {
        let task = Uuid::now_v7();
        create(&mut tablet, tests::task(task));
        let finds: Vec<Record> = (1..100)
            .map(|i| {
                let id = Uuid::now_v7();
                // Apart from one another: the device checks each find against the finds near it.
                Record::from_json(find_on_grid(id, task, None, &format!("F-{t:02}-{i:02}"), t, i), id).unwrap()
            })
            .collect();
        tablet.create_batch(finds).unwrap();
    }
    let mut child = serve_in_child(&data_dir, &addr);
    tablet.enroll(&server_url, &token).unwrap();
    let (committed, outcome) = std::thread::scope(|scope| {
        let push = scope.spawn(|| tablet.sync(|_| {}));
        // Killed once at least one slice is committed and before the last.
        let deadline = Instant::now() + Duration::from_secs(120);
        let committed = loop {
            let n = logged(&data_dir);
            if n > 0 || push.is_finished() || Instant::now() > deadline {
                break n;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        (committed, push.join().unwrap())
    });
    assert!(
        outcome.is_err(),
        "the push must have been cut off, not finished: {outcome:?}"
    );
    assert!(committed > 0, "a slice was committed before the kill");
    let kept = logged(&data_dir);
    assert!(
        kept >= committed,
        "every committed slice survives the kill ({kept} < {committed})"
    );
    assert!(kept < records as u64, "the kill came before the last slice ({kept})");
    assert_eq!(
        kept % sync_core::serve::SLICE_RECORDS as u64,
        0,
        "whole slices, never part of one"
    );
    assert_eq!(
        tablet.outbox().unwrap().len(),
        records,
        "nothing acknowledged without an answer"
    );

    let mut child = serve_in_child(&data_dir, &addr);
    let report = tablet.sync(|_| {}).unwrap();
    assert_eq!(report.accepted, records, "the retry is acknowledged whole");
    assert!(tablet.outbox().unwrap().is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    let server = TestServer::start(&data_dir);
    let changes = server.storage(|s| async move { logged_changes(&s).await });
    assert_eq!(changes.len(), records, "every change logged once, none twice");
    server.stop();
}
