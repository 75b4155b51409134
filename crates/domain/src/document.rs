//! One record = one Automerge document. This module is the only place that knows the document layout:
//!
//! - the root holds `schema` and every field of the record's flat JSON form;
//! - a plain field (string, number, boolean, null) is a last-writer-wins register whose losing values stay
//!   readable with `get_all`, which is how conflicts reach a supervisor;
//! - a structured field (a point, a polygon, a list of turning points) is **one atomic value** (JSON bytes),
//!   replaced whole, so two concurrent edits of a polygon become two candidates, never an interleaved ring;
//! - a collection (notes, photos, personnel...) is an Automerge map keyed by id, created in the record's first
//!   change so that two devices never create competing maps; concurrent additions therefore both survive.
//!
//! Each change's message carries its [`Authorship`]: who says they made it, on which device, doing what.

use crate::conflict::{Candidate, FieldConflict, most_dangerous};
use crate::input::InputError;
use crate::records::{Collection, Record, RecordType};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, AutomergeError, Change, ObjType, Prop, ROOT, ReadDoc, ScalarValue, hydrate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::collections::HashMap;
use uuid::Uuid;

/// Version of the document layout above, stored in every document's root.
pub const SCHEMA_VERSION: i64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
    #[error("the document is not a fieldsync record: {0}")]
    NotARecord(String),
    #[error("the document holds an invalid record: {0}")]
    InvalidRecord(#[from] InputError),
    #[error("the document has schema version {0}; this build reads version {SCHEMA_VERSION}: update fieldsync")]
    NewerSchema(i64),
}

/// Who made a change, as the change claims. The server records the authenticated device beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorship {
    pub device_id: Uuid,
    pub device: String,
    pub user: String,
    /// create, edit, resolve, void...
    pub action: String,
}

impl Authorship {
    fn commit_options(&self, time_s: i64) -> CommitOptions {
        let message = serde_json::to_string(self).unwrap_or_default();
        CommitOptions::default().with_message(message).with_time(time_s)
    }

    /// The authorship a change claims, if its message is one of ours.
    pub fn of(change: &Change) -> Option<Authorship> {
        change.message().and_then(|m| serde_json::from_str(m).ok())
    }
}

/// Creates the document of a new record; returns it with its first change.
pub fn create(
    record: &Record,
    actor: ActorId,
    author: &Authorship,
    time_s: i64,
) -> Result<(Automerge, Change), DocumentError> {
    let collections: BTreeMap<_, _> = Record::collections(record.record_type()).collect();
    let scalar = |v: &Value| hydrate::Value::Scalar(to_scalar(v));
    let mut root: HashMap<String, hydrate::Value> = HashMap::new();
    root.insert(
        "schema".into(),
        hydrate::Value::Scalar(ScalarValue::Int(SCHEMA_VERSION)),
    );
    for (field, value) in json_fields(record) {
        match collections.get(field.as_str()) {
            // An absent field reads as null: writing nulls would only cost operations.
            None if value.is_null() => {}
            None => {
                root.insert(field, scalar(&value));
            }
            Some(kind) => {
                let items: HashMap<String, hydrate::Value> = collection_items(*kind, &value)
                    .iter()
                    .map(|(k, v)| (k.clone(), scalar(v)))
                    .collect();
                root.insert(field, hydrate::Value::Map(items.into()));
            }
        }
    }
    // One batch insertion for the whole record: far cheaper than a put per field (measured in docs/benchmarks.md).
    let mut doc = Automerge::new().with_actor(actor);
    let mut tx = doc.transaction();
    tx.init_root_from_hydrate(&root.into())?;
    tx.commit_with(author.commit_options(time_s));
    let change = doc
        .get_last_local_change()
        .ok_or_else(|| DocumentError::NotARecord("creation made no change".into()))?;
    Ok((doc, change))
}

