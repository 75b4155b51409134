//! The HTTP client of the sync protocol: one POST to `/v1/sync` per exchange, the body a zstd-compressed CBOR
//! message (docs/protocol.md). Blocking (ureq), with rustls for `https://` servers, so that a tablet app, the
//! demo and a base camp's relay talk to a server in one way.
//!
//! It knows nothing of what a device keeps: it sends a request and returns the answer, or says why there is none.

use protocol::{ErrorBody, ErrorCode, SyncRequest, SyncResponse};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why an exchange gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The server could not be reached, or the connection broke: nothing is known to have arrived.
    #[error("cannot reach the server at {url}: {reason}")]
    Network { url: String, reason: String },
    /// The server answered with an error (docs/protocol.md, "Errors").
    #[error("the server answered {status} ({code}): {message}")]
    Server {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// The answer, or the request, is not a fieldsync message.
    #[error("not a fieldsync message: {0}")]
    Protocol(String),
}

/// One device's connection to one server, counting the bytes that cross the wire (request and response bodies).
pub struct HttpTransport {
    agent: ureq::Agent,
    endpoint: String,
    token: String,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("endpoint", &self.endpoint)
            .field("token", &"(redacted)")
            .finish()
    }
}

impl HttpTransport {
    /// A transport to the server at `server_url` (`http://` or `https://`, with or without a trailing slash),
    /// signing each request with the device's token.
    pub fn new(server_url: &str, token: &str) -> HttpTransport {
        let agent = ureq::Agent::config_builder()
            // A first sync of a large programme is many pages, each within the protocol's limits: minutes at
            // most on a camp's link, so a stalled exchange is given up after five.
            .timeout_global(Some(Duration::from_secs(300)))
            .timeout_connect(Some(Duration::from_secs(20)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        HttpTransport {
            agent,
            endpoint: format!("{}{}", server_url.trim_end_matches('/'), protocol::SYNC_PATH),
            token: token.to_string(),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
        }
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Request bodies sent so far, in bytes as they crossed the wire.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed)
    }

    /// Response bodies received so far, in bytes as they crossed the wire.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received.load(Ordering::Relaxed)
    }

    /// One exchange: the request, and the server's answer; a non-200 answer is an error with its code and message.
    pub fn send(&self, request: &SyncRequest) -> Result<SyncResponse, TransportError> {
        let body = protocol::encode(request).map_err(|e| TransportError::Protocol(e.to_string()))?;
        let network = |reason: String| TransportError::Network {
            url: self.endpoint.clone(),
            reason,
        };
        self.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
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
        self.bytes_received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if status != 200 {
            // Something between the device and the server (a proxy, a captive portal) may answer instead of it.
            let error: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
                code: ErrorCode::Unknown,
                message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
            return Err(TransportError::Server {
                status,
                code: error.code,
                message: error.message,
            });
        }
        protocol::decode(&bytes).map_err(|e| TransportError::Protocol(e.to_string()))
    }
}
