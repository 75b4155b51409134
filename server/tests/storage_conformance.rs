#![allow(clippy::unwrap_used)]
//! The storage contract (server/src/storage/mod.rs), checked against every backend.
//!
//! Each check is an `async fn` generic over [`Storage`] and starts from an empty storage. The `conformance!` macro
//! turns every check into one `#[tokio::test]` per backend; a backend is a [`Backend`] that makes a fresh storage
//! and reopens it. To run the suite on PostgreSQL, implement `Backend` for it (a fresh schema per test, skipped
//! unless its URL is set) and add `mod postgres { conformance!(super::Postgres); }`.

use chrono::{DateTime, TimeZone, Utc};
use domain::{Candidate, FieldConflict, Issue, RecordType, Rule, Severity};
use serde_json::json;
use server::storage::{
    Batch, Device, Grant, Ingest, LogChange, NewChange, NewDevice, NewQuarantined, Page, RecordRow, Role,
    SqliteStorage, Storage, StorageError, StoredDocument, Visibility,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use uuid::Uuid;

/// A backend under test.
trait Backend: Sized {
    type S: Storage;
    /// A new, empty storage.
    async fn fresh() -> Self;
    fn storage(&self) -> &Self::S;
    /// Closes the storage and opens the same data again.
    async fn reopen(self) -> Self;
}

struct Sqlite {
    storage: SqliteStorage,
    dir: tempfile::TempDir,
}

impl Backend for Sqlite {
    type S = SqliteStorage;

    async fn fresh() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        Sqlite {
            storage: SqliteStorage::open(dir.path()).unwrap(),
            dir,
        }
    }

    fn storage(&self) -> &SqliteStorage {
        &self.storage
    }

    async fn reopen(self) -> Sqlite {
        let Sqlite { storage, dir } = self;
        drop(storage);
        Sqlite {
            storage: SqliteStorage::open(dir.path()).unwrap(),
            dir,
        }
    }
}

/// One `#[tokio::test]` per check for a backend type.
macro_rules! conformance {
    ($backend:ty) => {
        conformance!(@checks $backend;
            devices_round_trip,
            duplicate_devices_are_refused,
            revoking_twice_revokes_once,
            ingest_appends_new_changes_once,
            document_changes_are_in_log_order,
            records_reflect_the_last_ingest,
            pull_all_returns_everything_and_pages,
            pull_teams_sees_its_tasks_and_taskless_records,
            grant_task_delivers_the_task_history,
            grant_record_delivers_the_record_history,
            idle_pull_returns_nothing,
            cursor_moves_past_invisible_entries,
            quarantine_round_trips,
            a_device_is_not_sent_its_own_changes,
            a_batch_appends_pushes_and_refusals_together,
            snapshots_stand_in_for_the_changes_they_cover,
            heads_are_kept_and_listed_by_scope,
            cursor_checks_name_their_entry,
            a_writer_belongs_to_the_device_that_first_pushed_it,
        );

        #[tokio::test]
        async fn data_survives_reopening() {
            super::data_survives_reopening(<$backend as super::Backend>::fresh().await).await;
        }
    };
    (@checks $backend:ty; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let backend = <$backend as super::Backend>::fresh().await;
                super::$check(super::Backend::storage(&backend)).await;
            }
        )+
    };
}

mod sqlite {
    use super::*;

    conformance!(super::Sqlite);

    /// A data directory written by a newer build is refused, not half-understood.
    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStorage::open(dir.path()).unwrap());
        let conn = rusqlite::Connection::open(dir.path().join("fieldsync-server.db")).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        match SqliteStorage::open(dir.path()) {
            Err(StorageError::NewerSchema { found: 999, known }) => assert!((1..999).contains(&known)),
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }

    /// Opening creates a data directory that does not exist yet.
    #[tokio::test]
    async fn open_creates_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        let storage = SqliteStorage::open(&nested).unwrap();
        assert!(nested.join("fieldsync-server.db").is_file());
        assert_eq!(storage.last_seq().await.unwrap(), 0);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures

fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_760_000_000 + seconds, nanos).unwrap()
}

fn device(name: &str, teams: &[&str], role: Role) -> Device {
    Device {
        id: Uuid::now_v7(),
        name: name.into(),
        teams: teams.iter().map(|t| t.to_string()).collect(),
        role,
        // Nanoseconds: a backend must not round times.
        created_at: at(0, 123_456_789),
        revoked_at: None,
    }
}

fn token(n: u8) -> [u8; 32] {
    Sha256::digest([n]).into()
}

fn change(bytes: &[u8]) -> NewChange {
    NewChange {
        hash: Sha256::digest(bytes).into(),
        bytes: bytes.to_vec(),
        // Placeholder changes share one writer; the authorship story below gives each its own.
        actor: b"conformance".to_vec(),
    }
}

fn teams(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|t| t.to_string()).collect()
}

fn sees(names: &[&str]) -> Visibility {
    Visibility::Teams(teams(names))
}

fn warning(record: Uuid) -> Issue {
    Issue {
        severity: Severity::Warning,
        rule: Rule::Overlap,
        record,
        label: "WA-1".into(),
        field: "shape".into(),
        value: "2.5 %".into(),
        message: "overlaps WA-2".into(),
    }
}

fn task(id: Uuid, team_names: &[&str], hazards: &[Uuid]) -> RecordRow {
    RecordRow {
        record_id: id,
        record_type: RecordType::Task,
        task_id: Some(id),
        task_teams: teams(team_names),
        hazard_areas: hazards.iter().copied().collect(),
        body: json!({ "teams": team_names, "hazard_areas": hazards }),
        warnings: vec![],
        heads: vec![],
        conflicts: vec![],
        review_since: None,
        review_by: None,
    }
}

