//! Rules that read the records a record links to, or that depend on it.

use super::{Context, Findings, Rule};
use crate::records::{Record, RecordBody, RecordType};
use crate::vocabulary::{DemolitionResult, DisposalStatus, HazardStatus, Outcome, QaResult};
use uuid::Uuid;

pub(super) fn check(f: &mut Findings<'_>, ctx: &Context<'_>) {
    let record = f.record;
    for (field, id) in record.links() {
        if let Some(target) = ctx.related.get(id) {
            let expected = expected_type(field, record.record_type());
            if target.record_type() != expected {
                let message = format!(
                    "points to {} {}, but `{field}` must point to a {expected}",
                    target.record_type(),
                    target.meta.label
                );
                f.add(Rule::LinkType, field, id, message);
            }
        }
    }
    // A correction stays in the task of what it corrects: a team cannot reach into another task's figures.
    if let Some(corrected) = record.meta.supersedes.and_then(|id| ctx.related.get(id))
        && corrected.task_id() != record.task_id()
    {
        let message = format!(
            "corrects {} {} of another task: a correction belongs to the task of the record it corrects",
            corrected.record_type(),
            corrected.meta.label
        );
        f.add(Rule::LinkTask, "supersedes", corrected.id(), message);
    }
    match &record.body {
        RecordBody::WorkedArea(w) => {
            same_task(f, ctx, "daily_report", w.daily_report, w.task);
            if w.outcome == Outcome::Cleared
                && let Some(required) = task(ctx, w.task).and_then(|t| t.required_depth_cm)
            {
                match w.depth_achieved_cm {
                    Some(achieved) if achieved >= required => {}
                    Some(achieved) => f.add(
                        Rule::ClearanceDepth,
                        "depth_achieved_cm",
                        achieved,
                        format!("task {} requires clearance to {required} cm", label(ctx, w.task)),
                    ),
                    None => f.add(
                        Rule::ClearanceDepth,
                        "depth_achieved_cm",
                        "null",
                        format!(
                            "task {} requires clearance to {required} cm: record the depth achieved",
                            label(ctx, w.task)
                        ),
                    ),
                }
            }
        }
        RecordBody::Find(x) => {
            same_task(f, ctx, "worked_area", x.worked_area, x.task);
            same_task(f, ctx, "daily_report", x.daily_report, x.task);
            if let Some(required) = task(ctx, x.task).and_then(|t| t.required_depth_cm)
                && x.depth_cm > required
            {
                f.add(
                    Rule::FindDeeperThanRequired,
                    "depth_cm",
                    x.depth_cm,
                    format!("deeper than the {required} cm the task requires: consider extending the clearance depth"),
                );
            }
        }
        RecordBody::Demolition(d) => {
            for id in d.finds.keys() {
                if let Some(Record {
                    body: RecordBody::Find(find),
                    meta,
                    ..
                }) = ctx.related.get(*id)
                    && d.at < find.found_at
                {
                    let message = format!("before find {} was found ({})", meta.label, find.found_at.to_rfc3339());
                    f.add(Rule::DemolitionAfterFind, "at", d.at.to_rfc3339(), message);
                }
            }
            if d.result == DemolitionResult::Misfire {
                f.add(
                    Rule::Misfire,
                    "result",
                    d.result,
                    "record the follow-up demolition of the items that did not detonate",
                );
            }
        }
        RecordBody::QaInspection(q) => same_task(f, ctx, "worked_area", q.worked_area, q.task),
        RecordBody::HazardArea(h) if h.status == HazardStatus::Closed => hazard_closure(f, ctx),
        _ => {}
    }
}

/// The record type each link field must point to.
fn expected_type(field: &str, from: RecordType) -> RecordType {
    match field {
        "task" => RecordType::Task,
        "daily_report" => RecordType::DailyReport,
        "worked_area" => RecordType::WorkedArea,
        "finds" => RecordType::Find,
        "hazard_areas" => RecordType::HazardArea,
        "qa_inspections" => RecordType::QaInspection,
        // A correction supersedes a record of its own type.
        _ => from,
    }
}

fn task<'a>(ctx: &Context<'a>, id: Uuid) -> Option<&'a crate::records::Task> {
    match ctx.related.get(id).map(|r| &r.body) {
        Some(RecordBody::Task(t)) => Some(t),
        _ => None,
    }
}

fn label(ctx: &Context<'_>, id: Uuid) -> String {
    ctx.related
        .get(id)
        .map_or_else(|| id.to_string(), |r| r.meta.label.clone())
}

/// A linked worked area or daily report must belong to the same task as the record.
fn same_task(f: &mut Findings<'_>, ctx: &Context<'_>, field: &str, link: Option<Uuid>, task: Uuid) {
    let Some(target) = link.and_then(|id| ctx.related.get(id)) else {
        return;
    };
    if let Some(other) = target.task_id()
        && other != task
    {
        let message = format!(
            "{} {} belongs to task {}, not to task {}",
            target.record_type(),
            target.meta.label,
            label(ctx, other),
            label(ctx, task)
        );
        f.add(Rule::LinkTask, field, target.meta.id, message);
    }
}

fn hazard_closure(f: &mut Findings<'_>, ctx: &Context<'_>) {
    let live = || ctx.related.dependents.iter().filter(|r| r.meta.void.is_none());
    let approved_completion =
        live().any(|r| matches!(r.body, RecordBody::CompletionReport(_)) && r.meta.review.is_approved());
    let pending: Vec<&str> = live()
        .filter(|r| matches!(&r.body, RecordBody::Find(x) if x.disposal == DisposalStatus::Pending))
        .map(|r| r.meta.label.as_str())
        .collect();
    let passed_qa = live().any(|r| matches!(&r.body, RecordBody::QaInspection(q) if q.result == QaResult::Pass));
    let mut missing = Vec::new();
    if !approved_completion {
        missing.push("no approved completion report".to_string());
    }
    if !pending.is_empty() {
        missing.push(format!("finds not yet disposed: {}", pending.join(", ")));
    }
    if !passed_qa {
        missing.push("no passed QA/QC inspection".to_string());
    }
    if !missing.is_empty() {
        f.add(
            Rule::HazardClosure,
            "status",
            HazardStatus::Closed,
            format!("cannot close yet: {}", missing.join("; ")),
        );
    }
}
