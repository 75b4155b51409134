//! Validation at ingress. A merged change can never be taken back, so each pushed record's changes are parsed,
//! applied to a copy of the server's document, checked against the device's scope and validated with the domain
//! rules, and only then appended. A refused change is kept in quarantine and reported to its device.
//!
//! `parse.rs` parses a request's changes and groups them by record, `scope.rs` holds the scope checks of a push,
//! `steps.rs` the step-by-step check of a push of several changes.

pub mod parse;
mod scope;
mod steps;

use parse::{FirstApplied, Shown, Unreadable};
pub use parse::{RecordPush, Unidentified, by_record};

use steps::check_each_step;

use crate::document_cache::SNAPSHOT_EVERY;
use crate::staging::Staging;
use crate::store::{Device, Grant, Ingest, NewChange, NewQuarantined, RecordRow, StorageError, SyncStore};
use automerge::{Automerge, Change, ReadDoc};
use chrono::{DateTime, Utc};
use domain::authority::{self, Standing};
use domain::document;
use domain::records::RecordBody;
use domain::validation::check_edit;
use domain::validation::neighbourhood::{Answer, CLOSURE_EVIDENCE, Gathering, Need, Siblings};
use domain::{FieldConflict, Issue, Programme, Record, Related};
use protocol::{Rejection, RejectionCode, limits};
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// Whose judgement a push's changes wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// This server's: a device's changes, checked for authorship, scope, role and the rules before they are kept.
    Device,
    /// Upstream's: what the server a camp relays to (HQ) sent it. HQ holds the merged dataset and judged every
    /// change in it; the camp keeps it as HQ decided it, checking only that it is a fieldsync record. Judging
    /// again would refuse what HQ holds whenever the camp saw concurrent changes in another order (an approval
    /// here, an edit HQ accepted before it), and the camp would never again agree with HQ.
    Upstream,
}

/// What became of one record's pushed changes.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: Vec<String>,
    pub rejected: Option<Rejection>,
    pub warnings: Vec<Issue>,
}

/// Processes the changes a device pushed for one record: accepted, deferred, or refused into quarantine. Writes
/// are staged; the caller commits them once the slice of the request they belong to is processed.
pub async fn ingest_record<S: SyncStore>(
    storage: &mut Staging<'_, S>,
    programme: &Programme,
    device: &Device,
    judge: Judge,
    push: RecordPush,
    now: DateTime<Utc>,
) -> Result<Outcome, StorageError> {
    let RecordPush {
        record_id,
        bytes,
        changes,
        first_applied,
    } = push;
    match decide(
        storage,
        programme,
        device,
        judge,
        record_id,
        changes,
        first_applied,
        now,
    )
    .await?
    {
        Verdict::Decided(outcome) => Ok(outcome),
        Verdict::Refuse(refusal) => Ok(reject(storage, device, record_id, &bytes, now, refusal)),
    }
}

/// Refuses a push that names no record and lacks the record's first change: there is no telling which record it
/// is, so it is quarantined under the nil id, like every other refusal, and reported.
pub fn refuse_unidentified<S: SyncStore>(
    storage: &mut Staging<'_, S>,
    device: &Device,
    push: Unidentified,
    now: DateTime<Utc>,
) -> Outcome {
    let message = "a push without record_id must include the record's first change".to_string();
    let refusal = Refusal {
        code: RejectionCode::Malformed,
        message,
        issues: vec![],
        hashes: parse::hashes_of(&push.bytes).into_iter().flatten().collect(),
    };
    reject(storage, device, Uuid::nil(), &push.bytes, now, refusal)
}

/// What to do with a push: an outcome already settled (accepted and appended, or deferred), or a refusal.
enum Verdict {
    Decided(Outcome),
    Refuse(Refusal),
}

