//! Spatial warnings: where things lie, how far apart, and how their areas compare.

use super::{Context, Findings, Rule};
use crate::geometry::{AreaShape, Position, distance_m, distance_outside_m};
use crate::records::{Record, RecordBody};
use crate::vocabulary::PointKind;
use geo::{BooleanOps, GeodesicArea, HaversineClosestPoint, LineString, Point};

const TURNING_POINT_SPACING_M: f64 = 50.0;
const VERTEX_SPACING_M: f64 = 5_000.0;
const DUPLICATE_DISTANCE_M: f64 = 1.0;

pub(super) fn check(f: &mut Findings<'_>, ctx: &Context<'_>) {
    let record = f.record;
    for (field, positions) in geometry_fields(record) {
        programme_area(f, ctx, &field, &positions);
    }
    match &record.body {
        RecordBody::HazardArea(h) => {
            if let Some(p) = &h.perimeter {
                vertex_spacing(f, "perimeter", &p.coordinates);
            }
        }
        // Shapes and points that are no place on Earth get the coordinates error; measuring them means nothing.
        RecordBody::WorkedArea(w) if on_earth(w.shape.positions()) => {
            if let AreaShape::Polygon { coordinates } = &w.shape {
                vertex_spacing(f, "shape", coordinates);
            }
            if let Some(reported) = w.reported_area_m2 {
                let computed = w.shape.area_m2();
                if (reported - computed).abs() > (0.05 * computed).max(10.0) {
                    let message = format!("the shape computes to {computed:.1} m²; totals will use the computed area");
                    f.add(Rule::AreaMismatch, "reported_area_m2", reported, message);
                }
            }
            outside_hazard(f, ctx, w);
            overlaps(f, ctx, w);
        }
        RecordBody::Find(x) if on_earth([x.location.position()].iter()) => {
            find_outside_worked_area(f, ctx, x);
            duplicates(f, ctx, x);
        }
        RecordBody::CompletionReport(c) => {
            if let Some(p) = &c.final_perimeter {
                vertex_spacing(f, "final_perimeter", &p.coordinates);
            }
            turning_point_spacing(f, c);
        }
        _ => {}
    }
}

/// Each geometry field of a record with its positions, for checks that name the field.
fn geometry_fields(record: &Record) -> Vec<(String, Vec<Position>)> {
    let point = |name: &str, p: &Option<crate::geometry::CapturedPoint>| {
        p.as_ref().map(|p| (name.to_string(), vec![p.position()]))
    };
    match &record.body {
        RecordBody::HazardArea(h) => [
            point("reference_point", &h.reference_point),
            point("benchmark", &h.benchmark),
        ]
        .into_iter()
        .flatten()
        .chain(
            h.perimeter
                .as_ref()
                .map(|p| ("perimeter".to_string(), p.positions().copied().collect())),
        )
        .collect(),
        RecordBody::WorkedArea(w) => vec![("shape".into(), w.shape.positions().copied().collect())],
        RecordBody::Find(x) => vec![("location".into(), vec![x.location.position()])],
        RecordBody::Demolition(d) => vec![("site".into(), vec![d.site.position()])],
        RecordBody::Incident(i) => vec![("location".into(), vec![i.location.position()])],
        RecordBody::CompletionReport(c) => [
            c.final_perimeter
                .as_ref()
                .map(|p| ("final_perimeter".to_string(), p.positions().copied().collect())),
            (!c.turning_points.is_empty()).then(|| {
                (
                    "turning_points".to_string(),
                    c.turning_points.iter().map(|t| t.point.position()).collect(),
                )
            }),
            point("benchmark", &c.benchmark),
            point("reference_point", &c.reference_point),
        ]
        .into_iter()
        .flatten()
        .collect(),
        _ => vec![],
    }
}

