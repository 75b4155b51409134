//! HQ's data-quality report over the records of one task: invalid polygons, overlapping worked areas, finds outside
//! their worked area, duplicate find candidates, records carrying warnings, open conflicts and records stuck in
//! review.
//!
//! Ingress validates a pushed record only against the records it links to, not against its siblings, so this is
//! where HQ sees overlaps and duplicates. Every geometric finding comes from the domain's own rules
//! (`domain::validation::validate`), run with the same neighbourhood a device gathers, so the report and the devices
//! always agree. Pure: no IO, no async, no storage; the caller hands in the records.

use chrono::{DateTime, NaiveTime, Utc};
use domain::geometry::bounding_box;
use domain::vocabulary::ReviewStatus;
use domain::{Context, FieldConflict, Issue, Programme, Record, RecordBody, RecordType, Related, Rule, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// A record still in draft, submitted or returned more than this many days after its review status was set is stuck
/// in review. A week is the programme's late-entry limit (`Programme::late_entry_days`): a record that has waited
/// longer than a late entry is allowed to has stalled somewhere between the team, the supervisor and HQ.
pub const STUCK_IN_REVIEW_DAYS: i64 = 7;

/// How far around a record's bounding box siblings are looked for, in metres, as the device does
/// (client-core/src/neighbourhood.rs): duplicates lie within 1 m and overlaps need shared ground.
const SIBLING_MARGIN_M: f64 = 2.0;
const METRES_PER_DEGREE_LAT: f64 = 111_320.0;

/// One record as the server stores it: the record, the warnings stored with it when it was last validated, and what
/// the server read off its document (see `storage::RecordRow`).
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub record: Record,
    pub warnings: Vec<Issue>,
    pub conflicts: Vec<FieldConflict>,
    /// When its review status was set (the setting device's clock); None reads as its date of information.
    pub review_since: Option<DateTime<Utc>>,
    /// The enrolled device that pushed the change setting its review status, if the server knows it.
    pub review_by: Option<Reviewer>,
}

/// The device behind a record's review status, as the server authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    pub name: String,
    pub role: domain::Role,
    pub teams: std::collections::BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    InvalidPolygon,
    OverlappingWorkedAreas,
    FindOutsideWorkedArea,
    DuplicateFindCandidate,
    CarriesWarnings,
    OpenConflict,
    StuckInReview,
    /// Approved by a device whose role may not approve it (data from before roles were enforced); it is listed,
    /// never silently un-approved.
    ApprovalNotAuthorised,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub record_id: Uuid,
    pub label: String,
    pub record_type: RecordType,
    pub task_id: Option<Uuid>,
    /// The other worked area of an overlap, the other find of a duplicate.
    pub other_record_id: Option<Uuid>,
    /// The domain rule's code; for `carries_warnings`, the stored warnings' codes, sorted, joined by ", ".
    pub rule: Option<String>,
    /// What is wrong, naming the field and the values.
    pub detail: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QualityReport {
    pub findings: Vec<Finding>,
}

