//! The demo programme's records: hazard areas along the former front line, the tasks that cover them, and each
//! team's working days on them (daily reports, worked areas, finds, demolitions, QA), completion of finished tasks,
//! the occasional incident, and the edits that follow (a report submitted the next morning, a depth corrected,
//! a find disposed, a task completed, a completion approved, a hazard area closed).
//!
//! Everything comes from one seeded generator (ChaCha8, which rand guarantees to be reproducible), so the same
//! scenario gives the same records, ids and times on every machine.

use super::fieldwork::{TeamWork, local};
use super::geography::Layout;
use super::people::{Team, person};
use super::scenario::Scenario;
use chrono::{DateTime, Duration, Utc};
use domain::{Programme, Record, RecordBody, Related};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use sync_core::store::Role;
use uuid::Uuid;

/// Push rounds. A record's changes go out in the rounds of its versions, so that everything a change is validated
/// against is on the server first: records are created (round 0), then team leaders edit them (1), then HQ
/// completes tasks and approves completion reports (2), which lets it close hazard areas (3).
pub const ROUND_CREATE: u8 = 0;
pub const ROUND_TEAM_EDITS: u8 = 1;
pub const ROUND_HQ_DECISIONS: u8 = 2;
pub const ROUND_CLOSURES: u8 = 3;

/// Who made a version: a team's tablet, or HQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Author {
    Team(usize),
    Hq,
}

/// One state of a record, as a device saved it.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub record: Record,
    pub author: Author,
    /// When the device saved it (its clock): the Automerge change's time.
    pub at: DateTime<Utc>,
    pub round: u8,
}

/// A record's versions, oldest first: its creation, then its edits.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub versions: Vec<Version>,
}

impl History {
    /// The record as it ends up.
    pub fn record(&self) -> &Record {
        // A history is never empty: it is made with its creation.
        &self.versions[self.versions.len() - 1].record
    }

    pub fn created(&self) -> &Version {
        &self.versions[0]
    }
}

/// A device the demo enrols. Its id is drawn from the seed, so the documents' authorship is reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoDevice {
    pub id: Uuid,
    pub name: String,
    /// The person using it, as changes claim.
    pub user: String,
    pub teams: BTreeSet<String>,
    pub role: Role,
}

/// One team: who it is, its tablet, and every record its tablet created (with their later edits, some by HQ).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamData {
    pub team: Team,
    pub device: DemoDevice,
    pub histories: Vec<History>,
}

impl TeamData {
    /// The team's records as they end up.
    pub fn records(&self) -> Vec<Record> {
        self.histories.iter().map(|h| h.record().clone()).collect()
    }
}

/// The whole demo programme.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub scenario: Scenario,
    pub teams: Vec<TeamData>,
    pub hq: DemoDevice,
}

impl Dataset {
    /// Every record as it ends up, by team name: the independent truth tests compare a server with.
    pub fn records_by_team(&self) -> BTreeMap<String, Vec<Record>> {
        self.teams.iter().map(|t| (t.team.name.clone(), t.records())).collect()
    }

    pub fn histories(&self) -> impl Iterator<Item = &History> {
        self.teams.iter().flat_map(|t| t.histories.iter())
    }

    /// How many records of each type, in the protocol's push order.
    pub fn counts(&self) -> Vec<(domain::RecordType, usize)> {
        domain::RecordType::ALL
            .iter()
            .map(|t| (*t, self.histories().filter(|h| h.record().record_type() == *t).count()))
            .collect()
    }

    pub fn record_count(&self) -> usize {
        self.teams.iter().map(|t| t.histories.len()).sum()
    }

    pub fn device(&self, author: Author) -> Option<&DemoDevice> {
        match author {
            Author::Hq => Some(&self.hq),
            Author::Team(i) => self.teams.get(i).map(|t| &t.device),
        }
    }
}

