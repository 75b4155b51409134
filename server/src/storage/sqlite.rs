//! [`Storage`] on an embedded SQLite file: `<data_dir>/fieldsync-server.db`.
//!
//! One connection behind a mutex, used from tokio's blocking pool, so request handlers never block the runtime.
//! Sequence numbers are allocated one writer at a time: see [`SqliteStorage::write`].

use super::{
    Batch, Device, Grant, Ingest, LogChange, NewDevice, NewQuarantined, Page, Quarantined, RecordHeads, RecordRow,
    Role, Storage, StorageError, StoredDocument, Visibility,
};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Issue, RecordType};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use uuid::Uuid;

/// Numbered migrations, applied in order; `PRAGMA user_version` holds how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_server.sql"),
    include_str!("../../migrations/sqlite/0002_recovery.sql"),
    include_str!("../../migrations/sqlite/0003_review_and_conflicts.sql"),
    include_str!("../../migrations/sqlite/0004_authors.sql"),
];

const FILE_NAME: &str = "fieldsync-server.db";

/// Changes visible to everyone (hq, admin): grants are skipped, since such a device already sees what they grant.
const PULL_ALL: &str = "SELECT seq, 'change', record_id, NULL, bytes, device_id FROM log \
     WHERE seq > ?1 AND kind = 'change' ORDER BY seq LIMIT ?2";

/// Log entries visible to a set of teams (`?2`, a JSON array). Visibility is judged against the records' current
/// task and the tasks' current teams, the same rule the grant expansions below apply.
const PULL_TEAMS: &str = "SELECT l.seq, l.kind, l.record_id, l.task_id, l.bytes, l.device_id FROM log AS l \
     WHERE l.seq > ?1 AND CASE l.kind \
         WHEN 'change' THEN EXISTS (SELECT 1 FROM records AS r WHERE r.record_id = l.record_id AND (r.task_id IS NULL \
             OR EXISTS (SELECT 1 FROM task_teams AS t, json_each(?2) AS j WHERE t.task_id = r.task_id AND t.team = j.value))) \
         ELSE l.team IN (SELECT value FROM json_each(?2)) END \
     ORDER BY l.seq LIMIT ?3";

/// The changes a task grant delivers: every change, before the grant, of the task's records, if the task still
/// lists one of the teams (`?3`). Changes after the grant are log entries of their own, pulled in their turn, so
/// a page never holds a change beyond its cursor. A change between the device's cursor and the grant that an
/// earlier page already delivered comes again with the grant: harmless, since applying a change is idempotent.
const EXPAND_TASK: &str = "SELECT l.seq, l.record_id, l.bytes FROM records AS r \
     JOIN log AS l ON l.record_id = r.record_id AND l.kind = 'change' \
     WHERE r.task_id = ?1 AND l.seq < ?2 \
     AND EXISTS (SELECT 1 FROM task_teams AS t, json_each(?3) AS j WHERE t.task_id = ?1 AND t.team = j.value)";

/// The changes a record grant delivers: every change of the record before the grant, if the record is visible.
const EXPAND_RECORD: &str = "SELECT l.seq, l.record_id, l.bytes FROM log AS l \
     WHERE l.record_id = ?1 AND l.kind = 'change' AND l.seq < ?2 \
     AND EXISTS (SELECT 1 FROM records AS r WHERE r.record_id = ?1 AND (r.task_id IS NULL \
         OR EXISTS (SELECT 1 FROM task_teams AS t, json_each(?3) AS j WHERE t.task_id = r.task_id AND t.team = j.value)))";

const RECORD_COLUMNS: &str =
    "record_id, record_type, task_id, body, warnings, heads, conflicts, review_since, review_by";

/// Records visible to a set of teams (`?1`, a JSON array): task-less ones, and those of a task listing a team.
const HEADS_TEAMS: &str = "SELECT r.record_id, r.task_id, r.heads FROM records AS r \
     WHERE r.task_id IS NULL \
     OR EXISTS (SELECT 1 FROM task_teams AS t, json_each(?1) AS j WHERE t.task_id = r.task_id AND t.team = j.value)";

/// The server's storage in one SQLite file. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct SqliteStorage {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// `<data-dir>/tmp`: exports' temporary files, emptied at every open (what is there was left by a crash).
    scratch: PathBuf,
    server_id: Uuid,
    exports: super::export_thread::ExportThread,
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .field("server_id", &self.server_id)
            .finish()
    }
}

impl SqliteStorage {
    /// Opens (creating if needed) the data directory's database, brings its schema up to date and makes the server
    /// id on first use. Blocking: call it before serving, or from a blocking task.
    pub fn open(data_dir: &Path) -> Result<SqliteStorage, StorageError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StorageError::Database(format!("cannot create the data directory {}: {e}", data_dir.display()))
        })?;
        let path = data_dir.join(FILE_NAME);
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let server_id = server_id(&mut conn)?;
        let scratch = data_dir.join("tmp");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)
            .map_err(|e| StorageError::Database(format!("cannot create {}: {e}", scratch.display())))?;
        Ok(SqliteStorage {
            conn: Arc::new(Mutex::new(conn)),
            path,
            scratch,
            server_id,
            exports: super::export_thread::ExportThread::start()?,
        })
    }

    /// Runs `work` on the connection in tokio's blocking pool.
    async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere while holding the lock rolled its transaction back when it unwound (Transaction's
            // Drop), so the connection is still sound.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|e| StorageError::Database(format!("the storage task failed: {e}")))?
    }

    /// Runs `work` in a write transaction, committed if it succeeds.
    ///
    /// `BEGIN IMMEDIATE` takes SQLite's single write lock before the transaction reads anything, and sequence
    /// numbers (`log.seq`) are only allocated inside such a transaction. So one writer at a time allocates them, and
    /// transactions commit in the order of their sequence numbers: a reader can never see seq N+1 before N
    /// commits, and a cursor never skips an entry that commits later. This holds across connections and processes
    /// too (SQLite has one writer per database file), not only because of our mutex.
    async fn write<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }

    /// Runs `work` in a read transaction: every statement in it sees the same snapshot of the file.
    async fn read<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StorageError> + Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> StorageError {
        StorageError::Database(e.to_string())
    }
}

