//! The sync store: the contract a server's storage backend keeps for sync (devices, the append-only log, the
//! records the server knows, quarantine, snapshots). HQ's read model is a contract of its own (crates/hq).
//! One implementation per backend (crates/store-sqlite now, PostgreSQL later); `fieldsync-server` picks it.
//!
//! The log is append-only: every accepted change, and every grant of scope, gets the next sequence number.
//! Sequence numbers are allocated one writer at a time, so a cursor never skips a row that commits later.

use chrono::{DateTime, Utc};
use domain::{FieldConflict, Issue, RecordType};
use std::collections::BTreeSet;
use std::future::Future;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Database(String),
    #[error(
        "the data directory holds a newer schema ({found}) than this build knows ({known}): update fieldsync-server"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("a device with id {0} already exists")]
    DuplicateDevice(Uuid),
    #[error("stored data is damaged: {0}")]
    Damaged(String),
}

/// What a device may do: the roles of shared/domain.md, "Authority" (domain::authority holds the table).
pub use domain::Role;

/// An enrolled device. Its token is stored only as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub name: String,
    /// The teams whose tasks it works on (a supervisor may have several).
    pub teams: BTreeSet<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Device {
    /// The device as the protocol tells it (`DeviceProfile`).
    pub fn profile(&self) -> protocol::DeviceProfile {
        protocol::DeviceProfile {
            id: self.id,
            name: self.name.clone(),
            role: self.role,
            teams: self.teams.iter().cloned().collect(),
        }
    }
}

/// A device being enrolled, with the hash of its credential (`device add` makes one no one holds, then issues
/// an enrollment code that the device exchanges for its own).
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub device: Device,
    pub token_hash: [u8; 32],
}

