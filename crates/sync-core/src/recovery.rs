//! Recovery by heads digests (docs/protocol.md, "Recovery"). When a device has no cursor for this server (a new
//! server, or one restored from a backup that lost entries), neither side can trust the log position. The device
//! sends a digest of each document it holds beyond its outbox; the server answers with the documents whose heads
//! differ, with its own heads. The device then pushes the changes the server lacks and asks (`want`) for the
//! documents it lacks, so only what differs crosses the link.

use crate::scope::{sees, visibility};
use crate::store::{Device, HeadsInScope, StorageError, SyncStore};
use protocol::{DocumentChanges, DocumentDigest, DocumentHeads, heads_digest};
use serde_bytes::ByteBuf;
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// The documents in the device's scope whose heads differ from the device's digests, that the device lacks, or
/// that the server lacks, and the log position they were read at (the device's new cursor). A record outside the device's scope is answered as one the server lacks, whether it exists
/// or not, so reconcile reveals nothing of other teams' records.
pub async fn differ<S: SyncStore>(
    storage: &S,
    device: &Device,
    digests: &[DocumentDigest],
) -> Result<(u64, Vec<DocumentHeads>), StorageError> {
    let theirs: HashMap<Uuid, &[u8]> = digests.iter().map(|d| (d.record_id, d.digest.as_slice())).collect();
    let mut teams = TaskTeams::default();
    let mut differ = Vec::new();
    let mut known = HashSet::new();
    let HeadsInScope { through, records } = storage.heads_in_scope(&visibility(device)).await?;
    for record in records {
        known.insert(record.record_id);
        let device_has = theirs.get(&record.record_id);
        if device_has == Some(&&heads_digest(&record.heads)[..]) {
            continue;
        }
        let send = device_has.is_some() && sees(device, teams.of(storage, record.task_id).await?.as_ref());
        differ.push(DocumentHeads {
            record_id: record.record_id,
            heads: record.heads.iter().map(|h| ByteBuf::from(h.to_vec())).collect(),
            send,
        });
    }
    for id in theirs.keys().filter(|id| !known.contains(id)) {
        // Held by the device but not in its scope here: either the server lacks it, or it is someone else's record.
        // Both get the same answer, "the server lacks it: send it", so the answer does not tell whether the record
        // exists; if it is someone else's, ingress refuses what the device sends, as for any record out of scope.
        differ.push(DocumentHeads {
            record_id: *id,
            heads: vec![],
            send: true,
        });
    }
    differ.sort_by_key(|d| d.record_id);
    Ok((through, differ))
}

/// The wanted documents the device may see, whole: snapshot and the changes after it.
pub async fn wanted<S: SyncStore>(
    storage: &S,
    device: &Device,
    ids: &[Uuid],
) -> Result<Vec<DocumentChanges>, StorageError> {
    let mut teams = TaskTeams::default();
    let mut documents = Vec::new();
    for id in ids.iter().copied().collect::<BTreeSet<_>>() {
        let Some(row) = storage.record(id).await? else { continue };
        if !sees(device, teams.of(storage, row.task_id).await?.as_ref()) {
            continue;
        }
        let stored = storage.document(id).await?;
        documents.push(DocumentChanges {
            record_id: id,
            snapshot: stored.snapshot.map(ByteBuf::from),
            changes: stored.changes.into_iter().map(ByteBuf::from).collect(),
        });
    }
    Ok(documents)
}

/// Teams of tasks, looked up once each.
#[derive(Debug, Default)]
struct TaskTeams(HashMap<Uuid, Option<BTreeSet<String>>>);

impl TaskTeams {
    /// The teams of the record's task; None for a task-less record. A task the server does not hold (which
    /// ingress never lets happen) has no teams, so only hq and admin devices see its records.
    async fn of<S: SyncStore>(
        &mut self,
        storage: &S,
        task_id: Option<Uuid>,
    ) -> Result<Option<BTreeSet<String>>, StorageError> {
        let Some(task_id) = task_id else { return Ok(None) };
        if let Some(teams) = self.0.get(&task_id) {
            return Ok(teams.clone());
        }
        let teams = Some(
            storage
                .record(task_id)
                .await?
                .map(|row| row.task_teams)
                .unwrap_or_default(),
        );
        self.0.insert(task_id, teams.clone());
        Ok(teams)
    }
}