/// The data-quality report of one task, as of `now`. `records` holds the task, every record of it (daily reports,
/// worked areas, finds, demolitions, QA, completion reports) and the hazard areas it covers. Void records are left
/// out, and so are records that a live correction supersedes.
pub fn quality_report(programme: &Programme, records: &[StoredRecord], now: DateTime<Utc>) -> QualityReport {
    let by_id: HashMap<Uuid, &Record> = records.iter().map(|s| (s.record.meta.id, &s.record)).collect();
    // A record that a live correction supersedes is left out like a void one: HQ counts the correction alone.
    let superseded: HashSet<Uuid> = records
        .iter()
        .filter(|s| s.record.meta.void.is_none())
        .filter_map(|s| s.record.meta.supersedes)
        .collect();
    let live: Vec<&StoredRecord> = records
        .iter()
        .filter(|s| s.record.meta.void.is_none() && !superseded.contains(&s.record.meta.id))
        .collect();
    let mut findings = Vec::new();
    let mut pairs: BTreeMap<(FindingKind, Uuid, Uuid), Finding> = BTreeMap::new();

    for stored in &live {
        let record = &stored.record;
        let mut related = Related {
            linked: linked(record, &by_id),
            siblings: siblings(record, &live),
            dependents: dependents(record, &live),
        };
        let ctx = Context {
            programme,
            related: &related,
            // Only the geometric rules are read from the recomputed issues; none reads when the record was entered.
            entered_at: now,
        };
        let issues = domain::validation::validate(record, &ctx);
        for issue in &issues {
            let kind = match issue.rule {
                Rule::Polygon => FindingKind::InvalidPolygon,
                // A vertex that is no place on Earth makes the polygon invalid too.
                Rule::Coordinates if issue.field.contains(".coordinates[") || issue.field.contains(".centreline[") => {
                    FindingKind::InvalidPolygon
                }
                Rule::FindOutsideWorkedArea => FindingKind::FindOutsideWorkedArea,
                _ => continue,
            };
            findings.push(finding(
                kind,
                record,
                None,
                Some(issue.rule.code().to_string()),
                describe(issue),
            ));
        }
        for (rule, kind) in [
            (Rule::Overlap, FindingKind::OverlappingWorkedAreas),
            (Rule::DuplicateFind, FindingKind::DuplicateFindCandidate),
        ] {
            if !issues.iter().any(|i| i.rule == rule) {
                continue;
            }
            // The issue names the other record only by label, which need not be unique: find which sibling it was by
            // running the same rule against each sibling alone.
            let candidates = std::mem::take(&mut related.siblings);
            for other in &candidates {
                let alone = Related {
                    linked: related.linked.clone(),
                    siblings: vec![other.clone()],
                    dependents: Vec::new(),
                };
                let ctx = Context {
                    programme,
                    related: &alone,
                    entered_at: now,
                };
                let Some(issue) = domain::validation::validate(record, &ctx)
                    .into_iter()
                    .find(|i| i.rule == rule)
                else {
                    continue;
                };
                let new = finding(
                    kind,
                    record,
                    Some(other.meta.id),
                    Some(rule.code().to_string()),
                    describe(&issue),
                );
                let (lo, hi) = if record.meta.id < other.meta.id {
                    (record.meta.id, other.meta.id)
                } else {
                    (other.meta.id, record.meta.id)
                };
                // Each pair once: keep the side whose (label, id) sorts first, whichever was validated first.
                let entry = pairs.entry((kind, lo, hi)).or_insert_with(|| new.clone());
                if (&new.label, new.record_id) < (&entry.label, entry.record_id) {
                    *entry = new;
                }
            }
            related.siblings = candidates;
        }

        let mut codes: Vec<&str> = stored
            .warnings
            .iter()
            .filter(|w| w.severity == Severity::Warning)
            .map(|w| w.rule.code())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        if !codes.is_empty() {
            let detail = stored
                .warnings
                .iter()
                .filter(|w| w.severity == Severity::Warning)
                .map(|w| {
                    let accepted = record
                        .meta
                        .accepted_warnings
                        .contains_key(&domain::validation::warning_key(w));
                    format!("{}{}", describe(w), if accepted { " (accepted)" } else { "" })
                })
                .collect::<Vec<_>>()
                .join("; ");
            findings.push(finding(
                FindingKind::CarriesWarnings,
                record,
                None,
                Some(codes.join(", ")),
                detail,
            ));
        }

        if !stored.conflicts.is_empty() {
            let detail = stored
                .conflicts
                .iter()
                .map(describe_conflict)
                .collect::<Vec<_>>()
                .join("; ");
            findings.push(finding(FindingKind::OpenConflict, record, None, None, detail));
        }

        let waiting = matches!(
            record.meta.review,
            ReviewStatus::Draft | ReviewStatus::Submitted | ReviewStatus::Returned
        );
        let (since, what) = match stored.review_since {
            Some(since) => (since, "it was set"),
            None => (
                record.meta.date_of_information.and_time(NaiveTime::MIN).and_utc(),
                "its date of information",
            ),
        };
        let age = (now - since).num_days();
        if waiting && age > STUCK_IN_REVIEW_DAYS {
            let detail = format!(
                "review is still {} {age} days after {what} ({})",
                record.meta.review.as_str(),
                since.format("%Y-%m-%d %H:%M UTC")
            );
            findings.push(finding(FindingKind::StuckInReview, record, None, None, detail));
        }

        if let Some(detail) = unauthorised_approval(stored, &by_id) {
            findings.push(finding(FindingKind::ApprovalNotAuthorised, record, None, None, detail));
        }
    }

    findings.extend(pairs.into_values());
    findings.sort_by(|a, b| {
        (a.kind, &a.label, a.record_id, a.other_record_id, &a.detail).cmp(&(
            b.kind,
            &b.label,
            b.record_id,
            b.other_record_id,
            &b.detail,
        ))
    });
    QualityReport { findings }
}