/// Changes the document so that it reads as `new`, touching only the fields and collection items that differ
/// from what the record shows now (see [`materialize`]). A field left as shown keeps its open conflict; a field
/// the user changed supersedes every concurrent value, which is a decision recorded in the change.
/// Returns the change, or None if nothing differed.
pub fn edit(
    doc: &mut Automerge,
    new: &Record,
    author: &Authorship,
    time_s: i64,
) -> Result<Option<Change>, DocumentError> {
    let (current, _) = shown_json(doc)?;
    let collections: BTreeMap<_, _> = Record::collections(new.record_type()).collect();
    let mut tx = doc.transaction();
    for (field, value) in json_fields(new) {
        match collections.get(field.as_str()) {
            Some(kind) => {
                let map = match tx.get(ROOT, field.as_str())? {
                    Some((automerge::Value::Object(ObjType::Map), id)) => id,
                    _ => tx.put_object(ROOT, field.as_str(), ObjType::Map)?,
                };
                let before: BTreeMap<String, Value> = current
                    .get(&field)
                    .map(|v| collection_items(*kind, v))
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                let after: BTreeMap<String, Value> = collection_items(*kind, &value).into_iter().collect();
                for key in before.keys().filter(|k| !after.contains_key(*k)) {
                    tx.delete(&map, key.as_str())?;
                }
                for (key, item) in after.iter().filter(|(k, v)| before.get(*k) != Some(v)) {
                    tx.put(&map, key.as_str(), to_scalar(item))?;
                }
            }
            None if current.get(&field).unwrap_or(&Value::Null) != &value => {
                tx.put(ROOT, field.as_str(), to_scalar(&value))?
            }
            None => {}
        }
    }
    // An edit that changes nothing commits no change (automerge drops empty transactions).
    let (hash, _) = tx.commit_with(author.commit_options(time_s));
    Ok(hash.and_then(|h| doc.get_change_by_hash(&h)))
}

/// Sets fields to values in one change, superseding every concurrent value: how a supervisor decides conflicts.
/// Fields that depend on each other (a find's category and model) are decided together.
/// A field is a root field, or `collection/key` for an item of a keyed collection.
pub fn resolve(
    doc: &mut Automerge,
    decisions: &[(String, Value)],
    author: &Authorship,
    time_s: i64,
) -> Result<Change, DocumentError> {
    let mut tx = doc.transaction();
    for (field, value) in decisions {
        match field.split_once('/') {
            Some((collection, key)) => {
                let Some((automerge::Value::Object(ObjType::Map), map)) = tx.get(ROOT, collection)? else {
                    return Err(DocumentError::NotARecord(format!("no collection `{collection}`")));
                };
                tx.put(&map, key, to_scalar(value))?;
            }
            None => tx.put(ROOT, field.as_str(), to_scalar(value))?,
        }
    }
    let (hash, _) = tx.commit_with(author.commit_options(time_s));
    hash.and_then(|h| doc.get_change_by_hash(&h))
        .ok_or_else(|| DocumentError::NotARecord("the decision made no change".into()))
}

/// When the record was first entered: the time its first change claims (the creating device's clock).
pub fn entered_at(doc: &Automerge) -> Option<chrono::DateTime<chrono::Utc>> {
    // The first change is the record's creation; its metadata is enough (no change is encoded).
    doc.get_changes_meta(&[])
        .first()
        .and_then(|c| chrono::DateTime::from_timestamp(c.timestamp, 0))
}

/// The Automerge actor (the writing install) of the document's first change: who created the record.
pub fn creator_actor(doc: &Automerge) -> Option<ActorId> {
    doc.get_changes_meta(&[]).first().map(|c| c.actor.clone().into_owned())
}

/// When the winning value of a root field was set: the time the change that set it claims (that device's clock).
/// None when the field was never set. An edit writes only the fields it changes (see [`edit`]), so this is when the
/// value took effect, not the record's last edit: for `review`, when the record was submitted, returned or approved.
pub fn set_at(doc: &Automerge, field: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let (_, op) = doc.get(ROOT, field).ok()??;
    // The change's metadata is enough: get_change_by_hash would encode the whole change.
    let change = doc.get_change_meta_by_hash(&doc.hash_for_opid(&op)?)?;
    chrono::DateTime::from_timestamp(change.timestamp, 0)
}

/// The change that wrote the winning value of a root field (None when the field was never set): for `review`, the
/// change that submitted, returned or approved the record, whose pushing device the server knows.
pub fn set_by(doc: &Automerge, field: &str) -> Option<automerge::ChangeHash> {
    let (_, op) = doc.get(ROOT, field).ok()??;
    doc.hash_for_opid(&op)
}

/// The hash of a change's bytes, as Automerge defines it; None when the bytes are not one whole, intact change
/// (Automerge checks the checksum every change carries).
pub fn change_hash(bytes: &[u8]) -> Option<[u8; 32]> {
    Change::from_bytes(bytes.to_vec()).ok().map(|change| change.hash().0)
}