/// A one-time enrollment code for a device, stored only as its SHA-256 (docs/security.md, "Enrollment codes and
/// credentials").
#[derive(Debug, Clone)]
pub struct EnrollmentCode {
    pub device_id: Uuid,
    pub code_hash: [u8; 32],
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What became of an enrollment code presented to be exchanged for a credential (`SyncStore::redeem_code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// The code was good: the device now holds the new credential, and the code is spent.
    Enrolled(Device),
    /// No code hashes to this (mistyped, or from another server).
    Unknown,
    /// The code was exchanged already, at `at`.
    Used { device: String, at: DateTime<Utc> },
    /// The code expired at `at` without being used.
    Expired { device: String, at: DateTime<Utc> },
    /// A newer code was issued for the device (`device rotate`) at `at`.
    Superseded { device: String, at: DateTime<Utc> },
    /// The device was revoked at `at`.
    Revoked { device: String, at: DateTime<Utc> },
}

/// A record as the server knows it after merging: what scope and validation need, and the record itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub record_id: Uuid,
    pub record_type: RecordType,
    /// The task the record belongs to (a task belongs to itself); None for hazard areas and other task-less records.
    pub task_id: Option<Uuid>,
    /// For a task: its teams. Empty for other records (their scope is their task's teams).
    pub task_teams: BTreeSet<String>,
    /// For a task: the hazard areas it covers. Empty for other records.
    pub hazard_areas: BTreeSet<Uuid>,
    /// The record's flat JSON as shown (see domain::document::materialize).
    pub body: serde_json::Value,
    /// Warnings the record carries (errors are never accepted).
    pub warnings: Vec<Issue>,
    /// The heads of the record's document (32-byte change hashes): recovery compares them with a device's.
    pub heads: Vec<[u8; 32]>,
    /// Fields devices set concurrently, each with every candidate value, until a supervisor decides them.
    pub conflicts: Vec<FieldConflict>,
    /// When the record's current review status was set, by the clock of the device that set it.
    pub review_since: Option<DateTime<Utc>>,
    /// The enrolled device that pushed the change setting the current review status (None if never set).
    pub review_by: Option<Uuid>,
}

/// A change to append, with its hash (SHA-256 of its bytes, as Automerge defines it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
    /// The change's Automerge actor (its install's writer id): the device that first pushed one owns the actor.
    pub actor: Vec<u8>,
}

/// Scope that grew: a team now sees a whole task (it was added to the task's teams), or one record (the record
/// moved to a task of that team). Pulling a grant delivers every change of what it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Task { task_id: Uuid, team: String },
    Record { record_id: Uuid, team: String },
}

/// Everything one accepted push of one record writes, in one transaction: new changes (changes the log already
/// holds are skipped), the record's new row, and grants of scope.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub record: RecordRow,
    pub changes: Vec<NewChange>,
    /// The authenticated device that pushed the changes (the author inside a change is only a claim).
    pub device_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub grants: Vec<Grant>,
    /// A new snapshot of the whole document (Automerge `save()`), replacing the record's previous one: it covers
    /// every change of the record up to this ingest. Loading and catch-up then read it plus the changes after it.
    pub snapshot: Option<Vec<u8>>,
    /// The record's row in HQ's materialized table of its type (`layers::feature` of the record). None only in
    /// tests of the log that push placeholder records.
    pub feature: Option<layers::Feature>,
}

/// What one sync request writes, in one transaction: the accepted pushes, in order, and the refused changes.
/// Either all of it is durable or none of it is, so the device is told "accepted" only for what is on disk.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub ingests: Vec<Ingest>,
    pub quarantined: Vec<NewQuarantined>,
    /// The bytes of refusals kept for each device each day (UTC, of `received_at`), beyond which a refusal is
    /// counted and hashed in [`QuarantineOverflow`] instead of kept (docs/security.md, "Limits under abuse").
    /// None for refusals that are not a device's at ingress (what upstream refused), which are always kept.
    pub quarantine_quota: Option<u64>,
}

/// The refusals of one device on one day beyond its quarantine quota: not kept, but counted, with their size
/// and a digest of their bytes, so that a device flooding the server cannot fill its disk and the operator still
/// sees how much was refused. The device keeps its own copy of every change it made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineOverflow {
    pub device_id: Uuid,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub refusals: u64,
    /// What keeping them would have taken: their bytes, messages and issues.
    pub bytes: u64,
    /// SHA-256 chained over the SHA-256 of each refusal's bytes, in the order refused:
    /// `digest = SHA-256(digest || SHA-256(bytes))`, from 32 zero bytes.
    pub digest: [u8; 32],
}

/// What keeping a refusal costs against its device's quarantine quota: its bytes, message and issues.
pub fn quarantine_cost(item: &NewQuarantined) -> u64 {
    let issues = serde_json::to_vec(&item.issues).map_or(0, |json| json.len());
    (item.bytes.len() + item.message.len() + issues) as u64
}

/// A record's document as stored: its latest snapshot, if any, and the changes after it in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDocument {
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<Vec<u8>>,
}

/// The heads of the records in a device's scope as of one log position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadsInScope {
    /// The log's last sequence number when the heads were read.
    pub through: u64,
    pub records: Vec<RecordHeads>,
}

/// A record in a device's scope, as recovery compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeads {
    pub record_id: Uuid,
    pub task_id: Option<Uuid>,
    pub heads: Vec<[u8; 32]>,
}

/// A refused change, kept for review; nothing a device sends is dropped silently.
#[derive(Debug, Clone, PartialEq)]
pub struct NewQuarantined {
    pub device_id: Uuid,
    pub record_id: Uuid,
    /// Hex hash of the change, when the bytes parsed as a change.
    pub change_hash: Option<String>,
    pub bytes: Vec<u8>,
    /// The rejection code (protocol::RejectionCode in snake_case).
    pub code: String,
    pub message: String,
    pub issues: Vec<Issue>,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub id: i64,
    pub item: NewQuarantined,
}

/// Which records a device sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every record (hq, admin).
    All,
    /// Records of tasks that list one of these teams, and every record without a task.
    Teams(BTreeSet<String>),
}

/// One change of the log, as pulled, or a snapshot standing in for a record's changes up to `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChange {
    pub seq: u64,
    pub record_id: Uuid,
    pub bytes: Vec<u8>,
    /// True when `bytes` is a snapshot (Automerge `save()`) rather than one change: sent in place of a record's
    /// changes when the page holds the record's first change (the device lacks the record) and a snapshot covers
    /// them. Its `seq` is that of the first change it replaces, so the page stays in log order.
    pub snapshot: bool,
}

/// A log entry as stored: an accepted change, with the device that pushed it, or a grant of scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Change {
        seq: u64,
        record_id: Uuid,
        bytes: Vec<u8>,
        /// The device that pushed it; None for a change logged before the log kept its pusher.
        device_id: Option<Uuid>,
    },
    Grant {
        seq: u64,
        grant: Grant,
    },
}

