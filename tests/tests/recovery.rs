//! Recovery and catch-up with a real server: a server restored from backup gets back what it lost from the
//! devices, and a device that lacks a much-edited record receives it as a snapshot.
#![allow(clippy::unwrap_used)]

use client_core::Store;
use serde_json::json;
use std::path::Path;
use tests::*;
use uuid::Uuid;

const TEAM: &str = "Team 3";

fn device(dir: &Path, server: &TestServer, name: &str, role: DeviceRole) -> Store {
    let mut store = store(&dir.join(format!("{name}.db")), name, &format!("{name} user"));
    let (_, token) = server.enrol(name, &[TEAM], role);
    enrolled(&mut store, server, &token);
    store
}

fn sync(store: &mut Store) -> client_core::SyncReport {
    store.sync(|_| {}).unwrap()
}

/// A backup of the whole data directory, its folders (the exports' scratch) included.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A find at a distinct spot inside the day-of-work worked area.
fn find_at(task: Uuid, worked_area: Uuid, label: &str, i: usize) -> serde_json::Value {
    let mut find = tests::find(Uuid::now_v7(), task, Some(worked_area), label);
    find["location"]["lat"] = json!(40.5001 + i as f64 * 0.00003);
    find["location"]["lon"] = json!(47.5001 + i as f64 * 0.00001);
    find
}

#[test]
fn a_server_restored_from_backup_gets_back_what_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let backup = dir.path().join("backup");
    let server = TestServer::start(&data);
    let addr = server.addr;
    let mut a = device(dir.path(), &server, "tablet-a", DeviceRole::Supervisor);
    let mut b = device(dir.path(), &server, "tablet-b", DeviceRole::Supervisor);
    let (task, wa, find_id) = day_of_work(&mut a);
    sync(&mut a);
    sync(&mut b);

    // The night's backup.
    server.stop();
    copy_dir(&data, &backup);
    let server = TestServer::start_at(&data, addr);

    // The next day's work reaches the server and is acknowledged; tablet A even compacts it away.
    create(&mut a, find_at(task, wa, "F-0002", 2));
    create(&mut a, find_at(task, wa, "F-0003", 3));
    a.patch(find_id, &json!({"depth_cm": 15})).unwrap();
    sync(&mut a);
    a.compact().unwrap();
    assert!(a.outbox().unwrap().is_empty());
    sync(&mut b);
    create(&mut b, find_at(task, wa, "F-0004", 4));
    sync(&mut b);
    assert!(b.outbox().unwrap().is_empty());

    // The disk fails; the server is restored from the backup and works on: an HQ laptop enrolled afterwards
    // pushes enough that the restored log grows past the tablets' cursors, so only the cursor check can tell.
    server.stop();
    std::fs::remove_dir_all(&data).unwrap();
    copy_dir(&backup, &data);
    let server = TestServer::start_at(&data, addr);
    let mut hq = device(dir.path(), &server, "hq-laptop", DeviceRole::Hq);
    sync(&mut hq);
    for i in 0..8 {
        create(&mut hq, find_at(task, wa, &format!("F-01{i:02}"), 10 + i));
    }
    sync(&mut hq);
    let lost = server.storage(|s| async move { sync_core::store::SyncStore::record(&s, find_id).await.unwrap() });
    assert_eq!(lost.unwrap().body["depth_cm"], 10, "the restored server lost the edit");

    // The tablets sync as usual: they find their cursors unknown, compare, and send what the server lost.
    sync(&mut a);
    sync(&mut b);
    sync(&mut a);
    sync(&mut hq);

    let mut fresh = device(dir.path(), &server, "fresh-hq", DeviceRole::Hq);
    sync(&mut fresh);
    assert_eq!(
        fresh.count().unwrap(),
        3 + 2 + 1 + 8,
        "every record is back on the server"
    );
    assert_eq!(fresh.get(find_id).unwrap().record.to_json()["depth_cm"], 15);
    let state = visible_state(&fresh);
    for d in [&a, &b, &hq] {
        assert_eq!(visible_state(d), state);
        assert!(d.sync_status().unwrap().unacknowledged.is_empty());
        assert!(d.sync_status().unwrap().rejected.is_empty());
    }
    let quarantined = server.storage(|s| async move { sync_core::store::SyncStore::quarantined(&s).await.unwrap() });
    assert!(quarantined.is_empty(), "{quarantined:?}");
}

#[test]
fn a_device_enrolled_with_a_new_server_brings_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let old = TestServer::start(&dir.path().join("old"));
    let mut a = device(dir.path(), &old, "tablet-a", DeviceRole::Supervisor);
    day_of_work(&mut a);
    sync(&mut a);
    a.compact().unwrap();
    drop(old);

    // Base camp gets a new server; the tablet enrols with it and syncs.
    let new = TestServer::start(&dir.path().join("new"));
    let (_, token) = new.enrol("tablet-a", &[TEAM], DeviceRole::Supervisor);
    enrolled(&mut a, &new, &token);
    let report = sync(&mut a);
    assert_eq!(report.accepted, 3, "its three acknowledged records are sent again");
    let mut fresh = device(dir.path(), &new, "fresh", DeviceRole::Hq);
    sync(&mut fresh);
    assert_eq!(visible_state(&fresh), visible_state(&a));
}