/// Why an approved record's approval was not the approving device's to give, if it was not (domain::authority).
fn unauthorised_approval(stored: &StoredRecord, by_id: &HashMap<Uuid, &Record>) -> Option<String> {
    use domain::authority::{self, Action, Standing};
    let record = &stored.record;
    let reviewer = stored.review_by.as_ref()?;
    let action = match record.meta.review {
        ReviewStatus::SupervisorApproved => Action::Approve,
        ReviewStatus::HqApproved => Action::HqApprove,
        _ => return None,
    };
    let task_teams = match record.task_id().and_then(|t| by_id.get(&t)).map(|t| &t.body) {
        Some(domain::RecordBody::Task(task)) => Some(&task.teams),
        _ => None,
    };
    let in_teams = task_teams.is_none_or(|teams| !teams.is_disjoint(&reviewer.teams));
    let denial = authority::permits(Some(reviewer.role), action, Standing { in_teams, own: true }).err()?;
    Some(format!(
        "{} by device {} ({}): {denial}",
        record.meta.review.as_str(),
        reviewer.name,
        reviewer.role
    ))
}

fn finding(kind: FindingKind, record: &Record, other: Option<Uuid>, rule: Option<String>, detail: String) -> Finding {
    Finding {
        kind,
        record_id: record.meta.id,
        label: record.meta.label.clone(),
        record_type: record.record_type(),
        task_id: record.task_id(),
        other_record_id: other,
        rule,
        detail,
    }
}

fn describe(issue: &Issue) -> String {
    format!("field `{}` = {}: {}", issue.field, issue.value, issue.message)
}

