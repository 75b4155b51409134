//! HQ's data-quality report over the records of one task: invalid polygons, overlapping worked areas, finds outside
//! their worked area, duplicate find candidates, records carrying warnings, open conflicts and records stuck in
//! review.
//!
//! Ingress validates a pushed record only against the records it links to, not against its siblings, so this is
//! where HQ sees overlaps and duplicates. Every geometric finding comes from the domain's own rules
//! (`domain::validation::validate`), run with the same neighbourhood a device gathers, so the report and the devices
//! always agree. Pure: no IO, no async, no storage; the caller hands in the records.

use chrono::{DateTime, NaiveTime, Utc};
use domain::validation::neighbourhood::{Near, RecordSource, Siblings, neighbourhood};
use domain::vocabulary::ReviewStatus;
use domain::{Context, FieldConflict, Issue, Programme, Record, RecordBody, RecordType, Related, Rule, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use uuid::Uuid;

/// A record still in draft, submitted or returned more than this many days after its review status was set is stuck
/// in review. A week is the programme's late-entry limit (`Programme::late_entry_days`): a record that has waited
/// longer than a late entry is allowed to has stalled somewhere between the team, the supervisor and HQ.
pub const STUCK_IN_REVIEW_DAYS: i64 = 7;

/// One record as the server stores it: the record, the warnings stored with it when it was last validated, and what
/// the server read off its document (see `sync_core::store::RecordRow`).
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub record: Record,
    pub warnings: Vec<Issue>,
    pub conflicts: Vec<FieldConflict>,
    /// When its review status was set (the setting device's clock); None reads as its date of information.
    pub review_since: Option<DateTime<Utc>>,
    /// The enrolled device that pushed the change setting its review status, if the server knows it.
    pub review_by: Option<Reviewer>,
}

/// The device behind a record's review status, as the server authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    pub name: String,
    pub role: domain::Role,
    pub teams: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    InvalidPolygon,
    OverlappingWorkedAreas,
    FindOutsideWorkedArea,
    DuplicateFindCandidate,
    CarriesWarnings,
    OpenConflict,
    StuckInReview,
    /// Approved by a device whose role may not approve it (data from before roles were enforced); it is listed,
    /// never silently un-approved.
    ApprovalNotAuthorised,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub record_id: Uuid,
    pub label: String,
    pub record_type: RecordType,
    pub task_id: Option<Uuid>,
    /// The other worked area of an overlap, the other find of a duplicate.
    pub other_record_id: Option<Uuid>,
    /// The domain rule's code; for `carries_warnings`, the stored warnings' codes, sorted, joined by ", ".
    pub rule: Option<String>,
    /// What is wrong, naming the field and the values.
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QualityReport {
    pub findings: Vec<Finding>,
}

