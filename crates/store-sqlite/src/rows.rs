//! Rows as SQLite stores them, and the conversions between them and the contract's types.

use crate::Error;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Issue, RecordType};
use rusqlite::Transaction;
use std::collections::BTreeSet;
use sync_core::store::{Device, RecordRow, Role, StorageError};
use uuid::Uuid;

pub(crate) const RECORD_COLUMNS: &str =
    "record_id, record_type, task_id, body, warnings, heads, conflicts, review_since, review_by";

/// Heads as stored: concatenated, in ascending order.
pub(crate) fn heads_blob(heads: &[[u8; 32]]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort_unstable();
    sorted.concat()
}

pub(crate) fn parse_heads(blob: &[u8]) -> Result<Vec<[u8; 32]>, Error> {
    if !blob.len().is_multiple_of(32) {
        return Err(StorageError::Damaged(format!("heads of {} bytes", blob.len())).into());
    }
    Ok(blob
        .chunks_exact(32)
        .map(|c| {
            let mut head = [0; 32];
            head.copy_from_slice(c);
            head
        })
        .collect())
}

pub(crate) const DEVICE_COLUMNS: &str = "device_id, name, teams, role, created_at, revoked_at";
/// [`DEVICE_COLUMNS`] of the table aliased `d`, in a join.
pub(crate) const DEVICE_COLUMNS_OF_D: &str = "d.device_id, d.name, d.teams, d.role, d.created_at, d.revoked_at";

pub(crate) struct RawDevice {
    id: String,
    name: String,
    teams: String,
    role: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl RawDevice {
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawDevice> {
        RawDevice::from_row_at(row, 0)
    }

    /// The device columns starting at column `first` of the row.
    pub(crate) fn from_row_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<RawDevice> {
        Ok(RawDevice {
            id: row.get(first)?,
            name: row.get(first + 1)?,
            teams: row.get(first + 2)?,
            role: row.get(first + 3)?,
            created_at: row.get(first + 4)?,
            revoked_at: row.get(first + 5)?,
        })
    }

    pub(crate) fn decode(self) -> Result<Device, Error> {
        Ok(Device {
            id: parse_uuid(&self.id, "device id")?,
            name: self.name,
            teams: parse_json(&self.teams, "device teams")?,
            role: Role::parse(&self.role)
                .ok_or_else(|| StorageError::Damaged(format!("unknown device role {:?}", self.role)))?,
            created_at: parse_time(&self.created_at, "device created_at")?,
            revoked_at: self
                .revoked_at
                .as_deref()
                .map(|t| parse_time(t, "device revoked_at"))
                .transpose()?,
        })
    }
}

pub(crate) struct RawRecord {
    record_id: String,
    record_type: String,
    task_id: Option<String>,
    body: String,
    warnings: String,
    heads: Vec<u8>,
    conflicts: String,
    review_since: Option<String>,
    review_by: Option<String>,
}

impl RawRecord {
    pub(crate) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
        Ok(RawRecord {
            record_id: row.get(0)?,
            record_type: row.get(1)?,
            task_id: row.get(2)?,
            body: row.get(3)?,
            warnings: row.get(4)?,
            heads: row.get(5)?,
            conflicts: row.get(6)?,
            review_since: row.get(7)?,
            review_by: row.get(8)?,
        })
    }

    /// The row as a [`RecordRow`]; a task's teams and hazard areas come from their own tables.
    pub(crate) fn decode(self, tx: &Transaction<'_>) -> Result<RecordRow, Error> {
        let record_type = RecordType::parse(&self.record_type)
            .ok_or_else(|| StorageError::Damaged(format!("unknown record type {:?}", self.record_type)))?;
        let (mut task_teams, mut hazard_areas) = (BTreeSet::new(), BTreeSet::new());
        if record_type == RecordType::Task {
            let mut teams = tx.prepare_cached("SELECT team FROM task_teams WHERE task_id = ?1")?;
            for team in teams.query_map([&self.record_id], |r| r.get::<_, String>(0))? {
                task_teams.insert(team?);
            }
            let mut hazards = tx.prepare_cached("SELECT hazard_id FROM task_hazards WHERE task_id = ?1")?;
            for hazard in hazards.query_map([&self.record_id], |r| r.get::<_, String>(0))? {
                hazard_areas.insert(parse_uuid(&hazard?, "hazard area id")?);
            }
        }
        Ok(RecordRow {
            record_id: parse_uuid(&self.record_id, "record id")?,
            record_type,
            task_id: self.task_id.as_deref().map(|t| parse_uuid(t, "task id")).transpose()?,
            task_teams,
            hazard_areas,
            body: parse_json(&self.body, "record body")?,
            warnings: parse_json::<Vec<Issue>>(&self.warnings, "record warnings")?,
            heads: parse_heads(&self.heads)?,
            conflicts: parse_json(&self.conflicts, "record conflicts")?,
            review_since: self
                .review_since
                .as_deref()
                .map(|t| parse_time(t, "record review_since"))
                .transpose()?,
            review_by: self
                .review_by
                .as_deref()
                .map(|d| parse_uuid(d, "review_by"))
                .transpose()?,
        })
    }
}

pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::from(StorageError::Database(format!("cannot encode JSON: {e}"))))
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::from(StorageError::Damaged(format!("{what} is not valid JSON: {e}"))))
}

pub(crate) fn parse_uuid(text: &str, what: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|e| Error::from(StorageError::Damaged(format!("{what} {text:?} is not a UUID: {e}"))))
}

pub(crate) fn parse_seq(seq: i64) -> Result<u64, Error> {
    u64::try_from(seq).map_err(|_| Error::from(StorageError::Damaged(format!("negative sequence number {seq}"))))
}

/// RFC 3339 in UTC with every stored fraction of a second, so a time reads back equal to what was written.
pub(crate) fn time_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(crate) fn parse_time(text: &str, what: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::from(StorageError::Damaged(format!(
                "{what} {text:?} is not an RFC 3339 time: {e}"
            )))
        })
}
