//! Conformance checks of the primitives the pull policy and HQ's walks stand on, each asked directly: visible
//! entries, grant expansions, first changes, snapshots, and the lists of records.

use super::fixtures::*;
use crate::store::{Grant, LogEntry, OwnChanges, SyncStore, Visibility};
use domain::RecordType;

/// `entries` sees what the visibility sees, grants only of its teams and none for everyone, stops at `limit`,
/// and reads the log's end with them; `granted` brings a grant's earlier changes; `first_changes` and
/// `snapshots` answer for the records asked about that have them.
pub async fn pull_primitives_answer_as_the_contract_says<S: SyncStore>(store: &S) {
    let alpha = task(id(1), &["alpha"], &[]);
    let beta = task(id(2), &["beta"], &[]);
    store.ingest(push(alpha, &[b"alpha task"], vec![])).await.unwrap();
    store.ingest(push(beta.clone(), &[b"beta task"], vec![])).await.unwrap();
    let find = record_in(id(3), RecordType::Find, Some(id(2)));
    store.ingest(push(find, &[b"beta find"], vec![])).await.unwrap();
    let hazard = record_in(id(4), RecordType::HazardArea, None);
    let mut with_snapshot = push(hazard, &[b"hazard"], vec![]);
    with_snapshot.snapshot = Some(b"hazard snapshot".to_vec());
    store.ingest(with_snapshot).await.unwrap();
    // alpha joins task 2: a grant of the task to alpha.
    let grant = Grant::Task {
        task_id: id(2),
        team: "alpha".into(),
    };
    let joined = task(id(2), &["alpha", "beta"], &[]);
    store
        .ingest(push(joined, &[b"beta task, alpha joins"], vec![grant.clone()]))
        .await
        .unwrap();
    let last = store.last_seq().await.unwrap();

    let seen = store.entries(&sees(&["gamma"]), None, 0, 100).await.unwrap();
    assert_eq!(seen.last_seq, last, "the log's end is read with the entries");
    let bytes: Vec<&[u8]> = seen
        .entries
        .iter()
        .filter_map(|e| match e {
            LogEntry::Change { bytes, .. } => Some(bytes.as_slice()),
            LogEntry::Grant { .. } => None,
        })
        .collect();
    assert_eq!(bytes, vec![&b"hazard"[..]], "gamma sees only the task-less record");

    let seen = store.entries(&sees(&["alpha"]), None, 0, 100).await.unwrap();
    let grants: Vec<&Grant> = seen
        .entries
        .iter()
        .filter_map(|e| match e {
            LogEntry::Grant { grant, .. } => Some(grant),
            LogEntry::Change { .. } => None,
        })
        .collect();
    assert_eq!(grants, vec![&grant], "alpha is told of its grant");
    assert!(seen.entries.windows(2).all(|w| w[0].seq() < w[1].seq()), "in log order");
    let changes = seen
        .entries
        .iter()
        .filter(|e| matches!(e, LogEntry::Change { .. }))
        .count();
    // Visibility is judged on the records as they are now: task 2 lists alpha, so its changes are visible.
    assert_eq!(changes, 5, "every change is visible to alpha now");

    let everyone = store.entries(&Visibility::All, None, 0, 100).await.unwrap();
    assert!(
        everyone.entries.iter().all(|e| matches!(e, LogEntry::Change { .. })),
        "a device that sees everything is told of no grant"
    );
    let two = store.entries(&Visibility::All, None, 0, 2).await.unwrap();
    assert_eq!(two.entries.len(), 2, "at most `limit` entries");
    let after = store
        .entries(&Visibility::All, None, two.entries[1].seq(), 100)
        .await
        .unwrap();
    assert_eq!(
        after.entries.len(),
        everyone.entries.len() - 2,
        "only entries after the cursor"
    );

    // The pusher's own changes are left out, and not counted against the limit; its grants stay.
    let pusher = Some(OwnChanges::every(uuid::Uuid::from_u128(7)));
    let own = store.entries(&Visibility::All, pusher, 0, 1).await.unwrap();
    assert_eq!(
        (own.entries.len(), own.last_seq),
        (0, last),
        "the pusher is sent none of its own changes"
    );
    let own = store.entries(&sees(&["alpha"]), pusher, 0, 100).await.unwrap();
    assert_eq!(
        own.entries.iter().map(LogEntry::seq).collect::<Vec<_>>(),
        grants_at(&seen),
        "only the grant is left for the pusher"
    );
    let other = store
        .entries(&Visibility::All, Some(OwnChanges::every(id(99))), 0, 100)
        .await
        .unwrap();
    assert_eq!(other, everyone, "another device's changes are all there");

    let grant_seq = seen
        .entries
        .iter()
        .find(|e| matches!(e, LogEntry::Grant { .. }))
        .unwrap()
        .seq();
    let granted = store.granted(&grant, grant_seq, &sees(&["alpha"])).await.unwrap();
    let granted_bytes: Vec<&[u8]> = granted.iter().map(|c| c.bytes.as_slice()).collect();
    assert_eq!(
        granted_bytes,
        vec![&b"beta task"[..], &b"beta find"[..], &b"beta task, alpha joins"[..]],
        "the task's changes before the grant (the change that made it, too), in log order"
    );
    assert!(granted.iter().all(|c| c.seq < grant_seq && !c.snapshot));
    assert!(
        store
            .granted(&grant, grant_seq, &sees(&["gamma"]))
            .await
            .unwrap()
            .is_empty(),
        "a grant delivers nothing to teams the task does not list"
    );

    let firsts = store.first_changes(&[id(2), id(4), id(99)]).await.unwrap();
    let first_of = |record| firsts.iter().find(|(r, _)| *r == record).map(|(_, s)| *s);
    assert_eq!(firsts.len(), 2, "only records the log holds");
    assert!(first_of(id(2)).unwrap() < first_of(id(4)).unwrap());
    let snapshots = store.snapshots(&[id(2), id(4), id(99)]).await.unwrap();
    assert_eq!(snapshots.len(), 1, "only records that have a snapshot");
    assert_eq!(
        (snapshots[0].record_id, snapshots[0].bytes.as_slice()),
        (id(4), &b"hazard snapshot"[..])
    );
    assert_eq!(Some(snapshots[0].covers_seq), first_of(id(4)));
}

/// `record_ids` lists one type's records in id order; `logged_records` every record of the log in the order of
/// its first change.
pub async fn records_are_listed_by_type_and_in_log_order<S: SyncStore>(store: &S) {
    for (n, record_type) in [
        (5, RecordType::Find),
        (2, RecordType::Find),
        (9, RecordType::HazardArea),
    ] {
        let record = record_in(id(n), record_type, None);
        let bytes = format!("change of {n}");
        store.ingest(push(record, &[bytes.as_bytes()], vec![])).await.unwrap();
    }
    assert_eq!(store.record_ids(RecordType::Find).await.unwrap(), vec![id(2), id(5)]);
    assert_eq!(store.record_ids(RecordType::HazardArea).await.unwrap(), vec![id(9)]);
    assert!(store.record_ids(RecordType::Task).await.unwrap().is_empty());
    assert_eq!(store.logged_records().await.unwrap(), vec![id(5), id(2), id(9)]);
}

fn grants_at(entries: &crate::store::Entries) -> Vec<u64> {
    entries
        .entries
        .iter()
        .filter(|e| matches!(e, LogEntry::Grant { .. }))
        .map(LogEntry::seq)
        .collect()
}
