//! The writes of one slice of a sync request (serve::SLICE_RECORDS records), appended in one transaction instead
//! of one per record.
//!
//! A first sync of 10,000 records then costs twenty durable commits, not 10,000, and the memory one request holds
//! is bounded by a slice whatever its size. The response is only sent once every slice is flushed, so `accepted`
//! never counts a change that is not on disk (a request that fails half-way has appended some slices, and its
//! retry skips them). Validation of a record must see the records accepted earlier in the same slice (a task
//! pushed before its finds), so reads go through here: staged rows first, then storage.

use crate::document_cache::{DocumentCache, Loaded};
use crate::store::{Batch, Ingest, NewQuarantined, RecordRow, StorageError, StoredDocument, SyncStore};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug)]
pub struct Staging<'a, S> {
    storage: &'a S,
    cache: &'a mut DocumentCache,
    /// Staged records: the index of each in `batch.ingests`.
    rows: HashMap<Uuid, usize>,
    /// The device of each writer first seen in a staged change (what `actor_owner` will say once flushed).
    actors: HashMap<Vec<u8>, Uuid>,
    batch: Batch,
    /// The quarantine quota of the device whose slice this is (None: every refusal kept).
    quarantine_quota: Option<u64>,
    /// Rows read from storage during this slice (None: no such record), forgotten at the flush.
    read: std::sync::Mutex<HashMap<Uuid, Option<RecordRow>>>,
    /// Stored documents of the slice's records that were not cached, read in one go ([`Staging::prefetch`]).
    prefetched: HashMap<Uuid, StoredDocument>,
}