/// The data-quality report of one task, as of `now`. `records` holds the task, every record of it (daily reports,
/// worked areas, finds, demolitions, QA, completion reports) and the hazard areas it covers. Void records are left
/// out, and so are records that a live correction supersedes.
pub fn quality_report(programme: &Programme, records: &[StoredRecord], now: DateTime<Utc>) -> QualityReport {
    let by_id: HashMap<Uuid, &Record> = records.iter().map(|s| (s.record.meta.id, &s.record)).collect();
    // A record that a live correction supersedes is left out like a void one: HQ counts the correction alone.
    let superseded: HashSet<Uuid> = records
        .iter()
        .filter(|s| s.record.meta.void.is_none())
        .filter_map(|s| s.record.meta.supersedes)
        .collect();
    let live: Vec<&StoredRecord> = records
        .iter()
        .filter(|s| s.record.meta.void.is_none() && !superseded.contains(&s.record.meta.id))
        .collect();
    let mut findings = Vec::new();
    let mut pairs: BTreeMap<(FindingKind, Uuid, Uuid), Finding> = BTreeMap::new();

    for stored in &live {
        let record = &stored.record;
        let mut source = TaskRecords {
            by_id: &by_id,
            live: &live,
        };
        let Ok(mut related) = neighbourhood(&mut source, record, Siblings::Gather);
        let ctx = Context {
            programme,
            related: &related,
            // Only the geometric rules are read from the recomputed issues; none reads when the record was entered.
            entered_at: now,
        };
        let issues = domain::validation::validate(record, &ctx);
        for issue in &issues {
            let kind = match issue.rule {
                Rule::Polygon => FindingKind::InvalidPolygon,
                // A vertex that is no place on Earth makes the polygon invalid too.
                Rule::Coordinates if issue.field.contains(".coordinates[") || issue.field.contains(".centreline[") => {
                    FindingKind::InvalidPolygon
                }
                Rule::FindOutsideWorkedArea => FindingKind::FindOutsideWorkedArea,
                _ => continue,
            };
            findings.push(finding(
                kind,
                record,
                None,
                Some(issue.rule.code().to_string()),
                describe(issue),
            ));
        }
        for (rule, kind) in [
            (Rule::Overlap, FindingKind::OverlappingWorkedAreas),
            (Rule::DuplicateFind, FindingKind::DuplicateFindCandidate),
        ] {
            if !issues.iter().any(|i| i.rule == rule) {
                continue;
            }
            // The issue names the other record only by label, which need not be unique: find which sibling it was by
            // running the same rule against each sibling alone.
            let candidates = std::mem::take(&mut related.siblings);
            for other in &candidates {
                let alone = Related {
                    linked: related.linked.clone(),
                    siblings: vec![other.clone()],
                    dependents: Vec::new(),
                };
                let ctx = Context {
                    programme,
                    related: &alone,
                    entered_at: now,
                };
                let Some(issue) = domain::validation::validate(record, &ctx)
                    .into_iter()
                    .find(|i| i.rule == rule)
                else {
                    continue;
                };
                let new = finding(
                    kind,
                    record,
                    Some(other.meta.id),
                    Some(rule.code().to_string()),
                    describe(&issue),
                );
                let (lo, hi) = if record.meta.id < other.meta.id {
                    (record.meta.id, other.meta.id)
                } else {
                    (other.meta.id, record.meta.id)
                };
                // Each pair once: keep the side whose (label, id) sorts first, whichever was validated first.
                let entry = pairs.entry((kind, lo, hi)).or_insert_with(|| new.clone());
                if (&new.label, new.record_id) < (&entry.label, entry.record_id) {
                    *entry = new;
                }
            }
            related.siblings = candidates;
        }

        let mut codes: Vec<&str> = stored
            .warnings
            .iter()
            .filter(|w| w.severity == Severity::Warning)
            .map(|w| w.rule.code())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        if !codes.is_empty() {
            let detail = stored
                .warnings
                .iter()
                .filter(|w| w.severity == Severity::Warning)
                .map(|w| {
                    let accepted = record
                        .meta
                        .accepted_warnings
                        .contains_key(&domain::validation::warning_key(w));
                    format!("{}{}", describe(w), if accepted { " (accepted)" } else { "" })
                })
                .collect::<Vec<_>>()
                .join("; ");
            findings.push(finding(
                FindingKind::CarriesWarnings,
                record,
                None,
                Some(codes.join(", ")),
                detail,
            ));
        }

        if !stored.conflicts.is_empty() {
            let detail = stored
                .conflicts
                .iter()
                .map(describe_conflict)
                .collect::<Vec<_>>()
                .join("; ");
            findings.push(finding(FindingKind::OpenConflict, record, None, None, detail));
        }

        let waiting = matches!(
            record.meta.review,
            ReviewStatus::Draft | ReviewStatus::Submitted | ReviewStatus::Returned
        );
        let (since, what) = match stored.review_since {
            Some(since) => (since, "it was set"),
            None => (
                record.meta.date_of_information.and_time(NaiveTime::MIN).and_utc(),
                "its date of information",
            ),
        };
        let age = (now - since).num_days();
        if waiting && age > STUCK_IN_REVIEW_DAYS {
            let detail = format!(
                "review is still {} {age} days after {what} ({})",
                record.meta.review.as_str(),
                since.format("%Y-%m-%d %H:%M UTC")
            );
            findings.push(finding(FindingKind::StuckInReview, record, None, None, detail));
        }

        if let Some(detail) = unauthorised_approval(stored, &by_id) {
            findings.push(finding(FindingKind::ApprovalNotAuthorised, record, None, None, detail));
        }
    }

    findings.extend(pairs.into_values());
    findings.sort_by(|a, b| {
        (a.kind, &a.label, a.record_id, a.other_record_id, &a.detail).cmp(&(
            b.kind,
            &b.label,
            b.record_id,
            b.other_record_id,
            &b.detail,
        ))
    });
    QualityReport { findings }
}

