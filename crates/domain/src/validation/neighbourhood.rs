//! Gathering a record's neighbourhood: the records validation reads besides the record itself ([`Related`]).
//!
//! One definition for every place that validates: the device store, validation at ingress, HQ's data-quality
//! report and the rules' own tests, so that they gather alike. Each place holds its records its own way, so it
//! answers three questions (a [`RecordSource`], or its own loop over [`Gathering`]) and says which of its records
//! are live (HQ's report also leaves out superseded ones); what to ask, in which order, and what to keep is
//! decided here.
//!
//! Sans-IO: [`Gathering`] says what it needs next and is handed the answer, so a source that must wait (the
//! server's store is async) drives it with its own loop; [`neighbourhood`] drives it for a source that answers
//! at once.

use super::Related;
use crate::geometry::bounding_box;
use crate::records::{Record, RecordBody, RecordType};
use uuid::Uuid;

/// How far around a record's bounding box siblings are looked for, in metres: duplicates lie within 1 m and
/// overlaps need shared ground, so anything farther cannot matter.
pub const SIBLING_MARGIN_M: f64 = 2.0;
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

/// The records of the tasks covering a hazard area that its closure reads.
pub const CLOSURE_EVIDENCE: [RecordType; 3] =
    [RecordType::Find, RecordType::CompletionReport, RecordType::QaInspection];

/// Whether siblings (records of the same type and task nearby) are gathered. Ingress leaves them out: overlaps
/// and duplicates are checked on the device and in HQ's data-quality report, not at the server's door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Siblings {
    Gather,
    Skip,
}

/// Live records of one type in one task whose bounding boxes meet `bbox` (west, south, east, north, already
/// widened by [`SIBLING_MARGIN_M`]), the record itself left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Near {
    pub task: Uuid,
    pub record_type: RecordType,
    pub except: Uuid,
    pub bbox: [f64; 4],
}

impl Near {
    /// The siblings a record has, if any can matter: worked areas and finds of a task, with a position.
    pub fn of(record: &Record) -> Option<Near> {
        let record_type = record.record_type();
        let (Some(task), RecordType::WorkedArea | RecordType::Find) = (record.task_id(), record_type) else {
            return None;
        };
        let [min_lon, min_lat, max_lon, max_lat] = bounding_box(record.positions().iter())?;
        // A degree of longitude shrinks towards the poles; clamp so the margin stays finite near them.
        let m_lat = SIBLING_MARGIN_M / METRES_PER_DEGREE_LAT;
        let m_lon = m_lat / max_lat.abs().max(min_lat.abs()).min(89.0).to_radians().cos();
        Some(Near {
            task,
            record_type,
            except: record.id(),
            bbox: [min_lon - m_lon, min_lat - m_lat, max_lon + m_lon, max_lat + m_lat],
        })
    }

    /// Whether `candidate` is one of these siblings (for a source that filters records in memory; a live record
    /// is the source's own judgement, not this).
    pub fn admits(&self, candidate: &Record) -> bool {
        let [west, south, east, north] = self.bbox;
        candidate.id() != self.except
            && candidate.record_type() == self.record_type
            && candidate.task_id() == Some(self.task)
            && bounding_box(candidate.positions().iter())
                .is_some_and(|[w, s, e, n]| e >= west && w <= east && n >= south && s <= north)
    }
}

/// What a [`Gathering`] needs next.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// One record by id (a linked record), or None when the source does not hold it.
    Record(Uuid),
    /// The live siblings [`Near`] describes.
    Near(Near),
    /// For a hazard area: the records of kinds [`CLOSURE_EVIDENCE`] of every task that covers it.
    Evidence(Uuid),
}

/// The answer to a [`Need`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Record(Option<Box<Record>>),
    Records(Vec<Record>),
}

/// Where a neighbourhood comes from, for a source that answers at once (a local store, records in memory).
pub trait RecordSource {
    type Error;
    fn record(&mut self, id: Uuid) -> Result<Option<Record>, Self::Error>;
    fn near(&mut self, near: &Near) -> Result<Vec<Record>, Self::Error>;
    fn evidence(&mut self, hazard_area: Uuid) -> Result<Vec<Record>, Self::Error>;
}

/// The neighbourhood of `record` from a source that answers at once.
pub fn neighbourhood<S: RecordSource>(
    source: &mut S,
    record: &Record,
    siblings: Siblings,
) -> Result<Related, S::Error> {
    let mut gathering = Gathering::new(record, siblings);
    while let Some(need) = gathering.next_need() {
        let answer = match need {
            Need::Record(id) => Answer::Record(source.record(id)?.map(Box::new)),
            Need::Near(near) => Answer::Records(source.near(&near)?),
            Need::Evidence(hazard_area) => Answer::Records(source.evidence(hazard_area)?),
        };
        gathering.answer(answer);
    }
    Ok(gathering.finish())
}

/// A neighbourhood being gathered: the records a record links to (a linked task brings its hazard areas), its
/// siblings, and for a hazard area the evidence its closure reads.
#[derive(Debug)]
pub struct Gathering {
    related: Related,
    /// Linked records still to ask for.
    wanted: Vec<Uuid>,
    near: Option<Near>,
    evidence: Option<Uuid>,
    asked: Option<Need>,
}

