//! A record as a row of its layer: the stable id, the geometry, and one value per column in the schema's order.
//!
//! Making a feature never fails and never panics. The store holds records that merged from several devices and
//! may break a rule (a merged record is validated but never refused), and an export must still carry them: a
//! geometry that cannot be drawn (a ring of fewer than three distinct positions, a non-finite coordinate, a lane
//! without ground) is exported as no geometry, and the record's attributes, `area_m2` included, are kept.

use crate::error::LayerError;
use crate::lane::lane_polygon;
use crate::orientation::right_hand;
use crate::schema::{GeometryKind, Layer};
use crate::value::Value;
use domain::geometry::{AreaShape, CapturedPoint, PolygonShape, Position};
use domain::records::{
    CompletionReport, DailyReport, Demolition, Find, HazardArea, Incident, QaInspection, Task, WorkedArea,
};
use domain::vocabulary::{Injury, PointKind};
use domain::{Record, RecordBody};
use geo_types::{Coord, Geometry, LineString, Point, Polygon};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One row of a layer. `values` follow the layer's columns; `record_id` is also the first value, kept apart here
/// because GeoJSON makes it the feature's `id` and errors name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub record_id: Uuid,
    pub geometry: Option<Geometry<f64>>,
    pub values: Vec<Value>,
}

/// The feature of a record, for the layer `schema::layer(record.record_type())`.
pub fn feature(record: &Record) -> Feature {
    let meta = &record.meta;
    let mut values = vec![
        Value::Text(meta.id.to_string()),
        Value::text(&meta.label),
        Value::Date(meta.date_of_information),
    ];
    let geometry = match &record.body {
        RecordBody::HazardArea(h) => {
            hazard_area(h, &mut values);
            h.perimeter.as_ref().and_then(polygon).map(Geometry::Polygon)
        }
        RecordBody::Task(t) => {
            task(t, &mut values);
            None
        }
        RecordBody::DailyReport(d) => {
            daily_report(d, &mut values);
            None
        }
        RecordBody::WorkedArea(w) => {
            worked_area(w, &mut values);
            let drawn = match &w.shape {
                AreaShape::Polygon { coordinates } => polygon_from_rings(coordinates),
                AreaShape::Lane { centreline, width_m } => lane_polygon(centreline, *width_m)
                    .filter(|p| {
                        p.exterior()
                            .0
                            .iter()
                            .chain(p.interiors().iter().flatten())
                            .all(|c| usable(*c))
                    })
                    .map(right_hand),
            };
            drawn.map(Geometry::Polygon)
        }
        RecordBody::Find(f) => {
            find(f, &mut values);
            point(&f.location)
        }
        RecordBody::Demolition(d) => {
            demolition(d, &mut values);
            point(&d.site)
        }
        RecordBody::QaInspection(q) => {
            qa_inspection(q, &mut values);
            None
        }
        RecordBody::CompletionReport(c) => {
            completion_report(c, &mut values);
            c.final_perimeter.as_ref().and_then(polygon).map(Geometry::Polygon)
        }
        RecordBody::Incident(i) => {
            incident(i, &mut values);
            point(&i.location)
        }
    };
    values.extend([
        Value::text(meta.review.as_str()),
        id_opt(meta.supersedes),
        Value::Boolean(meta.void.is_some()),
        Value::opt(meta.void.as_ref(), |v| Value::text(&v.reason)),
    ]);
    Feature {
        record_id: meta.id,
        geometry,
        values,
    }
}

