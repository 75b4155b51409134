//! Who may change what (shared/domain.md, "Authority"), written once for the device and the server.
//!
//! A record is only as good as the authority behind it: HQ reports what a supervisor and HQ approved. So every
//! edit is read as the [`Action`]s it takes ([`actions`]), and each action is allowed or refused by the role of the
//! device that made it ([`permits`]), from one table ([`reach`]). The device checks its own edits with it before it
//! stores them; the server checks every pushed change with it against the authenticated device, whatever the
//! change claims. docs/authority.md prints the same table.

use crate::document::Materialized;
use crate::records::{Record, RecordBody, RecordType};
use crate::vocabulary::ReviewStatus;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a device is enrolled as. The order is not a ranking: read the table, not the variant's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Deminer,
    TeamLeader,
    Supervisor,
    Hq,
    /// A base camp's server enrolled at HQ: it carries its camp's devices' changes and makes none of its own.
    Relay,
    /// Enrols and revokes devices; reads HQ's figures; changes no record.
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Deminer,
        Role::TeamLeader,
        Role::Supervisor,
        Role::Hq,
        Role::Relay,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Deminer => "deminer",
            Role::TeamLeader => "team-leader",
            Role::Supervisor => "supervisor",
            Role::Hq => "hq",
            Role::Relay => "relay",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// HQ and admin devices see every record, whatever its task's teams.
    pub fn sees_everything(self) -> bool {
        matches!(self, Role::Hq | Role::Admin)
    }

    /// The review status this role decides on: what `fieldsync review` lists for it.
    pub fn decides_on(self) -> Option<ReviewStatus> {
        match self {
            Role::Supervisor => Some(ReviewStatus::Submitted),
            Role::Hq => Some(ReviewStatus::SupervisorApproved),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> Result<Role, String> {
        Role::parse(text).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown role `{text}`; roles are {}", names.join(", "))
        })
    }
}

/// One thing an edit does to a record, in the words of the authority table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create or edit a draft daily report, worked area, find, demolition or incident.
    EditDraft,
    /// Create or edit a QA inspection or a completion report (the QA officer's and the handover's records).
    RecordInspection,
    /// Change what a submitted record says, before deciding on it.
    EditSubmitted,
    /// Draft → submitted.
    Submit,
    /// Submitted → returned, with a reason.
    Return,
    /// Submitted → supervisor approved.
    Approve,
    /// Accept a warning with a comment (`accepted_warnings`).
    AcceptWarning,
    /// Supervisor approved → HQ approved.
    HqApprove,
    /// Decide a conflict on a safety-relevant field (geometry, category, quantity, outcome, status...).
    ResolveConflict,
    /// Mark a draft as entered by mistake.
    Void,
    /// Correct a record with a new one that supersedes it.
    Supersede,
    CreateTask,
    /// Change a task's teams, required depth, authorised methods, status, hazard areas or any other field.
    ChangeTask,
    /// Create a hazard area, or change its perimeter, classification, contamination or evidence.
    DefineHazardArea,
    ChangeHazardAreaStatus,
}

impl Action {
    pub const ALL: [Action; 15] = [
        Action::EditDraft,
        Action::RecordInspection,
        Action::EditSubmitted,
        Action::Submit,
        Action::Return,
        Action::Approve,
        Action::AcceptWarning,
        Action::HqApprove,
        Action::ResolveConflict,
        Action::Void,
        Action::Supersede,
        Action::CreateTask,
        Action::ChangeTask,
        Action::DefineHazardArea,
        Action::ChangeHazardAreaStatus,
    ];