fn record_in(id: Uuid, record_type: RecordType, task_id: Option<Uuid>) -> RecordRow {
    RecordRow {
        record_id: id,
        record_type,
        task_id,
        task_teams: BTreeSet::new(),
        hazard_areas: BTreeSet::new(),
        body: json!({ "type": record_type.as_str(), "task": task_id }),
        warnings: vec![],
        heads: vec![],
        conflicts: vec![open_conflict()],
        review_since: DateTime::from_timestamp(1_780_000_000, 0),
        review_by: Some(Uuid::from_u128(7)),
    }
}

/// Two devices set a quantity concurrently: every record row carries one, so that each read-back checks it.
fn open_conflict() -> FieldConflict {
    let candidate = |quantity: i64, winner: bool| Candidate {
        value: json!(quantity),
        author: None,
        change: None,
        winner,
    };
    FieldConflict {
        field: "quantity".into(),
        candidates: vec![candidate(1, false), candidate(2, true)],
    }
}

fn quarantined_item(record_id: Uuid) -> NewQuarantined {
    NewQuarantined {
        device_id: Uuid::from_u128(7),
        record_id,
        change_hash: None,
        bytes: b"refused".to_vec(),
        code: "invalid".into(),
        message: "breaks a rule".into(),
        issues: vec![],
        received_at: at(60, 0),
    }
}

fn push(record: RecordRow, changes: &[&[u8]], grants: Vec<Grant>) -> Ingest {
    Ingest {
        record,
        changes: changes.iter().map(|b| change(b)).collect(),
        device_id: Uuid::from_u128(7),
        received_at: at(60, 0),
        grants,
        snapshot: None,
        feature: None,
    }
}

/// Pulls pages until `more` is false; returns every page.
async fn pull_pages(storage: &impl Storage, visibility: &Visibility, mut after: u64, limit: u32) -> Vec<Page> {
    let mut pages = Vec::new();
    loop {
        let page = storage.pull(visibility, None, after, limit).await.unwrap();
        assert!(
            page.cursor >= after,
            "a cursor never goes back: {} after {after}",
            page.cursor
        );
        // A page holds nothing beyond what it covered: a later change comes with its own entry, once.
        assert!(
            page.changes.iter().all(|c| c.seq <= page.cursor),
            "a change beyond the cursor {}",
            page.cursor
        );
        after = page.cursor;
        let more = page.more;
        pages.push(page);
        if !more {
            return pages;
        }
        assert!(pages.len() < 1000, "pull never ends");
    }
}

/// Every change a device gets when pulling from `after` to the end, with the final cursor.
async fn pull_to_end(storage: &impl Storage, visibility: &Visibility, after: u64) -> (Vec<LogChange>, u64) {
    let pages = pull_pages(storage, visibility, after, 1000).await;
    let cursor = pages.last().unwrap().cursor;
    (pages.into_iter().flat_map(|p| p.changes).collect(), cursor)
}

fn bytes_of(changes: &[LogChange]) -> Vec<Vec<u8>> {
    changes.iter().map(|c| c.bytes.clone()).collect()
}

fn records_seen(changes: &[LogChange]) -> BTreeSet<Uuid> {
    changes.iter().map(|c| c.record_id).collect()
}

fn assert_log_order(changes: &[LogChange]) {
    for pair in changes.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "not in log order or duplicated: {} then {}",
            pair[0].seq,
            pair[1].seq
        );
    }
}

/// Ids whose text sorts like their numbers, so expected orders are easy to write.
fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

// ---------------------------------------------------------------------------------------------------------------
// Checks

