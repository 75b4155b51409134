//! Syncing over HTTP (crates/sync-http): the store's sync loop with the enrolled server's transport.

use crate::store::Store;
use crate::sync::{SyncError, SyncProgress, SyncReport};
use sync_http::{HttpTransport, TransportError};

impl From<TransportError> for SyncError {
    fn from(e: TransportError) -> SyncError {
        match e {
            TransportError::Network { url, reason } => SyncError::Network { url, reason },
            TransportError::Server { status, code, message } => SyncError::Server { status, code, message },
            TransportError::Protocol(message) => SyncError::Protocol(message),
        }
    }
}

impl Store {
    /// Syncs with the enrolled server over HTTP.
    pub fn sync(&mut self, progress: impl FnMut(SyncProgress)) -> Result<SyncReport, SyncError> {
        let (url, token) = self.enrollment()?.ok_or(SyncError::NotEnrolled)?;
        let transport = HttpTransport::new(&url, &token);
        self.sync_with(|request| transport.send(request), progress)
    }
}