impl LogEntry {
    pub fn seq(&self) -> u64 {
        match self {
            LogEntry::Change { seq, .. } | LogEntry::Grant { seq, .. } => *seq,
        }
    }
}

/// The changes of its own that a device's pull leaves out: those it pushed after `pushed_after` (in practice,
/// those it pushes in the request being answered, which it holds), so that a large push is never followed by
/// pages of nothing. Its own changes up to `pushed_after` are sent like any other once they are after its
/// cursor: a device restored from a backup, or a new store enrolled as the device, gets its own records back.
///
/// For a relay, `relay` is its id: the changes of every device it carries (docs/relay.md) are left out too, all of
/// them, since the camp forwarded them and holds them; sending them back would cross a slow link twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnChanges {
    pub device: Uuid,
    pub pushed_after: u64,
    pub relay: Option<Uuid>,
}

impl OwnChanges {
    /// Every change the device ever pushed left out.
    pub fn every(device: Uuid) -> OwnChanges {
        OwnChanges {
            device,
            pushed_after: 0,
            relay: None,
        }
    }
}

/// Visible log entries after a cursor, and where the log ended when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entries {
    pub entries: Vec<LogEntry>,
    pub last_seq: u64,
}

/// A record's latest snapshot: Automerge `save()` of every change of the record up to `covers_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSnapshot {
    pub record_id: Uuid,
    pub covers_seq: u64,
    pub bytes: Vec<u8>,
}

/// A page of the log after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Changes visible to the device, in log order; a grant contributes every change of what it grants.
    pub changes: Vec<LogChange>,
    /// The sequence number of the last log entry this page covered (the device's next cursor).
    pub cursor: u64,
    /// True when log entries after `cursor` remain.
    pub more: bool,
}

/// A device enrolled at another server whose changes a relay carries here (the base-camp tier): it has no token
/// here, and its changes are judged by its own role and teams, as the relay vouches for them, within the relay's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    pub device: Device,
    /// The relay (a device enrolled here) that carries its changes.
    pub carrier: Uuid,
}

/// What became of a relay's word for a device (`SyncStore::vouch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vouching {
    /// Recorded (or brought up to date) as carried by that relay.
    Recorded,
    /// The id is a device enrolled here: no relay speaks for it.
    EnrolledHere,
    /// Another relay carries that device.
    CarriedBy(Uuid),
}

/// A change to forward upstream: an entry of this server's log pushed by one of the devices enrolled here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwardable {
    pub seq: u64,
    pub record_id: Uuid,
    pub device_id: Uuid,
    pub bytes: Vec<u8>,
}

