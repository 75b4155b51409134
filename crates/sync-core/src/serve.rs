//! Serving one sync request: it pushes a device's changes and pulls what is new in its scope (docs/protocol.md).
//! Sans-IO: the caller authenticates the device, decodes the request and encodes the response; an HTTP adapter,
//! the tests' in-memory network (and, next, a base camp's relay) call [`SyncServer::serve`] alike.

use crate::auth::{AuthError, authenticate};
use crate::document_cache::{DEFAULT_CAPACITY, DocumentCache};
use crate::ingress::ingest_record;
use crate::recovery::{differ, wanted};
use crate::scope::visibility;
use crate::staging::Staging;
use crate::store::{Device, StorageError, SyncStore};
use chrono::{DateTime, Utc};
use domain::Programme;
use protocol::{DocumentChanges, ErrorCode, PushedChanges, SyncRequest, SyncResponse, limits};
use serde_bytes::ByteBuf;
use std::collections::HashMap;
use tokio::sync::Mutex;
use uuid::Uuid;

/// A request not served: the code a client acts on and a message saying what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// The store failed: logged here, and the device told that nothing was half-applied.
    pub fn internal(e: StorageError) -> Refusal {
        tracing::error!("storage: {e}");
        Refusal::new(ErrorCode::Internal, format!("the server's storage failed: {e}"))
    }
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Refusal {
        match e {
            AuthError::Storage(e) => Refusal::internal(e),
            e => Refusal::new(ErrorCode::Unauthorized, e.to_string()),
        }
    }
}

/// A server's side of sync: its store, the programme its records are validated against, and the cache of
/// loaded documents that validation at ingress uses.
#[derive(Debug)]
pub struct SyncServer<S> {
    pub store: S,
    pub programme: Programme,
    /// Pushes are validated and appended one request at a time, so two concurrent pushes to one record can never
    /// each be validated alone and both accepted. The lock guards the cache of loaded documents, which only the
    /// ingest path uses. Pulls do not take it.
    ingest: Mutex<DocumentCache>,
}

impl<S: SyncStore> SyncServer<S> {
    pub fn new(store: S, programme: Programme) -> SyncServer<S> {
        SyncServer {
            store,
            programme,
            ingest: Mutex::new(DocumentCache::new(DEFAULT_CAPACITY)),
        }
    }

    /// The enrolled, unrevoked device holding this bearer token.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Device, Refusal> {
        Ok(authenticate(&self.store, token).await?)
    }

    /// One exchange with an authenticated device, as of `now` (the server's clock: when changes were received).
    pub async fn serve(
        &self,
        device: &Device,
        request: SyncRequest,
        now: DateTime<Utc>,
    ) -> Result<SyncResponse, Refusal> {
        if request.version != protocol::VERSION {
            let message = format!(
                "protocol version {} is not spoken here; this server speaks {}: update the device",
                request.version,
                protocol::VERSION
            );
            return Err(Refusal::new(ErrorCode::UnsupportedVersion, message));
        }
        check_limits(&request)?;
        let store = &self.store;
        let server_id = store.server_id();
        if request.reconcile.is_none() && request.cursor > 0 {
            check_cursor(store, &request).await?;
        }
        let pushed: usize = request.push.iter().map(|d| d.changes.len()).sum();
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
        let SyncRequest {
            push,
            reconcile,
            want,
            cursor,
            page_limit,
            ..
        } = request;
        if !push.is_empty() || reconcile.is_some() {
            let mut cache = self.ingest.lock().await;
            let mut staging = Staging::new(store, &mut cache);
            for pushed in by_record(push) {
                let push = match pushed {
                    Ok(push) => push,
                    Err(changes) => {
                        let outcome = crate::ingress::refuse_unidentified(&mut staging, device, changes, now);
                        response.rejected.extend(outcome.rejected);
                        continue;
                    }
                };
                let outcome = ingest_record(&mut staging, &self.programme, device, &push, now)
                    .await
                    .map_err(Refusal::internal)?;
                response.accepted += outcome.accepted.len() as u64;
                response.rejected.extend(outcome.rejected);
                response.warnings.extend(outcome.warnings);
            }
            staging.flush().await.map_err(Refusal::internal)?;
            if let Some(digests) = &reconcile {
                // Still under the ingest lock: no push lands between reading the log's end and the heads, so every
                // entry up to the new cursor is reflected in the heads compared.
                response.cursor = store.last_seq().await.map_err(Refusal::internal)?;
                response.differ = differ(store, device, digests).await.map_err(Refusal::internal)?;
            }
        }

        if reconcile.is_none() {
            let limit = page_limit
                .unwrap_or(limits::DEFAULT_PAGE_CHANGES)
                .clamp(1, limits::DEFAULT_PAGE_CHANGES);
            // What the device pushed (now or in an earlier request) is in the log after its cursor too; it has those.
            let page = crate::pull::pull(store, &visibility(device), Some(device.id), cursor, limit)
                .await
                .map_err(Refusal::internal)?;
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
                .extend(wanted(store, device, &want).await.map_err(Refusal::internal)?);
            response.cursor = page.cursor;
            response.more = page.more;
        }
        if response.cursor > 0 {
            let check = store.cursor_check(response.cursor).await.map_err(Refusal::internal)?;
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
        Ok(response)
    }
}

/// What one request may carry (docs/protocol.md, "Limits").
fn check_limits(request: &SyncRequest) -> Result<(), Refusal> {
    let too_large = |message: String| Err(Refusal::new(ErrorCode::TooLarge, message));
    let pushed: usize = request.push.iter().map(|d| d.changes.len()).sum();
    if pushed > limits::MAX_PUSH_CHANGES {
        return too_large(format!(
            "{pushed} changes in one request; the limit is {}: push in smaller batches",
            limits::MAX_PUSH_CHANGES
        ));
    }
    if let Some(digests) = &request.reconcile
        && digests.len() > limits::MAX_RECONCILE
    {
        return too_large(format!(
            "{} document digests in one request; the limit is {}",
            digests.len(),
            limits::MAX_RECONCILE
        ));
    }
    if request.want.len() > limits::MAX_WANT {
        return too_large(format!(
            "{} wanted records in one request; the limit is {}: ask in smaller batches",
            request.want.len(),
            limits::MAX_WANT
        ));
    }
    Ok(())
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

/// A cursor is honoured only for this server's log, within it, and while the entry it names is still the one the
/// device was given (a log restored from backup and written again reuses sequence numbers).
async fn check_cursor<S: SyncStore>(store: &S, request: &SyncRequest) -> Result<(), Refusal> {
    let server_id = store.server_id();
    let last = store.last_seq().await.map_err(Refusal::internal)?;
    let unknown = |why: String| {
        let message = format!(
            "cursor {} {why}: the device will compare its records with this server's and send what it lacks",
            request.cursor
        );
        Err(Refusal::new(ErrorCode::CursorUnknown, message))
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
        let current = store.cursor_check(request.cursor).await.map_err(Refusal::internal)?;
        if current.as_ref().map(|c| &c[..]) != Some(check.as_slice()) {
            return unknown("names a log entry this server no longer holds: restored from a backup?".to_string());
        }
    }
    Ok(())
}
