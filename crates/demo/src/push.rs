//! Putting the demo into a server exactly as devices would: one team-leader device per team and one HQ device are
//! enrolled through the storage contract (as `fieldsync-server device add` does), then each device POSTs its
//! changes to `/v1/sync` with its own token, in batches within the protocol's limits.
//!
//! The client is crates/sync-http, blocking, the HTTP client the device store uses: pushing is one request after
//! another (the server validates pushes one at a time anyway, so concurrency would buy nothing), and an async
//! caller runs it with `tokio::task::spawn_blocking`, which keeps the runtime free to serve those very requests
//! when the server runs in the same process.

use super::generate::{Author, Dataset};
use crate::push_plan::{PushPlan, RecordChanges};
use chrono::{DateTime, Utc};
use protocol::{PushedChanges, SyncRequest};
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};
use sync_core::store::{Device, NewDevice, StorageError, SyncStore};
use sync_http::{HttpTransport, TransportError, Trust};
use uuid::Uuid;

/// At most this many changes in one request (the protocol allows 20,000): a few hundred KiB per request.
pub const BATCH_CHANGES: usize = 1_000;
/// At most this many bytes of changes in one request (the protocol allows 16 MiB compressed).
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "the data directory already holds records (its log has {0} entries): the demo fills only an empty data directory; choose another --data-dir"
    )]
    NotEmpty(u64),
    #[error(
        "the data directory already has the demo's device {0}, from an earlier demo that stopped before pushing: choose another --data-dir"
    )]
    DevicesExist(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("building the demo's documents: {0}")]
    Document(#[from] domain::DocumentError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Rejected(Box<Refused>),
    #[error("{device} pushed {pushed} changes but the server acknowledged {accepted}")]
    Unacknowledged {
        device: String,
        pushed: usize,
        accepted: u64,
    },
    #[error("no token for the demo device {0:?}: enrol the dataset's devices first")]
    NotEnrolled(Author),
    #[error("the push stopped: {0}")]
    Stopped(String),
}

/// A record the server refused, with its message and the rules broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub record_type: String,
    pub label: String,
    pub record_id: Uuid,
    pub device: String,
    pub code: String,
    pub message: String,
    /// The rules broken, one per line.
    pub issues: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server refused {} {} ({}) pushed by {}: [{}] {}{}",
            self.record_type, self.label, self.record_id, self.device, self.code, self.message, self.issues
        )
    }
}

/// The tokens of the enrolled demo devices. `Debug` does not show them.
#[derive(Clone)]
pub struct Enrolment {
    tokens: BTreeMap<Author, String>,
    names: BTreeMap<Author, String>,
}

impl Enrolment {
    /// The HQ device's token: it sees every record (sign in with `fieldsync enroll --token ...`).
    pub fn hq_token(&self) -> &str {
        self.tokens.get(&Author::Hq).map_or("", String::as_str)
    }

    pub fn token(&self, author: Author) -> Option<&str> {
        self.tokens.get(&author).map(String::as_str)
    }

    fn name(&self, author: Author) -> String {
        self.names
            .get(&author)
            .cloned()
            .unwrap_or_else(|| format!("{author:?}"))
    }
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrolment")
            .field("devices", &self.names)
            .field("tokens", &"(redacted)")
            .finish()
    }
}

/// Refuses a data directory whose log is not empty.
pub async fn ensure_empty<S: SyncStore>(storage: &S) -> Result<(), DemoError> {
    match storage.last_seq().await? {
        0 => Ok(()),
        n => Err(DemoError::NotEmpty(n)),
    }
}

/// Enrols one team-leader device per team and the HQ device, each with a new token, as `device add` does.
pub async fn enrol<S: SyncStore>(storage: &S, dataset: &Dataset, now: DateTime<Utc>) -> Result<Enrolment, DemoError> {
    let mut enrolment = Enrolment {
        tokens: BTreeMap::new(),
        names: BTreeMap::new(),
    };
    let devices = (0..dataset.teams.len())
        .map(Author::Team)
        .chain([Author::Hq])
        .filter_map(|a| dataset.device(a).map(|d| (a, d)));
    for (author, demo) in devices {
        let token = sync_core::auth::new_token();
        let device = Device {
            id: demo.id,
            name: demo.name.clone(),
            teams: demo.teams.clone(),
            role: demo.role,
            created_at: now,
            revoked_at: None,
        };
        let added = storage
            .add_device(NewDevice {
                device,
                token_hash: sync_core::auth::token_hash(&token),
            })
            .await;
        match added {
            Ok(()) => {}
            Err(StorageError::DuplicateDevice(_)) => return Err(DemoError::DevicesExist(demo.name.clone())),
            Err(e) => return Err(e.into()),
        }
        enrolment.tokens.insert(author, token);
        enrolment.names.insert(author, demo.name.clone());
    }
    Ok(enrolment)
}

/// How far a push has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    pub records: usize,
    pub records_total: usize,
    pub changes: usize,
    pub changes_total: usize,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushReport {
    pub requests: usize,
    pub records: usize,
    pub changes: usize,
    pub bytes_sent: u64,
    pub elapsed: Duration,
}

