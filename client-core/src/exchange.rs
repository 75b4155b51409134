//! Changes in and out: merging what other devices made, the outbox of unacknowledged local changes, and
//! acknowledgements. The sync protocol and a USB bundle are both built on these.

use crate::error::StoreError;
use crate::neighbourhood::parse_id;
use crate::store::Store;
use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use uuid::Uuid;

/// Changes of one record's document, as raw Automerge change bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentChanges {
    pub record_id: Uuid,
    pub changes: Vec<Vec<u8>>,
}

/// A local change a server has not acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxChange {
    pub record_id: Uuid,
    pub hash: String,
    pub bytes: Vec<u8>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Changes this store did not have before.
    pub new_changes: usize,
    /// Records that changed (created or edited) by the import.
    pub records_changed: Vec<Uuid>,
    /// Records whose changes were kept but cannot be shown yet: their earlier changes have not arrived, or the
    /// document is not a record this build can read. Nothing is dropped; a later import completes them.
    pub incomplete: Vec<(Uuid, String)>,
}

impl Store {
    /// Every change of every record, for a peer that has nothing (or to write a full bundle).
    pub fn export_changes(&self) -> Result<Vec<DocumentChanges>, StoreError> {
        let ids = {
            let mut stmt = self
                .conn
                .prepare("SELECT record_id FROM documents ORDER BY record_id")?;
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?
        };
        ids.iter()
            .map(|id| {
                let id = parse_id(id)?;
                let doc = self
                    .load_document(id)?
                    .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
                Ok(DocumentChanges {
                    record_id: id,
                    changes: doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect(),
                })
            })
            .collect()
    }

    /// Local changes no server has acknowledged, oldest first. Compaction never removes these.
    pub fn outbox(&self) -> Result<Vec<OutboxChange>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT record_id, hash, bytes FROM changes WHERE origin = 'local' AND acknowledged = 0 ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))
        })?;
        rows.map(|row| {
            let (id, hash, bytes) = row?;
            Ok(OutboxChange {
                record_id: parse_id(&id)?,
                hash: ChangeHash::try_from(hash.as_slice())
                    .map_err(|_| StoreError::Damaged(format!("change hash of {id}")))?
                    .to_string(),
                bytes,
            })
        })
        .collect()
    }

    /// Records that a server durably holds these changes (by hash, as hex). Unknown hashes are ignored.
    pub fn acknowledge(&mut self, hashes: &[String]) -> Result<usize, StoreError> {
        self.write(|| {
            let mut stmt = self
                .conn
                .prepare_cached("UPDATE changes SET acknowledged = 1, rejection = NULL WHERE hash = ?1")?;
            let mut count = 0;
            for hash in hashes {
                if let Ok(hash) = ChangeHash::from_str(hash) {
                    count += stmt.execute([hash.0.as_slice()])?;
                }
            }
            Ok(count)
        })
    }
}
