//! Local edits: create, edit, patch, void, resolve. Each is applied to the document in memory, materialized and
//! validated first; only a change with no error is stored, in one transaction with its heads and row.

use crate::error::StoreError;
use crate::store::{Origin, Store};
use automerge::{Automerge, Change};
use domain::document;
use domain::validation::check_edit;
use domain::{Issue, Materialized, Record};
use serde_json::Value;
use uuid::Uuid;

/// The outcome of a local edit that was stored.
#[derive(Debug, Clone)]
pub struct Saved {
    pub id: Uuid,
    /// The change made, or None when the edit changed nothing.
    pub change: Option<String>,
    /// Warnings the record now carries (errors would have blocked the edit).
    pub warnings: Vec<Issue>,
}

impl Store {
    /// Stores a new record. Errors block it; warnings are kept with it.
    pub fn create(&mut self, record: Record) -> Result<Saved, StoreError> {
        let id = record.id();
        let exists: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM documents WHERE record_id = ?1)")?
            .query_row([id.to_string()], |r| r.get(0))?;
        if exists {
            return Err(StoreError::AlreadyExists(id));
        }
        let now = self.now();
        let (doc, change) = document::create(
            &record,
            self.identity().actor.clone(),
            &self.author("create"),
            now.timestamp(),
        )
        .map_err(StoreError::document(id))?;
        self.commit_local(id, None, &doc, change)
    }

    /// Parses a record from JSON and stores it; a missing id gets a new UUID v7.
    pub fn create_json(&mut self, text: &str) -> Result<Saved, StoreError> {
        self.create(domain::parse_record(text, Uuid::now_v7())?)
    }

    /// Stores many new records in one transaction (an import, or test set-up); all or nothing.
    pub fn create_batch(&mut self, records: Vec<Record>) -> Result<Vec<Saved>, StoreError> {
        self.transaction_mut(|store| records.into_iter().map(|r| store.create(r)).collect())
    }

    /// Replaces a record with `new`: only the fields that differ from what it shows now are written.
    pub fn update(&mut self, new: Record) -> Result<Saved, StoreError> {
        self.update_as(new, "edit")
    }

    /// [`Store::update`], with the action the change's authorship names (edit, submit, approve...).
    pub(crate) fn update_as(&mut self, new: Record, action: &str) -> Result<Saved, StoreError> {
        let id = new.id();
        let mut doc = self
            .load_document(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let before = document::materialize(&doc).map_err(StoreError::document(id))?;
        let old = &before.record;
        if old.record_type() != new.record_type() {
            return Err(StoreError::BadEdit(format!(
                "{} is a {}; a record's type cannot change",
                old.meta.label,
                old.record_type()
            )));
        }
        let change = document::edit(&mut doc, &new, &self.author(action), self.now().timestamp())
            .map_err(StoreError::document(id))?;
        match change {
            Some(change) => self.commit_local(id, Some(&before), &doc, change),
            None => Ok(Saved {
                id,
                change: None,
                warnings: self.stored_warnings(id)?,
            }),
        }
    }

    /// Applies a JSON merge patch (RFC 7386) to a record as it shows now: given fields replace, null clears.
    pub fn patch(&mut self, id: Uuid, patch: &Value) -> Result<Saved, StoreError> {
        let doc = self
            .load_document(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let old = document::materialize(&doc).map_err(StoreError::document(id))?.record;
        if !patch.is_object() {
            return Err(StoreError::BadEdit(
                "an edit is a JSON object of the fields to change".into(),
            ));
        }
        for fixed in ["id", "type"] {
            if patch.get(fixed).is_some_and(|v| v != &old.to_json()[fixed]) {
                return Err(StoreError::BadEdit(format!(
                    "`{fixed}` cannot change; create a new record instead"
                )));
            }
        }
        let mut json = old.to_json();
        json_patch::merge(&mut json, patch);
        self.update(Record::from_json(json, id)?)
    }

    /// Marks a record as entered by mistake. It stays in history and exports, flagged void.
    pub fn void(&mut self, id: Uuid, reason: &str) -> Result<Saved, StoreError> {
        let by = self.identity().user.clone();
        self.patch(id, &serde_json::json!({ "void": { "reason": reason, "by": by } }))
    }

    /// Decides conflicts: sets each field (or `collection/key`) to its value in one change, superseding every
    /// concurrent value. Decide fields that depend on each other together (a find's category and model).
    /// The decision is itself a change, with this device's user as its author.
    pub fn resolve(&mut self, id: Uuid, decisions: &[(String, Value)]) -> Result<Saved, StoreError> {
        let mut doc = self
            .load_document(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let before = document::materialize(&doc).map_err(StoreError::document(id))?;
        if decisions.is_empty() {
            return Err(StoreError::BadEdit("name at least one field to decide".into()));
        }
        for (field, _) in decisions {
            if !before.conflicts.iter().any(|c| &c.field == field) {
                let open: Vec<&str> = before.conflicts.iter().map(|c| c.field.as_str()).collect();
                let open = if open.is_empty() {
                    "none".to_string()
                } else {
                    open.join(", ")
                };
                return Err(StoreError::BadEdit(format!(
                    "{} has no conflict on `{field}`; open conflicts: {open}",
                    before.record.meta.label
                )));
            }
        }
        let change = document::resolve(&mut doc, decisions, &self.author("resolve"), self.now().timestamp())
            .map_err(StoreError::document(id))?;
        self.commit_local(id, Some(&before), &doc, change)
    }

    /// Checks the edit against this device's authority, validates the edited document, and stores it with its
    /// change, or stores nothing.
    fn commit_local(
        &mut self,
        id: Uuid,
        old: Option<&Materialized>,
        doc: &Automerge,
        change: Change,
    ) -> Result<Saved, StoreError> {
        let derived = self.derive(id, doc)?;
        self.check_authority(old, &derived.shown.materialized, doc)?;
        let related = self.related(&derived.shown.materialized.record)?;
        let old = old.map(|o| &o.record);
        let mut blocking = check_edit(old, &derived.shown.materialized.record, &derived.issues, &related);
        blocking.extend(derived.issues.iter().filter(|i| i.is_error()).cloned());
        if !blocking.is_empty() {
            return Err(StoreError::Invalid { issues: blocking });
        }
        let hash = change.hash().to_string();
        self.write(|| self.persist(id, doc, &[(change, Origin::Local)], Some(&derived)))?;
        Ok(Saved {
            id,
            change: Some(hash),
            warnings: derived.issues,
        })
    }

    fn stored_warnings(&self, id: Uuid) -> Result<Vec<Issue>, StoreError> {
        let text: String = self.conn.query_row(
            "SELECT issues FROM records WHERE record_id = ?1",
            [id.to_string()],
            |r| r.get(0),
        )?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }
}