/// "`quantity`: 2 (A. Aliyev on Team 3 tablet) or 3 (R. Mammadova on Base camp laptop); a supervisor decides".
fn describe_conflict(conflict: &FieldConflict) -> String {
    let candidates = conflict
        .candidates
        .iter()
        .map(|c| match &c.author {
            Some(a) => format!("{} ({} on {})", c.value, a.user, a.device),
            None => c.value.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" or ");
    format!("`{}`: {candidates}; a supervisor decides", conflict.field)
}

/// The records `record` links to, and the hazard areas of a linked task, as ingress gathers them.
fn linked(record: &Record, by_id: &HashMap<Uuid, &Record>) -> HashMap<Uuid, Record> {
    let mut linked = HashMap::new();
    let mut wanted: Vec<Uuid> = record.links().into_iter().map(|(_, id)| id).collect();
    while let Some(id) = wanted.pop() {
        if linked.contains_key(&id) {
            continue;
        }
        if let Some(found) = by_id.get(&id) {
            if let RecordBody::Task(task) = &found.body {
                wanted.extend(task.hazard_areas.iter().copied());
            }
            linked.insert(id, (*found).clone());
        }
    }
    linked
}

/// Live records of the same type and task whose bounding boxes come within the margin, as a device gathers them.
fn siblings(record: &Record, live: &[&StoredRecord]) -> Vec<Record> {
    let record_type = record.record_type();
    let (Some(task), RecordType::WorkedArea | RecordType::Find) = (record.task_id(), record_type) else {
        return Vec::new();
    };
    let Some([min_lon, min_lat, max_lon, max_lat]) = bounding_box(record.positions().iter()) else {
        return Vec::new();
    };
    let m_lat = SIBLING_MARGIN_M / METRES_PER_DEGREE_LAT;
    let m_lon = m_lat / max_lat.abs().max(min_lat.abs()).min(89.0).to_radians().cos();
    live.iter()
        .map(|s| &s.record)
        .filter(|o| o.meta.id != record.meta.id && o.record_type() == record_type && o.task_id() == Some(task))
        .filter(|o| {
            bounding_box(o.positions().iter()).is_some_and(|[a, b, c, d]| {
                c >= min_lon - m_lon && a <= max_lon + m_lon && d >= min_lat - m_lat && b <= max_lat + m_lat
            })
        })
        .cloned()
        .collect()
}

/// For a hazard area: the finds, completion reports and QA inspections of the tasks here that cover it.
fn dependents(record: &Record, live: &[&StoredRecord]) -> Vec<Record> {
    if record.record_type() != RecordType::HazardArea {
        return Vec::new();
    }
    let covering: Vec<Uuid> = live
        .iter()
        .filter_map(|s| match &s.record.body {
            RecordBody::Task(t) if t.hazard_areas.contains(&record.meta.id) => Some(s.record.meta.id),
            _ => None,
        })
        .collect();
    live.iter()
        .map(|s| &s.record)
        .filter(|r| {
            matches!(
                r.record_type(),
                RecordType::Find | RecordType::CompletionReport | RecordType::QaInspection
            ) && r.task_id().is_some_and(|t| covering.contains(&t))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use serde_json::{Value, json};

    const TASK: &str = "01935f6e-0000-7000-8000-000000000031";
    const HAZARD: &str = "01935f6e-0000-7000-8000-0000000000a1";
    const WA1: &str = "01935f6e-0000-7000-8000-0000000000b1";
    const WA2: &str = "01935f6e-0000-7000-8000-0000000000b2";
    const F1: &str = "01935f6e-0000-7000-8000-0000000000f1";
    const F2: &str = "01935f6e-0000-7000-8000-0000000000f2";

    /// Noon on 2026-11-22.
    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .expect("valid time")
            .to_utc()
    }

    fn id(s: &str) -> Uuid {
        Uuid::parse_str(s).expect("valid uuid")
    }

    fn stored(value: Value) -> StoredRecord {
        let record = Record::from_json(value, Uuid::nil()).expect("valid record json");
        StoredRecord {
            record,
            warnings: Vec::new(),
            conflicts: Vec::new(),
            review_since: None,
            review_by: None,
        }
    }

    fn square(lon: f64, lat: f64, side_deg: f64) -> Value {
        json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + side_deg, lat], [lon + side_deg, lat + side_deg],
            [lon, lat + side_deg], [lon, lat]]]})
    }

    fn hazard() -> Value {
        json!({"type": "hazard_area", "id": HAZARD, "label": "CHA-FZ-0142", "date_of_information": "2026-11-20",
            "review": "hq_approved", "classification": "cha", "status": "worked_on",
            "contamination": ["ap_mines"], "evidence": ["direct_mine_seen"],
            "perimeter": square(47.499, 40.499, 0.01), "perimeter_accuracy_m": 2.0})
    }

    fn task() -> Value {
        json!({"type": "task", "id": TASK, "label": "T-031", "date_of_information": "2026-11-20",
            "review": "hq_approved", "activity": "clearance", "status": "active", "organisation": "ANAMA",
            "teams": ["Team 3"], "hazard_areas": [HAZARD], "required_depth_cm": 20, "authorised_methods": ["manual"]})
    }

    fn worked_area(id: &str, label: &str, shape: Value) -> Value {
        json!({"type": "worked_area", "id": id, "label": label, "date_of_information": "2026-11-20",
            "review": "supervisor_approved", "task": TASK, "shape": shape, "capture_method": "handheld_gnss",
            "accuracy_m": 2.0, "methods": ["manual"], "depth_achieved_cm": 20, "outcome": "cleared"})
    }

    fn find(id: &str, label: &str, lon: f64, lat: f64) -> Value {
        json!({"type": "find", "id": id, "label": label, "date_of_information": "2026-11-20",
            "review": "supervisor_approved", "task": TASK, "worked_area": WA1,
            "location": {"lat": lat, "lon": lon, "method": "handheld_gnss", "accuracy_m": 0.5},
            "found_at": "2026-11-20T09:15:00Z", "found_by": "A. Aliyev", "detection": "detector",
            "category": "ap_mine", "model": "PMN-2", "quantity": 1, "depth_cm": 8, "condition": "intact",
            "fuzed": "yes", "armed": "unknown", "booby_trapped": "no", "disposal": "pending"})
    }

    /// A clean task: two adjoining, non-overlapping worked areas and one find well inside the first.
    fn clean() -> Vec<Value> {
        vec![
            hazard(),
            task(),
            worked_area(WA1, "T-031/B1", square(47.5, 40.5, 0.0005)),
            worked_area(WA2, "T-031/B2", square(47.5005, 40.5, 0.0005)),
            find(F1, "F-0001", 47.50025, 40.50025),
        ]
    }

    fn report(values: Vec<Value>) -> QualityReport {
        let records: Vec<StoredRecord> = values.into_iter().map(stored).collect();
        quality_report(&Programme::default(), &records, now())
    }

    fn of_kind(report: &QualityReport, kind: FindingKind) -> Vec<&Finding> {
        report.findings.iter().filter(|f| f.kind == kind).collect()
    }

    #[test]
    fn a_clean_task_gives_no_findings() {
        assert_eq!(report(clean()).findings, vec![]);
    }

    #[test]
    fn an_invalid_polygon_is_found() {
        let mut values = clean();
        // A bow tie: the ring crosses itself.
        let bow_tie = json!({"type": "Polygon", "coordinates": [[[47.502, 40.5], [47.5025, 40.5005],
            [47.5025, 40.5], [47.502, 40.5005], [47.502, 40.5]]]});
        values.push(worked_area("01935f6e-0000-7000-8000-0000000000b9", "T-031/B9", bow_tie));
        let r = report(values);
        let found = of_kind(&r, FindingKind::InvalidPolygon);
        assert!(!found.is_empty(), "{r:#?}");
        assert!(
            found
                .iter()
                .all(|f| f.record_id == id("01935f6e-0000-7000-8000-0000000000b9"))
        );
        assert_eq!(found[0].rule.as_deref(), Some("polygon"));
        assert_eq!(found[0].task_id, Some(id(TASK)));
    }

    #[test]
    fn overlapping_worked_areas_are_found_with_the_other_area() {
        let mut values = clean();
        values[3] = worked_area(WA2, "T-031/B2", square(47.5003, 40.5, 0.0005));
        let r = report(values);
        let found = of_kind(&r, FindingKind::OverlappingWorkedAreas);
        assert_eq!(found.len(), 1, "{r:#?}");
        assert_eq!((found[0].record_id, found[0].other_record_id), (id(WA1), Some(id(WA2))));
        assert_eq!(found[0].rule.as_deref(), Some("overlap"));
        assert!(found[0].detail.contains("T-031/B2"), "{}", found[0].detail);
    }

    #[test]
    fn pairs_are_reported_once_from_the_first_label() {
        let mut values = clean();
        // Labels sort the other way round from ids: the pair is reported from B1 (WA2's id), naming WA1.
        values[2] = worked_area(WA1, "T-031/B2", square(47.5, 40.5, 0.0005));
        values[3] = worked_area(WA2, "T-031/B1", square(47.5003, 40.5, 0.0005));
        values.push(find(F2, "F-0002", 47.50025, 40.50025));
        let r = report(values);
        let overlaps = of_kind(&r, FindingKind::OverlappingWorkedAreas);
        assert_eq!(overlaps.len(), 1, "{r:#?}");
        assert_eq!(
            (overlaps[0].record_id, overlaps[0].other_record_id),
            (id(WA2), Some(id(WA1)))
        );
        let duplicates = of_kind(&r, FindingKind::DuplicateFindCandidate);
        assert_eq!(duplicates.len(), 1, "{r:#?}");
        assert_eq!(
            (duplicates[0].record_id, duplicates[0].other_record_id),
            (id(F1), Some(id(F2)))
        );
    }

    #[test]
    fn a_find_outside_its_worked_area_is_found() {
        let mut values = clean();
        // About 40 m east of T-031/B1, far beyond the combined 2.5 m accuracy.
        values.push(find(F2, "F-0002", 47.5015, 40.50025));
        let r = report(values);
        let found = of_kind(&r, FindingKind::FindOutsideWorkedArea);
        assert_eq!(found.len(), 1, "{r:#?}");
        assert_eq!(found[0].record_id, id(F2));
        assert_eq!(found[0].rule.as_deref(), Some("find_outside_worked_area"));
        assert_eq!(found[0].record_type, RecordType::Find);
    }

    #[test]
    fn duplicate_find_candidates_are_found_with_the_other_find() {
        let mut values = clean();
        values.push(find(F2, "F-0002", 47.500254, 40.50025));
        let r = report(values);
        let found = of_kind(&r, FindingKind::DuplicateFindCandidate);
        assert_eq!(found.len(), 1, "{r:#?}");
        assert_eq!((found[0].record_id, found[0].other_record_id), (id(F1), Some(id(F2))));
        assert_eq!(found[0].rule.as_deref(), Some("duplicate_find"));
    }

    #[test]
    fn stored_warnings_are_reported_once_per_record() {
        let mut records: Vec<StoredRecord> = clean().into_iter().map(stored).collect();
        let warning = |rule: Rule, field: &str| Issue {
            severity: rule.severity(),
            rule,
            record: id(WA2),
            label: "T-031/B2".into(),
            field: field.into(),
            value: "2360".into(),
            message: "the shape computes to 1780.0 m²".into(),
        };
        records[3].warnings = vec![
            warning(Rule::AreaMismatch, "reported_area_m2"),
            warning(Rule::OutsideHazard, "shape"),
        ];
        let r = quality_report(&Programme::default(), &records, now());
        let found = of_kind(&r, FindingKind::CarriesWarnings);
        assert_eq!(found.len(), 1, "{r:#?}");
        assert_eq!(found[0].record_id, id(WA2));
        assert_eq!(found[0].rule.as_deref(), Some("area_mismatch, outside_hazard"));
        assert!(found[0].detail.contains("1780.0 m²"), "{}", found[0].detail);
    }

    #[test]
    fn records_waiting_in_review_past_the_limit_are_stuck() {
        let mut values = clean();
        values[4]["review"] = json!("submitted");
        values[4]["date_of_information"] = json!("2026-11-10");
        values[4]["found_at"] = json!("2026-11-10T09:15:00Z");
        // Submitted within the limit: not stuck.
        values[3]["review"] = json!("draft");
        values[3]["date_of_information"] = json!("2026-11-15");
        let r = report(values);
        let found = of_kind(&r, FindingKind::StuckInReview);
        assert_eq!(found.len(), 1, "{r:#?}");
        assert_eq!(found[0].record_id, id(F1));
        assert!(found[0].detail.contains("12 days"), "{}", found[0].detail);
    }

    #[test]
    fn the_wait_in_review_runs_from_when_the_status_was_set() {
        let mut records: Vec<StoredRecord> = clean().into_iter().map(stored).collect();
        let days_ago = |days: i64| Some(now() - chrono::Duration::days(days) - chrono::Duration::hours(1));
        // Found on the 20th but only submitted nine days ago (by its device's clock): stuck.
        records[4].record.meta.review = ReviewStatus::Submitted;
        records[4].review_since = days_ago(9);
        // A draft from long ago, returned to the team two days ago: not stuck yet.
        records[3].record.meta.review = ReviewStatus::Returned;
        records[3].record.meta.date_of_information = NaiveDate::from_ymd_opt(2026, 10, 1).expect("valid date");
        records[3].review_since = days_ago(2);
        let r = quality_report(&Programme::default(), &records, now());
        let found = of_kind(&r, FindingKind::StuckInReview);
        assert_eq!(found.len(), 1, "{r:#?}");
        assert_eq!(found[0].record_id, id(F1));
        assert!(
            found[0].detail.contains("9 days after it was set"),
            "{}",
            found[0].detail
        );
    }

    #[test]
    fn open_conflicts_are_reported_with_every_candidate_and_its_author() {
        let mut records: Vec<StoredRecord> = clean().into_iter().map(stored).collect();
        let candidate = |value: Value, user: &str, device: &str| domain::Candidate {
            value,
            author: Some(domain::Authorship {
                device_id: Uuid::nil(),
                device: device.into(),
                user: user.into(),
                action: "edit".into(),
            }),
            change: None,
            winner: false,
        };
        records[4].conflicts = vec![
            FieldConflict {
                field: "category".into(),
                candidates: vec![
                    candidate(json!("uxo"), "A. Aliyev", "Team 3 tablet"),
                    candidate(json!("at_mine"), "R. Mammadova", "Base camp laptop"),
                ],
            },
            FieldConflict {
                field: "quantity".into(),
                candidates: vec![
                    candidate(json!(1), "A. Aliyev", "Team 3 tablet"),
                    candidate(json!(2), "R. Mammadova", "Base camp laptop"),
                ],
            },
        ];
        let r = quality_report(&Programme::default(), &records, now());
        let found = of_kind(&r, FindingKind::OpenConflict);
        assert_eq!(found.len(), 1, "one finding per record: {r:#?}");
        assert_eq!(found[0].record_id, id(F1));
        assert_eq!(
            found[0].detail,
            "`category`: \"uxo\" (A. Aliyev on Team 3 tablet) or \"at_mine\" (R. Mammadova on Base camp laptop); \
             a supervisor decides; `quantity`: 1 (A. Aliyev on Team 3 tablet) or 2 (R. Mammadova on Base camp \
             laptop); a supervisor decides"
        );
    }

    #[test]
    fn void_records_are_ignored() {
        let mut values = clean();
        values[3] = worked_area(WA2, "T-031/B2", square(47.5003, 40.5, 0.0005));
        values[3]["review"] = json!("draft");
        values[3]["date_of_information"] = json!("2026-11-01");
        values[3]["void"] = json!({"reason": "entered twice", "by": "R. Mammadova"});
        values.push(find(F2, "F-0002", 47.500254, 40.50025));
        values[5]["void"] = json!({"reason": "same mine as F-0001", "by": "R. Mammadova"});
        let r = report(values);
        assert_eq!(r.findings, vec![]);
    }

    #[test]
    fn a_superseded_record_is_left_out_for_its_correction() {
        let mut values = clean();
        // B2 was entered over B1's ground, then corrected by B3, which lies beside B1: no overlap remains.
        values[3] = worked_area(WA2, "T-031/B2", square(47.5003, 40.5, 0.0005));
        values[3]["review"] = json!("supervisor_approved");
        let mut correction = worked_area(
            "01935f6e-0000-7000-8000-0000000000b3",
            "T-031/B3",
            square(47.5005, 40.5, 0.0005),
        );
        correction["supersedes"] = json!(WA2);
        values.push(correction);
        assert_eq!(report(values.clone()).findings, vec![]);
        // A void correction supersedes nothing: the overlap is back.
        values[5]["void"] = json!({"reason": "wrong box", "by": "R. Mammadova"});
        let r = report(values);
        assert_eq!(of_kind(&r, FindingKind::OverlappingWorkedAreas).len(), 1, "{r:#?}");
    }

    #[test]
    fn findings_serialise_in_snake_case() {
        let mut values = clean();
        values.push(find(F2, "F-0002", 47.500254, 40.50025));
        let json = serde_json::to_value(report(values)).expect("serialisable");
        assert_eq!(json["findings"][0]["kind"], json!("duplicate_find_candidate"));
        assert_eq!(json["findings"][0]["record_type"], json!("find"));
    }
}
