//! The HTTP client of the sync protocol: one POST to `/v1/sync` per exchange, the body a zstd-compressed CBOR
//! message (docs/protocol.md). Blocking (ureq), with rustls for `https://` servers, so that a tablet app, the
//! demo (and, next, a base camp's relay) talk to a server in one way.
//!
//! It knows nothing of what a device keeps: it sends a request and returns the answer, or says why there is none.
//!
//! Over `https://` a transport trusts either the system's authorities or, as a device enrolled with a camp does,
//! one pinned authority alone ([`Trust`]); [`fetch_authority`] gets that authority's certificate at enrollment
//! and keeps it only if it has the fingerprint the device was given (protocol::enrollment).

use protocol::enrollment::{EnrollRequest, EnrollResponse};
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
    /// The server's certificate is not one this device trusts: nothing was sent.
    #[error(
        "refused the server at {url}: its certificate {reason}. It may not be your camp's server (someone on the \
         network may be pretending to be it); if the camp's server was set up again, enrol again with the code its \
         `fieldsync-server device add` prints"
    )]
    Untrusted { url: String, reason: String },
    /// Plain HTTP beyond the loopback, not allowed: nothing was sent.
    #[error(
        "refused to send to {url} over plain http: the token and records would cross the network in clear. Use the \
         https:// address `fieldsync-server device add` prints (or, on a network you trust, --insecure-http)"
    )]
    PlainHttp { url: String },
}

/// Which certificates a transport accepts from an `https://` server.
#[derive(Clone, PartialEq, Eq)]
pub enum Trust {
    /// Those the system's authorities sign (Mozilla's roots): an operator's certificate from a public authority.
    System,
    /// Only those that chain to this authority (its certificate, DER): a camp's own, pinned at enrollment.
    Pinned(Vec<u8>),
}

impl Trust {
    /// Only this authority (its certificate, DER) if there is one; else the system's.
    pub fn pinned_or_system(authority: Option<Vec<u8>>) -> Trust {
        authority.map_or(Trust::System, Trust::Pinned)
    }
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::System => f.write_str("System"),
            Trust::Pinned(der) => write!(f, "Pinned({})", protocol::enrollment::fingerprint(der)),
        }
    }
}

