//! Scope at ingress: a device writes only records of its teams' tasks, before and after its changes, and links only
//! to records it sees. A refusal names nothing of what the device may not see.

use super::{Refusal, Verdict, deferred};
use crate::staging::Staging;
use crate::store::{Device, RecordRow, StorageError, SyncStore};
use domain::records::RecordBody;
use domain::{Record, RecordType};
use protocol::RejectionCode;
use std::collections::BTreeSet;

/// The verdict on a push that leaves the device's scope (or waits for its task), or None when it stays within it.
pub(super) async fn check<S: SyncStore>(
    storage: &Staging<'_, S>,
    device: &Device,
    before: Option<&Record>,
    after: &Record,
    hashes: Vec<String>,
) -> Result<Option<Verdict>, StorageError> {
    let mut tasks = vec![task_of(after)];
    tasks.extend(before.map(task_of));
    for task in tasks {
        let teams = match task {
            TaskRef::None => None,
            TaskRef::Itself(teams) => Some(teams),
            TaskRef::Other(task_id) => match storage.record(task_id).await? {
                Some(row) => Some(row.task_teams),
                None => {
                    let message = format!("task {task_id} is not on the server yet: push it first");
                    return Ok(Some(Verdict::Decided(deferred(after.id(), message, hashes))));
                }
            },
        };
        if !crate::scope::sees(device, teams.as_ref()) {
            let why = "in a task this device does not work on".to_string();
            return Ok(Some(Verdict::Refuse(out_of_scope(
                after,
                device,
                why,
                "writes only records",
                hashes,
            ))));
        }
    }
    for (field, linked) in after.links() {
        if let Some(row) = storage.record(linked).await?
            && !visible(storage, device, &row).await?
        {
            let why = format!("`{field}` names a record this device may not see");
            return Ok(Some(Verdict::Refuse(out_of_scope(
                after,
                device,
                why,
                "links only to records",
                hashes,
            ))));
        }
    }
    Ok(None)
}

/// Where a record's scope comes from.
enum TaskRef {
    /// A task record: its own teams.
    Itself(BTreeSet<String>),
    Other(uuid::Uuid),
    None,
}

fn task_of(record: &Record) -> TaskRef {
    match (&record.body, record.task_id()) {
        (RecordBody::Task(task), _) => TaskRef::Itself(task.teams.clone()),
        (_, Some(task)) => TaskRef::Other(task),
        (_, None) => TaskRef::None,
    }
}

/// A refusal for scope. The record is named as the device's own changes make it (a device that can write a change
/// of a record holds its history), never the task, teams or records it may not see; and it reads the same whether
/// the record is new here or another team's, so the answer does not tell which.
fn out_of_scope(after: &Record, device: &Device, why: String, may: &str, hashes: Vec<String>) -> Refusal {
    let message = format!(
        "{} {}: {why}; device {} ({}, teams {}) {may} of its teams' tasks",
        after.record_type(),
        after.meta.label,
        device.name,
        device.role,
        teams_text(device)
    );
    Refusal {
        code: RejectionCode::OutOfScope,
        message,
        issues: vec![],
        hashes,
    }
}

pub(super) fn teams_text(device: &Device) -> String {
    if device.teams.is_empty() {
        return "none".into();
    }
    device.teams.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Whether `device` sees a stored record: a task by its own teams, anything else by its task's.
async fn visible<S: SyncStore>(
    storage: &Staging<'_, S>,
    device: &Device,
    row: &RecordRow,
) -> Result<bool, StorageError> {
    if device.role.sees_everything() {
        return Ok(true);
    }
    let teams = match (row.record_type, row.task_id) {
        (RecordType::Task, _) => Some(row.task_teams.clone()),
        (_, Some(task)) => storage.record(task).await?.map(|t| t.task_teams),
        (_, None) => None,
    };
    Ok(crate::scope::sees(device, teams.as_ref()))
}