    /// The stable code, as in messages and docs/authority.md.
    pub fn code(self) -> &'static str {
        match self {
            Action::EditDraft => "edit_draft",
            Action::RecordInspection => "record_inspection",
            Action::EditSubmitted => "edit_submitted",
            Action::Submit => "submit",
            Action::Return => "return",
            Action::Approve => "approve",
            Action::AcceptWarning => "accept_warning",
            Action::HqApprove => "hq_approve",
            Action::ResolveConflict => "resolve_conflict",
            Action::Void => "void",
            Action::Supersede => "supersede",
            Action::CreateTask => "create_task",
            Action::ChangeTask => "change_task",
            Action::DefineHazardArea => "define_hazard_area",
            Action::ChangeHazardAreaStatus => "change_hazard_area_status",
        }
    }

    /// What the action is, for people.
    pub fn text(self) -> &'static str {
        match self {
            Action::EditDraft => "create or edit a draft daily report, worked area, find, demolition or incident",
            Action::RecordInspection => "create or edit a QA inspection or completion report",
            Action::EditSubmitted => "change a submitted record before deciding on it",
            Action::Submit => "submit a record (draft → submitted)",
            Action::Return => "return a record with a reason (submitted → returned)",
            Action::Approve => "approve a record (submitted → supervisor_approved)",
            Action::AcceptWarning => "accept a warning with a comment",
            Action::HqApprove => "give HQ approval (supervisor_approved → hq_approved)",
            Action::ResolveConflict => "decide a conflict on a safety-relevant field",
            Action::Void => "void a draft",
            Action::Supersede => "correct a record with one that supersedes it",
            Action::CreateTask => "create a task",
            Action::ChangeTask => "change a task (teams, required depth, methods, status, hazard areas)",
            Action::DefineHazardArea => "create a hazard area or change what defines it",
            Action::ChangeHazardAreaStatus => "change a hazard area's status",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A cell of the authority table: on which records a role may take an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    No,
    /// Records this device created, in its teams' tasks.
    Own,
    /// Records of tasks that list one of the device's teams (and shared, task-less records).
    Teams,
    /// Any record.
    Any,
    /// Only as the carrier of another device's change (a base camp relaying to HQ); never a change of its own.
    Forwards,
}

impl Reach {
    pub fn text(self) -> &'static str {
        match self {
            Reach::No => "no",
            Reach::Own => "own",
            Reach::Teams => "its teams'",
            Reach::Any => "yes",
            Reach::Forwards => "forwards",
        }
    }
}

/// The authority table of shared/domain.md: where `role` may take `action`.
pub fn reach(role: Role, action: Action) -> Reach {
    use Action::*;
    use Reach::{Any, Forwards, No, Own, Teams};
    match role {
        Role::Hq => Any,
        Role::Relay => Forwards,
        Role::Admin => No,
        Role::Supervisor => match action {
            DefineHazardArea | ChangeHazardAreaStatus => Any,
            HqApprove => No,
            _ => Teams,
        },
        Role::TeamLeader => match action {
            EditDraft | Submit | ResolveConflict | Void | Supersede => Teams,
            _ => No,
        },
        Role::Deminer => match action {
            EditDraft | Submit => Teams,
            Void => Own,
            _ => No,
        },
    }
}

/// What a store that was never enrolled may do: make and submit drafts, nothing that needs authority.
pub fn unenrolled_may(action: Action) -> bool {
    use Action::*;
    matches!(
        action,
        EditDraft | RecordInspection | Submit | CreateTask | ChangeTask | DefineHazardArea | ChangeHazardAreaStatus
    )
}

/// How the record stands to the device taking the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// The record's task lists one of the device's teams, or the record has no task (it is shared).
    pub in_teams: bool,
    /// The device created the record.
    pub own: bool,
}

/// Why an action is refused: the role, the action and the rule, which a device shows as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// None: a store that was never enrolled.
    pub role: Option<Role>,
    pub action: Action,
    pub reach: Reach,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(role) = self.role else {
            return write!(
                f,
                "this device is not enrolled, so it may only create and submit drafts, not {} ({}): enrol it with a server first",
                self.action.text(),
                self.action.code()
            );
        };
        let rule = match self.reach {
            Reach::No => format!("a {role} may not {}", self.action.text()),
            Reach::Own => format!("a {role} may {} only on records it created", self.action.text()),
            Reach::Teams => format!("a {role} may {} only in its teams' tasks", self.action.text()),
            Reach::Forwards => format!(
                "a {role} only forwards the changes of its camp's devices and may not {} itself",
                self.action.text()
            ),
            Reach::Any => format!("a {role} may {}", self.action.text()),
        };
        let who = allowed_roles(self.action);
        write!(f, "not permitted: {rule} ({}; allowed to {who})", self.action.code())
    }
}

/// The roles the table allows an action, for messages: "supervisor (its teams'), hq".
pub fn allowed_roles(action: Action) -> String {
    let allowed: Vec<String> = Role::ALL
        .iter()
        .filter_map(|role| match reach(*role, action) {
            Reach::No | Reach::Forwards => None,
            Reach::Any => Some(role.as_str().to_string()),
            other => Some(format!("{role} ({})", other.text())),
        })
        .collect();
    allowed.join(", ")
}

