//! Rules about one record on its own: coordinates, shapes, ranges, codes, times, required fields.

use super::{Context, Findings, Rule};
use crate::geometry::{AreaShape, CapturedPoint, PolygonShape, Position};
use crate::records::RecordBody;
use crate::vocabulary::{Code, Outcome, QaResult};
use chrono::{DateTime, NaiveDate, Utc};
use geo::Validation;

pub(super) fn check(f: &mut Findings<'_>, ctx: &Context<'_>) {
    let record = f.record;
    if record.meta.label.trim().is_empty() {
        f.add(
            Rule::RequiredField,
            "label",
            "\"\"",
            "every record needs a human label such as T-031/B3",
        );
    }
    if let Some(void) = &record.meta.void
        && void.reason.trim().is_empty()
    {
        f.add(
            Rule::RequiredField,
            "void.reason",
            "\"\"",
            "say why the record is voided",
        );
    }
    for (key, acceptance) in &record.meta.accepted_warnings {
        if acceptance.comment.trim().is_empty() {
            f.add(
                Rule::RequiredField,
                format!("accepted_warnings.{key}.comment"),
                "\"\"",
                "accepting a warning needs a comment",
            );
        }
    }
    let codes = &ctx.programme.reference;
    let code = |f: &mut Findings<'_>, field: &str, vocabulary: &str, value: &Code| {
        if !codes.accepts(vocabulary, value) {
            let message = format!(
                "not a known {vocabulary} code; expected one of: {}",
                codes.codes(vocabulary)
            );
            f.add(Rule::UnknownCode, field, value, message);
        }
    };
    match &record.body {
        RecordBody::HazardArea(h) => {
            h.contamination
                .iter()
                .for_each(|c| code(f, "contamination", "contamination", c));
            h.evidence.iter().for_each(|c| code(f, "evidence", "evidence", c));
            point(f, ctx, "reference_point", h.reference_point.as_ref());
            point(f, ctx, "benchmark", h.benchmark.as_ref());
            if let Some(perimeter) = &h.perimeter {
                polygon(f, "perimeter", perimeter);
            }
            non_negative(f, Rule::AccuracyRange, "perimeter_accuracy_m", h.perimeter_accuracy_m);
            non_negative(f, Rule::AreaRange, "estimated_area_m2", h.estimated_area_m2);
        }
        RecordBody::Task(t) => {
            t.authorised_methods
                .iter()
                .for_each(|c| code(f, "authorised_methods", "clearance_method", c));
            non_negative_int(f, Rule::DepthRange, "required_depth_cm", t.required_depth_cm);
            if t.organisation.trim().is_empty() {
                f.add(
                    Rule::RequiredField,
                    "organisation",
                    "\"\"",
                    "name the organisation tasked",
                );
            }
            date_order(f, ("planned_start", t.planned_start), ("planned_end", t.planned_end));
        }
        RecordBody::DailyReport(d) => {
            time_order(f, ("start_time", d.start_time), ("end_time", d.end_time));
            for (id, person) in &d.personnel {
                non_negative(f, Rule::NonNegative, &format!("personnel.{id}.hours"), person.hours);
            }
            for (id, stoppage) in &d.stoppages {
                code(
                    f,
                    &format!("stoppages.{id}.reason"),
                    "stoppage_reason",
                    &stoppage.reason,
                );
                non_negative_int(
                    f,
                    Rule::NonNegative,
                    &format!("stoppages.{id}.minutes"),
                    Some(stoppage.minutes),
                );
            }
            d.ground_conditions
                .iter()
                .for_each(|c| code(f, "ground_conditions", "ground_conditions", c));
            d.weather.iter().for_each(|c| code(f, "weather", "weather", c));
            future(f, ctx, "start_time", d.start_time);
            future(f, ctx, "end_time", d.end_time);
        }
        RecordBody::WorkedArea(w) => {
            code(f, "capture_method", "capture_method", &w.capture_method);
            w.methods.iter().for_each(|c| code(f, "methods", "clearance_method", c));
            non_negative(f, Rule::AccuracyRange, "accuracy_m", Some(w.accuracy_m));
            non_negative(f, Rule::AreaRange, "reported_area_m2", w.reported_area_m2);
            non_negative_int(f, Rule::DepthRange, "depth_achieved_cm", w.depth_achieved_cm);
            shape(f, "shape", &w.shape);
            if w.outcome == Outcome::Inaccessible
                && w.inaccessible_reason.as_deref().is_none_or(|r| r.trim().is_empty())
            {
                f.add(
                    Rule::RequiredField,
                    "inaccessible_reason",
                    "null",
                    "an inaccessible outcome needs the reason",
                );
            }
        }
        RecordBody::Find(x) => {
            point(f, ctx, "location", Some(&x.location));
            code(f, "detection", "detection", &x.detection);
            code(f, "condition", "condition", &x.condition);
            if x.quantity < 1 {
                f.add(
                    Rule::QuantityRange,
                    "quantity",
                    x.quantity,
                    "a find counts at least 1 item",
                );
            }
            non_negative_int(f, Rule::DepthRange, "depth_cm", Some(x.depth_cm));
            if let Some(model) = &x.model {
                match codes.ordnance_models.get(model.as_str()) {
                    None => f.add(
                        Rule::UnknownCode,
                        "model",
                        model,
                        "not in the ordnance catalogue; leave the model empty and describe it in a note, or ask HQ to add it",
                    ),
                    Some(category) if *category != x.category => f.add(
                        Rule::ModelCategory,
                        "category",
                        x.category,
                        format!("the catalogue lists {model} as {category}"),
                    ),
                    Some(_) => {}
                }
            }
            future(f, ctx, "found_at", Some(x.found_at));
        }
        RecordBody::Demolition(d) => {
            code(f, "method", "demolition_method", &d.method);
            point(f, ctx, "site", Some(&d.site));
            for (id, item) in &d.finds {
                if item.quantity < 1 {
                    f.add(
                        Rule::QuantityRange,
                        format!("finds.{id}.quantity"),
                        item.quantity,
                        "a demolition destroys at least 1 item of each find it names",
                    );
                }
            }
            if d.finds.is_empty() {
                f.add(
                    Rule::RequiredField,
                    "finds",
                    "{}",
                    "name the finds the demolition destroyed",
                );
            }
            future(f, ctx, "at", Some(d.at));
        }
        RecordBody::QaInspection(q) => {
            code(f, "kind", "qa_kind", &q.kind);
            non_negative(f, Rule::AreaRange, "area_checked_m2", q.area_checked_m2);
            non_negative(f, Rule::AreaRange, "rework_area_m2", q.rework_area_m2);
            let severe = matches!(q.result, QaResult::CriticalNonConformity | QaResult::Fail);
            if q.item_found && !severe {
                f.add(
                    Rule::QaItemFound,
                    "result",
                    q.result,
                    "an item was found during QA: the result is critical_non_conformity or fail",
                );
            }
        }
        RecordBody::CompletionReport(c) => {
            if let Some(perimeter) = &c.final_perimeter {
                polygon(f, "final_perimeter", perimeter);
            }
            for (i, tp) in c.turning_points.iter().enumerate() {
                point(f, ctx, &format!("turning_points[{i}].point"), Some(&tp.point));
            }
            point(f, ctx, "benchmark", c.benchmark.as_ref());
            point(f, ctx, "reference_point", c.reference_point.as_ref());
            non_negative_int(f, Rule::DepthRange, "depth_cm", c.depth_cm);
            c.methods.iter().for_each(|m| code(f, "methods", "clearance_method", m));
            for (group, count) in &c.people_present {
                non_negative_int(f, Rule::NonNegative, &format!("people_present.{group}"), Some(*count));
            }
        }
        RecordBody::Incident(i) => {
            point(f, ctx, "location", Some(&i.location));
            for (id, victim) in &i.victims {
                code(f, &format!("victims.{id}.age_band"), "age_band", &victim.age_band);
            }
            if let Some(device) = &i.device
                && !codes.ordnance_models.contains_key(device.as_str())
            {
                f.add(
                    Rule::UnknownCode,
                    "device",
                    device,
                    "not in the ordnance catalogue; ask HQ to add it",
                );
            }
            future(f, ctx, "occurred_at", Some(i.occurred_at));
        }
    }
    entry_time(f, ctx);
}

