//! Compaction: a snapshot replaces the change rows it covers. A saved Automerge document holds its full
//! history, so nothing is lost; local changes a server has not acknowledged stay as rows (the outbox), and so do
//! changes still waiting for their dependencies.

use crate::error::StoreError;
use crate::neighbourhood::parse_id;
use crate::store::Store;
use automerge::ReadDoc;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactionReport {
    pub documents: usize,
    pub change_rows_removed: usize,
    pub change_rows_kept: usize,
}

impl Store {
    /// Snapshots every document and removes the change rows that are both in the snapshot and safe to drop.
    pub fn compact(&mut self) -> Result<CompactionReport, StoreError> {
        let ids = {
            let mut stmt = self.conn.prepare("SELECT DISTINCT record_id FROM changes")?;
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut report = CompactionReport::default();
        for id in ids {
            let id = parse_id(&id)?;
            let Some(doc) = self.load_document(id)? else { continue };
            self.write(|| {
                self.snapshot(id, &doc)?;
                // A change whose dependencies are missing is not in the snapshot: keep its row.
                let mut check = self.conn.prepare("SELECT seq, hash FROM changes WHERE record_id = ?1")?;
                let rows = check.query_map([id.to_string()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?.collect::<Result<Vec<_>, _>>()?;
                for (seq, hash) in rows {
                    let in_doc = automerge::ChangeHash::try_from(hash.as_slice()).is_ok_and(|h| doc.get_change_by_hash(&h).is_some());
                    if !in_doc {
                        self.conn.execute("UPDATE changes SET in_snapshot = 0 WHERE seq = ?1", [seq])?;
                    }
                }
                report.change_rows_removed += self.conn.execute(
                    "DELETE FROM changes WHERE record_id = ?1 AND in_snapshot = 1 AND (origin = 'remote' OR acknowledged = 1)",
                    [id.to_string()],
                )?;
                report.change_rows_kept += self.conn.query_row("SELECT COUNT(*) FROM changes WHERE record_id = ?1", [id.to_string()], |r| r.get::<_, i64>(0))? as usize;
                report.documents += 1;
                Ok(())
            })?;
        }
        Ok(report)
    }
}