impl Feature {
    /// Checks the feature against the layer a writer is writing: one value per column, each of the column's type,
    /// and a geometry of the layer's kind whose coordinates are finite and whose rings are closed. A writer calls
    /// this before writing anything of the feature, so a bad feature leaves no half-written row.
    pub fn check(&self, layer: &Layer) -> Result<(), LayerError> {
        if self.values.len() != layer.columns.len() {
            return Err(LayerError::ColumnCount {
                layer: layer.name.clone(),
                record_id: self.record_id,
                expected: layer.columns.len(),
                found: self.values.len(),
            });
        }
        for (value, column) in self.values.iter().zip(&layer.columns) {
            if !value.fits(column.column_type) {
                return Err(LayerError::ValueType {
                    layer: layer.name.clone(),
                    record_id: self.record_id,
                    column: column.name.clone(),
                    expected: column.column_type,
                    found: value.kind(),
                });
            }
        }
        let Some(geometry) = &self.geometry else {
            return Ok(());
        };
        let invalid = |problem| LayerError::InvalidGeometry {
            layer: layer.name.clone(),
            record_id: self.record_id,
            problem,
        };
        let polygon_ok = |p: &Polygon<f64>| -> Result<(), LayerError> {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                if ring.0.len() < 4 {
                    return Err(invalid("a polygon ring has fewer than 4 positions"));
                }
                if ring.0.first() != ring.0.last() {
                    return Err(invalid("a polygon ring is not closed"));
                }
                if !ring.0.iter().all(|c| usable(*c)) {
                    return Err(invalid(NOT_DEGREES));
                }
            }
            Ok(())
        };
        match (layer.geometry, geometry) {
            (GeometryKind::Point, Geometry::Point(p)) => {
                if usable(p.0) {
                    Ok(())
                } else {
                    Err(invalid(NOT_DEGREES))
                }
            }
            (GeometryKind::Polygon, Geometry::Polygon(p)) => polygon_ok(p),
            (GeometryKind::MultiPolygon, Geometry::MultiPolygon(m)) => m.0.iter().try_for_each(polygon_ok),
            (expected, found) => Err(LayerError::GeometryType {
                layer: layer.name.clone(),
                record_id: self.record_id,
                expected,
                found: geometry_name(found),
            }),
        }
    }
}

const NOT_DEGREES: &str = "a position is not a longitude in [-180, 180] and a latitude in [-90, 90]";

/// Whether a position is a WGS84 longitude and latitude: finite and in range. Only such positions are written,
/// so that a layer declared EPSG:4326 holds nothing else.
pub(crate) fn usable(c: Coord<f64>) -> bool {
    c.x.is_finite() && c.y.is_finite() && (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y)
}

pub(crate) fn geometry_name(geometry: &Geometry<f64>) -> &'static str {
    match geometry {
        Geometry::Point(_) => "a Point",
        Geometry::Line(_) => "a Line",
        Geometry::LineString(_) => "a LineString",
        Geometry::Polygon(_) => "a Polygon",
        Geometry::MultiPoint(_) => "a MultiPoint",
        Geometry::MultiLineString(_) => "a MultiLineString",
        Geometry::MultiPolygon(_) => "a MultiPolygon",
        Geometry::GeometryCollection(_) => "a GeometryCollection",
        Geometry::Rect(_) => "a Rect",
        Geometry::Triangle(_) => "a Triangle",
    }
}

fn hazard_area(h: &HazardArea, values: &mut Vec<Value>) {
    values.extend([
        Value::text(h.classification.as_str()),
        Value::text(h.status.as_str()),
        join(h.contamination.iter().map(|c| c.as_str())),
        join(h.evidence.iter().map(|c| c.as_str())),
        Value::opt(h.perimeter.as_ref(), |p| Value::Real(p.area_m2())),
        Value::opt(h.estimated_area_m2, Value::Real),
        Value::opt(h.perimeter_accuracy_m, Value::Real),
    ]);
    point_columns(h.reference_point.as_ref(), values);
    point_columns(h.benchmark.as_ref(), values);
}

fn task(t: &Task, values: &mut Vec<Value>) {
    values.extend([
        Value::text(t.activity.as_str()),
        Value::text(t.status.as_str()),
        Value::text(&t.organisation),
        join(t.teams.iter().map(String::as_str)),
        join_ids(t.hazard_areas.iter()),
        Value::opt(t.planned_start, Value::Date),
        Value::opt(t.planned_end, Value::Date),
        Value::opt(t.required_depth_cm, Value::Integer),
        join(t.authorised_methods.iter().map(|c| c.as_str())),
        Value::opt(t.reopen_reason.as_ref(), Value::text),
    ]);
}

