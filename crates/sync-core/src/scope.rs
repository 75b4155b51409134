//! Which records a device may see and write (protocol.md, "Scope").
//!
//! A record with a task belongs to that task's teams; a device sees and writes the records of its teams' tasks.
//! Records without a task (hazard areas, incidents away from a task) are shared: every device sees them and may
//! write them as far as its role allows (domain::authority). HQ and admin devices see everything.

use crate::store::{Device, Visibility};
use std::collections::BTreeSet;

pub fn visibility(device: &Device) -> Visibility {
    if device.role.sees_everything() {
        Visibility::All
    } else {
        Visibility::Teams(device.teams.clone())
    }
}

/// Whether `device` sees a record whose task has `task_teams` (None: the record has no task, and everyone sees it).
/// A device writes what it sees, as far as its role allows (domain::authority).
pub fn sees(device: &Device, task_teams: Option<&BTreeSet<String>>) -> bool {
    device.role.sees_everything() || task_teams.is_none_or(|teams| !teams.is_disjoint(&device.teams))
}