/// Checks a record's pushed changes and appends them if they pass.
// The pieces of one record's push, and who judges it; grouping them would only rename them.
#[allow(clippy::too_many_arguments)]
async fn decide<S: SyncStore>(
    storage: &mut Staging<'_, S>,
    programme: &Programme,
    device: &Device,
    judge: Judge,
    id: Uuid,
    changes: Result<Vec<Change>, Unreadable>,
    first_applied: Option<FirstApplied>,
    now: DateTime<Utc>,
) -> Result<Verdict, StorageError> {
    let refuse = |code, message: String, issues: Vec<Issue>, hashes: Vec<String>| Refusal {
        code,
        message,
        issues,
        hashes,
    };
    let malformed = |message: String, hashes: Vec<String>| {
        Ok(Verdict::Refuse(refuse(
            RejectionCode::Malformed,
            message,
            vec![],
            hashes,
        )))
    };

    // 1. Every change parsed (by parse::by_record); an unparsable or oversized one refuses the record's whole push.
    let changes = match changes {
        Ok(changes) => changes,
        Err(Unreadable { code, message }) => return Ok(Verdict::Refuse(refuse(code, message, vec![], vec![]))),
    };
    let hashes: Vec<String> = changes.iter().map(|c| c.hash().to_string()).collect();

    // 2. The server's document, and what is new in the push. A new record pushed with its first change starts
    // from that change, already applied when the push was parsed.
    let mut loaded = storage.document(id).await?;
    let before_heads = loaded.doc.get_heads();
    let mut prepared: Option<Shown> = None;
    let (fresh, to_apply): (Vec<Change>, Vec<Change>) = match first_applied {
        Some(first) if before_heads.is_empty() => {
            loaded.doc = first.doc;
            prepared = first.shown;
            let rest = changes.iter().filter(|c| c.hash() != first.hash).cloned().collect();
            (changes, rest)
        }
        _ => {
            let doc = &loaded.doc;
            let fresh: Vec<Change> = changes
                .into_iter()
                .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
                .collect();
            (fresh.clone(), fresh)
        }
    };
    if fresh.is_empty() {
        return Ok(Verdict::Decided(Outcome {
            accepted: hashes,
            ..Outcome::default()
        }));
    }
    let before = if before_heads.is_empty() {
        None
    } else {
        Some(materialize(&loaded.doc, id)?)
    };

    // 3. Apply to a copy (the loaded document is one: nothing is kept unless the changes are accepted).
    let after_doc = &mut loaded.doc;
    if !to_apply.is_empty()
        && let Err(e) = after_doc.apply_changes(to_apply)
    {
        return malformed(format!("the changes do not apply: {e}"), hashes);
    }
    let missing = after_doc.get_missing_deps(&[]);
    if !missing.is_empty() {
        let message = format!(
            "{} earlier changes of this record are missing: push them with these",
            missing.len()
        );
        return Ok(Verdict::Decided(deferred(id, message, hashes)));
    }
    // A new record pushed in one change was materialized when the push was parsed (parse::FirstApplied).
    let prepared = match prepared {
        Some(prepared) => prepared,
        None => match document::materialize(after_doc) {
            Ok(m) if m.record.id() == id => Shown::of(m),
            Ok(m) => return malformed(format!("the document holds record {}, not {id}", m.record.id()), hashes),
            Err(e) => return malformed(format!("the changes do not make a fieldsync record: {e}"), hashes),
        },
    };
    let Shown {
        materialized: shown,
        body,
        size,
    } = prepared;
    let after = &shown.record;
    if size > limits::MAX_RECORD_JSON_BYTES {
        let message = format!(
            "{} {} would be {size} bytes; a record is at most {} bytes: keep photos as attachments and notes short",
            after.record_type(),
            after.meta.label,
            limits::MAX_RECORD_JSON_BYTES
        );
        return Ok(Verdict::Refuse(refuse(
            RejectionCode::TooLarge,
            message,
            vec![],
            hashes,
        )));
    }

    // 4–6 are upstream's to judge for what it sent.
    let judged_here = judge == Judge::Device;

    // 4. Authorship: every new change is this device's own. The device named inside a change is only a claim;
    // the writer (Automerge actor) belongs to the device that first pushed one of its changes.
    for change in fresh.iter().filter(|_| judged_here) {
        let owner = storage.actor_owner(change.actor_id().to_bytes()).await?;
        if owner.is_some_and(|owner| owner != device.id) {
            let message = format!(
                "change {} was written by another enrolled device, not by {}: a device pushes only the changes it made",
                change.hash(),
                device.name
            );
            return Ok(Verdict::Refuse(refuse(
                RejectionCode::AuthorMismatch,
                message,
                vec![],
                hashes,
            )));
        }
    }

    // 5. Scope: the device must be allowed on the record's task before and after the change, and may link only to
    // records it sees. A refusal names nothing of what the device may not see.
    if judged_here
        && let Some(verdict) = scope::check(
            storage,
            device,
            before.as_ref().map(|b| &b.record),
            after,
            hashes.clone(),
        )
        .await?
    {
        return Ok(verdict);
    }

    // 6. Authority and validation of the record the changes make, against the records the server holds.
    let related = related(storage, after).await?;
    let entered_at = document::entered_at(after_doc).unwrap_or(now);
    let ctx = domain::Context {
        programme,
        related: &related,
        entered_at,
    };
    let own = before.is_none()
        || match document::creator_actor(after_doc) {
            Some(actor) => storage.actor_owner(actor.to_bytes()).await? == Some(device.id),
            None => false,
        };
    let standing = Standing { in_teams: true, own };
    let issues = domain::validation::validate(after, &ctx);
    let before_record = before.as_ref().map(|b| &b.record);
    if judged_here {
        let mut denial = authority::check(
            Some(device.role),
            &authority::edit_actions(before.as_ref(), &shown),
            standing,
        )
        .err();
        let mut errors = check_edit(before_record, after, &issues, &related);
        // Several changes at once pass the rules as a whole exactly when each of them does, unless a later one moves
        // the review status (a step may break a rule that the jump hides: approved, then edited) or merges concurrent
        // changes (a step may decide a conflict that the jump does not show). Then each step is checked in turn.
        let review_moves = fresh
            .iter()
            .skip(usize::from(before.is_none()))
            .any(|c| document::writes_field(c, "review"));
        let merges = fresh.iter().any(|c| c.deps().len() > 1);
        if fresh.len() > 1 && denial.is_none() && (!errors.is_empty() || review_moves || merges) {
            let steps = check_each_step(
                after_doc,
                &before_heads,
                before.as_ref(),
                &fresh,
                &ctx,
                device.role,
                standing,
            )?;
            errors = steps.errors;
            denial = steps.denial;
        }
        if let Some(denial) = denial {
            let message = format!("{} {}: {denial}", after.record_type(), after.meta.label);
            return Ok(Verdict::Refuse(refuse(
                RejectionCode::NotPermitted,
                message,
                vec![],
                hashes,
            )));
        }
        errors.extend(issues.iter().filter(|i| i.is_error()).cloned());
        if !errors.is_empty() {
            let message = format!(
                "{} {} breaks {} rule(s)",
                after.record_type(),
                after.meta.label,
                errors.len()
            );
            return Ok(Verdict::Refuse(refuse(RejectionCode::Invalid, message, errors, hashes)));
        }
    }

    // 7. Accept: stage the changes, the record's row, grants for scope that grew, and now and then a snapshot.
    let mut row = row_with_body(after, body, issues.clone(), shown.conflicts.clone(), after_doc);
    row.review_by = review_by(storage, device, id, after_doc, &fresh).await?;
    let grants = grants(storage, before_record, after).await?;
    let changes = fresh
        .iter()
        .map(|c| NewChange {
            hash: c.hash().0,
            bytes: c.raw_bytes().to_vec(),
            actor: c.actor_id().to_bytes().to_vec(),
        })
        .collect();
    loaded.since_snapshot += fresh.len();
    let snapshot = if loaded.since_snapshot >= SNAPSHOT_EVERY {
        loaded.since_snapshot = 0;
        Some(loaded.doc.save())
    } else {
        None
    };
    let ingest = Ingest {
        record: row,
        changes,
        device_id: device.id,
        received_at: now,
        grants,
        snapshot,
        feature: Some(layers::feature(after)),
    };
    storage.accept(ingest, loaded);
    Ok(Verdict::Decided(Outcome {
        accepted: hashes,
        rejected: None,
        warnings: issues,
    }))
}

