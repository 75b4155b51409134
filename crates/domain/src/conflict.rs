//! Concurrent values of one field, and which of them is the more dangerous to show while unresolved.

use crate::document::Authorship;
use crate::records::RecordType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A field (or `collection/key`) that two or more devices set concurrently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldConflict {
    pub field: String,
    pub candidates: Vec<Candidate>,
}

/// One concurrent value, with the change that set it and who that change says made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub value: Value,
    pub author: Option<Authorship>,
    pub change: Option<String>,
    /// Automerge's deterministic pick; shown unless the field is safety-relevant.
    pub winner: bool,
}

/// Safety-relevant fields, each with its values from least to most dangerous to believe.
/// Land stays most suspect: a merge never makes a plot cleared, a hazard closed, a find disposed or a record approved.
const DANGER_ORDER: &[(RecordType, &str, &[&str])] = &[
    (
        RecordType::WorkedArea,
        "outcome",
        &[
            "cleared",
            "reduced",
            "cancelled",
            "searched_negative",
            "inaccessible",
            "searched_positive",
        ],
    ),
    (
        RecordType::HazardArea,
        "status",
        &["closed", "suspended", "worked_on", "open"],
    ),
    (RecordType::Find, "disposal", &["disposed", "handed_over", "pending"]),
    (RecordType::Find, "fuzed", &["no", "unknown", "yes"]),
    (RecordType::Find, "armed", &["no", "unknown", "yes"]),
    (RecordType::Find, "booby_trapped", &["no", "unknown", "yes"]),
    (
        RecordType::QaInspection,
        "result",
        &[
            "pass",
            "minor_non_conformity",
            "major_non_conformity",
            "critical_non_conformity",
            "fail",
        ],
    ),
    (RecordType::Demolition, "result", &["complete", "partial", "misfire"]),
];

/// Review status of any record type: the least approved value wins while in conflict.
const REVIEW_DANGER: &[&str] = &["hq_approved", "supervisor_approved", "submitted", "draft", "returned"];

/// The candidate to show for a safety-relevant field in conflict, or None to keep Automerge's pick.
/// A find's quantity shows the largest count.
pub fn most_dangerous(record_type: RecordType, field: &str, candidates: &[Candidate]) -> Option<Value> {
    if record_type == RecordType::Find && field == "quantity" {
        return candidates
            .iter()
            .filter_map(|c| c.value.as_i64())
            .max()
            .map(Value::from);
    }
    let order = if field == "review" {
        REVIEW_DANGER
    } else {
        DANGER_ORDER
            .iter()
            .find(|(t, f, _)| *t == record_type && *f == field)
            .map(|(_, _, order)| *order)?
    };
    let rank = |c: &Candidate| c.value.as_str().and_then(|v| order.iter().position(|o| *o == v));
    candidates
        .iter()
        .filter(|c| rank(c).is_some())
        .max_by_key(|c| rank(c))
        .map(|c| c.value.clone())
}

/// Whether conflicts on this field are safety-relevant (resolved towards danger until a supervisor decides).
pub fn is_safety_field(record_type: RecordType, field: &str) -> bool {
    field == "review"
        || (record_type == RecordType::Find && field == "quantity")
        || DANGER_ORDER.iter().any(|(t, f, _)| *t == record_type && *f == field)
}

/// Fields whose conflicts must not be decided by just anyone (shared/domain.md, "Conflicts"): geometry, a find's
/// category, model and quantity, outcomes, statuses, results, depths, and every field shown towards danger.
/// Deciding one is the `resolve_conflict` action of the authority table.
pub fn is_safety_relevant(record_type: RecordType, field: &str) -> bool {
    const FIELDS: [&str; 12] = [
        "status",
        "outcome",
        "result",
        "category",
        "model",
        "shape",
        "location",
        "perimeter",
        "final_perimeter",
        "site",
        "depth_cm",
        "depth_achieved_cm",
    ];
    is_safety_field(record_type, field) || FIELDS.contains(&field)
}
