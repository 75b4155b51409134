//! The review workflow on the device: submit, return with a reason, approve (accepting warnings with a comment),
//! and the queue of records waiting for this device's role. Each verb is one recorded change, checked against the
//! device's authority and the workflow rules like any edit.

use crate::editing::Saved;
use crate::error::StoreError;
use crate::queries::{ListFilter, RecordSummary};
use crate::store::Store;
use domain::records::Acceptance;
use domain::validation::warning_key;
use domain::vocabulary::ReviewStatus;
use uuid::Uuid;

impl Store {
    /// Submits a draft (or a returned record, which goes back to draft first) for review.
    pub fn submit(&mut self, id: Uuid) -> Result<Saved, StoreError> {
        let mut record = self.get(id)?.record;
        match record.meta.review {
            ReviewStatus::Draft => {}
            ReviewStatus::Returned => {
                record.meta.review = ReviewStatus::Draft;
                record = self.update_record(record, "edit")?;
            }
            other => {
                return Err(StoreError::BadEdit(format!(
                    "{} is {other}: only a draft or a returned record is submitted",
                    record.meta.label
                )));
            }
        }
        record.meta.review = ReviewStatus::Submitted;
        self.update_as(record, "submit")
    }

    /// Returns a submitted record to its team with the reason, recording who returned it.
    pub fn return_record(&mut self, id: Uuid, reason: &str) -> Result<Saved, StoreError> {
        let mut record = self.get(id)?.record;
        if record.meta.review != ReviewStatus::Submitted {
            return Err(StoreError::BadEdit(format!(
                "{} is {}: only a submitted record is returned",
                record.meta.label, record.meta.review
            )));
        }
        record.meta.review = ReviewStatus::Returned;
        record.meta.return_reason = Some(reason.trim().to_string());
        record.meta.reviewed_by = Some(self.reviewer());
        self.update_as(record, "return")
    }

    /// Approves a record one step: submitted → supervisor_approved, or supervisor_approved → hq_approved. `accept`
    /// names warnings to accept with `comment` first: a rule code (every warning of that rule) or `rule:field`.
    pub fn approve(&mut self, id: Uuid, accept: &[String], comment: Option<&str>) -> Result<Saved, StoreError> {
        let stored = self.get(id)?;
        let mut record = stored.record;
        record.meta.review = match record.meta.review {
            ReviewStatus::Submitted => ReviewStatus::SupervisorApproved,
            ReviewStatus::SupervisorApproved => ReviewStatus::HqApproved,
            other => {
                return Err(StoreError::BadEdit(format!(
                    "{} is {other}: only a submitted or supervisor-approved record is approved",
                    record.meta.label
                )));
            }
        };
        if !accept.is_empty() {
            let comment = comment.map(str::trim).filter(|c| !c.is_empty()).ok_or_else(|| {
                StoreError::BadEdit("accepting a warning needs a comment (--comment) saying why".into())
            })?;
            let warnings: Vec<String> = stored
                .issues
                .iter()
                .filter(|i| !i.is_error())
                .map(warning_key)
                .collect();
            for wanted in accept {
                let matching: Vec<&String> = warnings
                    .iter()
                    .filter(|key| *key == wanted || key.split(':').next() == Some(wanted.as_str()))
                    .collect();
                if matching.is_empty() {
                    let open = if warnings.is_empty() {
                        "none".to_string()
                    } else {
                        warnings.join(", ")
                    };
                    return Err(StoreError::BadEdit(format!(
                        "{} has no warning {wanted}; its warnings: {open}",
                        record.meta.label
                    )));
                }
                for key in matching {
                    record.meta.accepted_warnings.insert(
                        key.clone(),
                        Acceptance {
                            by: self.reviewer(),
                            comment: comment.to_string(),
                        },
                    );
                }
            }
        }
        record.meta.reviewed_by = Some(self.reviewer());
        self.update_as(record, "approve")
    }

    /// The records in this device's scope waiting for its role's decision, oldest first: submitted ones for a
    /// supervisor, supervisor-approved ones for HQ. Empty for a role that decides nothing.
    pub fn review_queue(&self) -> Result<Vec<RecordSummary>, StoreError> {
        let Some(status) = self.enrolled()?.and_then(|e| e.role.decides_on()) else {
            return Ok(vec![]);
        };
        let mut queue = self.list(&ListFilter {
            review: Some(status.to_string()),
            ..ListFilter::default()
        })?;
        queue.sort_by_key(|r| (r.date_of_information, r.id));
        Ok(queue)
    }

    /// Who decides, as the record keeps it: the person and the device.
    fn reviewer(&self) -> String {
        let identity = self.identity();
        format!("{} on {}", identity.user, identity.device_name)
    }

    fn update_record(&mut self, record: domain::Record, action: &str) -> Result<domain::Record, StoreError> {
        let id = record.id();
        self.update_as(record, action)?;
        Ok(self.get(id)?.record)
    }
}