/// Whether a change sets (or clears) a root field of the record, read from its operations without any document.
pub fn writes_field(change: &Change, field: &str) -> bool {
    use automerge::legacy::{Key, ObjectId};
    change
        .decode()
        .operations
        .iter()
        .any(|op| op.obj == ObjectId::Root && matches!(&op.key, Key::Map(key) if key.as_str() == field))
}

/// The record type a document holds.
pub fn record_type(doc: &Automerge) -> Result<RecordType, DocumentError> {
    match doc.get(ROOT, "type")? {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(name) => {
                RecordType::parse(name).ok_or_else(|| DocumentError::NotARecord(format!("unknown record type {name}")))
            }
            other => Err(DocumentError::NotARecord(format!("`type` is {other}"))),
        },
        _ => Err(DocumentError::NotARecord("no `type` field".into())),
    }
}

/// The record as the document's winning values say, in flat JSON form.
pub fn read_json(doc: &Automerge) -> Result<Map<String, Value>, DocumentError> {
    Ok(scan(doc)?.0)
}

/// One pass over the document: the winning value of every field, and the paths (`field` or `collection/key`)
/// where concurrent values compete. Only those paths need `get_all`.
fn scan(doc: &Automerge) -> Result<(Map<String, Value>, Vec<String>), DocumentError> {
    let record_type = record_type(doc)?;
    let collections: BTreeMap<_, _> = Record::collections(record_type).collect();
    let mut out = Map::new();
    let mut conflicted = Vec::new();
    for item in doc.map_range(ROOT, ..) {
        let field = item.key.to_string();
        if item.conflict {
            conflicted.push(field.clone());
        }
        let id = item.id();
        let value = match item.value.into_value() {
            automerge::Value::Scalar(s) if field == "schema" => match s.as_ref() {
                ScalarValue::Int(version) if *version > SCHEMA_VERSION => {
                    return Err(DocumentError::NewerSchema(*version));
                }
                _ => continue,
            },
            automerge::Value::Scalar(s) => from_scalar(&s)?,
            automerge::Value::Object(ObjType::Map) => {
                let kind = collections.get(field.as_str()).copied().unwrap_or(Collection::Keyed);
                let mut items = Map::new();
                for entry in doc.map_range(&id, ..) {
                    if entry.conflict {
                        conflicted.push(format!("{field}/{}", entry.key));
                    }
                    if let automerge::Value::Scalar(s) = entry.value.into_value() {
                        items.insert(entry.key.to_string(), from_scalar(&s)?);
                    }
                }
                match kind {
                    Collection::Set => Value::Array(
                        items
                            .into_iter()
                            .filter(|(_, v)| v == &Value::Bool(true))
                            .map(|(k, _)| Value::String(k))
                            .collect(),
                    ),
                    Collection::Keyed => Value::Object(items),
                }
            }
            automerge::Value::Object(_) => {
                return Err(DocumentError::NotARecord(format!(
                    "field `{field}` holds an unexpected object"
                )));
            }
        };
        out.insert(field, value);
    }
    Ok((out, conflicted))
}

/// The record as the document reads, plus its open conflicts. While a conflict on a safety-relevant field is
/// unresolved, the record shows the more dangerous candidate (a plot is not "cleared" because of a merge).
#[derive(Debug, Clone)]
pub struct Materialized {
    pub record: Record,
    pub conflicts: Vec<FieldConflict>,
}

pub fn materialize(doc: &Automerge) -> Result<Materialized, DocumentError> {
    let (json, conflicts) = shown_json(doc)?;
    let id = match json.get("id") {
        Some(Value::String(id)) => {
            Uuid::parse_str(id).map_err(|e| DocumentError::NotARecord(format!("bad id {id}: {e}")))?
        }
        _ => return Err(DocumentError::NotARecord("no `id` field".into())),
    };
    let record = Record::from_json(Value::Object(json), id)?;
    Ok(Materialized { record, conflicts })
}

/// The record's JSON as shown: winning values, except safety-relevant fields in conflict, which show the
/// more dangerous candidate.
fn shown_json(doc: &Automerge) -> Result<(Map<String, Value>, Vec<FieldConflict>), DocumentError> {
    let (mut json, conflicted) = scan(doc)?;
    let record_type = record_type(doc)?;
    let conflicts = conflicts_at(doc, &conflicted)?;
    for conflict in &conflicts {
        if let Some(value) = most_dangerous(record_type, &conflict.field, &conflict.candidates) {
            json.insert(conflict.field.clone(), value);
        }
    }
    Ok((json, conflicts))
}