/// Checks a position; true when it is usable for further geometry.
pub(super) fn position(f: &mut Findings<'_>, field: &str, p: Position) -> bool {
    let [lon, lat] = p;
    let problem = if !lon.is_finite() || !lat.is_finite() {
        Some("is not a finite number")
    } else if !(-90.0..=90.0).contains(&lat) {
        Some("latitude is outside [-90, 90]")
    } else if !(-180.0..=180.0).contains(&lon) {
        Some("longitude is outside [-180, 180]")
    } else if lat == 0.0 && lon == 0.0 {
        Some("(0,0) is what a GPS without a fix reports, not a place in the field")
    } else {
        None
    };
    if let Some(problem) = problem {
        f.add(
            Rule::Coordinates,
            field,
            format!("lon {lon}, lat {lat}"),
            format!("{problem}; give WGS84 decimal degrees"),
        );
    }
    problem.is_none()
}

fn point(f: &mut Findings<'_>, ctx: &Context<'_>, field: &str, p: Option<&CapturedPoint>) {
    let Some(p) = p else { return };
    position(f, field, p.position());
    let codes = &ctx.programme.reference;
    if !codes.accepts("capture_method", &p.method) {
        let message = format!(
            "not a known capture method; expected one of: {}",
            codes.codes("capture_method")
        );
        f.add(Rule::UnknownCode, format!("{field}.method"), &p.method, message);
    }
    non_negative(
        f,
        Rule::AccuracyRange,
        &format!("{field}.accuracy_m"),
        Some(p.accuracy_m),
    );
    non_negative(f, Rule::NonNegative, &format!("{field}.distance_m"), p.distance_m);
    if let Some(bearing) = p.bearing_deg
        && !(0.0..360.0).contains(&bearing)
    {
        f.add(
            Rule::BearingRange,
            format!("{field}.bearing_deg"),
            bearing,
            "give the bearing in degrees from north, 0 up to but excluding 360",
        );
    }
    if p.method.as_str() == "bearing_distance"
        && (p.bearing_deg.is_none() || p.distance_m.is_none() || p.from.is_none())
    {
        f.add(
            Rule::RequiredField,
            field,
            &p.method,
            "a bearing_distance point needs bearing_deg, distance_m and from",
        );
    }
}

