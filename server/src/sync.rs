//! The sync endpoint: one request pushes a device's changes and pulls what is new in its scope.

use crate::app::App;
use crate::app::error_response as error;
use crate::auth::authenticate;
use crate::ingress::ingest_record;
use crate::recovery::{differ, wanted};
use crate::scope::visibility;
use crate::staging::Staging;
use crate::storage::{Storage, StorageError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::{DocumentChanges, PushedChanges, SyncRequest, SyncResponse, limits};
use serde_bytes::ByteBuf;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

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
    if let Some(digests) = &request.reconcile
        && digests.len() > limits::MAX_RECONCILE
    {
        let message = format!(
            "{} document digests in one request; the limit is {}",
            digests.len(),
            limits::MAX_RECONCILE
        );
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "too_large", message));
    }
    if request.want.len() > limits::MAX_WANT {
        let message = format!(
            "{} wanted records in one request; the limit is {}: ask in smaller batches",
            request.want.len(),
            limits::MAX_WANT
        );
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "too_large", message));
    }
    let server_id = app.storage.server_id();
    if request.reconcile.is_none() && request.cursor > 0 {
        check_cursor(app, &request).await?;
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
        cursor_check: None,
        differ: vec![],
        device: Some(protocol::DeviceProfile {
            id: device.id,
            name: device.name.clone(),
            role: device.role,
            teams: device.teams.iter().cloned().collect(),
        }),
    };
    if !request.push.is_empty() || request.reconcile.is_some() {
        let mut cache = app.ingest.lock().await;
        let mut staging = Staging::new(&app.storage, &mut cache);
        for pushed in by_record(request.push) {
            let push = match pushed {
                Ok(push) => push,
                Err(changes) => {
                    let outcome = crate::ingress::refuse_unidentified(&mut staging, &device, changes, now);
                    response.rejected.extend(outcome.rejected);
                    continue;
                }
            };
            let outcome = ingest_record(&mut staging, &app.programme, &device, &push, now)
                .await
                .map_err(internal)?;
            response.accepted += outcome.accepted.len() as u64;
            response.rejected.extend(outcome.rejected);
            response.warnings.extend(outcome.warnings);
        }
        staging.flush().await.map_err(internal)?;
        if let Some(digests) = &request.reconcile {
            // Still under the ingest lock: no push lands between reading the log's end and the heads, so every
            // entry up to the new cursor is reflected in the heads compared.
            response.cursor = app.storage.last_seq().await.map_err(internal)?;
            response.differ = differ(&app.storage, &device, digests).await.map_err(internal)?;
        }
    }

    if request.reconcile.is_none() {
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
            let bytes = ByteBuf::from(change.bytes);
            match response.pull.last_mut() {
                Some(last) if last.record_id == change.record_id && !change.snapshot => last.changes.push(bytes),
                _ if change.snapshot => response.pull.push(DocumentChanges {
                    record_id: change.record_id,
                    snapshot: Some(bytes),
                    changes: vec![],
                }),
                _ => response
                    .pull
                    .push(DocumentChanges::changes(change.record_id, vec![bytes])),
            }
        }
        response
            .pull
            .extend(wanted(&app.storage, &device, &request.want).await.map_err(internal)?);
        response.cursor = page.cursor;
        response.more = page.more;
    }
    if response.cursor > 0 {
        let check = app.storage.cursor_check(response.cursor).await.map_err(internal)?;
        response.cursor_check = check.map(|c| ByteBuf::from(c.to_vec()));
    }
    tracing::info!(
        device = %device.name,
        pushed,
        accepted = response.accepted,
        rejected = response.rejected.len(),
        pulled = response.pull.iter().map(|d| d.changes.len() + usize::from(d.snapshot.is_some())).sum::<usize>(),
        differ = response.differ.len(),
        cursor = response.cursor,
        more = response.more,
        "sync"
    );
    let body =
        protocol::encode(&response).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, protocol::MEDIA_TYPE)], body).into_response())
}

/// The pushed entries, one per record in the order each record first appears: entries naming the same record
/// are merged, so that ingress decides each record once per request. An entry whose record cannot be told
/// (no id and no first change) is kept apart as `Err`, to be refused.
fn by_record(push: Vec<PushedChanges>) -> Vec<Result<DocumentChanges, Vec<ByteBuf>>> {
    let mut entries: Vec<Result<DocumentChanges, Vec<ByteBuf>>> = Vec::with_capacity(push.len());
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(push.len());
    for pushed in push {
        let Some(record_id) = pushed
            .record_id
            .or_else(|| crate::ingress::id_from_first_change(&pushed.changes))
        else {
            entries.push(Err(pushed.changes));
            continue;
        };
        match index.get(&record_id).and_then(|&i| entries[i].as_mut().ok()) {
            Some(entry) => entry.changes.extend(pushed.changes),
            None => {
                index.insert(record_id, entries.len());
                entries.push(Ok(DocumentChanges::changes(record_id, pushed.changes)));
            }
        }
    }
    entries
}

fn internal(e: StorageError) -> Failure {
    tracing::error!("storage: {e}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("the server's storage failed: {e}"),
    )
}

/// A cursor is honoured only for this server's log, within it, and while the entry it names is still the one the
/// device was given (a log restored from backup and written again reuses sequence numbers).
async fn check_cursor<S: Storage>(app: &App<S>, request: &SyncRequest) -> Result<(), Failure> {
    let server_id = app.storage.server_id();
    let last = app.storage.last_seq().await.map_err(internal)?;
    let unknown = |why: String| {
        let message = format!(
            "cursor {} {why}: the device will compare its records with this server's and send what it lacks",
            request.cursor
        );
        Err((StatusCode::CONFLICT, "cursor_unknown", message))
    };
    if request.server_id != Some(server_id) {
        return unknown(format!("belongs to another server than this one ({server_id})"));
    }
    if request.cursor > last {
        return unknown(format!(
            "is beyond the end of this server's log ({last}): restored from a backup?"
        ));
    }
    if let Some(check) = &request.cursor_check {
        let current = app.storage.cursor_check(request.cursor).await.map_err(internal)?;
        if current.as_ref().map(|c| &c[..]) != Some(check.as_slice()) {
            return unknown("names a log entry this server no longer holds: restored from a backup?".to_string());
        }
    }
    Ok(())
}