fn daily_report(d: &DailyReport, values: &mut Vec<Value>) {
    let hours: Vec<f64> = d.personnel.values().filter_map(|p| p.hours).collect();
    let person_hours = if hours.is_empty() {
        Value::Null
    } else {
        Value::Real(hours.iter().sum())
    };
    let mut by_reason: BTreeMap<&str, i64> = BTreeMap::new();
    for stoppage in d.stoppages.values() {
        *by_reason.entry(stoppage.reason.as_str()).or_default() += stoppage.minutes;
    }
    let signoff = d.supervisor_signoff.as_ref();
    values.extend([
        id(d.task),
        Value::text(&d.team),
        Value::text(&d.team_leader),
        count(d.personnel.len()),
        person_hours,
        Value::opt(d.start_time, Value::DateTime),
        Value::opt(d.end_time, Value::DateTime),
        Value::Integer(by_reason.values().sum()),
        pairs(by_reason.iter().map(|(reason, minutes)| (*reason, *minutes))),
        join(d.assets.iter().map(String::as_str)),
        Value::opt(d.ground_conditions.as_ref(), |c| Value::text(c.as_str())),
        Value::opt(d.weather.as_ref(), |c| Value::text(c.as_str())),
        Value::opt(signoff, |s| Value::text(&s.by)),
        Value::opt(signoff, |s| Value::DateTime(s.at)),
        Value::opt(signoff.and_then(|s| s.comment.as_ref()), Value::text),
    ]);
}

fn worked_area(w: &WorkedArea, values: &mut Vec<Value>) {
    let (shape_kind, lane_width_m) = match &w.shape {
        AreaShape::Polygon { .. } => ("polygon", Value::Null),
        AreaShape::Lane { width_m, .. } => ("lane", Value::Real(*width_m)),
    };
    values.extend([
        id(w.task),
        id_opt(w.daily_report),
        Value::text(shape_kind),
        lane_width_m,
        Value::Real(w.shape.area_m2()),
        Value::opt(w.reported_area_m2, Value::Real),
        Value::text(w.capture_method.as_str()),
        Value::Real(w.accuracy_m),
        join(w.methods.iter().map(|c| c.as_str())),
        Value::opt(w.depth_achieved_cm, Value::Integer),
        Value::text(w.outcome.as_str()),
        Value::opt(w.inaccessible_reason.as_ref(), Value::text),
        Value::opt(w.technical_asset, Value::Boolean),
    ]);
}

fn find(f: &Find, values: &mut Vec<Value>) {
    values.extend([
        id(f.task),
        id_opt(f.worked_area),
        id_opt(f.daily_report),
        Value::DateTime(f.found_at),
        Value::text(&f.found_by),
        Value::text(f.detection.as_str()),
        Value::text(f.category.as_str()),
        Value::opt(f.model.as_ref(), |c| Value::text(c.as_str())),
        Value::Integer(f.quantity),
        Value::Integer(f.depth_cm),
        Value::text(f.condition.as_str()),
        Value::text(f.fuzed.as_str()),
        Value::text(f.armed.as_str()),
        Value::text(f.booby_trapped.as_str()),
        Value::text(f.disposal.as_str()),
        Value::text(f.location.method.as_str()),
        Value::Real(f.location.accuracy_m),
        count(f.photos.len()),
    ]);
}

fn demolition(d: &Demolition, values: &mut Vec<Value>) {
    let destroyed = d.finds.iter().map(|(id, f)| format!("{id}:{}", f.quantity));
    values.extend([
        id_opt(d.task),
        Value::text(d.method.as_str()),
        Value::DateTime(d.at),
        Value::text(&d.operator),
        Value::opt(d.charge.as_ref(), Value::text),
        Value::text(d.result.as_str()),
        count(d.finds.len()),
        Value::Integer(d.finds.values().map(|f| f.quantity).sum()),
        join(destroyed),
        Value::text(d.site.method.as_str()),
        Value::Real(d.site.accuracy_m),
    ]);
}

fn qa_inspection(q: &QaInspection, values: &mut Vec<Value>) {
    values.extend([
        id(q.task),
        Value::text(q.kind.as_str()),
        Value::text(&q.inspector),
        id_opt(q.worked_area),
        Value::opt(q.subject_team.as_ref(), Value::text),
        Value::opt(q.subject_deminer.as_ref(), Value::text),
        Value::opt(q.area_checked_m2, Value::Real),
        Value::text(q.result.as_str()),
        Value::Boolean(q.item_found),
        Value::opt(q.corrective_action.as_ref(), Value::text),
        Value::opt(q.rework_area_m2, Value::Real),
    ]);
}