/// A device's place in the server's log, carried from one answer to the next request as a device does.
#[derive(Debug, Default)]
struct Cursor {
    cursor: u64,
    server_id: Option<Uuid>,
    check: Option<ByteBuf>,
}

/// Pushes the plan to the server at `server_url` (blocking). Every change must be accepted: a rejection of any
/// kind is an error naming the record and carrying the server's message.
pub fn push(
    server_url: &str,
    enrolment: &Enrolment,
    plan: &PushPlan,
    progress: impl FnMut(Progress),
) -> Result<PushReport, DemoError> {
    push_trusting(server_url, &Trust::System, enrolment, plan, progress)
}

/// [`push`] to a server whose certificate `trust` accepts (a `--tls auto` server's own authority).
pub fn push_trusting(
    server_url: &str,
    trust: &Trust,
    enrolment: &Enrolment,
    plan: &PushPlan,
    mut progress: impl FnMut(Progress),
) -> Result<PushReport, DemoError> {
    let started = Instant::now();
    let mut report = PushReport::default();
    let mut clients: BTreeMap<Author, (HttpTransport, Cursor)> = BTreeMap::new();
    let mut done = Progress {
        records_total: plan.records,
        changes_total: plan.changes,
        ..Progress::default()
    };
    for batch in batches(&plan.entries) {
        let Some(first) = batch.first() else { continue };
        let author = first.author;
        let token = enrolment.token(author).ok_or(DemoError::NotEnrolled(author))?;
        let (client, cursor) = clients.entry(author).or_insert_with(|| {
            (
                HttpTransport::with_trust(server_url, token, trust, true),
                Cursor::default(),
            )
        });
        let mut request = SyncRequest::new(cursor.cursor, cursor.server_id);
        request.cursor_check = cursor.check.clone();
        // The demo's devices keep nothing they pull: ask for as little as the protocol allows.
        request.page_limit = Some(1);
        request.push = batch
            .iter()
            .map(|e| PushedChanges {
                record_id: Some(e.record_id),
                changes: e.changes.iter().map(|c| ByteBuf::from(c.clone())).collect(),
            })
            .collect();
        let pushed: usize = batch.iter().map(|e| e.changes.len()).sum();
        let response = client.send(&request)?;
        report.requests += 1;
        if let Some(rejection) = response.rejected.first() {
            let entry = batch.iter().find(|e| e.record_id == rejection.record_id);
            let issues: String = rejection.issues.iter().map(|i| format!("\n    {i}")).collect();
            return Err(DemoError::Rejected(Box::new(Refused {
                record_type: entry.map_or("record".into(), |e| e.record_type.to_string()),
                label: entry.map_or("?".into(), |e| e.label.clone()),
                record_id: rejection.record_id,
                device: enrolment.name(author),
                code: serde_json::to_value(rejection.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                message: rejection.message.clone(),
                issues,
            })));
        }
        if response.accepted != pushed as u64 {
            return Err(DemoError::Unacknowledged {
                device: enrolment.name(author),
                pushed,
                accepted: response.accepted,
            });
        }
        *cursor = Cursor {
            cursor: response.cursor,
            server_id: Some(response.server_id),
            check: response.cursor_check,
        };
        done.records += batch.iter().filter(|e| e.creates).count();
        done.changes += pushed;
        progress(done);
    }
    report.records = done.records;
    report.changes = done.changes;
    report.bytes_sent = clients.values().map(|(c, _)| c.bytes_sent()).sum();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Consecutive entries of one device and round, cut at [`BATCH_CHANGES`] changes or [`BATCH_BYTES`] bytes.
fn batches(entries: &[RecordChanges]) -> Vec<&[RecordChanges]> {
    let mut out = Vec::new();
    let mut start = 0;
    let (mut changes, mut bytes) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let size: usize = entry.changes.iter().map(Vec::len).sum();
        let same_sender = entries
            .get(start)
            .is_some_and(|s| s.author == entry.author && s.round == entry.round);
        let full = changes + entry.changes.len() > BATCH_CHANGES || bytes + size > BATCH_BYTES;
        if i > start && (!same_sender || full) {
            out.push(&entries[start..i]);
            start = i;
            changes = 0;
            bytes = 0;
        }
        changes += entry.changes.len();
        bytes += size;
    }
    if start < entries.len() {
        out.push(&entries[start..]);
    }
    out
}

/// Builds the documents and pushes them on a blocking thread, so that the calling runtime can keep serving (the
/// server may be in this very process).
pub async fn push_in_background(
    server_url: String,
    trust: Trust,
    enrolment: Enrolment,
    dataset: std::sync::Arc<Dataset>,
    progress: impl FnMut(Progress) + Send + 'static,
) -> Result<PushReport, DemoError> {
    tokio::task::spawn_blocking(move || {
        let plan = crate::push_plan::plan(&dataset)?;
        push_trusting(&server_url, &trust, &enrolment, &plan, progress)
    })
    .await
    .map_err(|e| DemoError::Stopped(e.to_string()))?
}