#[test]
fn a_device_that_lacks_a_much_edited_record_receives_it_as_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut a = device(dir.path(), &server, "tablet-a", DeviceRole::Supervisor);
    let (_, _, find_id) = day_of_work(&mut a);
    sync(&mut a);
    for depth in 11..40 {
        a.patch(find_id, &json!({ "depth_cm": depth })).unwrap();
        sync(&mut a);
    }
    let changes = server.storage(|s| async move { sync_core::store::SyncStore::document(&s, find_id).await.unwrap() });
    assert!(
        changes.snapshot.is_some(),
        "the server snapshots a record edited 30 times"
    );
    assert!(changes.changes.len() < 8, "the tail after the snapshot is short");

    // A device joining now: the record arrives as a snapshot plus tail, and equals tablet A's.
    let mut b = device(dir.path(), &server, "tablet-b", DeviceRole::Supervisor);
    let (url, token) = b.enrollment().unwrap().unwrap();
    let transport = client_core::HttpTransport::new(&url, &token);
    let mut snapshots = Vec::new();
    b.sync_with(
        |request| {
            let response = transport.send(request)?;
            snapshots.extend(
                response
                    .pull
                    .iter()
                    .filter_map(|d| d.snapshot.as_ref().map(|s| (d.record_id, s.len()))),
            );
            Ok::<_, client_core::TransportError>(response)
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(snapshots.len(), 1, "one snapshot: the much-edited find");
    assert_eq!(snapshots[0].0, find_id);
    assert_eq!(visible_state(&b), visible_state(&a));
    let all = server.storage(|s| async move {
        sync_core::store::SyncStore::document_changes(&s, find_id)
            .await
            .unwrap()
    });
    let raw: usize = all.iter().map(Vec::len).sum();
    assert!(
        snapshots[0].1 < raw,
        "the snapshot ({} B) is smaller than the {} changes it stands for ({raw} B)",
        snapshots[0].1,
        all.len()
    );
}

/// A device looping reconciles (each compares every record it may see) is refused with `rate_limited` until ten
/// seconds have passed since its last one, saying when to sync again; another device reconciles meanwhile.
#[test]
fn a_device_looping_reconciles_is_held_to_one_every_ten_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let (_, looping) = server.enrol("tablet-x", &[TEAM], DeviceRole::Deminer);
    let (_, other) = server.enrol("tablet-y", &[TEAM], DeviceRole::Deminer);
    let reconcile = reconcile_of_1000;
    let transport = sync_http::HttpTransport::new(&server.url(), &looping);
    let first = transport.send(&reconcile()).unwrap();
    assert_eq!(first.differ.len(), 1_000, "the server lacks each: send them");
    match transport.send(&reconcile()).unwrap_err() {
        sync_http::TransportError::Server { status, code, message } => {
            assert_eq!((status, code), (429, protocol::ErrorCode::RateLimited));
            assert!(
                message.contains("tablet-x") && message.contains("sync again in"),
                "{message}"
            );
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
    // A sync with a cursor is not a reconcile: it goes on as ever.
    assert!(transport.send(&protocol::SyncRequest::new(0, None)).is_ok());
    let neighbour = sync_http::HttpTransport::new(&server.url(), &other);
    assert_eq!(neighbour.send(&reconcile()).unwrap().differ.len(), 1_000);
}

fn reconcile_of_1000() -> protocol::SyncRequest {
    let mut request = protocol::SyncRequest::new(0, None);
    request.reconcile = Some(
        (0..1_000)
            .map(|_| protocol::DocumentDigest {
                record_id: Uuid::now_v7(),
                digest: serde_bytes::ByteBuf::from(vec![7; 16]),
            })
            .collect(),
    );
    request
}

/// The interval by the server's clock: refused at 9.5 s, allowed from 10 s, and allowed at once after the clock
/// was set back (a camp laptop's clock corrected), rather than refused until it catches up.
#[test]
fn a_reconcile_is_allowed_again_once_the_interval_has_passed() {
    use sync_core::store::{Device, NewDevice, SyncStore};
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = sync_core::serve::SyncServer::new(
        store_sqlite::SqliteStorage::open(dir.path()).unwrap(),
        domain::Programme::default(),
    );
    let device = Device {
        id: Uuid::now_v7(),
        name: "tablet-x".into(),
        teams: [TEAM.to_string()].into(),
        role: DeviceRole::Deminer,
        created_at: noon(),
        revoked_at: None,
    };
    runtime
        .block_on(server.store.add_device(NewDevice {
            device: device.clone(),
            token_hash: sync_core::auth::token_hash("fst1_x"),
        }))
        .unwrap();
    let at = |ms: i64| noon() + chrono::Duration::milliseconds(ms);
    let refused = |ms: i64| {
        runtime
            .block_on(server.serve(&device, reconcile_of_1000(), at(ms)))
            .err()
            .map(|refusal| refusal.code)
    };
    assert_eq!(refused(0), None);
    assert_eq!(refused(9_500), Some(protocol::ErrorCode::RateLimited));
    assert_eq!(refused(10_000), None, "ten seconds after the last one allowed");
    assert_eq!(refused(-60_000), None, "a clock set back lets the device through");
    assert_eq!(refused(-59_000), Some(protocol::ErrorCode::RateLimited));
}
