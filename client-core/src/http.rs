//! Syncing over HTTP (crates/sync-http): the store's sync loop with the enrolled server's transport.

use crate::carried::Forwarded;
use crate::store::Store;
use crate::sync::{SyncError, SyncProgress, SyncReport};
use sync_http::TransportError;

impl From<TransportError> for SyncError {
    fn from(e: TransportError) -> SyncError {
        match e {
            TransportError::Network { url, reason } => SyncError::Network { url, reason },
            TransportError::Server { status, code, message } => SyncError::Server { status, code, message },
            TransportError::Protocol(message) => SyncError::Protocol(message),
            e @ (TransportError::Untrusted { .. } | TransportError::PlainHttp { .. }) => {
                SyncError::Insecure(e.to_string())
            }
        }
    }
}

impl Store {
    /// Syncs with the enrolled server over HTTP, after forwarding the bundles of other devices this one carries
    /// (crate::carried).
    pub fn sync(&mut self, progress: impl FnMut(SyncProgress)) -> Result<SyncReport, SyncError> {
        let transport = self.transport()?;
        self.forward_carried(|bundle| Ok(transport.forward_bundle(bundle)?))?;
        self.sync_with(|request| transport.send(request), progress)
    }

    /// Forwards to the enrolled server the bundles of other devices this one carries, without syncing.
    pub fn forward_carried_bundles(&mut self) -> Result<Forwarded, SyncError> {
        let transport = self.transport()?;
        self.forward_carried(|bundle| Ok(transport.forward_bundle(bundle)?))
    }
}