/// Where this server stands with the server it relays to (`serve --upstream`), kept across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpstreamState {
    /// The upstream server's log id, its cursor and cursor check, as its last answer gave them.
    pub server_id: Option<Uuid>,
    pub cursor: u64,
    pub cursor_check: Option<Vec<u8>>,
    /// Every forwardable change of this server's log up to this sequence number was answered by upstream:
    /// accepted, or refused and kept in this server's quarantine.
    pub forwarded_through: u64,
    pub last_contact: Option<DateTime<Utc>>,
    /// Why the last attempt failed, if it did (cleared by the next success).
    pub last_error: Option<String>,
    /// Changes upstream refused, in all.
    pub refused: u64,
    /// Records upstream sent changes of that this server could not take in yet (they lack earlier changes it
    /// does not hold): asked for whole (`want`) in the next request, so nothing sent is left behind the cursor.
    #[serde(default)]
    pub wanted: Vec<Uuid>,
    /// How many changes a request forwards now (0: the most, sync_core::upstream::RUN_CHANGES): halved when the
    /// link drops a request in flight, doubled with each answer.
    #[serde(default)]
    pub run_changes: u32,
    /// The last log position a bundle written for upstream held (`fieldsync-server export-bundle --upstream`):
    /// the next such bundle holds what came after it. While it is beyond `forwarded_through`, the first request of
    /// a round pushes nothing: its answer says (`bundled_through`) how much of it upstream took from bundles.
    #[serde(default)]
    pub bundled_through: u64,
    /// Changes sent over the link in all (answered requests; those HQ had from bundles are not sent).
    #[serde(default)]
    pub sent: u64,
}

