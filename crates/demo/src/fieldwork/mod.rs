//! A team's field work, day by day: new tasks on new hazard areas, daily reports, worked areas, finds,
//! demolitions, QA inspections, the occasional incident, completion, and the edits that follow.
//!
//! `TeamWork` is one team's generator: this file holds its day loop and the helpers every record uses;
//! `tasks.rs` opens, completes and approves tasks, `days.rs` works a day's cells, `finds.rs` records finds,
//! QA inspections and incidents.

mod days;
mod finds;
mod tasks;

use crate::generate::{
    Author, History, ROUND_CLOSURES, ROUND_CREATE, ROUND_HQ_DECISIONS, ROUND_TEAM_EDITS, Version, linked,
};
use crate::geography::{Frame, Layout, district};
use crate::ground::{Ground, perimeter};
use crate::people::{Team, pick, weighted};
use crate::scenario::Scenario;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use domain::geometry::{AreaShape, CapturedPoint, PolygonShape, Position, SurveyPoint};
use domain::records::{
    CompletionReport, DailyReport, DemolishedFind, Demolition, Find, HazardArea, Incident, Note, Person, QaInspection,
    SignOff, Stoppage, Task, Victim, WorkedArea,
};
use domain::validation::{validate, warning_key};
use domain::vocabulary::{
    Activity, DemolitionResult, DisposalStatus, FindCategory, HazardClass, HazardStatus, IncidentKind, Injury, Outcome,
    PointKind, QaResult, ReviewStatus, Sex, TaskStatus, TriState,
};
use domain::{Code, Programme, Record, RecordBody, RecordMeta, RecordType};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// A UTC instant from a day and minutes after local midnight in the programme's time zone.
pub(super) fn local(day: NaiveDate, minutes: i64, programme: &Programme) -> DateTime<Utc> {
    let offset = i64::from(programme.utc_offset.local_minus_utc());
    (day.and_time(NaiveTime::MIN) + Duration::minutes(minutes) - Duration::seconds(offset)).and_utc()
}

/// A task under way, with what its team has done on it so far.
#[derive(Debug, Clone)]
pub(super) struct TaskWork {
    activity: Activity,
    task_id: Uuid,
    hazard: usize,
    task: usize,
    label: String,
    district_name: &'static str,
    ground: Ground,
    required_depth: Option<i64>,
    /// Cells each planned day works; the task is complete once every cell is worked.
    plan: Vec<usize>,
    next_cell: usize,
    days_worked: usize,
    counter: usize,
    finds: usize,
    methods: BTreeSet<Code>,
    qa: Vec<Uuid>,
    /// Area worked since the last QA inspection, m².
    area_since_qa: f64,
    area_total: f64,
    /// Finds waiting for the next day's demolition.
    pending: Vec<DayFind>,
}

/// A find to destroy: its history, how many items, whether it is a mine, where and when it was found.
#[derive(Debug, Clone)]
pub(super) struct DayFind {
    history: usize,
    quantity: i64,
    mine: bool,
    location: CapturedPoint,
    found_at: DateTime<Utc>,
}

/// One team's generator.
pub(super) struct TeamWork<'a> {
    pub(super) rng: ChaCha8Rng,
    pub(super) programme: &'a Programme,
    pub(super) index: usize,
    /// The team's number within its operator.
    pub(super) number: usize,
    pub(super) team: Team,
    pub(super) scenario: &'a Scenario,
    pub(super) hq_qa: &'a str,
    /// No edit is dated after this (the evening before `today`).
    pub(super) last_edit: DateTime<Utc>,
    pub(super) histories: Vec<History>,
    pub(super) by_id: HashMap<Uuid, usize>,
    pub(super) tasks_made: usize,
}