/// Every field (or collection item, as `collection/key`) holding more than one concurrent value.
pub fn conflicts(doc: &Automerge) -> Result<Vec<FieldConflict>, DocumentError> {
    conflicts_at(doc, &scan(doc)?.1)
}

fn conflicts_at(doc: &Automerge, paths: &[String]) -> Result<Vec<FieldConflict>, DocumentError> {
    let mut out = Vec::new();
    for path in paths {
        let values = match path.split_once('/') {
            Some((collection, key)) => match doc.get(ROOT, collection)? {
                Some((automerge::Value::Object(ObjType::Map), map)) => doc.get_all(&map, key)?,
                _ => continue,
            },
            None => doc.get_all(ROOT, path.as_str())?,
        };
        if values.len() > 1 {
            out.push(FieldConflict {
                field: path.clone(),
                candidates: candidates(doc, values)?,
            });
        }
    }
    Ok(out)
}

fn candidates(
    doc: &Automerge,
    values: Vec<(automerge::Value<'_>, automerge::ObjId)>,
) -> Result<Vec<Candidate>, DocumentError> {
    let winner = values.len() - 1;
    values
        .into_iter()
        .enumerate()
        .map(|(i, (value, id))| {
            let value = match value {
                automerge::Value::Scalar(s) => from_scalar(&s)?,
                automerge::Value::Object(kind) => Value::String(format!("({kind:?} object)")),
            };
            let change = doc.hash_for_opid(&id);
            let author = change
                .and_then(|h| doc.get_change_by_hash(&h))
                .and_then(|c| Authorship::of(&c));
            Ok(Candidate {
                value,
                author,
                change: change.map(|h| h.to_string()),
                winner: i == winner,
            })
        })
        .collect()
}

/// One entry of a record's history: a change, who claims it, when, and which fields it set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub change: String,
    pub actor: String,
    pub seq: u64,
    /// Seconds since the Unix epoch, by the clock of the device that made the change.
    pub time: i64,
    pub author: Option<Authorship>,
    /// New values of the plain fields the change set; `collection/key` entries for collection items
    /// (null when the item was removed).
    pub changed: BTreeMap<String, Value>,
}

/// The record's history in causal order, each change with what it changed. Concurrent changes are ordered by
/// causal depth, then time, then hash, so every replica shows the same history whatever order changes arrived in.
pub fn history(doc: &Automerge) -> Result<Vec<HistoryEntry>, DocumentError> {
    let mut changes = doc.get_changes(&[]);
    let mut depth: std::collections::HashMap<automerge::ChangeHash, usize> = std::collections::HashMap::new();
    for change in &changes {
        // get_changes lists every change after its dependencies, so their depths are known here.
        let d = change
            .deps()
            .iter()
            .map(|h| depth.get(h).copied().unwrap_or(0) + 1)
            .max()
            .unwrap_or(0);
        depth.insert(change.hash(), d);
    }
    changes.sort_by_key(|c| (depth[&c.hash()], c.timestamp(), c.hash()));
    let mut entries = Vec::new();
    for change in changes {
        let mut changed = BTreeMap::new();
        for patch in doc.diff(change.deps(), &[change.hash()]) {
            use automerge::PatchAction::*;
            let prefix = match patch.path.first() {
                Some((_, Prop::Map(field))) => format!("{field}/"),
                Some((_, Prop::Seq(i))) => format!("[{i}]/"),
                None => String::new(),
            };
            match patch.action {
                PutMap {
                    key,
                    value: (automerge::Value::Scalar(s), _),
                    ..
                } => {
                    changed.insert(format!("{prefix}{key}"), from_scalar(&s)?);
                }
                PutMap { key, .. } => {
                    changed
                        .entry(format!("{prefix}{key}"))
                        .or_insert(Value::Object(Map::new()));
                }
                DeleteMap { key } => {
                    changed.insert(format!("{prefix}{key}"), Value::Null);
                }
                _ => {}
            }
        }
        changed.remove("schema");
        entries.push(HistoryEntry {
            change: change.hash().to_string(),
            actor: change.actor_id().to_hex_string(),
            seq: change.seq(),
            time: change.timestamp(),
            author: Authorship::of(&change),
            changed,
        });
    }
    Ok(entries)
}

