//! The step-by-step check of a push of several changes of one record: the authority table and the workflow rules
//! for each change in turn, as the device checked them edit by edit.

use crate::store::StorageError;
use automerge::{Automerge, Change, ReadDoc};
use domain::Issue;
use domain::authority::{self, Standing};
use domain::document;
use domain::validation::check_edit;

/// What checking a push step by step found: the workflow errors of every step, and the first step the device's
/// role may not take.
pub(super) struct Steps {
    pub(super) errors: Vec<Issue>,
    pub(super) denial: Option<authority::Denial>,
}

/// The authority table and the workflow rules (`check_edit`: review transitions, approved records, accepted
/// warnings) for each change of a push in turn. A device checks them one edit at a time, so a push of several
/// changes of one record (created, submitted and approved during a day offline) holds steps that the jump from the
/// server's state to the last one would break (a new record cannot be approved at once), and the jump may hide a
/// step that breaks one (an approved record edited in place, a conflict decided by a merge). Only run for pushes
/// of several changes where either can happen.
pub(super) fn check_each_step(
    after: &Automerge,
    before_heads: &[automerge::ChangeHash],
    before: Option<&domain::Materialized>,
    fresh: &[Change],
    ctx: &domain::Context<'_>,
    role: domain::Role,
    standing: Standing,
) -> Result<Steps, StorageError> {
    let damaged = |e: &dyn std::fmt::Display| StorageError::Damaged(format!("replaying a push: {e}"));
    let mut replay = after.fork_at(before_heads).map_err(|e| damaged(&e))?;
    let mut previous = before.cloned();
    let mut steps = Steps {
        errors: Vec::new(),
        denial: None,
    };
    for change in fresh {
        replay.apply_changes([change.clone()]).map_err(|e| damaged(&e))?;
        // A change waiting for one later in the push is no step of its own.
        if !replay.get_missing_deps(&[]).is_empty() {
            continue;
        }
        // A state between the changes that is no record (a client that split one edit oddly) is no step to check:
        // the last state, which the rules have already read, is.
        let Ok(step) = document::materialize(&replay) else {
            continue;
        };
        if steps.denial.is_none() {
            let actions = authority::edit_actions(previous.as_ref(), &step);
            steps.denial = authority::check(Some(role), &actions, standing).err();
        }
        let warnings = domain::validation::validate(&step.record, ctx);
        for issue in check_edit(
            previous.as_ref().map(|p| &p.record),
            &step.record,
            &warnings,
            ctx.related,
        ) {
            if !steps.errors.contains(&issue) {
                steps.errors.push(issue);
            }
        }
        previous = Some(step);
    }
    Ok(steps)
}
