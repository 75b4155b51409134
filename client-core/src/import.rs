//! Merging changes made elsewhere (a page pulled from a server, a USB bundle) in one transaction.
//!
//! A new tablet's first sync brings tens of thousands of records, so the work is split by what it needs:
//! 1. the documents this store already holds are read (its one connection, one after another);
//! 2. each record's changes are parsed, its document brought up to date and its record materialized (on every
//!    core: this needs no store), a chunk of records at a time;
//! 3. meanwhile, in the batch's order (a task before the finds that link to it), each record of the chunk before
//!    is validated against the store and written.
//!
//! All of it is one transaction: a malformed change anywhere refuses the whole batch, and nothing is kept.
//!
//! A record new to this store that arrives complete is kept as its document's bytes alone, in its `documents`
//! row: no change rows (nor their two indexes), since none of its changes is this device's to deliver. Merged
//! records are validated and their issues recorded, but never refused: they are
//! another device's facts, and refusing them would lose data.

use crate::error::StoreError;
use crate::exchange::{DocumentChanges, ImportReport};
use crate::store::{Origin, Shown, Store};
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use rayon::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

/// Batches of fewer records are merged on the caller's thread: sharing them out would cost more than it saves.
const PARALLEL_FROM: usize = 64;

/// Records merged (on other threads) while the chunk before them is written (on this one).
const CHUNK_RECORDS: usize = 500;

/// One record's share of a batch, as it arrived.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub record_id: Uuid,
    /// A saved document (a server sends one in place of the changes it covers).
    pub snapshot: Option<Vec<u8>>,
    pub changes: Vec<Vec<u8>>,
}

impl From<&DocumentChanges> for Incoming {
    fn from(doc: &DocumentChanges) -> Incoming {
        Incoming {
            record_id: doc.record_id,
            snapshot: None,
            changes: doc.changes.clone(),
        }
    }
}

/// A record's incoming bytes, read.
struct Parsed {
    record_id: Uuid,
    snapshot: Option<(Vec<u8>, Automerge)>,
    changes: Vec<Change>,
}

/// A record's document with the batch merged in, and what to write.
struct Merged {
    record_id: Uuid,
    heads: Vec<ChangeHash>,
    /// The document, kept when it has change rows to write (they may call for a new snapshot of it). Others are
    /// dropped where they were merged: freeing a document is work too.
    doc: Option<Automerge>,
    /// Document bytes for a record new to this store (`Automerge::load` reads them).
    whole: Option<Vec<u8>>,
    /// Changes to keep as rows: those of a record the store already held, or still waiting for earlier ones.
    rows: Vec<Change>,
    new_changes: usize,
    outcome: Outcome,
}

enum Outcome {
    Shown(Box<Shown>),
    /// Complete, but not a record this build can read.
    Unreadable(String),
    /// Earlier changes have not arrived: this many are missing.
    Waiting(usize),
}

impl Store {
    /// Merges changes made elsewhere, in one transaction: a malformed change refuses the whole batch and changes
    /// nothing (the transaction is rolled back). Merged records are validated and their issues recorded, but
    /// never refused: they are another device's facts, and refusing them would lose data.
    pub fn import_changes(&mut self, batch: &[DocumentChanges]) -> Result<ImportReport, StoreError> {
        self.import(batch.iter().map(Incoming::from).collect())
    }

    /// [`Store::import_changes`] for records that may come as snapshots.
    pub(crate) fn import(&mut self, batch: Vec<Incoming>) -> Result<ImportReport, StoreError> {
        let batch = by_record(batch);
        let mut loaded = Vec::with_capacity(batch.len());
        for incoming in batch {
            let existing = self.load_document(incoming.record_id)?;
            loaded.push((incoming, existing));
        }
        let actor = self.identity().actor.clone();
        self.write(|| {
            let mut report = ImportReport::default();
            one_chunk_ahead(
                loaded,
                |chunk| on_every_core(chunk, |(incoming, existing)| merge(incoming, existing, &actor)),
                |merged| {
                    merged
                        .into_iter()
                        .flatten()
                        .try_for_each(|merged| self.write_merged(merged, &mut report))
                },
            )?;
            Ok(report)
        })
    }

