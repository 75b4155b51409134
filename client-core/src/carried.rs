//! Bundles this device carries for others: a tablet's USB stick imported on a supervisor's laptop is merged here
//! (crate::bundle) and kept as written, sealed by the tablet, and forwarded to the server at this device's next
//! sync (`POST /v1/bundles`). The server takes it as the tablet's push, with the tablet's role and scope, never the
//! carrier's; what the server refuses of it is told to the tablet at its own next sync. So what a device imports,
//! its next sync forwards, and no one's work waits on the tablet reaching the server itself.

use crate::error::StoreError;
use crate::store::Store;
use crate::sync::SyncError;
use protocol::bundle::{BundleReceipt, Opened, SourceKind};
use rusqlite::params;
use serde::Serialize;

/// A bundle another device wrote, kept here to be forwarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarriedBundle {
    pub source: String,
    pub imported_at: String,
    /// When the server took it (None: waiting for the next sync).
    pub forwarded_at: Option<String>,
    /// Why the server refused it whole, if it did.
    pub refusal: Option<String>,
}

/// What forwarding the carried bundles did at one sync.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Forwarded {
    pub bundles: usize,
    pub accepted: u64,
    /// Records of them the server refused (told to the devices that made them).
    pub refused: usize,
    /// Bundles the server refused whole, with why.
    pub refused_whole: Vec<String>,
}

impl Store {
    /// Keeps an imported bundle to forward, if another enrolled device sealed it (an unsealed bundle names no one
    /// the server could take it from; this device's own changes go in its own sync).
    pub(crate) fn keep_to_forward(&self, opened: &Opened, bytes: &[u8]) -> Result<bool, StoreError> {
        let source = &opened.bundle.header.source;
        let own = [
            Some(self.identity().device_id),
            self.enrolled()?.map(|enrolled| enrolled.id),
        ];
        if source.kind != SourceKind::Device || !opened.is_sealed() || own.contains(&Some(source.id)) {
            return Ok(false);
        }
        let digest: String = opened.checksum().iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{} ({})", source.name, source.id);
        let added = self.write(|| {
            Ok(self.conn.execute(
                "INSERT OR IGNORE INTO carried_bundles (digest, source_id, source_name, bytes, imported_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![digest, source.id.to_string(), name, bytes, self.now().to_rfc3339()],
            )?)
        })?;
        Ok(added > 0)
    }

    /// Every bundle this device carried or carries, oldest first.
    pub fn carried_bundles(&self) -> Result<Vec<CarriedBundle>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source_name, imported_at, forwarded_at, refusal FROM carried_bundles ORDER BY imported_at, digest",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CarriedBundle {
                source: r.get(0)?,
                imported_at: r.get(1)?,
                forwarded_at: r.get(2)?,
                refusal: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn waiting_to_forward(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT digest, bytes FROM carried_bundles WHERE forwarded_at IS NULL AND refusal IS NULL \
             ORDER BY imported_at, digest",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Forwards every carried bundle not yet taken, through `forward` (one POST each). A bundle the server refuses
    /// whole (damaged, from a device it does not know) is marked with why and not sent again; a failed exchange
    /// stops here, and the rest go at the next sync.
    pub fn forward_carried(
        &mut self,
        mut forward: impl FnMut(&[u8]) -> Result<BundleReceipt, SyncError>,
    ) -> Result<Forwarded, SyncError> {
        let waiting = self.waiting_to_forward()?;
        let mut done = Forwarded::default();
        for (digest, bytes) in waiting {
            let now = self.now().to_rfc3339();
            match forward(&bytes) {
                Ok(receipt) => {
                    done.bundles += 1;
                    done.accepted += receipt.accepted;
                    done.refused += receipt.rejected.len();
                    self.write(|| {
                        self.conn.execute(
                            "UPDATE carried_bundles SET forwarded_at = ?2 WHERE digest = ?1",
                            params![digest, now],
                        )?;
                        Ok(())
                    })?;
                }
                Err(SyncError::Server { status, message, .. }) if (400..500).contains(&status) && status != 401 => {
                    done.refused_whole.push(message.clone());
                    self.write(|| {
                        self.conn.execute(
                            "UPDATE carried_bundles SET refusal = ?2 WHERE digest = ?1",
                            params![digest, message],
                        )?;
                        Ok(())
                    })?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}