fn configure(conn: &Connection) -> Result<(), StorageError> {
    // WAL: pulls read while a push writes. FULL: an acknowledged change is on disk before the device drops it
    // from its outbox, power cut or not.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // A second connection (the admin CLI beside a running server) waits for the writer instead of failing.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // A push runs a dozen distinct statements and a pull up to five; rusqlite's default cache of 16 is too tight
    // once both run on one connection.
    conn.set_prepared_statement_cache_capacity(64);
    // Keep one plan per statement whatever the bound values: the pull plans are chosen to be index-driven and
    // must stay so (see the plan test below).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let known = MIGRATIONS.len() as i64;
    // Immediate, and the version read inside: two processes opening a fresh directory at once migrate it once.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > known {
        return Err(StorageError::NewerSchema { found: version, known });
    }
    let done = usize::try_from(version).map_err(|_| StorageError::Damaged(format!("schema version {version}")))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql)?;
        match i {
            1 => fill_missing_heads(&tx)?,
            2 => fill_review_and_conflicts(&tx)?,
            3 => {
                fill_actors(&tx)?;
                fill_review_by(&tx)?;
            }
            _ => {}
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    super::sqlite_layers::ensure(&tx)?;
    tx.commit()?;
    Ok(())
}

/// Migration 0002: records written before heads were stored get them from their changes in the log.
fn fill_missing_heads(tx: &Transaction<'_>) -> Result<(), StorageError> {
    for_each_logged_document(tx, "SELECT record_id FROM records WHERE heads = x''", |id, doc| {
        let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        tx.execute(
            "UPDATE records SET heads = ?2 WHERE record_id = ?1",
            params![id, heads_blob(&heads)],
        )?;
        Ok(())
    })
}

/// Migration 0003: records written before their open conflicts and review time were stored get them from their
/// changes in the log.
fn fill_review_and_conflicts(tx: &Transaction<'_>) -> Result<(), StorageError> {
    for_each_logged_document(tx, "SELECT record_id FROM records", |id, doc| {
        let conflicts =
            domain::document::conflicts(doc).map_err(|e| StorageError::Damaged(format!("document {id}: {e}")))?;
        let review_since = domain::document::set_at(doc, "review");
        tx.execute(
            "UPDATE records SET conflicts = ?2, review_since = ?3 WHERE record_id = ?1",
            params![id, json_text(&conflicts)?, review_since.as_ref().map(time_text)],
        )?;
        Ok(())
    })
}

/// Migration 0004: changes logged before actors were stored get theirs from their bytes.
fn fill_actors(tx: &Transaction<'_>) -> Result<(), StorageError> {
    let rows = tx
        .prepare("SELECT seq, bytes FROM log WHERE kind = 'change' AND actor IS NULL")?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut update = tx.prepare("UPDATE log SET actor = ?2 WHERE seq = ?1")?;
    for (seq, bytes) in rows {
        let change = automerge::Change::from_bytes(bytes)
            .map_err(|e| StorageError::Damaged(format!("logged change {seq}: {e}")))?;
        update.execute(params![seq, change.actor_id().to_bytes()])?;
    }
    Ok(())
}

/// Migration 0004: records written before the device behind their review status was stored get it from the log.
fn fill_review_by(tx: &Transaction<'_>) -> Result<(), StorageError> {
    for_each_logged_document(tx, "SELECT record_id FROM records", |id, doc| {
        let Some(hash) = domain::document::set_by(doc, "review") else {
            return Ok(());
        };
        tx.execute(
            "UPDATE records SET review_by = (SELECT device_id FROM log WHERE record_id = ?1 AND hash = ?2) \
             WHERE record_id = ?1",
            params![id, &hash.0[..]],
        )?;
        Ok(())
    })
}

