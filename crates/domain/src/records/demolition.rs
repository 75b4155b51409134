use crate::geometry::CapturedPoint;
use crate::vocabulary::{Code, DemolitionResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A disposal event covering one or more finds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demolition {
    #[serde(default)]
    pub task: Option<Uuid>,
    /// Method code: destroyed_in_situ, moved_and_destroyed_on_site, transported_to_central_site,
    /// render_safe_then_removed, handed_over_to_authority.
    pub method: Code,
    pub site: CapturedPoint,
    pub at: DateTime<Utc>,
    pub operator: String,
    #[serde(default)]
    pub charge: Option<String>,
    /// The finds destroyed, keyed by find id.
    pub finds: BTreeMap<Uuid, DemolishedFind>,
    pub result: DemolitionResult,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemolishedFind {
    pub quantity: i64,
}