/// Whether `role` (None: a store never enrolled) may take `action` on a record that stands as `standing`.
pub fn permits(role: Option<Role>, action: Action, standing: Standing) -> Result<(), Denial> {
    let Some(role) = role else {
        return if unenrolled_may(action) {
            Ok(())
        } else {
            Err(Denial {
                role: None,
                action,
                reach: Reach::No,
            })
        };
    };
    let cell = reach(role, action);
    let allowed = match cell {
        Reach::Any => true,
        Reach::Teams => standing.in_teams,
        Reach::Own => standing.in_teams && standing.own,
        Reach::No | Reach::Forwards => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial {
            role: Some(role),
            action,
            reach: cell,
        })
    }
}

/// Checks every action of an edit; the first refusal.
pub fn check(role: Option<Role>, actions: &[Action], standing: Standing) -> Result<(), Denial> {
    actions.iter().try_for_each(|a| permits(role, *a, standing))
}

/// The fields that belong to the review workflow, not to what a record says.
const WORKFLOW_FIELDS: [&str; 6] = [
    "review",
    "accepted_warnings",
    "reviewed_by",
    "return_reason",
    "void",
    "supersedes",
];

/// The actions an edit takes, from the record as it showed before (None: a new record) to what it shows after, each
/// with its open conflicts: a safety-relevant conflict open before and gone after was decided by the edit. The device
/// and the server both read an edit with this.
pub fn edit_actions(before: Option<&Materialized>, after: &Materialized) -> Vec<Action> {
    let record_type = after.record.record_type();
    let resolved: Vec<String> = before
        .map(|b| {
            b.conflicts
                .iter()
                .filter(|c| crate::conflict::is_safety_relevant(record_type, &c.field))
                .filter(|c| !after.conflicts.iter().any(|open| open.field == c.field))
                .map(|c| c.field.clone())
                .collect()
        })
        .unwrap_or_default();
    actions(before.map(|b| &b.record), &after.record, &resolved)
}

/// The actions an edit from `before` (None: a new record) to `after` takes. `resolved` names the safety-relevant
/// fields whose conflict the edit decided (see `conflict::is_safety_relevant`).
pub fn actions(before: Option<&Record>, after: &Record, resolved: &[String]) -> Vec<Action> {
    let mut out = Vec::new();
    let mut add = |a: Action| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    let record_type = after.record_type();
    match before {
        None => add(create_action(record_type)),
        Some(before) => {
            let (old, new) = (content(before), content(after));
            if old != new {
                match (&before.body, &after.body) {
                    (RecordBody::HazardArea(b), RecordBody::HazardArea(a)) => {
                        if b.status != a.status {
                            add(Action::ChangeHazardAreaStatus);
                        }
                        let mut unchanged = a.clone();
                        unchanged.status = b.status;
                        if &unchanged != b {
                            add(Action::DefineHazardArea);
                        }
                    }
                    (RecordBody::Task(_), _) => add(Action::ChangeTask),
                    _ if before.meta.review == ReviewStatus::Submitted => add(Action::EditSubmitted),
                    _ => add(create_action(record_type)),
                }
            }
        }
    }
    let from = before.map(|b| b.meta.review);
    for step in review_steps(from, after.meta.review) {
        add(match step {
            (_, ReviewStatus::Submitted) => Action::Submit,
            (_, ReviewStatus::Returned) => Action::Return,
            (_, ReviewStatus::SupervisorApproved) => Action::Approve,
            (_, ReviewStatus::HqApproved) => Action::HqApprove,
            (_, ReviewStatus::Draft) => edit_action(record_type),
        });
    }
    if before.map(|b| &b.meta.accepted_warnings) != Some(&after.meta.accepted_warnings)
        && !(before.is_none() && after.meta.accepted_warnings.is_empty())
    {
        add(Action::AcceptWarning);
    }
    if after.meta.void.is_some() && before.map(|b| &b.meta.void) != Some(&after.meta.void) {
        add(Action::Void);
    }
    if after.meta.supersedes.is_some() && before.map(|b| b.meta.supersedes) != Some(after.meta.supersedes) {
        add(Action::Supersede);
    }
    if !resolved.is_empty() {
        add(Action::ResolveConflict);
    }
    out
}

fn create_action(record_type: RecordType) -> Action {
    match record_type {
        RecordType::Task => Action::CreateTask,
        RecordType::HazardArea => Action::DefineHazardArea,
        _ => edit_action(record_type),
    }
}

/// Editing a draft of this type (a returned record taken back to draft is one).
fn edit_action(record_type: RecordType) -> Action {
    match record_type {
        RecordType::Task => Action::ChangeTask,
        RecordType::HazardArea => Action::DefineHazardArea,
        RecordType::QaInspection | RecordType::CompletionReport => Action::RecordInspection,
        _ => Action::EditDraft,
    }
}