fn programme_area(f: &mut Findings<'_>, ctx: &Context<'_>, field: &str, positions: &[Position]) {
    let [min_lon, min_lat, max_lon, max_lat] = ctx.programme.bounding_box;
    let outside = positions.iter().find(|[lon, lat]| {
        lon.is_finite() && lat.is_finite() && (!(min_lon..=max_lon).contains(lon) || !(min_lat..=max_lat).contains(lat))
    });
    if let Some([lon, lat]) = outside {
        let message = format!(
            "outside the programme area {min_lat}–{max_lat} °N, {min_lon}–{max_lon} °E; check for swapped latitude and longitude"
        );
        f.add(Rule::ProgrammeArea, field, format!("lon {lon}, lat {lat}"), message);
    }
}

/// Whether every position is a place on Earth (the coordinates rule reports the others).
fn on_earth<'a>(mut positions: impl Iterator<Item = &'a Position>) -> bool {
    positions.all(|&[lon, lat]| (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat))
}

fn vertex_spacing(f: &mut Findings<'_>, field: &str, rings: &[Vec<Position>]) {
    for (r, ring) in rings.iter().enumerate() {
        for (i, pair) in ring.windows(2).enumerate() {
            let d = distance_m(pair[0], pair[1]);
            if d > VERTEX_SPACING_M {
                f.add(
                    Rule::VertexSpacing,
                    format!("{field}.coordinates[{r}][{i}]"),
                    format!("{d:.0} m"),
                    format!("vertices {i} and {} are {:.1} km apart", i + 1, d / 1000.0),
                );
            }
        }
    }
}

fn turning_point_spacing(f: &mut Findings<'_>, c: &crate::records::CompletionReport) {
    let walked: Vec<_> = c
        .turning_points
        .iter()
        .filter(|p| {
            matches!(
                p.kind,
                PointKind::Start | PointKind::Turning | PointKind::Intermediate | PointKind::End
            )
        })
        .collect();
    let n = walked.len();
    if n < 2 {
        return;
    }
    // The perimeter closes: the last point connects back to the first.
    for i in 0..n {
        let (a, b) = (walked[i], walked[(i + 1) % n]);
        if n == 2 && i == 1 {
            break;
        }
        let either_intermediate = a.kind == PointKind::Intermediate || b.kind == PointKind::Intermediate;
        let d = distance_m(a.point.position(), b.point.position());
        if !either_intermediate && d > TURNING_POINT_SPACING_M {
            let message = format!(
                "{} and {} are {d:.0} m apart with no intermediate point between them",
                a.label, b.label
            );
            f.add(Rule::PointSpacing, "turning_points", format!("{d:.0} m"), message);
        }
    }
}

fn outside_hazard(f: &mut Findings<'_>, ctx: &Context<'_>, w: &crate::records::WorkedArea) {
    let Some(RecordBody::Task(task)) = ctx.related.get(w.task).map(|r| &r.body) else {
        return;
    };
    let hazards: Vec<_> = task
        .hazard_areas
        .iter()
        .filter_map(|id| match ctx.related.get(*id).map(|r| &r.body) {
            Some(RecordBody::HazardArea(h)) => h
                .perimeter
                .as_ref()
                .filter(|p| on_earth(p.positions()))
                .map(|p| (p.to_geo(), h.perimeter_accuracy_m.unwrap_or(0.0))),
            _ => None,
        })
        .collect();
    if hazards.is_empty() {
        return;
    }
    let worst = w
        .shape
        .positions()
        .map(|p| {
            hazards
                .iter()
                .map(|(poly, acc)| distance_outside_m(poly, *p) - acc)
                .fold(f64::INFINITY, f64::min)
        })
        .fold(0.0_f64, f64::max);
    if worst > w.accuracy_m {
        let message = format!(
            "a vertex lies {worst:.1} m outside the task's hazard areas, beyond the {} m GPS accuracy: accept it as a boundary extension or correct the shape",
            w.accuracy_m
        );
        f.add(Rule::OutsideHazard, "shape", format!("{worst:.1} m outside"), message);
    }
}

