//! A team's field work, day by day: new tasks on new hazard areas, daily reports, worked areas, finds,
//! demolitions, QA inspections, the occasional incident, completion, and the edits that follow.

use super::generate::{
    Author, History, ROUND_CLOSURES, ROUND_CREATE, ROUND_HQ_DECISIONS, ROUND_TEAM_EDITS, Version, linked,
};
use super::geography::{Frame, Layout, district};
use super::ground::{Ground, perimeter};
use super::people::{Team, pick, weighted};
use super::scenario::Scenario;
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
struct TaskWork {
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
struct DayFind {
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

    fn at(&self, day: NaiveDate, minutes: i64) -> DateTime<Utc> {
        local(day, minutes, self.programme)
    }

    /// A UUID v7 for a record made at `at`: it sorts by creation time, like a device's.
    fn id(&mut self, at: DateTime<Utc>) -> Uuid {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.random()).into_uuid()
    }

    fn meta(&self, id: Uuid, label: String, day: NaiveDate, review: ReviewStatus) -> RecordMeta {
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
    fn create(&mut self, meta: RecordMeta, body: RecordBody, at: DateTime<Utc>) -> usize {
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
    fn edit(&mut self, history: usize, author: Author, at: DateTime<Utc>, round: u8, change: impl FnOnce(&mut Record)) {
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

    fn record(&self, id: Uuid) -> Option<&Record> {
        self.by_id
            .get(&id)
            .and_then(|i| self.histories.get(*i))
            .map(|h| h.record())
    }

    fn point(&mut self, position: Position, accuracy_m: f64) -> CapturedPoint {
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

    /// A new task on a new hazard area, starting on `day`: what to do, how big, and the two records.
    fn new_task(&mut self, day: NaiveDate, period_days: usize, layout: &mut Layout, sector: usize) -> TaskWork {
        let activity = weighted(
            &mut self.rng,
            &[
                (Activity::Clearance, 6),
                (Activity::TechnicalSurvey, 3),
                (Activity::NonTechnicalSurvey, 1),
            ],
        );
        let mechanical = self.team.machine.is_some();
        let (cell, per_day): ((f64, f64), (usize, usize)) = match activity {
            Activity::Clearance if mechanical => ((50.0, 40.0), (2, 3)),
            Activity::Clearance => ((25.0, 20.0), (1, 3)),
            Activity::TechnicalSurvey => ((50.0, 40.0), (2, 4)),
            _ => ((100.0, 100.0), (2, 5)),
        };
        let mean_days = (period_days as f64 / self.scenario.tasks_per_team.max(1) as f64).max(3.0);
        let planned_days = match activity {
            Activity::NonTechnicalSurvey => self.rng.random_range(2..=3),
            _ => ((mean_days * self.rng.random_range(0.7..1.3)).round() as usize).max(2),
        };
        let mut plan: Vec<usize> = (0..planned_days)
            .map(|_| self.rng.random_range(per_day.0..=per_day.1))
            .collect();
        // Fit a rectangle of whole cells (at most 800 m × 500 m) and give the day plan exactly its cells.
        let wanted: usize = plan.iter().sum();
        let aspect = self.rng.random_range(1.0..2.0);
        let max_cols = ((800.0 / cell.0) as usize).max(1);
        let max_rows = ((500.0 / cell.1) as usize).max(1);
        let cols = ((wanted as f64 * aspect * cell.1 / cell.0).sqrt().ceil() as usize).clamp(1, max_cols);
        let rows = wanted.div_ceil(cols).clamp(1, max_rows);
        let cells = cols * rows;
        let mut total: usize = plan.iter().sum();
        while total > cells {
            if let Some(last) = plan.last_mut() {
                let cut = (*last).min(total - cells);
                *last -= cut;
                total -= cut;
                if *last == 0 {
                    plan.pop();
                }
            }
        }
        let mut i = 0;
        while total < cells && !plan.is_empty() {
            let n = plan.len();
            plan[n - 1 - i % n] += 1;
            total += 1;
            i += 1;
        }
        let (width, height) = (cols as f64 * cell.0, rows as f64 * cell.1);
        let site = layout.take(sector);
        let ground = Ground {
            frame: Frame::new(site.centre, self.rng.random_range(-35.0..35.0)),
            width,
            height,
            cell,
            cols,
            rows,
            perimeter: perimeter(&mut self.rng, width, height),
        };
        let (district_code, district_name) = district(site.fraction);
        let classification = if activity == Activity::Clearance {
            HazardClass::Cha
        } else {
            HazardClass::Sha
        };
        let required_depth = match activity {
            Activity::NonTechnicalSurvey => None,
            _ => Some(pick(&mut self.rng, &[20, 25, 30])),
        };
        self.tasks_made += 1;
        let k = self.tasks_made;
        let hazard_label = format!(
            "{}-{district_code}-{:04}",
            if classification == HazardClass::Cha {
                "CHA"
            } else {
                "SHA"
            },
            self.index * 100 + k
        );
        let label = format!("T-{}-{}{k:02}", self.team.operator_code, self.number);
        let hazard = self.hazard_area(&ground, classification, hazard_label, day);
        let hazard_id = self.histories[hazard].record().id();

        let tasked = day - Duration::days(1);
        let minutes = 10 * 60 + self.rng.random_range(0..120);
        let at = self.at(tasked, minutes);
        let task_id = self.id(at);
        let methods: BTreeSet<Code> = match activity {
            Activity::NonTechnicalSurvey => BTreeSet::new(),
            _ => self.team.clearance_methods().into_iter().map(Code::new).collect(),
        };
        let body = RecordBody::Task(Task {
            activity,
            status: TaskStatus::Active,
            hazard_areas: BTreeSet::from([hazard_id]),
            organisation: self.team.operator.clone(),
            teams: BTreeSet::from([self.team.name.clone()]),
            planned_start: Some(day),
            planned_end: Some(day + Duration::days((planned_days as i64 * 7 + 4) / 5 + 2)),
            required_depth_cm: required_depth,
            authorised_methods: methods,
            reopen_reason: None,
        });
        let meta = self.meta(task_id, label.clone(), tasked, ReviewStatus::Submitted);
        let task = self.create(meta, body, at);
        TaskWork {
            activity,
            task_id,
            hazard,
            task,
            label,
            district_name,
            ground,
            required_depth,
            plan,
            next_cell: 0,
            days_worked: 0,
            counter: 0,
            finds: 0,
            methods: BTreeSet::new(),
            qa: Vec::new(),
            area_since_qa: 0.0,
            area_total: 0.0,
            pending: Vec::new(),
        }
    }

    /// The hazard area, as the survey that found it recorded it some weeks before the task.
    fn hazard_area(&mut self, ground: &Ground, class: HazardClass, label: String, first_day: NaiveDate) -> usize {
        let surveyed = first_day - Duration::days(self.rng.random_range(20..90));
        let minutes = 15 * 60 + self.rng.random_range(0..120);
        let at = self.at(surveyed, minutes);
        let id = self.id(at);
        let (contamination, evidence): (&[&str], &[&str]) = match class {
            HazardClass::Cha => (
                pick(
                    &mut self.rng,
                    &[
                        &["ap_mines", "at_mines"][..],
                        &["ap_mines", "at_mines", "uxo"][..],
                        &["ap_mines"][..],
                    ],
                ),
                pick(
                    &mut self.rng,
                    &[
                        &["direct_mine_seen"][..],
                        &["direct_find", "indirect_military_position"][..],
                        &["direct_accident", "direct_mine_seen"][..],
                    ],
                ),
            ),
            _ => (
                pick(
                    &mut self.rng,
                    &[&["uxo"][..], &["ap_mines", "uxo"][..], &["ap_mines"][..]],
                ),
                pick(
                    &mut self.rng,
                    &[
                        &["indirect_military_position"][..],
                        &["indirect_informant", "indirect_land_unused"][..],
                        &["indirect_historic_record"][..],
                    ],
                ),
            ),
        };
        let (hw, hh) = (ground.width / 2.0, ground.height / 2.0);
        let reference = ground.frame.at(0.0, -hh - self.rng.random_range(60.0..150.0));
        let benchmark = ground.frame.at(-hw - 15.0, -hh - 15.0);
        let perimeter = PolygonShape::new(vec![ground.perimeter_ring()]);
        let estimated = (perimeter.area_m2() / 100.0).round() * 100.0;
        let body = RecordBody::HazardArea(HazardArea {
            classification: class,
            status: HazardStatus::Open,
            contamination: contamination.iter().map(|c| Code::new(*c)).collect(),
            evidence: evidence.iter().map(|c| Code::new(*c)).collect(),
            reference_point: Some(self.point(reference, 3.0)),
            benchmark: Some(self.point(benchmark, 2.0)),
            perimeter: Some(perimeter),
            perimeter_accuracy_m: Some(2.0),
            estimated_area_m2: Some(estimated),
        });
        let meta = self.meta(id, label, surveyed, ReviewStatus::Submitted);
        self.create(meta, body, at)
    }

    fn work_day(&mut self, task: &mut TaskWork, day: NaiveDate, incident: bool, last_of_period: bool) {
        let (early, late) = (self.rng.random_range(-15..=20), self.rng.random_range(-30..=30));
        let start = self.at(day, 8 * 60 + early);
        let end = self.at(day, 16 * 60 + 30 + late);
        let entered = end + Duration::minutes(self.rng.random_range(20..=90));
        let month = day.month();
        let winter = matches!(month, 12 | 1 | 2);
        let summer = matches!(month, 6..=8);
        let mut stoppages = BTreeMap::new();
        let mut lost = 0;
        let mut weather = if winter {
            weighted(&mut self.rng, &[("clear", 3), ("cloudy", 4), ("fog", 1), ("wind", 1)])
        } else if summer {
            weighted(&mut self.rng, &[("clear", 6), ("heat", 3), ("wind", 1)])
        } else {
            weighted(&mut self.rng, &[("clear", 5), ("cloudy", 3), ("wind", 1)])
        };
        if self.rng.random_bool(0.12) {
            let reason = weighted(
                &mut self.rng,
                &[("weather", 5), ("equipment", 2), ("medical", 1), ("administrative", 1)],
            );
            if reason == "weather" {
                weather = if winter {
                    pick(&mut self.rng, &["snow", "fog", "rain"])
                } else if summer {
                    "heat"
                } else {
                    "rain"
                };
            }
            lost = self.rng.random_range(1..=6) * 30;
            stoppages.insert(
                "s1".to_string(),
                Stoppage {
                    reason: Code::new(reason),
                    minutes: lost,
                },
            );
        }
        let ground_conditions = match weather {
            "rain" => "wet",
            "snow" => "frozen",
            _ if winter => pick(&mut self.rng, &["wet", "frozen", "dry"]),
            _ => pick(&mut self.rng, &["dry", "dry", "vegetated", "rocky"]),
        };
        let hours = (((end - start).num_minutes() - 60 - lost) as f64 / 30.0).round() / 2.0;
        let present = self.rng.random_range(6..=self.team.deminers.len().max(6));
        let deminers: Vec<String> = self.team.deminers.iter().take(present).cloned().collect();
        let mut personnel = BTreeMap::new();
        let mut add_person = |key: String, name: &str, role: &str| {
            personnel.insert(
                key,
                Person {
                    name: name.to_string(),
                    role: Some(role.to_string()),
                    hours: Some(hours.max(0.0)),
                },
            );
        };
        add_person("leader".into(), &self.team.leader, "team_leader");
        for (i, name) in deminers.iter().enumerate() {
            add_person(format!("d{:02}", i + 1), name, "deminer");
        }
        add_person("medic".into(), &self.team.medic, "medic");
        add_person("eod".into(), &self.team.eod_operator, "eod_operator");

        // What the day uses: detectors always, the machine and the dogs on the days they work.
        let mut methods: Vec<&'static str> = match task.activity {
            Activity::NonTechnicalSurvey => vec![],
            _ => vec!["manual"],
        };
        let machine_today = task.activity == Activity::Clearance && self.team.machine.is_some();
        if machine_today {
            methods.push("mechanical");
        }
        let dogs_today =
            task.activity != Activity::NonTechnicalSurvey && !self.team.dogs.is_empty() && self.rng.random_bool(0.5);
        if dogs_today {
            methods.push("mdd");
        }
        let mut assets: BTreeSet<String> = self.team.detectors.iter().take(present).cloned().collect();
        if machine_today {
            assets.extend(self.team.machine.clone());
        }
        if dogs_today {
            assets.extend(self.team.dogs.iter().cloned());
        }

        let report_at = entered;
        let report_id = self.id(report_at);
        let body = RecordBody::DailyReport(DailyReport {
            task: task.task_id,
            team: self.team.name.clone(),
            team_leader: self.team.leader.clone(),
            personnel,
            start_time: Some(start),
            end_time: Some(end),
            stoppages,
            assets,
            ground_conditions: Some(Code::new(ground_conditions)),
            weather: Some(Code::new(weather)),
            supervisor_signoff: None,
        });
        let label = format!("{}/DR-{day}", task.label);
        let meta = self.meta(report_id, label, day, ReviewStatus::Draft);
        let report = self.create(meta, body, report_at);

        if task.days_worked == 0 {
            // The hazard area is being worked on from the task's first day.
            // A hazard area's status is a supervisor's or HQ's to change, not a team tablet's.
            self.edit(
                task.hazard,
                Author::Hq,
                entered + Duration::minutes(5),
                ROUND_TEAM_EDITS,
                |r| {
                    if let RecordBody::HazardArea(h) = &mut r.body {
                        h.status = HazardStatus::WorkedOn;
                    }
                },
            );
        }

        let cells_today = task.plan.get(task.days_worked).copied().unwrap_or(1);
        task.days_worked += 1;
        let task_done_today = task.next_cell + cells_today >= task.ground.cells();
        let mut day_finds: Vec<DayFind> = Vec::new();
        let mut worked_today: Vec<(Uuid, f64)> = Vec::new();
        let mut first_cell = None;
        for _ in 0..cells_today {
            if task.next_cell >= task.ground.cells() {
                break;
            }
            let k = task.next_cell;
            task.next_cell += 1;
            let corner = task.ground.cell_corner(k);
            first_cell.get_or_insert(corner);
            let ctx = CellDay {
                day,
                start,
                end,
                entered,
                report: report_id,
                deminers: &deminers,
                methods: &methods,
                last_of_task: task_done_today,
            };
            self.work_cell(task, corner, &ctx, &mut day_finds, &mut worked_today);
        }

        // Demolitions at the end of the day: yesterday's pending finds and today's found in time; on a task's
        // last day everything found is destroyed.
        let carried = std::mem::take(&mut task.pending);
        for f in &carried {
            self.edit(
                f.history,
                Author::Team(self.index),
                entered + Duration::minutes(2),
                ROUND_TEAM_EDITS,
                |r| {
                    if let RecordBody::Find(f) = &mut r.body {
                        f.disposal = DisposalStatus::Disposed;
                    }
                    r.meta.review = ReviewStatus::Submitted;
                },
            );
        }
        let mut to_destroy = carried;
        for f in day_finds {
            if f.found_at <= end - Duration::minutes(LATE_FIND_MINUTES) || task_done_today {
                to_destroy.push(f);
            } else if !last_of_period {
                task.pending.push(f);
            }
            // Found late on the period's last day: still pending when the demo ends.
        }
        let demolition_at = end - Duration::minutes(5);
        let (mines, others): (Vec<DayFind>, Vec<DayFind>) = to_destroy.into_iter().partition(|f| f.mine);
        for (group, method) in [(mines, "destroyed_in_situ"), (others, "moved_and_destroyed_on_site")] {
            let Some(first) = group.first() else { continue };
            let site = if method == "destroyed_in_situ" {
                first.location.clone()
            } else {
                let pit = task.ground.frame.at(0.0, -task.ground.height / 2.0 - 40.0);
                self.point(pit, 3.0)
            };
            let items: i64 = group.iter().map(|f| f.quantity).sum();
            let finds: BTreeMap<Uuid, DemolishedFind> = group
                .iter()
                .filter_map(|f| {
                    let id = self.histories.get(f.history)?.record().id();
                    Some((id, DemolishedFind { quantity: f.quantity }))
                })
                .collect();
            task.counter += 1;
            let at = entered + Duration::minutes(1);
            let id = self.id(at);
            let body = RecordBody::Demolition(Demolition {
                task: Some(task.task_id),
                method: Code::new(method),
                site,
                at: demolition_at,
                operator: self.team.eod_operator.clone(),
                charge: Some(format!("TNT {} g", 200 * items.min(50))),
                finds,
                result: DemolitionResult::Complete,
            });
            let meta = self.meta(
                id,
                format!("{}/D{}", task.label, task.counter),
                day,
                ReviewStatus::Submitted,
            );
            self.create(meta, body, at);
        }

        if incident && let Some(corner) = first_cell {
            self.incident(task, day, start, end, entered, corner);
        }

        // Internal QA every fifth working day of a task (the last day has external QA instead).
        if task.days_worked.is_multiple_of(5)
            && !task_done_today
            && let Some((worked_area, _)) = worked_today.first().copied()
        {
            self.qa(task, day, entered, Some(worked_area), false);
        }

        // The team leader submits the report the next morning; a supervisor signs some off.
        let next_morning = self.at(day + Duration::days(1), 7 * 60 + 45);
        let sign = self.rng.random_bool(0.4).then(|| SignOff {
            by: self.team.qa_officer.clone(),
            at: next_morning + Duration::minutes(30),
            comment: None,
        });
        self.edit(report, Author::Team(self.index), next_morning, ROUND_TEAM_EDITS, |r| {
            r.meta.review = ReviewStatus::Submitted;
            if let RecordBody::DailyReport(d) = &mut r.body {
                d.supervisor_signoff = sign;
            }
        });
        let still_pending: BTreeSet<usize> = task.pending.iter().map(|f| f.history).collect();
        let report_id = self.histories.get(report).map(|h| h.record().id());
        let finds_of_day: Vec<usize> = (0..self.histories.len())
            .filter(|i| !still_pending.contains(i))
            .filter(|&i| {
                let r = self.histories[i].record();
                matches!(&r.body, RecordBody::Find(f) if f.daily_report == report_id)
                    && r.meta.review == ReviewStatus::Draft
            })
            .collect();
        for find in finds_of_day {
            self.edit(find, Author::Team(self.index), next_morning, ROUND_TEAM_EDITS, |r| {
                r.meta.review = ReviewStatus::Submitted;
            });
        }
    }

    /// One cell of the day: its worked areas and the finds in them.
    fn work_cell(
        &mut self,
        task: &mut TaskWork,
        corner: (f64, f64),
        ctx: &CellDay<'_>,
        finds: &mut Vec<DayFind>,
        worked: &mut Vec<(Uuid, f64)>,
    ) {
        let (cw, ch) = task.ground.cell;
        let (x0, y0) = corner;
        let accuracy = if self.team.machine.is_some() { 0.1 } else { 2.0 };
        let polygon = AreaShape::Polygon {
            coordinates: vec![task.ground.box_ring(x0, y0, cw, ch)],
        };
        match task.activity {
            Activity::Clearance => {
                let methods: BTreeSet<Code> = ctx.methods.iter().map(|m| Code::new(*m)).collect();
                let depth = task.required_depth.map(|d| d + self.rng.random_range(0..=5));
                let expected = if cw * ch > 1_000.0 {
                    [(0, 45), (1, 30), (2, 15), (3, 10)]
                } else {
                    [(0, 68), (1, 22), (2, 7), (3, 3)]
                };
                let count = weighted(&mut self.rng, &expected);
                let id = self.worked_area(
                    task,
                    ctx,
                    "B",
                    polygon,
                    accuracy,
                    methods,
                    depth,
                    Outcome::Cleared,
                    None,
                );
                worked.push((id, cw * ch));
                for _ in 0..count {
                    let position = task.ground.frame.at(
                        x0 + self.rng.random_range(1.0..cw - 1.0),
                        y0 + self.rng.random_range(1.0..ch - 1.0),
                    );
                    self.find(task, ctx, id, position, accuracy, finds);
                }
            }
            Activity::TechnicalSurvey => {
                // Two breaching lanes through the block, then the block itself: reduced if the lanes found
                // nothing, cleared in full if they did.
                let mut positive = false;
                for lane_y in [ch / 3.0, 2.0 * ch / 3.0] {
                    let hit = self.rng.random_bool(0.06);
                    let centreline = vec![
                        task.ground.frame.at(x0 + 1.0, y0 + lane_y),
                        task.ground.frame.at(x0 + cw - 1.0, y0 + lane_y),
                    ];
                    let lane = AreaShape::Lane {
                        centreline,
                        width_m: 1.2,
                    };
                    let outcome = if hit {
                        Outcome::SearchedPositive
                    } else {
                        Outcome::SearchedNegative
                    };
                    let manual = BTreeSet::from([Code::new("manual")]);
                    let id = self.worked_area(
                        task,
                        ctx,
                        "L",
                        lane,
                        accuracy,
                        manual,
                        task.required_depth,
                        outcome,
                        None,
                    );
                    if hit {
                        positive = true;
                        let position = task.ground.frame.at(
                            x0 + self.rng.random_range(2.0..cw - 2.0),
                            y0 + lane_y + self.rng.random_range(-0.4..0.4),
                        );
                        self.find(task, ctx, id, position, accuracy, finds);
                    }
                }
                let asset = self.team.has_technical_asset();
                let (outcome, methods, technical_asset) = if positive {
                    (Outcome::Cleared, vec!["manual"], None)
                } else if self.team.machine.is_some() {
                    (Outcome::Reduced, vec!["mechanical"], Some(true))
                } else if asset {
                    (Outcome::Reduced, vec!["mdd"], Some(true))
                } else {
                    (Outcome::Reduced, vec!["manual"], Some(false))
                };
                let methods = methods.into_iter().map(Code::new).collect();
                let id = self.worked_area(
                    task,
                    ctx,
                    "R",
                    polygon,
                    accuracy,
                    methods,
                    task.required_depth,
                    outcome,
                    technical_asset,
                );
                worked.push((id, cw * ch));
            }
            _ => {
                let id = self.worked_area(
                    task,
                    ctx,
                    "S",
                    polygon,
                    3.0,
                    BTreeSet::new(),
                    None,
                    Outcome::Cancelled,
                    None,
                );
                worked.push((id, cw * ch));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn worked_area(
        &mut self,
        task: &mut TaskWork,
        ctx: &CellDay<'_>,
        prefix: &str,
        shape: AreaShape,
        accuracy_m: f64,
        methods: BTreeSet<Code>,
        depth: Option<i64>,
        outcome: Outcome,
        technical_asset: Option<bool>,
    ) -> Uuid {
        let area = shape.area_m2();
        task.counter += 1;
        task.methods.extend(methods.iter().cloned());
        task.area_since_qa += area;
        task.area_total += area;
        let at = ctx.entered;
        let id = self.id(at);
        let capture = if accuracy_m < 0.5 { "rtk_gnss" } else { "handheld_gnss" };
        let body = RecordBody::WorkedArea(WorkedArea {
            task: task.task_id,
            daily_report: Some(ctx.report),
            shape,
            capture_method: Code::new(capture),
            accuracy_m,
            reported_area_m2: Some(area.round()),
            methods,
            depth_achieved_cm: depth,
            outcome,
            inaccessible_reason: None,
            technical_asset,
        });
        let meta = self.meta(
            id,
            format!("{}/{prefix}{}", task.label, task.counter),
            ctx.day,
            ReviewStatus::Submitted,
        );
        self.create(meta, body, at);
        id
    }

    /// A find at a position inside a worked area.
    fn find(
        &mut self,
        task: &mut TaskWork,
        ctx: &CellDay<'_>,
        worked_area: Uuid,
        position: Position,
        accuracy_m: f64,
        finds: &mut Vec<DayFind>,
    ) {
        use FindCategory::*;
        let category = weighted(
            &mut self.rng,
            &[
                (ApMine, 40),
                (AtMine, 15),
                (Uxo, 38),
                (Submunition, 3),
                (SmallArmsAmmunition, 2),
                (FuzeComponent, 2),
            ],
        );
        let (model, quantity, depth): (&str, i64, i64) = match category {
            ApMine => (
                weighted(
                    &mut self.rng,
                    &[
                        ("PMN-2", 30),
                        ("PMN", 15),
                        ("PMN-4", 10),
                        ("POMZ-2M", 10),
                        ("OZM-72", 5),
                        ("MON-50", 5),
                        ("PMN-E", 5),
                        ("E-001M", 3),
                    ],
                ),
                1,
                self.rng.random_range(2..=15),
            ),
            AtMine => (
                weighted(
                    &mut self.rng,
                    &[
                        ("TM-62M", 50),
                        ("TM-57", 20),
                        ("TM-46", 15),
                        ("TM-72", 10),
                        ("PTM-1", 5),
                    ],
                ),
                1,
                self.rng.random_range(5..=25),
            ),
            Uxo => {
                let model = weighted(
                    &mut self.rng,
                    &[
                        ("MORTAR-82MM", 20),
                        ("MORTAR-120MM", 10),
                        ("PROJECTILE-122MM", 10),
                        ("PROJECTILE-152MM", 5),
                        ("9M22", 5),
                        ("PG-7", 10),
                        ("VOG-17", 15),
                        ("VOG-25", 10),
                        ("F-1", 10),
                        ("RGD-5", 5),
                    ],
                );
                let quantity = match model {
                    "VOG-17" | "VOG-25" => self.rng.random_range(1..=6),
                    "F-1" | "RGD-5" => self.rng.random_range(1..=3),
                    _ => 1,
                };
                (model, quantity, self.rng.random_range(0..=25))
            }
            Submunition => (
                pick(&mut self.rng, &["9N210", "9N235", "PTAB-1M", "M77"]),
                1,
                self.rng.random_range(0..=10),
            ),
            SmallArmsAmmunition => (
                pick(&mut self.rng, &["7.62MM", "12.7MM"]),
                self.rng.random_range(10..=200),
                self.rng.random_range(0..=10),
            ),
            _ => (pick(&mut self.rng, &["UZRGM", "MUV"]), 1, self.rng.random_range(0..=10)),
        };
        // Finds lie within the clearance depth, but now and then one is deeper: a warning a supervisor accepts.
        let required = task.required_depth.unwrap_or(20);
        let depth = if self.rng.random_bool(0.015) {
            required + self.rng.random_range(2..=10)
        } else {
            depth.min(required)
        };
        let mine = matches!(category, ApMine | AtMine);
        let detection = match category {
            ApMine | AtMine if ctx.methods.contains(&"mdd") && self.rng.random_bool(0.2) => "dog_indication",
            ApMine | AtMine if ctx.methods.contains(&"mechanical") && self.rng.random_bool(0.1) => "machine",
            ApMine | AtMine => "detector",
            _ => pick(&mut self.rng, &["visual", "detector", "detector"]),
        };
        let condition = if detection == "machine" {
            "damaged"
        } else if mine {
            weighted(&mut self.rng, &[("intact", 60), ("corroded", 30), ("damaged", 10)])
        } else {
            weighted(
                &mut self.rng,
                &[
                    ("corroded", 50),
                    ("intact", 30),
                    ("damaged", 15),
                    ("partially_functioned", 5),
                ],
            )
        };
        let tri = |rng: &mut ChaCha8Rng, yes: u32, no: u32, unknown: u32| {
            weighted(
                rng,
                &[(TriState::Yes, yes), (TriState::No, no), (TriState::Unknown, unknown)],
            )
        };
        let (fuzed, armed, booby) = match category {
            ApMine => (
                tri(&mut self.rng, 80, 0, 20),
                tri(&mut self.rng, 30, 10, 60),
                tri(&mut self.rng, 0, 96, 4),
            ),
            AtMine => (
                tri(&mut self.rng, 70, 10, 20),
                tri(&mut self.rng, 30, 10, 60),
                tri(&mut self.rng, 2, 90, 8),
            ),
            _ => (
                tri(&mut self.rng, 40, 10, 50),
                tri(&mut self.rng, 10, 30, 60),
                tri(&mut self.rng, 0, 98, 2),
            ),
        };
        let span = (ctx.end - ctx.start).num_minutes() - 40;
        let found_at = ctx.start + Duration::minutes(30 + self.rng.random_range(0..span.max(1)));
        // Small arms ammunition goes to the police; everything else is destroyed (today or the next day).
        let handed_over = category == SmallArmsAmmunition;
        let destroyed_today =
            !handed_over && (ctx.last_of_task || found_at <= ctx.end - Duration::minutes(LATE_FIND_MINUTES));
        let disposal = if handed_over {
            DisposalStatus::HandedOver
        } else if destroyed_today {
            DisposalStatus::Disposed
        } else {
            DisposalStatus::Pending
        };
        let location = self.point(position, accuracy_m);
        task.finds += 1;
        let id = self.id(ctx.entered);
        let body = RecordBody::Find(Find {
            task: task.task_id,
            worked_area: Some(worked_area),
            daily_report: Some(ctx.report),
            location: location.clone(),
            found_at,
            found_by: pick(&mut self.rng, ctx.deminers),
            detection: Code::new(detection),
            category,
            model: Some(Code::new(model)),
            quantity,
            depth_cm: depth,
            condition: Code::new(condition),
            fuzed,
            armed,
            booby_trapped: booby,
            photos: BTreeSet::new(),
            disposal,
        });
        // A find stays a draft until the team submits it with the daily report the next morning, or, still to be
        // destroyed then, with its demolition: a submitted record is the supervisor's to decide, not to edit.
        let meta = self.meta(
            id,
            format!("{}/F{:03}", task.label, task.finds),
            ctx.day,
            ReviewStatus::Draft,
        );
        let history = self.create(meta, body, ctx.entered);
        // Some depths are measured again before the item is destroyed, and corrected the next morning.
        if self.rng.random_bool(0.06) {
            let corrected = (depth + self.rng.random_range(-3..=3)).clamp(0, depth.max(required));
            let at = self.at(ctx.day + Duration::days(1), 7 * 60 + 40);
            let leader = self.team.leader.clone();
            self.edit(history, Author::Team(self.index), at, ROUND_TEAM_EDITS, |r| {
                if let RecordBody::Find(f) = &mut r.body {
                    f.depth_cm = corrected;
                }
                r.meta.notes.insert(
                    "depth".into(),
                    Note {
                        text: format!("depth re-measured with a probe: {corrected} cm (was {depth} cm)"),
                        by: Some(leader),
                        at: Some(at),
                    },
                );
            });
        }
        if !handed_over {
            finds.push(DayFind {
                history,
                quantity,
                mine,
                location,
                found_at,
            });
        }
    }

    fn qa(
        &mut self,
        task: &mut TaskWork,
        day: NaiveDate,
        entered: DateTime<Utc>,
        worked_area: Option<Uuid>,
        external: bool,
    ) {
        let (kind, inspector, result) = if external {
            ("external_qa", self.hq_qa.to_string(), QaResult::Pass)
        } else {
            let kind = weighted(&mut self.rng, &[("internal_qa", 4), ("qc_sampling", 1)]);
            let result = weighted(
                &mut self.rng,
                &[
                    (QaResult::Pass, 85),
                    (QaResult::MinorNonConformity, 10),
                    (QaResult::MajorNonConformity, 4),
                    (QaResult::CriticalNonConformity, 1),
                ],
            );
            (kind, self.team.qa_officer.clone(), result)
        };
        let share = if external { 0.05 } else { 0.10 };
        let area = if external { task.area_total } else { task.area_since_qa };
        let item_found = result == QaResult::CriticalNonConformity;
        let cell = task.ground.cell.0 * task.ground.cell.1;
        let (corrective, rework) = match result {
            QaResult::Pass => (None, None),
            QaResult::MinorNonConformity => (
                Some("marking of the worked area renewed; lane marking briefed again".to_string()),
                None,
            ),
            QaResult::MajorNonConformity => (
                Some("box to be cleared again; detector drills for the team".to_string()),
                Some(cell),
            ),
            _ => (
                Some("item missed in a cleared box: box cleared again, team stood down for retraining".to_string()),
                Some(cell),
            ),
        };
        let at = entered + Duration::minutes(20);
        let id = self.id(at);
        task.qa.push(id);
        task.area_since_qa = 0.0;
        let n = task.qa.len();
        let subject_deminer =
            (!external && self.rng.random_bool(0.3)).then(|| pick(&mut self.rng, &self.team.deminers));
        let body = RecordBody::QaInspection(QaInspection {
            kind: Code::new(kind),
            inspector,
            task: task.task_id,
            worked_area,
            subject_team: Some(self.team.name.clone()),
            subject_deminer,
            area_checked_m2: Some((area * share).round()),
            result,
            item_found,
            corrective_action: corrective,
            rework_area_m2: rework,
        });
        let meta = self.meta(id, format!("{}/QA{n}", task.label), day, ReviewStatus::Submitted);
        self.create(meta, body, at);
    }

    fn incident(
        &mut self,
        task: &TaskWork,
        day: NaiveDate,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        entered: DateTime<Utc>,
        corner: (f64, f64),
    ) {
        let (cw, ch) = task.ground.cell;
        let position = task.ground.frame.at(corner.0 + cw / 2.0, corner.1 + ch / 2.0);
        let span = ((end - start).num_minutes() - 120).max(1);
        let occurred_at = start + Duration::minutes(60 + self.rng.random_range(0..span));
        let machine = self.team.machine.is_some() && task.activity == Activity::Clearance;
        let (kind, device, activity, victims, note) = if machine {
            (
                IncidentKind::IncidentWithoutInjury,
                "TM-62M",
                "mechanical ground preparation",
                BTreeMap::new(),
                "an AT mine detonated under the flail; the machine's chains were damaged, no one was hurt",
            )
        } else {
            (
                IncidentKind::DeminingAccident,
                "PMN-2",
                "manual excavation of a detector signal",
                BTreeMap::from([(
                    "v1".to_string(),
                    Victim {
                        sex: Sex::Male,
                        age_band: Code::new("adult"),
                        injury: Injury::Injured,
                    },
                )]),
                "a deminer was injured in the hand and evacuated to the district hospital; work stopped for the day",
            )
        };
        let at = entered + Duration::minutes(30);
        let id = self.id(at);
        let year = day.year();
        let label = format!("INC-{year}-{}-{}", self.team.operator_code, task.label);
        let mut meta = self.meta(id, label, day, ReviewStatus::Submitted);
        meta.notes.insert(
            "n1".into(),
            Note {
                text: note.to_string(),
                by: Some(self.team.leader.clone()),
                at: Some(at),
            },
        );
        let body = RecordBody::Incident(Incident {
            kind,
            occurred_at,
            location: self.point(position, 2.0),
            task: Some(task.task_id),
            device: Some(Code::new(device)),
            activity: Some(activity.to_string()),
            victims,
            investigation_reference: Some(format!("INV-{year}-{:03}", self.index * 10 + 1)),
        });
        self.create(meta, body, at);
    }

    /// A task's last day: external QA, the completion report, and HQ's decisions in the days after.
    fn complete(&mut self, task: &TaskWork, day: NaiveDate) {
        let mut task = task.clone();
        let entered = self.at(day, 18 * 60 + 30);
        self.qa(&mut task, day, entered, None, true);
        let at = entered + Duration::minutes(40);
        let id = self.id(at);
        let ground = &task.ground;
        let turning_points: Vec<SurveyPoint> = ground
            .perimeter
            .iter()
            .enumerate()
            .map(|(i, (x, y, kind))| SurveyPoint {
                label: format!("TP{}", i + 1),
                kind: *kind,
                point: self.point(ground.frame.at(*x, *y), 0.05),
                marked: *kind != PointKind::Intermediate,
            })
            .collect();
        let (hw, hh) = (ground.width / 2.0, ground.height / 2.0);
        let benchmark = self.point(ground.frame.at(-hw - 15.0, -hh - 15.0), 0.05);
        let reference = self.point(ground.frame.at(0.0, -hh - 100.0), 3.0);
        let handover = (day + Duration::days(4)).min(self.scenario.today - Duration::days(1));
        let body = RecordBody::CompletionReport(CompletionReport {
            task: task.task_id,
            final_perimeter: Some(PolygonShape::new(vec![ground.perimeter_ring()])),
            turning_points,
            benchmark: Some(benchmark),
            reference_point: Some(reference),
            depth_cm: task.required_depth,
            methods: task.methods.clone(),
            qa_inspections: task.qa.iter().copied().collect(),
            handover_date: Some(handover),
            recipient: Some(format!("{} district executive authority", task.district_name)),
            people_present: BTreeMap::from([
                ("female_adult".to_string(), self.rng.random_range(0..=3)),
                ("male_adult".to_string(), self.rng.random_range(3..=8)),
            ]),
        });
        let meta = self.meta(id, format!("{}/CR", task.label), day, ReviewStatus::Submitted);
        let report = self.create(meta, body, at);

        // HQ completes the task, approves the report (accepting any warning it carries), and closes the land.
        let programme = self.programme;
        let next = |d: i64, rng: &mut ChaCha8Rng| {
            local(day + Duration::days(d), 10 * 60 + rng.random_range(0..240), programme)
        };
        let completed_at = next(1, &mut self.rng);
        self.edit(task.task, Author::Hq, completed_at, ROUND_HQ_DECISIONS, |r| {
            if let RecordBody::Task(t) = &mut r.body {
                t.status = TaskStatus::Completed;
            }
        });
        let approved_at = next(2, &mut self.rng);
        self.approve(report, approved_at);
        // With the handover package checked, every daily report, worked area and find of the task is approved too:
        // the records HQ's official totals count (every find is disposed of by now, so none is edited again).
        let task_records: Vec<usize> = self
            .histories
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                let r = h.record();
                matches!(
                    r.body,
                    RecordBody::DailyReport(_) | RecordBody::WorkedArea(_) | RecordBody::Find(_)
                ) && r.task_id() == Some(task.task_id)
                    && r.meta.void.is_none()
                    && r.meta.review == ReviewStatus::Submitted
            })
            .map(|(i, _)| i)
            .collect();
        for history in task_records {
            self.approve(history, approved_at);
        }
        let closed_at = next(3, &mut self.rng);
        self.edit(task.hazard, Author::Hq, closed_at, ROUND_CLOSURES, |r| {
            if let RecordBody::HazardArea(h) = &mut r.body {
                h.status = HazardStatus::Closed;
            }
        });
    }

    /// HQ's operations approves a submitted record, accepting every warning it validates with, as ingress will
    /// validate it: against the records it links to, entered when its first version was.
    fn approve(&mut self, history: usize, at: DateTime<Utc>) {
        let Some(h) = self.histories.get(history) else {
            return;
        };
        let (record, entered_at) = (h.record().clone(), h.versions[0].at);
        let related = linked(&record, |id| self.record(id));
        let ctx = domain::Context {
            programme: self.programme,
            related: &related,
            entered_at,
        };
        let warnings: Vec<String> = validate(&record, &ctx)
            .iter()
            .filter(|i| !i.is_error())
            .map(warning_key)
            .collect();
        let approver = format!("{} (operations)", self.hq_qa);
        self.edit(history, Author::Hq, at, ROUND_HQ_DECISIONS, |r| {
            r.meta.review = ReviewStatus::SupervisorApproved;
            for key in warnings {
                r.meta.accepted_warnings.insert(
                    key,
                    domain::records::Acceptance {
                        by: approver.clone(),
                        comment: "checked against the handover package".into(),
                    },
                );
            }
        });
    }

    /// A task planned for after the period, on a suspected area not yet worked.
    fn planned_task(&mut self, last_day: NaiveDate, layout: &mut Layout, sector: usize) {
        let site = layout.take(sector);
        let (width, height) = (
            pick(&mut self.rng, &[200.0, 300.0, 400.0]),
            pick(&mut self.rng, &[150.0, 200.0, 250.0]),
        );
        let ground = Ground {
            frame: Frame::new(site.centre, self.rng.random_range(-35.0..35.0)),
            width,
            height,
            cell: (50.0, 50.0),
            cols: (width / 50.0) as usize,
            rows: (height / 50.0) as usize,
            perimeter: perimeter(&mut self.rng, width, height),
        };
        self.tasks_made += 1;
        let k = self.tasks_made;
        let (code, _) = district(site.fraction);
        let label = format!("SHA-{code}-{:04}", self.index * 100 + k);
        let start = self.scenario.today + Duration::days(7);
        let hazard = self.hazard_area(&ground, HazardClass::Sha, label, start);
        let hazard_id = self.histories[hazard].record().id();
        let at = self.at(last_day, 11 * 60);
        let id = self.id(at);
        let body = RecordBody::Task(Task {
            activity: Activity::TechnicalSurvey,
            status: TaskStatus::Planned,
            hazard_areas: BTreeSet::from([hazard_id]),
            organisation: self.team.operator.clone(),
            teams: BTreeSet::from([self.team.name.clone()]),
            planned_start: Some(start),
            planned_end: Some(start + Duration::days(28)),
            required_depth_cm: Some(20),
            authorised_methods: self.team.clearance_methods().into_iter().map(Code::new).collect(),
            reopen_reason: None,
        });
        let meta = self.meta(
            id,
            format!("T-{}-{}{k:02}", self.team.operator_code, self.number),
            last_day,
            ReviewStatus::Submitted,
        );
        self.create(meta, body, at);
    }
}

/// What every worked area of one day shares.
struct CellDay<'a> {
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
const LATE_FIND_MINUTES: i64 = 45;
