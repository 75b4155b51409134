//! Conformance checks of the append-only log: appending, documents, records, snapshots, reopening.

use super::Backend;
use super::fixtures::*;
use crate::store::{Batch, Grant, NewDevice, RecordRow, Role, StoredDocument, SyncStore, Visibility};
use domain::RecordType;
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

pub async fn ingest_appends_new_changes_once<S: SyncStore>(storage: &S) {
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

pub async fn document_changes_are_in_log_order<S: SyncStore>(storage: &S) {
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

pub async fn records_reflect_the_last_ingest<S: SyncStore>(storage: &S) {
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

pub async fn a_batch_appends_pushes_and_refusals_together<S: SyncStore>(storage: &S) {
    let task_id = id(1);
    let find = record_in(id(2), RecordType::Find, Some(task_id));
    let batch = Batch {
        ingests: vec![
            push(task(task_id, &["alpha"], &[]), &[b"t1"], vec![]),
            push(find.clone(), &[b"f1", b"f2"], vec![]),
        ],
        quarantined: vec![quarantined_item(id(3))],
        quarantine_quota: Some(1 << 20),
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

/// Ingress stages a slice through the store: what it flushed is stored and stays cached; what it staged and never
/// flushed (a storage error mid-slice, a request cut off) is neither stored nor left in the document cache.
pub async fn a_slice_dropped_before_its_flush_leaves_nothing_behind<S: SyncStore>(storage: &S) {
    use crate::document_cache::{DocumentCache, Loaded};
    let mut cache = DocumentCache::new(8);
    let mut staging = crate::staging::Staging::new(storage, &mut cache);
    staging.accept(
        push(record_in(id(1), RecordType::HazardArea, None), &[b"kept"], vec![]),
        Loaded::default(),
    );
    staging.flush().await.unwrap();
    staging.accept(
        push(record_in(id(2), RecordType::HazardArea, None), &[b"lost"], vec![]),
        Loaded::default(),
    );
    drop(staging);
    assert!(cache.get(&id(1)).is_some(), "a flushed document stays cached");
    assert!(cache.get(&id(2)).is_none(), "an unflushed one leaves the cache");
    assert!(storage.record(id(1)).await.unwrap().is_some());
    assert_eq!(storage.record(id(2)).await.unwrap(), None, "and was never stored");
}

pub async fn snapshots_stand_in_for_the_changes_they_cover<S: SyncStore>(storage: &S) {
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
    assert_eq!(
        storage.documents(vec![id(9), id(1), id(9)]).await.unwrap(),
        vec![StoredDocument::default(), stored.clone(), StoredDocument::default()],
        "documents answers for each id asked, in order, known or not"
    );
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
    let page = crate::pull::pull(storage, &Visibility::All, None, 0, 1).await.unwrap();
    assert_eq!(bytes_of(&page.changes), vec![b"h1".to_vec()]);
    assert!(!page.changes[0].snapshot);
}

pub async fn data_survives_reopening<B: Backend>(backend: B) {
    let storage = backend.store();
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
    let before = crate::pull::pull(storage, &sees(&["alpha"]), None, 0, 100)
        .await
        .unwrap();
    let last = storage.last_seq().await.unwrap();

    let backend = backend.reopen().await;
    let storage = backend.store();
    assert_eq!(storage.server_id(), server_id);
    assert_eq!(storage.last_seq().await.unwrap(), last);
    assert_eq!(
        crate::pull::pull(storage, &sees(&["alpha"]), None, 0, 100)
            .await
            .unwrap(),
        before
    );
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
    assert_ne!(other.store().server_id(), server_id);
}
