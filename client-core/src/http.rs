//! The HTTP transport for sync: one POST per request, the body a zstd-compressed CBOR message.

use crate::store::Store;
use crate::sync::{SyncError, SyncProgress, SyncReport};
use protocol::{ErrorBody, SyncRequest, SyncResponse};
use std::cell::Cell;
use std::time::Duration;

/// Sends sync requests to one server, counting the bytes that cross the wire (request and response bodies).
#[derive(Debug)]
pub struct HttpTransport {
    agent: ureq::Agent,
    endpoint: String,
    token: String,
    pub bytes_sent: Cell<u64>,
    pub bytes_received: Cell<u64>,
}

impl HttpTransport {
    pub fn new(server_url: &str, token: &str) -> HttpTransport {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(300)))
            .timeout_connect(Some(Duration::from_secs(20)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        HttpTransport {
            agent,
            endpoint: format!("{}{}", server_url.trim_end_matches('/'), protocol::SYNC_PATH),
            token: token.to_string(),
            bytes_sent: Cell::new(0),
            bytes_received: Cell::new(0),
        }
    }

    pub fn send(&self, request: &SyncRequest) -> Result<SyncResponse, SyncError> {
        let body = protocol::encode(request).map_err(|e| SyncError::Protocol(e.to_string()))?;
        let network = |reason: String| SyncError::Network {
            url: self.endpoint.clone(),
            reason,
        };
        self.bytes_sent.set(self.bytes_sent.get() + body.len() as u64);
        let mut response = self
            .agent
            .post(&self.endpoint)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", protocol::MEDIA_TYPE)
            .send(&body[..])
            .map_err(|e| network(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(protocol::limits::MAX_MESSAGE_BYTES as u64)
            .read_to_vec()
            .map_err(|e| network(format!("the answer was cut off: {e}")))?;
        self.bytes_received.set(self.bytes_received.get() + bytes.len() as u64);
        if status != 200 {
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                code: "http".into(),
                message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
            return Err(SyncError::Server {
                status,
                code: error.code,
                message: error.message,
            });
        }
        protocol::decode(&bytes).map_err(|e| SyncError::Protocol(e.to_string()))
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
