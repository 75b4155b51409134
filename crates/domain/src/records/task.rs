use crate::vocabulary::{Activity, Code, TaskStatus};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// A tasking order: what to do on which hazard areas, by whom, to which depth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub activity: Activity,
    pub status: TaskStatus,
    #[serde(default)]
    pub hazard_areas: BTreeSet<Uuid>,
    pub organisation: String,
    #[serde(default)]
    pub teams: BTreeSet<String>,
    #[serde(default)]
    pub planned_start: Option<NaiveDate>,
    #[serde(default)]
    pub planned_end: Option<NaiveDate>,
    /// Set per task by the national authority; never assumed.
    #[serde(default)]
    pub required_depth_cm: Option<i64>,
    #[serde(default)]
    pub authorised_methods: BTreeSet<Code>,
    /// Why a completed task was reopened; required to take new daily reports again.
    #[serde(default)]
    pub reopen_reason: Option<String>,
}
