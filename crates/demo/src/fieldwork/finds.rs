//! Finds in a worked cell and their demolition, QA inspections, incidents.

use super::*;

impl TeamWork<'_> {
    /// A find at a position inside a worked area.
    pub(super) fn find(
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

    pub(super) fn qa(
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

    pub(super) fn incident(
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
}
