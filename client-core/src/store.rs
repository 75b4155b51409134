//! Opening the store, its schema, and reading and writing documents and their derived rows.

use crate::error::StoreError;
use crate::identity::DeviceIdentity;
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use chrono::{DateTime, Utc};
use domain::document::{self, Authorship, Materialized};
use domain::{Issue, Programme, Record};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::fmt;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Numbered migrations, applied in order; `PRAGMA user_version` holds how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_device_store.sql"),
    include_str!("../migrations/0002_sync.sql"),
    include_str!("../migrations/0003_recovery.sql"),
    include_str!("../migrations/0004_refused_upstream.sql"),
    include_str!("../migrations/0005_receipts.sql"),
    include_str!("../migrations/0006_carried_bundles.sql"),
];

/// A document with this many change rows beyond its snapshot gets a fresh snapshot, so loading stays fast.
const SNAPSHOT_INTERVAL: i64 = 64;

/// Where a change came from. Local changes stay in the outbox until a server acknowledges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Local,
    Remote,
}

type Clock = Box<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The device's local store: one SQLite file holding every record's document and its derived rows.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    identity: DeviceIdentity,
    pub(crate) programme: Programme,
    clock: Clock,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Creates the empty store file readable by its owner alone (0600): a lost tablet's store is no one else's to
/// read on the machine it is copied to. SQLite gives its WAL and shared-memory files the database's permissions.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::AlreadyInitialised(path.to_path_buf()),
            _ => StoreError::CannotCreate {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
        })
}