/// Generates the demo programme of a scenario.
pub fn generate(scenario: &Scenario) -> Dataset {
    let programme = Programme::default();
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let days = scenario.working_days();
    let operators = scenario.operators.clamp(1, super::people::OPERATORS.len());
    let (low, high) = scenario.teams_per_operator;
    let (low, high) = (low.max(1), high.max(low.max(1)));
    let team_counts: Vec<usize> = (0..operators).map(|_| rng.random_range(low..=high)).collect();
    let team_total: usize = team_counts.iter().sum();

    // A demining incident is rare: about one per 250 team-days, and at least one so the demo shows one.
    let incidents = (team_total * days.len() / 250).max(1);
    let mut incident_days: BTreeSet<(usize, usize)> = BTreeSet::new();
    for _ in 0..incidents {
        incident_days.insert((rng.random_range(0..team_total), rng.random_range(0..days.len().max(1))));
    }

    let hq = DemoDevice {
        id: uuid::Builder::from_random_bytes(rng.random()).into_uuid(),
        name: "HQ (demo)".into(),
        user: format!("{} (ANAMA HQ)", person(&mut rng)),
        teams: BTreeSet::new(),
        role: Role::Hq,
    };
    let hq_qa = person(&mut rng);
    let mut layout = Layout::new(operators);
    let mut teams = Vec::with_capacity(team_total);
    for (operator, count) in team_counts.iter().enumerate() {
        let qa_officer = person(&mut rng);
        for number in 1..=*count {
            let index = teams.len();
            let team = Team::new(&mut rng, operator, number, &qa_officer);
            let device = DemoDevice {
                id: uuid::Builder::from_random_bytes(rng.random()).into_uuid(),
                name: format!("{} tablet", team.name),
                user: team.leader.clone(),
                teams: BTreeSet::from([team.name.clone()]),
                role: Role::TeamLeader,
            };
            let seed = rng.random::<u64>();
            let mut work = TeamWork {
                rng: ChaCha8Rng::seed_from_u64(seed),
                programme: &programme,
                index,
                number,
                team,
                scenario,
                hq_qa: &hq_qa,
                last_edit: local(scenario.today - Duration::days(1), 18 * 60, &programme),
                histories: Vec::new(),
                by_id: HashMap::new(),
                tasks_made: 0,
            };
            let mine: BTreeSet<usize> = incident_days
                .iter()
                .filter(|(t, _)| *t == index)
                .map(|(_, d)| *d)
                .collect();
            work.run(&days, &mine, &mut layout, operator);
            teams.push(TeamData {
                team: work.team,
                device,
                histories: work.histories,
            });
        }
    }
    Dataset {
        scenario: scenario.clone(),
        teams,
        hq,
    }
}

