//! The pull policy: which of the log a device is sent after its cursor, written once above the sync store's
//! primitives (visible entries, grant expansions, first changes, snapshots), whatever the backend.
//!
//! - A page covers at most `limit` visible entries; one more is read to tell whether any remains (`more`), so a
//!   device is never asked to pull an empty page.
//! - When nothing visible remains, the cursor moves to the log's end as it was read with the entries, so the
//!   next idle pull scans nothing and no entry committed later is skipped.
//! - A change the device pushes in this request is covered but not sent back, nor counted in the page: the
//!   store leaves it out (`OwnChanges`), so a device's own large push is never followed by pages of nothing.
//!   What it pushed before is sent like anything else after its cursor: a device restored from a backup gets it
//!   back.
//! - A grant brings every earlier change of what it grants.
//! - A record whose first change is in the page (the device lacks it) is sent as its snapshot when one covers
//!   nothing beyond the page, in place of the changes it covers.

use crate::store::{Entries, LogChange, LogEntry, OwnChanges, Page, StorageError, SyncStore, Visibility};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The page after `after` that `visibility` sees, at most `limit` log entries' worth (a grant counts as one
/// entry and may bring more changes than `limit`). The changes `own` names are left out (that device has them)
/// and not counted, but still count as covered, so its cursor moves past them.
pub async fn pull<S: SyncStore>(
    store: &S,
    visibility: &Visibility,
    own: Option<OwnChanges>,
    after: u64,
    limit: u32,
) -> Result<Page, StorageError> {
    // A limit of 0 would return nothing and never advance; one entry is the least a page can cover.
    let limit = limit.max(1);
    let Entries { mut entries, last_seq } = store.entries(visibility, own, after, limit.saturating_add(1)).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let cursor = match entries.last() {
        Some(last) if more => last.seq(),
        // Nothing visible remains: move past everything this device cannot see.
        _ => after.max(last_seq),
    };
    // Keyed by seq: the page is in log order, and a change both granted and listed on its own is sent once.
    let mut changes = BTreeMap::new();
    for entry in entries {
        match entry {
            LogEntry::Change {
                seq, record_id, bytes, ..
            } => {
                changes.insert(
                    seq,
                    LogChange {
                        seq,
                        record_id,
                        bytes,
                        snapshot: false,
                    },
                );
            }
            LogEntry::Grant { seq, grant } => {
                for change in store.granted(&grant, seq, visibility).await? {
                    changes.insert(change.seq, change);
                }
            }
        }
    }
    send_snapshots(store, &mut changes, cursor).await?;
    Ok(Page {
        changes: changes.into_values().collect(),
        cursor,
        more,
    })
}

/// For each record whose first change is in the page, puts the record's snapshot, if it covers no change beyond
/// the page, in place of the changes it covers. The snapshot takes the first change's place in log order;
/// changes after it (the tail) stay.
async fn send_snapshots<S: SyncStore>(
    store: &S,
    changes: &mut BTreeMap<u64, LogChange>,
    cursor: u64,
) -> Result<(), StorageError> {
    let records: Vec<Uuid> = changes
        .values()
        .map(|c| c.record_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let new: BTreeMap<Uuid, u64> = store
        .first_changes(&records)
        .await?
        .into_iter()
        .filter(|(_, first)| changes.contains_key(first))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let new_records: Vec<Uuid> = new.keys().copied().collect();
    for snapshot in store.snapshots(&new_records).await? {
        let Some(&first_seq) = new.get(&snapshot.record_id) else {
            continue;
        };
        if snapshot.covers_seq > cursor {
            continue;
        }
        changes.retain(|seq, c| c.record_id != snapshot.record_id || *seq > snapshot.covers_seq);
        changes.insert(
            first_seq,
            LogChange {
                seq: first_seq,
                record_id: snapshot.record_id,
                bytes: snapshot.bytes,
                snapshot: true,
            },
        );
    }
    Ok(())
}
