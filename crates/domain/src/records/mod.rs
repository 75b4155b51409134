//! The records of mine action (shared/domain.md, "Records"): one Rust type per record, all sharing [`RecordMeta`].
//!
//! A record's JSON form is flat: the meta fields, `type`, and the body's fields side by side. This is what a
//! user types into `fieldsync add`, what `show --json` prints, and what the Automerge mapping stores field by field.

mod completion_report;
mod daily_report;
mod demolition;
mod find;
mod hazard_area;
mod incident;
mod qa_inspection;
mod task;
mod worked_area;

pub use completion_report::CompletionReport;
pub use daily_report::{DailyReport, Person, SignOff, Stoppage};
pub use demolition::{DemolishedFind, Demolition};
pub use find::Find;
pub use hazard_area::HazardArea;
pub use incident::{Incident, Victim};
pub use qa_inspection::QaInspection;
pub use task::Task;
pub use worked_area::WorkedArea;

use crate::geometry::Position;
use crate::input::InputError;
use crate::vocabulary::ReviewStatus;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// Which kind of record a document holds; the `type` field of its JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    HazardArea,
    Task,
    DailyReport,
    WorkedArea,
    Find,
    Demolition,
    QaInspection,
    CompletionReport,
    Incident,
}

impl RecordType {
    pub const ALL: [RecordType; 9] = [
        RecordType::HazardArea,
        RecordType::Task,
        RecordType::DailyReport,
        RecordType::WorkedArea,
        RecordType::Find,
        RecordType::Demolition,
        RecordType::QaInspection,
        RecordType::CompletionReport,
        RecordType::Incident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::HazardArea => "hazard_area",
            RecordType::Task => "task",
            RecordType::DailyReport => "daily_report",
            RecordType::WorkedArea => "worked_area",
            RecordType::Find => "find",
            RecordType::Demolition => "demolition",
            RecordType::QaInspection => "qa_inspection",
            RecordType::CompletionReport => "completion_report",
            RecordType::Incident => "incident",
        }
    }

    pub fn parse(name: &str) -> Option<RecordType> {
        RecordType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The type names, for error messages.
    pub fn names() -> String {
        RecordType::ALL.map(|t| t.as_str()).join(", ")
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fields every record has, whatever its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordMeta {
    /// Made on the device (UUID v7 sorts by creation time).
    pub id: Uuid,
    /// The human label, such as `CHA-FZ-0142` or `T-031/B3`.
    pub label: String,
    /// The day the facts refer to, in the programme's time zone; kept apart from when they were typed or received.
    pub date_of_information: NaiveDate,
    #[serde(default)]
    pub review: ReviewStatus,
    /// The approved record this one corrects.
    #[serde(default)]
    pub supersedes: Option<Uuid>,
    /// Set when the record was entered by mistake; it stays in history and audit exports.
    #[serde(default)]
    pub void: Option<Void>,
    /// Free-text notes keyed by an id (merge as a set).
    #[serde(default)]
    pub notes: BTreeMap<String, Note>,
    /// Warnings a supervisor accepted, keyed by `rule:field`.
    #[serde(default)]
    pub accepted_warnings: BTreeMap<String, Acceptance>,
    /// Who last moved the review status (returned or approved it): the person and the device, as the deciding
    /// device records them. The server keeps the authenticated device beside every change.
    #[serde(default)]
    pub reviewed_by: Option<String>,
    /// Why the record was returned; required to return it.
    #[serde(default)]
    pub return_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Void {
    pub reason: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub text: String,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    pub by: String,
    pub comment: String,
}

/// The type-specific part of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordBody {
    HazardArea(HazardArea),
    Task(Task),
    DailyReport(DailyReport),
    WorkedArea(WorkedArea),
    Find(Find),
    Demolition(Demolition),
    QaInspection(QaInspection),
    CompletionReport(CompletionReport),
    Incident(Incident),
}

/// How a collection field merges. Both are Automerge maps keyed by id, so concurrent additions both survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// A set of strings (JSON array); stored as a map from each member to `true`.
    Set,
    /// A map from an id to an item (JSON object); each item is one atomic value.
    Keyed,
}

/// A record: the common envelope and the type-specific body.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub meta: RecordMeta,
    pub body: RecordBody,
}

const META_FIELDS: [&str; 10] = [
    "id",
    "label",
    "date_of_information",
    "review",
    "supersedes",
    "void",
    "notes",
    "accepted_warnings",
    "reviewed_by",
    "return_reason",
];
const META_COLLECTIONS: [(&str, Collection); 2] =
    [("notes", Collection::Keyed), ("accepted_warnings", Collection::Keyed)];

