//! What this device may do: its role and teams as the server enrolled it, learnt at every sync, and the check of
//! every local edit against domain::authority before anything is stored, with the messages the server would give.

use crate::error::StoreError;
use crate::store::Store;
use automerge::Automerge;
use domain::authority::{self, Standing};
use domain::records::RecordBody;
use domain::{Materialized, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// This device as the server knows it (protocol `DeviceProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The id the server enrolled the device under.
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub teams: BTreeSet<String>,
}

const PROFILE: &str = "device_profile";

impl Store {
    /// The role and teams the server gave this device at its last sync; None before the first.
    pub fn enrolled(&self) -> Result<Option<Enrolled>, StoreError> {
        self.meta(PROFILE)?
            .map(|text| serde_json::from_str(&text).map_err(|_| StoreError::Damaged("stored device profile".into())))
            .transpose()
    }

    /// Keeps what the server says this device is: the sync loop calls it with every response (inside its
    /// transaction). An app that enrols by other means (a profile carried with the enrolment QR code) may call it
    /// too; the server still decides every change by the authenticated device.
    pub fn set_enrolled(&self, profile: &protocol::DeviceProfile) -> Result<(), StoreError> {
        let enrolled = Enrolled {
            id: profile.id,
            name: profile.name.clone(),
            role: profile.role,
            teams: profile.teams.iter().cloned().collect(),
        };
        let text = serde_json::to_string(&enrolled).map_err(|e| StoreError::Damaged(e.to_string()))?;
        self.set_meta(PROFILE, &text)
    }

    /// Refuses an edit this device's role may not make, before it is stored: `old` is the record before (None for
    /// a new one), `new` what the edit makes of it in `doc`.
    pub(crate) fn check_authority(
        &self,
        old: Option<&Materialized>,
        new: &Materialized,
        doc: &Automerge,
    ) -> Result<(), StoreError> {
        let enrolled = self.enrolled()?;
        let record = &new.record;
        let actions = authority::edit_actions(old, new);
        let standing = match &enrolled {
            None => Standing::default(),
            Some(enrolled) => Standing {
                in_teams: self.in_teams(enrolled, record)?,
                own: old.is_none() || domain::document::creator_actor(doc).as_ref() == Some(&self.identity().actor),
            },
        };
        authority::check(enrolled.map(|e| e.role), &actions, standing).map_err(|denial| {
            StoreError::NotPermitted(format!("{} {}: {denial}", record.record_type(), record.meta.label))
        })
    }

    /// Whether a record lies in the device's teams' tasks (a task-less record is shared, so it does).
    fn in_teams(&self, enrolled: &Enrolled, record: &domain::Record) -> Result<bool, StoreError> {
        if enrolled.role.sees_everything() {
            return Ok(true);
        }
        let teams = match (&record.body, record.task_id()) {
            (RecordBody::Task(task), _) => task.teams.clone(),
            (_, Some(task)) => match self.stored_record(task)? {
                Some(domain::Record {
                    body: RecordBody::Task(task),
                    ..
                }) => task.teams,
                _ => return Ok(false),
            },
            (_, None) => return Ok(true),
        };
        Ok(!teams.is_disjoint(&enrolled.teams))
    }
}
