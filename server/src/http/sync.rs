//! The sync endpoint over HTTP (`POST /v1/sync`, `GET /health`): decode, authenticate, sync_core's serve, encode.

use super::guard::protocol_body;
use super::{App, Backend, bearer, error_response};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use protocol::{ErrorCode, SyncRequest};
use std::sync::Arc;
use sync_core::Refusal;

pub async fn health<S: Backend>(State(app): State<Arc<App<S>>>) -> Response {
    let server_id = app.sync.store.server_id();
    let body = serde_json::json!({"status": "ok", "server_id": server_id, "protocol": protocol::VERSION});
    Json(body).into_response()
}

pub async fn sync<S: Backend>(
    State(app): State<Arc<App<S>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match protocol_body(&headers, body, protocol::MEDIA_TYPE) {
        Ok(body) => body,
        Err(refusal) => return error_response(refusal),
    };
    match exchange(&app, &headers, &body).await {
        Ok(body) => ([(header::CONTENT_TYPE, protocol::MEDIA_TYPE)], body).into_response(),
        Err(refusal) => error_response(refusal),
    }
}

async fn exchange<S: Backend>(app: &App<S>, headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    let device = app.sync.authenticate(bearer(headers)).await?;
    let request: SyncRequest =
        protocol::decode(body).map_err(|e| Refusal::new(ErrorCode::BadRequest, e.to_string()))?;
    let response = app.sync.serve(&device, request, chrono::Utc::now()).await?;
    protocol::encode(&response).map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
}
