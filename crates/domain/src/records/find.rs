use crate::geometry::CapturedPoint;
use crate::vocabulary::{Code, DisposalStatus, FindCategory, TriState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// An explosive ordnance item, or a batch of identical items at one point. The location is where it was
/// found, not where it was destroyed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Find {
    pub task: Uuid,
    #[serde(default)]
    pub worked_area: Option<Uuid>,
    /// Optional for EOD call-outs.
    #[serde(default)]
    pub daily_report: Option<Uuid>,
    pub location: CapturedPoint,
    pub found_at: DateTime<Utc>,
    pub found_by: String,
    /// Detection method code: detector, dog_indication, machine, visual, excavation, informant.
    pub detection: Code,
    pub category: FindCategory,
    /// Ordnance model from the catalogue, e.g. PMN-2, TM-62M, VOG-17.
    #[serde(default)]
    pub model: Option<Code>,
    pub quantity: i64,
    pub depth_cm: i64,
    /// Condition code: intact, damaged, corroded, partially_functioned, fragments, unknown.
    pub condition: Code,
    pub fuzed: TriState,
    pub armed: TriState,
    pub booby_trapped: TriState,
    /// Photo blobs by sha256 (merges as a set).
    #[serde(default)]
    pub photos: BTreeSet<String>,
    pub disposal: DisposalStatus,
}