/// The sync store contract. Futures are `Send` so that request handlers can await them.
pub trait SyncStore: Send + Sync + 'static {
    /// The identity of this server's log, made once per data directory. Cursors are only meaningful with it.
    fn server_id(&self) -> Uuid;

    fn add_device(&self, device: NewDevice) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// The device holding this token, revoked or not (the caller says which, and why it is refused).
    fn device_for_token(
        &self,
        token_hash: [u8; 32],
    ) -> impl Future<Output = Result<Option<Device>, StorageError>> + Send;
    fn devices(&self) -> impl Future<Output = Result<Vec<Device>, StorageError>> + Send;
    /// Every unrevoked device's id and token hash: the keys a device's bundle is sealed with (protocol::bundle).
    fn device_keys(&self) -> impl Future<Output = Result<Vec<(Uuid, [u8; 32])>, StorageError>> + Send;
    /// Records the device's new one-time enrollment code, in one transaction with what it replaces: the device's
    /// credential stops working and any earlier code of it is superseded. False if there is no such device, or it
    /// is revoked, or another server enrolled it (a vouched device).
    fn issue_code(&self, code: EnrollmentCode) -> impl Future<Output = Result<bool, StorageError>> + Send;
    /// Exchanges an enrollment code for a credential, at most once: if the code is known, unused, unexpired at
    /// `now`, not superseded, and its device unrevoked, the device's credential becomes `credential_hash` and the
    /// code is spent, in one transaction; otherwise nothing changes and the answer says why.
    fn redeem_code(
        &self,
        code_hash: [u8; 32],
        credential_hash: [u8; 32],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Redemption, StorageError>> + Send;
    /// Records (or updates) a device another server enrolled, as vouched for by the relay `carrier`. It can never
    /// authenticate here and holds no bundle key.
    fn vouch(&self, vouched: Vouched) -> impl Future<Output = Result<Vouching, StorageError>> + Send;
    /// The relay that carries each vouched device: (device, carrier), sorted by device.
    fn carriers(&self) -> impl Future<Output = Result<Vec<(Uuid, Uuid)>, StorageError>> + Send;
    /// Change entries after `after` pushed by devices enrolled here (not vouched ones: what came from upstream
    /// is not sent back up), in log order, at most `limit` of them.
    fn forwardable(
        &self,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Forwardable>, StorageError>> + Send;
    /// How many [`SyncStore::forwardable`] changes lie after `after`, counted without reading them.
    fn forwardable_count(&self, after: u64) -> impl Future<Output = Result<u64, StorageError>> + Send;
    /// Where this server stands with its upstream (default if it never relayed).
    fn upstream_state(&self) -> impl Future<Output = Result<UpstreamState, StorageError>> + Send;
    fn set_upstream_state(&self, state: UpstreamState) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Revokes a device; false if there is no such device or it was already revoked.
    fn revoke_device(&self, id: Uuid, at: DateTime<Utc>) -> impl Future<Output = Result<bool, StorageError>> + Send;

    fn record(&self, id: Uuid) -> impl Future<Output = Result<Option<RecordRow>, StorageError>> + Send;
    /// Every record whose task is `task_id` (the task's own row included).
    fn records_of_task(&self, task_id: Uuid) -> impl Future<Output = Result<Vec<RecordRow>, StorageError>> + Send;
    /// The ids of every record of one type, in id order (HQ's reports walk the tasks this way).
    fn record_ids(&self, record_type: RecordType) -> impl Future<Output = Result<Vec<Uuid>, StorageError>> + Send;
    /// The tasks whose `hazard_areas` include this hazard area.
    fn tasks_covering(&self, hazard_area: Uuid) -> impl Future<Output = Result<Vec<Uuid>, StorageError>> + Send;
    /// The hash of every change the log holds for a record, with the authenticated device that pushed it.
    fn change_pushers(&self, id: Uuid) -> impl Future<Output = Result<Vec<([u8; 32], Uuid)>, StorageError>> + Send;
    /// Every change the log holds for a record, in log order.
    fn document_changes(&self, id: Uuid) -> impl Future<Output = Result<Vec<Vec<u8>>, StorageError>> + Send;
    /// Every record the log holds changes of, in the order of its first change (`fieldsync-server rebuild` walks
    /// them to make everything derived from the log again).
    fn logged_records(&self) -> impl Future<Output = Result<Vec<Uuid>, StorageError>> + Send;
    /// A record's latest snapshot and the changes after it: what loading the document needs. Empty if unknown.
    fn document(&self, id: Uuid) -> impl Future<Output = Result<StoredDocument, StorageError>> + Send {
        let documents = self.documents(vec![id]);
        async move { Ok(documents.await?.pop().unwrap_or_default()) }
    }
    /// [`SyncStore::document`] of each of `ids`, in their order, read in one go: ingress asks for a whole slice
    /// of a push at once, so a slice of new records costs one trip to storage, not one a record.
    fn documents(&self, ids: Vec<Uuid>) -> impl Future<Output = Result<Vec<StoredDocument>, StorageError>> + Send;

    /// Appends a request's accepted pushes and refusals in one transaction. Changes already in the log (same
    /// record and hash) are skipped, so a retried push changes nothing; so is a refusal quarantined already (same
    /// device, record, code and bytes), so a refused change pushed or imported again is kept once. With a
    /// [`Batch::quarantine_quota`], a refusal that would take its device's kept refusals of that day beyond it
    /// is added to that day's [`QuarantineOverflow`] instead. Returns how many changes were new.
    fn append(&self, batch: Batch) -> impl Future<Output = Result<usize, StorageError>> + Send;
    /// [`SyncStore::append`] of one accepted push.
    fn ingest(&self, ingest: Ingest) -> impl Future<Output = Result<usize, StorageError>> + Send {
        self.append(Batch {
            ingests: vec![ingest],
            quarantined: vec![],
            quarantine_quota: None,
        })
    }
    /// [`SyncStore::append`] of one refused change, kept whatever the quota (what upstream refused).
    fn quarantine(&self, item: NewQuarantined) -> impl Future<Output = Result<(), StorageError>> + Send {
        let append = self.append(Batch {
            ingests: vec![],
            quarantined: vec![item],
            quarantine_quota: None,
        });
        async move { append.await.map(|_| ()) }
    }
    fn quarantined(&self) -> impl Future<Output = Result<Vec<Quarantined>, StorageError>> + Send;
    /// The refusals counted beyond a quota instead of kept ([`Batch::quarantine_quota`]), by device and day.
    fn quarantine_overflow(&self) -> impl Future<Output = Result<Vec<QuarantineOverflow>, StorageError>> + Send;
    /// The changes of `device` that upstream refused (quarantined with a code `upstream_…`, docs/relay.md) and
    /// that `device` may not have heard of at `cursor`: never told, or told in a response whose cursor is beyond
    /// `cursor` (a device that sends the cursor of the response that told it applied that response). In
    /// quarantine order, at most `limit`.
    fn refused_upstream(
        &self,
        device: Uuid,
        cursor: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Quarantined>, StorageError>> + Send;
    /// The quarantined changes of every device `relay` carries (docs/relay.md) that `relay` may not have heard of
    /// at `cursor`, as [`SyncStore::refused_upstream`] decides it: HQ's refusals of what a camp forwarded on a
    /// bundle reach the camp this way at its next sync. In quarantine order, at most `limit`.
    fn refused_carried(
        &self,
        relay: Uuid,
        cursor: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Quarantined>, StorageError>> + Send;
    /// The position of `relay`'s camp log through which everything it forwarded has been answered here, as its
    /// bundles said (0: none came on a bundle).
    fn bundled_through(&self, relay: Uuid) -> impl Future<Output = Result<u64, StorageError>> + Send;
    fn set_bundled_through(&self, relay: Uuid, through: u64) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// These quarantined changes were told to their device in a response that gave it `cursor`.
    fn told(&self, ids: Vec<i64>, cursor: u64) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// The device that pushed the first logged change of this Automerge actor: the device the actor belongs to.
    fn actor_owner(&self, actor: &[u8]) -> impl Future<Output = Result<Option<Uuid>, StorageError>> + Send;
    /// The sequence number of the last change `device` pushed that the log took (0 if none).
    fn pushed_through(&self, device: Uuid) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// The log entries after `after` that `visibility` sees, in log order, at most `limit` of them, with the
    /// sequence number of the log's last entry read in the same snapshot (so that a cursor moved to it covers
    /// nothing that had not committed). A change is visible when its record has no task or its task lists one of
    /// the teams; a grant when it grants one of the teams. A device that sees everything is sent no grants (it
    /// already has what they grant). The changes `own` names are left out and do not count towards `limit`.
    /// The pull policy above this is sync_core::pull.
    fn entries(
        &self,
        visibility: &Visibility,
        own: Option<OwnChanges>,
        after: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Entries, StorageError>> + Send;
    /// What a grant at `seq` delivers to `visibility`: every change before it of the task's records (if the task
    /// still lists one of the teams) or of the one record (if it is still visible), in log order.
    fn granted(
        &self,
        grant: &Grant,
        seq: u64,
        visibility: &Visibility,
    ) -> impl Future<Output = Result<Vec<LogChange>, StorageError>> + Send;
    /// The sequence number of each record's first logged change, for those of `records` the log holds.
    fn first_changes(&self, records: &[Uuid]) -> impl Future<Output = Result<Vec<(Uuid, u64)>, StorageError>> + Send;
    /// The latest snapshot of each of `records` that has one.
    fn snapshots(&self, records: &[Uuid]) -> impl Future<Output = Result<Vec<RecordSnapshot>, StorageError>> + Send;
    /// The sequence number of the last log entry (0 for an empty log).
    fn last_seq(&self) -> impl Future<Output = Result<u64, StorageError>> + Send;
    /// A fingerprint of the log entry at `seq` (None if there is none): a cursor handed out with it is honoured
    /// only while the entry is the same, so a log restored from backup and written again cannot silently reuse
    /// sequence numbers a device has already passed.
    fn cursor_check(&self, seq: u64) -> impl Future<Output = Result<Option<[u8; 8]>, StorageError>> + Send;
    /// The heads of every record visible to `visibility`, for recovery, with the log's end read in the same
    /// snapshot: the heads reflect every entry up to it and none after, so a device reconciling without the
    /// ingest lock is handed a cursor that skips nothing.
    fn heads_in_scope(
        &self,
        visibility: &Visibility,
    ) -> impl Future<Output = Result<HeadsInScope, StorageError>> + Send;
}
