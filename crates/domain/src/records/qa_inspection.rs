use crate::vocabulary::{Code, QaResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A quality assurance or control check of a deminer, a team or a worked area.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaInspection {
    /// Kind code: internal_qa, external_qa, qc_sampling.
    pub kind: Code,
    pub inspector: String,
    pub task: Uuid,
    #[serde(default)]
    pub worked_area: Option<Uuid>,
    #[serde(default)]
    pub subject_team: Option<String>,
    #[serde(default)]
    pub subject_deminer: Option<String>,
    #[serde(default)]
    pub area_checked_m2: Option<f64>,
    pub result: QaResult,
    /// An item found during QA makes the result critical at least.
    #[serde(default)]
    pub item_found: bool,
    #[serde(default)]
    pub corrective_action: Option<String>,
    #[serde(default)]
    pub rework_area_m2: Option<f64>,
}