/// Loads, one at a time, the document of each record `ids_sql` selects from its changes in the log.
fn for_each_logged_document(
    tx: &Transaction<'_>,
    ids_sql: &str,
    mut each: impl FnMut(&str, &automerge::Automerge) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let ids = tx
        .prepare(ids_sql)?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for id in ids {
        let changes = tx
            .prepare_cached("SELECT bytes FROM log WHERE record_id = ?1 AND kind = 'change' ORDER BY seq")?
            .query_map([&id], |r| r.get::<_, Vec<u8>>(0))?
            .map(|bytes| {
                automerge::Change::from_bytes(bytes?)
                    .map_err(|e| StorageError::Damaged(format!("stored change of {id}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut doc = automerge::Automerge::new();
        doc.apply_changes(changes)
            .map_err(|e| StorageError::Damaged(format!("document {id}: {e}")))?;
        each(&id, &doc)?;
    }
    Ok(())
}

/// Heads as stored: concatenated, in ascending order.
fn heads_blob(heads: &[[u8; 32]]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort_unstable();
    sorted.concat()
}

fn parse_heads(blob: &[u8]) -> Result<Vec<[u8; 32]>, StorageError> {
    if !blob.len().is_multiple_of(32) {
        return Err(StorageError::Damaged(format!("heads of {} bytes", blob.len())));
    }
    Ok(blob
        .chunks_exact(32)
        .map(|c| {
            let mut head = [0; 32];
            head.copy_from_slice(c);
            head
        })
        .collect())
}

/// The server id, made once per data directory.
fn server_id(conn: &mut Connection) -> Result<Uuid, StorageError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let candidate = Uuid::now_v7().to_string();
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('server_id', ?1)",
        params![candidate],
    )?;
    let text: String = tx.query_row("SELECT value FROM meta WHERE key = 'server_id'", [], |r| r.get(0))?;
    tx.commit()?;
    parse_uuid(&text, "server id")
}

impl Storage for SqliteStorage {
    fn server_id(&self) -> Uuid {
        self.server_id
    }

    async fn add_device(&self, new: NewDevice) -> Result<(), StorageError> {
        self.write(move |tx| {
            let device = &new.device;
            let id = device.id.to_string();
            let exists: Option<i64> = tx
                .query_row("SELECT 1 FROM devices WHERE device_id = ?1", [&id], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                return Err(StorageError::DuplicateDevice(device.id));
            }
            let taken: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM devices WHERE token_hash = ?1",
                    [&new.token_hash[..]],
                    |r| r.get(0),
                )
                .optional()?;
            if taken.is_some() {
                // Tokens are random 256-bit values: this is a bug in the caller, never a coincidence.
                return Err(StorageError::Database("another device already holds this token".into()));
            }
            tx.execute(
                "INSERT INTO devices (device_id, name, teams, role, token_hash, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    device.name,
                    json_text(&device.teams)?,
                    device.role.as_str(),
                    &new.token_hash[..],
                    time_text(&device.created_at),
                    device.revoked_at.as_ref().map(time_text),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn device_for_token(&self, token_hash: [u8; 32]) -> Result<Option<Device>, StorageError> {
        self.read(move |tx| {
            let raw = tx
                .prepare_cached(&format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1"))?
                .query_row([&token_hash[..]], RawDevice::from_row)
                .optional()?;
            raw.map(RawDevice::decode).transpose()
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<Device>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, device_id"
            ))?;
            let raws = stmt
                .query_map([], RawDevice::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawDevice::decode).collect()
        })
        .await
    }

    async fn revoke_device(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StorageError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE devices SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![id.to_string(), time_text(&at)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn record(&self, id: Uuid) -> Result<Option<RecordRow>, StorageError> {
        self.read(move |tx| {
            let raw = tx
                .prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM records WHERE record_id = ?1"))?
                .query_row([id.to_string()], RawRecord::from_row)
                .optional()?;
            raw.map(|raw| raw.decode(tx)).transpose()
        })
        .await
    }

    async fn records_of_task(&self, task_id: Uuid) -> Result<Vec<RecordRow>, StorageError> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE task_id = ?1 ORDER BY record_id"
            ))?;
            let raws = stmt
                .query_map([task_id.to_string()], RawRecord::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(|raw| raw.decode(tx)).collect()
        })
        .await
    }

    async fn record_ids(&self, record_type: RecordType) -> Result<Vec<Uuid>, StorageError> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT record_id FROM records WHERE record_type = ?1 ORDER BY record_id")?;
            let ids = stmt.query_map([record_type.as_str()], |r| r.get::<_, String>(0))?;
            ids.map(|id| parse_uuid(&id?, "record id")).collect()
        })
        .await
    }

    async fn tasks_covering(&self, hazard_area: Uuid) -> Result<Vec<Uuid>, StorageError> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT task_id FROM task_hazards WHERE hazard_id = ?1 ORDER BY task_id")?;
            let ids = stmt.query_map([hazard_area.to_string()], |r| r.get::<_, String>(0))?;
            ids.map(|id| parse_uuid(&id?, "task id")).collect()
        })
        .await
    }

    async fn document_changes(&self, id: Uuid) -> Result<Vec<Vec<u8>>, StorageError> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT bytes FROM log WHERE record_id = ?1 AND kind = 'change' ORDER BY seq")?;
            let bytes = stmt.query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))?;
            Ok(bytes.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn change_pushers(&self, id: Uuid) -> Result<Vec<([u8; 32], Uuid)>, StorageError> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT hash, device_id FROM log WHERE record_id = ?1 AND kind = 'change' ORDER BY seq",
            )?;
            let rows = stmt.query_map([id.to_string()], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (hash, device) = row?;
                let hash = <[u8; 32]>::try_from(hash.as_slice())
                    .map_err(|_| StorageError::Damaged(format!("a change hash of record {id}")))?;
                Ok((hash, parse_uuid(&device, "pushing device id")?))
            })
            .collect()
        })
        .await
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    async fn logged_records(&self) -> Result<Vec<Uuid>, StorageError> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare("SELECT record_id FROM log WHERE kind = 'change' GROUP BY record_id ORDER BY min(seq)")?;
            let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
            ids.map(|id| parse_uuid(&id?, "logged record id")).collect()
        })
        .await
    }

    async fn document(&self, id: Uuid) -> Result<StoredDocument, StorageError> {
        self.read(move |tx| {
            let snapshot = tx
                .prepare_cached("SELECT covers_seq, bytes FROM snapshots WHERE record_id = ?1")?
                .query_row([id.to_string()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .optional()?;
            let covers = snapshot.as_ref().map_or(0, |(seq, _)| *seq);
            let changes = tx
                .prepare_cached(
                    "SELECT bytes FROM log WHERE record_id = ?1 AND kind = 'change' AND seq > ?2 ORDER BY seq",
                )?
                .query_map(params![id.to_string(), covers], |r| r.get::<_, Vec<u8>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(StoredDocument {
                snapshot: snapshot.map(|(_, bytes)| bytes),
                changes,
            })
        })
        .await
    }

    async fn append(&self, batch: Batch) -> Result<usize, StorageError> {
        self.write(move |tx| {
            let mut new = 0;
            for ingest in batch.ingests {
                new += append_ingest(tx, ingest)?;
            }
            for item in batch.quarantined {
                append_quarantined(tx, item)?;
            }
            Ok(new)
        })
        .await
    }

    async fn actor_owner(&self, actor: &[u8]) -> Result<Option<Uuid>, StorageError> {
        let actor = actor.to_vec();
        self.read(move |tx| {
            let device: Option<String> = tx
                .prepare_cached("SELECT device_id FROM log WHERE actor = ?1 ORDER BY seq LIMIT 1")?
                .query_row([actor], |r| r.get(0))
                .optional()?;
            device.map(|d| parse_uuid(&d, "device id")).transpose()
        })
        .await
    }

    async fn quarantined(&self) -> Result<Vec<Quarantined>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, device_id, record_id, change_hash, bytes, code, message, issues, received_at \
                 FROM quarantine ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(
                    |(id, device_id, record_id, change_hash, bytes, code, message, issues, received_at)| {
                        Ok(Quarantined {
                            id,
                            item: NewQuarantined {
                                device_id: parse_uuid(&device_id, "quarantined device id")?,
                                record_id: parse_uuid(&record_id, "quarantined record id")?,
                                change_hash,
                                bytes,
                                code,
                                message,
                                issues: parse_json(&issues, "quarantined issues")?,
                                received_at: parse_time(&received_at, "quarantined received_at")?,
                            },
                        })
                    },
                )
                .collect()
        })
        .await
    }

    async fn pull(
        &self,
        visibility: &Visibility,
        except_device: Option<Uuid>,
        after: u64,
        limit: u32,
    ) -> Result<Page, StorageError> {
        let teams = match visibility {
            Visibility::All => None,
            Visibility::Teams(teams) => Some(json_text(teams)?),
        };
        let except = except_device.map(|d| d.to_string());
        self.read(move |tx| pull(tx, teams.as_deref(), except.as_deref(), after, limit))
            .await
    }

    async fn last_seq(&self) -> Result<u64, StorageError> {
        self.read(last_seq).await
    }

    async fn cursor_check(&self, seq: u64) -> Result<Option<[u8; 8]>, StorageError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.read(move |tx| {
            let entry = tx
                .prepare_cached(
                    "SELECT kind, record_id, task_id, team, hash, device_id, received_at FROM log WHERE seq = ?1",
                )?
                .query_row([seq], |r| {
                    Ok([
                        r.get::<_, String>(0)?.into_bytes(),
                        r.get::<_, Option<String>>(1)?.unwrap_or_default().into_bytes(),
                        r.get::<_, Option<String>>(2)?.unwrap_or_default().into_bytes(),
                        r.get::<_, Option<String>>(3)?.unwrap_or_default().into_bytes(),
                        r.get::<_, Option<Vec<u8>>>(4)?.unwrap_or_default(),
                        r.get::<_, Option<String>>(5)?.unwrap_or_default().into_bytes(),
                        r.get::<_, String>(6)?.into_bytes(),
                    ])
                })
                .optional()?;
            Ok(entry.map(|fields| {
                let mut hasher = Sha256::new();
                hasher.update(seq.to_be_bytes());
                for field in fields {
                    // Length-prefixed, so that no two different entries hash the same bytes.
                    hasher.update((field.len() as u64).to_be_bytes());
                    hasher.update(field);
                }
                let mut check = [0; 8];
                check.copy_from_slice(&hasher.finalize()[..8]);
                check
            }))
        })
        .await
    }

    async fn statistics(
        &self,
        filter: &crate::statistics::Filter,
    ) -> Result<crate::statistics::Statistics, StorageError> {
        let filter = filter.clone();
        self.read(move |tx| super::sqlite_statistics::statistics(tx, &filter))
            .await
    }

    async fn export(
        &self,
        request: crate::export::ExportRequest,
        mut progress: impl FnMut(&str, u64) + Send + 'static,
    ) -> Result<crate::export::ExportSummary, StorageError> {
        let path = self.path.clone();
        let output = request.clone();
        self.exports
            .run(
                move || super::sqlite_export::export(&path, &request, &mut progress),
                move || output.discard_output(),
            )
            .await
    }

    async fn map(&self, bbox: Option<crate::map::BBox>, limit: u32) -> Result<crate::map::MapView, StorageError> {
        self.read(move |tx| super::sqlite_map::map(tx, bbox, limit)).await
    }

    async fn totals(&self, filter: &crate::statistics::Filter) -> Result<crate::statistics::Totals, StorageError> {
        let filter = filter.clone();
        self.read(move |tx| super::sqlite_statistics::totals(tx, &filter)).await
    }

    async fn heads_in_scope(&self, visibility: &Visibility) -> Result<Vec<RecordHeads>, StorageError> {
        let teams = match visibility {
            Visibility::All => None,
            Visibility::Teams(teams) => Some(json_text(teams)?),
        };
        self.read(move |tx| {
            let row = |r: &rusqlite::Row<'_>| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            };
            let rows = match &teams {
                None => tx
                    .prepare_cached("SELECT record_id, task_id, heads FROM records")?
                    .query_map([], row)?
                    .collect::<Result<Vec<_>, _>>()?,
                Some(teams) => tx
                    .prepare_cached(HEADS_TEAMS)?
                    .query_map([teams], row)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            rows.into_iter()
                .map(|(record_id, task_id, heads)| {
                    Ok(RecordHeads {
                        record_id: parse_uuid(&record_id, "record id")?,
                        task_id: task_id.as_deref().map(|t| parse_uuid(t, "task id")).transpose()?,
                        heads: parse_heads(&heads)?,
                    })
                })
                .collect()
        })
        .await
    }
}

