//! The validation rules of shared/domain.md that concern one record and its neighbourhood.
//!
//! Errors block a write; warnings are stored with the record and need a supervisor's acceptance
//! (`accepted_warnings`) before approval. Every [`Issue`] names the record, the field, the value and the rule.

mod fields;
mod links;
pub mod neighbourhood;
mod spatial;
mod workflow;

pub use workflow::{check_edit, warning_key};

use crate::programme::Programme;
use crate::records::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

/// Declares the rule catalogue: each rule's stable code, severity and what it demands.
macro_rules! rules {
    ($($variant:ident => $code:literal, $severity:ident, $text:literal;)+) => {
        /// A validation rule. The code is stable: it appears in messages, quarantine and reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Rule { $(#[serde(rename = $code)] $variant),+ }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),+];
            pub fn code(self) -> &'static str { match self { $(Rule::$variant => $code),+ } }
            pub fn severity(self) -> Severity { match self { $(Rule::$variant => Severity::$severity),+ } }
            /// What the rule demands, in the words of shared/domain.md.
            pub fn text(self) -> &'static str { match self { $(Rule::$variant => $text),+ } }
        }
    };
}

rules! {
    Coordinates => "coordinates", Error, "coordinates must be finite WGS84 degrees in range and not (0,0)";
    Polygon => "polygon", Error, "a polygon needs closed rings of at least 3 distinct vertices that do not self-intersect";
    DepthRange => "depth_range", Error, "depths are whole centimetres, 0 or more";
    QuantityRange => "quantity_range", Error, "a quantity is at least 1";
    AreaRange => "area_range", Error, "areas and widths are 0 or more square metres or metres";
    BearingRange => "bearing_range", Error, "a bearing is in [0, 360) degrees";
    AccuracyRange => "accuracy_range", Error, "a horizontal accuracy is 0 or more metres";
    NonNegative => "non_negative", Error, "durations, distances and head counts are 0 or more";
    RequiredField => "required_field", Error, "the field is required here";
    UnknownCode => "unknown_code", Error, "the code must be in the programme's reference data";
    ModelCategory => "model_category", Error, "the catalogue category of the ordnance model must match the category entered";
    TimeOrder => "time_order", Error, "a start comes no later than its end";
    DemolitionAfterFind => "demolition_after_find", Error, "a demolition happens after the finds it destroys were found";
    HazardClosure => "hazard_closure", Error, "a hazard area closes only with an approved completion report, every find disposed and a passed QA/QC inspection";
    TaskCompleted => "task_completed", Error, "no new daily report on a completed or cancelled task without reopening it with a reason";
    LinkTask => "link_task", Error, "a record cannot link to a worked area or daily report of another task";
    LinkType => "link_type", Error, "a link must point to a record of the right type";
    ClearanceDepth => "clearance_depth", Error, "an area is cleared only to at least the task's required depth";
    QaItemFound => "qa_item_found", Error, "an item found during QA makes the result at least a critical non-conformity";
    ApprovedImmutable => "approved_immutable", Error, "an approved record is never edited in place: record a correction that supersedes it";
    ReviewTransition => "review_transition", Error, "review goes draft → submitted → (returned → draft) → supervisor_approved → hq_approved";
    UnacceptedWarnings => "unaccepted_warnings", Error, "a record is approved only once a supervisor accepted each warning with a comment";
    ReopenReason => "reopen_reason", Error, "a completed or cancelled task reopens only with a reason";
    ReturnReason => "return_reason", Error, "a record is returned only with a reason, for the team to act on";
    ProgrammeArea => "programme_area", Warning, "the point lies outside the programme's bounding box";
    PointSpacing => "point_spacing", Warning, "turning points more than 50 m apart need an intermediate point";
    VertexSpacing => "vertex_spacing", Warning, "polygon vertices more than 5 km apart";
    AreaMismatch => "area_mismatch", Warning, "the reported area differs from the computed one by more than max(5 %, 10 m²); totals use the computed area";
    OutsideHazard => "outside_hazard", Warning, "the worked area extends beyond its task's hazard areas (buffered by GPS accuracy): a boundary extension to accept";
    FindOutsideWorkedArea => "find_outside_worked_area", Warning, "the find lies outside its worked area (buffered by GPS accuracy)";
    Overlap => "overlap", Warning, "worked areas of one task overlap by more than 1 % of the smaller (double counting)";
    FindDeeperThanRequired => "find_deeper_than_required", Warning, "the find lies deeper than the task's required clearance depth";
    FutureTime => "future_time", Warning, "a time in the record is more than 10 minutes after it was entered: check the device clock";
    LateEntry => "late_entry", Warning, "the record was entered long after the day it describes";
    DuplicateFind => "duplicate_find", Warning, "a find of the same model within 1 m on the same day in the same task: a possible duplicate";
    Misfire => "misfire", Warning, "a misfire needs a follow-up demolition";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One finding of validation about one field of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub severity: Severity,
    pub rule: Rule,
    pub record: Uuid,
    pub label: String,
    /// Path of the field, such as `location.lat` or `shape.coordinates[0]`.
    pub field: String,
    /// The offending value as the user would recognise it.
    pub value: String,
    pub message: String,
}

impl Issue {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{severity} [{}] {} ({}): field `{}` = {}: {}",
            self.rule, self.label, self.record, self.field, self.value, self.message
        )
    }
}

/// The records around the one being validated, gathered by whoever holds them (the device store, the server).
#[derive(Debug, Clone, Default)]
pub struct Related {
    /// Records the subject links to, the hazard areas of a linked task, and the task of a linked worked area.
    pub linked: HashMap<Uuid, Record>,
    /// Records of the same type and task near the subject (for overlaps and duplicates).
    pub siblings: Vec<Record>,
    /// For a hazard area: the records of every task that covers it (for closure).
    pub dependents: Vec<Record>,
}

impl Related {
    pub fn get(&self, id: Uuid) -> Option<&Record> {
        self.linked.get(&id).filter(|r| r.meta.void.is_none())
    }
}

/// Everything validation needs besides the record: settings, the neighbourhood, and when the record was entered.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub programme: &'a Programme,
    pub related: &'a Related,
    /// When the record was first entered on a device (for a new record: now).
    pub entered_at: DateTime<Utc>,
}

/// Validates a record against every rule that concerns it and its neighbourhood.
/// A voided record is only checked for what it still must be: well-formed.
pub fn validate(record: &Record, ctx: &Context<'_>) -> Vec<Issue> {
    let mut findings = Findings {
        record,
        issues: Vec::new(),
    };
    fields::check(&mut findings, ctx);
    if record.meta.void.is_none() {
        spatial::check(&mut findings, ctx);
        links::check(&mut findings, ctx);
    }
    findings.issues
}

/// Collects the issues found about one record.
pub(crate) struct Findings<'r> {
    pub record: &'r Record,
    pub issues: Vec<Issue>,
}

impl Findings<'_> {
    pub fn add(&mut self, rule: Rule, field: impl Into<String>, value: impl fmt::Display, message: impl Into<String>) {
        self.issues.push(Issue {
            severity: rule.severity(),
            rule,
            record: self.record.meta.id,
            label: self.record.meta.label.clone(),
            field: field.into(),
            value: value.to_string(),
            message: message.into(),
        });
    }
}
