//! The findings of hand-made tasks: each kind found, and nothing found where there is nothing to find.

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
