//! Appending a batch: accepted pushes and refusals in one transaction.

use crate::Error;
use crate::rows::*;
use domain::RecordType;
use rusqlite::{Transaction, params};
use sync_core::store::{Grant, Ingest};

/// What appending one push added to the log.
pub(crate) struct Appended {
    /// Changes the log did not hold.
    pub new: usize,
    /// The sequence number of the last of them.
    pub last_seq: Option<i64>,
}

/// One accepted push: its new changes, the record's row (with its heads), a task's scope, grants and a snapshot.
pub(crate) fn append_ingest(tx: &Transaction<'_>, ingest: Ingest) -> Result<Appended, Error> {
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

    let (mut new, mut last_seq) = (0, None);
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO log (kind, record_id, hash, bytes, device_id, received_at, actor) \
         VALUES ('change', ?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for change in &changes {
        // Ignored when log_change_identity already holds (record, hash): a retried push adds nothing.
        let inserted = insert.execute(params![
            record_id,
            &change.hash[..],
            change.bytes,
            device_id,
            received_at,
            change.actor,
        ])?;
        if inserted == 1 {
            new += 1;
            last_seq = Some(tx.last_insert_rowid());
        }
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
        crate::layer_tables::upsert(tx, record.record_type, feature)?;
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
    Ok(Appended { new, last_seq })
}
