//! The log's one concurrency rule: a cursor never skips an entry that commits later. Sequence numbers are
//! allocated one writer at a time, so an entry committed after a pull always gets a sequence number beyond
//! that pull's cursor, and a device pulling from its cursor meets every entry exactly once in the end.

use super::fixtures::*;
use crate::store::{SyncStore, Visibility};
use std::collections::BTreeSet;

/// Writers appending at once while a device pulls from its cursor over and over: everything the log ends with
/// was met by that device, each entry once and in log order.
pub async fn a_cursor_never_skips_an_entry_committed_later<S: SyncStore>(store: &S) {
    const WRITERS: u128 = 4;
    const PUSHES: u128 = 40;
    let write = |writer: u128| async move {
        for n in 0..PUSHES {
            let record = record_in(id(1_000 * (writer + 1) + n), domain::RecordType::Find, None);
            let bytes = format!("writer {writer} change {n}");
            store.ingest(push(record, &[bytes.as_bytes()], vec![])).await.unwrap();
        }
    };
    let read = async {
        let mut cursor = 0;
        let mut met = Vec::new();
        // Pull in small pages until the writers are done and the log's end is reached twice running.
        let mut at_end = 0;
        while at_end < 2 {
            let page = crate::pull::pull(store, &Visibility::All, None, cursor, 7)
                .await
                .unwrap();
            assert!(
                page.cursor >= cursor,
                "the cursor went back from {cursor} to {}",
                page.cursor
            );
            met.extend(page.changes.iter().map(|c| c.seq));
            cursor = page.cursor;
            let writing = store.last_seq().await.unwrap() < (WRITERS * PUSHES) as u64;
            at_end = if page.more || writing { 0 } else { at_end + 1 };
            tokio::task::yield_now().await;
        }
        met
    };
    let ((), (), (), (), met) = tokio::join!(write(0), write(1), write(2), write(3), read);
    let (all, _) = pull_to_end(store, &Visibility::All, 0).await;
    let all: Vec<u64> = all.iter().map(|c| c.seq).collect();
    assert_eq!(all.len() as u128, WRITERS * PUSHES, "every append is in the log once");
    let distinct: BTreeSet<u64> = met.iter().copied().collect();
    assert_eq!(distinct.len(), met.len(), "an entry was met twice: {met:?}");
    assert!(
        met.windows(2).all(|w| w[0] < w[1]),
        "entries met out of log order: {met:?}"
    );
    let missed: Vec<u64> = all.iter().filter(|seq| !distinct.contains(seq)).copied().collect();
    assert!(
        missed.is_empty(),
        "the pulling device's cursor skipped entries {missed:?}"
    );
}
