//! The sync store's pull primitives on SQLite: the visible log entries after a cursor (visibility judged in SQL,
//! through the indexes), what a grant delivers, records' first changes and snapshots. The policy that makes a
//! page of them is sync_core::pull.

use crate::Error;
use crate::rows::*;
use rusqlite::{OptionalExtension, Transaction, params};
use sync_core::store::{Entries, Grant, LogChange, LogEntry, OwnChanges, RecordSnapshot, StorageError};
use uuid::Uuid;

/// Changes visible to everyone (hq, admin): grants are skipped, since such a device already sees what they grant.
/// Changes pushed by device `?3` (NULL: none) after `?4` are left out, and those of devices relay `?5` (NULL:
/// none) carries.
pub(crate) const PULL_ALL: &str = "SELECT seq, 'change', record_id, NULL, bytes, device_id, NULL FROM log \
     WHERE seq > ?1 AND kind = 'change' AND (?3 IS NULL OR device_id IS NOT ?3 OR seq <= ?4) \
     AND (?5 IS NULL OR NOT EXISTS (SELECT 1 FROM devices AS d WHERE d.device_id = log.device_id AND d.carrier = ?5)) \
     ORDER BY seq LIMIT ?2";

/// Log entries visible to a set of teams (`?2`, a JSON array). Visibility is judged against the records' current
/// task and the tasks' current teams, the same rule the grant expansions below apply. Changes pushed by device
/// `?4` (NULL: none) after `?5` are left out, and those of devices relay `?6` (NULL: none) carries.
pub(crate) const PULL_TEAMS: &str = "SELECT l.seq, l.kind, l.record_id, l.task_id, l.bytes, l.device_id, l.team FROM log AS l \
     WHERE l.seq > ?1 AND CASE l.kind \
         WHEN 'change' THEN (?4 IS NULL OR l.device_id IS NOT ?4 OR l.seq <= ?5) \
             AND (?6 IS NULL OR NOT EXISTS (SELECT 1 FROM devices AS d WHERE d.device_id = l.device_id AND d.carrier = ?6)) AND EXISTS (SELECT 1 FROM records AS r WHERE r.record_id = l.record_id AND (r.task_id IS NULL \
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

/// One visible log entry: a change (with its bytes) or a grant.
pub(crate) struct Entry {
    seq: i64,
    kind: String,
    record_id: Option<String>,
    task_id: Option<String>,
    bytes: Option<Vec<u8>>,
    device_id: Option<String>,
    team: Option<String>,
}

