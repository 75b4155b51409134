//! A request's pushed changes, parsed once and grouped by record, before any record is decided.
//!
//! Parsing (decompressing and hashing each change) needs nothing but the bytes, so it runs for the whole request
//! outside the ingest lock, on every core (rayon). A record pushed with its first change need not name itself:
//! its id is read from that change applied to an empty document, and the document is kept, so that a new record
//! (the common case of a large push) is applied once, not twice. A new record pushed in that one change is also
//! materialized here: what it reads as depends on that change alone, so it can be worked out before the lock,
//! in parallel, and ingress only checks it against the server's records.

use automerge::{Automerge, Change, ReadDoc};
use protocol::{PushedChanges, RejectionCode, limits};
use serde_bytes::ByteBuf;
use std::collections::HashMap;
use uuid::Uuid;

/// One record's pushed changes.
#[derive(Debug)]
pub struct RecordPush {
    pub record_id: Uuid,
    /// The changes as pushed: quarantine keeps these bytes if the push is refused.
    pub bytes: Vec<ByteBuf>,
    /// Every change parsed, in push order, or why the push cannot be read (it is refused whole).
    pub changes: Result<Vec<Change>, Unreadable>,
    /// The record's first change applied to an empty document, when the push named no record and its id was read
    /// from that change: the document a new record starts from.
    pub first_applied: Option<FirstApplied>,
}

/// A new record's first change, applied to an empty document.
#[derive(Debug)]
pub struct FirstApplied {
    pub doc: Automerge,
    pub hash: automerge::ChangeHash,
    /// What the document reads as, when the push is this one change and it makes a record of the pushed id.
    pub shown: Option<Shown>,
}

/// A document's record as materialized, with its JSON and that JSON's length.
#[derive(Debug)]
pub struct Shown {
    pub materialized: domain::Materialized,
    pub body: serde_json::Value,
    pub size: usize,
}

impl Shown {
    pub fn of(materialized: domain::Materialized) -> Shown {
        let body = materialized.record.to_json();
        let size = json_size(&body);
        Shown {
            materialized,
            body,
            size,
        }
    }
}

/// Pushes of fewer records are parsed on the caller's thread: sharing them out would cost more than it saves.
pub const PARALLEL_FROM: usize = 64;

/// Why a push's changes cannot be read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub code: RejectionCode,
    pub message: String,
}

/// A push whose record cannot be told (no id, and no first change to read one from): its bytes, to be refused.
#[derive(Debug)]
pub struct Unidentified {
    pub bytes: Vec<ByteBuf>,
}