impl<'a, S: SyncStore> Staging<'a, S> {
    pub fn new(storage: &'a S, cache: &'a mut DocumentCache) -> Staging<'a, S> {
        Staging {
            storage,
            cache,
            rows: HashMap::new(),
            actors: HashMap::new(),
            batch: Batch::default(),
            quarantine_quota: None,
            read: std::sync::Mutex::new(HashMap::new()),
            prefetched: HashMap::new(),
        }
    }

    /// Refusals staged here count against their device's quarantine quota, `bytes` a day.
    pub fn with_quarantine_quota(mut self, bytes: Option<u64>) -> Self {
        self.quarantine_quota = bytes;
        self
    }

    /// Reads the stored documents of those of `ids` that are not cached, in one trip to storage, for
    /// [`Staging::document`] to load (a slice of 500 new records was 500 trips, each a hop to the blocking pool).
    pub async fn prefetch(&mut self, ids: impl IntoIterator<Item = Uuid>) -> Result<(), StorageError> {
        let missing: Vec<Uuid> = ids
            .into_iter()
            .filter(|id| self.cache.get(id).is_none() && !self.rows.contains_key(id))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let stored = self.storage.documents(missing.clone()).await?;
        self.prefetched.extend(missing.into_iter().zip(stored));
        Ok(())
    }

    /// The record's document as it stands with the changes accepted so far (a copy to change freely). The caller
    /// processes each record once per request (the sync handler merges repeated entries), so a staged document
    /// is never asked for again; if it were and the cache had dropped it, this refuses rather than load a stale one.
    pub async fn document(&mut self, id: Uuid) -> Result<Loaded, StorageError> {
        if let Some(cached) = self.cache.get(&id) {
            return Ok(cached.clone());
        }
        if self.rows.contains_key(&id) {
            return Err(StorageError::Database(format!(
                "record {id} was pushed twice in one request and its staged document is gone: push again"
            )));
        }
        let stored = match self.prefetched.remove(&id) {
            Some(stored) => stored,
            None => self.storage.document(id).await?,
        };
        let loaded = Loaded::from_stored(id, stored)?;
        self.cache.put(id, loaded.clone());
        Ok(loaded)
    }

    fn staged(&self, id: &Uuid) -> Option<&RecordRow> {
        self.rows.get(id).map(|&i| &self.batch.ingests[i].record)
    }

    /// The record's row as it stands with the changes accepted so far. A row read from storage is kept for the
    /// rest of the slice: the finds of a task each read the task's row (scope, then validation), and under the
    /// ingest lock nothing but this slice's flush changes the rows.
    pub async fn record(&self, id: Uuid) -> Result<Option<RecordRow>, StorageError> {
        if let Some(row) = self.staged(&id) {
            return Ok(Some(row.clone()));
        }
        if let Some(row) = self.read_rows().get(&id) {
            return Ok(row.clone());
        }
        let row = self.storage.record(id).await?;
        self.read_rows().insert(id, row.clone());
        Ok(row)
    }

    fn read_rows(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Option<RecordRow>>> {
        self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The device an Automerge actor belongs to: the one that pushed its first change, staged or logged.
    pub async fn actor_owner(&self, actor: &[u8]) -> Result<Option<Uuid>, StorageError> {
        match self.actors.get(actor) {
            Some(device) => Ok(Some(*device)),
            None => self.storage.actor_owner(actor).await,
        }
    }

    fn staged_rows(&self) -> impl Iterator<Item = &RecordRow> {
        self.batch.ingests.iter().map(|ingest| &ingest.record)
    }

    /// Every record whose task is `task_id`, as they stand with the changes accepted so far.
    pub async fn records_of_task(&self, task_id: Uuid) -> Result<Vec<RecordRow>, StorageError> {
        let mut rows: Vec<RecordRow> = self
            .storage
            .records_of_task(task_id)
            .await?
            .into_iter()
            .filter(|row| !self.rows.contains_key(&row.record_id))
            .collect();
        rows.extend(self.staged_rows().filter(|row| row.task_id == Some(task_id)).cloned());
        rows.sort_by_key(|row| row.record_id);
        Ok(rows)
    }

    /// The tasks covering a hazard area, as they stand with the changes accepted so far.
    pub async fn tasks_covering(&self, hazard_area: Uuid) -> Result<Vec<Uuid>, StorageError> {
        let mut tasks: Vec<Uuid> = self
            .storage
            .tasks_covering(hazard_area)
            .await?
            .into_iter()
            .filter(|task| !self.rows.contains_key(task))
            .collect();
        tasks.extend(
            self.staged_rows()
                .filter(|row| row.hazard_areas.contains(&hazard_area))
                .map(|row| row.record_id),
        );
        tasks.sort();
        Ok(tasks)
    }

    /// Stages an accepted push; the document it makes becomes the cached one (forgotten again if the flush
    /// fails).
    pub fn accept(&mut self, ingest: Ingest, loaded: Loaded) {
        let id = ingest.record.record_id;
        self.cache.put(id, loaded);
        for change in &ingest.changes {
            self.actors.entry(change.actor.clone()).or_insert(ingest.device_id);
        }
        match self.rows.get(&id) {
            // Cannot happen while the handler merges repeated entries; keep the later row if it does.
            Some(&i) => self.batch.ingests[i] = ingest,
            None => {
                self.rows.insert(id, self.batch.ingests.len());
                self.batch.ingests.push(ingest);
            }
        }
    }

    /// Stages a refused change for quarantine.
    pub fn quarantine(&mut self, item: NewQuarantined) {
        self.batch.quarantined.push(item);
    }

    /// Appends everything staged in one transaction. If that fails, the staged documents leave the cache, so
    /// that it still matches storage.
    pub async fn flush(&mut self) -> Result<(), StorageError> {
        if self.batch.ingests.is_empty() && self.batch.quarantined.is_empty() {
            return Ok(());
        }
        let batch = Batch {
            quarantine_quota: self.quarantine_quota,
            ..std::mem::take(&mut self.batch)
        };
        let staged = std::mem::take(&mut self.rows);
        self.actors.clear();
        self.read_rows().clear();
        self.prefetched.clear();
        if let Err(e) = self.storage.append(batch).await {
            for id in staged.keys() {
                self.cache.forget(id);
            }
            return Err(e);
        }
        Ok(())
    }
}

/// A slice dropped before its flush (a storage error mid-slice, or the request cut off) committed nothing: the
/// documents it staged leave the cache, which must never be ahead of storage.
impl<S> Drop for Staging<'_, S> {
    fn drop(&mut self) {
        for id in self.rows.keys() {
            self.cache.forget(id);
        }
    }
}
