//! Reading records: one by id or label, lists by type, task, status and date, history, conflicts, validation.

use crate::error::StoreError;
use crate::neighbourhood::{parse_body, parse_id};
use crate::store::Store;
use chrono::{DateTime, NaiveDate, Utc};
use domain::document::{self, HistoryEntry};
use domain::{FieldConflict, Issue, Record, RecordType};
use rusqlite::types::Value as Sql;
use rusqlite::{OptionalExtension, params_from_iter};
use serde::Serialize;
use uuid::Uuid;

/// A record as the store holds it: the record as shown, its open conflicts and its validation issues.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub record: Record,
    pub conflicts: Vec<FieldConflict>,
    pub issues: Vec<Issue>,
    /// When the record was first entered, by the clock of the device that entered it.
    pub entered_at: DateTime<Utc>,
}

/// One line of a list: enough to choose a record without loading its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordSummary {
    pub id: Uuid,
    pub record_type: RecordType,
    pub label: String,
    pub task: Option<Uuid>,
    pub status: Option<String>,
    pub review: String,
    pub date_of_information: NaiveDate,
    pub voided: bool,
    pub conflicts: usize,
    pub errors: usize,
    pub warnings: usize,
}

/// Which records to list. Empty = every record that is not void.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub record_type: Option<RecordType>,
    pub task: Option<Uuid>,
    pub status: Option<String>,
    pub review: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub include_void: bool,
    pub only_conflicts: bool,
}

const SUMMARY_COLUMNS: &str = "record_id, record_type, label, task_id, status, review, date_of_information, voided, conflict_count, error_count, warning_count";

impl Store {
    /// A record by id.
    pub fn get(&self, id: Uuid) -> Result<StoredRecord, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT body, conflicts, issues, entered_at FROM records WHERE record_id = ?1")?
            .query_row([id.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .optional()?;
        let (body, conflicts, issues, entered_at) = row.ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let damaged = |what: &str| StoreError::Damaged(format!("stored {what} of {id}"));
        Ok(StoredRecord {
            record: parse_body(id, &body)?,
            conflicts: serde_json::from_str(&conflicts).map_err(|_| damaged("conflicts"))?,
            issues: serde_json::from_str(&issues).map_err(|_| damaged("issues"))?,
            entered_at: DateTime::parse_from_rfc3339(&entered_at)
                .map_err(|_| damaged("entry time"))?
                .with_timezone(&Utc),
        })
    }

    /// Finds a record by its id or its label (labels are for people; an ambiguous one is an error).
    pub fn resolve_reference(&self, reference: &str) -> Result<Uuid, StoreError> {
        if let Ok(id) = Uuid::parse_str(reference) {
            return Ok(id);
        }
        let mut stmt = self
            .conn
            .prepare_cached("SELECT record_id FROM records WHERE label = ?1 LIMIT 2")?;
        let ids = stmt
            .query_map([reference], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        match ids.as_slice() {
            [one] => parse_id(one),
            [] => Err(StoreError::NotFound(reference.to_string())),
            _ => {
                let count = self
                    .conn
                    .query_row("SELECT COUNT(*) FROM records WHERE label = ?1", [reference], |r| {
                        r.get::<_, i64>(0)
                    })? as usize;
                Err(StoreError::AmbiguousLabel {
                    label: reference.to_string(),
                    count,
                })
            }
        }
    }

    /// Lists records, oldest date of information first. Served from the derived rows: no document is loaded.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<RecordSummary>, StoreError> {
        let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM records WHERE 1 = 1");
        let mut args: Vec<Sql> = Vec::new();
        let mut add = |clause: &str, value: Option<String>| {
            if let Some(value) = value {
                args.push(Sql::Text(value));
                sql.push_str(&format!(" AND {clause} ?{}", args.len()));
            }
        };
        add("record_type =", filter.record_type.map(|t| t.as_str().to_string()));
        add("task_id =", filter.task.map(|t| t.to_string()));
        add("status =", filter.status.clone());
        add("review =", filter.review.clone());
        add("date_of_information >=", filter.from.map(|d| d.to_string()));
        add("date_of_information <=", filter.to.map(|d| d.to_string()));
        if !filter.include_void {
            sql.push_str(" AND voided = 0");
        }
        if filter.only_conflicts {
            sql.push_str(" AND conflict_count > 0");
        }
        sql.push_str(" ORDER BY date_of_information, label");
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, i64>(8)? as usize,
                r.get::<_, i64>(9)? as usize,
                r.get::<_, i64>(10)? as usize,
            ))
        })?;
        rows.map(|row| {
            let (id, record_type, label, task, status, review, date, voided, conflicts, errors, warnings) = row?;
            let damaged = || StoreError::Damaged(format!("stored row of {id}"));
            Ok(RecordSummary {
                id: parse_id(&id)?,
                record_type: RecordType::parse(&record_type).ok_or_else(damaged)?,
                label,
                task: task.as_deref().map(parse_id).transpose()?,
                status,
                review,
                date_of_information: date.parse().map_err(|_| damaged())?,
                voided,
                conflicts,
                errors,
                warnings,
            })
        })
        .collect()
    }

    /// Every change of a record in causal order: who, when, and what it set.
    pub fn history(&self, id: Uuid) -> Result<Vec<HistoryEntry>, StoreError> {
        let doc = self
            .load_document(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        document::history(&doc).map_err(StoreError::document(id))
    }

    /// Records with open conflicts, each with every candidate value and its author.
    pub fn conflicts(&self) -> Result<Vec<(RecordSummary, Vec<FieldConflict>)>, StoreError> {
        let filter = ListFilter {
            only_conflicts: true,
            include_void: true,
            ..ListFilter::default()
        };
        self.list(&filter)?
            .into_iter()
            .map(|summary| Ok((summary.clone(), self.get(summary.id)?.conflicts)))
            .collect()
    }

    /// Validates a stored record again, against the records the store holds now.
    pub fn validate(&self, id: Uuid) -> Result<Vec<Issue>, StoreError> {
        let stored = self.get(id)?;
        self.validate_record(&stored.record, stored.entered_at)
    }

    /// Validates a record that is not stored, as if it were entered now.
    pub fn check(&self, record: &Record) -> Result<Vec<Issue>, StoreError> {
        let mut issues = self.validate_record(record, self.now())?;
        let related = self.related(record)?;
        issues.extend(domain::validation::check_edit(None, record, &issues, &related));
        Ok(issues)
    }

    /// How many records the store holds (void ones included).
    pub fn count(&self) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM records", [], |r| r.get::<_, i64>(0))? as usize)
    }
}