/// Whether `url` may be spoken to without `--insecure-http`: https, or plain http to a server on this machine
/// (the loopback), whose traffic never crosses a network. A URL with user information (`http://127.0.0.1@host`)
/// or one that does not parse is not.
pub fn plain_http_allowed(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return false;
    };
    if authority.as_str().contains('@') {
        return false;
    }
    if scheme.eq_ignore_ascii_case("https") {
        return true;
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    scheme.eq_ignore_ascii_case("http")
        && (host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// Gets the certificate of the authority the server at `server_url` chains to (protocol::enrollment::CA_PATH),
/// over a connection that verifies nothing, and returns it (DER) only if its fingerprint is `fingerprint`: a
/// device that then trusts it alone talks to the server it was told of, or to none.
pub fn fetch_authority(server_url: &str, fingerprint: &str) -> Result<Vec<u8>, TransportError> {
    let url = format!("{}{}", server_url.trim_end_matches('/'), protocol::enrollment::CA_PATH);
    let network = |reason: String| TransportError::Network {
        url: url.clone(),
        reason,
    };
    let expected = protocol::enrollment::normalize_fingerprint(fingerprint).map_err(TransportError::Protocol)?;
    let tls = ureq::tls::TlsConfig::builder().disable_verification(true).build();
    let agent = agent(tls);
    let mut response = agent.get(&url).call().map_err(|e| network(e.to_string()))?;
    if response.status().as_u16() != 200 {
        return Err(network(format!(
            "answered {} for its certificate authority: is it a fieldsync server speaking TLS (serve --tls auto)?",
            response.status()
        )));
    }
    let pem = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .map_err(|e| network(format!("the answer was cut off: {e}")))?;
    let certificate = ureq::tls::Certificate::from_pem(&pem)
        .map_err(|_| TransportError::Protocol(format!("{url} did not answer with a certificate")))?;
    let der = certificate.der().to_vec();
    let found = protocol::enrollment::fingerprint(&der);
    if found != expected {
        return Err(TransportError::Untrusted {
            url: server_url.to_string(),
            reason: format!("authority has the fingerprint {found}, not the {expected} you were given"),
        });
    }
    Ok(der)
}

fn agent(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        // A first sync of a large programme is many pages, each within the protocol's limits: minutes at most on
        // a camp's link, so a stalled exchange is given up after five.
        .timeout_global(Some(Duration::from_secs(300)))
        .timeout_connect(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .new_agent()
}

/// One device's connection to one server, counting the bytes that cross the wire (request and response bodies).
pub struct HttpTransport {
    agent: ureq::Agent,
    endpoint: String,
    /// Why nothing may be sent, if so: plain HTTP refused.
    refused: Option<String>,
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
    /// signing each request with the device's token, trusting the system's authorities. Plain HTTP is spoken to
    /// any server: the tests' and the demo's, on the loopback, and HQ's tools on a network the operator trusts.
    pub fn new(server_url: &str, token: &str) -> HttpTransport {
        HttpTransport::with_trust(server_url, token, &Trust::System, true)
    }

    /// A device's transport: over https, only certificates `trust` accepts; plain http only to the loopback unless
    /// `insecure_http` (otherwise every exchange is refused with [`TransportError::PlainHttp`], nothing sent).
    pub fn with_trust(server_url: &str, token: &str, trust: &Trust, insecure_http: bool) -> HttpTransport {
        let roots = match trust {
            Trust::System => ureq::tls::RootCerts::WebPki,
            Trust::Pinned(der) => {
                ureq::tls::RootCerts::new_with_certs(&[ureq::tls::Certificate::from_der(der).to_owned()])
            }
        };
        let agent = agent(ureq::tls::TlsConfig::builder().root_certs(roots).build());
        let refused = (!insecure_http && !plain_http_allowed(server_url)).then(|| server_url.to_string());
        HttpTransport {
            agent,
            refused,
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
        let bytes = self.post(&self.endpoint, protocol::MEDIA_TYPE, &body)?;
        protocol::decode(&bytes).map_err(|e| TransportError::Protocol(e.to_string()))
    }

    /// Forwards a bundle file another device wrote (`POST /v1/bundles`); the server's receipt.
    pub fn forward_bundle(&self, bundle: &[u8]) -> Result<protocol::bundle::BundleReceipt, TransportError> {
        let url = self.endpoint.replace(protocol::SYNC_PATH, protocol::BUNDLE_PATH);
        let bytes = self.post(&url, protocol::BUNDLE_MEDIA_TYPE, bundle)?;
        protocol::decode(&bytes).map_err(|e| TransportError::Protocol(e.to_string()))
    }

    /// Exchanges a one-time enrollment code for this install's credential (`POST /v1/enroll`, no token needed:
    /// make the transport with an empty one), over the same trust as every later exchange.
    pub fn enroll(&self, code: &str) -> Result<EnrollResponse, TransportError> {
        let url = self
            .endpoint
            .replace(protocol::SYNC_PATH, protocol::enrollment::ENROLL_PATH);
        let request = EnrollRequest {
            code: code.trim().to_string(),
        };
        let body = serde_json::to_vec(&request).map_err(|e| TransportError::Protocol(e.to_string()))?;
        let bytes = self.post(&url, "application/json", &body)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| TransportError::Protocol(format!("the enrollment answer is not one fieldsync knows: {e}")))
    }

    /// One POST of `body` to `url`; the answer's body, or the server's error.
    fn post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        let network = |reason: String| TransportError::Network {
            url: url.to_string(),
            reason,
        };
        if let Some(url) = &self.refused {
            return Err(TransportError::PlainHttp { url: url.clone() });
        }
        let failed = |error: ureq::Error| match refused_certificate(&error) {
            Some(reason) => TransportError::Untrusted {
                url: url.to_string(),
                reason: untrusted_reason(reason),
            },
            None => network(error.to_string()),
        };
        self.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
        let mut request = self.agent.post(url).header("Content-Type", content_type);
        if !self.token.is_empty() {
            request = request.header("Authorization", &format!("Bearer {}", self.token));
        }
        let mut response = request.send(body).map_err(failed)?;
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
        Ok(bytes)
    }
}

/// The certificate rustls refused, if that is why the request failed (ureq passes it on bare, or inside the IO
/// error of the handshake).
fn refused_certificate(error: &ureq::Error) -> Option<&rustls::CertificateError> {
    let tls = match error {
        ureq::Error::Rustls(tls) => tls,
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    match tls {
        rustls::Error::InvalidCertificate(reason) => Some(reason),
        _ => None,
    }
}

/// What is wrong with a certificate, in words.
fn untrusted_reason(error: &rustls::CertificateError) -> String {
    match error {
        rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature => {
            "is not signed by the authority this device trusts".into()
        }
        rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. } => {
            "is not made out for this address".into()
        }
        other => format!("was refused ({other:?})"),
    }
}

impl protocol::session::ExchangeError for TransportError {
    fn is_cursor_unknown(&self) -> bool {
        matches!(self, TransportError::Server { code, .. } if *code == ErrorCode::CursorUnknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_allowed_to_the_loopback_alone() {
        for allowed in [
            "https://192.168.8.10:7878",
            "HTTPS://camp.example",
            "http://127.0.0.1:7878/",
            "http://localhost:7878",
            "http://[::1]:7878",
            "http://127.8.0.1",
        ] {
            assert!(plain_http_allowed(allowed), "{allowed}");
        }
        for refused in [
            "http://192.168.8.10:7878",
            "HTTP://10.0.0.5",
            "http://127.0.0.1:1@10.0.0.5:7878",
            "http://localhost@10.0.0.5",
            "http://localhost.evil.example",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(!plain_http_allowed(refused), "{refused}");
        }
    }

    /// `https://` is spoken: a server that is not there is a connection refused, not "TLS required, but
    /// transport is unsecured" (what a build without a TLS provider says before it even connects).
    #[test]
    fn an_https_server_is_dialled_with_tls() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let transport = HttpTransport::new(&format!("https://127.0.0.1:{port}/"), "token");
        assert_eq!(transport.endpoint(), format!("https://127.0.0.1:{port}/v1/sync"));
        match transport.send(&SyncRequest::new(0, None)) {
            Err(TransportError::Network { reason, .. }) => {
                let reason = reason.to_lowercase();
                assert!(
                    !reason.contains("tls required") && !reason.contains("unsecured"),
                    "{reason}"
                );
            }
            other => panic!("expected a network error, got {other:?}"),
        }
    }

    /// A plain-HTTP server that answers with something other than a fieldsync error (a proxy's page) is reported
    /// with its status, and the code `Unknown`.
    #[test]
    fn a_foreign_error_page_is_reported_with_its_status() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = [0; 4096];
            let _ = stream.read(&mut request);
            let body = "<html>captive portal</html>";
            let answer = format!(
                "HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).expect("answer");
        });
        let transport = HttpTransport::new(&format!("http://{address}"), "token");
        match transport.send(&SyncRequest::new(0, None)) {
            Err(TransportError::Server { status, code, message }) => {
                assert_eq!((status, code), (502, ErrorCode::Unknown));
                assert!(message.contains("captive portal"), "{message}");
            }
            other => panic!("expected the server's error, got {other:?}"),
        }
        server.join().expect("server thread");
        assert!(transport.bytes_sent() > 0 && transport.bytes_received() > 0);
    }
}
