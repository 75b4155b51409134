use crate::geometry::{CapturedPoint, PolygonShape};
use crate::vocabulary::{Code, HazardClass, HazardStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A suspected or confirmed hazardous area (IMSMA "Land"). Its remaining area is derived, never entered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HazardArea {
    pub classification: HazardClass,
    pub status: HazardStatus,
    /// Contamination codes: ap_mines, at_mines, uxo, abandoned_ordnance, cluster_munition_remnants, ied.
    #[serde(default)]
    pub contamination: BTreeSet<Code>,
    /// Evidence codes (direct or indirect) that justify the classification.
    #[serde(default)]
    pub evidence: BTreeSet<Code>,
    #[serde(default)]
    pub reference_point: Option<CapturedPoint>,
    #[serde(default)]
    pub benchmark: Option<CapturedPoint>,
    #[serde(default)]
    pub perimeter: Option<PolygonShape>,
    /// Accuracy of the perimeter's positions, in metres.
    #[serde(default)]
    pub perimeter_accuracy_m: Option<f64>,
    #[serde(default)]
    pub estimated_area_m2: Option<f64>,
}