impl TeamWork<'_> {
    pub(super) fn run(
        &mut self,
        days: &[NaiveDate],
        incident_days: &BTreeSet<usize>,
        layout: &mut Layout,
        sector: usize,
    ) {
        let mut current: Option<TaskWork> = None;
        for (d, day) in days.iter().enumerate() {
            let mut task = match current.take() {
                Some(task) => task,
                None => self.new_task(*day, days.len(), layout, sector),
            };
            let last_of_period = d + 1 == days.len();
            self.work_day(&mut task, *day, incident_days.contains(&d), last_of_period);
            if task.next_cell < task.ground.cells() {
                current = Some(task);
            } else {
                self.complete(&task, *day);
            }
        }
        // One more task is planned: a suspected area waiting for the team after the period.
        if let Some(last) = days.last() {
            self.planned_task(*last, layout, sector);
        }
    }

    pub(super) fn at(&self, day: NaiveDate, minutes: i64) -> DateTime<Utc> {
        local(day, minutes, self.programme)
    }

    /// A UUID v7 for a record made at `at`: it sorts by creation time, like a device's.
    pub(super) fn id(&mut self, at: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.random()).into_uuid()
    }

    pub(super) fn meta(&self, id: Uuid, label: String, day: NaiveDate, review: ReviewStatus) -> RecordMeta {
        RecordMeta {
            id,
            label,
            date_of_information: day,
            review,
            supersedes: None,
            void: None,
            notes: BTreeMap::new(),
            accepted_warnings: BTreeMap::new(),
            reviewed_by: None,
            return_reason: None,
        }
    }

    /// Adds a record created at `at`; returns its history's index. The team's tablet creates its field records;
    /// hazard areas, tasks, QA inspections and completion reports are HQ's (domain::authority: a team leader may
    /// not create them).
    pub(super) fn create(&mut self, meta: RecordMeta, body: RecordBody, at: DateTime<Utc>) -> usize {
        let record = Record { meta, body };
        let author = match record.record_type() {
            RecordType::HazardArea | RecordType::Task | RecordType::QaInspection | RecordType::CompletionReport => {
                Author::Hq
            }
            _ => Author::Team(self.index),
        };
        self.by_id.insert(record.id(), self.histories.len());
        self.histories.push(History {
            versions: vec![Version {
                record,
                author,
                at,
                round: ROUND_CREATE,
            }],
        });
        self.histories.len() - 1
    }

    /// Adds a version of a record: `change` applied to its latest state, dated no later than the evening before
    /// `today` and after the version before.
    pub(super) fn edit(
        &mut self,
        history: usize,
        author: Author,
        at: DateTime<Utc>,
        round: u8,
        change: impl FnOnce(&mut Record),
    ) {
        let last_edit = self.last_edit;
        let Some(h) = self.histories.get_mut(history) else {
            return;
        };
        let previous = &h.versions[h.versions.len() - 1];
        let at = at.min(last_edit).max(previous.at + Duration::minutes(1));
        let mut record = previous.record.clone();
        change(&mut record);
        h.versions.push(Version {
            record,
            author,
            at,
            round,
        });
    }

    pub(super) fn record(&self, id: Uuid) -> Option<&Record> {
        self.by_id
            .get(&id)
            .and_then(|i| self.histories.get(*i))
            .map(|h| h.record())
    }

    pub(super) fn point(&mut self, position: Position, accuracy_m: f64) -> CapturedPoint {
        let method = if accuracy_m < 0.5 { "rtk_gnss" } else { "handheld_gnss" };
        CapturedPoint {
            lat: position[1],
            lon: position[0],
            method: Code::new(method),
            accuracy_m,
            bearing_deg: None,
            distance_m: None,
            from: None,
        }
    }
}

/// What every worked area of one day shares.
pub(super) struct CellDay<'a> {
    day: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    entered: DateTime<Utc>,
    report: Uuid,
    deminers: &'a [String],
    methods: &'a [&'static str],
    /// Everything found on a task's last day is destroyed that day.
    last_of_task: bool,
}

/// A find made less than this many minutes before the end of work waits for the next day's demolition.
pub(super) const LATE_FIND_MINUTES: i64 = 45;