fn completion_report(c: &CompletionReport, values: &mut Vec<Value>) {
    let turning = c.turning_points.iter().filter(|p| p.kind == PointKind::Turning);
    values.extend([
        id(c.task),
        Value::opt(c.final_perimeter.as_ref(), |p| Value::Real(p.area_m2())),
        Value::opt(c.depth_cm, Value::Integer),
        join(c.methods.iter().map(|m| m.as_str())),
        join_ids(c.qa_inspections.iter()),
        Value::opt(c.handover_date, Value::Date),
        Value::opt(c.recipient.as_ref(), Value::text),
        count(turning.clone().count()),
        count(turning.filter(|p| !p.marked).count()),
    ]);
    point_columns(c.benchmark.as_ref(), values);
    point_columns(c.reference_point.as_ref(), values);
    values.extend([
        Value::Integer(c.people_present.values().sum()),
        pairs(c.people_present.iter().map(|(group, n)| (group.as_str(), *n))),
    ]);
}

fn incident(i: &Incident, values: &mut Vec<Value>) {
    let injured = |injury| count(i.victims.values().filter(|v| v.injury == injury).count());
    let victims = i
        .victims
        .values()
        .map(|v| format!("{}/{}/{}", v.sex.as_str(), v.age_band.as_str(), v.injury.as_str()));
    values.extend([
        id_opt(i.task),
        Value::text(i.kind.as_str()),
        Value::DateTime(i.occurred_at),
        Value::opt(i.device.as_ref(), |c| Value::text(c.as_str())),
        Value::opt(i.activity.as_ref(), Value::text),
        injured(Injury::Killed),
        injured(Injury::Injured),
        join(victims),
        Value::opt(i.investigation_reference.as_ref(), Value::text),
        Value::text(i.location.method.as_str()),
        Value::Real(i.location.accuracy_m),
    ]);
}

/// `_lon`, `_lat` and `_accuracy_m` of an optional captured point.
fn point_columns(point: Option<&CapturedPoint>, values: &mut Vec<Value>) {
    values.extend([
        Value::opt(point, |p| Value::Real(p.lon)),
        Value::opt(point, |p| Value::Real(p.lat)),
        Value::opt(point, |p| Value::Real(p.accuracy_m)),
    ]);
}

fn id(id: Uuid) -> Value {
    Value::Text(id.to_string())
}

fn id_opt(id: Option<Uuid>) -> Value {
    Value::opt(id, |id| Value::Text(id.to_string()))
}

fn count(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A set as one text, members joined by `;` (an empty set is null). Members come sorted (the domain keeps sets in
/// BTreeSets), so the same set always reads the same.
fn join<S: AsRef<str>>(members: impl Iterator<Item = S>) -> Value {
    let mut out = String::new();
    for member in members {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(member.as_ref());
    }
    if out.is_empty() { Value::Null } else { Value::Text(out) }
}

fn join_ids<'a>(ids: impl Iterator<Item = &'a Uuid>) -> Value {
    join(ids.map(Uuid::to_string))
}

/// A breakdown as `key:count` pairs joined by `;`.
fn pairs<'a>(pairs: impl Iterator<Item = (&'a str, i64)>) -> Value {
    join(pairs.map(|(key, n)| format!("{key}:{n}")))
}

fn point(p: &CapturedPoint) -> Option<Geometry<f64>> {
    let c = Coord { x: p.lon, y: p.lat };
    usable(c).then_some(Geometry::Point(Point(c)))
}

fn polygon(shape: &PolygonShape) -> Option<Polygon<f64>> {
    polygon_from_rings(&shape.coordinates)
}

/// A drawable polygon, right-hand oriented, or None: every ring needs at least three positions (four once closed),
/// each a usable longitude and latitude.
fn polygon_from_rings(rings: &[Vec<Position>]) -> Option<Polygon<f64>> {
    let mut rings = rings.iter().map(|ring| {
        let coords: Vec<Coord<f64>> = ring.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
        let mut line = LineString::new(coords);
        line.close();
        let usable = line.0.iter().all(|c| usable(*c));
        (usable && line.0.len() >= 4).then_some(line)
    });
    let exterior = rings.next()??;
    let interiors = rings.collect::<Option<Vec<_>>>()?;
    Some(right_hand(Polygon::new(exterior, interiors)))
}

#[cfg(test)]
mod tests {
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
}
