//! From records to what devices push: each record's history becomes one Automerge document through
//! `domain::document` (its creation, then its edits, each by the device that made it), and its changes are put in
//! the order a server can accept them.

use super::generate::{Author, Dataset, History};
use automerge::ActorId;
use domain::RecordType;
use domain::document::{self, Authorship, DocumentError};
use uuid::Uuid;

/// Changes of one record that one device pushes in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChanges {
    pub record_id: Uuid,
    pub record_type: RecordType,
    pub label: String,
    pub author: Author,
    pub round: u8,
    /// True for the record's first push (it holds the creation).
    pub creates: bool,
    /// Automerge change chunks (`Change::raw_bytes`), in causal order.
    pub changes: Vec<Vec<u8>>,
}

/// Everything to push, in order: by round, then by record type (hazard areas, tasks, daily reports, worked areas,
/// finds, demolitions, QA inspections, completion reports, incidents), then by device, then by creation. Types
/// before devices: HQ creates the tasks that the teams' records belong to, so they must arrive first.
#[derive(Debug, Clone, Default)]
pub struct PushPlan {
    pub entries: Vec<RecordChanges>,
    pub records: usize,
    pub changes: usize,
}

/// Builds every record's document and orders the changes for pushing.
pub fn plan(dataset: &Dataset) -> Result<PushPlan, DocumentError> {
    let mut entries = Vec::new();
    for history in dataset.histories() {
        entries.extend(record_changes(dataset, history)?);
    }
    let type_order = |t: RecordType| RecordType::ALL.iter().position(|x| *x == t).unwrap_or(usize::MAX);
    // Stable: records of one type keep their creation order.
    entries.sort_by_key(|e: &RecordChanges| (e.round, type_order(e.record_type), e.author));
    Ok(PushPlan {
        records: entries.iter().filter(|e| e.creates).count(),
        changes: entries.iter().map(|e| e.changes.len()).sum(),
        entries,
    })
}

/// One record's document, built version by version, as pushes: consecutive versions of one device and round go
/// out together.
pub fn record_changes(dataset: &Dataset, history: &History) -> Result<Vec<RecordChanges>, DocumentError> {
    let created = history.created();
    let record = &created.record;
    let (actor, author) = authorship(dataset, created.author, "create")?;
    let (mut doc, change) = document::create(record, actor, &author, created.at.timestamp())?;
    let mut out = vec![RecordChanges {
        record_id: record.id(),
        record_type: record.record_type(),
        label: record.meta.label.clone(),
        author: created.author,
        round: created.round,
        creates: true,
        changes: vec![change.raw_bytes().to_vec()],
    }];
    for version in &history.versions[1..] {
        let (actor, author) = authorship(dataset, version.author, "edit")?;
        doc.set_actor(actor);
        let Some(change) = document::edit(&mut doc, &version.record, &author, version.at.timestamp())? else {
            continue;
        };
        let bytes = change.raw_bytes().to_vec();
        match out.last_mut() {
            Some(last) if last.author == version.author && last.round == version.round => last.changes.push(bytes),
            _ => out.push(RecordChanges {
                record_id: record.id(),
                record_type: record.record_type(),
                label: version.record.meta.label.clone(),
                author: version.author,
                round: version.round,
                creates: false,
                changes: vec![bytes],
            }),
        }
    }
    Ok(out)
}

/// The actor and authorship claim of a device: each device writes as its own actor, named after its id.
fn authorship(dataset: &Dataset, author: Author, action: &str) -> Result<(ActorId, Authorship), DocumentError> {
    let device = dataset
        .device(author)
        .ok_or_else(|| DocumentError::NotARecord(format!("no demo device for {author:?}")))?;
    let actor = ActorId::from(device.id.as_bytes());
    Ok((
        actor,
        Authorship {
            device_id: device.id,
            device: device.name.clone(),
            user: device.user.clone(),
            action: action.to_string(),
        },
    ))
}