impl Gathering {
    pub fn new(record: &Record, siblings: Siblings) -> Gathering {
        let mut wanted: Vec<Uuid> = record.links().into_iter().map(|(_, id)| id).collect();
        wanted.reverse();
        Gathering {
            related: Related::default(),
            wanted,
            near: match siblings {
                Siblings::Gather => Near::of(record),
                Siblings::Skip => None,
            },
            evidence: (record.record_type() == RecordType::HazardArea).then(|| record.id()),
            asked: None,
        }
    }

    /// What to fetch next, or None when the neighbourhood is complete. Each need is to be answered before the
    /// next is asked.
    pub fn next_need(&mut self) -> Option<Need> {
        let need = loop {
            if let Some(id) = self.wanted.pop() {
                if self.related.linked.contains_key(&id) {
                    continue;
                }
                break Need::Record(id);
            }
            if let Some(near) = self.near.take() {
                break Need::Near(near);
            }
            break Need::Evidence(self.evidence.take()?);
        };
        self.asked = Some(need.clone());
        Some(need)
    }

    /// The answer to the need last asked; an answer of the wrong kind, or with nothing asked, is ignored.
    pub fn answer(&mut self, answer: Answer) {
        match (self.asked.take(), answer) {
            (Some(Need::Record(id)), Answer::Record(Some(linked))) => {
                if let RecordBody::Task(task) = &linked.body {
                    self.wanted.extend(task.hazard_areas.iter().rev().copied());
                }
                self.related.linked.insert(id, *linked);
            }
            // In id order whatever order the source found them in (an R*Tree returns them in the order they were
            // stored, which differs from device to device): issues are listed in this order, and every replica
            // must show the same ones the same way.
            (Some(Need::Near(near)), Answer::Records(mut records)) => {
                records.retain(|r| r.id() != near.except);
                records.sort_by_key(Record::id);
                self.related.siblings = records;
            }
            (Some(Need::Evidence(_)), Answer::Records(mut records)) => {
                records.retain(|r| CLOSURE_EVIDENCE.contains(&r.record_type()));
                records.sort_by_key(Record::id);
                self.related.dependents = records;
            }
            _ => {}
        }
    }

    pub fn finish(self) -> Related {
        self.related
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: serde_json::Value) -> Record {
        Record::from_json(value, Uuid::nil()).expect("a valid record")
    }

    fn find(id: u128, task: Uuid, lon: f64) -> Record {
        record(json!({
            "type": "find", "id": Uuid::from_u128(id), "label": format!("F-{id}"), "date_of_information": "2026-11-20",
            "task": task, "location": {"lat": 40.5, "lon": lon, "method": "handheld_gnss", "accuracy_m": 2.0},
            "found_at": "2026-11-20T09:15:00Z", "found_by": "A. Aliyev", "detection": "detector",
            "category": "ap_mine", "model": "PMN-2", "quantity": 1, "depth_cm": 10, "condition": "intact",
            "fuzed": "yes", "armed": "unknown", "booby_trapped": "no", "disposal": "pending"
        }))
    }

    #[test]
    fn a_linked_task_brings_its_hazard_areas_and_siblings_come_in_id_order() {
        let (task_id, hazard) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let task = record(json!({
            "type": "task", "id": task_id, "label": "T-1", "date_of_information": "2026-11-20",
            "activity": "clearance", "status": "active", "organisation": "ANAMA", "teams": ["Team 3"],
            "hazard_areas": [hazard]
        }));
        let subject = find(10, task_id, 47.5);
        let mut gathering = Gathering::new(&subject, Siblings::Gather);
        let mut asked = Vec::new();
        while let Some(need) = gathering.next_need() {
            asked.push(need.clone());
            gathering.answer(match need {
                Need::Record(id) if id == task_id => Answer::Record(Some(Box::new(task.clone()))),
                Need::Record(_) => Answer::Record(None),
                // Out of order, and the subject itself among them: the gathering puts them right.
                Need::Near(_) => {
                    Answer::Records(vec![find(30, task_id, 47.5), subject.clone(), find(20, task_id, 47.5)])
                }
                Need::Evidence(_) => Answer::Records(vec![]),
            });
        }
        assert_eq!(asked[0], Need::Record(task_id));
        assert_eq!(asked[1], Need::Record(hazard), "a linked task brings its hazard areas");
        assert!(matches!(&asked[2], Need::Near(near) if near.task == task_id && near.except == subject.id()));
        assert_eq!(asked.len(), 3, "a find has no closure evidence to gather");
        let related = gathering.finish();
        let siblings: Vec<Uuid> = related.siblings.iter().map(Record::id).collect();
        assert_eq!(siblings, vec![Uuid::from_u128(20), Uuid::from_u128(30)]);
        assert!(related.linked.contains_key(&task_id) && !related.linked.contains_key(&hazard));
    }

    #[test]
    fn ingress_skips_siblings_and_near_admits_only_the_same_task_type_and_ground() {
        let task = Uuid::from_u128(1);
        let subject = find(10, task, 47.5);
        let mut gathering = Gathering::new(&subject, Siblings::Skip);
        assert_eq!(gathering.next_need(), Some(Need::Record(task)));
        gathering.answer(Answer::Record(None));
        assert_eq!(gathering.next_need(), None, "no siblings asked for");

        let near = Near::of(&subject).expect("a find in a task has siblings");
        assert!(near.admits(&find(11, task, 47.5)));
        assert!(!near.admits(&subject), "not itself");
        assert!(!near.admits(&find(12, Uuid::from_u128(9), 47.5)), "not another task's");
        assert!(!near.admits(&find(13, task, 47.6)), "not a find kilometres away");
    }
}
