//! Records turned into features: every layer's columns in order, with units and geometry as exported.

use super::*;
use crate::schema::layer;
use domain::RecordType;
use serde_json::json;

fn record(value: serde_json::Value) -> Record {
    Record::from_json(value, Uuid::nil()).expect("a valid record")
}

/// A record of each type with every optional field set, so that every column has a value.
pub(crate) fn full_records() -> Vec<Record> {
    let ids = |n: u8| format!("01935f6e-0000-7000-8000-0000000000{n:02x}");
    let point = json!({"lat": 40.5002, "lon": 47.5002, "method": "handheld_gnss", "accuracy_m": 2.5});
    let square = json!({"type": "Polygon", "coordinates": [[[47.5, 40.5], [47.5, 40.501], [47.501, 40.501],
        [47.501, 40.5], [47.5, 40.5]]]});
    let meta = |t: &str, n: u8| {
        json!({"type": t, "id": ids(n), "label": format!("L-{n}"), "date_of_information": "2026-11-20",
            "review": "submitted", "supersedes": ids(0xee), "void": {"reason": "entered twice", "by": "R. M."}})
    };
    let merge = |mut base: serde_json::Value, body: serde_json::Value| {
        if let (Some(base), serde_json::Value::Object(body)) = (base.as_object_mut(), body) {
            base.extend(body);
        }
        record(base)
    };
    vec![
        merge(
            meta("hazard_area", 1),
            json!({"classification": "cha", "status": "open", "contamination": ["ap_mines", "uxo"],
                "evidence": ["accident_record"], "reference_point": point, "benchmark": point,
                "perimeter": square, "perimeter_accuracy_m": 2.0, "estimated_area_m2": 9000.0}),
        ),
        merge(
            meta("task", 2),
            json!({"activity": "clearance", "status": "active", "hazard_areas": [ids(1)],
                "organisation": "ANAMA", "teams": ["Team 3", "Team 4"], "planned_start": "2026-11-01",
                "planned_end": "2026-12-01", "required_depth_cm": 20, "authorised_methods": ["manual", "mdd"],
                "reopen_reason": "new evidence"}),
        ),
        merge(
            meta("daily_report", 3),
            json!({"task": ids(2), "team": "Team 3", "team_leader": "A. Aliyev",
                "personnel": {"p1": {"name": "A", "hours": 6.5}, "p2": {"name": "B", "hours": 6.0}},
                "start_time": "2026-11-20T04:00:00Z", "end_time": "2026-11-20T12:30:00Z",
                "stoppages": {"s1": {"reason": "weather", "minutes": 45}, "s2": {"reason": "weather", "minutes": 15},
                    "s3": {"reason": "equipment", "minutes": 20}},
                "assets": ["DET-12"], "ground_conditions": "dry", "weather": "clear",
                "supervisor_signoff": {"by": "R. M.", "at": "2026-11-20T14:00:00Z", "comment": "ok"}}),
        ),
        merge(
            meta("worked_area", 4),
            json!({"task": ids(2), "daily_report": ids(3), "shape": square, "capture_method": "rtk_gnss",
                "accuracy_m": 0.1, "reported_area_m2": 9000.0, "methods": ["manual"], "depth_achieved_cm": 20,
                "outcome": "cleared", "inaccessible_reason": "none", "technical_asset": true}),
        ),
        merge(
            meta("find", 5),
            json!({"task": ids(2), "worked_area": ids(4), "daily_report": ids(3), "location": point,
                "found_at": "2026-11-20T09:15:00Z", "found_by": "A. Aliyev", "detection": "detector",
                "category": "ap_mine", "model": "PMN-2", "quantity": 2, "depth_cm": 8, "condition": "intact",
                "fuzed": "yes", "armed": "unknown", "booby_trapped": "no", "photos": ["ab", "cd"],
                "disposal": "disposed"}),
        ),
        merge(
            meta("demolition", 6),
            json!({"task": ids(2), "method": "destroyed_in_situ", "site": point, "at": "2026-11-20T15:00:00Z",
                "operator": "EOD 1", "charge": "200 g TNT", "finds": {ids(5): {"quantity": 2}},
                "result": "complete"}),
        ),
        merge(
            meta("qa_inspection", 7),
            json!({"kind": "external_qa", "inspector": "QA 1", "task": ids(2), "worked_area": ids(4),
                "subject_team": "Team 3", "subject_deminer": "A", "area_checked_m2": 900.0, "result": "pass",
                "item_found": false, "corrective_action": "none", "rework_area_m2": 0.0}),
        ),
        merge(
            meta("completion_report", 8),
            json!({"task": ids(2), "final_perimeter": square,
                "turning_points": [
                    {"label": "TP1", "kind": "turning", "point": point, "marked": true},
                    {"label": "TP2", "kind": "turning", "point": point},
                    {"label": "IP1", "kind": "intermediate", "point": point}],
                "benchmark": point, "reference_point": point, "depth_cm": 20, "methods": ["manual"],
                "qa_inspections": [ids(7)], "handover_date": "2026-12-02", "recipient": "Village council",
                "people_present": {"female_adult": 3, "male_adult": 5}}),
        ),
        merge(
            meta("incident", 9),
            json!({"kind": "demining_accident", "occurred_at": "2026-11-20T10:00:00Z", "location": point,
                "task": ids(2), "device": "PMN-2", "activity": "excavation",
                "victims": {"v1": {"sex": "male", "age_band": "adult", "injury": "injured"}},
                "investigation_reference": "INV-1"}),
        ),
    ]
}