/// Visible entries after `after` and the log's end, in one read transaction (sync_core::store::SyncStore::entries).
/// `teams` is the JSON array of the device's teams, or None for a device that sees everything.
pub(crate) fn entries(
    tx: &Transaction<'_>,
    teams: Option<&str>,
    own: Option<OwnChanges>,
    after: u64,
    limit: u32,
) -> Result<Entries, Error> {
    let after_sql = i64::try_from(after).unwrap_or(i64::MAX);
    let except = own.map(|own| own.device.to_string());
    let pushed_after = own.map_or(0, |own| i64::try_from(own.pushed_after).unwrap_or(i64::MAX));
    let relay = own.and_then(|own| own.relay).map(|relay| relay.to_string());
    let rows = match teams {
        None => tx
            .prepare_cached(PULL_ALL)?
            .query_map(params![after_sql, limit, except, pushed_after, relay], Entry::from_row)?
            .collect::<Result<Vec<_>, _>>()?,
        Some(teams) => tx
            .prepare_cached(PULL_TEAMS)?
            .query_map(
                params![after_sql, teams, limit, except, pushed_after, relay],
                Entry::from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?,
    };
    let entries = rows.into_iter().map(Entry::decode).collect::<Result<Vec<_>, _>>()?;
    Ok(Entries {
        entries,
        last_seq: last_seq(tx)?,
    })
}

/// The changes a grant at `seq` delivers to `teams` (a JSON array).
pub(crate) fn granted(tx: &Transaction<'_>, grant: &Grant, seq: u64, teams: &str) -> Result<Vec<LogChange>, Error> {
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    let rows = match grant {
        Grant::Task { task_id, .. } => tx
            .prepare_cached(EXPAND_TASK)?
            .query_map(params![task_id.to_string(), seq, teams], change_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
        Grant::Record { record_id, .. } => tx
            .prepare_cached(EXPAND_RECORD)?
            .query_map(params![record_id.to_string(), seq, teams], change_from_row)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    let mut changes = rows
        .into_iter()
        .map(|(seq, record_id, bytes)| {
            Ok(LogChange {
                seq: parse_seq(seq)?,
                record_id: parse_uuid(&record_id, "record id")?,
                bytes,
                snapshot: false,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    changes.sort_by_key(|c| c.seq);
    Ok(changes)
}

/// Each record's first logged change (sync_core::store::SyncStore::first_changes).
pub(crate) fn first_changes(tx: &Transaction<'_>, records: &[Uuid]) -> Result<Vec<(Uuid, u64)>, Error> {
    let mut first = tx.prepare_cached("SELECT min(seq) FROM log WHERE record_id = ?1 AND kind = 'change'")?;
    let mut out = Vec::with_capacity(records.len());
    for record_id in records {
        if let Some(seq) = first.query_row([record_id.to_string()], |r| r.get::<_, Option<i64>>(0))? {
            out.push((*record_id, parse_seq(seq)?));
        }
    }
    Ok(out)
}

/// Each record's latest snapshot (sync_core::store::SyncStore::snapshots).
pub(crate) fn snapshots(tx: &Transaction<'_>, records: &[Uuid]) -> Result<Vec<RecordSnapshot>, Error> {
    let mut snapshot = tx.prepare_cached("SELECT covers_seq, bytes FROM snapshots WHERE record_id = ?1")?;
    let mut out = Vec::new();
    for record_id in records {
        let found = snapshot
            .query_row([record_id.to_string()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?;
        if let Some((covers, bytes)) = found {
            out.push(RecordSnapshot {
                record_id: *record_id,
                covers_seq: parse_seq(covers)?,
                bytes,
            });
        }
    }
    Ok(out)
}

pub(crate) fn last_seq(tx: &Transaction<'_>) -> Result<u64, Error> {
    // max() of the rowid reads one page at the end of the table's b-tree.
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(max(seq), 0) FROM log")?
        .query_row([], |r| r.get(0))?;
    parse_seq(seq)
}

impl Entry {
    /// The entry as the contract names it; a row lacking the columns of its kind is damage.
    fn decode(self) -> Result<LogEntry, Error> {
        let seq = parse_seq(self.seq)?;
        let damaged = || Error::from(damaged_entry(self.seq));
        let record_id =
            |id: Option<&String>| -> Result<Uuid, Error> { parse_uuid(id.ok_or_else(damaged)?, "record id") };
        Ok(match self.kind.as_str() {
            "change" => LogEntry::Change {
                seq,
                record_id: record_id(self.record_id.as_ref())?,
                device_id: self
                    .device_id
                    .as_deref()
                    .map(|d| parse_uuid(d, "device id"))
                    .transpose()?,
                bytes: self.bytes.ok_or_else(damaged)?,
            },
            "grant_task" => LogEntry::Grant {
                seq,
                grant: Grant::Task {
                    task_id: parse_uuid(self.task_id.as_deref().ok_or_else(damaged)?, "task id")?,
                    team: self.team.ok_or_else(damaged)?,
                },
            },
            "grant_record" => LogEntry::Grant {
                seq,
                grant: Grant::Record {
                    record_id: record_id(self.record_id.as_ref())?,
                    team: self.team.ok_or_else(damaged)?,
                },
            },
            _ => return Err(damaged()),
        })
    }

    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
        Ok(Entry {
            seq: row.get(0)?,
            kind: row.get(1)?,
            record_id: row.get(2)?,
            task_id: row.get(3)?,
            bytes: row.get(4)?,
            device_id: row.get(5)?,
            team: row.get(6)?,
        })
    }
}

pub(crate) fn change_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

pub(crate) fn damaged_entry(seq: i64) -> StorageError {
    StorageError::Damaged(format!("log entry {seq} lacks the columns of its kind"))
}