impl Record {
    pub fn id(&self) -> Uuid {
        self.meta.id
    }

    pub fn record_type(&self) -> RecordType {
        self.body.record_type()
    }

    /// The flat JSON form: `type`, the meta fields and the body fields. Every field is present (absent = null).
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), Value::String(self.record_type().as_str().into()));
        for part in [to_object(&self.meta), self.body.to_object()] {
            object.extend(part);
        }
        Value::Object(object)
    }

    /// Parses the flat JSON form. A missing `id` takes `new_id` (the caller supplies randomness).
    pub fn from_json(value: Value, new_id: Uuid) -> Result<Record, InputError> {
        let Value::Object(mut object) = value else {
            return Err(InputError::NotAnObject {
                found: json_kind(&value),
            });
        };
        let record_type = match object.remove("type") {
            Some(Value::String(name)) => RecordType::parse(&name).ok_or(InputError::UnknownType { name })?,
            Some(other) => {
                return Err(InputError::UnknownType {
                    name: other.to_string(),
                });
            }
            None => return Err(InputError::MissingType),
        };
        if !object.contains_key("id") || object["id"].is_null() {
            object.insert("id".into(), Value::String(new_id.to_string()));
        }
        let mut meta = Map::new();
        for field in META_FIELDS {
            if let Some(value) = object.remove(field) {
                meta.insert(field.into(), value);
            }
        }
        let meta: RecordMeta = crate::input::deserialize(record_type, Value::Object(meta))?;
        let body = RecordBody::from_object(record_type, object)?;
        Ok(Record { meta, body })
    }

    /// The collection fields of this record's type and how each merges; every other field is one register.
    pub fn collections(record_type: RecordType) -> impl Iterator<Item = (&'static str, Collection)> {
        use Collection::{Keyed, Set};
        let body: &[(&str, Collection)] = match record_type {
            RecordType::HazardArea => &[("contamination", Set), ("evidence", Set)],
            RecordType::Task => &[("hazard_areas", Set), ("teams", Set), ("authorised_methods", Set)],
            RecordType::DailyReport => &[("personnel", Keyed), ("stoppages", Keyed), ("assets", Set)],
            RecordType::WorkedArea => &[("methods", Set)],
            RecordType::Find => &[("photos", Set)],
            RecordType::Demolition => &[("finds", Keyed)],
            RecordType::QaInspection => &[],
            RecordType::CompletionReport => &[("methods", Set), ("qa_inspections", Set), ("people_present", Keyed)],
            RecordType::Incident => &[("victims", Keyed)],
        };
        META_COLLECTIONS.into_iter().chain(body.iter().copied())
    }

    /// The records this one points at, as (field, id). Links run child → parent; reverse lists are queries.
    pub fn links(&self) -> Vec<(&'static str, Uuid)> {
        let mut links = Vec::new();
        let mut add = |field: &'static str, id: Option<Uuid>| links.extend(id.map(|id| (field, id)));
        add("supersedes", self.meta.supersedes);
        match &self.body {
            RecordBody::HazardArea(_) => {}
            RecordBody::Task(t) => t.hazard_areas.iter().for_each(|id| add("hazard_areas", Some(*id))),
            RecordBody::DailyReport(d) => add("task", Some(d.task)),
            RecordBody::WorkedArea(w) => {
                add("task", Some(w.task));
                add("daily_report", w.daily_report);
            }
            RecordBody::Find(f) => {
                add("task", Some(f.task));
                add("worked_area", f.worked_area);
                add("daily_report", f.daily_report);
            }
            RecordBody::Demolition(d) => {
                add("task", d.task);
                d.finds.keys().for_each(|id| add("finds", Some(*id)));
            }
            RecordBody::QaInspection(q) => {
                add("task", Some(q.task));
                add("worked_area", q.worked_area);
            }
            RecordBody::CompletionReport(c) => {
                add("task", Some(c.task));
                c.qa_inspections.iter().for_each(|id| add("qa_inspections", Some(*id)));
            }
            RecordBody::Incident(i) => add("task", i.task),
        }
        links
    }

    /// The task a record belongs to (a task belongs to itself), for listing by task.
    pub fn task_id(&self) -> Option<Uuid> {
        match &self.body {
            RecordBody::HazardArea(_) => None,
            RecordBody::Task(_) => Some(self.meta.id),
            RecordBody::DailyReport(d) => Some(d.task),
            RecordBody::WorkedArea(w) => Some(w.task),
            RecordBody::Find(f) => Some(f.task),
            RecordBody::Demolition(d) => d.task,
            RecordBody::QaInspection(q) => Some(q.task),
            RecordBody::CompletionReport(c) => Some(c.task),
            RecordBody::Incident(i) => i.task,
        }
    }

    /// The type's own status, for listing by status: a hazard area's or task's status, a worked area's outcome,
    /// a find's disposal, a demolition's or inspection's result, an incident's kind.
    pub fn status(&self) -> Option<&'static str> {
        match &self.body {
            RecordBody::HazardArea(h) => Some(h.status.as_str()),
            RecordBody::Task(t) => Some(t.status.as_str()),
            RecordBody::WorkedArea(w) => Some(w.outcome.as_str()),
            RecordBody::Find(f) => Some(f.disposal.as_str()),
            RecordBody::Demolition(d) => Some(d.result.as_str()),
            RecordBody::QaInspection(q) => Some(q.result.as_str()),
            RecordBody::Incident(i) => Some(i.kind.as_str()),
            RecordBody::DailyReport(_) | RecordBody::CompletionReport(_) => None,
        }
    }

    /// Every position the record holds, for bounding boxes and coordinate checks.
    pub fn positions(&self) -> Vec<Position> {
        let mut out: Vec<Position> = Vec::new();
        match &self.body {
            RecordBody::HazardArea(h) => {
                out.extend(h.reference_point.iter().chain(&h.benchmark).map(|p| p.position()));
                out.extend(h.perimeter.iter().flat_map(|p| p.positions().copied()));
            }
            RecordBody::WorkedArea(w) => out.extend(w.shape.positions().copied()),
            RecordBody::Find(f) => out.push(f.location.position()),
            RecordBody::Demolition(d) => out.push(d.site.position()),
            RecordBody::CompletionReport(c) => {
                out.extend(c.final_perimeter.iter().flat_map(|p| p.positions().copied()));
                out.extend(c.turning_points.iter().map(|t| t.point.position()));
                out.extend(c.benchmark.iter().chain(&c.reference_point).map(|p| p.position()));
            }
            RecordBody::Incident(i) => out.push(i.location.position()),
            RecordBody::Task(_) | RecordBody::DailyReport(_) | RecordBody::QaInspection(_) => {}
        }
        out
    }
}