/// What a record says, without its workflow fields.
fn content(record: &Record) -> serde_json::Value {
    let mut json = record.to_json();
    if let Some(object) = json.as_object_mut() {
        for field in WORKFLOW_FIELDS {
            object.remove(field);
        }
    }
    json
}

/// The review transitions on the way from `from` (None: a new record) to `to`, along the workflow
/// draft → submitted → (returned → draft) → supervisor_approved → hq_approved. A jump the workflow does not allow
/// (backwards from an approval) gives no steps: the workflow rules refuse it on their own.
pub fn review_steps(from: Option<ReviewStatus>, to: ReviewStatus) -> Vec<(ReviewStatus, ReviewStatus)> {
    use ReviewStatus::*;
    let rank = |s: ReviewStatus| match s {
        Draft | Returned => 0,
        Submitted => 1,
        SupervisorApproved => 2,
        HqApproved => 3,
    };
    const LINE: [ReviewStatus; 4] = [Draft, Submitted, SupervisorApproved, HqApproved];
    let mut steps = Vec::new();
    let mut at = from.unwrap_or(Draft);
    if at == to {
        return steps;
    }
    if at == Returned {
        steps.push((Returned, Draft));
        at = Draft;
    }
    let target = if to == Returned { Submitted } else { to };
    if rank(target) < rank(at) {
        return Vec::new();
    }
    for pair in LINE.windows(2) {
        if rank(pair[0]) >= rank(at) && rank(pair[1]) <= rank(target) {
            steps.push((pair[0], pair[1]));
        }
    }
    if to == Returned {
        steps.push((Submitted, Returned));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReviewStatus::*;

    #[test]
    fn review_steps_follow_the_workflow() {
        assert_eq!(review_steps(None, Draft), vec![]);
        assert_eq!(review_steps(None, Submitted), vec![(Draft, Submitted)]);
        assert_eq!(
            review_steps(Some(Draft), HqApproved),
            vec![
                (Draft, Submitted),
                (Submitted, SupervisorApproved),
                (SupervisorApproved, HqApproved)
            ]
        );
        assert_eq!(review_steps(Some(Submitted), Returned), vec![(Submitted, Returned)]);
        assert_eq!(
            review_steps(Some(Returned), Submitted),
            vec![(Returned, Draft), (Draft, Submitted)]
        );
        assert_eq!(review_steps(Some(HqApproved), Draft), vec![]);
    }

    #[test]
    fn every_cell_of_the_table_decides_and_explains_itself() {
        for role in Role::ALL {
            for action in Action::ALL {
                let cell = reach(role, action);
                let inside = permits(
                    Some(role),
                    action,
                    Standing {
                        in_teams: true,
                        own: true,
                    },
                );
                let outside = permits(Some(role), action, Standing::default());
                assert_eq!(inside.is_ok(), matches!(cell, Reach::Any | Reach::Teams | Reach::Own));
                assert_eq!(outside.is_ok(), cell == Reach::Any);
                if let Err(denial) = inside.and(outside) {
                    let text = denial.to_string();
                    assert!(text.contains(role.as_str()) && text.contains(action.code()), "{text}");
                }
            }
        }
    }

    #[test]
    fn the_table_says_what_shared_domain_md_says() {
        assert_eq!(reach(Role::Deminer, Action::Approve), Reach::No);
        assert_eq!(reach(Role::TeamLeader, Action::Approve), Reach::No);
        assert_eq!(reach(Role::Supervisor, Action::Approve), Reach::Teams);
        assert_eq!(reach(Role::Supervisor, Action::HqApprove), Reach::No);
        assert_eq!(reach(Role::Hq, Action::HqApprove), Reach::Any);
        assert_eq!(reach(Role::Deminer, Action::Void), Reach::Own);
        assert_eq!(reach(Role::TeamLeader, Action::Supersede), Reach::Teams);
        assert_eq!(reach(Role::TeamLeader, Action::ChangeTask), Reach::No);
        assert_eq!(reach(Role::Supervisor, Action::DefineHazardArea), Reach::Any);
        assert_eq!(reach(Role::Admin, Action::EditDraft), Reach::No);
        assert_eq!(reach(Role::Relay, Action::Submit), Reach::Forwards);
        assert!(unenrolled_may(Action::Submit) && !unenrolled_may(Action::Approve));
        assert_eq!(allowed_roles(Action::HqApprove), "hq");
    }
}
