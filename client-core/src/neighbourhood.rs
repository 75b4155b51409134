//! Gathering the records around one record, for the validation rules that look beyond it.

use crate::error::StoreError;
use crate::store::Store;
use domain::{Record, RecordBody, RecordType, Related};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

/// How far around a record's bounding box to look for siblings, in metres: duplicates lie within 1 m and overlaps
/// need shared ground, so anything farther cannot matter. The R*Tree also rounds boxes outwards.
const SIBLING_MARGIN_M: f64 = 2.0;
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

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

    pub(crate) fn related(&self, record: &Record) -> Result<Related, StoreError> {
        let mut related = Related::default();
        let mut wanted: Vec<Uuid> = record.links().into_iter().map(|(_, id)| id).collect();
        while let Some(id) = wanted.pop() {
            if related.linked.contains_key(&id) {
                continue;
            }
            if let Some(linked) = self.stored_record(id)? {
                // A linked task brings its hazard areas: a worked area is checked against them.
                if let RecordBody::Task(task) = &linked.body {
                    wanted.extend(task.hazard_areas.iter().copied());
                }
                related.linked.insert(id, linked);
            }
        }
        let record_type = record.record_type();
        if let (Some(task), RecordType::WorkedArea | RecordType::Find) = (record.task_id(), record_type)
            && let Some([min_lon, min_lat, max_lon, max_lat]) =
                domain::geometry::bounding_box(record.positions().iter())
        {
            // A degree of longitude shrinks towards the poles; clamp so the margin stays finite near them.
            let m_lat = SIBLING_MARGIN_M / METRES_PER_DEGREE_LAT;
            let m_lon = m_lat / max_lat.abs().max(min_lat.abs()).min(89.0).to_radians().cos();
            let mut stmt = self.conn.prepare_cached(
                // CROSS JOIN keeps this join order: start from the R*Tree, never scan the task's records.
                "SELECT r.record_id, r.body FROM records_area a CROSS JOIN records r ON r.rowid = a.id
                 WHERE a.max_lon >= ?4 AND a.min_lon <= ?5 AND a.max_lat >= ?6 AND a.min_lat <= ?7
                 AND r.task_id = ?1 AND r.record_type = ?2 AND r.record_id <> ?3 AND r.voided = 0",
            )?;
            let rows = stmt.query_map(
                params![
                    task.to_string(),
                    record_type.as_str(),
                    record.id().to_string(),
                    min_lon - m_lon,
                    max_lon + m_lon,
                    min_lat - m_lat,
                    max_lat + m_lat
                ],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )?;
            for row in rows {
                let (id, body) = row?;
                related.siblings.push(parse_body(parse_id(&id)?, &body)?);
            }
        }
        if record_type == RecordType::HazardArea {
            let mut stmt = self.conn.prepare_cached(
                "SELECT r.record_id, r.body FROM links l JOIN records r ON r.task_id = l.from_id
                 WHERE l.to_id = ?1 AND l.field = 'hazard_areas' AND r.record_type IN ('find', 'completion_report', 'qa_inspection')",
            )?;
            let rows = stmt.query_map([record.id().to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (id, body) = row?;
                related.dependents.push(parse_body(parse_id(&id)?, &body)?);
            }
        }
        Ok(related)
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