fn polygon(f: &mut Findings<'_>, field: &str, shape: &PolygonShape) {
    if shape.coordinates.is_empty() {
        f.add(
            Rule::Polygon,
            format!("{field}.coordinates"),
            "[]",
            "the polygon has no exterior ring",
        );
        return;
    }
    let mut usable = true;
    for (r, ring) in shape.coordinates.iter().enumerate() {
        let ring_field = format!("{field}.coordinates[{r}]");
        for (i, p) in ring.iter().enumerate() {
            usable &= position(f, &format!("{ring_field}[{i}]"), *p);
        }
        if ring.first() != ring.last() || ring.len() < 2 {
            let ends = format!("{:?} … {:?}", ring.first(), ring.last());
            f.add(
                Rule::Polygon,
                &ring_field,
                ends,
                "the ring is not closed: repeat the first position at the end",
            );
            usable = false;
        }
        let mut distinct: Vec<Position> = ring.clone();
        distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        distinct.dedup();
        if distinct.len() < 3 {
            let message = format!(
                "the ring has {} distinct vertices; a polygon needs at least 3",
                distinct.len()
            );
            f.add(Rule::Polygon, &ring_field, format!("{} positions", ring.len()), message);
            usable = false;
        }
    }
    if usable {
        for problem in shape.to_geo().validation_errors() {
            f.add(
                Rule::Polygon,
                format!("{field}.coordinates"),
                "polygon",
                problem.to_string(),
            );
        }
    }
}