    fn write_merged(&self, merged: Merged, report: &mut ImportReport) -> Result<(), StoreError> {
        let Merged {
            record_id: id,
            heads,
            doc,
            whole,
            rows,
            new_changes,
            outcome,
        } = merged;
        let derived = match outcome {
            Outcome::Shown(shown) => {
                report.records_changed.push(id);
                Some(self.derive_shown(*shown)?)
            }
            Outcome::Unreadable(reason) => {
                report.incomplete.push((id, reason));
                None
            }
            Outcome::Waiting(missing) => {
                report
                    .incomplete
                    .push((id, format!("waiting for {missing} earlier changes")));
                None
            }
        };
        report.new_changes += new_changes;
        let rows: Vec<(Change, Origin)> = rows.into_iter().map(|c| (c, Origin::Remote)).collect();
        // The row is written once: with the whole document when there is one, else with the change rows.
        let (with_whole, with_rows) = match whole {
            Some(_) => (derived.as_ref(), None),
            None => (None, derived.as_ref()),
        };
        if let Some(bytes) = &whole {
            self.persist_whole(id, &heads, bytes, with_whole)?;
        }
        if let Some(doc) = doc {
            self.persist(id, &doc, &rows, with_rows)?;
        }
        Ok(())
    }
}

/// One entry per record, in the order each first appears: a record listed twice is merged once.
fn by_record(batch: Vec<Incoming>) -> Vec<Incoming> {
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(batch.len());
    let mut records: Vec<Incoming> = Vec::with_capacity(batch.len());
    for incoming in batch {
        match index.get(&incoming.record_id) {
            Some(&at) => {
                let record = &mut records[at];
                record.changes.extend(incoming.changes);
                if let Some(snapshot) = incoming.snapshot {
                    // A second snapshot of one record is rare: its changes are merged as changes.
                    match &record.snapshot {
                        None => record.snapshot = Some(snapshot),
                        Some(_) => record.changes.extend(snapshot_changes(&snapshot)),
                    }
                }
            }
            None => {
                index.insert(incoming.record_id, records.len());
                records.push(incoming);
            }
        }
    }
    records
}

/// The changes of a saved document, for a snapshot that cannot be kept as it is; one that does not load is
/// kept whole, so that parsing reports it.
fn snapshot_changes(snapshot: &[u8]) -> Vec<Vec<u8>> {
    match Automerge::load(snapshot) {
        Ok(doc) => doc.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect(),
        Err(_) => vec![snapshot.to_vec()],
    }
}