async fn devices_round_trip<S: Storage>(storage: &S) {
    assert!(storage.devices().await.unwrap().is_empty());
    let supervisor = device("supervisor laptop", &["alpha", "bravo"], Role::Supervisor);
    let hq = device("hq desk", &[], Role::Hq);
    storage
        .add_device(NewDevice {
            device: supervisor.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();
    storage
        .add_device(NewDevice {
            device: hq.clone(),
            token_hash: token(2),
        })
        .await
        .unwrap();

    assert_eq!(
        storage.device_for_token(token(1)).await.unwrap(),
        Some(supervisor.clone())
    );
    assert_eq!(storage.device_for_token(token(2)).await.unwrap(), Some(hq.clone()));
    assert_eq!(storage.device_for_token(token(3)).await.unwrap(), None);

    let mut all = storage.devices().await.unwrap();
    all.sort_by_key(|d| d.id);
    let mut expected = vec![supervisor.clone(), hq.clone()];
    expected.sort_by_key(|d| d.id);
    assert_eq!(all, expected);

    // A revoked device is still found by its token, so the caller can say why it is refused.
    let revoked_at = at(3600, 5);
    assert!(storage.revoke_device(supervisor.id, revoked_at).await.unwrap());
    let found = storage.device_for_token(token(1)).await.unwrap().unwrap();
    assert_eq!(
        found,
        Device {
            revoked_at: Some(revoked_at),
            ..supervisor
        }
    );
    assert_eq!(
        storage.device_for_token(token(2)).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(
        storage
            .devices()
            .await
            .unwrap()
            .iter()
            .filter(|d| d.revoked_at.is_some())
            .count(),
        1
    );
}

async fn duplicate_devices_are_refused<S: Storage>(storage: &S) {
    let first = device("tablet 1", &["alpha"], Role::Deminer);
    storage
        .add_device(NewDevice {
            device: first.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();

    let same_id = Device {
        name: "impostor".into(),
        ..first.clone()
    };
    match storage
        .add_device(NewDevice {
            device: same_id,
            token_hash: token(2),
        })
        .await
    {
        Err(StorageError::DuplicateDevice(id)) => assert_eq!(id, first.id),
        other => panic!("expected DuplicateDevice, got {other:?}"),
    }
    let same_token = device("tablet 2", &["alpha"], Role::Deminer);
    assert!(
        storage
            .add_device(NewDevice {
                device: same_token,
                token_hash: token(1)
            })
            .await
            .is_err()
    );

    // Neither refusal changed anything: the token still names the first device.
    assert_eq!(storage.devices().await.unwrap(), vec![first.clone()]);
    assert_eq!(storage.device_for_token(token(1)).await.unwrap(), Some(first));
    assert_eq!(storage.device_for_token(token(2)).await.unwrap(), None);
}

async fn revoking_twice_revokes_once<S: Storage>(storage: &S) {
    let tablet = device("tablet", &["alpha"], Role::TeamLeader);
    storage
        .add_device(NewDevice {
            device: tablet.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();
    assert!(storage.revoke_device(tablet.id, at(10, 0)).await.unwrap());
    assert!(!storage.revoke_device(tablet.id, at(20, 0)).await.unwrap());
    // The first revocation time stands.
    assert_eq!(
        storage.device_for_token(token(1)).await.unwrap().unwrap().revoked_at,
        Some(at(10, 0))
    );
    assert!(!storage.revoke_device(Uuid::now_v7(), at(30, 0)).await.unwrap());
}

async fn ingest_appends_new_changes_once<S: Storage>(storage: &S) {
    assert_eq!(storage.last_seq().await.unwrap(), 0);
    let hazard = record_in(id(1), RecordType::HazardArea, None);
    assert_eq!(
        storage
            .ingest(push(hazard.clone(), &[b"h1", b"h2", b"h3"], vec![]))
            .await
            .unwrap(),
        3
    );
    let after_first = storage.last_seq().await.unwrap();
    let (log, _) = pull_to_end(storage, &Visibility::All, 0).await;
    assert_eq!(bytes_of(&log), [b"h1".to_vec(), b"h2".to_vec(), b"h3".to_vec()]);
    assert_eq!(log.last().unwrap().seq, after_first);

    // A retried push changes nothing.
    assert_eq!(
        storage
            .ingest(push(hazard.clone(), &[b"h1", b"h2", b"h3"], vec![]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(storage.last_seq().await.unwrap(), after_first);
    assert_eq!(pull_to_end(storage, &Visibility::All, 0).await.0, log);

    // Partly known: only the new one is appended; a change twice in one push is stored once.
    assert_eq!(
        storage
            .ingest(push(hazard.clone(), &[b"h2", b"h4", b"h4"], vec![]))
            .await
            .unwrap(),
        1
    );
    // The same bytes in another record are another change (the log is keyed by record and hash).
    let other = record_in(id(2), RecordType::HazardArea, None);
    assert_eq!(storage.ingest(push(other, &[b"h1"], vec![])).await.unwrap(), 1);
    let (log, cursor) = pull_to_end(storage, &Visibility::All, 0).await;
    assert_eq!(
        bytes_of(&log),
        [&b"h1"[..], b"h2", b"h3", b"h4", b"h1"].map(<[u8]>::to_vec)
    );
    assert_eq!(
        log.iter().map(|c| c.record_id).collect::<Vec<_>>(),
        [id(1), id(1), id(1), id(1), id(2)]
    );
    assert_log_order(&log);
    assert!(log[0].seq > 0);
    assert_eq!(cursor, storage.last_seq().await.unwrap());
    assert_eq!(
        storage.document_changes(id(1)).await.unwrap(),
        [&b"h1"[..], b"h2", b"h3", b"h4"].map(<[u8]>::to_vec)
    );

    // With nothing new the record row is still updated.
    let mut edited = hazard;
    edited.body = json!({ "name": "edited" });
    assert_eq!(storage.ingest(push(edited.clone(), &[b"h1"], vec![])).await.unwrap(), 0);
    assert_eq!(storage.record(id(1)).await.unwrap(), Some(edited));
}

async fn document_changes_are_in_log_order<S: Storage>(storage: &S) {
    let a = record_in(id(1), RecordType::HazardArea, None);
    let b = record_in(id(2), RecordType::HazardArea, None);
    // Bytes whose sort order differs from arrival order, interleaved with another record.
    storage.ingest(push(a.clone(), &[b"z-first"], vec![])).await.unwrap();
    storage.ingest(push(b.clone(), &[b"b-first"], vec![])).await.unwrap();
    storage
        .ingest(push(a.clone(), &[b"m-second", b"a-third"], vec![]))
        .await
        .unwrap();
    storage.ingest(push(b, &[b"b-second"], vec![])).await.unwrap();
    assert_eq!(
        storage.document_changes(id(1)).await.unwrap(),
        [&b"z-first"[..], b"m-second", b"a-third"].map(<[u8]>::to_vec)
    );
    assert_eq!(
        storage.document_changes(id(2)).await.unwrap(),
        [&b"b-first"[..], b"b-second"].map(<[u8]>::to_vec)
    );
    assert!(storage.document_changes(id(3)).await.unwrap().is_empty());
}

async fn records_reflect_the_last_ingest<S: Storage>(storage: &S) {
    let (t, u, report, hazard) = (id(10), id(11), id(20), id(30));
    let (h1, h2, h3) = (id(31), id(32), id(33));
    let first = task(t, &["alpha"], &[h1, h2]);
    storage.ingest(push(first.clone(), &[b"t1"], vec![])).await.unwrap();
    storage
        .ingest(push(task(u, &["bravo"], &[h2]), &[b"u1"], vec![]))
        .await
        .unwrap();
    let mut daily = record_in(report, RecordType::DailyReport, Some(t));
    daily.warnings = vec![warning(report)];
    storage.ingest(push(daily.clone(), &[b"r1"], vec![])).await.unwrap();
    let area = record_in(hazard, RecordType::HazardArea, None);
    storage.ingest(push(area.clone(), &[b"a1"], vec![])).await.unwrap();

    assert_eq!(storage.record(t).await.unwrap(), Some(first.clone()));
    assert_eq!(storage.record(report).await.unwrap(), Some(daily.clone()));
    assert_eq!(storage.record(hazard).await.unwrap(), Some(area));
    assert_eq!(storage.record(id(99)).await.unwrap(), None);
    let mut of_t = storage.records_of_task(t).await.unwrap();
    of_t.sort_by_key(|r| r.record_id);
    assert_eq!(of_t, vec![first, daily.clone()]);
    assert_eq!(storage.tasks_covering(h1).await.unwrap(), vec![t]);
    let mut covering_h2 = storage.tasks_covering(h2).await.unwrap();
    covering_h2.sort();
    assert_eq!(covering_h2, vec![t, u]);
    assert!(storage.tasks_covering(h3).await.unwrap().is_empty());
    assert!(storage.records_of_task(id(98)).await.unwrap().is_empty());

    // The task changes teams and hazard areas: what was there before is gone, not merged.
    let second = task(t, &["charlie", "delta"], &[h2, h3]);
    storage.ingest(push(second.clone(), &[b"t2"], vec![])).await.unwrap();
    assert_eq!(storage.record(t).await.unwrap(), Some(second.clone()));
    assert!(storage.tasks_covering(h1).await.unwrap().is_empty());
    assert_eq!(storage.tasks_covering(h3).await.unwrap(), vec![t]);
    // And scope follows: alpha no longer sees the task, charlie does.
    let (alpha, _) = pull_to_end(storage, &sees(&["alpha"]), 0).await;
    assert!(!records_seen(&alpha).contains(&t));
    let (charlie, _) = pull_to_end(storage, &sees(&["charlie"]), 0).await;
    assert!(records_seen(&charlie).is_superset(&[t, report].into()));

    // The report moves to task u.
    let moved = RecordRow {
        task_id: Some(u),
        warnings: vec![],
        ..daily
    };
    storage.ingest(push(moved.clone(), &[], vec![])).await.unwrap();
    assert_eq!(storage.records_of_task(t).await.unwrap(), vec![second]);
    let of_u: Vec<Uuid> = storage
        .records_of_task(u)
        .await
        .unwrap()
        .iter()
        .map(|r| r.record_id)
        .collect();
    assert_eq!(of_u.iter().collect::<BTreeSet<_>>(), [&u, &report].into());
    assert_eq!(storage.record(report).await.unwrap(), Some(moved));
}

async fn pull_all_returns_everything_and_pages<S: Storage>(storage: &S) {
    let (t, r) = (id(1), id(2));
    storage
        .ingest(push(task(t, &["alpha"], &[]), &[b"c1", b"c2"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(record_in(r, RecordType::Find, Some(t)), &[b"c3"], vec![]))
        .await
        .unwrap();
    // A grant is no news to a device that sees everything: it must not bring the task's changes again.
    let regrant = push(
        task(t, &["alpha", "bravo"], &[]),
        &[b"c4"],
        vec![Grant::Task {
            task_id: t,
            team: "bravo".into(),
        }],
    );
    storage.ingest(regrant).await.unwrap();
    storage
        .ingest(push(record_in(r, RecordType::Find, Some(t)), &[b"c5"], vec![]))
        .await
        .unwrap();
    let last = storage.last_seq().await.unwrap();

    let full = storage.pull(&Visibility::All, None, 0, 100).await.unwrap();
    assert_eq!(
        bytes_of(&full.changes),
        [&b"c1"[..], b"c2", b"c3", b"c4", b"c5"].map(<[u8]>::to_vec)
    );
    assert_eq!(
        full.changes.iter().map(|c| c.record_id).collect::<Vec<_>>(),
        [t, t, r, t, r]
    );
    assert_log_order(&full.changes);
    assert_eq!((full.cursor, full.more), (last, false));

    let pages = pull_pages(storage, &Visibility::All, 0, 2).await;
    assert_eq!(pages.iter().map(|p| p.more).collect::<Vec<_>>(), [true, true, false]);
    assert_eq!(pages.iter().map(|p| p.changes.len()).collect::<Vec<_>>(), [2, 2, 1]);
    for pair in pages.windows(2) {
        assert!(pair[0].cursor < pair[1].cursor, "cursors must strictly increase");
    }
    for page in &pages {
        // A page's cursor covers exactly its changes: the last one, or the end of the log.
        let last_change = page.changes.last().unwrap().seq;
        if page.more {
            assert_eq!(page.cursor, last_change);
            assert!(page.cursor < last);
        } else {
            assert_eq!(page.cursor, last);
        }
    }
    let concatenated: Vec<LogChange> = pages.into_iter().flat_map(|p| p.changes).collect();
    assert_eq!(concatenated, full.changes);

    // Starting in the middle: exactly what follows the cursor.
    let middle = full.changes[2].seq;
    let rest = storage.pull(&Visibility::All, None, middle, 100).await.unwrap();
    assert_eq!(rest.changes, full.changes[3..]);
}

async fn pull_teams_sees_its_tasks_and_taskless_records<S: Storage>(storage: &S) {
    let (ta, tb, ra, rb, hazard) = (id(1), id(2), id(3), id(4), id(5));
    storage
        .ingest(push(
            record_in(hazard, RecordType::HazardArea, None),
            &[b"hazard"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(task(ta, &["alpha"], &[hazard]), &[b"ta"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(tb, &["bravo"], &[hazard]), &[b"tb"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(ra, RecordType::DailyReport, Some(ta)),
            &[b"ra1"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(rb, RecordType::DailyReport, Some(tb)),
            &[b"rb1"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(ra, RecordType::DailyReport, Some(ta)),
            &[b"ra2"],
            vec![],
        ))
        .await
        .unwrap();

    let (alpha, cursor) = pull_to_end(storage, &sees(&["alpha"]), 0).await;
    assert_eq!(
        bytes_of(&alpha),
        [&b"hazard"[..], b"ta", b"ra1", b"ra2"].map(<[u8]>::to_vec)
    );
    assert_log_order(&alpha);
    assert_eq!(cursor, storage.last_seq().await.unwrap());

    let (supervisor, _) = pull_to_end(storage, &sees(&["alpha", "bravo"]), 0).await;
    assert_eq!(
        bytes_of(&supervisor),
        [&b"hazard"[..], b"ta", b"tb", b"ra1", b"rb1", b"ra2"].map(<[u8]>::to_vec)
    );

    let (nobody, _) = pull_to_end(storage, &sees(&[]), 0).await;
    assert_eq!(bytes_of(&nobody), [b"hazard".to_vec()]);
    let (charlie, _) = pull_to_end(storage, &sees(&["charlie"]), 0).await;
    assert_eq!(records_seen(&charlie), [hazard].into());

    // Paging a team's view: every page holds only visible changes, and the pages add up to the whole.
    let pages = pull_pages(storage, &sees(&["bravo"]), 0, 1).await;
    let paged: Vec<LogChange> = pages.into_iter().flat_map(|p| p.changes).collect();
    assert_eq!(bytes_of(&paged), [&b"hazard"[..], b"tb", b"rb1"].map(<[u8]>::to_vec));
}

async fn grant_task_delivers_the_task_history<S: Storage>(storage: &S) {
    let (ta, tb, rb, other) = (id(1), id(2), id(3), id(4));
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(tb, &["bravo"], &[]), &[b"tb1"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(rb, RecordType::Find, Some(tb)),
            &[b"rb1", b"rb2"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(record_in(other, RecordType::Find, Some(ta)), &[b"other"], vec![]))
        .await
        .unwrap();

    let (before, alpha_cursor) = pull_to_end(storage, &sees(&["alpha"]), 0).await;
    assert!(!records_seen(&before).contains(&tb));
    let (_, charlie_cursor) = pull_to_end(storage, &sees(&["charlie"]), 0).await;

    // alpha joins task tb: one push changes the task and grants alpha its history.
    let joined = task(tb, &["alpha", "bravo"], &[]);
    let grant = Grant::Task {
        task_id: tb,
        team: "alpha".into(),
    };
    assert_eq!(storage.ingest(push(joined, &[b"tb2"], vec![grant])).await.unwrap(), 1);
    storage
        .ingest(push(record_in(rb, RecordType::Find, Some(tb)), &[b"rb3"], vec![]))
        .await
        .unwrap();

    let (granted, cursor) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    // Everything of tb, including what was logged before alpha's cursor, in log order, each once.
    assert_eq!(
        bytes_of(&granted),
        [&b"tb1"[..], b"rb1", b"rb2", b"tb2", b"rb3"].map(<[u8]>::to_vec)
    );
    assert_log_order(&granted);
    assert!(granted[0].seq <= alpha_cursor, "older changes come with the grant");
    assert_eq!(cursor, storage.last_seq().await.unwrap());

    // The grant is alpha's: charlie sees nothing of tb, bravo sees only what is new to it.
    let (charlie, _) = pull_to_end(storage, &sees(&["charlie"]), charlie_cursor).await;
    assert!(charlie.is_empty());
    let (bravo, _) = pull_to_end(storage, &sees(&["bravo"]), alpha_cursor).await;
    assert_eq!(bytes_of(&bravo), [&b"tb2"[..], b"rb3"].map(<[u8]>::to_vec));

    // A grant counts as one entry towards the page limit but brings the whole history in its page. A change
    // paged before the grant may come again with it (changes are idempotent); together the pages hold the same.
    let pages = pull_pages(storage, &sees(&["alpha"]), alpha_cursor, 1).await;
    assert_eq!(pages.len(), 3, "tb2, the grant, rb3: one entry a page");
    let mut paged: Vec<LogChange> = pages.iter().flat_map(|p| p.changes.clone()).collect();
    for page in &pages {
        assert_log_order(&page.changes);
    }
    assert!(
        [&b"tb1"[..], b"rb1", b"rb2"]
            .iter()
            .all(|b| pages[1].changes.iter().any(|c| &c.bytes[..] == *b)),
        "the grant's page holds the history: {:?}",
        pages[1].changes
    );
    paged.sort_by_key(|c| c.seq);
    paged.dedup();
    assert_eq!(paged, granted);

    // Scope is judged now, not when the grant was logged: once alpha leaves tb, a device of alpha that is behind
    // gets nothing of tb from the old grant.
    storage
        .ingest(push(task(tb, &["bravo"], &[]), &[b"tb3"], vec![]))
        .await
        .unwrap();
    let (after_leaving, _) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    assert!(after_leaving.is_empty(), "{after_leaving:?}");
}

async fn grant_record_delivers_the_record_history<S: Storage>(storage: &S) {
    let (ta, tb, moving, staying) = (id(1), id(2), id(3), id(4));
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(tb, &["bravo"], &[]), &[b"tb"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(
            record_in(moving, RecordType::Find, Some(tb)),
            &[b"m1", b"m2"],
            vec![],
        ))
        .await
        .unwrap();
    storage
        .ingest(push(record_in(staying, RecordType::Find, Some(tb)), &[b"s1"], vec![]))
        .await
        .unwrap();
    let (_, alpha_cursor) = pull_to_end(storage, &sees(&["alpha"]), 0).await;

    // The find moves to alpha's task: alpha gets its whole history, and nothing else of tb.
    let moved = record_in(moving, RecordType::Find, Some(ta));
    let grant = Grant::Record {
        record_id: moving,
        team: "alpha".into(),
    };
    assert_eq!(storage.ingest(push(moved, &[b"m3"], vec![grant])).await.unwrap(), 1);
    let (granted, _) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    assert_eq!(bytes_of(&granted), [&b"m1"[..], b"m2", b"m3"].map(<[u8]>::to_vec));
    assert_log_order(&granted);
    assert_eq!(records_seen(&granted), [moving].into());

    // bravo no longer sees the record that left its task.
    let (bravo, _) = pull_to_end(storage, &sees(&["bravo"]), 0).await;
    assert_eq!(records_seen(&bravo), [tb, staying].into());

    // Moved back to bravo's task, the record is no longer alpha's, old grant or not.
    storage
        .ingest(push(record_in(moving, RecordType::Find, Some(tb)), &[b"m4"], vec![]))
        .await
        .unwrap();
    let (alpha, _) = pull_to_end(storage, &sees(&["alpha"]), alpha_cursor).await;
    assert!(alpha.is_empty(), "{alpha:?}");
}

async fn idle_pull_returns_nothing<S: Storage>(storage: &S) {
    // An empty log.
    let empty = storage.pull(&sees(&["alpha"]), None, 0, 10).await.unwrap();
    assert_eq!(
        empty,
        Page {
            changes: vec![],
            cursor: 0,
            more: false
        }
    );

    let t = id(1);
    storage
        .ingest(push(task(t, &["alpha"], &[]), &[b"t1", b"t2", b"t3"], vec![]))
        .await
        .unwrap();
    for visibility in [Visibility::All, sees(&["alpha"]), sees(&["bravo"])] {
        let (_, cursor) = pull_to_end(storage, &visibility, 0).await;
        let idle = storage.pull(&visibility, None, cursor, 2).await.unwrap();
        assert_eq!(
            idle,
            Page {
                changes: vec![],
                cursor,
                more: false
            },
            "{visibility:?}"
        );
    }
}

async fn cursor_moves_past_invisible_entries<S: Storage>(storage: &S) {
    let (ta, tb) = (id(1), id(2));
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta"], vec![]))
        .await
        .unwrap();
    let (_, start) = pull_to_end(storage, &sees(&["alpha"]), 0).await;
    // Five entries alpha cannot see, more than one page's limit, and a grant to another team.
    storage
        .ingest(push(
            task(tb, &["bravo"], &[]),
            &[b"b1", b"b2", b"b3", b"b4", b"b5"],
            vec![],
        ))
        .await
        .unwrap();
    let grant = Grant::Task {
        task_id: tb,
        team: "charlie".into(),
    };
    storage
        .ingest(push(task(tb, &["bravo", "charlie"], &[]), &[], vec![grant]))
        .await
        .unwrap();
    let last = storage.last_seq().await.unwrap();
    assert!(last > start);

    let page = storage.pull(&sees(&["alpha"]), None, start, 2).await.unwrap();
    assert_eq!(
        page,
        Page {
            changes: vec![],
            cursor: last,
            more: false
        }
    );

    // Entries after the invisible ones are found from the advanced cursor.
    storage
        .ingest(push(task(ta, &["alpha"], &[]), &[b"ta2"], vec![]))
        .await
        .unwrap();
    let next = storage.pull(&sees(&["alpha"]), None, page.cursor, 2).await.unwrap();
    assert_eq!(bytes_of(&next.changes), [b"ta2".to_vec()]);
    assert_eq!((next.cursor, next.more), (storage.last_seq().await.unwrap(), false));
}

async fn a_device_is_not_sent_its_own_changes<S: Storage>(storage: &S) {
    let mut mine = push(record_in(id(1), RecordType::HazardArea, None), &[b"m1", b"m2"], vec![]);
    mine.device_id = id(100);
    let mut theirs = push(record_in(id(2), RecordType::HazardArea, None), &[b"t1"], vec![]);
    theirs.device_id = id(200);
    storage.ingest(mine).await.unwrap();
    storage.ingest(theirs).await.unwrap();
    let last = storage.last_seq().await.unwrap();

    let page = storage.pull(&Visibility::All, Some(id(100)), 0, 100).await.unwrap();
    assert_eq!(bytes_of(&page.changes), [b"t1".to_vec()]);
    assert_eq!(
        (page.cursor, page.more),
        (last, false),
        "its own changes are covered, not sent"
    );
    let page = storage.pull(&sees(&["alpha"]), Some(id(200)), 0, 100).await.unwrap();
    assert_eq!(bytes_of(&page.changes), [b"m1".to_vec(), b"m2".to_vec()]);
    // Paging counts the skipped entries: a page of two that holds only the device's own changes still advances.
    let page = storage.pull(&Visibility::All, Some(id(100)), 0, 2).await.unwrap();
    assert!(page.changes.is_empty() && page.more && page.cursor > 0, "{page:?}");
    let everything = storage.pull(&Visibility::All, None, 0, 100).await.unwrap();
    assert_eq!(everything.changes.len(), 3);
}

/// Authorship: each change is logged with its writer (Automerge actor) and pushing device. The writer belongs to the
/// device that pushed its first change, whoever pushes it later, and each change names its pusher.
async fn a_writer_belongs_to_the_device_that_first_pushed_it<S: Storage>(storage: &S) {
    let written_by = |bytes: &[u8], actor: &[u8]| NewChange {
        actor: actor.to_vec(),
        ..change(bytes)
    };
    assert_eq!(storage.actor_owner(b"tablet").await.unwrap(), None);
    let mut first = push(record_in(id(1), RecordType::HazardArea, None), &[], vec![]);
    first.changes = vec![written_by(b"a1", b"tablet"), written_by(b"a2", b"laptop")];
    first.device_id = id(100);
    let mut later = push(record_in(id(1), RecordType::HazardArea, None), &[], vec![]);
    later.changes = vec![written_by(b"a3", b"tablet")];
    later.device_id = id(200);
    storage.ingest(first).await.unwrap();
    storage.ingest(later).await.unwrap();
    assert_eq!(storage.actor_owner(b"tablet").await.unwrap(), Some(id(100)));
    assert_eq!(storage.actor_owner(b"laptop").await.unwrap(), Some(id(100)));
    assert_eq!(storage.actor_owner(b"nobody").await.unwrap(), None);
    let pushers = storage.change_pushers(id(1)).await.unwrap();
    let expected: Vec<([u8; 32], Uuid)> = [(b"a1", id(100)), (b"a2", id(100)), (b"a3", id(200))]
        .into_iter()
        .map(|(bytes, device)| (Sha256::digest(bytes).into(), device))
        .collect();
    assert_eq!(pushers, expected);
    assert!(storage.change_pushers(id(2)).await.unwrap().is_empty());
}

async fn quarantine_round_trips<S: Storage>(storage: &S) {
    assert!(storage.quarantined().await.unwrap().is_empty());
    let first = NewQuarantined {
        device_id: Uuid::now_v7(),
        record_id: id(1),
        change_hash: Some(hex(&Sha256::digest(b"bad"))),
        bytes: b"bad".to_vec(),
        code: "validation_failed".into(),
        message: "the find lies outside its worked area".into(),
        issues: vec![warning(id(1))],
        received_at: at(5, 987_654_321),
    };
    let second = NewQuarantined {
        change_hash: None,
        bytes: vec![0, 159, 146, 150],
        code: "malformed_change".into(),
        message: "not an automerge change".into(),
        issues: vec![],
        ..first.clone()
    };
    storage.quarantine(first.clone()).await.unwrap();
    storage.quarantine(second.clone()).await.unwrap();
    let stored = storage.quarantined().await.unwrap();
    assert_eq!(
        stored.iter().map(|q| q.item.clone()).collect::<Vec<_>>(),
        [first, second]
    );
    assert!(stored[0].id < stored[1].id);
    // Quarantine never reaches the log.
    assert_eq!(storage.last_seq().await.unwrap(), 0);
}

async fn data_survives_reopening<B: Backend>(backend: B) {
    let storage = backend.storage();
    let server_id = storage.server_id();
    let tablet = device("tablet", &["alpha"], Role::Deminer);
    storage
        .add_device(NewDevice {
            device: tablet.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();
    let t = task(id(1), &["alpha"], &[id(9)]);
    let grant = Grant::Task {
        task_id: id(1),
        team: "alpha".into(),
    };
    storage
        .ingest(push(t.clone(), &[b"t1", b"t2"], vec![grant]))
        .await
        .unwrap();
    let before = storage.pull(&sees(&["alpha"]), None, 0, 100).await.unwrap();
    let last = storage.last_seq().await.unwrap();

    let backend = backend.reopen().await;
    let storage = backend.storage();
    assert_eq!(storage.server_id(), server_id);
    assert_eq!(storage.last_seq().await.unwrap(), last);
    assert_eq!(storage.pull(&sees(&["alpha"]), None, 0, 100).await.unwrap(), before);
    assert_eq!(storage.device_for_token(token(1)).await.unwrap(), Some(tablet));
    assert_eq!(storage.record(id(1)).await.unwrap(), Some(t));
    assert_eq!(storage.tasks_covering(id(9)).await.unwrap(), vec![id(1)]);
    // The log goes on from where it was: a new change gets a later seq, and a known one is still known.
    assert_eq!(
        storage
            .ingest(push(task(id(1), &["alpha"], &[id(9)]), &[b"t2", b"t3"], vec![]))
            .await
            .unwrap(),
        1
    );
    assert!(storage.last_seq().await.unwrap() > last);

    // Another data directory is another log.
    let other = B::fresh().await;
    assert_ne!(other.storage().server_id(), server_id);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn a_batch_appends_pushes_and_refusals_together<S: Storage>(storage: &S) {
    let task_id = id(1);
    let find = record_in(id(2), RecordType::Find, Some(task_id));
    let batch = Batch {
        ingests: vec![
            push(task(task_id, &["alpha"], &[]), &[b"t1"], vec![]),
            push(find.clone(), &[b"f1", b"f2"], vec![]),
        ],
        quarantined: vec![quarantined_item(id(3))],
    };
    assert_eq!(storage.append(batch).await.unwrap(), 3);
    assert_eq!(storage.record(id(2)).await.unwrap().unwrap().task_id, Some(task_id));
    assert_eq!(storage.records_of_task(task_id).await.unwrap().len(), 2);
    assert_eq!(storage.quarantined().await.unwrap().len(), 1);
    let (changes, _) = pull_to_end(storage, &Visibility::All, 0).await;
    assert_eq!(bytes_of(&changes), vec![b"t1".to_vec(), b"f1".to_vec(), b"f2".to_vec()]);
    // An empty batch writes nothing.
    assert_eq!(storage.append(Batch::default()).await.unwrap(), 0);
}

async fn snapshots_stand_in_for_the_changes_they_cover<S: Storage>(storage: &S) {
    let hazard = record_in(id(1), RecordType::HazardArea, None);
    storage.ingest(push(hazard.clone(), &[b"h1"], vec![])).await.unwrap();
    let mut with_snapshot = push(hazard.clone(), &[b"h2"], vec![]);
    with_snapshot.snapshot = Some(b"snapshot of h1 h2".to_vec());
    storage.ingest(with_snapshot).await.unwrap();
    assert_eq!(
        storage.document(id(1)).await.unwrap(),
        StoredDocument {
            snapshot: Some(b"snapshot of h1 h2".to_vec()),
            changes: vec![],
        }
    );
    storage.ingest(push(hazard, &[b"h3"], vec![])).await.unwrap();
    let stored = storage.document(id(1)).await.unwrap();
    assert_eq!(stored.changes, vec![b"h3".to_vec()], "the tail after the snapshot");
    assert!(storage.document(id(9)).await.unwrap() == StoredDocument::default());
    // The full log is still there.
    assert_eq!(storage.document_changes(id(1)).await.unwrap().len(), 3);

    // A device that lacks the record (its first change is in the page) gets the snapshot and the tail.
    let (changes, _) = pull_to_end(storage, &Visibility::All, 0).await;
    let kinds: Vec<(bool, Vec<u8>)> = changes.iter().map(|c| (c.snapshot, c.bytes.clone())).collect();
    assert_eq!(
        kinds,
        vec![(true, b"snapshot of h1 h2".to_vec()), (false, b"h3".to_vec())]
    );
    assert_log_order(&changes);
    // A device that has the first change gets changes only.
    let first = changes[0].seq;
    let (changes, _) = pull_to_end(storage, &Visibility::All, first).await;
    assert!(changes.iter().all(|c| !c.snapshot));
    assert_eq!(bytes_of(&changes), vec![b"h2".to_vec(), b"h3".to_vec()]);
    // A page that ends before the snapshot's last change gets changes only: the snapshot would reach past it.
    let page = storage.pull(&Visibility::All, None, 0, 1).await.unwrap();
    assert_eq!(bytes_of(&page.changes), vec![b"h1".to_vec()]);
    assert!(!page.changes[0].snapshot);
}

async fn heads_are_kept_and_listed_by_scope<S: Storage>(storage: &S) {
    let (alpha_task, bravo_task) = (id(1), id(2));
    let mut hazard = record_in(id(3), RecordType::HazardArea, None);
    hazard.heads = vec![[3; 32]];
    let mut alpha_find = record_in(id(4), RecordType::Find, Some(alpha_task));
    alpha_find.heads = vec![[4; 32], [5; 32]];
    let bravo_find = record_in(id(5), RecordType::Find, Some(bravo_task));
    storage
        .ingest(push(task(alpha_task, &["alpha"], &[]), &[b"a"], vec![]))
        .await
        .unwrap();
    storage
        .ingest(push(task(bravo_task, &["bravo"], &[]), &[b"b"], vec![]))
        .await
        .unwrap();
    storage.ingest(push(hazard, &[b"h"], vec![])).await.unwrap();
    storage.ingest(push(alpha_find, &[b"f"], vec![])).await.unwrap();
    storage.ingest(push(bravo_find, &[b"g"], vec![])).await.unwrap();
    let mut heads = storage.record(id(4)).await.unwrap().unwrap().heads;
    heads.sort();
    assert_eq!(heads, vec![[4; 32], [5; 32]]);

    let all = storage.heads_in_scope(&Visibility::All).await.unwrap();
    assert_eq!(all.len(), 5);
    let alpha = storage
        .heads_in_scope(&Visibility::Teams(teams(&["alpha"])))
        .await
        .unwrap();
    let seen: BTreeSet<Uuid> = alpha.iter().map(|r| r.record_id).collect();
    assert_eq!(seen, BTreeSet::from([alpha_task, id(3), id(4)]));
    let find = alpha.iter().find(|r| r.record_id == id(4)).unwrap();
    assert_eq!(find.task_id, Some(alpha_task));
    assert_eq!(find.heads.len(), 2);
}

async fn cursor_checks_name_their_entry<S: Storage>(storage: &S) {
    assert_eq!(storage.cursor_check(1).await.unwrap(), None);
    let hazard = record_in(id(1), RecordType::HazardArea, None);
    storage.ingest(push(hazard, &[b"h1", b"h2"], vec![])).await.unwrap();
    let last = storage.last_seq().await.unwrap();
    let at_last = storage
        .cursor_check(last)
        .await
        .unwrap()
        .expect("an entry at the end of the log");
    assert_eq!(storage.cursor_check(last).await.unwrap(), Some(at_last), "stable");
    let before = storage.cursor_check(last - 1).await.unwrap().expect("the entry before");
    assert_ne!(before, at_last);
    assert_eq!(storage.cursor_check(last + 1).await.unwrap(), None);
}
