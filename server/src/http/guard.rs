//! What every request meets at the edge before a handler reads it, and every answer on its way out: the bearer
//! token, a protocol request's content type and its body's size (read only after the type and the token), the headers that keep a browser from misreading or framing a
//! page, and a log line (and running count) of every request refused with 400, 401, 403 or 413, naming the peer
//! and the path, never a header's value.

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use protocol::ErrorCode;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use sync_core::Refusal;

/// The bearer token of a request, if it carries one (the scheme's name in any case, as RFC 9110 has it).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A protocol request must be sent as `media_type`; checked, with the token, before its body is read.
pub fn media_type(headers: &HeaderMap, media_type: &str) -> Result<(), Refusal> {
    let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let essence = given.map(|v| v.split(';').next().unwrap_or_default().trim());
    if essence.is_some_and(|e| e.eq_ignore_ascii_case(media_type)) {
        return Ok(());
    }
    let message = format!(
        "the body must be sent as Content-Type: {media_type} (it was {}): docs/protocol.md",
        given.unwrap_or("not given")
    );
    Err(Refusal::new(ErrorCode::BadRequest, message))
}

/// A protocol request's body, read only once the request is known to be one (its type) from an enrolled device
/// (its token), and only up to the limit: an oversize body is the protocol's JSON `too_large`.
pub async fn read_body(body: Body) -> Result<Bytes, Refusal> {
    let limit = protocol::limits::MAX_REQUEST_BYTES;
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large =
            std::error::Error::source(&error).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            Refusal::new(
                ErrorCode::TooLarge,
                format!(
                    "the body is larger than {} MiB: push in smaller batches",
                    limit / (1024 * 1024)
                ),
            )
        } else {
            Refusal::new(ErrorCode::BadRequest, format!("the body could not be read: {error}"))
        }
    })
}

/// The policy of every HTML page: this server's files only, and never inside another site's frame.
const HTML_POLICY_EXTRA: &str = "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Refusals counted since the server started, by status.
static REFUSED: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
const COUNTED: [StatusCode; 4] = [
    StatusCode::BAD_REQUEST,
    StatusCode::UNAUTHORIZED,
    StatusCode::FORBIDDEN,
    StatusCode::PAYLOAD_TOO_LARGE,
];

/// How many requests were refused with each counted status since the server started.
pub fn refused_counts() -> Vec<(u16, u64)> {
    COUNTED
        .iter()
        .zip(&REFUSED)
        .map(|(status, count)| (status.as_u16(), count.load(Ordering::Relaxed)))
        .collect()
}

/// The middleware around every route.
pub async fn edge(request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.to_string());
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let mut response = next.run(request).await;
    let status = response.status();
    if let Some(slot) = COUNTED.iter().position(|counted| *counted == status) {
        let count = REFUSED[slot].fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            peer = peer.as_deref().unwrap_or("unknown"),
            %method,
            path,
            status = status.as_u16(),
            refused_with_this_status = count,
            "refused a request"
        );
    }
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        let policy = match headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
        {
            Some(own) => format!("{own}; {HTML_POLICY_EXTRA}"),
            None => format!("default-src 'self'; {HTML_POLICY_EXTRA}"),
        };
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}
