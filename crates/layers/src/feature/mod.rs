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
mod tests;
