use crate::geometry::{CapturedPoint, PolygonShape, SurveyPoint};
use crate::vocabulary::Code;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Completion and handover of a task. Cleared, reduced and cancelled totals and the finds summary are derived
/// from approved records, never entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionReport {
    pub task: Uuid,
    #[serde(default)]
    pub final_perimeter: Option<PolygonShape>,
    /// The perimeter as walked: start, turning and intermediate points in order. One atomic value, like a polygon.
    #[serde(default)]
    pub turning_points: Vec<SurveyPoint>,
    #[serde(default)]
    pub benchmark: Option<CapturedPoint>,
    #[serde(default)]
    pub reference_point: Option<CapturedPoint>,
    #[serde(default)]
    pub depth_cm: Option<i64>,
    #[serde(default)]
    pub methods: BTreeSet<Code>,
    /// QA inspections the completion relies on.
    #[serde(default)]
    pub qa_inspections: BTreeSet<Uuid>,
    #[serde(default)]
    pub handover_date: Option<NaiveDate>,
    #[serde(default)]
    pub recipient: Option<String>,
    /// Head counts of people present at handover, keyed by sex and age group code, e.g. `female_adult`.
    #[serde(default)]
    pub people_present: BTreeMap<String, i64>,
}
