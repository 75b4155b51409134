//! The sync endpoint over HTTP (`POST /v1/sync`, `GET /health`): decode, authenticate, sync_core's serve, encode.

use super::{App, Backend, bearer, error_response, guard};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
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

pub async fn sync<S: Backend>(State(app): State<Arc<App<S>>>, headers: HeaderMap, body: Body) -> Response {
    match exchange(&app, &headers, body).await {
        Ok(body) => ([(header::CONTENT_TYPE, protocol::MEDIA_TYPE)], body).into_response(),
        Err(refusal) => error_response(refusal),
    }
}

async fn exchange<S: Backend>(app: &App<S>, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Refusal> {
    guard::media_type(headers, protocol::MEDIA_TYPE)?;
    let device = app.sync.authenticate(bearer(headers)).await?;
    let body = guard::read_body(body).await?;
    let request: SyncRequest =
        protocol::decode(&body).map_err(|e| Refusal::new(ErrorCode::BadRequest, e.to_string()))?;
    let response = app.sync.serve(&device, request, chrono::Utc::now()).await?;
    protocol::encode(&response).map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
}