fn value<'a>(f: &'a Feature, record_type: RecordType, column: &str) -> &'a Value {
    let index = layer(record_type).column_index(column).expect(column);
    &f.values[index]
}

#[test]
fn every_type_fills_every_column_with_a_value_of_its_type() {
    let records = full_records();
    assert_eq!(records.len(), RecordType::ALL.len());
    for record in &records {
        let layer = layer(record.record_type());
        let f = feature(record);
        f.check(layer).unwrap_or_else(|e| panic!("{}: {e}", layer.name));
        for (value, column) in f.values.iter().zip(&layer.columns) {
            // The fixture's worked area is a polygon, which has no lane width.
            if column.name != "lane_width_m" {
                assert_ne!(
                    *value,
                    Value::Null,
                    "{}.{} is null for a full record",
                    layer.name,
                    column.name
                );
            }
        }
        assert_eq!(f.values[0], Value::Text(record.id().to_string()));
        assert_eq!(
            f.geometry.is_some(),
            layer.geometry != GeometryKind::None,
            "{}",
            layer.name
        );
    }
}

#[test]
fn derived_columns_add_up() {
    let records = full_records();
    let f = |t: RecordType| feature(records.iter().find(|r| r.record_type() == t).expect("a record"));
    let daily = f(RecordType::DailyReport);
    let v = |c| value(&daily, RecordType::DailyReport, c).clone();
    assert_eq!(v("stoppage_minutes"), Value::Integer(80));
    assert_eq!(v("stoppage_minutes_by_reason"), Value::text("equipment:20;weather:60"));
    assert_eq!(v("person_hours"), Value::Real(12.5));
    assert_eq!(v("personnel_count"), Value::Integer(2));
    let task = f(RecordType::Task);
    assert_eq!(value(&task, RecordType::Task, "teams"), &Value::text("Team 3;Team 4"));
    let completion = f(RecordType::CompletionReport);
    let c = |name| value(&completion, RecordType::CompletionReport, name).clone();
    assert_eq!(c("turning_point_count"), Value::Integer(2));
    assert_eq!(c("turning_points_unmarked"), Value::Integer(1));
    assert_eq!(c("people_present_total"), Value::Integer(8));
    let demolition = f(RecordType::Demolition);
    assert_eq!(
        value(&demolition, RecordType::Demolition, "items_destroyed"),
        &Value::Integer(2)
    );
    let find = f(RecordType::Find);
    assert_eq!(value(&find, RecordType::Find, "void"), &Value::Boolean(true));
    assert_eq!(
        value(&find, RecordType::Find, "void_reason"),
        &Value::text("entered twice")
    );
    let Value::Real(area) = *value(&f(RecordType::WorkedArea), RecordType::WorkedArea, "area_m2") else {
        panic!("area_m2 is not a number");
    };
    assert!(
        (area - 9_400.0).abs() < 200.0,
        "a 0.001° square at 40.5°N is about 9,400 m², got {area}"
    );
}

#[test]
fn a_clockwise_perimeter_becomes_counter_clockwise() {
    let records = full_records();
    let Some(Geometry::Polygon(p)) = feature(&records[0]).geometry else {
        panic!("the hazard area has a polygon");
    };
    // The fixture's ring runs clockwise (north first, then east).
    use geo::winding_order::{Winding, WindingOrder};
    assert_eq!(p.exterior().winding_order(), Some(WindingOrder::CounterClockwise));
}

#[test]
fn an_undrawable_geometry_is_exported_as_none_with_its_attributes() {
    let mut r = full_records().swap_remove(3);
    if let RecordBody::WorkedArea(w) = &mut r.body {
        w.shape = AreaShape::Polygon {
            coordinates: vec![vec![[47.5, 40.5], [47.6, 40.5], [47.5, 40.5]]],
        };
    }
    let f = feature(&r);
    assert!(f.geometry.is_none());
    f.check(layer(RecordType::WorkedArea)).expect("still a valid row");
    let mut lane = full_records().swap_remove(3);
    if let RecordBody::WorkedArea(w) = &mut lane.body {
        w.shape = AreaShape::Lane {
            centreline: vec![[47.5, 40.5], [47.501, 40.5]],
            width_m: 1.0,
        };
    }
    let f = feature(&lane);
    assert!(
        matches!(f.geometry, Some(Geometry::Polygon(_))),
        "a lane is drawn as its band"
    );
    assert_eq!(value(&f, RecordType::WorkedArea, "shape_kind"), &Value::text("lane"));
}

#[test]
fn check_names_what_is_wrong() {
    let records = full_records();
    let finds = layer(RecordType::Find);
    let mut f = feature(&records[4]);
    f.values.pop();
    assert!(matches!(f.check(finds), Err(LayerError::ColumnCount { .. })));
    let mut f = feature(&records[4]);
    f.values[1] = Value::Integer(3);
    let err = f.check(finds).expect_err("label is text");
    assert!(err.to_string().contains("`label`"), "{err}");
    let mut f = feature(&records[4]);
    f.geometry = feature(&records[0]).geometry;
    assert!(matches!(f.check(finds), Err(LayerError::GeometryType { .. })));
    let mut f = feature(&records[4]);
    f.geometry = Some(Geometry::Point(Point::new(f64::NAN, 40.0)));
    assert!(matches!(f.check(finds), Err(LayerError::InvalidGeometry { .. })));
}