/// The pushed entries, one per record in the order each record first appears: entries naming the same record are
/// merged, so that ingress decides each record once per request. CPU work only; a large push is shared out
/// across the cores, so call it off the async runtime's threads.
pub fn by_record(push: Vec<PushedChanges>) -> Vec<Result<RecordPush, Unidentified>> {
    use rayon::prelude::*;
    let read = |pushed: PushedChanges| {
        let changes = parse(&pushed.changes);
        let first = match (pushed.record_id, &changes) {
            (Some(_), _) => None,
            (None, Ok(changes)) => first_of(changes).map(|(id, first)| (id, Some(first))),
            // Refused whatever it is, but under its own id and for what is wrong with it, when the changes that
            // do parse tell the record.
            (None, Err(_)) => first_of(&parseable(&pushed.changes)).map(|(id, _)| (id, None)),
        };
        (pushed, changes, first)
    };
    let parsed: Vec<_> = if push.len() < PARALLEL_FROM {
        push.into_iter().map(read).collect()
    } else {
        push.into_par_iter().with_min_len(16).map(read).collect()
    };
    let mut entries: Vec<Result<RecordPush, Unidentified>> = Vec::with_capacity(parsed.len());
    let mut index: HashMap<Uuid, usize> = HashMap::with_capacity(parsed.len());
    for (pushed, changes, first) in parsed {
        let (record_id, first_applied) = match (pushed.record_id, first) {
            (Some(id), _) => (id, None),
            (None, Some((id, first))) => (id, first),
            (None, None) => {
                entries.push(Err(Unidentified { bytes: pushed.changes }));
                continue;
            }
        };
        match index.get(&record_id).and_then(|&i| entries[i].as_mut().ok()) {
            Some(entry) => {
                entry.bytes.extend(pushed.changes);
                entry.changes = match (std::mem::replace(&mut entry.changes, Ok(vec![])), changes) {
                    (Ok(mut all), Ok(more)) => {
                        all.extend(more);
                        Ok(all)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                // The document a new record starts from is only kept for a push that is the record's only entry.
                entry.first_applied = None;
            }
            None => {
                index.insert(record_id, entries.len());
                entries.push(Ok(RecordPush {
                    record_id,
                    bytes: pushed.changes,
                    changes,
                    first_applied,
                }));
            }
        }
    }
    entries
}

/// Every change parsed; the first too large or unparsable refuses them all.
fn parse(bytes: &[ByteBuf]) -> Result<Vec<Change>, Unreadable> {
    bytes
        .iter()
        .enumerate()
        .map(|(index, bytes)| {
            if bytes.len() > limits::MAX_CHANGE_BYTES {
                return Err(Unreadable {
                    code: RejectionCode::TooLarge,
                    message: format!(
                        "change {index} is {} bytes; the limit is {}",
                        bytes.len(),
                        limits::MAX_CHANGE_BYTES
                    ),
                });
            }
            Change::from_bytes(bytes.to_vec()).map_err(|e| Unreadable {
                code: RejectionCode::Malformed,
                message: format!("change {index} is not an Automerge change: {e}"),
            })
        })
        .collect()
}

/// The record id the first change (the one with no dependencies) sets, with that change applied to an empty
/// document, if the push holds it; materialized too when the push is that one change.
fn first_of(changes: &[Change]) -> Option<(Uuid, FirstApplied)> {
    let first = changes.iter().find(|c| c.deps().is_empty())?;
    let mut doc = Automerge::new();
    doc.apply_changes([first.clone()]).ok()?;
    let id: Uuid = match doc.get(automerge::ROOT, "id").ok()?? {
        (automerge::Value::Scalar(s), _) => match s.as_ref() {
            automerge::ScalarValue::Str(id) => id.parse().ok()?,
            _ => return None,
        },
        _ => return None,
    };
    let shown = match changes {
        [_] => domain::document::materialize(&doc)
            .ok()
            .filter(|m| m.record.id() == id)
            .map(Shown::of),
        _ => None,
    };
    let hash = first.hash();
    Some((id, FirstApplied { doc, hash, shown }))
}

/// The length of a JSON value's text, counted without making the text.
pub fn json_size(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The pushed changes that parse, skipping the rest.
fn parseable(bytes: &[ByteBuf]) -> Vec<Change> {
    bytes
        .iter()
        .filter_map(|b| Change::from_bytes(b.to_vec()).ok())
        .collect()
}

/// The hash of each pushed change that parses (what a refusal names when the push as a whole does not read).
pub fn hashes_of(bytes: &[ByteBuf]) -> Vec<Option<String>> {
    bytes
        .iter()
        .map(|b| Change::from_bytes(b.to_vec()).ok().map(|c| c.hash().to_string()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use domain::document::{self, Authorship};

    fn new_record_change() -> (Uuid, Change) {
        let id = Uuid::now_v7();
        let record = domain::Record::from_json(
            serde_json::json!({"type": "task", "id": id, "label": "T-031", "date_of_information": "2026-11-20",
                "activity": "clearance", "status": "active", "organisation": "ANAMA", "teams": ["Team 3"]}),
            id,
        )
        .unwrap();
        let author = Authorship {
            device_id: Uuid::now_v7(),
            device: "t".into(),
            user: "u".into(),
            action: "create".into(),
        };
        let (_, change) = document::create(&record, automerge::ActorId::random(), &author, 0).unwrap();
        (id, change)
    }

    #[test]
    fn a_push_without_id_is_named_by_its_first_change_and_starts_from_it() {
        let (id, change) = new_record_change();
        let bytes = ByteBuf::from(change.raw_bytes().to_vec());
        let entries = by_record(vec![PushedChanges {
            record_id: None,
            changes: vec![bytes],
        }]);
        let [Ok(push)] = &entries[..] else {
            panic!("one identified entry expected: {entries:?}")
        };
        assert_eq!(push.record_id, id);
        let first = push.first_applied.as_ref().expect("the first change, applied");
        assert_eq!(
            (first.doc.get_heads(), first.hash),
            (vec![change.hash()], change.hash())
        );
        let shown = first.shown.as_ref().expect("a push of one new record is materialized");
        assert_eq!(shown.materialized.record.id(), id);
        assert_eq!(shown.size, shown.body.to_string().len());
    }

    #[test]
    fn a_push_without_id_holding_an_unreadable_change_is_still_named_by_its_first_change() {
        let (id, change) = new_record_change();
        let entries = by_record(vec![PushedChanges {
            record_id: None,
            changes: vec![ByteBuf::from(change.raw_bytes().to_vec()), ByteBuf::from(vec![7, 7])],
        }]);
        let [Ok(push)] = &entries[..] else {
            panic!("{entries:?}")
        };
        assert_eq!(push.record_id, id);
        let Err(unreadable) = &push.changes else {
            panic!("{push:?}")
        };
        assert!(unreadable.message.contains("change 1"), "{}", unreadable.message);
    }

    #[test]
    fn entries_of_one_record_merge_and_unreadable_bytes_refuse_the_record() {
        let (id, change) = new_record_change();
        let bytes = ByteBuf::from(change.raw_bytes().to_vec());
        let entries = by_record(vec![
            PushedChanges {
                record_id: None,
                changes: vec![bytes.clone()],
            },
            PushedChanges {
                record_id: Some(id),
                changes: vec![ByteBuf::from(vec![1, 2, 3])],
            },
            PushedChanges {
                record_id: None,
                changes: vec![ByteBuf::from(vec![9])],
            },
        ]);
        assert_eq!(entries.len(), 2, "{entries:?}");
        let Ok(push) = &entries[0] else { panic!("{entries:?}") };
        assert_eq!(push.bytes.len(), 2);
        assert!(push.first_applied.is_none(), "a merged entry starts from storage");
        let Err(unreadable) = &push.changes else {
            panic!("{push:?}")
        };
        assert_eq!(unreadable.code, RejectionCode::Malformed);
        assert!(unreadable.message.contains("change 0"), "{}", unreadable.message);
        assert!(matches!(&entries[1], Err(Unidentified { bytes }) if bytes.len() == 1));
    }
}
