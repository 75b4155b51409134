//! Serving one sync request: it pushes a device's changes and pulls what is new in its scope (docs/protocol.md).
//! Sans-IO: the caller authenticates the device, decodes the request and encodes the response; an HTTP adapter,
//! the tests' in-memory network (and, next, a base camp's relay) call [`SyncServer::serve`] alike.

use crate::auth::{AuthError, EnrollError, Enrolled, authenticate, redeem};
use crate::document_cache::{DEFAULT_CAPACITY, DocumentCache};
use crate::ingress::{Judge, ingest_record};
use crate::recovery::{differ, wanted};
use crate::scope::visibility;
use crate::staging::Staging;
use crate::store::{Device, OwnChanges, StorageError, SyncStore};
use chrono::{DateTime, Utc};
use domain::Programme;
use protocol::{DocumentChanges, ErrorCode, PushedChanges, Rejection, SyncRequest, SyncResponse, limits};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Mutex;

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

impl From<EnrollError> for Refusal {
    fn from(e: EnrollError) -> Refusal {
        match e {
            EnrollError::Storage(e) => Refusal::internal(e),
            EnrollError::Missing | EnrollError::Unknown => Refusal::new(ErrorCode::Unauthorized, e.to_string()),
            e => Refusal::new(ErrorCode::Forbidden, e.to_string()),
        }
    }
}

/// A server's side of sync: its store, the programme its records are validated against, and the cache of
/// loaded documents that validation at ingress uses.
#[derive(Debug)]
pub struct SyncServer<S> {
    pub store: S,
    pub programme: Programme,
    /// Pushes are validated and appended one slice at a time, so two concurrent pushes to one record can never
    /// each be validated alone and both accepted: the second is decided against the first's committed state. The
    /// lock guards the cache of loaded documents, which only the ingest path uses. Pulls do not take it.
    ingest: Mutex<DocumentCache>,
    /// Requests waiting for the ingest lock (the ingest queue's length, logged with each slice).
    waiting: AtomicUsize,
    /// This server relays to an upstream one (a base camp's, `serve --upstream`): its responses say how far its
    /// log has been answered upstream (`relayed_through`), so devices know what has reached HQ.
    pub relays_upstream: bool,
    /// Bytes of refusals kept for each device each day; beyond them refusals are counted, not kept
    /// ([`crate::store::QuarantineOverflow`]). None: no quota.
    pub quarantine_quota: Option<u64>,
    /// The least time between two reconciles of one device ([`DEFAULT_RECONCILE_EVERY`]): a reconcile reads the
    /// heads of every record in the device's scope, so a device looping them would take the server's cores.
    pub reconcile_every: chrono::Duration,
    /// When each device last reconciled (one entry per enrolled device that ever did).
    reconciled: std::sync::Mutex<HashMap<uuid::Uuid, DateTime<Utc>>>,
}

/// A device reconciles once per recovery, and again only if that sync failed: ten seconds between two costs a
/// device recovering nothing, and holds a device looping reconciles of 100,000 digests to one answered every ten
/// seconds (docs/benchmarks.md, "Reconcile beside pushes").
pub const DEFAULT_RECONCILE_EVERY: chrono::Duration = chrono::Duration::seconds(10);

/// A device's refusals kept a day by default: a tablet whose whole day is refused (a wrong task, a revoked
/// role) sends a few MB; one request of 2.5 KB compressed once wrote 61 MiB of quarantine.
pub const DEFAULT_QUARANTINE_QUOTA: u64 = 64 << 20;

/// Counts a request among those waiting for the ingest lock while it lives: a request dropped while waiting (its
/// device hung up) leaves the count too.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What became of a push: how many changes were accepted (new, or held already), and the records refused.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Pushed {
    pub accepted: u64,
    pub rejected: Vec<Rejection>,
}

/// A slice of a push, parsed and grouped by record.
type Parsed = Vec<Result<crate::ingress::RecordPush, crate::ingress::Unidentified>>;

/// A slice of a push being parsed (parse::by_record) on the blocking pool, on every core, or parsed already.
enum Parsing {
    Running(tokio::task::JoinHandle<Parsed>),
    Done(Parsed),
}

