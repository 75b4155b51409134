#![allow(clippy::unwrap_used)]
//! HQ's read model (hq::read_model) checked on the SQLite backend with the suite every backend runs (hq::testing).

use store_sqlite::SqliteStorage;

struct Sqlite {
    store: SqliteStorage,
    _dir: tempfile::TempDir,
}

impl hq::testing::Backend for Sqlite {
    type S = SqliteStorage;

    async fn fresh() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        Sqlite {
            store: SqliteStorage::open(dir.path()).unwrap(),
            _dir: dir,
        }
    }

    fn store(&self) -> &SqliteStorage {
        &self.store
    }
}

mod sqlite {
    hq::hq_read_model_conformance!(super::Sqlite);
}
