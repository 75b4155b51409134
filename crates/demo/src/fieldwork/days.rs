//! A day on a task: its daily report and the cells worked, each a worked area.

use super::*;

impl TeamWork<'_> {
    pub(super) fn work_day(&mut self, task: &mut TaskWork, day: NaiveDate, incident: bool, last_of_period: bool) {
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
    pub(super) fn work_cell(
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
    pub(super) fn worked_area(
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
}
