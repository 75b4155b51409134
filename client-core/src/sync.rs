//! Syncing with a server (protocol v1): push the outbox, pull what is new after the cursor, page by page.
//!
//! The conversation is protocol::session's; this store is its replica: it makes each request from its outbox and
//! cursor, and applies each answer in one transaction with its cursor, so a sync cut off at any point resumes
//! where it stopped, and a retried page is harmless. It is given a `send` function (crates/sync-http through
//! `http.rs`, or anything else that delivers a request and returns the server's answer).

use crate::error::StoreError;
use crate::import::Incoming;
use crate::store::Store;
use protocol::session::{self, ExchangeError, Replica, SessionError};
use protocol::{PushedChanges, RejectionCode, SyncRequest, SyncResponse, limits};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a sync could not be completed. The outbox is never lost: sync again and it resumes.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "this device is not enrolled with a server: run `fieldsync enroll --code CODE` with the code `fieldsync-server device add` printed"
    )]
    NotEnrolled,
    #[error("cannot reach the server at {url}: {reason}. Your changes stay on this device; sync again when connected")]
    Network { url: String, reason: String },
    #[error("the server refused the sync ({status} {code}): {message}")]
    Server {
        status: u16,
        code: protocol::ErrorCode,
        message: String,
    },
    #[error("the server's answer is not a fieldsync message: {0}")]
    Protocol(String),
    /// The connection would not have been secure (a certificate not the pinned authority's, or plain HTTP
    /// beyond the loopback): nothing was sent.
    #[error("{0}. Your changes stay on this device")]
    Insecure(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub use protocol::session::{SyncProgress, SyncReport};

impl ExchangeError for SyncError {
    fn is_cursor_unknown(&self) -> bool {
        matches!(self, SyncError::Server { code, .. } if *code == protocol::ErrorCode::CursorUnknown)
    }
}

/// Where this device stands with its server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncStatus {
    pub server: Option<String>,
    pub cursor: u64,
    pub last_sync: Option<String>,
    /// Local changes the server has not acknowledged, per record label.
    pub unacknowledged: BTreeMap<String, usize>,
    /// Changes the server refused, with why.
    pub rejected: Vec<RejectedChange>,
    /// Records changed on this device, by how far they have travelled (crate::receipts).
    pub reached: crate::ReachedCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedChange {
    pub record_id: Uuid,
    pub label: Option<String>,
    pub change: String,
    pub code: RejectionCode,
    pub message: String,
    pub issues: Vec<domain::Issue>,
}

/// What one push entry carries, as the device knows it: the record and the hashes of its pushed changes, read
/// from the outbox rows (so acknowledging them parses nothing).
#[derive(Debug)]
pub struct Pushed {
    record_id: Uuid,
    hashes: Vec<String>,
}

const SERVER_ID: &str = "server_id";
const CURSOR: &str = "cursor";
const CURSOR_CHECK: &str = "cursor_check";
const LAST_SYNC: &str = "last_sync";
/// The server's `relayed_through`; absent when the server is the top of the chain (crate::receipts).
pub(crate) const RELAYED_THROUGH: &str = "relayed_through";
/// What a sync with one server keeps, which a new enrollment drops (and a failed one restores).
pub(crate) const CONNECTION_SETTINGS: [&str; 3] = [SERVER_ID, CURSOR, CURSOR_CHECK];

impl Store {
    /// Syncs until the server has nothing more: push the outbox, pull pages, apply each page with its cursor
    /// (protocol::session decides the conversation; this store is its replica).
    pub fn sync_with<E: Into<SyncError>>(
        &mut self,
        mut send: impl FnMut(&SyncRequest) -> Result<SyncResponse, E>,
        progress: impl FnMut(SyncProgress),
    ) -> Result<SyncReport, SyncError> {
        session::run(self, |request| send(request).map_err(Into::into), progress).map_err(|e| match e {
            SessionError::Replica(e) => SyncError::Store(e),
            SessionError::Send(e) => e,
        })
    }

    /// The next request: the outbox in dependency order (hazard areas and tasks before what links to them),
    /// skipping records whose only waiting changes were refused (they go again with the record's next change).
    /// A record whose first change is in the push goes without its id (the change carries it). Returns the
    /// request and what each push entry carries.
    fn outgoing_request(&self) -> Result<(SyncRequest, Vec<Pushed>), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.record_id, c.bytes, c.rejection, r.record_type, c.hash FROM changes c LEFT JOIN records r ON r.record_id = c.record_id
             WHERE c.origin = 'local' AND c.acknowledged = 0 ORDER BY c.seq",
        )?;
        let mut by_record: BTreeMap<Uuid, (usize, bool, Vec<ByteBuf>, Vec<String>)> = BTreeMap::new();
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Vec<u8>>(4)?,
            ))
        })?;
        for row in rows {
            let (id, bytes, rejection, record_type, hash) = row?;
            let hash = automerge::ChangeHash::try_from(hash.as_slice())
                .map_err(|_| StoreError::Damaged(format!("change hash of {id}")))?
                .to_string();
            let id = crate::neighbourhood::parse_id(&id)?;
            let order = record_type
                .as_deref()
                .and_then(domain::RecordType::parse)
                .map_or(usize::MAX, |t| {
                    domain::RecordType::ALL
                        .iter()
                        .position(|x| *x == t)
                        .unwrap_or(usize::MAX)
                });
            let entry = by_record.entry(id).or_insert((order, false, Vec::new(), Vec::new()));
            entry.1 |= rejection.is_none();
            entry.2.push(ByteBuf::from(bytes));
            entry.3.push(hash);
        }
        let mut push: Vec<(usize, Pushed, PushedChanges)> = by_record
            .into_iter()
            .filter(|(_, (_, fresh, _, _))| *fresh)
            .map(|(record_id, (order, _, changes, hashes))| {
                let first_included = changes
                    .iter()
                    .any(|b| automerge::Change::from_bytes(b.to_vec()).is_ok_and(|c| c.deps().is_empty()));
                let id = if first_included { None } else { Some(record_id) };
                (
                    order,
                    Pushed { record_id, hashes },
                    PushedChanges { record_id: id, changes },
                )
            })
            .collect();
        push.sort_by_key(|(order, _, _)| *order);
        let mut budget = limits::MAX_PUSH_CHANGES;
        let (records, push): (Vec<Pushed>, Vec<PushedChanges>) = push
            .into_iter()
            .map(|(_, record, d)| (record, d))
            .take_while(|(_, d)| {
                let fits = d.changes.len() <= budget;
                budget = budget.saturating_sub(d.changes.len());
                fits
            })
            .unzip();
        let cursor = self.meta(CURSOR)?.and_then(|c| c.parse().ok()).unwrap_or(0);
        let server_id = self.meta(SERVER_ID)?.and_then(|s| Uuid::parse_str(&s).ok());
        // No server id: this server has never answered this device (or lost its cursor). Compare documents.
        let reconcile = match server_id {
            None => self.reconcile_digests()?,
            Some(_) => None,
        };
        let want = match reconcile {
            None => self.wanted_batch()?,
            Some(_) => vec![],
        };
        let request = SyncRequest {
            push,
            cursor_check: self.meta(CURSOR_CHECK)?.and_then(|c| hex_bytes(&c)).map(ByteBuf::from),
            reconcile,
            want,
            ..SyncRequest::new(cursor, server_id)
        };
        Ok((request, records))
    }

    /// Drops the cursor and the server id, so that the next request starts a new conversation (inside a write).
    pub(crate) fn drop_cursor(&self) -> Result<(), StoreError> {
        for key in CONNECTION_SETTINGS {
            self.delete_meta(key)?;
        }
        Ok(())
    }

    /// Whether a page from the enrolled server was applied (it gave a cursor).
    pub(crate) fn has_cursor(&self) -> Result<bool, StoreError> {
        Ok(self.meta(CURSOR)?.is_some())
    }

    fn pushable(&self) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM changes WHERE origin = 'local' AND acknowledged = 0 AND rejection IS NULL)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Applies one response in one transaction: acknowledgements, refusals, pulled changes, and the new cursor.
    /// Every change the request pushed is acknowledged unless the response lists it among `rejected`.
    fn apply_response(
        &mut self,
        pushed: &[Pushed],
        wanted: &[Uuid],
        response: &SyncResponse,
    ) -> Result<usize, StoreError> {
        let not_accepted: std::collections::HashSet<&str> = response
            .rejected
            .iter()
            .flat_map(|r| r.changes.iter().map(String::as_str))
            .collect();
        let refused_records: std::collections::HashSet<Uuid> = response
            .rejected
            .iter()
            .filter(|r| r.changes.is_empty())
            .map(|r| r.record_id)
            .collect();
        let accepted: Vec<String> = pushed
            .iter()
            .filter(|p| !refused_records.contains(&p.record_id))
            .flat_map(|p| p.hashes.iter())
            .filter(|hash| !not_accepted.contains(hash.as_str()))
            .cloned()
            .collect();
        let pulled: Vec<Incoming> = response.pull.iter().map(pulled).collect();
        self.transaction_mut(|store| {
            store.acknowledge(&accepted)?;
            if response.pushed_through > 0 {
                let mut logged = store.conn.prepare_cached(
                    "UPDATE changes SET logged_through = ?2 WHERE hash = ?1 AND logged_through IS NULL",
                )?;
                for hash in &accepted {
                    if let Ok(hash) = <automerge::ChangeHash as std::str::FromStr>::from_str(hash) {
                        logged.execute(rusqlite::params![hash.0.as_slice(), response.pushed_through as i64])?;
                    }
                }
            }
            {
                let mut mark = store
                    .conn
                    .prepare_cached("UPDATE changes SET rejection = ?2 WHERE hash = ?1 AND origin = 'local'")?;
                // A change deferred in this push waits in the outbox to go again; one the camp holds and HQ
                // deferred (told from upstream, docs/relay.md) is acknowledged, and marked so that it does not
                // count as having reached HQ.
                let mut mark_held = store.conn.prepare_cached(
                    "UPDATE changes SET rejection = ?2 WHERE hash = ?1 AND origin = 'local' AND acknowledged = 1",
                )?;
                for rejection in &response.rejected {
                    let reason = serde_json::json!({"code": rejection.code, "message": rejection.message, "issues": rejection.issues}).to_string();
                    let mark = if rejection.code == RejectionCode::Deferred {
                        &mut mark_held
                    } else {
                        &mut mark
                    };
                    for hash in &rejection.changes {
                        if let Ok(hash) = <automerge::ChangeHash as std::str::FromStr>::from_str(hash) {
                            mark.execute(rusqlite::params![hash.0.as_slice(), reason])?;
                        }
                    }
                }
            }
            match response.relayed_through {
                Some(through) => store.set_meta(RELAYED_THROUGH, &through.to_string())?,
                None => {
                    store.conn.execute("DELETE FROM meta WHERE key = ?1", [RELAYED_THROUGH])?;
                }
            }
            let report = store.import(pulled)?;
            store.apply_differ(&response.differ)?;
            store.answered_wanted(wanted)?;
            if let Some(profile) = &response.device {
                store.set_enrolled(profile)?;
            }
            store.set_meta(CURSOR, &response.cursor.to_string())?;
            store.set_meta(SERVER_ID, &response.server_id.to_string())?;
            match &response.cursor_check {
                Some(check) => store.set_meta(CURSOR_CHECK, &hex(check))?,
                None => {
                    store.conn.execute("DELETE FROM meta WHERE key = ?1", [CURSOR_CHECK])?;
                }
            }
            Ok(report.records_changed.len())
        })
    }

    /// What the server has not acknowledged and what it refused.
    pub fn sync_status(&self) -> Result<SyncStatus, StoreError> {
        let mut unacknowledged = BTreeMap::new();
        let mut rejected = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT c.record_id, r.label, c.hash, c.rejection, c.acknowledged, c.seq FROM changes c LEFT JOIN records r ON r.record_id = c.record_id
             WHERE c.origin = 'local' AND c.acknowledged = 0
             UNION ALL
             SELECT c.record_id, r.label, c.hash, c.rejection, c.acknowledged, c.seq FROM changes c LEFT JOIN records r ON r.record_id = c.record_id
             WHERE c.origin = 'local' AND c.acknowledged = 1 AND c.rejection IS NOT NULL ORDER BY 6",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        for row in rows {
            // An acknowledged change with a refusal: the camp took it and HQ refused it (docs/relay.md).
            let (id, label, hash, rejection, acknowledged) = row?;
            if !acknowledged {
                *unacknowledged
                    .entry(label.clone().unwrap_or_else(|| id.clone()))
                    .or_insert(0) += 1;
            }
            if let Some(reason) = rejection {
                let reason: serde_json::Value = serde_json::from_str(&reason).unwrap_or_default();
                rejected.push(RejectedChange {
                    record_id: crate::neighbourhood::parse_id(&id)?,
                    label,
                    change: hash.iter().map(|b| format!("{b:02x}")).collect(),
                    code: serde_json::from_value(reason["code"].clone()).unwrap_or(RejectionCode::Invalid),
                    message: reason["message"].as_str().unwrap_or_default().to_string(),
                    issues: serde_json::from_value(reason["issues"].clone()).unwrap_or_default(),
                });
            }
        }
        Ok(SyncStatus {
            server: self.meta(crate::enrollment::SERVER_URL)?,
            cursor: self.meta(CURSOR)?.and_then(|c| c.parse().ok()).unwrap_or(0),
            last_sync: self.meta(LAST_SYNC)?,
            unacknowledged,
            rejected,
            reached: self.reached_counts()?,
        })
    }
}