impl Store {
    /// Creates a new store file (0600) with a fresh device identity.
    pub fn init(path: impl AsRef<Path>, device_name: &str, user: &str) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if path.exists() {
            return Err(StoreError::AlreadyInitialised(path));
        }
        create_private(&path)?;
        let conn = Connection::open(&path)?;
        configure(&conn)?;
        migrate(&conn, &path)?;
        let identity = DeviceIdentity {
            device_id: Uuid::now_v7(),
            device_name: device_name.to_string(),
            user: user.to_string(),
            actor: ActorId::random(),
        };
        let tx = conn.unchecked_transaction()?;
        for (key, value) in [
            ("device_id", identity.device_id.to_string()),
            ("device_name", identity.device_name.clone()),
            ("user", identity.user.clone()),
            ("actor", identity.actor.to_hex_string()),
        ] {
            tx.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
        }
        tx.commit()?;
        Ok(Store::with(conn, path, identity))
    }

    /// Opens an existing store. Cost does not grow with the number of records: nothing is loaded up front.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(StoreError::NotInitialised(path));
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        migrate(&conn, &path)?;
        let get = |key: &str| -> Result<String, StoreError> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StoreError::NotInitialised(path.clone()))
        };
        let device_id = Uuid::parse_str(&get("device_id")?).map_err(|_| StoreError::NotInitialised(path.clone()))?;
        let actor = ActorId::try_from(get("actor")?.as_str()).map_err(|_| StoreError::NotInitialised(path.clone()))?;
        let identity = DeviceIdentity {
            device_id,
            device_name: get("device_name")?,
            user: get("user")?,
            actor,
        };
        Ok(Store::with(conn, path, identity))
    }

    fn with(conn: Connection, path: PathBuf, identity: DeviceIdentity) -> Store {
        Store {
            conn,
            path,
            identity,
            programme: Programme::default(),
            clock: Box::new(Utc::now),
        }
    }

    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the programme settings and reference data used by validation.
    pub fn set_programme(&mut self, programme: Programme) {
        self.programme = programme;
    }

    /// Replaces the clock (tests pass a fixed one; the app passes the device clock).
    pub fn set_clock(&mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) {
        self.clock = Box::new(clock);
    }

    /// A setting from the store's `meta` table.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    pub(crate) fn delete_meta(&self, key: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM meta WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub(crate) fn author(&self, action: &str) -> Authorship {
        Authorship {
            device_id: self.identity.device_id,
            device: self.identity.device_name.clone(),
            user: self.identity.user.clone(),
            action: action.to_string(),
        }
    }

    /// Runs `f` in a write transaction, or inside the caller's if one is open (batches are all or nothing).
    pub(crate) fn write<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        if !self.conn.is_autocommit() {
            return f();
        }
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)?;
        let out = f()?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` in one write transaction when `f` itself needs the store mutably (it creates records, imports
    /// changes): all of it commits, or none of it. The writes inside join this transaction (see [`Store::write`]).
    pub(crate) fn transaction_mut<T>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(self) {
            Ok(value) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(value)
            }
            Err(error) => {
                self.conn.execute_batch("ROLLBACK")?;
                Err(error)
            }
        }
    }

    /// Loads a record's document: its snapshot plus the change rows the snapshot does not cover.
    pub(crate) fn load_document(&self, id: Uuid) -> Result<Option<Automerge>, StoreError> {
        let snapshot: Option<Option<Vec<u8>>> = self
            .conn
            .prepare_cached("SELECT snapshot FROM documents WHERE record_id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        let Some(snapshot) = snapshot else { return Ok(None) };
        let mut doc = match snapshot {
            Some(bytes) => Automerge::load(&bytes).map_err(|e| StoreError::BadChange {
                record: id,
                index: 0,
                reason: format!("snapshot: {e}"),
            })?,
            None => Automerge::new(),
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM changes WHERE record_id = ?1 AND in_snapshot = 0 ORDER BY seq")?;
        let changes = stmt
            .query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))?
            .enumerate()
            .map(|(index, bytes)| {
                let bytes = bytes?;
                Change::from_bytes(bytes).map_err(|e| StoreError::BadChange {
                    record: id,
                    index,
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        doc.apply_changes(changes)
            .map_err(|e| StoreError::document(id)(e.into()))?;
        doc.set_actor(self.identity.actor.clone());
        Ok(Some(doc))
    }

    /// Writes a document's new changes, heads, derived row and links. Call inside a transaction.
    pub(crate) fn persist(
        &self,
        id: Uuid,
        doc: &Automerge,
        changes: &[(Change, Origin)],
        derived: Option<&Derived>,
    ) -> Result<(), StoreError> {
        let mut inserted = 0;
        {
            let mut insert = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO changes (record_id, hash, bytes, origin) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (change, origin) in changes {
                let origin = match origin {
                    Origin::Local => "local",
                    Origin::Remote => "remote",
                };
                inserted += insert.execute(params![
                    id.to_string(),
                    change.hash().0.as_slice(),
                    change.raw_bytes(),
                    origin
                ])?;
            }
        }
        let pending: i64 = self.conn.prepare_cached(
            "INSERT INTO documents (record_id, heads, pending_changes) VALUES (?1, ?2, ?3)
             ON CONFLICT (record_id) DO UPDATE SET heads = excluded.heads, pending_changes = pending_changes + excluded.pending_changes
             RETURNING pending_changes",
        )?
        .query_row(params![id.to_string(), heads_bytes(&doc.get_heads()), inserted as i64], |r| r.get(0))?;
        if pending >= SNAPSHOT_INTERVAL && doc.get_missing_deps(&[]).is_empty() {
            self.snapshot(id, doc)?;
        }
        self.write_derived(id, derived)
    }

    /// Writes a record this store did not hold, arriving whole from elsewhere, as its document bytes alone
    /// (`bytes` loads with `Automerge::load`: a saved document, change chunks, or both): no change rows, since
    /// none of its changes is this device's to deliver. Call inside a transaction.
    pub(crate) fn persist_whole(
        &self,
        id: Uuid,
        heads: &[ChangeHash],
        bytes: &[u8],
        derived: Option<&Derived>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO documents (record_id, heads, snapshot, pending_changes) VALUES (?1, ?2, ?3, 0)",
            )?
            .execute(params![id.to_string(), heads_bytes(heads), bytes])?;
        self.write_derived(id, derived)
    }

    fn write_derived(&self, id: Uuid, derived: Option<&Derived>) -> Result<(), StoreError> {
        if let Some(derived) = derived {
            self.write_row(id, derived)?;
            self.refresh_neighbours(&derived.shown.materialized.record, &derived.siblings)?;
        }
        Ok(())
    }

    /// Replaces the change rows a document holds with one snapshot of it (rows stay, marked as covered).
    pub(crate) fn snapshot(&self, id: Uuid, doc: &Automerge) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE documents SET snapshot = ?2, pending_changes = 0 WHERE record_id = ?1",
            params![id.to_string(), doc.save()],
        )?;
        self.conn.execute(
            "UPDATE changes SET in_snapshot = 1 WHERE record_id = ?1",
            [id.to_string()],
        )?;
        Ok(())
    }

    fn write_row(&self, id: Uuid, d: &Derived) -> Result<(), StoreError> {
        let r = &d.shown.materialized.record;
        let bbox = domain::geometry::bounding_box(r.positions().iter());
        let errors = d.issues.iter().filter(|i| i.is_error()).count();
        // An upsert, not INSERT OR REPLACE: the row keeps its rowid, which records_area refers to.
        let rowid: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO records (record_id, record_type, label, task_id, status, review, date_of_information,
                 entered_at, voided, body, conflicts, issues, conflict_count, error_count, warning_count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT (record_id) DO UPDATE SET record_type = excluded.record_type, label = excluded.label,
                 task_id = excluded.task_id, status = excluded.status, review = excluded.review,
                 date_of_information = excluded.date_of_information, entered_at = excluded.entered_at,
                 voided = excluded.voided, body = excluded.body, conflicts = excluded.conflicts, issues = excluded.issues,
                 conflict_count = excluded.conflict_count, error_count = excluded.error_count, warning_count = excluded.warning_count
                 RETURNING rowid",
            )?
            .query_row(
                params![
                    id.to_string(),
                    r.record_type().as_str(),
                    r.meta.label,
                    r.task_id().map(|t| t.to_string()),
                    r.status(),
                    r.meta.review.as_str(),
                    r.meta.date_of_information.to_string(),
                    d.entered_at.to_rfc3339(),
                    r.meta.void.is_some(),
                    d.shown.body,
                    json_text(&d.shown.materialized.conflicts),
                    json_text(&d.issues),
                    d.shown.materialized.conflicts.len() as i64,
                    errors as i64,
                    (d.issues.len() - errors) as i64,
                ],
                |row| row.get(0),
            )?;
        match bbox.filter(|b| b.iter().all(|v| v.is_finite())) {
            Some([min_lon, min_lat, max_lon, max_lat]) => self
                .conn
                .prepare_cached("INSERT OR REPLACE INTO records_area (id, min_lon, max_lon, min_lat, max_lat) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![rowid, min_lon, max_lon, min_lat, max_lat])?,
            None => self.conn.prepare_cached("DELETE FROM records_area WHERE id = ?1")?.execute([rowid])?,
        };
        self.conn
            .prepare_cached("DELETE FROM links WHERE from_id = ?1")?
            .execute([id.to_string()])?;
        let mut link = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO links (from_id, field, to_id) VALUES (?1, ?2, ?3)")?;
        for (field, to) in r.links() {
            link.execute(params![id.to_string(), field, to.to_string()])?;
        }
        Ok(())
    }

    /// Everything the row of a document is derived from: the record as shown, its conflicts and its issues.
    pub(crate) fn derive(&self, id: Uuid, doc: &Automerge) -> Result<Derived, StoreError> {
        let shown = Shown::of(doc).map_err(StoreError::document(id))?;
        self.derive_shown(shown)
    }

    /// The rest of a row, once the document is shown: its issues, from the records around it in this store.
    pub(crate) fn derive_shown(&self, shown: Shown) -> Result<Derived, StoreError> {
        let entered_at = shown.entered_at.unwrap_or_else(|| self.now());
        let related = self.related(&shown.materialized.record)?;
        let issues = self.validate_with(&shown.materialized.record, &related, entered_at);
        let siblings = related.siblings.iter().map(Record::id).collect();
        Ok(Derived {
            shown,
            entered_at,
            issues,
            siblings,
        })
    }

    /// Validates a record against the rules and the records around it in this store.
    pub(crate) fn validate_record(&self, record: &Record, entered_at: DateTime<Utc>) -> Result<Vec<Issue>, StoreError> {
        let related = self.related(record)?;
        Ok(self.validate_with(record, &related, entered_at))
    }

    fn validate_with(&self, record: &Record, related: &domain::Related, entered_at: DateTime<Utc>) -> Vec<Issue> {
        let ctx = domain::Context {
            programme: &self.programme,
            related,
            entered_at,
        };
        domain::validation::validate(record, &ctx)
    }
}

/// What a record's row shows, made from its document alone: so it can be made on any thread, without the store.
#[derive(Debug)]
pub(crate) struct Shown {
    pub materialized: Materialized,
    /// When the record was created, by its first change's clock (None for a document without changes).
    pub entered_at: Option<DateTime<Utc>>,
    /// The record's flat JSON, as the row keeps it.
    pub body: String,
}

impl Shown {
    pub(crate) fn of(doc: &Automerge) -> Result<Shown, domain::DocumentError> {
        let materialized = document::materialize(doc)?;
        let body = stored_body(&materialized.record);
        Ok(Shown {
            materialized,
            entered_at: document::entered_at(doc),
            body,
        })
    }
}

/// What a record's row holds besides the document.
#[derive(Debug)]
pub(crate) struct Derived {
    pub shown: Shown,
    pub entered_at: DateTime<Utc>,
    pub issues: Vec<Issue>,
    /// The siblings validation looked at; their own issues may change with this record.
    pub siblings: Vec<uuid::Uuid>,
}

/// The JSON a row keeps of its record: its flat JSON without the id (the row's key) and without null or empty
/// values, which a record reads back as absent. A find's row is a third smaller this way, and rows of every type
/// read back equal (tests/tests/device_store.rs).
fn stored_body(record: &Record) -> String {
    let mut json = record.to_json();
    if let serde_json::Value::Object(object) = &mut json {
        object.remove("id");
    }
    drop_empty(&mut json);
    json.to_string()
}

fn drop_empty(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(object) => {
            object.values_mut().for_each(drop_empty);
            object.retain(|_, v| match v {
                Value::Null => false,
                Value::Object(o) => !o.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            });
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty),
        _ => {}
    }
}

/// JSON text of values this crate built (conflicts, issues); their serialization cannot fail.
fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    // WAL with FULL sync: a committed edit survives power loss, which a tablet in the field will see.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // An edit runs about twenty distinct statements; rusqlite's default cache of 16 would re-prepare them all.
    conn.set_prepared_statement_cache_capacity(64);
    // Keep plans fixed whatever the bound values: otherwise SQLite re-prepares the R*Tree neighbour query on every
    // call (it was 16 % of an edit's instructions). Our queries do not need value-dependent plans.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::NewerStore {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

pub(crate) fn heads_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}