/// Why an approved record's approval was not the approving device's to give, if it was not (domain::authority).
fn unauthorised_approval(stored: &StoredRecord, by_id: &HashMap<Uuid, &Record>) -> Option<String> {
    use domain::authority::{self, Action, Standing};
    let record = &stored.record;
    let reviewer = stored.review_by.as_ref()?;
    let action = match record.meta.review {
        ReviewStatus::SupervisorApproved => Action::Approve,
        ReviewStatus::HqApproved => Action::HqApprove,
        _ => return None,
    };
    let task_teams = match record.task_id().and_then(|t| by_id.get(&t)).map(|t| &t.body) {
        Some(domain::RecordBody::Task(task)) => Some(&task.teams),
        _ => None,
    };
    let in_teams = task_teams.is_none_or(|teams| !teams.is_disjoint(&reviewer.teams));
    let denial = authority::permits(Some(reviewer.role), action, Standing { in_teams, own: true }).err()?;
    Some(format!(
        "{} by device {} ({}): {denial}",
        record.meta.review.as_str(),
        reviewer.name,
        reviewer.role
    ))
}

fn finding(kind: FindingKind, record: &Record, other: Option<Uuid>, rule: Option<String>, detail: String) -> Finding {
    Finding {
        kind,
        record_id: record.meta.id,
        label: record.meta.label.clone(),
        record_type: record.record_type(),
        task_id: record.task_id(),
        other_record_id: other,
        rule,
        detail,
    }
}

fn describe(issue: &Issue) -> String {
    format!("field `{}` = {}: {}", issue.field, issue.value, issue.message)
}

/// "`quantity`: 2 (A. Aliyev on Team 3 tablet) or 3 (R. Mammadova on Base camp laptop); a supervisor decides".
fn describe_conflict(conflict: &FieldConflict) -> String {
    let candidates = conflict
        .candidates
        .iter()
        .map(|c| match &c.author {
            Some(a) => format!("{} ({} on {})", c.value, a.user, a.device),
            None => c.value.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" or ");
    format!("`{}`: {candidates}; a supervisor decides", conflict.field)
}

/// The records of one task (and the hazard areas it covers) as a source of neighbourhoods: siblings and
/// evidence among the live records, linked records among all of them, as a device and ingress would find them.
struct TaskRecords<'a> {
    by_id: &'a HashMap<Uuid, &'a Record>,
    live: &'a [&'a StoredRecord],
}

impl RecordSource for TaskRecords<'_> {
    type Error = Infallible;

    fn record(&mut self, id: Uuid) -> Result<Option<Record>, Infallible> {
        Ok(self.by_id.get(&id).map(|r| (*r).clone()))
    }

    fn near(&mut self, near: &Near) -> Result<Vec<Record>, Infallible> {
        Ok(self
            .live
            .iter()
            .map(|s| &s.record)
            .filter(|o| near.admits(o))
            .cloned()
            .collect())
    }

    fn evidence(&mut self, hazard_area: Uuid) -> Result<Vec<Record>, Infallible> {
        let covering: Vec<Uuid> = self
            .live
            .iter()
            .filter_map(|s| match &s.record.body {
                RecordBody::Task(t) if t.hazard_areas.contains(&hazard_area) => Some(s.record.meta.id),
                _ => None,
            })
            .collect();
        Ok(self
            .live
            .iter()
            .map(|s| &s.record)
            .filter(|r| r.task_id().is_some_and(|t| covering.contains(&t)))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests;