/// One accepted push: its new changes, the record's row (with its heads), a task's scope, grants and a snapshot.
fn append_ingest(tx: &Transaction<'_>, ingest: Ingest) -> Result<usize, StorageError> {
    let Ingest {
        record,
        changes,
        device_id,
        received_at,
        grants,
        snapshot,
        feature,
    } = ingest;
    let record_id = record.record_id.to_string();
    let device_id = device_id.to_string();
    let received_at = time_text(&received_at);

    let mut new = 0;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO log (kind, record_id, hash, bytes, device_id, received_at, actor) \
         VALUES ('change', ?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for change in &changes {
        // Ignored when log_change_identity already holds (record, hash): a retried push adds nothing.
        new += insert.execute(params![
            record_id,
            &change.hash[..],
            change.bytes,
            device_id,
            received_at,
            change.actor,
        ])?;
    }

    tx.prepare_cached(
        "INSERT INTO records (record_id, record_type, task_id, last_seq, body, warnings, heads, conflicts, \
             review_since, review_by) \
         VALUES (?1, ?2, ?3, \
             COALESCE((SELECT max(seq) FROM log WHERE record_id = ?1 AND kind = 'change'), 0), ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (record_id) DO UPDATE SET record_type = excluded.record_type, \
             task_id = excluded.task_id, last_seq = excluded.last_seq, body = excluded.body, \
             warnings = excluded.warnings, heads = excluded.heads, conflicts = excluded.conflicts, \
             review_since = excluded.review_since, review_by = excluded.review_by",
    )?
    .execute(params![
        record_id,
        record.record_type.as_str(),
        record.task_id.map(|t| t.to_string()),
        json_text(&record.body)?,
        json_text(&record.warnings)?,
        heads_blob(&record.heads),
        json_text(&record.conflicts)?,
        record.review_since.as_ref().map(time_text),
        record.review_by.map(|d| d.to_string()),
    ])?;

    if record.record_type == RecordType::Task {
        // The task's scope and coverage are replaced whole, in the same transaction as the row, so no
        // pull sees the new task row with its old teams.
        tx.prepare_cached("DELETE FROM task_teams WHERE task_id = ?1")?
            .execute([&record_id])?;
        let mut team = tx.prepare_cached("INSERT INTO task_teams (task_id, team) VALUES (?1, ?2)")?;
        for name in &record.task_teams {
            team.execute(params![record_id, name])?;
        }
        tx.prepare_cached("DELETE FROM task_hazards WHERE task_id = ?1")?
            .execute([&record_id])?;
        let mut hazard = tx.prepare_cached("INSERT INTO task_hazards (task_id, hazard_id) VALUES (?1, ?2)")?;
        for hazard_id in &record.hazard_areas {
            hazard.execute(params![record_id, hazard_id.to_string()])?;
        }
    }

    let mut grant_task = tx.prepare_cached(
        "INSERT INTO log (kind, task_id, team, device_id, received_at) VALUES ('grant_task', ?1, ?2, ?3, ?4)",
    )?;
    let mut grant_record = tx.prepare_cached(
        "INSERT INTO log (kind, record_id, team, device_id, received_at) \
         VALUES ('grant_record', ?1, ?2, ?3, ?4)",
    )?;
    for grant in &grants {
        match grant {
            Grant::Task { task_id, team } => {
                grant_task.execute(params![task_id.to_string(), team, device_id, received_at])?
            }
            Grant::Record { record_id, team } => {
                grant_record.execute(params![record_id.to_string(), team, device_id, received_at])?
            }
        };
    }
    if let Some(feature) = &feature {
        super::sqlite_layers::upsert(tx, record.record_type, feature)?;
    }
    if let Some(bytes) = snapshot {
        // It covers every change of the record, including those this push just appended.
        tx.prepare_cached(
            "INSERT INTO snapshots (record_id, covers_seq, bytes) \
             VALUES (?1, (SELECT max(seq) FROM log WHERE record_id = ?1 AND kind = 'change'), ?2) \
             ON CONFLICT (record_id) DO UPDATE SET covers_seq = excluded.covers_seq, bytes = excluded.bytes",
        )?
        .execute(params![record_id, bytes])?;
    }
    Ok(new)
}

/// One refused change, kept for review.
fn append_quarantined(tx: &Transaction<'_>, item: NewQuarantined) -> Result<(), StorageError> {
    tx.prepare_cached(
        "INSERT INTO quarantine (device_id, record_id, change_hash, bytes, code, message, issues, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        item.device_id.to_string(),
        item.record_id.to_string(),
        item.change_hash,
        item.bytes,
        item.code,
        item.message,
        json_text(&item.issues)?,
        time_text(&item.received_at),
    ])?;
    Ok(())
}

