#![allow(clippy::unwrap_used)]
//! The sync store contract (sync_core::store) checked on the SQLite backend with the suite every backend runs
//! (sync_core::testing), and what is the SQLite backend's own: its schema version and its data directory.

use store_sqlite::SqliteStorage;
use sync_core::store::{StorageError, SyncStore};
use sync_core::testing::Backend;

struct Sqlite {
    store: SqliteStorage,
    dir: tempfile::TempDir,
}

impl Backend for Sqlite {
    type S = SqliteStorage;

    async fn fresh() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        Sqlite {
            store: SqliteStorage::open(dir.path()).unwrap(),
            dir,
        }
    }

    fn store(&self) -> &SqliteStorage {
        &self.store
    }

    async fn reopen(self) -> Sqlite {
        let Sqlite { store, dir } = self;
        drop(store);
        Sqlite {
            store: SqliteStorage::open(dir.path()).unwrap(),
            dir,
        }
    }
}

mod sqlite {
    use super::*;

    sync_core::sync_store_conformance!(super::Sqlite);

    /// A data directory written by a newer build is refused, not half-understood.
    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStorage::open(dir.path()).unwrap());
        let conn = rusqlite::Connection::open(dir.path().join("fieldsync-server.db")).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        match SqliteStorage::open(dir.path()) {
            Err(StorageError::NewerSchema { found: 999, known }) => assert!((1..999).contains(&known)),
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }

    /// Opening creates a data directory that does not exist yet.
    #[tokio::test]
    async fn open_creates_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a").join("b");
        let storage = SqliteStorage::open(&nested).unwrap();
        assert!(nested.join("fieldsync-server.db").is_file());
        assert_eq!(storage.last_seq().await.unwrap(), 0);
    }
}
