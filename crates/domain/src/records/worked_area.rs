use crate::geometry::AreaShape;
use crate::vocabulary::{Code, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// A box, lane set or sector worked on one day ("cleared plot"). Totals use the computed area, not the reported one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkedArea {
    pub task: Uuid,
    #[serde(default)]
    pub daily_report: Option<Uuid>,
    pub shape: AreaShape,
    /// How the shape was captured (capture method code) and its horizontal accuracy in metres.
    pub capture_method: Code,
    pub accuracy_m: f64,
    #[serde(default)]
    pub reported_area_m2: Option<f64>,
    /// Clearance method codes: manual, mechanical, mdd (dogs), bac...
    #[serde(default)]
    pub methods: BTreeSet<Code>,
    #[serde(default)]
    pub depth_achieved_cm: Option<i64>,
    pub outcome: Outcome,
    /// Required when the outcome is inaccessible.
    #[serde(default)]
    pub inaccessible_reason: Option<String>,
    /// For reduced land: whether a technical asset (machine, dog) did the reduction.
    #[serde(default)]
    pub technical_asset: Option<bool>,
}
