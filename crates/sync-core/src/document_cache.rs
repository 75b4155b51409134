//! Loaded documents: a bounded cache, so that a record pushed again and again (a daily report edited all day, a
//! task whose teams change) is not rebuilt from the log on every push, while memory stays bounded however many
//! records the server holds. Only the ingest path uses it, under the ingest lock, so it needs no lock of its own.

use crate::store::{StorageError, StoredDocument};
use automerge::{Automerge, Change};
use lru::LruCache;
use std::fmt;
use std::num::NonZeroUsize;
use uuid::Uuid;

/// How many loaded documents the cache keeps. A loaded document takes about 50 KB (Automerge's in-memory indexes,
/// not the few hundred bytes of its changes: 1,024 cached documents measured 55 MB), so 256 bound the cache to
/// about 13 MB, while still holding every record a base camp edits within minutes. See docs/benchmarks.md.
pub const DEFAULT_CAPACITY: usize = 256;

/// A new snapshot is written once a document has this many changes after its last one: rarely enough that
/// snapshots cost little (most records are made in one change and edited a few times), often enough that a
/// long-edited record loads from a snapshot plus a short tail.
pub const SNAPSHOT_EVERY: usize = 8;

/// A document as loaded, with how many of its changes came after its latest stored snapshot.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub doc: Automerge,
    pub since_snapshot: usize,
}

impl Loaded {
    /// Builds the document from its stored snapshot and the changes after it.
    pub fn from_stored(id: Uuid, stored: StoredDocument) -> Result<Loaded, StorageError> {
        let damaged = |what: &str, e: &dyn fmt::Display| StorageError::Damaged(format!("{what} of record {id}: {e}"));
        let mut doc = match &stored.snapshot {
            Some(bytes) => Automerge::load(bytes).map_err(|e| damaged("the snapshot", &e))?,
            None => Automerge::new(),
        };
        let since_snapshot = stored.changes.len();
        let changes = stored
            .changes
            .into_iter()
            .map(|bytes| Change::from_bytes(bytes).map_err(|e| damaged("a stored change", &e)))
            .collect::<Result<Vec<_>, _>>()?;
        doc.apply_changes(changes).map_err(|e| damaged("the document", &e))?;
        Ok(Loaded { doc, since_snapshot })
    }
}

pub struct DocumentCache {
    entries: LruCache<Uuid, Loaded>,
}

impl fmt::Debug for DocumentCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.entries.cap())
            .finish()
    }
}

impl DocumentCache {
    /// A cache of at most `capacity` documents (at least one).
    pub fn new(capacity: usize) -> DocumentCache {
        DocumentCache {
            entries: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    pub fn get(&mut self, id: &Uuid) -> Option<&Loaded> {
        self.entries.get(id)
    }

    /// Keeps `loaded` as the current document of `id`, dropping the least recently used one when full.
    pub fn put(&mut self, id: Uuid, loaded: Loaded) {
        self.entries.put(id, loaded);
    }

    /// Drops a document (one whose changes did not reach storage).
    pub fn forget(&mut self, id: &Uuid) {
        self.entries.pop(id);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_at_most_its_capacity_and_drops_the_least_recently_used() {
        let mut cache = DocumentCache::new(2);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        cache.put(a, Loaded::default());
        cache.put(b, Loaded::default());
        assert!(cache.get(&a).is_some());
        cache.put(c, Loaded::default());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&b).is_none(), "b was the least recently used");
        assert!(cache.get(&a).is_some() && cache.get(&c).is_some());
    }

    #[test]
    fn a_damaged_snapshot_is_reported_not_panicked_on() {
        let stored = StoredDocument {
            snapshot: Some(vec![1, 2, 3]),
            changes: vec![],
        };
        let id = Uuid::now_v7();
        match Loaded::from_stored(id, stored) {
            Err(StorageError::Damaged(message)) => assert!(message.contains(&id.to_string()), "{message}"),
            other => panic!("expected Damaged, got {other:?}"),
        }
    }
}