fn find_outside_worked_area(f: &mut Findings<'_>, ctx: &Context<'_>, x: &crate::records::Find) {
    let Some(id) = x.worked_area else { return };
    let Some(RecordBody::WorkedArea(w)) = ctx.related.get(id).map(|r| &r.body) else {
        return;
    };
    if !on_earth(w.shape.positions()) {
        return;
    }
    let p = x.location.position();
    let outside = match &w.shape {
        AreaShape::Polygon { .. } => match w.shape.polygon() {
            Some(poly) => distance_outside_m(&poly.to_geo(), p),
            None => return,
        },
        AreaShape::Lane { centreline, width_m } => {
            let line = LineString::from(centreline.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>());
            let from = Point::new(p[0], p[1]);
            match line.haversine_closest_point(&from) {
                geo::Closest::SinglePoint(q) | geo::Closest::Intersection(q) => {
                    (distance_m(p, [q.x(), q.y()]) - width_m / 2.0).max(0.0)
                }
                geo::Closest::Indeterminate => return,
            }
        }
    };
    let tolerance = x.location.accuracy_m + w.accuracy_m;
    if outside > tolerance {
        let message = format!(
            "{outside:.1} m outside worked area {}, more than the combined GPS accuracy of {tolerance} m",
            w_label(ctx, id)
        );
        f.add(
            Rule::FindOutsideWorkedArea,
            "location",
            format!("lon {}, lat {}", p[0], p[1]),
            message,
        );
    }
}

fn w_label(ctx: &Context<'_>, id: uuid::Uuid) -> String {
    ctx.related
        .get(id)
        .map(|r| r.meta.label.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Whether one record is a correction of the other: it replaces it, so the two neither overlap nor duplicate (HQ
/// counts the correction alone).
fn corrects(a: &Record, b: &Record) -> bool {
    a.meta.supersedes == Some(b.meta.id) || b.meta.supersedes == Some(a.meta.id)
}

fn overlaps(f: &mut Findings<'_>, ctx: &Context<'_>, w: &crate::records::WorkedArea) {
    let Some(mine) = w.shape.polygon().map(|p| p.to_geo()) else {
        return;
    };
    let my_area = w.shape.area_m2();
    for other in &ctx.related.siblings {
        let RecordBody::WorkedArea(o) = &other.body else {
            continue;
        };
        // A sibling that is no place on Earth would make the polygon clipper panic.
        if other.meta.id == f.record.meta.id
            || other.meta.void.is_some()
            || corrects(f.record, other)
            || o.task != w.task
            || !on_earth(o.shape.positions())
        {
            continue;
        }
        let Some(theirs) = o.shape.polygon().map(|p| p.to_geo()) else {
            continue;
        };
        let shared = mine.intersection(&theirs).geodesic_area_unsigned();
        let smaller = my_area.min(o.shape.area_m2());
        if smaller > 0.0 && shared > 0.01 * smaller {
            let message = format!(
                "overlaps worked area {} by {shared:.1} m² ({:.1} % of the smaller): the ground would be counted twice",
                other.meta.label,
                100.0 * shared / smaller
            );
            f.add(Rule::Overlap, "shape", format!("{shared:.1} m² shared"), message);
        }
    }
}

fn duplicates(f: &mut Findings<'_>, ctx: &Context<'_>, x: &crate::records::Find) {
    let day = f.record.meta.date_of_information;
    for other in &ctx.related.siblings {
        let RecordBody::Find(o) = &other.body else { continue };
        if other.meta.id == f.record.meta.id
            || other.meta.void.is_some()
            || corrects(f.record, other)
            || !on_earth([o.location.position()].iter())
        {
            continue;
        }
        let same =
            o.task == x.task && o.model == x.model && o.category == x.category && other.meta.date_of_information == day;
        if same && distance_m(o.location.position(), x.location.position()) <= DUPLICATE_DISTANCE_M {
            let model = x.model.as_ref().map_or(x.category.to_string(), |m| m.to_string());
            let message = format!(
                "find {} is the same model on the same day within 1 m: if it is the same item, void one",
                other.meta.label
            );
            f.add(Rule::DuplicateFind, "location", model, message);
        }
    }
}
