//! Custody after a restore: a device whose store went back in time (restored from a backup), or a new store
//! enrolled as an existing device, gets its own records back at its next sync. Real stores, a real server.
#![allow(clippy::unwrap_used)]

use client_core::{ListFilter, Store};
use std::collections::BTreeSet;
use std::path::Path;
use tests::*;
use uuid::Uuid;

fn record_ids(store: &Store) -> BTreeSet<Uuid> {
    store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

/// Copies a closed store's file (and its write-ahead log, should one be left) as a backup tool would.
fn copy_store(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (from, to) = (
            format!("{}{suffix}", from.display()),
            format!("{}{suffix}", to.display()),
        );
        let _ = std::fs::remove_file(&to);
        if Path::new(&from).exists() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

fn reopen(path: &Path) -> Store {
    let mut store = Store::open(path).unwrap();
    store.set_clock(noon);
    store
}

#[test]
fn a_tablet_restored_from_yesterdays_backup_lists_all_its_own_records_after_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let (path, backup) = (dir.path().join("tablet.db"), dir.path().join("backup.db"));
    let mut tablet = store(&path, "tablet", "deminer");
    let (_, token) = server.enrol("tablet", &["Team 3"], DeviceRole::Supervisor);
    enrolled(&mut tablet, &server, &token);
    let (task, worked_area, _) = day_of_work(&mut tablet);
    assert_eq!(tablet.sync(|_| {}).unwrap().accepted, 3);
    // Another device's work on the same task, which the tablet pulls before its backup and after the restore.
    let mut other = store(&dir.path().join("other.db"), "other", "other deminer");
    let (_, other_token) = server.enrol("other", &["Team 3"], DeviceRole::Supervisor);
    enrolled(&mut other, &server, &other_token);
    other.sync(|_| {}).unwrap();
    create(&mut other, find(Uuid::now_v7(), task, Some(worked_area), "F-0100"));
    other.sync(|_| {}).unwrap();
    tablet.sync(|_| {}).unwrap();
    drop(tablet);
    copy_store(&path, &backup);

    // Today: two more finds, synced; then the tablet's store is lost and yesterday's backup put back.
    let mut tablet = reopen(&path);
    let today = [Uuid::now_v7(), Uuid::now_v7()];
    create(&mut tablet, find(today[0], task, Some(worked_area), "F-0002"));
    create(&mut tablet, find(today[1], task, Some(worked_area), "F-0003"));
    assert_eq!(tablet.sync(|_| {}).unwrap().accepted, 2);
    create(&mut other, find(Uuid::now_v7(), task, Some(worked_area), "F-0101"));
    other.sync(|_| {}).unwrap();
    let before_the_loss = record_ids(&tablet);
    let logged = server.storage(|s| async move { sync_core::store::SyncStore::last_seq(&s).await.unwrap() });
    drop(tablet);
    copy_store(&backup, &path);

    let mut tablet = reopen(&path);
    assert!(
        !record_ids(&tablet).contains(&today[0]),
        "the backup is from before today's finds"
    );
    let report = tablet.sync(|_| {}).unwrap();
    let mut expected = before_the_loss.clone();
    expected.extend(record_ids(&other));
    assert_eq!(
        record_ids(&tablet),
        expected,
        "every record it made, and the other device's: {report:?}"
    );
    assert!(tablet.outbox().unwrap().is_empty(), "nothing is waiting to be pushed");
    assert_eq!(
        visible_state(&tablet),
        visible_state(&other),
        "the same records, shown the same, as the other device"
    );
    let after = server.storage(|s| async move { sync_core::store::SyncStore::last_seq(&s).await.unwrap() });
    assert_eq!(
        after, logged,
        "the server's log took nothing new: nothing was pushed twice"
    );
}

#[test]
fn a_new_store_enrolled_as_an_existing_device_gets_its_records_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut tablet = store(&dir.path().join("tablet.db"), "tablet", "deminer");
    let (_, token) = server.enrol("tablet", &["Team 3"], DeviceRole::Supervisor);
    enrolled(&mut tablet, &server, &token);
    day_of_work(&mut tablet);
    tablet.sync(|_| {}).unwrap();
    let made = record_ids(&tablet);
    assert_eq!(made.len(), 3);

    // The tablet is replaced; its successor is enrolled with the same credential.
    let mut successor = store(&dir.path().join("successor.db"), "tablet", "deminer");
    enrolled(&mut successor, &server, &token);
    successor.sync(|_| {}).unwrap();
    assert_eq!(record_ids(&successor), made);
    assert_eq!(visible_state(&successor), visible_state(&tablet));
}
