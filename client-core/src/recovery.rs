//! Recovery with a new or restored server (docs/protocol.md, "Recovery").
//!
//! A device that has no cursor for its server, but holds more than its outbox (changes the server acknowledged
//! and it may since have lost, or changes of others), cannot trust that the server has them. It sends a digest of
//! each such document's heads; the server names the documents that differ, with its heads. The device puts back in
//! its outbox the changes the server lacks and asks for the documents it lacks, so only what differs is exchanged.

use crate::error::StoreError;
use crate::neighbourhood::parse_id;
use crate::store::Store;
use automerge::{ChangeHash, ReadDoc};
use protocol::{DocumentDigest, DocumentHeads, heads_digest, limits};
use rusqlite::params;
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// Documents with anything beyond the outbox: a snapshot, a change from elsewhere, or an acknowledged change.
/// A document made only of unacknowledged local changes needs no comparison: it is pushed whole anyway.
const BEYOND_OUTBOX: &str = "SELECT d.record_id, d.heads FROM documents AS d WHERE d.snapshot IS NOT NULL \
     OR EXISTS (SELECT 1 FROM changes AS c WHERE c.record_id = d.record_id AND (c.origin = 'remote' OR c.acknowledged = 1)) \
     ORDER BY d.record_id";

impl Store {
    /// The digests to reconcile with, or None when there is nothing to reconcile: a device whose every change is
    /// still in its outbox simply pushes them and pulls from the start.
    pub(crate) fn reconcile_digests(&self) -> Result<Option<Vec<DocumentDigest>>, StoreError> {
        let mut stmt = self.conn.prepare(BEYOND_OUTBOX)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut digests = Vec::new();
        for row in rows {
            let (id, heads) = row?;
            let heads: Vec<[u8; 32]> = heads
                .chunks_exact(32)
                .map(|c| <[u8; 32]>::try_from(c).map_err(|_| StoreError::Damaged(format!("heads of {id}"))))
                .collect::<Result<_, _>>()?;
            digests.push(DocumentDigest {
                record_id: parse_id(&id)?,
                digest: ByteBuf::from(heads_digest(&heads).to_vec()),
            });
        }
        Ok((!digests.is_empty()).then_some(digests))
    }

    /// Acts on the server's answer to a reconcile, inside the caller's transaction: changes the server lacks go
    /// back into the outbox (when the server says this device may write the record), and documents this device
    /// lacks, whole or in part, are wanted.
    pub(crate) fn apply_differ(&self, differ: &[DocumentHeads]) -> Result<(), StoreError> {
        let mut want = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO wanted (record_id) VALUES (?1)")?;
        // A change row missing from the table was compacted into the snapshot, so a new row is in_snapshot.
        let mut owe = self.conn.prepare_cached(
            "INSERT INTO changes (record_id, hash, bytes, origin, acknowledged, in_snapshot) VALUES (?1, ?2, ?3, 'local', 0, 1) \
             ON CONFLICT (record_id, hash) DO UPDATE SET origin = 'local', acknowledged = 0, rejection = NULL",
        )?;
        for entry in differ {
            let id = entry.record_id.to_string();
            let Some(doc) = self.load_document(entry.record_id)? else {
                want.execute([&id])?;
                continue;
            };
            let server_heads: Vec<ChangeHash> = entry
                .heads
                .iter()
                .filter_map(|h| ChangeHash::try_from(h.as_slice()).ok())
                .collect();
            let (known, unknown): (Vec<ChangeHash>, Vec<ChangeHash>) = server_heads
                .into_iter()
                .partition(|h| doc.get_change_by_hash(h).is_some());
            if !unknown.is_empty() {
                want.execute([&id])?;
            }
            if entry.send {
                // Only this device's own changes: the server takes a change only from the device that wrote it
                // (`author_mismatch`), so another device's lost changes come back when that device reconciles.
                let own = &self.identity().actor;
                for change in doc.get_changes(&known).into_iter().filter(|c| c.actor_id() == own) {
                    owe.execute(params![id, change.hash().0.as_slice(), change.raw_bytes()])?;
                }
            }
        }
        Ok(())
    }

    /// The next records to ask for whole, at most the protocol's limit.
    pub(crate) fn wanted_batch(&self) -> Result<Vec<Uuid>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT record_id FROM wanted ORDER BY record_id LIMIT ?1")?;
        let ids = stmt
            .query_map([limits::MAX_WANT as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids.iter().map(|id| parse_id(id)).collect()
    }

    /// Forgets wanted records the server has answered for (inside the caller's transaction).
    pub(crate) fn answered_wanted(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached("DELETE FROM wanted WHERE record_id = ?1")?;
        for id in ids {
            stmt.execute([id.to_string()])?;
        }
        Ok(())
    }

    pub(crate) fn has_wanted(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM wanted)", [], |r| r.get(0))?)
    }
}
