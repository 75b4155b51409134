//! HQ's data-quality report over the stored records: each task with its records and the hazard areas it covers,
//! one task at a time (memory stays that of the largest task), through [`findings`] (the findings of one task,
//! pure); then the hazard areas no task covers, alone. A hazard area covered by several tasks is reported once.

mod findings;

pub use findings::*;

use chrono::{DateTime, Utc};
use domain::{Programme, Record, RecordType};
use std::collections::{HashMap, HashSet};
use sync_core::store::{RecordRow, StorageError, SyncStore};
use uuid::Uuid;

/// The report of one task, or of every task when `task` is None, in task id order, as of `now`.
pub async fn report<S: SyncStore>(
    storage: &S,
    programme: &Programme,
    task: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<QualityReport, StorageError> {
    let tasks = match task {
        Some(task) => vec![task],
        None => storage.record_ids(RecordType::Task).await?,
    };
    let devices: HashMap<Uuid, Reviewer> = storage
        .devices()
        .await?
        .into_iter()
        .map(|d| {
            let reviewer = Reviewer {
                name: d.name,
                role: d.role,
                teams: d.teams,
            };
            (d.id, reviewer)
        })
        .collect();
    let stored = |row: &RecordRow| stored(row, &devices);
    let mut all = QualityReport::default();
    let mut seen = HashSet::new();
    let mut covered = HashSet::new();
    let mut add = |report: QualityReport, all: &mut QualityReport| {
        for finding in report.findings {
            if seen.insert((finding.kind, finding.record_id, finding.other_record_id)) {
                all.findings.push(finding);
            }
        }
    };
    for task in &tasks {
        let task = *task;
        let mut rows = storage.records_of_task(task).await?;
        let hazards: Vec<Uuid> = rows
            .iter()
            .filter(|row| row.record_id == task)
            .flat_map(|row| row.hazard_areas.iter().copied())
            .collect();
        for hazard in hazards {
            covered.insert(hazard);
            rows.extend(storage.record(hazard).await?);
        }
        let records = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
        add(quality_report(programme, &records, now), &mut all);
    }
    if task.is_none() {
        for hazard in storage.record_ids(RecordType::HazardArea).await? {
            if covered.contains(&hazard) {
                continue;
            }
            let records = storage
                .record(hazard)
                .await?
                .iter()
                .map(stored)
                .collect::<Result<Vec<_>, _>>()?;
            add(quality_report(programme, &records, now), &mut all);
        }
    }
    Ok(all)
}

fn stored(row: &RecordRow, devices: &HashMap<Uuid, Reviewer>) -> Result<StoredRecord, StorageError> {
    let record = Record::from_json(row.body.clone(), row.record_id)
        .map_err(|e| StorageError::Damaged(format!("record {}: {e}", row.record_id)))?;
    Ok(StoredRecord {
        record,
        warnings: row.warnings.clone(),
        conflicts: row.conflicts.clone(),
        review_since: row.review_since,
        review_by: row.review_by.and_then(|d| devices.get(&d).cloned()),
    })
}
