use crate::geometry::CapturedPoint;
use crate::vocabulary::{Code, IncidentKind, Injury, Sex};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A demining accident, an incident without injury, or a civilian accident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub kind: IncidentKind,
    pub occurred_at: DateTime<Utc>,
    pub location: CapturedPoint,
    #[serde(default)]
    pub task: Option<Uuid>,
    /// The ordnance model involved, if known.
    #[serde(default)]
    pub device: Option<Code>,
    #[serde(default)]
    pub activity: Option<String>,
    /// Victims keyed by an id.
    #[serde(default)]
    pub victims: BTreeMap<String, Victim>,
    #[serde(default)]
    pub investigation_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Victim {
    pub sex: Sex,
    /// Age band code: child, adult, elderly, unknown.
    pub age_band: Code,
    pub injury: Injury,
}