/// A pulled document as the store imports it: a snapshot is kept as it came when the store lacks the record.
fn pulled(pulled: &protocol::DocumentChanges) -> Incoming {
    Incoming {
        record_id: pulled.record_id,
        snapshot: pulled.snapshot.as_ref().map(|s| s.to_vec()),
        changes: pulled.changes.iter().map(|b| b.to_vec()).collect(),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

/// The store as protocol::session's replica: its outbox, its cursor, and applying answers in one transaction.
impl Replica for Store {
    type Error = StoreError;
    type Sent = Vec<Pushed>;

    fn next_request(&mut self) -> Result<(SyncRequest, Vec<Pushed>), StoreError> {
        self.outgoing_request()
    }

    fn apply(
        &mut self,
        sent: &Vec<Pushed>,
        request: &SyncRequest,
        response: &SyncResponse,
    ) -> Result<usize, StoreError> {
        self.apply_response(sent, &request.want, response)
    }

    fn forget_cursor(&mut self) -> Result<(), StoreError> {
        self.write(|| self.drop_cursor())
    }

    fn has_pushable(&mut self) -> Result<bool, StoreError> {
        self.pushable()
    }

    fn has_wanted(&mut self) -> Result<bool, StoreError> {
        Store::has_wanted(self)
    }

    fn finished(&mut self) -> Result<(), StoreError> {
        self.write(|| self.set_meta(LAST_SYNC, &self.now().to_rfc3339()))
    }
}
