//! The sync endpoint: one request pushes a device's changes and pulls what is new in its scope.

use crate::app::App;
use crate::auth::authenticate;
use crate::ingress::ingest_record;
use crate::scope::visibility;
use crate::storage::Storage;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::{DocumentChanges, ErrorBody, SyncRequest, SyncResponse, limits};
use serde_bytes::ByteBuf;
use std::sync::Arc;

pub async fn health<S: Storage>(State(app): State<Arc<App<S>>>) -> Response {
    let body = serde_json::json!({"status": "ok", "server_id": app.storage.server_id(), "protocol": protocol::VERSION});
    Json(body).into_response()
}

pub async fn sync<S: Storage>(State(app): State<Arc<App<S>>>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&app, &headers, &body).await {
        Ok(response) => response,
        Err((status, code, message)) => error(status, code, message),
    }
}

type Failure = (StatusCode, &'static str, String);

async fn handle<S: Storage>(app: &App<S>, headers: &HeaderMap, body: &[u8]) -> Result<Response, Failure> {
    let device = authenticate(&app.storage, headers)
        .await
        .map_err(|e| (e.status(), "unauthorized", e.to_string()))?;
    let request: SyncRequest =
        protocol::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    if request.version != protocol::VERSION {
        let message = format!(
            "protocol version {} is not spoken here; this server speaks {}: update the device",
            request.version,
            protocol::VERSION
        );
        return Err((StatusCode::BAD_REQUEST, "unsupported_version", message));
    }
    let pushed: usize = request.push.iter().map(|d| d.changes.len()).sum();
    if pushed > limits::MAX_PUSH_CHANGES {
        let message = format!(
            "{pushed} changes in one request; the limit is {}: push in smaller batches",
            limits::MAX_PUSH_CHANGES
        );
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "too_large", message));
    }
    let internal = |e: crate::storage::StorageError| {
        tracing::error!("storage: {e}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the server's storage failed: {e}"),
        )
    };
    let server_id = app.storage.server_id();
    let last = app.storage.last_seq().await.map_err(internal)?;
    if request.cursor > 0 && (request.server_id != Some(server_id) || request.cursor > last) {
        let message = format!(
            "cursor {} does not belong to this server's log ({server_id}, last entry {last}): start again from cursor 0",
            request.cursor
        );
        return Err((StatusCode::CONFLICT, "cursor_unknown", message));
    }

    let now = chrono::Utc::now();
    let mut response = SyncResponse {
        version: protocol::VERSION,
        server_id,
        accepted: 0,
        rejected: vec![],
        warnings: vec![],
        pull: vec![],
        cursor: request.cursor,
        more: false,
    };
    if !request.push.is_empty() {
        let _one_at_a_time = app.ingest.lock().await;
        for pushed in request.push {
            let Some(record_id) = pushed
                .record_id
                .or_else(|| crate::ingress::id_from_first_change(&pushed.changes))
            else {
                let outcome = crate::ingress::refuse_unidentified(&app.storage, &device, pushed.changes, now)
                    .await
                    .map_err(internal)?;
                response.rejected.extend(outcome.rejected);
                continue;
            };
            let push = DocumentChanges {
                record_id,
                changes: pushed.changes,
            };
            let outcome = ingest_record(&app.storage, &app.programme, &device, &push, now)
                .await
                .map_err(internal)?;
            response.accepted += outcome.accepted.len() as u64;
            response.rejected.extend(outcome.rejected);
            response.warnings.extend(outcome.warnings);
        }
    }

    let limit = request
        .page_limit
        .unwrap_or(limits::DEFAULT_PAGE_CHANGES)
        .clamp(1, limits::DEFAULT_PAGE_CHANGES);
    // What the device pushed (now or in an earlier request) is in the log after its cursor too; it has those.
    let page = app
        .storage
        .pull(&visibility(&device), Some(device.id), request.cursor, limit)
        .await
        .map_err(internal)?;
    for change in page.changes {
        match response.pull.last_mut() {
            Some(last) if last.record_id == change.record_id => last.changes.push(ByteBuf::from(change.bytes)),
            _ => response.pull.push(DocumentChanges {
                record_id: change.record_id,
                changes: vec![ByteBuf::from(change.bytes)],
            }),
        }
    }
    response.cursor = page.cursor;
    response.more = page.more;
    tracing::info!(
        device = %device.name,
        pushed,
        accepted = response.accepted,
        rejected = response.rejected.len(),
        pulled = response.pull.iter().map(|d| d.changes.len()).sum::<usize>(),
        cursor = response.cursor,
        more = response.more,
        "sync"
    );
    let body =
        protocol::encode(&response).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, protocol::MEDIA_TYPE)], body).into_response())
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            code: code.to_string(),
            message,
        }),
    )
        .into_response()
}
