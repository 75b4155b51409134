//! The records around one record, for the validation rules that look beyond it: the device store answers
//! domain::validation::neighbourhood's questions, and re-validates a record's neighbours after a write.

use crate::error::StoreError;
use crate::store::Store;
use domain::validation::neighbourhood::{Near, RecordSource, Siblings, neighbourhood};
use domain::{Record, RecordType, Related};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

/// The device store as a source of neighbourhoods: rows as stored, siblings through the `records_area` R*Tree.
struct StoreSource<'a>(&'a Store);

impl RecordSource for StoreSource<'_> {
    type Error = StoreError;

    fn record(&mut self, id: Uuid) -> Result<Option<Record>, StoreError> {
        self.0.stored_record(id)
    }

    fn near(&mut self, near: &Near) -> Result<Vec<Record>, StoreError> {
        let [west, south, east, north] = near.bbox;
        let mut stmt = self.0.conn.prepare_cached(
            // CROSS JOIN keeps this join order: start from the R*Tree, never scan the task's records.
            "SELECT r.record_id, r.body FROM records_area a CROSS JOIN records r ON r.rowid = a.id
             WHERE a.max_lon >= ?4 AND a.min_lon <= ?5 AND a.max_lat >= ?6 AND a.min_lat <= ?7
             AND r.task_id = ?1 AND r.record_type = ?2 AND r.record_id <> ?3 AND r.voided = 0",
        )?;
        let rows = stmt.query_map(
            params![
                near.task.to_string(),
                near.record_type.as_str(),
                near.except.to_string(),
                west,
                east,
                south,
                north
            ],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?;
        rows.map(|row| {
            let (id, body) = row?;
            parse_body(parse_id(&id)?, &body)
        })
        .collect()
    }

    fn evidence(&mut self, hazard_area: Uuid) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self.0.conn.prepare_cached(
            "SELECT r.record_id, r.body FROM links l JOIN records r ON r.task_id = l.from_id
             WHERE l.to_id = ?1 AND l.field = 'hazard_areas' AND r.record_type IN ('find', 'completion_report', 'qa_inspection')",
        )?;
        let rows = stmt.query_map([hazard_area.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (id, body) = row?;
            parse_body(parse_id(&id)?, &body)
        })
        .collect()
    }
}

impl Store {
    /// The record as stored (materialized), if this store holds it.
    pub(crate) fn stored_record(&self, id: Uuid) -> Result<Option<Record>, StoreError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM records WHERE record_id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        body.map(|b| parse_body(id, &b)).transpose()
    }

    /// The records validation reads besides `record` (domain::validation::neighbourhood), from this store.
    pub(crate) fn related(&self, record: &Record) -> Result<Related, StoreError> {
        neighbourhood(&mut StoreSource(self), record, Siblings::Gather)
    }
}

impl Store {
    /// Re-validates the records whose issues depend on `record`: its siblings (overlaps, duplicates) and the
    /// records that link to it (a find whose worked area just arrived). Their documents are not loaded: the
    /// stored rows hold everything validation reads, and the hazard areas of its task when it is what closing one
    /// needs. This keeps issues the same on every device, whatever order records arrived in.
    pub(crate) fn refresh_neighbours(&self, record: &Record, siblings: &[Uuid]) -> Result<(), StoreError> {
        let mut ids: Vec<Uuid> = siblings.to_vec();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT from_id FROM links WHERE to_id = ?1")?;
        for id in stmt.query_map([record.id().to_string()], |r| r.get::<_, String>(0))? {
            ids.push(parse_id(&id?)?);
        }
        // A hazard area's closure reads its tasks' finds, completion reports and QA inspections: when one of
        // them arrives after the hazard area (a snapshot brings a closed hazard area whole, before the report that
        // allowed its closing), the hazard area is validated again.
        let closes = matches!(
            record.record_type(),
            RecordType::Find | RecordType::CompletionReport | RecordType::QaInspection
        );
        if let (true, Some(task)) = (closes, record.task_id()) {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT to_id FROM links WHERE from_id = ?1 AND field = 'hazard_areas'")?;
            for id in stmt.query_map([task.to_string()], |r| r.get::<_, String>(0))? {
                ids.push(parse_id(&id?)?);
            }
        }
        ids.sort();
        ids.dedup();
        let mut update = self.conn.prepare_cached(
            "UPDATE records SET issues = ?2, error_count = ?3, warning_count = ?4 WHERE record_id = ?1",
        )?;
        for id in ids {
            let stored = self.get(id)?;
            let issues = self.validate_record(&stored.record, stored.entered_at)?;
            let errors = issues.iter().filter(|i| i.is_error()).count();
            let text = serde_json::to_string(&issues).unwrap_or_else(|_| "[]".into());
            update.execute(rusqlite::params![
                id.to_string(),
                text,
                errors as i64,
                (issues.len() - errors) as i64
            ])?;
        }
        Ok(())
    }
}

/// Rows are written by this crate from valid records, so a failure here means a damaged store file.
pub(crate) fn parse_body(id: Uuid, body: &str) -> Result<Record, StoreError> {
    let value = serde_json::from_str(body).map_err(|e| StoreError::Damaged(format!("stored row of {id}: {e}")))?;
    Ok(Record::from_json(value, id)?)
}

pub(crate) fn parse_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::NotFound(text.to_string()))
}