impl Parsing {
    fn start(slice: Vec<PushedChanges>) -> Parsing {
        Parsing::Running(tokio::task::spawn_blocking(move || crate::ingress::by_record(slice)))
    }

    async fn finish(self) -> Result<Parsed, Refusal> {
        match self {
            Parsing::Done(entries) => Ok(entries),
            Parsing::Running(task) => task
                .await
                .map_err(|e| Refusal::new(ErrorCode::Internal, format!("parsing the push failed: {e}"))),
        }
    }
}

/// How many records one slice of a push holds: decided under the ingest lock and committed together. Small
/// enough that a sync waiting behind a large push waits a fraction of a second (a slice takes about 0.15 s here,
/// docs/benchmarks.md), large enough that a commit (a disk flush) is spread over hundreds of records.
pub const SLICE_RECORDS: usize = 500;

impl<S: SyncStore> SyncServer<S> {
    pub fn new(store: S, programme: Programme) -> SyncServer<S> {
        SyncServer {
            store,
            programme,
            ingest: Mutex::new(DocumentCache::new(DEFAULT_CAPACITY)),
            waiting: AtomicUsize::new(0),
            relays_upstream: false,
            quarantine_quota: Some(DEFAULT_QUARANTINE_QUOTA),
            reconcile_every: DEFAULT_RECONCILE_EVERY,
            reconciled: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The enrolled, unrevoked device holding this bearer token.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Device, Refusal> {
        Ok(authenticate(&self.store, token).await?)
    }

    /// Exchanges a one-time enrollment code for the device's new credential (`POST /v1/enroll`).
    pub async fn enroll(&self, code: &str, now: DateTime<Utc>) -> Result<Enrolled, Refusal> {
        let enrolled = redeem(&self.store, code, now).await?;
        // A device enrolled again (after a rotation, a reinstall) reconciles at once: its limit starts afresh.
        self.reconciled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&enrolled.device.id);
        tracing::info!(device = %enrolled.device.id, name = enrolled.device.name, "enrolled a device by its code");
        Ok(enrolled)
    }

    /// Validates and appends a push, slice by slice: each slice of [`SLICE_RECORDS`] records is parsed without the
    /// lock, then decided under the ingest lock and committed before the lock is let go, so a small sync arriving
    /// meanwhile waits for one slice, not for the whole push, and a request cut off half-way keeps every slice it
    /// committed (its retry finds those changes in the log and skips them).
    async fn ingest(
        &self,
        device: &Device,
        push: Vec<PushedChanges>,
        judge: Judge,
        now: DateTime<Utc>,
    ) -> Result<Pushed, Refusal> {
        let mut result = Pushed::default();
        let started = Instant::now();
        let (mut records, mut slices, mut waited, mut slowest, mut longest_queue) = (0, 0, 0.0, 0.0_f64, 0);
        // Parsed a slice at a time, the next while this one is decided: a parsed new record holds its document
        // (tens of KB), so parsing a whole request of 20,000 at once held 750 MB. A record pushed in two entries
        // of different slices is decided twice, the second time against what the first committed.
        let mut rest = push.into_iter();
        let mut take_slice = move || -> Vec<PushedChanges> { rest.by_ref().take(SLICE_RECORDS).collect() };
        let first = take_slice();
        let mut parsing = if first.len() < crate::ingress::parse::PARALLEL_FROM {
            Parsing::Done(crate::ingress::by_record(first))
        } else {
            Parsing::start(first)
        };
        loop {
            let entries = parsing.finish().await?;
            let following = take_slice();
            let more = !following.is_empty();
            parsing = if more {
                Parsing::start(following)
            } else {
                Parsing::Done(vec![])
            };
            records += entries.len();
            let queued = Instant::now();
            let (mut cache, queue) = {
                let _waiting = Waiting::enter(&self.waiting);
                let queue = self.waiting.load(Ordering::Relaxed) - 1;
                (self.ingest.lock().await, queue)
            };
            let decided = Instant::now();
            // What upstream sent and this camp refuses is kept whole: HQ is not flooding it.
            let quota = match judge {
                Judge::Device => self.quarantine_quota,
                Judge::Upstream => None,
            };
            let mut staging = Staging::new(&self.store, &mut cache).with_quarantine_quota(quota);
            let ids = entries
                .iter()
                .filter_map(|pushed| pushed.as_ref().ok().map(|push| push.record_id));
            staging.prefetch(ids).await.map_err(Refusal::internal)?;
            let slice = entries.len();
            for pushed in entries {
                let outcome = match pushed {
                    Ok(push) => ingest_record(&mut staging, &self.programme, device, judge, push, now)
                        .await
                        .map_err(Refusal::internal)?,
                    Err(unidentified) => crate::ingress::refuse_unidentified(&mut staging, device, unidentified, now),
                };
                result.accepted += outcome.accepted.len() as u64;
                // Warnings stay with the record's row: the device found them itself (protocol: `warnings`).
                result.rejected.extend(outcome.rejected);
            }
            staging.flush().await.map_err(Refusal::internal)?;
            drop(staging);
            drop(cache);
            let (wait_ms, slice_ms) = (
                (decided - queued).as_secs_f64() * 1e3,
                decided.elapsed().as_secs_f64() * 1e3,
            );
            tracing::debug!(device = %device.name, records = slice, wait_ms, slice_ms, queue, "ingest slice");
            slices += 1;
            waited += wait_ms;
            slowest = slowest.max(slice_ms);
            longest_queue = longest_queue.max(queue);
            if !more {
                break;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        tracing::info!(
            device = %device.name,
            records,
            slices,
            seconds = elapsed,
            records_per_s = (records as f64 / elapsed.max(1e-9)).round(),
            waited_ms = waited.round(),
            slowest_slice_ms = slowest.round(),
            queue = longest_queue,
            "ingest"
        );
        Ok(result)
    }

    /// Validates and appends changes `device` made, with nothing pulled: what a bundle carried from it
    /// (crate::bundles). The same ingress as a network push: validation, scope, roles, quarantine.
    pub async fn push(&self, device: &Device, push: Vec<PushedChanges>, now: DateTime<Utc>) -> Result<Pushed, Refusal> {
        if push.is_empty() {
            return Ok(Pushed::default());
        }
        self.ingest(device, push, Judge::Device, now).await
    }

    /// Appends what upstream (HQ) sent this camp, as `upstream`'s changes (crate::upstream). Upstream decided them:
    /// they are taken in as decided ([`Judge::Upstream`]), so that the camp never refuses what HQ holds.
    pub async fn take_in_upstream(
        &self,
        upstream: &Device,
        push: Vec<PushedChanges>,
        now: DateTime<Utc>,
    ) -> Result<Pushed, Refusal> {
        if push.is_empty() {
            return Ok(Pushed::default());
        }
        self.ingest(upstream, push, Judge::Upstream, now).await
    }

    /// Refuses a reconcile sooner than `reconcile_every` after the device's last one (before anything of the
    /// request is done, so the retry is whole), and notes this one.
    fn may_reconcile(&self, device: &Device, now: DateTime<Utc>) -> Result<(), Refusal> {
        let mut reconciled = self.reconciled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(last) = reconciled.get(&device.id) {
            let wait = *last + self.reconcile_every - now;
            // A clock set back makes `wait` longer than the interval: let that device through.
            if wait > chrono::Duration::zero() && wait <= self.reconcile_every {
                let seconds = (wait.num_milliseconds() as f64 / 1000.0).ceil().max(1.0);
                return Err(Refusal::new(
                    ErrorCode::RateLimited,
                    format!(
                        "{} reconciled less than {} s ago: a reconcile compares every record this device may see, \
                         so it is allowed once every {} s; sync again in {seconds} s",
                        device.name,
                        self.reconcile_every.num_seconds(),
                        self.reconcile_every.num_seconds()
                    ),
                ));
            }
        }
        reconciled.insert(device.id, now);
        Ok(())
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
        if request.reconcile.is_some() {
            self.may_reconcile(device, now)?;
        }
        let store = &self.store;
        let server_id = store.server_id();
        if request.reconcile.is_none() && request.cursor > 0 {
            check_cursor(store, &request).await?;
        }
        let pushed: usize = request.push.iter().map(|d| d.changes.len()).sum();
        // Read before this request's push is appended: what the device pushes now it holds and is not sent back;
        // what it pushed before comes back once it is after the cursor (a device restored from a backup).
        let own = OwnChanges {
            device: device.id,
            pushed_after: store.pushed_through(device.id).await.map_err(Refusal::internal)?,
            relay: (device.role == crate::store::Role::Relay).then_some(device.id),
        };
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
            device: Some(device.profile()),
            pushed_through: 0,
            relayed_through: None,
            bundled_through: None,
        };
        let SyncRequest {
            push,
            reconcile,
            want,
            cursor,
            page_limit,
            on_behalf_of,
            ..
        } = request;
        // A device whose cursor is behind its own last push either never got the answer to that push (and pushes
        // it again now) or lost it from its store (restored from a backup). What it pushes again it holds, so that
        // is not sent back; the rest of its own changes are. (What a relay carries is never sent back to it:
        // OwnChanges::relay.)
        let held = (cursor < own.pushed_after && !push.is_empty()).then(|| held_changes(&push));
        // A relay's push is judged run by run as the camp's devices that made it (crate::vouching).
        let runs = if on_behalf_of.is_empty() {
            vec![(device.clone(), push)]
        } else {
            crate::vouching::runs(store, device, &on_behalf_of, push, now).await?
        };
        for (pusher, push) in runs {
            if push.is_empty() {
                continue;
            }
            let Pushed { accepted, rejected } = self.ingest(&pusher, push, Judge::Device, now).await?;
            response.accepted += accepted;
            response.rejected.extend(rejected);
        }
        if let Some(digests) = &reconcile {
            // Without the ingest lock, which pushes share: the heads and the log's end are read in one snapshot,
            // so every entry up to the new cursor is reflected in the heads compared, and none after.
            (response.cursor, response.differ) = differ(store, device, digests).await.map_err(Refusal::internal)?;
        }

        if reconcile.is_none() {
            let limit = page_limit
                .unwrap_or(limits::DEFAULT_PAGE_CHANGES)
                .clamp(1, limits::DEFAULT_PAGE_CHANGES);
            let page = crate::pull::pull(store, &visibility(device), Some(own), cursor, limit)
                .await
                .map_err(Refusal::internal)?;
            for change in page.changes {
                if !change.snapshot
                    && held
                        .as_ref()
                        .is_some_and(|held| held.contains(&fingerprint(&change.bytes)))
                {
                    continue;
                }
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
        // Receipts (docs/relay.md): read after the push, so they cover what this request pushed.
        response.pushed_through = store.pushed_through(device.id).await.map_err(Refusal::internal)?;
        if self.relays_upstream {
            let state = store.upstream_state().await.map_err(Refusal::internal)?;
            response.relayed_through = Some(state.forwarded_through);
        }
        if device.role == crate::store::Role::Relay {
            let through = store.bundled_through(device.id).await.map_err(Refusal::internal)?;
            response.bundled_through = (through > 0).then_some(through);
        }
        crate::refused_upstream::tell(store, device, cursor, &mut response)
            .await
            .map_err(Refusal::internal)?;
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

/// The fingerprints of the changes a request pushes (see [`fingerprint`]).
fn held_changes(push: &[PushedChanges]) -> HashSet<[u8; 32]> {
    push.iter()
        .flat_map(|d| d.changes.iter())
        .map(|bytes| fingerprint(bytes))
        .collect()
}

/// A change's bytes, hashed: two changes are the same change exactly when their bytes are equal.
fn fingerprint(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
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
    if let Some(bad) = request
        .reconcile
        .iter()
        .flatten()
        .find(|d| d.digest.len() != protocol::DIGEST_BYTES)
    {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!(
                "the digest of record {} is {} bytes; a heads digest is {} (docs/protocol.md, \"Recovery\")",
                bad.record_id,
                bad.digest.len(),
                protocol::DIGEST_BYTES
            ),
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