fn json_fields(record: &Record) -> Map<String, Value> {
    match record.to_json() {
        Value::Object(object) => object,
        _ => Map::new(),
    }
}

/// The members of a collection field as (key, stored item).
fn collection_items(kind: Collection, value: &Value) -> Vec<(String, Value)> {
    match (kind, value) {
        (Collection::Set, Value::Array(items)) => items
            .iter()
            .map(|item| {
                (
                    item.as_str().map_or_else(|| item.to_string(), str::to_string),
                    Value::Bool(true),
                )
            })
            .collect(),
        (Collection::Keyed, Value::Object(items)) => items.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => Vec::new(),
    }
}

/// JSON scalars stay Automerge scalars; arrays and objects become one atomic value of JSON bytes.
fn to_scalar(value: &Value) -> ScalarValue {
    match value {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => ScalarValue::Int(i),
            (None, Some(u), _) => ScalarValue::Uint(u),
            (_, _, Some(f)) => ScalarValue::F64(f),
            _ => ScalarValue::Null,
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Array(_) | Value::Object(_) => ScalarValue::Bytes(serde_json::to_vec(value).unwrap_or_default()),
    }
}

fn from_scalar(value: &ScalarValue) -> Result<Value, DocumentError> {
    Ok(match value {
        ScalarValue::Null => Value::Null,
        ScalarValue::Boolean(b) => Value::Bool(*b),
        ScalarValue::Int(i) => Value::from(*i),
        ScalarValue::Uint(u) => Value::from(*u),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| DocumentError::NotARecord(format!("non-finite number {f}")))?,
        ScalarValue::Str(s) => Value::String(s.to_string()),
        ScalarValue::Bytes(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| DocumentError::NotARecord(format!("atomic value is not JSON: {e}")))?,
        other => return Err(DocumentError::NotARecord(format!("unexpected value {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::ReviewStatus;

    /// The README's example find, and the team leader who enters it.
    fn example_find() -> (Record, Authorship) {
        let json: Value = serde_json::from_str(include_str!("../../../docs/examples/find.json")).expect("example");
        let author = Authorship {
            device_id: Uuid::nil(),
            device: "Team 3 tablet".into(),
            user: "A. Aliyev".into(),
            action: "edit".into(),
        };
        (Record::from_json(json, Uuid::now_v7()).expect("valid find"), author)
    }

    #[test]
    fn set_at_is_when_the_winning_value_was_written_not_the_last_edit() {
        let (mut find, author) = example_find();
        let (mut doc, _) = create(&find, ActorId::random(), &author, 1_000).expect("created");
        assert_eq!(set_at(&doc, "review").map(|t| t.timestamp()), Some(1_000));

        find.meta.review = ReviewStatus::Submitted;
        edit(&mut doc, &find, &author, 2_000).expect("submitted");
        if let crate::RecordBody::Find(f) = &mut find.body {
            f.depth_cm = 9;
        }
        edit(&mut doc, &find, &author, 3_000).expect("depth corrected");
        assert_eq!(set_at(&doc, "review").map(|t| t.timestamp()), Some(2_000));
        assert_eq!(set_at(&doc, "depth_cm").map(|t| t.timestamp()), Some(3_000));
        assert_eq!(set_at(&doc, "no_such_field"), None);
    }

    #[test]
    fn writes_field_reads_which_root_fields_a_change_sets() {
        let (mut find, author) = example_find();
        let (mut doc, created) = create(&find, ActorId::random(), &author, 1_000).expect("created");
        assert!(writes_field(&created, "review") && writes_field(&created, "depth_cm"));
        if let crate::RecordBody::Find(f) = &mut find.body {
            f.depth_cm = 9;
        }
        let edit_depth = edit(&mut doc, &find, &author, 2_000)
            .expect("edited")
            .expect("a change");
        assert!(writes_field(&edit_depth, "depth_cm"));
        assert!(!writes_field(&edit_depth, "review"));
        // A note is an item of the `notes` collection, not a root field of its own.
        find.meta.notes.insert(
            "n1".into(),
            serde_json::from_value(serde_json::json!({"text": "second PMN-2 under the first"})).expect("note"),
        );
        let note = edit(&mut doc, &find, &author, 3_000)
            .expect("edited")
            .expect("a change");
        assert!(!writes_field(&note, "n1") && !writes_field(&note, "review"));
    }
}
