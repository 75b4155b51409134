//! Rules about changing a record: review transitions, approved records, reopening tasks.

use super::{Findings, Issue, Rule, Severity};
use crate::Related;
use crate::records::{Record, RecordBody};
use crate::vocabulary::{ReviewStatus, TaskStatus};

/// The key under which a supervisor accepts a warning in `accepted_warnings`: `rule:field`.
pub fn warning_key(issue: &Issue) -> String {
    format!("{}:{}", issue.rule.code(), issue.field)
}

/// Checks a new record (`old` = None) or an edit of `old` into `new`. `warnings` are the warnings `new`
/// validates with; approval needs each of them accepted. `related` holds the records `new` links to (its task).
pub fn check_edit(old: Option<&Record>, new: &Record, warnings: &[Issue], related: &Related) -> Vec<Issue> {
    let mut f = Findings {
        record: new,
        issues: Vec::new(),
    };
    // Only a new daily report is refused on a closed task: the reports written before it closed stay valid, and
    // a supervisor may still review and approve them.
    if old.is_none()
        && let RecordBody::DailyReport(report) = &new.body
        && let Some(task) = related.get(report.task)
        && let RecordBody::Task(t) = &task.body
        && closed(t.status)
    {
        let message = format!(
            "task {} is {}: reopen it with a reason before reporting more work",
            task.meta.label, t.status
        );
        f.add(Rule::TaskCompleted, "task", report.task, message);
    }
    let from = old.map(|o| o.meta.review);
    let to = new.meta.review;
    if let Some(old) = old
        && old.meta.review.is_approved()
    {
        // HQ's approval of a supervisor-approved record moves its review and names its reviewer, nothing else.
        let mut unchanged = new.clone();
        unchanged.meta.review = old.meta.review;
        unchanged.meta.reviewed_by.clone_from(&old.meta.reviewed_by);
        if &unchanged != old {
            let message = format!(
                "{} is {}: record a correction that supersedes it instead",
                old.meta.label, old.meta.review
            );
            f.add(Rule::ApprovedImmutable, "review", old.meta.review, message);
        }
    }
    if !transition_allowed(from, to) {
        let from_text = from.map_or("a new record".to_string(), |s| s.to_string());
        f.add(
            Rule::ReviewTransition,
            "review",
            to,
            format!("cannot go from {from_text} to {to}"),
        );
    }
    if to == ReviewStatus::Returned
        && from != Some(to)
        && new.meta.return_reason.as_deref().is_none_or(|r| r.trim().is_empty())
    {
        let message = format!("say why {} goes back to its team in return_reason", new.meta.label);
        f.add(Rule::ReturnReason, "return_reason", "null", message);
    }
    if to == ReviewStatus::SupervisorApproved && from != Some(to) {
        let unaccepted: Vec<String> = warnings
            .iter()
            .filter(|w| w.severity == Severity::Warning && !new.meta.accepted_warnings.contains_key(&warning_key(w)))
            .map(warning_key)
            .collect();
        if !unaccepted.is_empty() {
            let message = format!(
                "accept each warning with a comment in accepted_warnings first: {}",
                unaccepted.join(", ")
            );
            f.add(Rule::UnacceptedWarnings, "accepted_warnings", unaccepted.len(), message);
        }
    }
    if let (
        Some(Record {
            body: RecordBody::Task(before),
            ..
        }),
        RecordBody::Task(after),
    ) = (old, &new.body)
    {
        let reopened = closed(before.status) && !closed(after.status);
        if reopened && after.reopen_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            f.add(
                Rule::ReopenReason,
                "reopen_reason",
                "null",
                format!("task {} is {}: say why it reopens", new.meta.label, before.status),
            );
        }
    }
    f.issues
}

/// A completed or cancelled task: it takes no new daily report until reopened.
fn closed(status: TaskStatus) -> bool {
    matches!(status, TaskStatus::Completed | TaskStatus::Cancelled)
}

fn transition_allowed(from: Option<ReviewStatus>, to: ReviewStatus) -> bool {
    use ReviewStatus::*;
    match from {
        None => matches!(to, Draft | Submitted),
        Some(from) if from == to => true,
        Some(from) => matches!(
            (from, to),
            (Draft, Submitted)
                | (Submitted, Returned)
                | (Returned, Draft)
                | (Submitted, SupervisorApproved)
                | (SupervisorApproved, HqApproved)
        ),
    }
}
