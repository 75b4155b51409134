use crate::vocabulary::Code;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// One team's day on one task. Its totals are derived from the worked areas, finds, demolitions and
/// QA inspections that link to it, never entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DailyReport {
    pub task: Uuid,
    pub team: String,
    pub team_leader: String,
    /// People on site, keyed by a person id (merges as a set when two devices add people).
    #[serde(default)]
    pub personnel: BTreeMap<String, Person>,
    #[serde(default)]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_time: Option<DateTime<Utc>>,
    /// Stoppages keyed by an id.
    #[serde(default)]
    pub stoppages: BTreeMap<String, Stoppage>,
    /// Asset codes or serials used that day: detectors, dogs, machines.
    #[serde(default)]
    pub assets: BTreeSet<String>,
    #[serde(default)]
    pub ground_conditions: Option<Code>,
    #[serde(default)]
    pub weather: Option<Code>,
    #[serde(default)]
    pub supervisor_signoff: Option<SignOff>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stoppage {
    /// Stoppage reason code: weather, medical, equipment, security, other.
    pub reason: Code,
    pub minutes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOff {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub comment: Option<String>,
}