/// The enrolled device that pushed the change setting the record's review status. Only a change that writes
/// `review` can change which value wins, so it is this device when the winning change is in the push, and otherwise
/// what the record's row already says.
async fn review_by<S: SyncStore>(
    storage: &Staging<'_, S>,
    device: &Device,
    id: Uuid,
    doc: &Automerge,
    fresh: &[Change],
) -> Result<Option<Uuid>, StorageError> {
    let Some(hash) = document::set_by(doc, "review") else {
        return Ok(None);
    };
    if fresh.iter().any(|c| c.hash() == hash) {
        return Ok(Some(device.id));
    }
    Ok(storage.record(id).await?.and_then(|row| row.review_by))
}

struct Refusal {
    code: RejectionCode,
    message: String,
    issues: Vec<Issue>,
    hashes: Vec<String>,
}

/// Refuses the push: every change goes to quarantine (nothing a device sends is dropped), and the device is told.
/// Refusals are rare, so the hash of each quarantined change is read again here rather than kept by every push.
fn reject<S: SyncStore>(
    storage: &mut Staging<'_, S>,
    device: &Device,
    record_id: Uuid,
    bytes: &[ByteBuf],
    now: DateTime<Utc>,
    refusal: Refusal,
) -> Outcome {
    tracing::warn!(device = %device.name, record = %record_id, code = ?refusal.code, "{}", refusal.message);
    let code = serde_json::to_value(refusal.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    for (bytes, change_hash) in bytes.iter().zip(parse::hashes_of(bytes)) {
        storage.quarantine(NewQuarantined {
            device_id: device.id,
            record_id,
            change_hash,
            bytes: bytes.to_vec(),
            code: code.clone(),
            message: refusal.message.clone(),
            issues: refusal.issues.clone(),
            received_at: now,
        });
    }
    let rejection = Rejection {
        record_id,
        changes: refusal.hashes,
        code: refusal.code,
        message: refusal.message,
        issues: refusal.issues,
    };
    Outcome {
        rejected: Some(rejection),
        ..Outcome::default()
    }
}

fn deferred(record_id: Uuid, message: String, changes: Vec<String>) -> Outcome {
    let rejection = Rejection {
        record_id,
        changes,
        code: RejectionCode::Deferred,
        message,
        issues: vec![],
    };
    Outcome {
        rejected: Some(rejection),
        ..Outcome::default()
    }
}

fn materialize(doc: &Automerge, id: Uuid) -> Result<domain::Materialized, StorageError> {
    document::materialize(doc).map_err(|e| StorageError::Damaged(format!("record {id}: {e}")))
}

/// The record's row: the record as shown (`record`, with its open `conflicts`, both from
/// `domain::document::materialize` of `doc`), its warnings, and what else the server reads off its document.
pub fn row_of(record: &Record, warnings: Vec<Issue>, conflicts: Vec<FieldConflict>, doc: &Automerge) -> RecordRow {
    row_with_body(record, record.to_json(), warnings, conflicts, doc)
}

/// [`row_of`] with the record's JSON already made (ingress makes it once, to measure the record).
fn row_with_body(
    record: &Record,
    body: serde_json::Value,
    warnings: Vec<Issue>,
    conflicts: Vec<FieldConflict>,
    doc: &Automerge,
) -> RecordRow {
    let (task_teams, hazard_areas) = match &record.body {
        RecordBody::Task(task) => (task.teams.clone(), task.hazard_areas.clone()),
        _ => Default::default(),
    };
    RecordRow {
        record_id: record.id(),
        record_type: record.record_type(),
        task_id: record.task_id(),
        task_teams,
        hazard_areas,
        body,
        warnings,
        heads: doc.get_heads().iter().map(|h| h.0).collect(),
        conflicts,
        review_since: document::set_at(doc, "review"),
        review_by: None,
    }
}

/// Scope that grows with this change: teams added to a task, or the teams of a task a record moved to.
async fn grants<S: SyncStore>(
    storage: &Staging<'_, S>,
    before: Option<&Record>,
    after: &Record,
) -> Result<Vec<Grant>, StorageError> {
    let Some(before) = before else { return Ok(vec![]) };
    if let (RecordBody::Task(old), RecordBody::Task(new)) = (&before.body, &after.body) {
        let task_id = after.id();
        return Ok(new
            .teams
            .difference(&old.teams)
            .map(|team| Grant::Task {
                task_id,
                team: team.clone(),
            })
            .collect());
    }
    match (before.task_id(), after.task_id()) {
        (old, Some(new)) if old != Some(new) => {
            let teams = storage.record(new).await?.map(|row| row.task_teams).unwrap_or_default();
            Ok(teams
                .into_iter()
                .map(|team| Grant::Record {
                    record_id: after.id(),
                    team,
                })
                .collect())
        }
        _ => Ok(vec![]),
    }
}

/// The records validation reads (domain::validation::neighbourhood), from the store as staged: linked records (a
/// linked task brings its hazard areas) and, for a hazard area, the evidence of the tasks that cover it. Siblings
/// are left out: overlaps and duplicates are checked on the device and in HQ's data-quality report, not at ingress.
pub async fn related<S: SyncStore>(storage: &Staging<'_, S>, record: &Record) -> Result<Related, StorageError> {
    let mut gathering = Gathering::new(record, Siblings::Skip);
    while let Some(need) = gathering.next_need() {
        let answer = match need {
            Need::Record(id) => {
                let row = storage.record(id).await?;
                Answer::Record(row.map(|row| parse_row(&row).map(Box::new)).transpose()?)
            }
            Need::Near(_) => Answer::Records(Vec::new()),
            Need::Evidence(hazard_area) => {
                let mut evidence = Vec::new();
                for task in storage.tasks_covering(hazard_area).await? {
                    for row in storage.records_of_task(task).await? {
                        if CLOSURE_EVIDENCE.contains(&row.record_type) {
                            evidence.push(parse_row(&row)?);
                        }
                    }
                }
                Answer::Records(evidence)
            }
        };
        gathering.answer(answer);
    }
    Ok(gathering.finish())
}

fn parse_row(row: &RecordRow) -> Result<Record, StorageError> {
    Record::from_json(row.body.clone(), row.record_id)
        .map_err(|e| StorageError::Damaged(format!("record {}: {e}", row.record_id)))
}
