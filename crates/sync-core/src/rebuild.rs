//! `fieldsync-server rebuild`: everything the server derives from its change log, made again from the log alone.
//!
//! The log (every accepted change, every grant) is the truth and is append-only. `records` (each record's merged
//! row, its warnings and heads), the snapshots, the tasks' teams and hazard areas, and HQ's layer tables are
//! derived from it. If any of them is lost or damaged (a disk error, a bug in a release, a restore of part of the
//! data directory), this rebuilds them: nothing a device sent is lost while the log is intact.
//!
//! Two passes over the records of the log, in the order of their first change (a task before its records, as
//! ingest accepted them):
//! 1. each record's document is rebuilt from its changes (not from a snapshot: snapshots are derived too), and
//!    its row, a fresh snapshot and its layer row are written, a thousand records to a transaction;
//! 2. once every row is back, each record is validated again as ingest does, against the records it links to, and
//!    its warnings are stored. A record the rules refuse today (the rules changed since it was accepted) is kept,
//!    with what it breaks among its warnings: a rebuild never drops a record.
//!
//! Run it with the server stopped: pushes during a rebuild would be validated against half-rebuilt rows.

use crate::document_cache::DocumentCache;
use crate::ingress::{related, row_of};
use crate::staging::Staging;
use crate::store::{Batch, Ingest, RecordRow, StorageError, SyncStore};
use automerge::{Automerge, Change};
use chrono::{DateTime, Utc};
use domain::{Programme, Record, document};
use uuid::Uuid;

/// Records written per transaction.
const BATCH: usize = 1_000;

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RebuildSummary {
    /// Records rebuilt from the log.
    pub records: u64,
    /// Changes read.
    pub changes: u64,
    /// Records that carry warnings after validation.
    pub with_warnings: u64,
    /// Records the rules refuse today, kept with their errors among their warnings.
    pub breaking_rules: u64,
}

/// Where a rebuild is: the pass (1 rows, 2 warnings), records done, records in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    pub pass: u8,
    pub done: u64,
    pub total: u64,
}

pub async fn rebuild<S: SyncStore>(
    storage: &S,
    programme: &Programme,
    mut progress: impl FnMut(RebuildProgress),
) -> Result<RebuildSummary, StorageError> {
    let ids = storage.logged_records().await?;
    let total = ids.len() as u64;
    let mut summary = RebuildSummary::default();

    // Pass 1: rows, snapshots and layer rows from the log. When each record was entered is kept for pass 2
    // (validation needs it, and it is read off the document).
    let mut entered_at = Vec::with_capacity(ids.len());
    let mut batch = Batch::default();
    for (done, &id) in ids.iter().enumerate() {
        let changes = storage.document_changes(id).await?;
        summary.changes += changes.len() as u64;
        let doc = document_of(id, changes)?;
        let domain::Materialized { record, conflicts } =
            document::materialize(&doc).map_err(|e| StorageError::Damaged(format!("record {id} in the log: {e}")))?;
        if record.id() != id {
            return Err(StorageError::Damaged(format!(
                "the log's changes of record {id} make record {}",
                record.id()
            )));
        }
        entered_at.push(document::entered_at(&doc));
        let mut row = row_of(&record, Vec::new(), conflicts, &doc);
        if let Some(hash) = document::set_by(&doc, "review") {
            let pushers = storage.change_pushers(id).await?;
            row.review_by = pushers.into_iter().find(|(h, _)| *h == hash.0).map(|(_, d)| d);
        }
        batch.ingests.push(rewrite(&record, row, Some(doc.save())));
        if batch.ingests.len() == BATCH {
            storage.append(std::mem::take(&mut batch)).await?;
            progress(RebuildProgress {
                pass: 1,
                done: done as u64 + 1,
                total,
            });
        }
    }
    storage.append(batch).await?;
    progress(RebuildProgress {
        pass: 1,
        done: total,
        total,
    });

    // Pass 2: warnings, now that every record the rules read is back. Only records with issues are written again.
    let mut cache = DocumentCache::new(1);
    let mut batch = Batch::default();
    for (done, (&id, entered_at)) in ids.iter().zip(entered_at).enumerate() {
        let mut row = storage
            .record(id)
            .await?
            .ok_or_else(|| StorageError::Damaged(format!("record {id} is missing after its rebuild")))?;
        let record = Record::from_json(row.body.clone(), id)
            .map_err(|e| StorageError::Damaged(format!("record {id} after its rebuild: {e}")))?;
        let issues = validate(storage, &mut cache, programme, &record, entered_at).await?;
        if issues.is_empty() {
            continue;
        }
        summary.with_warnings += 1;
        if issues.iter().any(|i| i.is_error()) {
            summary.breaking_rules += 1;
            tracing::warn!(
                "{} {} ({id}) breaks a rule today; kept with its errors among its warnings",
                record.record_type(),
                record.meta.label
            );
        }
        row.warnings = issues;
        batch.ingests.push(rewrite(&record, row, None));
        if batch.ingests.len() == BATCH {
            storage.append(std::mem::take(&mut batch)).await?;
        }
        if (done + 1) % BATCH == 0 {
            progress(RebuildProgress {
                pass: 2,
                done: done as u64 + 1,
                total,
            });
        }
    }
    storage.append(batch).await?;
    progress(RebuildProgress {
        pass: 2,
        done: total,
        total,
    });
    summary.records = total;
    Ok(summary)
}

/// What rewrites a record's derived rows: its row, its layer row and (when given) its snapshot. No change is
/// appended: the log already holds them all.
fn rewrite(record: &Record, row: RecordRow, snapshot: Option<Vec<u8>>) -> Ingest {
    Ingest {
        record: row,
        changes: Vec::new(),
        device_id: Uuid::nil(),
        received_at: Utc::now(),
        grants: Vec::new(),
        snapshot,
        feature: Some(layers::feature(record)),
    }
}

/// A record's document from all its changes in log order.
fn document_of(id: Uuid, changes: Vec<Vec<u8>>) -> Result<Automerge, StorageError> {
    let damaged = |e: &dyn std::fmt::Display| StorageError::Damaged(format!("a logged change of record {id}: {e}"));
    let changes = changes
        .into_iter()
        .map(|bytes| Change::from_bytes(bytes).map_err(|e| damaged(&e)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut doc = Automerge::new();
    doc.apply_changes(changes).map_err(|e| damaged(&e))?;
    Ok(doc)
}

/// The record's issues as ingest finds them: the domain's rules, against the records it links to.
async fn validate<S: SyncStore>(
    storage: &S,
    cache: &mut DocumentCache,
    programme: &Programme,
    record: &Record,
    entered_at: Option<DateTime<Utc>>,
) -> Result<Vec<domain::Issue>, StorageError> {
    let staging = Staging::new(storage, cache);
    let related = related(&staging, record).await?;
    let ctx = domain::Context {
        programme,
        related: &related,
        entered_at: entered_at.unwrap_or_else(Utc::now),
    };
    Ok(domain::validation::validate(record, &ctx))
}
