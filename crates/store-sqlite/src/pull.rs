//! Pulling a page of the log after a cursor, for a visibility.

use crate::Error;
use crate::rows::*;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::{BTreeMap, BTreeSet};
use sync_core::store::{LogChange, Page, StorageError};
use uuid::Uuid;

/// Changes visible to everyone (hq, admin): grants are skipped, since such a device already sees what they grant.
pub(crate) const PULL_ALL: &str = "SELECT seq, 'change', record_id, NULL, bytes, device_id FROM log \
     WHERE seq > ?1 AND kind = 'change' ORDER BY seq LIMIT ?2";

/// Log entries visible to a set of teams (`?2`, a JSON array). Visibility is judged against the records' current
/// task and the tasks' current teams, the same rule the grant expansions below apply.
pub(crate) const PULL_TEAMS: &str = "SELECT l.seq, l.kind, l.record_id, l.task_id, l.bytes, l.device_id FROM log AS l \
     WHERE l.seq > ?1 AND CASE l.kind \
         WHEN 'change' THEN EXISTS (SELECT 1 FROM records AS r WHERE r.record_id = l.record_id AND (r.task_id IS NULL \
             OR EXISTS (SELECT 1 FROM task_teams AS t, json_each(?2) AS j WHERE t.task_id = r.task_id AND t.team = j.value))) \
         ELSE l.team IN (SELECT value FROM json_each(?2)) END \
     ORDER BY l.seq LIMIT ?3";

/// The changes a task grant delivers: every change, before the grant, of the task's records, if the task still
/// lists one of the teams (`?3`). Changes after the grant are log entries of their own, pulled in their turn, so
/// a page never holds a change beyond its cursor. A change between the device's cursor and the grant that an
/// earlier page already delivered comes again with the grant: harmless, since applying a change is idempotent.
pub(crate) const EXPAND_TASK: &str = "SELECT l.seq, l.record_id, l.bytes FROM records AS r \
     JOIN log AS l ON l.record_id = r.record_id AND l.kind = 'change' \
     WHERE r.task_id = ?1 AND l.seq < ?2 \
     AND EXISTS (SELECT 1 FROM task_teams AS t, json_each(?3) AS j WHERE t.task_id = ?1 AND t.team = j.value)";

/// The changes a record grant delivers: every change of the record before the grant, if the record is visible.
pub(crate) const EXPAND_RECORD: &str = "SELECT l.seq, l.record_id, l.bytes FROM log AS l \
     WHERE l.record_id = ?1 AND l.kind = 'change' AND l.seq < ?2 \
     AND EXISTS (SELECT 1 FROM records AS r WHERE r.record_id = ?1 AND (r.task_id IS NULL \
         OR EXISTS (SELECT 1 FROM task_teams AS t, json_each(?3) AS j WHERE t.task_id = r.task_id AND t.team = j.value)))";

/// Records visible to a set of teams (`?1`, a JSON array): task-less ones, and those of a task listing a team.
pub(crate) const HEADS_TEAMS: &str = "SELECT r.record_id, r.task_id, r.heads FROM records AS r \
     WHERE r.task_id IS NULL \
     OR EXISTS (SELECT 1 FROM task_teams AS t, json_each(?1) AS j WHERE t.task_id = r.task_id AND t.team = j.value)";

/// The server's storage in one SQLite file. Cheap to clone: clones share the connection.
/// One visible log entry: a change (with its bytes) or a grant.
pub(crate) struct Entry {
    seq: i64,
    kind: String,
    record_id: Option<String>,
    task_id: Option<String>,
    bytes: Option<Vec<u8>>,
    device_id: Option<String>,
}

/// A pull in one read transaction, so the page and the cursor computed from the log's end agree.
/// `teams` is the JSON array of the device's teams, or None for a device that sees everything.
pub(crate) fn pull(
    tx: &Transaction<'_>,
    teams: Option<&str>,
    except_device: Option<&str>,
    after: u64,
    limit: u32,
) -> Result<Page, Error> {
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
            _ => return Err(damaged_entry(seq).into()),
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
pub(crate) fn send_snapshots(
    tx: &Transaction<'_>,
    changes: &mut BTreeMap<u64, LogChange>,
    cursor: u64,
) -> Result<(), Error> {
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

pub(crate) fn last_seq(tx: &Transaction<'_>) -> Result<u64, Error> {
    // max() of the rowid reads one page at the end of the table's b-tree.
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(max(seq), 0) FROM log")?
        .query_row([], |r| r.get(0))?;
    parse_seq(seq)
}

impl Entry {
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
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

pub(crate) fn change_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

pub(crate) fn damaged_entry(seq: i64) -> StorageError {
    StorageError::Damaged(format!("log entry {seq} lacks the columns of its kind"))
}
