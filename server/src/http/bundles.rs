//! `POST /v1/bundles`: a bundle one device wrote, forwarded by another that carried it (a supervisor's laptop that
//! imported a tablet's USB stick). Any enrolled device may carry one; it is taken as the push of the device whose
//! credential sealed it, through the same ingress as `fieldsync-server import-bundle` (sync_core::bundles), so the
//! carrier can neither change it nor lend it its own role.

use super::{App, Backend, bearer, error_response, guard};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use protocol::ErrorCode;
use protocol::bundle::{BundleReceipt, Covers};
use std::sync::Arc;
use sync_core::Refusal;
use sync_core::bundles::ImportError;

pub async fn forward<S: Backend>(State(app): State<Arc<App<S>>>, headers: HeaderMap, body: Body) -> Response {
    match import(&app, &headers, body).await {
        Ok(body) => ([(header::CONTENT_TYPE, protocol::MEDIA_TYPE)], body).into_response(),
        Err(refusal) => error_response(refusal),
    }
}

async fn import<S: Backend>(app: &App<S>, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Refusal> {
    guard::media_type(headers, protocol::BUNDLE_MEDIA_TYPE)?;
    let carrier = app.sync.authenticate(bearer(headers)).await?;
    let body = guard::read_body(body).await?;
    let refused = |e: ImportError| match e {
        ImportError::Storage(e) => Refusal::internal(e),
        ImportError::Refused(refusal) => refusal,
        e @ (ImportError::Bundle(_) | ImportError::FromServer { .. }) => {
            Refusal::new(ErrorCode::BadRequest, e.to_string())
        }
        e => Refusal::new(ErrorCode::Forbidden, e.to_string()),
    };
    let opened =
        protocol::bundle::read_within(&body, protocol::limits::MAX_MESSAGE_BYTES).map_err(|e| refused(e.into()))?;
    if matches!(opened.bundle.header.covers, Covers::Relayed { .. }) {
        let message = "a camp's bundle for upstream is imported at HQ with `fieldsync-server import-bundle`, not \
                       forwarded by a device; nothing of it was stored";
        return Err(Refusal::new(ErrorCode::BadRequest, message));
    }
    let import = sync_core::bundles::import(&app.sync, opened, chrono::Utc::now())
        .await
        .map_err(refused)?;
    tracing::info!(
        carrier = %carrier.name,
        device = %import.device.name,
        changes = import.changes,
        accepted = import.pushed.accepted,
        rejected = import.pushed.rejected.len(),
        "forwarded bundle"
    );
    let receipt = BundleReceipt {
        device: import.device.id,
        device_name: import.device.name,
        accepted: import.pushed.accepted,
        rejected: import.pushed.rejected,
    };
    protocol::encode(&receipt).map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
}
