//! Opening a task on a new hazard area, planning the next, completing one and HQ's approvals after.

use super::*;

impl TeamWork<'_> {
    /// A new task on a new hazard area, starting on `day`: what to do, how big, and the two records.
    pub(super) fn new_task(
        &mut self,
        day: NaiveDate,
        period_days: usize,
        layout: &mut Layout,
        sector: usize,
    ) -> TaskWork {
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
    pub(super) fn hazard_area(
        &mut self,
        ground: &Ground,
        class: HazardClass,
        label: String,
        first_day: NaiveDate,
    ) -> usize {
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

    /// A task's last day: external QA, the completion report, and HQ's decisions in the days after.
    pub(super) fn complete(&mut self, task: &TaskWork, day: NaiveDate) {
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
    pub(super) fn approve(&mut self, history: usize, at: DateTime<Utc>) {
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
    pub(super) fn planned_task(&mut self, last_day: NaiveDate, layout: &mut Layout, sector: usize) {
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