fn shape(f: &mut Findings<'_>, field: &str, shape: &AreaShape) {
    match shape {
        AreaShape::Polygon { coordinates } => polygon(f, field, &PolygonShape::new(coordinates.clone())),
        AreaShape::Lane { centreline, width_m } => {
            for (i, p) in centreline.iter().enumerate() {
                position(f, &format!("{field}.centreline[{i}]"), *p);
            }
            let mut distinct = centreline.clone();
            distinct.dedup();
            if distinct.len() < 2 {
                f.add(
                    Rule::Polygon,
                    format!("{field}.centreline"),
                    format!("{} positions", centreline.len()),
                    "a lane's centreline needs at least 2 distinct positions",
                );
            }
            if !(width_m.is_finite() && *width_m > 0.0) {
                f.add(
                    Rule::AreaRange,
                    format!("{field}.width_m"),
                    width_m,
                    "a lane's width is more than 0 metres",
                );
            }
        }
    }
}

fn non_negative(f: &mut Findings<'_>, rule: Rule, field: &str, value: Option<f64>) {
    if let Some(v) = value
        && !(v.is_finite() && v >= 0.0)
    {
        f.add(rule, field, v, "must be a finite number, 0 or more");
    }
}

fn non_negative_int(f: &mut Findings<'_>, rule: Rule, field: &str, value: Option<i64>) {
    if let Some(v) = value
        && v < 0
    {
        let message = if rule == Rule::DepthRange {
            "depth is whole centimetres below the surface, 0 or more"
        } else {
            "must be 0 or more"
        };
        f.add(rule, field, v, message);
    }
}

fn time_order(f: &mut Findings<'_>, start: (&str, Option<DateTime<Utc>>), end: (&str, Option<DateTime<Utc>>)) {
    if let ((s_field, Some(s)), (e_field, Some(e))) = (start, end)
        && s > e
    {
        f.add(
            Rule::TimeOrder,
            e_field,
            e.to_rfc3339(),
            format!("{e_field} is before {s_field} ({})", s.to_rfc3339()),
        );
    }
}

fn date_order(f: &mut Findings<'_>, start: (&str, Option<NaiveDate>), end: (&str, Option<NaiveDate>)) {
    if let ((s_field, Some(s)), (e_field, Some(e))) = (start, end)
        && s > e
    {
        f.add(
            Rule::TimeOrder,
            e_field,
            e,
            format!("{e_field} is before {s_field} ({s})"),
        );
    }
}

/// A time the record states that lies after the moment it was entered means a wrong device clock or a typo.
fn future(f: &mut Findings<'_>, ctx: &Context<'_>, field: &str, at: Option<DateTime<Utc>>) {
    let tolerance = chrono::Duration::minutes(ctx.programme.clock_tolerance_minutes);
    if let Some(at) = at
        && at > ctx.entered_at + tolerance
    {
        let message = format!(
            "{} minutes after the record was entered ({}): check the device clock",
            (at - ctx.entered_at).num_minutes(),
            ctx.entered_at.to_rfc3339()
        );
        f.add(Rule::FutureTime, field, at.to_rfc3339(), message);
    }
}

fn entry_time(f: &mut Findings<'_>, ctx: &Context<'_>) {
    let day = f.record.meta.date_of_information;
    let entered_day = ctx.entered_at.with_timezone(&ctx.programme.utc_offset).date_naive();
    let days = (entered_day - day).num_days();
    if days > ctx.programme.late_entry_days {
        f.add(
            Rule::LateEntry,
            "date_of_information",
            day,
            format!("entered {days} days later, on {entered_day}"),
        );
    } else if days < 0 {
        f.add(
            Rule::FutureTime,
            "date_of_information",
            day,
            format!("the day lies after the day it was entered ({entered_day}): check the device clock"),
        );
    }
}