/// One visible log entry: a change (with its bytes) or a grant.
struct Entry {
    seq: i64,
    kind: String,
    record_id: Option<String>,
    task_id: Option<String>,
    bytes: Option<Vec<u8>>,
    device_id: Option<String>,
}

/// A pull in one read transaction, so the page and the cursor computed from the log's end agree.
/// `teams` is the JSON array of the device's teams, or None for a device that sees everything.
fn pull(
    tx: &Transaction<'_>,
    teams: Option<&str>,
    except_device: Option<&str>,
    after: u64,
    limit: u32,
) -> Result<Page, StorageError> {
    // A limit of 0 would return nothing and never advance; one entry is the least a page can cover.
    let limit = limit.max(1) as usize;
    // One entry beyond the page tells whether a visible entry remains, so `more` never asks the device for an
    // empty page.
    let fetch = limit as i64 + 1;
    let after_sql = i64::try_from(after).unwrap_or(i64::MAX);
    let mut entries = match teams {
        None => {
            let mut stmt = tx.prepare_cached(PULL_ALL)?;
            stmt.query_map(params![after_sql, fetch], Entry::from_row)?
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(teams) => {
            let mut stmt = tx.prepare_cached(PULL_TEAMS)?;
            stmt.query_map(params![after_sql, teams, fetch], Entry::from_row)?
                .collect::<Result<Vec<_>, _>>()?
        }
    };

    let more = entries.len() > limit;
    entries.truncate(limit);
    let cursor = match entries.last() {
        Some(last) if more => parse_seq(last.seq)?,
        // Nothing visible remains: move past everything this device cannot see, so its next idle pull starts at
        // the end of the log and scans nothing.
        _ => after.max(last_seq(tx)?),
    };

    // Keyed by seq: the page is in log order, and a change both granted and listed on its own is sent once.
    let mut changes = BTreeMap::new();
    for entry in entries {
        let seq = entry.seq;
        let expanded = match (entry.kind.as_str(), teams) {
            // The device that pushed a change has it: covered by the page, not sent back.
            ("change", _) if except_device.is_some() && entry.device_id.as_deref() == except_device => vec![],
            ("change", _) => {
                let record_id = entry.record_id.ok_or_else(|| damaged_entry(seq))?;
                let bytes = entry.bytes.ok_or_else(|| damaged_entry(seq))?;
                vec![(seq, record_id, bytes)]
            }
            ("grant_task", Some(teams)) => {
                let task_id = entry.task_id.ok_or_else(|| damaged_entry(seq))?;
                tx.prepare_cached(EXPAND_TASK)?
                    .query_map(params![task_id, seq, teams], change_from_row)?
                    .collect::<Result<Vec<_>, _>>()?
            }
            ("grant_record", Some(teams)) => {
                let record_id = entry.record_id.ok_or_else(|| damaged_entry(seq))?;
                tx.prepare_cached(EXPAND_RECORD)?
                    .query_map(params![record_id, seq, teams], change_from_row)?
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => return Err(damaged_entry(seq)),
        };
        for (seq, record_id, bytes) in expanded {
            let seq = parse_seq(seq)?;
            changes.insert(
                seq,
                LogChange {
                    seq,
                    record_id: parse_uuid(&record_id, "record id")?,
                    bytes,
                    snapshot: false,
                },
            );
        }
    }
    send_snapshots(tx, &mut changes, cursor)?;
    Ok(Page {
        changes: changes.into_values().collect(),
        cursor,
        more,
    })
}

/// For each record whose first change is in the page (the device lacks the record), puts the record's snapshot,
/// if one covers no change beyond the page, in place of the changes it covers. The snapshot takes the first
/// change's place in log order; changes after it (the tail) stay.
fn send_snapshots(
    tx: &Transaction<'_>,
    changes: &mut BTreeMap<u64, LogChange>,
    cursor: u64,
) -> Result<(), StorageError> {
    let records: BTreeSet<Uuid> = changes.values().map(|c| c.record_id).collect();
    let mut first = tx.prepare_cached("SELECT min(seq) FROM log WHERE record_id = ?1 AND kind = 'change'")?;
    let mut snapshot = tx.prepare_cached("SELECT covers_seq, bytes FROM snapshots WHERE record_id = ?1")?;
    for record_id in records {
        let id = record_id.to_string();
        let Some(first_seq) = first.query_row([&id], |r| r.get::<_, Option<i64>>(0))? else {
            continue;
        };
        let first_seq = parse_seq(first_seq)?;
        if !changes.contains_key(&first_seq) {
            continue;
        }
        let Some((covers, bytes)) = snapshot
            .query_row([&id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .optional()?
        else {
            continue;
        };
        let covers = parse_seq(covers)?;
        if covers > cursor {
            continue;
        }
        changes.retain(|seq, c| c.record_id != record_id || *seq > covers);
        changes.insert(
            first_seq,
            LogChange {
                seq: first_seq,
                record_id,
                bytes,
                snapshot: true,
            },
        );
    }
    Ok(())
}

fn last_seq(tx: &Transaction<'_>) -> Result<u64, StorageError> {
    // max() of the rowid reads one page at the end of the table's b-tree.
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(max(seq), 0) FROM log")?
        .query_row([], |r| r.get(0))?;
    parse_seq(seq)
}

impl Entry {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
        Ok(Entry {
            seq: row.get(0)?,
            kind: row.get(1)?,
            record_id: row.get(2)?,
            task_id: row.get(3)?,
            bytes: row.get(4)?,
            device_id: row.get(5)?,
        })
    }
}

fn change_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn damaged_entry(seq: i64) -> StorageError {
    StorageError::Damaged(format!("log entry {seq} lacks the columns of its kind"))
}

const DEVICE_COLUMNS: &str = "device_id, name, teams, role, created_at, revoked_at";

struct RawDevice {
    id: String,
    name: String,
    teams: String,
    role: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl RawDevice {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawDevice> {
        Ok(RawDevice {
            id: row.get(0)?,
            name: row.get(1)?,
            teams: row.get(2)?,
            role: row.get(3)?,
            created_at: row.get(4)?,
            revoked_at: row.get(5)?,
        })
    }

    fn decode(self) -> Result<Device, StorageError> {
        Ok(Device {
            id: parse_uuid(&self.id, "device id")?,
            name: self.name,
            teams: parse_json(&self.teams, "device teams")?,
            role: Role::parse(&self.role)
                .ok_or_else(|| StorageError::Damaged(format!("unknown device role {:?}", self.role)))?,
            created_at: parse_time(&self.created_at, "device created_at")?,
            revoked_at: self
                .revoked_at
                .as_deref()
                .map(|t| parse_time(t, "device revoked_at"))
                .transpose()?,
        })
    }
}

struct RawRecord {
    record_id: String,
    record_type: String,
    task_id: Option<String>,
    body: String,
    warnings: String,
    heads: Vec<u8>,
    conflicts: String,
    review_since: Option<String>,
    review_by: Option<String>,
}

impl RawRecord {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
        Ok(RawRecord {
            record_id: row.get(0)?,
            record_type: row.get(1)?,
            task_id: row.get(2)?,
            body: row.get(3)?,
            warnings: row.get(4)?,
            heads: row.get(5)?,
            conflicts: row.get(6)?,
            review_since: row.get(7)?,
            review_by: row.get(8)?,
        })
    }

    /// The row as a [`RecordRow`]; a task's teams and hazard areas come from their own tables.
    fn decode(self, tx: &Transaction<'_>) -> Result<RecordRow, StorageError> {
        let record_type = RecordType::parse(&self.record_type)
            .ok_or_else(|| StorageError::Damaged(format!("unknown record type {:?}", self.record_type)))?;
        let (mut task_teams, mut hazard_areas) = (BTreeSet::new(), BTreeSet::new());
        if record_type == RecordType::Task {
            let mut teams = tx.prepare_cached("SELECT team FROM task_teams WHERE task_id = ?1")?;
            for team in teams.query_map([&self.record_id], |r| r.get::<_, String>(0))? {
                task_teams.insert(team?);
            }
            let mut hazards = tx.prepare_cached("SELECT hazard_id FROM task_hazards WHERE task_id = ?1")?;
            for hazard in hazards.query_map([&self.record_id], |r| r.get::<_, String>(0))? {
                hazard_areas.insert(parse_uuid(&hazard?, "hazard area id")?);
            }
        }
        Ok(RecordRow {
            record_id: parse_uuid(&self.record_id, "record id")?,
            record_type,
            task_id: self.task_id.as_deref().map(|t| parse_uuid(t, "task id")).transpose()?,
            task_teams,
            hazard_areas,
            body: parse_json(&self.body, "record body")?,
            warnings: parse_json::<Vec<Issue>>(&self.warnings, "record warnings")?,
            heads: parse_heads(&self.heads)?,
            conflicts: parse_json(&self.conflicts, "record conflicts")?,
            review_since: self
                .review_since
                .as_deref()
                .map(|t| parse_time(t, "record review_since"))
                .transpose()?,
            review_by: self
                .review_by
                .as_deref()
                .map(|d| parse_uuid(d, "review_by"))
                .transpose()?,
        })
    }
}

fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Database(format!("cannot encode JSON: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Damaged(format!("{what} is not valid JSON: {e}")))
}

fn parse_uuid(text: &str, what: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(text).map_err(|e| StorageError::Damaged(format!("{what} {text:?} is not a UUID: {e}")))
}

fn parse_seq(seq: i64) -> Result<u64, StorageError> {
    u64::try_from(seq).map_err(|_| StorageError::Damaged(format!("negative sequence number {seq}")))
}

/// RFC 3339 in UTC with every stored fraction of a second, so a time reads back equal to what was written.
fn time_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn parse_time(text: &str, what: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StorageError::Damaged(format!("{what} {text:?} is not an RFC 3339 time: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use domain::Record;

    /// HQ's materialized table of finds holds the pushed find's typed row, and is rebuilt from `records` when its
    /// layout is not the one this build makes.
    #[tokio::test]
    async fn layer_tables_follow_each_ingest_and_are_rebuilt_when_their_layout_changes() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let json: serde_json::Value = serde_json::from_str(include_str!("../../../docs/examples/find.json")).unwrap();
        let find = Record::from_json(json, Uuid::now_v7()).unwrap();
        let (doc, change) = domain::document::create(&find, automerge::ActorId::random(), &author(), 1_000).unwrap();
        let ingest = Ingest {
            record: crate::ingress::row_of(&find, vec![], vec![], &doc),
            changes: vec![super::super::NewChange {
                hash: change.hash().0,
                bytes: change.raw_bytes().to_vec(),
                actor: change.actor_id().to_bytes().to_vec(),
            }],
            device_id: Uuid::now_v7(),
            received_at: Utc::now(),
            grants: vec![],
            snapshot: None,
            feature: Some(layers::feature(&find)),
        };
        storage.ingest(ingest).await.unwrap();
        drop(storage);

        let read = |path: &Path| {
            let conn = Connection::open(path.join(FILE_NAME)).unwrap();
            conn.query_row(
                "SELECT record_id, category, model, quantity, depth_cm, date_of_information, min_lon, max_lat \
                 FROM layer_finds",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, f64>(6)?,
                        r.get::<_, f64>(7)?,
                    ))
                },
            )
            .unwrap()
        };
        let row = read(dir.path());
        let expected = (
            find.id().to_string(),
            "ap_mine".to_string(),
            "PMN-2".to_string(),
            1,
            8,
            "2026-11-20".to_string(),
            47.50018,
            40.50021,
        );
        assert_eq!(row, expected);

        // A build whose layer schema differs: the tables are dropped, made again and filled from `records`.
        let conn = Connection::open(dir.path().join(FILE_NAME)).unwrap();
        conn.execute_batch(
            "DELETE FROM layer_finds; UPDATE meta SET value = 'another layout' WHERE key = 'layer_tables';",
        )
        .unwrap();
        drop(conn);
        drop(SqliteStorage::open(dir.path()).unwrap());
        assert_eq!(read(dir.path()), expected);
    }

    fn author() -> domain::Authorship {
        domain::Authorship {
            device_id: Uuid::nil(),
            device: "Team 3 tablet".into(),
            user: "A. Aliyev".into(),
            action: "create".into(),
        }
    }

    /// A data directory of schema 1 gets each record's heads (0002), open conflicts and review time (0003), and
    /// each change's writer and the device behind the review status (0004) from its changes when migrated.
    #[test]
    fn migrating_fills_in_what_later_schemas_read_off_each_document() {
        let json: serde_json::Value = serde_json::from_str(include_str!("../../../docs/examples/find.json")).unwrap();
        let find = Record::from_json(json, Uuid::now_v7()).unwrap();
        let (mut tablet, _) = domain::document::create(&find, automerge::ActorId::random(), &author(), 1_000).unwrap();
        // The supervisor's laptop and the tablet change the quantity concurrently.
        let mut laptop = tablet.fork().with_actor(automerge::ActorId::random());
        let mut edited = find.clone();
        for (doc, quantity, time) in [(&mut tablet, 2, 2_000), (&mut laptop, 3, 2_100)] {
            if let domain::RecordBody::Find(f) = &mut edited.body {
                f.quantity = quantity;
            }
            domain::document::edit(doc, &edited, &author(), time).unwrap();
        }
        tablet.merge(&mut laptop).unwrap();
        let changes = tablet.get_changes(&[]);
        assert_eq!(changes.len(), 3);

        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        let id = find.id().to_string();
        let (creator, other) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
        for change in &changes {
            let pusher = if change.deps().is_empty() { &creator } else { &other };
            conn.execute(
                "INSERT INTO log (kind, record_id, hash, bytes, device_id, received_at) \
                 VALUES ('change', ?1, ?2, ?3, ?4, '2026-11-20T12:00:00Z')",
                params![id, &change.hash().0[..], change.raw_bytes(), pusher],
            )
            .unwrap();
        }
        // A real record body: opening also fills HQ's tables from `records`.
        conn.execute(
            "INSERT INTO records (record_id, record_type, task_id, last_seq, body, warnings) \
             VALUES (?1, 'find', NULL, 3, ?2, '[]')",
            params![id, find.to_json().to_string()],
        )
        .unwrap();
        migrate(&mut conn).unwrap();

        let (heads, conflicts, review_since): (Vec<u8>, String, Option<String>) = conn
            .query_row(
                "SELECT heads, conflicts, review_since FROM records WHERE record_id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let expected: Vec<[u8; 32]> = tablet.get_heads().iter().map(|h| h.0).collect();
        assert_eq!(expected.len(), 2);
        assert_eq!(heads, heads_blob(&expected));
        let conflicts: Vec<domain::FieldConflict> = serde_json::from_str(&conflicts).unwrap();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].field, "quantity");
        let mut values: Vec<_> = conflicts[0].candidates.iter().map(|c| c.value.clone()).collect();
        values.sort_by_key(|v| v.as_i64());
        assert_eq!(values, vec![serde_json::json!(2), serde_json::json!(3)]);
        // The review status was set when the tablet created the find; neither edit touched it.
        assert_eq!(review_since.as_deref(), Some("1970-01-01T00:16:40Z"));
        let review_by: Option<String> = conn
            .query_row("SELECT review_by FROM records WHERE record_id = ?1", [&id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(
            review_by,
            Some(creator),
            "the device that pushed the creation set the review status"
        );
        let actors: Vec<Vec<u8>> = conn
            .prepare("SELECT actor FROM log ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<Vec<u8>> = changes.iter().map(|c| c.actor_id().to_bytes().to_vec()).collect();
        assert_eq!(actors, expected);
    }

    /// The query plan of `sql`, one line per step, indented by depth.
    fn plan(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(params, |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(3)?))
        });
        let rows: Vec<(i64, i64, String)> = rows.unwrap().collect::<Result<_, _>>().unwrap();
        let mut depth = BTreeMap::new();
        rows.into_iter()
            .map(|(id, parent, detail)| {
                let d = depth.get(&parent).map_or(0, |d| d + 1);
                depth.insert(id, d);
                format!("{}{detail}", "  ".repeat(d))
            })
            .collect()
    }

    /// Every pull statement is driven by an index: the log is searched from the cursor by its primary key (so a
    /// pull after the last cursor reads nothing), and no table is scanned whole. Only json_each (the device's few
    /// teams) is scanned.
    #[test]
    fn pull_queries_are_index_driven() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path()).unwrap();
        let conn = storage.conn.lock().unwrap();
        let teams = r#"["alpha","bravo"]"#;
        let plans = [
            ("PULL_ALL", plan(&conn, PULL_ALL, params![7, 101])),
            ("PULL_TEAMS", plan(&conn, PULL_TEAMS, params![7, teams, 101])),
            ("EXPAND_TASK", plan(&conn, EXPAND_TASK, params!["t", 9, teams])),
            ("EXPAND_RECORD", plan(&conn, EXPAND_RECORD, params!["r", 9, teams])),
            ("last_seq", plan(&conn, "SELECT COALESCE(max(seq), 0) FROM log", [])),
        ];
        for (name, steps) in &plans {
            println!("{name}:\n  {}", steps.join("\n  "));
            for step in steps {
                let step = step.trim_start();
                assert!(
                    !step.starts_with("SCAN") || step.contains("VIRTUAL TABLE"),
                    "{name} scans a table: {step}\n{}",
                    steps.join("\n")
                );
                assert!(
                    !step.contains("TEMP B-TREE"),
                    "{name} sorts: {step}\n{}",
                    steps.join("\n")
                );
            }
        }
        for name in ["PULL_ALL", "PULL_TEAMS"] {
            let steps = &plans.iter().find(|(n, _)| *n == name).unwrap().1;
            assert!(
                steps[0].contains("USING INTEGER PRIMARY KEY (rowid>?)"),
                "{name}: {}",
                steps.join("\n")
            );
        }
    }
}