fn parse(incoming: Incoming) -> Result<Parsed, StoreError> {
    let record = incoming.record_id;
    let snapshot = match incoming.snapshot {
        Some(bytes) => {
            let doc = Automerge::load(&bytes).map_err(|e| StoreError::BadChange {
                record,
                index: 0,
                reason: format!("the server's snapshot does not load: {e}"),
            })?;
            Some((bytes, doc))
        }
        None => None,
    };
    let changes = incoming
        .changes
        .into_iter()
        .enumerate()
        .map(|(index, bytes)| {
            Change::from_bytes(bytes).map_err(|e| StoreError::BadChange {
                record,
                index,
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed {
        record_id: record,
        snapshot,
        changes,
    })
}

/// Brings a record's document up to date with what arrived; None when nothing in it is new.
fn merge(incoming: Incoming, existing: Option<Automerge>, actor: &ActorId) -> Result<Option<Merged>, StoreError> {
    if existing.is_none()
        && let Some(merged) = load_new(&incoming, actor)
    {
        return Ok(Some(merged));
    }
    let parsed = parse(incoming)?;
    let id = parsed.record_id;
    let mut changes = Vec::new();
    // A record new to this store takes its snapshot as its document: nothing in it is applied again. A record
    // it holds takes the snapshot's changes it lacks.
    let (mut doc, mut whole, mut new_changes) = match (existing, parsed.snapshot) {
        (Some(doc), snapshot) => {
            if let Some((_, snapshot)) = snapshot {
                changes = snapshot.get_changes(&[]);
            }
            (doc, None, 0)
        }
        (None, Some((bytes, doc))) => {
            let count = doc.get_changes_meta(&[]).len();
            (doc.with_actor(actor.clone()), Some(bytes), count)
        }
        (None, None) => (Automerge::new().with_actor(actor.clone()), Some(Vec::new()), 0),
    };
    changes.extend(parsed.changes);
    let fresh: Vec<Change> = changes
        .into_iter()
        .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
        .collect();
    if fresh.is_empty() && new_changes == 0 {
        return Ok(None);
    }
    new_changes += fresh.len();
    doc.apply_changes(fresh.iter().cloned())
        .map_err(|e| StoreError::BadChange {
            record: id,
            index: 0,
            reason: e.to_string(),
        })?;
    let missing = doc.get_missing_deps(&[]);
    let (rows, outcome) = if missing.is_empty() {
        let outcome = match Shown::of(&doc) {
            Ok(shown) => Outcome::Shown(Box::new(shown)),
            Err(error) => Outcome::Unreadable(StoreError::document(id)(error).to_string()),
        };
        match &mut whole {
            // Complete and new here: its changes join the snapshot's bytes, and no row is written.
            Some(bytes) => {
                for change in &fresh {
                    bytes.extend_from_slice(change.raw_bytes());
                }
                (Vec::new(), outcome)
            }
            None => (fresh, outcome),
        }
    } else {
        // Waiting for earlier changes: they stay rows, applied when the rest arrives; a snapshot stays as it came.
        whole = whole.filter(|bytes| !bytes.is_empty());
        (fresh, Outcome::Waiting(missing.len()))
    };
    Ok(Some(Merged {
        record_id: id,
        heads: doc.get_heads(),
        doc: (whole.is_none() || !rows.is_empty()).then_some(doc),
        whole,
        rows,
        new_changes,
        outcome,
    }))
}

/// The common case of a first sync: a record new to this store, arriving as changes that are all there. Its bytes
/// load as one document (faster than parsing and applying each change) and are kept as they are. None when they
/// do not load: `merge` then reads change by change, to name the one that is malformed or to keep them waiting.
fn load_new(incoming: &Incoming, actor: &ActorId) -> Option<Merged> {
    if incoming.snapshot.is_some() || incoming.changes.is_empty() {
        return None;
    }
    let bytes = incoming.changes.concat();
    let doc = Automerge::load(&bytes).ok()?.with_actor(actor.clone());
    // One change a chunk, each once: anything else (a repeated change, a saved document among the changes) goes
    // the careful way.
    let new_changes = doc.get_changes_meta(&[]).len();
    if new_changes != incoming.changes.len() {
        return None;
    }
    let outcome = match Shown::of(&doc) {
        Ok(shown) => Outcome::Shown(Box::new(shown)),
        Err(error) => Outcome::Unreadable(StoreError::document(incoming.record_id)(error).to_string()),
    };
    Some(Merged {
        record_id: incoming.record_id,
        heads: doc.get_heads(),
        doc: None,
        whole: Some(bytes),
        rows: Vec::new(),
        new_changes,
        outcome,
    })
}

/// `work` on each item, on every core when there are enough of them; in order, stopping at the first error.
fn on_every_core<T: Send, U: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<U, StoreError> + Sync + Send,
) -> Result<Vec<U>, StoreError> {
    if items.len() < PARALLEL_FROM {
        items.into_iter().map(work).collect()
    } else {
        items.into_par_iter().with_min_len(16).map(work).collect()
    }
}

/// `prepare`s each chunk of `items` on another thread while `consume` takes the chunk before it on this one, so
/// merging (every core but this) and writing (this thread: the store's connection) overlap. Stops at the first
/// error either side.
fn one_chunk_ahead<T: Send, U: Send>(
    items: Vec<T>,
    prepare: impl Fn(Vec<T>) -> Result<U, StoreError> + Sync,
    mut consume: impl FnMut(U) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    if items.len() <= CHUNK_RECORDS {
        return consume(prepare(items)?);
    }
    let mut chunks = Vec::with_capacity(items.len().div_ceil(CHUNK_RECORDS));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(CHUNK_RECORDS).collect::<Vec<T>>());
    }
    std::thread::scope(|scope| {
        // No buffer: the next chunk is prepared while this one is written, and no further ahead.
        let (ready, prepared) = std::sync::mpsc::sync_channel(0);
        let prepare = &prepare;
        scope.spawn(move || {
            for chunk in chunks {
                let outcome = prepare(chunk);
                let failed = outcome.is_err();
                // A send fails once the writer has stopped (it returned an error): nothing more is wanted.
                if ready.send(outcome).is_err() || failed {
                    return;
                }
            }
        });
        for outcome in prepared {
            consume(outcome?)?;
        }
        Ok(())
    })
}