impl RecordBody {
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordBody::HazardArea(_) => RecordType::HazardArea,
            RecordBody::Task(_) => RecordType::Task,
            RecordBody::DailyReport(_) => RecordType::DailyReport,
            RecordBody::WorkedArea(_) => RecordType::WorkedArea,
            RecordBody::Find(_) => RecordType::Find,
            RecordBody::Demolition(_) => RecordType::Demolition,
            RecordBody::QaInspection(_) => RecordType::QaInspection,
            RecordBody::CompletionReport(_) => RecordType::CompletionReport,
            RecordBody::Incident(_) => RecordType::Incident,
        }
    }

    fn to_object(&self) -> Map<String, Value> {
        match self {
            RecordBody::HazardArea(b) => to_object(b),
            RecordBody::Task(b) => to_object(b),
            RecordBody::DailyReport(b) => to_object(b),
            RecordBody::WorkedArea(b) => to_object(b),
            RecordBody::Find(b) => to_object(b),
            RecordBody::Demolition(b) => to_object(b),
            RecordBody::QaInspection(b) => to_object(b),
            RecordBody::CompletionReport(b) => to_object(b),
            RecordBody::Incident(b) => to_object(b),
        }
    }

    fn from_object(record_type: RecordType, object: Map<String, Value>) -> Result<RecordBody, InputError> {
        use crate::input::deserialize as de;
        let v = Value::Object(object);
        Ok(match record_type {
            RecordType::HazardArea => RecordBody::HazardArea(de(record_type, v)?),
            RecordType::Task => RecordBody::Task(de(record_type, v)?),
            RecordType::DailyReport => RecordBody::DailyReport(de(record_type, v)?),
            RecordType::WorkedArea => RecordBody::WorkedArea(de(record_type, v)?),
            RecordType::Find => RecordBody::Find(de(record_type, v)?),
            RecordType::Demolition => RecordBody::Demolition(de(record_type, v)?),
            RecordType::QaInspection => RecordBody::QaInspection(de(record_type, v)?),
            RecordType::CompletionReport => RecordBody::CompletionReport(de(record_type, v)?),
            RecordType::Incident => RecordBody::Incident(de(record_type, v)?),
        })
    }
}

/// Serializes one of our own record structs to a JSON object. They have string keys and no maps keyed by
/// anything else, so this cannot fail; a failure would be a bug in this crate, not bad input.
fn to_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => object,
        other => unreachable!("record structs serialize to JSON objects, got {other:?}"),
    }
}

pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