/// The records a record links to, and a linked task's hazard areas, as the server gathers them at ingress.
pub fn linked<'a>(record: &Record, lookup: impl Fn(Uuid) -> Option<&'a Record>) -> Related {
    let mut related = Related::default();
    let mut wanted: Vec<Uuid> = record.links().into_iter().map(|(_, id)| id).collect();
    while let Some(id) = wanted.pop() {
        if related.linked.contains_key(&id) {
            continue;
        }
        if let Some(found) = lookup(id) {
            if let RecordBody::Task(task) = &found.body {
                wanted.extend(task.hazard_areas.iter().copied());
            }
            related.linked.insert(id, found.clone());
        }
    }
    related
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scale;
    use chrono::NaiveDate;
    use domain::geometry::AreaShape;
    use domain::geometry::distance_outside_m;
    use domain::validation::check_edit;
    use domain::validation::validate;
    use domain::vocabulary::{FindCategory, HazardStatus, Outcome};
    use domain::{Issue, RecordType};
    use geo::{Contains, HaversineClosestPoint, Intersects, LineString, Point};

    fn scenario(seed: u64) -> Scenario {
        Scenario::new(Scale::Small, seed, NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"))
    }

    fn index(dataset: &Dataset) -> HashMap<Uuid, (&History, Record)> {
        dataset
            .histories()
            .map(|h| (h.record().id(), (h, h.record().clone())))
            .collect()
    }

    /// Validates a record as a device would: linked records, siblings of its type and task, and for a hazard area
    /// the records of the tasks that cover it.
    fn issues(record: &Record, entered_at: DateTime<Utc>, all: &HashMap<Uuid, (&History, Record)>) -> Vec<Issue> {
        let mut related = linked(record, |id| all.get(&id).map(|(_, r)| r));
        related.siblings = all
            .values()
            .map(|(_, r)| r)
            .filter(|r| {
                r.record_type() == record.record_type() && r.task_id() == record.task_id() && r.id() != record.id()
            })
            .filter(|r| matches!(r.record_type(), RecordType::WorkedArea | RecordType::Find))
            .cloned()
            .collect();
        if let RecordBody::HazardArea(_) = &record.body {
            let tasks: BTreeSet<Uuid> = all
                .values()
                .filter_map(|(_, r)| match &r.body {
                    RecordBody::Task(t) if t.hazard_areas.contains(&record.id()) => Some(r.id()),
                    _ => None,
                })
                .collect();
            related.dependents = all
                .values()
                .map(|(_, r)| r)
                .filter(|r| r.task_id().is_some_and(|t| tasks.contains(&t)) && r.record_type() != RecordType::Task)
                .cloned()
                .collect();
        }
        let programme = Programme::default();
        let ctx = domain::Context {
            programme: &programme,
            related: &related,
            entered_at,
        };
        validate(record, &ctx)
    }

    #[test]
    fn the_same_seed_gives_the_same_programme_and_another_seed_another() {
        let a = generate(&scenario(7));
        assert_eq!(a, generate(&scenario(7)));
        let b = generate(&scenario(8));
        let ids = |d: &Dataset| d.histories().map(|h| h.record().id()).collect::<BTreeSet<_>>();
        assert!(ids(&a).is_disjoint(&ids(&b)));
        assert_ne!(a.record_count(), 0);
    }

    /// Every record validates without errors as the server sees it: each push (a record's versions of one
    /// device and round) in push order, against the records pushed before it. (Validated against the final state
    /// instead, every daily report of a completed task breaks `task_completed`, which cannot tell a new report from
    /// one written while the task was active.)
    #[test]
    fn every_record_validates_without_errors_as_it_is_pushed_and_with_few_warnings() {
        let dataset = generate(&scenario(1));
        let created: HashMap<Uuid, DateTime<Utc>> =
            dataset.histories().map(|h| (h.record().id(), h.created().at)).collect();
        let type_order = |t: RecordType| RecordType::ALL.iter().position(|x| *x == t).unwrap_or(usize::MAX);
        let mut pushes: Vec<(u8, Author, usize, &Record)> = Vec::new();
        for history in dataset.histories() {
            for (i, v) in history.versions.iter().enumerate() {
                let last_of_push = history
                    .versions
                    .get(i + 1)
                    .is_none_or(|next| (next.round, next.author) != (v.round, v.author));
                if last_of_push {
                    pushes.push((v.round, v.author, type_order(v.record.record_type()), &v.record));
                }
            }
        }
        pushes.sort_by_key(|(round, author, order, _)| (*round, *author, *order));
        let mut state: HashMap<Uuid, (&History, Record)> = HashMap::new();
        let mut errors = Vec::new();
        let mut warnings: BTreeMap<&str, usize> = BTreeMap::new();
        let histories: HashMap<Uuid, &History> = dataset.histories().map(|h| (h.record().id(), h)).collect();
        for (_, _, _, record) in pushes {
            let history = histories[&record.id()];
            state.insert(record.id(), (history, record.clone()));
            for issue in issues(record, created[&record.id()], &state) {
                if issue.is_error() {
                    errors.push(issue.to_string());
                } else {
                    *warnings.entry(issue.rule.code()).or_default() += 1;
                }
            }
        }
        assert_eq!(state.len(), dataset.record_count());
        assert!(
            errors.is_empty(),
            "{} errors, e.g.:\n{}",
            errors.len(),
            errors[..errors.len().min(10)].join("\n")
        );
        let total: usize = warnings.values().sum();
        eprintln!("{} records, warnings: {warnings:?}", state.len());
        assert!(
            total * 50 < state.len(),
            "{total} warnings in {} records: {warnings:?}",
            state.len()
        );
    }

    #[test]
    fn every_edit_is_an_allowed_change_by_the_workflow_rules() {
        let dataset = generate(&scenario(1));
        let mut edits = 0;
        for history in dataset.histories() {
            assert!(
                history
                    .versions
                    .windows(2)
                    .all(|w| w[0].at < w[1].at && w[0].round <= w[1].round)
            );
            let mut before: Option<&Record> = None;
            for version in &history.versions {
                let problems = check_edit(before, &version.record, &[], &domain::Related::default());
                assert!(problems.is_empty(), "{problems:?}");
                before = Some(&version.record);
            }
            edits += history.versions.len() - 1;
        }
        assert!(edits > dataset.record_count() / 20, "only {edits} edits");
    }

    #[test]
    fn worked_areas_lie_inside_their_hazard_area_and_finds_inside_their_worked_area() {
        let dataset = generate(&scenario(3));
        let all = index(&dataset);
        let record = |id: Uuid| all.get(&id).map(|(_, r)| r);
        let (mut areas, mut finds) = (0, 0);
        for (_, r) in all.values() {
            match &r.body {
                RecordBody::WorkedArea(w) => {
                    let Some(RecordBody::Task(task)) = record(w.task).map(|t| &t.body) else {
                        panic!("{} has no task", r.meta.label)
                    };
                    let hazard = task
                        .hazard_areas
                        .iter()
                        .find_map(|id| match record(*id).map(|h| &h.body) {
                            Some(RecordBody::HazardArea(h)) => h.perimeter.as_ref().map(|p| p.to_geo()),
                            _ => None,
                        });
                    let hazard = hazard.expect("a hazard area with a perimeter");
                    for p in w.shape.positions() {
                        assert!(
                            hazard.contains(&Point::new(p[0], p[1])),
                            "{} vertex {p:?} outside",
                            r.meta.label
                        );
                    }
                    areas += 1;
                }
                RecordBody::Find(f) => {
                    let id = f.worked_area.expect("every demo find is in a worked area");
                    let Some(RecordBody::WorkedArea(w)) = record(id).map(|x| &x.body) else {
                        panic!("{} links no worked area", r.meta.label)
                    };
                    let at = f.location.position();
                    let outside = match &w.shape {
                        AreaShape::Polygon { .. } => {
                            let polygon = w.shape.polygon().expect("polygon").to_geo();
                            if polygon.contains(&Point::new(at[0], at[1])) {
                                0.0
                            } else {
                                distance_outside_m(&polygon, at)
                            }
                        }
                        AreaShape::Lane { centreline, width_m } => {
                            let line = LineString::from(centreline.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>());
                            match line.haversine_closest_point(&Point::new(at[0], at[1])) {
                                geo::Closest::SinglePoint(q) | geo::Closest::Intersection(q) => {
                                    (domain::geometry::distance_m(at, [q.x(), q.y()]) - width_m / 2.0).max(0.0)
                                }
                                geo::Closest::Indeterminate => f64::INFINITY,
                            }
                        }
                    };
                    assert!(outside < 0.01, "{} lies {outside} m outside {}", r.meta.label, id);
                    assert_eq!(w.task, f.task);
                    finds += 1;
                }
                _ => {}
            }
        }
        assert!(areas > 100 && finds > 20, "{areas} worked areas, {finds} finds");
    }

    #[test]
    fn hazard_areas_do_not_overlap_and_lie_in_the_programme_area() {
        let dataset = generate(&scenario(5));
        let [min_lon, min_lat, max_lon, max_lat] = Programme::default().bounding_box;
        let polygons: Vec<(String, geo::Polygon<f64>)> = dataset
            .histories()
            .filter_map(|h| match &h.record().body {
                RecordBody::HazardArea(a) => a
                    .perimeter
                    .as_ref()
                    .map(|p| (h.record().meta.label.clone(), p.to_geo())),
                _ => None,
            })
            .collect();
        assert!(polygons.len() >= dataset.teams.len() * 2);
        for (i, (label, a)) in polygons.iter().enumerate() {
            for c in a.exterior().coords() {
                assert!(
                    (min_lon..=max_lon).contains(&c.x) && (min_lat..=max_lat).contains(&c.y),
                    "{label}"
                );
            }
            for (other, b) in &polygons[i + 1..] {
                assert!(!a.intersects(b), "{label} overlaps {other}");
            }
        }
    }

    #[test]
    fn the_programme_has_every_kind_of_record_and_outcome() {
        let dataset = generate(&scenario(1));
        let records: Vec<Record> = dataset.records_by_team().into_values().flatten().collect();
        for t in RecordType::ALL {
            assert!(records.iter().any(|r| r.record_type() == t), "no {t}");
        }
        let outcome = |o: Outcome, asset: Option<bool>| {
            records.iter().any(|r| matches!(&r.body, RecordBody::WorkedArea(w) if w.outcome == o && (asset.is_none() || w.technical_asset == asset)))
        };
        assert!(
            outcome(Outcome::Cleared, None) && outcome(Outcome::Cancelled, None) && outcome(Outcome::Reduced, None)
        );
        let categories: BTreeSet<FindCategory> = records
            .iter()
            .filter_map(|r| match &r.body {
                RecordBody::Find(f) => Some(f.category),
                _ => None,
            })
            .collect();
        for c in [FindCategory::ApMine, FindCategory::AtMine, FindCategory::Uxo] {
            assert!(categories.contains(&c), "no {c}");
        }
        let closed = records
            .iter()
            .filter(|r| matches!(&r.body, RecordBody::HazardArea(h) if h.status == HazardStatus::Closed))
            .count();
        assert!(closed >= 2, "{closed} hazard areas closed");
        let last = dataset.scenario.working_days().last().copied().expect("days");
        assert!(
            records.iter().all(|r| r.meta.date_of_information <= last),
            "nothing is dated after the last working day"
        );
    }

    #[test]
    fn documents_read_back_as_the_generated_records() {
        let dataset = generate(&scenario(1));
        let plan = crate::push_plan::plan(&dataset).expect("plan");
        assert_eq!(plan.records, dataset.record_count());
        assert_eq!(
            plan.entries.first().map(|e| e.record_type),
            Some(RecordType::HazardArea)
        );
        let mut docs: HashMap<Uuid, automerge::Automerge> = HashMap::new();
        for entry in &plan.entries {
            let doc = docs.entry(entry.record_id).or_default();
            let changes = entry
                .changes
                .iter()
                .map(|b| automerge::Change::from_bytes(b.clone()).expect("change"));
            doc.apply_changes(changes).expect("apply");
        }
        for history in dataset.histories() {
            let doc = &docs[&history.record().id()];
            let shown = domain::document::materialize(doc).expect("materialize").record;
            assert_eq!(
                shown.to_json(),
                history.record().to_json(),
                "{}",
                history.record().meta.label
            );
        }
    }
}
