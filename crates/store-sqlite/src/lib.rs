//! The sync store and HQ's read model on an embedded SQLite file: `<data_dir>/fieldsync-server.db`.
//!
//! One connection behind a mutex, used from tokio's blocking pool, so request handlers never block the runtime.
//! Sequence numbers are allocated one writer at a time: see [`SqliteStorage::write`].

mod append;
mod enrollment;
mod export;
mod export_thread;
mod layer_tables;
mod map;
mod migrate;
mod pull;
mod quarantine;
mod read_model;
mod relay;
mod rows;
mod statistics;
mod sync_store;
#[cfg(test)]
mod tests;

use crate::migrate::migrate;
use crate::rows::parse_uuid;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use std::fmt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use sync_core::store::StorageError;
use uuid::Uuid;

/// The database's file name in the data directory.
pub(crate) const FILE_NAME: &str = "fieldsync-server.db";

/// The server's storage in one SQLite file, keeping the sync store and HQ's read model. Cheap to clone: clones
/// share the connections.
#[derive(Clone)]
pub struct SqliteStorage {
    /// Write transactions (SQLite has one writer per file anyway).
    conn: Arc<Mutex<Connection>>,
    /// Read transactions, on a connection of their own: in WAL mode a reader sees the last commit while a write
    /// is under way, so pulls, logins and HQ's figures never wait for a push's slice to commit.
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// `<data-dir>/tmp`: exports' temporary files, emptied at every open (what is there was left by a crash).
    scratch: PathBuf,
    server_id: Uuid,
    exports: crate::export_thread::ExportThread,
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
    /// Whether `data_dir` holds a server's database: the commands that only read or change existing data refuse a
    /// directory that does not, rather than make an empty one (a mistyped `--data-dir` would report zeros).
    pub fn holds_data(data_dir: &Path) -> bool {
        data_dir.join(FILE_NAME).is_file()
    }

    /// Opens (creating if needed) the data directory's database, brings its schema up to date and makes the server
    /// id on first use. Blocking: call it before serving, or from a blocking task.
    pub fn open(data_dir: &Path) -> Result<SqliteStorage, StorageError> {
        Ok(SqliteStorage::open_file(data_dir)?)
    }

    fn open_file(data_dir: &Path) -> Result<SqliteStorage, Error> {
        // The data directory and its database are the server's user's alone (0700, 0600): they hold every record
        // and every device's token hash. A directory that exists already keeps the permissions it was given.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|e| {
                StorageError::Database(format!("cannot create the data directory {}: {e}", data_dir.display()))
            })?;
        let path = data_dir.join(FILE_NAME);
        if !path.exists() {
            // SQLite gives the WAL and shared-memory files the database file's permissions.
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| StorageError::Database(format!("cannot create {}: {e}", path.display())))?;
        }
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        migrate(&mut conn)?;
        let server_id = server_id(&mut conn)?;
        let reader = Connection::open(&path)?;
        configure(&reader)?;
        let scratch = data_dir.join("tmp");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)
            .map_err(|e| StorageError::Database(format!("cannot create {}: {e}", scratch.display())))?;
        Ok(SqliteStorage {
            conn: Arc::new(Mutex::new(conn)),
            reader: Arc::new(Mutex::new(reader)),
            path,
            scratch,
            server_id,
            exports: crate::export_thread::ExportThread::start()?,
        })
    }

    /// Runs `work` on a connection in tokio's blocking pool.
    async fn run<T, F>(conn: &Arc<Mutex<Connection>>, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let conn = Arc::clone(conn);
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere while holding the lock rolled its transaction back when it unwound (Transaction's
            // Drop), so the connection is still sound.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn).map_err(StorageError::from)
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
        F: FnOnce(&Transaction<'_>) -> Result<T, Error> + Send + 'static,
    {
        Self::run(&self.conn, move |conn| {
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
        F: FnOnce(&Transaction<'_>) -> Result<T, Error> + Send + 'static,
    {
        Self::run(&self.reader, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

/// An error inside the backend: SQLite's own, or one the contract names. Every method of the contracts turns it
/// into a [`StorageError`] (SQLite's become `Database`, with SQLite's message).
#[derive(Debug)]
pub(crate) struct Error(StorageError);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error(StorageError::Database(e.to_string()))
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Error {
        Error(e)
    }
}

impl From<Error> for StorageError {
    fn from(e: Error) -> StorageError {
        e.0
    }
}

fn configure(conn: &Connection) -> Result<(), Error> {
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
    // must stay so (see `pull_queries_are_index_driven` in tests.rs).
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// The server id, made once per data directory.
fn server_id(conn: &mut Connection) -> Result<Uuid, Error> {
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
