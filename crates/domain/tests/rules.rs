//! Every validation rule of shared/domain.md, each with a passing and a failing example.
//!
//! One small, consistent scenario (a hazard area, its clearance task and one day's work on it) validates clean.
//! Each case edits that scenario the way a field team gets it wrong, or just right at the boundary, and says
//! which rule must fire on which field, or that the record must come out clean.
//! A rule added to the catalogue without both kinds of example fails `every_rule_has_a_failing_and_a_passing_example`.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use domain::validation::neighbourhood::{Near, RecordSource, Siblings, neighbourhood};
use domain::validation::{check_edit, validate, warning_key};
use domain::{Context, Issue, Programme, Record, RecordBody, RecordType, Related, Rule, Severity};
use geo::{Destination, Geodesic, InterpolatePoint, Point};
use serde_json::{Value, json};
use uuid::Uuid;

use Severity::{Error, Warning};

// ---------------------------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------------------------

const HAZARD: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0001);
const TASK: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0002);
const DAILY: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0003);
const WORKED: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0004);
const FIND: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0005);
const DEMOLITION: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0006);
const QA: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0007);
const COMPLETION: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0008);
const INCIDENT: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0009);
// Records some cases add.
const NEIGHBOUR: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0010);
const TWIN_FIND: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0011);
const OTHER_TASK: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0012);
const OTHER_WORKED: Uuid = Uuid::from_u128(0x0196_c8a0_0000_7000_8000_0000_0000_0013);

/// The day every record of the scenario describes (Asia/Baku).
const DAY: &str = "2025-05-14";

/// When the scenario's records were typed in: 18:00 in Baku, the same day as their date of information.
fn entered_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 5, 14, 14, 0, 0).unwrap()
}

type Position = [f64; 2];

/// South-west corner of the hazard area, inside the default (Azerbaijan) programme box.
const ORIGIN: Position = [47.5, 40.5];

/// The position `metres` from `from` on `bearing` degrees, on the ellipsoid.
fn go(from: Position, bearing: f64, metres: f64) -> Position {
    let p = Geodesic.destination(Point::new(from[0], from[1]), bearing, metres);
    [p.x(), p.y()]
}

/// A closed ring: a square of `side` metres whose south-west corner is `sw`.
fn square(sw: Position, side: f64) -> Vec<Position> {
    let se = go(sw, 90.0, side);
    vec![sw, se, go(se, 0.0, side), go(sw, 0.0, side), sw]
}

/// A worked area's shape: a GeoJSON Polygon.
fn polygon(ring: Vec<Position>) -> Value {
    json!({ "type": "Polygon", "coordinates": [ring] })
}

/// A hazard or completion perimeter: a GeoJSON Polygon too.
fn perimeter(ring: Vec<Position>) -> Value {
    polygon(ring)
}

fn gnss(p: Position) -> Value {
    json!({ "lat": p[1], "lon": p[0], "method": "handheld_gnss", "accuracy_m": 2.0 })
}

fn put(point: &mut Value, p: Position) {
    point["lon"] = json!(p[0]);
    point["lat"] = json!(p[1]);
}

/// The hazard area: a 200 m square.
fn hazard_ring() -> Vec<Position> {
    square(ORIGIN, 200.0)
}

/// South-west corner of box B3, the worked area: 50 m in from the hazard's south and west edges.
fn box_sw() -> Position {
    go(go(ORIGIN, 90.0, 50.0), 0.0, 50.0)
}

/// Where the PMN-2 was found: the middle of box B3.
fn find_at() -> Position {
    go(go(box_sw(), 90.0, 25.0), 0.0, 25.0)
}

/// A perimeter as walked: the corners as start and turning points and, along each side, the intermediate
/// points `between` puts between two corners.
fn walk(corners: &[Position], between: impl Fn(Point, Point) -> Vec<Point>) -> Value {
    let survey = |label: String, kind: &str, p: Position| json!({ "label": label, "kind": kind, "point": gnss(p), "marked": true });
    let mut points = Vec::new();
    for (i, &corner) in corners.iter().enumerate() {
        let kind = if i == 0 { "start" } else { "turning" };
        points.push(survey(format!("TP{}", i + 1), kind, corner));
        let next = corners[(i + 1) % corners.len()];
        let intermediates = between(Point::new(corner[0], corner[1]), Point::new(next[0], next[1]));
        for (j, p) in intermediates.iter().enumerate() {
            points.push(survey(format!("TP{}.{}", i + 1, j + 1), "intermediate", [p.x(), p.y()]));
        }
    }
    Value::Array(points)
}

/// Intermediate points so that no two consecutive points are more than `metres` apart.
fn every(metres: f64) -> impl Fn(Point, Point) -> Vec<Point> {
    move |a, b| Geodesic.points_along_line(a, b, metres, false).collect()
}

/// One hazard area, its clearance task and one team's day on it, as flat JSON records.
#[derive(Debug, Clone)]
struct Scenario {
    hazard: Value,
    task: Value,
    daily: Value,
    worked: Value,
    find: Value,
    demolition: Value,
    qa: Value,
    completion: Value,
    incident: Value,
    /// Records a case adds: a neighbouring worked area, a second find, another task.
    extra: Vec<Value>,
}

impl Scenario {
    fn base() -> Scenario {
        let hazard = hazard_ring();
        Scenario {
            hazard: json!({
                "type": "hazard_area", "id": HAZARD, "label": "CHA-FZ-0142", "date_of_information": DAY,
                "classification": "cha", "status": "worked_on",
                "contamination": ["ap_mines"], "evidence": ["direct_mine_seen"],
                "reference_point": gnss(go(ORIGIN, 225.0, 100.0)), "benchmark": gnss(go(ORIGIN, 180.0, 10.0)),
                "perimeter": perimeter(hazard.clone()), "perimeter_accuracy_m": 2.0, "estimated_area_m2": 40_000.0,
            }),
            task: json!({
                "type": "task", "id": TASK, "label": "T-031", "date_of_information": DAY,
                "activity": "clearance", "status": "active", "hazard_areas": [HAZARD],
                "organisation": "ANAMA", "teams": ["MCT-3"], "planned_start": "2025-05-01", "planned_end": "2025-06-30",
                "required_depth_cm": 20, "authorised_methods": ["manual", "mdd"],
            }),
            daily: json!({
                "type": "daily_report", "id": DAILY, "label": "T-031/DR-0514", "date_of_information": DAY,
                "task": TASK, "team": "MCT-3", "team_leader": "R. Aliyev",
                "personnel": {
                    "p1": { "name": "R. Aliyev", "role": "team_leader", "hours": 8.0 },
                    "p2": { "name": "S. Mammadova", "role": "deminer", "hours": 7.5 },
                },
                "start_time": "2025-05-14T04:00:00Z", "end_time": "2025-05-14T12:00:00Z",
                "stoppages": { "s1": { "reason": "weather", "minutes": 30 } },
                "assets": ["detector #118"], "ground_conditions": "dry", "weather": "clear",
            }),
            worked: json!({
                "type": "worked_area", "id": WORKED, "label": "T-031/B3", "date_of_information": DAY,
                "task": TASK, "daily_report": DAILY, "shape": polygon(square(box_sw(), 50.0)),
                "capture_method": "handheld_gnss", "accuracy_m": 2.0, "reported_area_m2": 2500.0,
                "methods": ["manual"], "depth_achieved_cm": 20, "outcome": "cleared",
            }),
            find: json!({
                "type": "find", "id": FIND, "label": "T-031/F-0007", "date_of_information": DAY,
                "task": TASK, "worked_area": WORKED, "daily_report": DAILY,
                "location": gnss(find_at()), "found_at": "2025-05-14T06:30:00Z", "found_by": "S. Mammadova",
                "detection": "detector", "category": "ap_mine", "model": "PMN-2", "quantity": 1, "depth_cm": 10,
                "condition": "intact", "fuzed": "yes", "armed": "unknown", "booby_trapped": "no", "disposal": "disposed",
            }),
            demolition: json!({
                "type": "demolition", "id": DEMOLITION, "label": "T-031/D-0003", "date_of_information": DAY,
                "task": TASK, "method": "destroyed_in_situ", "site": gnss(find_at()), "at": "2025-05-14T11:00:00Z",
                "operator": "E. Huseynov", "charge": "200 g TNT", "finds": { FIND.to_string(): { "quantity": 1 } },
                "result": "complete",
            }),
            qa: json!({
                "type": "qa_inspection", "id": QA, "label": "T-031/QA-0002", "date_of_information": DAY,
                "kind": "internal_qa", "inspector": "N. Karimov", "task": TASK, "worked_area": WORKED,
                "subject_team": "MCT-3", "area_checked_m2": 250.0, "result": "pass", "item_found": false,
            }),
            completion: json!({
                "type": "completion_report", "id": COMPLETION, "label": "T-031/CR", "date_of_information": DAY,
                "task": TASK, "final_perimeter": perimeter(hazard.clone()), "turning_points": walk(&hazard[..4], every(40.0)),
                "benchmark": gnss(go(ORIGIN, 180.0, 10.0)), "reference_point": gnss(go(ORIGIN, 225.0, 100.0)),
                "depth_cm": 20, "methods": ["manual"], "qa_inspections": [QA], "handover_date": DAY,
                "recipient": "Fuzuli district executive authority", "people_present": { "female_adult": 2, "male_adult": 3 },
            }),
            incident: json!({
                "type": "incident", "id": INCIDENT, "label": "INC-2025-004", "date_of_information": DAY,
                "kind": "demining_accident", "occurred_at": "2025-05-14T09:15:00Z",
                "location": gnss(go(go(ORIGIN, 90.0, 150.0), 0.0, 150.0)), "task": TASK, "device": "PMN-2",
                "activity": "excavation", "investigation_reference": "ANAMA-INV-2025-011",
                "victims": { "v1": { "sex": "male", "age_band": "adult", "injury": "injured" } },
            }),
            extra: Vec::new(),
        }
    }

    fn all(&self) -> Vec<&Value> {
        let base = [
            &self.hazard,
            &self.task,
            &self.daily,
            &self.worked,
            &self.find,
            &self.demolition,
            &self.qa,
            &self.completion,
            &self.incident,
        ];
        base.into_iter().chain(&self.extra).collect()
    }

    fn records(&self) -> Vec<Record> {
        self.all().into_iter().map(parse).collect()
    }

    /// Box B3 moved so that its west edge lies `metres` west of the hazard area's west edge.
    fn move_worked_area_west(&mut self, metres: f64) {
        self.worked["shape"] = polygon(square(go(go(ORIGIN, 270.0, metres), 0.0, 50.0), 50.0));
    }

    /// Box B4, a worked area of the same task whose south-west corner is `sw`.
    fn add_neighbour(&mut self, sw: Position) {
        let mut neighbour = self.worked.clone();
        neighbour["id"] = json!(NEIGHBOUR);
        neighbour["label"] = json!("T-031/B4");
        neighbour["shape"] = polygon(square(sw, 50.0));
        self.extra.push(neighbour);
    }

    /// A second find of the same task, day and model, `metres` east of the first.
    fn add_twin_find(&mut self, metres: f64) {
        let mut twin = self.find.clone();
        twin["id"] = json!(TWIN_FIND);
        twin["label"] = json!("T-031/F-0008");
        put(&mut twin["location"], go(find_at(), 90.0, metres));
        self.extra.push(twin);
    }

    /// Task T-032 on the same hazard area, with a worked area lying exactly where box B3 lies.
    fn add_other_task(&mut self) {
        let mut task = self.task.clone();
        task["id"] = json!(OTHER_TASK);
        task["label"] = json!("T-032");
        let mut worked = self.worked.clone();
        worked["id"] = json!(OTHER_WORKED);
        worked["label"] = json!("T-032/B1");
        worked["task"] = json!(OTHER_TASK);
        worked["daily_report"] = Value::Null;
        self.extra.extend([task, worked]);
    }
}

/// Which record of the scenario a case validates.
#[derive(Debug, Clone, Copy)]
enum Subject {
    Hazard,
    Task,
    Daily,
    Worked,
    Find,
    Demolition,
    Qa,
    Completion,
    Incident,
}

impl Subject {
    fn of(self, s: &Scenario) -> &Value {
        match self {
            Subject::Hazard => &s.hazard,
            Subject::Task => &s.task,
            Subject::Daily => &s.daily,
            Subject::Worked => &s.worked,
            Subject::Find => &s.find,
            Subject::Demolition => &s.demolition,
            Subject::Qa => &s.qa,
            Subject::Completion => &s.completion,
            Subject::Incident => &s.incident,
        }
    }
}

fn parse(value: &Value) -> Record {
    Record::from_json(value.clone(), Uuid::nil())
        .unwrap_or_else(|e| panic!("scenario record does not parse: {e}\n{value:#}"))
}

/// A scenario's records as a source of neighbourhoods (domain::validation::neighbourhood): what a device store
/// would answer, from a list.
struct Listed<'a>(&'a [Record]);

impl RecordSource for Listed<'_> {
    type Error = std::convert::Infallible;

    fn record(&mut self, id: Uuid) -> Result<Option<Record>, Self::Error> {
        Ok(self.0.iter().find(|r| r.id() == id).cloned())
    }

    fn near(&mut self, near: &Near) -> Result<Vec<Record>, Self::Error> {
        Ok(self
            .0
            .iter()
            .filter(|r| r.meta.void.is_none() && near.admits(r))
            .cloned()
            .collect())
    }

    fn evidence(&mut self, hazard_area: Uuid) -> Result<Vec<Record>, Self::Error> {
        let covering: Vec<Uuid> = self
            .0
            .iter()
            .filter(|r| matches!(&r.body, RecordBody::Task(t) if t.hazard_areas.contains(&hazard_area)))
            .map(Record::id)
            .collect();
        Ok(self
            .0
            .iter()
            .filter(|r| r.task_id().is_some_and(|t| covering.contains(&t)))
            .cloned()
            .collect())
    }
}

fn neighbourhood_of(record: &Record, all: &[Record]) -> Related {
    let Ok(related) = neighbourhood(&mut Listed(all), record, Siblings::Gather);
    related
}

fn validate_among(record: &Record, all: &[Record]) -> Vec<Issue> {
    let programme = Programme::default();
    let related = neighbourhood_of(record, all);
    validate(
        record,
        &Context {
            programme: &programme,
            related: &related,
            entered_at: entered_at(),
        },
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------------------------

/// The record a case checked and what validation said about it.
struct Outcome {
    subject: Record,
    issues: Vec<Issue>,
}

/// Validates the subject after `edit`, in the neighbourhood of the edited scenario.
fn validated(subject: Subject, edit: fn(&mut Scenario)) -> Outcome {
    validated_tampered(subject, edit, |_| {})
}

/// As [`validated`], then changes the parsed subject in ways JSON cannot express (NaN).
fn validated_tampered(subject: Subject, edit: fn(&mut Scenario), tamper: fn(&mut Record)) -> Outcome {
    let mut s = Scenario::base();
    edit(&mut s);
    let all = s.records();
    let mut record = parse(subject.of(&s));
    tamper(&mut record);
    let mut issues = validate_among(&record, &all);
    // As a new record entered on a device: the checks of entering it apply too (a daily report on a closed task).
    issues.extend(check_edit(None, &record, &issues, &neighbourhood_of(&record, &all)));
    Outcome {
        subject: record,
        issues,
    }
}

/// Checks an edit of the subject as stored after `before` into the subject after `before` and then `after`,
/// with the warnings the new version validates with.
fn edited(subject: Subject, before: fn(&mut Scenario), after: fn(&mut Scenario)) -> Outcome {
    let mut s = Scenario::base();
    before(&mut s);
    let old = parse(subject.of(&s));
    after(&mut s);
    let new = parse(subject.of(&s));
    let warnings = validate_among(&new, &s.records());
    let issues = check_edit(Some(&old), &new, &warnings, &neighbourhood_of(&new, &s.records()));
    Outcome { subject: new, issues }
}

/// A supervisor approves box B3, which extends 30 m beyond the hazard area, after accepting each of its
/// warnings under the key `warning_key` gives it.
fn approved_with_accepted_warnings() -> Outcome {
    let mut s = Scenario::base();
    s.worked["review"] = json!("submitted");
    s.move_worked_area_west(30.0);
    let old = parse(&s.worked);
    s.worked["review"] = json!("supervisor_approved");
    let warnings: Vec<Issue> = validate_among(&parse(&s.worked), &s.records())
        .into_iter()
        .filter(|i| i.severity == Warning)
        .collect();
    assert!(!warnings.is_empty(), "the case needs a warning to accept");
    for warning in &warnings {
        s.worked["accepted_warnings"][warning_key(warning)] =
            json!({ "by": "N. Karimov", "comment": "boundary extension agreed with the task manager" });
    }
    let new = parse(&s.worked);
    let warnings = validate_among(&new, &s.records());
    let issues = check_edit(Some(&old), &new, &warnings, &Related::default());
    Outcome { subject: new, issues }
}

// ---------------------------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------------------------

/// What a case expects of the rule it exercises.
#[derive(Debug)]
enum Expect {
    /// The rule fires on exactly this field (every issue of the rule names it), with the severity shared/domain.md
    /// gives it (E or W) and, when given, exactly this value.
    Fires {
        severity: Severity,
        field: String,
        value: Option<String>,
    },
    /// The record is clean: this rule does not fire, and neither does any other.
    Passes,
}

struct Case {
    rule: Rule,
    what: &'static str,
    expect: Expect,
    run: fn() -> Outcome,
}

impl Case {
    fn value(mut self, expected: impl Into<String>) -> Case {
        if let Expect::Fires { value, .. } = &mut self.expect {
            *value = Some(expected.into());
        }
        self
    }
}

fn fires(rule: Rule, severity: Severity, field: impl Into<String>, what: &'static str, run: fn() -> Outcome) -> Case {
    Case {
        rule,
        what,
        expect: Expect::Fires {
            severity,
            field: field.into(),
            value: None,
        },
        run,
    }
}

fn passes(rule: Rule, what: &'static str, run: fn() -> Outcome) -> Case {
    Case {
        rule,
        what,
        expect: Expect::Passes,
        run,
    }
}

fn cases() -> Vec<Case> {
    use Subject::*;
    vec![
        // coordinates
        fires(
            Rule::Coordinates,
            Error,
            "location",
            "find at (0,0), what a GPS without a fix reports",
            || validated(Find, |s| put(&mut s.find["location"], [0.0, 0.0])),
        )
        .value("lon 0, lat 0"),
        fires(
            Rule::Coordinates,
            Error,
            "location",
            "find at latitude 91, next to another find",
            || {
                validated(Find, |s| {
                    s.add_twin_find(3.0);
                    s.find["location"]["lat"] = json!(91.0);
                })
            },
        ),
        fires(
            Rule::Coordinates,
            Error,
            "location",
            "find with a NaN longitude (built in Rust: JSON has no NaN)",
            || {
                validated_tampered(
                    Find,
                    |s| s.add_twin_find(3.0),
                    |r| {
                        if let RecordBody::Find(find) = &mut r.body {
                            find.location.lon = f64::NAN;
                        }
                    },
                )
            },
        ),
        fires(
            Rule::Coordinates,
            Error,
            "shape.coordinates[0][2]",
            "worked-area vertex at (0,0)",
            || validated(Worked, |s| s.worked["shape"]["coordinates"][0][2] = json!([0.0, 0.0])),
        )
        .value("lon 0, lat 0"),
        fires(
            Rule::Coordinates,
            Error,
            "shape.coordinates[0][1]",
            "worked-area vertex with a NaN latitude, next to box B4",
            || {
                validated_tampered(
                    Worked,
                    |s| s.add_neighbour(go(box_sw(), 90.0, 50.0)),
                    |r| {
                        if let RecordBody::WorkedArea(w) = &mut r.body
                            && let domain::geometry::AreaShape::Polygon { coordinates } = &mut w.shape
                        {
                            coordinates[0][1][1] = f64::NAN;
                        }
                    },
                )
            },
        ),
        fires(
            Rule::Coordinates,
            Error,
            "shape.coordinates[0][2]",
            "worked-area vertex at latitude 1e300, next to box B4",
            || {
                validated(Worked, |s| {
                    s.add_neighbour(go(box_sw(), 90.0, 50.0));
                    s.worked["shape"]["coordinates"][0][2][1] = json!(1e300);
                })
            },
        ),
        passes(
            Rule::Coordinates,
            "find at 40.5 °N 47.5 °E with 6 or more decimals",
            || validated(Find, |_| {}),
        ),
        // polygon
        fires(
            Rule::Polygon,
            Error,
            "shape.coordinates[0]",
            "worked-area ring not closed (last position dropped)",
            || {
                validated(Worked, |s| {
                    s.worked["shape"]["coordinates"][0].as_array_mut().unwrap().pop();
                })
            },
        ),
        fires(
            Rule::Polygon,
            Error,
            "shape.coordinates",
            "bow-tie worked area crossing itself, next to box B4",
            || {
                validated(Worked, |s| {
                    s.add_neighbour(go(box_sw(), 90.0, 40.0));
                    let [sw, se, ne, nw, _] = square(box_sw(), 50.0)[..] else {
                        unreachable!()
                    };
                    s.worked["shape"] = polygon(vec![sw, se, nw, ne, sw]);
                })
            },
        ),
        fires(
            Rule::Polygon,
            Error,
            "shape.coordinates[0]",
            "ring with only 2 distinct vertices",
            || {
                validated(Worked, |s| {
                    let [sw, se, ..] = square(box_sw(), 50.0)[..] else {
                        unreachable!()
                    };
                    s.worked["shape"] = polygon(vec![sw, se, sw, se, sw]);
                })
            },
        )
        .value("5 positions"),
        fires(
            Rule::Polygon,
            Error,
            "perimeter.coordinates[0]",
            "hazard perimeter not closed",
            || {
                validated(Hazard, |s| {
                    s.hazard["perimeter"]["coordinates"][0].as_array_mut().unwrap().pop();
                })
            },
        ),
        passes(Rule::Polygon, "worked-area ring wound clockwise", || {
            validated(Worked, |s| {
                let mut ring = square(box_sw(), 50.0);
                ring.reverse();
                s.worked["shape"] = polygon(ring);
            })
        }),
        // depth_range
        fires(Rule::DepthRange, Error, "depth_cm", "find at depth -1 cm", || {
            validated(Find, |s| s.find["depth_cm"] = json!(-1))
        })
        .value("-1"),
        fires(
            Rule::DepthRange,
            Error,
            "required_depth_cm",
            "task requiring -10 cm",
            || validated(Task, |s| s.task["required_depth_cm"] = json!(-10)),
        )
        .value("-10"),
        passes(Rule::DepthRange, "find on the surface, depth 0", || {
            validated(Find, |s| s.find["depth_cm"] = json!(0))
        }),
        // quantity_range
        fires(Rule::QuantityRange, Error, "quantity", "find of 0 items", || {
            validated(Find, |s| s.find["quantity"] = json!(0))
        })
        .value("0"),
        fires(
            Rule::QuantityRange,
            Error,
            format!("finds.{FIND}.quantity"),
            "demolition destroying 0 of a find",
            || {
                validated(Demolition, |s| {
                    s.demolition["finds"][FIND.to_string()]["quantity"] = json!(0)
                })
            },
        )
        .value("0"),
        passes(Rule::QuantityRange, "find of exactly 1 item", || {
            validated(Find, |s| s.find["quantity"] = json!(1))
        }),
        // area_range
        fires(
            Rule::AreaRange,
            Error,
            "reported_area_m2",
            "worked area reported as -2500 m²",
            || validated(Worked, |s| s.worked["reported_area_m2"] = json!(-2500.0)),
        )
        .value("-2500"),
        fires(
            Rule::AreaRange,
            Error,
            "rework_area_m2",
            "QA asking for -50 m² of rework",
            || validated(Qa, |s| s.qa["rework_area_m2"] = json!(-50.0)),
        )
        .value("-50"),
        passes(Rule::AreaRange, "QA that checked 0 m²", || {
            validated(Qa, |s| s.qa["area_checked_m2"] = json!(0.0))
        }),
        // bearing_range
        fires(
            Rule::BearingRange,
            Error,
            "location.bearing_deg",
            "find located at bearing 360° from BM-1",
            || validated(Find, |s| located_by_bearing(s, 360.0)),
        )
        .value("360"),
        passes(Rule::BearingRange, "find located at bearing 359.9° from BM-1", || {
            validated(Find, |s| located_by_bearing(s, 359.9))
        }),
        // accuracy_range
        fires(
            Rule::AccuracyRange,
            Error,
            "location.accuracy_m",
            "find with accuracy -1 m",
            || validated(Find, |s| s.find["location"]["accuracy_m"] = json!(-1.0)),
        )
        .value("-1"),
        fires(
            Rule::AccuracyRange,
            Error,
            "accuracy_m",
            "worked area with accuracy -1 m",
            || validated(Worked, |s| s.worked["accuracy_m"] = json!(-1.0)),
        )
        .value("-1"),
        passes(Rule::AccuracyRange, "find taken by RTK with accuracy 0 m", || {
            validated(Find, |s| {
                s.find["location"]["method"] = json!("rtk_gnss");
                s.find["location"]["accuracy_m"] = json!(0.0);
            })
        }),
        // non_negative
        fires(
            Rule::NonNegative,
            Error,
            "stoppages.s1.minutes",
            "stoppage of -5 minutes",
            || validated(Daily, |s| s.daily["stoppages"]["s1"]["minutes"] = json!(-5)),
        )
        .value("-5"),
        fires(
            Rule::NonNegative,
            Error,
            "personnel.p2.hours",
            "deminer on site -7.5 hours",
            || validated(Daily, |s| s.daily["personnel"]["p2"]["hours"] = json!(-7.5)),
        )
        .value("-7.5"),
        passes(Rule::NonNegative, "stoppage of 0 minutes", || {
            validated(Daily, |s| s.daily["stoppages"]["s1"]["minutes"] = json!(0))
        }),
        // required_field
        fires(
            Rule::RequiredField,
            Error,
            "inaccessible_reason",
            "worked area inaccessible without a reason",
            || validated(Worked, |s| s.worked["outcome"] = json!("inaccessible")),
        )
        .value("null"),
        fires(Rule::RequiredField, Error, "label", "find with a blank label", || {
            validated(Find, |s| s.find["label"] = json!("  "))
        }),
        passes(
            Rule::RequiredField,
            "worked area inaccessible because of flooding",
            || {
                validated(Worked, |s| {
                    s.worked["outcome"] = json!("inaccessible");
                    s.worked["inaccessible_reason"] = json!("flooded by the river in spate");
                })
            },
        ),
        // unknown_code
        fires(
            Rule::UnknownCode,
            Error,
            "detection",
            "find detected by \"metal_detector\"",
            || validated(Find, |s| s.find["detection"] = json!("metal_detector")),
        )
        .value("metal_detector"),
        fires(
            Rule::UnknownCode,
            Error,
            "model",
            "find of model PMN-3, not in the catalogue",
            || validated(Find, |s| s.find["model"] = json!("PMN-3")),
        )
        .value("PMN-3"),
        passes(Rule::UnknownCode, "find detected by a dog indication", || {
            validated(Find, |s| s.find["detection"] = json!("dog_indication"))
        }),
        // model_category
        fires(
            Rule::ModelCategory,
            Error,
            "category",
            "TM-62M entered as an AP mine",
            || validated(Find, |s| s.find["model"] = json!("TM-62M")),
        )
        .value("ap_mine"),
        passes(Rule::ModelCategory, "TM-62M entered as an AT mine", || {
            validated(Find, |s| {
                s.find["model"] = json!("TM-62M");
                s.find["category"] = json!("at_mine");
            })
        }),
        // time_order
        fires(
            Rule::TimeOrder,
            Error,
            "end_time",
            "daily report starting at 13:00 UTC, after its 12:00 end",
            || validated(Daily, |s| s.daily["start_time"] = json!("2025-05-14T13:00:00Z")),
        )
        .value("2025-05-14T12:00:00+00:00"),
        fires(
            Rule::TimeOrder,
            Error,
            "planned_end",
            "task planned to end before it starts",
            || validated(Task, |s| s.task["planned_end"] = json!("2025-04-30")),
        )
        .value("2025-04-30"),
        passes(
            Rule::TimeOrder,
            "daily report starting and ending at the same instant",
            || validated(Daily, |s| s.daily["start_time"] = json!("2025-05-14T12:00:00Z")),
        ),
        // demolition_after_find
        fires(
            Rule::DemolitionAfterFind,
            Error,
            "at",
            "demolition at 06:00, before the find at 06:30",
            || validated(Demolition, |s| s.demolition["at"] = json!("2025-05-14T06:00:00Z")),
        )
        .value("2025-05-14T06:00:00+00:00"),
        passes(
            Rule::DemolitionAfterFind,
            "demolition in the same minute as the find",
            || validated(Demolition, |s| s.demolition["at"] = json!("2025-05-14T06:30:00Z")),
        ),
        // hazard_closure
        fires(
            Rule::HazardClosure,
            Error,
            "status",
            "hazard closed while the completion report is a draft",
            || validated(Hazard, |s| s.hazard["status"] = json!("closed")),
        )
        .value("closed"),
        fires(
            Rule::HazardClosure,
            Error,
            "status",
            "hazard closed with a find still pending disposal",
            || {
                validated(Hazard, |s| {
                    close_hazard(s);
                    s.find["disposal"] = json!("pending");
                })
            },
        )
        .value("closed"),
        fires(
            Rule::HazardClosure,
            Error,
            "status",
            "hazard closed after a QA with a major non-conformity only",
            || {
                validated(Hazard, |s| {
                    close_hazard(s);
                    s.qa["result"] = json!("major_non_conformity");
                })
            },
        )
        .value("closed"),
        passes(
            Rule::HazardClosure,
            "hazard closed with an approved completion report, passed QA, every find disposed",
            || validated(Hazard, close_hazard),
        ),
        // task_completed
        fires(
            Rule::TaskCompleted,
            Error,
            "task",
            "daily report on a completed task",
            || validated(Daily, |s| s.task["status"] = json!("completed")),
        )
        .value(TASK.to_string()),
        fires(
            Rule::TaskCompleted,
            Error,
            "task",
            "daily report on a cancelled task",
            || validated(Daily, |s| s.task["status"] = json!("cancelled")),
        )
        .value(TASK.to_string()),
        passes(
            Rule::TaskCompleted,
            "daily report written before its task completed, approved after",
            || {
                edited(
                    Daily,
                    |s| s.daily["review"] = json!("submitted"),
                    |s| {
                        s.task["status"] = json!("completed");
                        s.daily["review"] = json!("supervisor_approved");
                    },
                )
            },
        ),
        passes(
            Rule::TaskCompleted,
            "daily report written before its task completed, validated again",
            || {
                let mut s = Scenario::base();
                s.task["status"] = json!("completed");
                let record = parse(&s.daily);
                let issues = validate_among(&record, &s.records());
                Outcome {
                    subject: record,
                    issues,
                }
            },
        ),
        passes(
            Rule::TaskCompleted,
            "daily report on a task reopened with a reason",
            || validated(Daily, |s| s.task["reopen_reason"] = json!("QA found a PMN-2 in box B3")),
        ),
        // link_task
        fires(
            Rule::LinkTask,
            Error,
            "worked_area",
            "find linked to a worked area of task T-032",
            || {
                validated(Find, |s| {
                    s.add_other_task();
                    s.find["worked_area"] = json!(OTHER_WORKED);
                })
            },
        )
        .value(OTHER_WORKED.to_string()),
        fires(
            Rule::LinkTask,
            Error,
            "worked_area",
            "QA inspection of a worked area of task T-032",
            || {
                validated(Qa, |s| {
                    s.add_other_task();
                    s.qa["worked_area"] = json!(OTHER_WORKED);
                })
            },
        )
        .value(OTHER_WORKED.to_string()),
        passes(
            Rule::LinkTask,
            "find linked to a worked area of its own task while T-032 works the same ground",
            || validated(Find, Scenario::add_other_task),
        ),
        // link_type
        fires(
            Rule::LinkType,
            Error,
            "worked_area",
            "find whose worked_area points at the task",
            || validated(Find, |s| s.find["worked_area"] = json!(TASK)),
        )
        .value(TASK.to_string()),
        fires(
            Rule::LinkType,
            Error,
            "finds",
            "demolition naming the worked area as a find",
            || {
                validated(Demolition, |s| {
                    s.demolition["finds"] = json!({ WORKED.to_string(): { "quantity": 1 } })
                })
            },
        )
        .value(WORKED.to_string()),
        passes(
            Rule::LinkType,
            "find linked to its task, worked area and daily report",
            || validated(Find, |_| {}),
        ),
        // clearance_depth
        fires(
            Rule::ClearanceDepth,
            Error,
            "depth_achieved_cm",
            "box cleared to 15 cm, task requires 20 cm",
            || validated(Worked, |s| s.worked["depth_achieved_cm"] = json!(15)),
        )
        .value("15"),
        fires(
            Rule::ClearanceDepth,
            Error,
            "depth_achieved_cm",
            "box cleared without a depth achieved",
            || validated(Worked, |s| s.worked["depth_achieved_cm"] = Value::Null),
        )
        .value("null"),
        passes(
            Rule::ClearanceDepth,
            "box cleared to exactly the required 20 cm",
            || validated(Worked, |s| s.worked["depth_achieved_cm"] = json!(20)),
        ),
        passes(Rule::ClearanceDepth, "box reduced (not cleared) at 15 cm", || {
            validated(Worked, |s| {
                s.worked["outcome"] = json!("reduced");
                s.worked["depth_achieved_cm"] = json!(15);
            })
        }),
        // qa_item_found
        fires(
            Rule::QaItemFound,
            Error,
            "result",
            "QA found an item yet passed",
            || validated(Qa, |s| s.qa["item_found"] = json!(true)),
        )
        .value("pass"),
        fires(
            Rule::QaItemFound,
            Error,
            "result",
            "QA found an item, rated a major non-conformity",
            || {
                validated(Qa, |s| {
                    s.qa["item_found"] = json!(true);
                    s.qa["result"] = json!("major_non_conformity");
                })
            },
        )
        .value("major_non_conformity"),
        passes(
            Rule::QaItemFound,
            "QA found an item, rated a critical non-conformity",
            || {
                validated(Qa, |s| {
                    s.qa["item_found"] = json!(true);
                    s.qa["result"] = json!("critical_non_conformity");
                })
            },
        ),
        // approved_immutable
        fires(
            Rule::ApprovedImmutable,
            Error,
            "review",
            "approved find edited in place (quantity 1 → 2)",
            || {
                edited(
                    Find,
                    |s| s.find["review"] = json!("supervisor_approved"),
                    |s| s.find["quantity"] = json!(2),
                )
            },
        )
        .value("supervisor_approved"),
        passes(
            Rule::ApprovedImmutable,
            "approved find passed on to HQ approval unchanged",
            || {
                edited(
                    Find,
                    |s| s.find["review"] = json!("supervisor_approved"),
                    |s| s.find["review"] = json!("hq_approved"),
                )
            },
        ),
        // review_transition
        fires(
            Rule::ReviewTransition,
            Error,
            "review",
            "draft approved directly by the supervisor",
            || edited(Find, |_| {}, |s| s.find["review"] = json!("supervisor_approved")),
        )
        .value("supervisor_approved"),
        fires(
            Rule::ReviewTransition,
            Error,
            "review",
            "submitted record approved by HQ, skipping the supervisor",
            || {
                edited(
                    Find,
                    |s| s.find["review"] = json!("submitted"),
                    |s| s.find["review"] = json!("hq_approved"),
                )
            },
        )
        .value("hq_approved"),
        passes(
            Rule::ReviewTransition,
            "submitted find approved by the supervisor",
            || {
                edited(
                    Find,
                    |s| s.find["review"] = json!("submitted"),
                    |s| s.find["review"] = json!("supervisor_approved"),
                )
            },
        ),
        // unaccepted_warnings
        fires(
            Rule::UnacceptedWarnings,
            Error,
            "accepted_warnings",
            "box 30 m beyond the hazard approved, warning not accepted",
            || {
                edited(
                    Worked,
                    |s| {
                        s.worked["review"] = json!("submitted");
                        s.move_worked_area_west(30.0);
                    },
                    |s| s.worked["review"] = json!("supervisor_approved"),
                )
            },
        )
        .value("1"),
        passes(
            Rule::UnacceptedWarnings,
            "box 30 m beyond the hazard approved, warning accepted with a comment",
            approved_with_accepted_warnings,
        ),
        // return_reason
        fires(
            Rule::ReturnReason,
            Error,
            "return_reason",
            "submitted box returned without a reason",
            || {
                edited(
                    Worked,
                    |s| s.worked["review"] = json!("submitted"),
                    |s| s.worked["review"] = json!("returned"),
                )
            },
        )
        .value("null"),
        passes(
            Rule::ReturnReason,
            "submitted box returned because its lanes are not marked",
            || {
                edited(
                    Worked,
                    |s| s.worked["review"] = json!("submitted"),
                    |s| {
                        s.worked["review"] = json!("returned");
                        s.worked["return_reason"] = json!("lanes 7-12 are not marked on the ground");
                    },
                )
            },
        ),
        // reopen_reason
        fires(
            Rule::ReopenReason,
            Error,
            "reopen_reason",
            "completed task reopened without a reason",
            || {
                edited(
                    Task,
                    |s| s.task["status"] = json!("completed"),
                    |s| s.task["status"] = json!("active"),
                )
            },
        )
        .value("null"),
        fires(
            Rule::ReopenReason,
            Error,
            "reopen_reason",
            "completed task reopened with a blank reason",
            || {
                edited(
                    Task,
                    |s| s.task["status"] = json!("completed"),
                    |s| {
                        s.task["status"] = json!("active");
                        s.task["reopen_reason"] = json!(" ");
                    },
                )
            },
        ),
        passes(
            Rule::ReopenReason,
            "completed task reopened because QA found a mine",
            || {
                edited(
                    Task,
                    |s| s.task["status"] = json!("completed"),
                    |s| {
                        s.task["status"] = json!("active");
                        s.task["reopen_reason"] = json!("QA found a PMN-2 in box B3");
                    },
                )
            },
        ),
        // programme_area
        fires(
            Rule::ProgrammeArea,
            Warning,
            "location",
            "find with latitude and longitude swapped",
            || validated(Find, |s| put(&mut s.find["location"], [find_at()[1], find_at()[0]])),
        ),
        fires(
            Rule::ProgrammeArea,
            Warning,
            "benchmark",
            "completion report whose benchmark has lat and lon swapped",
            || {
                validated(Completion, |s| {
                    let [lon, lat] = go(ORIGIN, 180.0, 10.0);
                    put(&mut s.completion["benchmark"], [lat, lon]);
                })
            },
        ),
        passes(
            Rule::ProgrammeArea,
            "incident at 41.94 °N, just inside the programme's northern edge",
            || validated(Incident, |s| put(&mut s.incident["location"], [48.0, 41.94])),
        ),
        // point_spacing
        fires(
            Rule::PointSpacing,
            Warning,
            "turning_points",
            "80 m square walked without intermediate points",
            || {
                validated(Completion, |s| {
                    s.completion["turning_points"] = walk(&square(ORIGIN, 80.0)[..4], |_, _| Vec::new())
                })
            },
        )
        .value("80 m"),
        passes(
            Rule::PointSpacing,
            "80 m square walked with an intermediate point every 40 m",
            || {
                validated(Completion, |s| {
                    s.completion["turning_points"] = walk(&square(ORIGIN, 80.0)[..4], every(40.0))
                })
            },
        ),
        passes(
            Rule::PointSpacing,
            "80 m square with one intermediate point 60 m along each side",
            || {
                validated(Completion, |s| {
                    let sixty_along = |a, b| vec![Geodesic.point_at_distance_between(a, b, 60.0)];
                    s.completion["turning_points"] = walk(&square(ORIGIN, 80.0)[..4], sixty_along)
                })
            },
        ),
        // vertex_spacing
        fires(
            Rule::VertexSpacing,
            Warning,
            "perimeter.coordinates[0][0]",
            "hazard perimeter with vertices 6 km apart",
            || validated(Hazard, |s| s.hazard["perimeter"] = perimeter(triangle(6_000.0))),
        )
        .value("6000 m"),
        passes(
            Rule::VertexSpacing,
            "hazard perimeter with vertices 4.9 km apart",
            || validated(Hazard, |s| s.hazard["perimeter"] = perimeter(triangle(4_900.0))),
        ),
        // area_mismatch
        fires(
            Rule::AreaMismatch,
            Warning,
            "reported_area_m2",
            "2500 m² box reported 6 % larger",
            || validated(Worked, |s| s.worked["reported_area_m2"] = json!(2650.0)),
        )
        .value("2650"),
        fires(
            Rule::AreaMismatch,
            Warning,
            "reported_area_m2",
            "100 m² box reported as 115 m² (more than 10 m² off)",
            || validated(Worked, |s| small_box(s, 115.0)),
        )
        .value("115"),
        passes(Rule::AreaMismatch, "2500 m² box reported 3 % larger", || {
            validated(Worked, |s| s.worked["reported_area_m2"] = json!(2575.0))
        }),
        passes(
            Rule::AreaMismatch,
            "100 m² box reported as 108 m² (8 %, but under 10 m²)",
            || validated(Worked, |s| small_box(s, 108.0)),
        ),
        // outside_hazard
        fires(
            Rule::OutsideHazard,
            Warning,
            "shape",
            "box 30 m beyond the hazard's west edge, accuracy 2 m",
            || validated(Worked, |s| s.move_worked_area_west(30.0)),
        ),
        passes(
            Rule::OutsideHazard,
            "box 1 m beyond the hazard's west edge, accuracy 2 m",
            || validated(Worked, |s| s.move_worked_area_west(1.0)),
        ),
        fires(
            Rule::OutsideHazard,
            Warning,
            "shape",
            "box 3 m beyond an RTK-surveyed hazard edge (accuracy 0 m), box accuracy 2 m",
            || {
                validated(Worked, |s| {
                    s.hazard["perimeter_accuracy_m"] = json!(0.0);
                    s.move_worked_area_west(3.0);
                })
            },
        ),
        passes(
            Rule::OutsideHazard,
            "box 3 m beyond a hazard edge of accuracy 2 m, box accuracy 2 m",
            || validated(Worked, |s| s.move_worked_area_west(3.0)),
        ),
        // find_outside_worked_area
        fires(
            Rule::FindOutsideWorkedArea,
            Warning,
            "location",
            "find 20 m west of its worked area",
            || {
                validated(Find, |s| {
                    put(&mut s.find["location"], go(go(box_sw(), 0.0, 25.0), 270.0, 20.0))
                })
            },
        ),
        passes(
            Rule::FindOutsideWorkedArea,
            "find 3 m west of its worked area, within 2 m + 2 m accuracy",
            || {
                validated(Find, |s| {
                    put(&mut s.find["location"], go(go(box_sw(), 0.0, 25.0), 270.0, 3.0))
                })
            },
        ),
        // overlap
        fires(
            Rule::Overlap,
            Warning,
            "shape",
            "box B4 overlapping box B3 by 5 %",
            || validated(Worked, |s| s.add_neighbour(go(box_sw(), 90.0, 47.5))),
        ),
        fires(
            Rule::Overlap,
            Warning,
            "shape",
            "clockwise box B3 overlapping box B4 by 5 %",
            || {
                validated(Worked, |s| {
                    s.add_neighbour(go(box_sw(), 90.0, 47.5));
                    let mut ring = square(box_sw(), 50.0);
                    ring.reverse();
                    s.worked["shape"] = polygon(ring);
                })
            },
        ),
        passes(Rule::Overlap, "box B4 touching box B3 along its east edge", || {
            validated(Worked, |s| s.add_neighbour(go(box_sw(), 90.0, 50.0)))
        }),
        passes(Rule::Overlap, "box B3 corrected by box B4 on ground they share", || {
            validated(Worked, |s| {
                s.add_neighbour(go(box_sw(), 90.0, 10.0));
                s.extra[0]["supersedes"] = s.worked["id"].clone();
            })
        }),
        passes(Rule::Overlap, "box B3 correcting box B4 on ground they share", || {
            validated(Worked, |s| {
                s.add_neighbour(go(box_sw(), 90.0, 10.0));
                s.worked["supersedes"] = json!(NEIGHBOUR);
            })
        }),
        // find_deeper_than_required
        fires(
            Rule::FindDeeperThanRequired,
            Warning,
            "depth_cm",
            "find at 30 cm, task requires 20 cm",
            || validated(Find, |s| s.find["depth_cm"] = json!(30)),
        )
        .value("30"),
        passes(
            Rule::FindDeeperThanRequired,
            "find at exactly the required 20 cm",
            || validated(Find, |s| s.find["depth_cm"] = json!(20)),
        ),
        // future_time
        fires(
            Rule::FutureTime,
            Warning,
            "found_at",
            "find found 1 hour after it was entered",
            || validated(Find, |s| s.find["found_at"] = json!("2025-05-14T15:00:00Z")),
        )
        .value("2025-05-14T15:00:00+00:00"),
        fires(
            Rule::FutureTime,
            Warning,
            "date_of_information",
            "find describing the day after it was entered",
            || validated(Find, |s| s.find["date_of_information"] = json!("2025-05-15")),
        )
        .value("2025-05-15"),
        passes(
            Rule::FutureTime,
            "find found 9 minutes after it was entered (clock drift)",
            || validated(Find, |s| s.find["found_at"] = json!("2025-05-14T14:09:00Z")),
        ),
        // late_entry
        fires(
            Rule::LateEntry,
            Warning,
            "date_of_information",
            "incident entered 10 days after it happened",
            || {
                validated(Incident, |s| {
                    s.incident["date_of_information"] = json!("2025-05-04");
                    s.incident["occurred_at"] = json!("2025-05-04T09:15:00Z");
                })
            },
        )
        .value("2025-05-04"),
        passes(Rule::LateEntry, "incident entered 7 days after it happened", || {
            validated(Incident, |s| {
                s.incident["date_of_information"] = json!("2025-05-07");
                s.incident["occurred_at"] = json!("2025-05-07T09:15:00Z");
            })
        }),
        // duplicate_find
        fires(
            Rule::DuplicateFind,
            Warning,
            "location",
            "second PMN-2 the same day 0.5 m away",
            || validated(Find, |s| s.add_twin_find(0.5)),
        )
        .value("PMN-2"),
        passes(Rule::DuplicateFind, "second PMN-2 the same day 3 m away", || {
            validated(Find, |s| s.add_twin_find(3.0))
        }),
        passes(Rule::DuplicateFind, "a correction of the PMN-2 0.5 m away", || {
            validated(Find, |s| {
                s.add_twin_find(0.5);
                s.extra[0]["supersedes"] = s.find["id"].clone();
            })
        }),
        passes(Rule::DuplicateFind, "a PMN-4 0.5 m from the PMN-2", || {
            validated(Find, |s| {
                s.add_twin_find(0.5);
                s.extra[0]["model"] = json!("PMN-4");
            })
        }),
        // misfire
        fires(Rule::Misfire, Warning, "result", "demolition that misfired", || {
            validated(Demolition, |s| s.demolition["result"] = json!("misfire"))
        })
        .value("misfire"),
        passes(Rule::Misfire, "demolition that went off completely", || {
            validated(Demolition, |s| s.demolition["result"] = json!("complete"))
        }),
    ]
}

/// The find's location as measured from benchmark BM-1 by bearing and distance.
fn located_by_bearing(s: &mut Scenario, bearing: f64) {
    let location = &mut s.find["location"];
    location["method"] = json!("bearing_distance");
    location["bearing_deg"] = json!(bearing);
    location["distance_m"] = json!(12.5);
    location["from"] = json!("BM-1");
}

/// Everything a hazard area needs to close: an approved completion report, a passed QA inspection and every
/// find disposed (the base scenario has the last two).
fn close_hazard(s: &mut Scenario) {
    s.hazard["status"] = json!("closed");
    s.completion["review"] = json!("supervisor_approved");
}

/// A triangle whose south edge is `edge` metres long and whose other two edges are shorter.
fn triangle(edge: f64) -> Vec<Position> {
    let east = go(ORIGIN, 90.0, edge);
    let apex = go(go(ORIGIN, 90.0, edge / 2.0), 0.0, 1_000.0);
    vec![ORIGIN, east, apex, ORIGIN]
}

/// Box B3 shrunk to 10 m × 10 m (100 m²), reported as `reported` m².
fn small_box(s: &mut Scenario, reported: f64) {
    s.worked["shape"] = polygon(square(box_sw(), 10.0));
    s.worked["reported_area_m2"] = json!(reported);
}

/// Runs one case; the error says what was expected and lists every issue found.
fn check(case: &Case) -> Result<(), String> {
    // Validation takes untrusted input: a panic is a failure of this case, not of the whole table.
    let Outcome { subject, issues } = std::panic::catch_unwind(case.run).map_err(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        format!("panicked: {}", text.unwrap_or_default())
    })?;
    let listing: String = issues.iter().map(|i| format!("\n      {i}")).collect();
    let rule = case.rule;
    match &case.expect {
        Expect::Passes => {
            if issues.is_empty() {
                Ok(())
            } else {
                Err(format!("expected a clean record, got:{listing}"))
            }
        }
        Expect::Fires { severity, field, value } => {
            if rule.severity() != *severity {
                return Err(format!(
                    "shared/domain.md makes {rule} {severity:?}, the catalogue {:?}",
                    rule.severity()
                ));
            }
            let fired: Vec<&Issue> = issues.iter().filter(|i| i.rule == rule).collect();
            if fired.is_empty() {
                return Err(format!("expected {rule} on `{field}`, got:{listing}"));
            }
            for issue in fired {
                let text = issue.to_string();
                let problems = [
                    (
                        issue.field != *field,
                        format!("names field `{}`, expected `{field}`", issue.field),
                    ),
                    (
                        issue.severity != rule.severity(),
                        format!("has severity {:?}", issue.severity),
                    ),
                    (issue.value.is_empty(), "has an empty value".to_string()),
                    (
                        value.as_ref().is_some_and(|v| *v != issue.value),
                        format!("has value {}, expected {value:?}", issue.value),
                    ),
                    (issue.message.is_empty(), "has an empty message".to_string()),
                    (
                        issue.record != subject.id() || issue.label != subject.meta.label,
                        "names another record".to_string(),
                    ),
                    (!text.contains(rule.code()), "does not show the rule code".to_string()),
                    (
                        !text.contains(&format!("`{}`", issue.field)),
                        "does not show the field".to_string(),
                    ),
                    (!text.contains(&issue.value), "does not show the value".to_string()),
                ];
                if let Some((_, problem)) = problems.iter().find(|(wrong, _)| *wrong) {
                    return Err(format!("the issue `{text}` {problem}; all issues:{listing}"));
                }
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

/// Every record reads back from its own JSON form unchanged: what a store writes, it can read.
#[test]
fn every_record_type_round_trips_through_its_json_form() {
    for record in Scenario::base().records() {
        let again = Record::from_json(record.to_json(), Uuid::nil())
            .unwrap_or_else(|e| panic!("{} does not read back: {e}", record.record_type()));
        assert_eq!(again, record);
    }
}

#[test]
fn base_scenario_validates_clean() {
    let scenario = Scenario::base();
    let records = scenario.records();
    let types: Vec<RecordType> = records.iter().map(Record::record_type).collect();
    assert_eq!(types, RecordType::ALL, "the scenario has one record of every type");
    let mut failures = Vec::new();
    for record in &records {
        let issues = validate_among(record, &records);
        // A new draft entered on the device, as the store checks it.
        let issues: Vec<Issue> = issues
            .iter()
            .cloned()
            .chain(check_edit(None, record, &issues, &neighbourhood_of(record, &records)))
            .collect();
        if !issues.is_empty() {
            let listing: String = issues.iter().map(|i| format!("\n  {i}")).collect();
            failures.push(format!("{} {}:{listing}", record.record_type(), record.meta.label));
        }
    }
    assert!(
        failures.is_empty(),
        "the base scenario must validate without errors or warnings:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_rule_fires_where_it_must_and_nowhere_else() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| check(case).err().map(|e| format!("{} ({}): {e}", case.rule, case.what)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_has_a_failing_and_a_passing_example() {
    let cases = cases();
    let missing: Vec<String> = Rule::ALL
        .iter()
        .flat_map(|&rule| {
            let of_rule = || cases.iter().filter(move |c| c.rule == rule);
            let failing = of_rule().any(|c| matches!(c.expect, Expect::Fires { .. }));
            let passing = of_rule().any(|c| matches!(c.expect, Expect::Passes));
            [
                (!failing).then(|| format!("{rule}: no failing example")),
                (!passing).then(|| format!("{rule}: no passing example")),
            ]
        })
        .flatten()
        .collect();
    assert!(
        missing.is_empty(),
        "every rule needs both examples in cases():\n{}",
        missing.join("\n")
    );
}

#[test]
fn case_descriptions_are_unique() {
    let cases = cases();
    let mut whats: Vec<&str> = cases.iter().map(|c| c.what).collect();
    whats.sort_unstable();
    let repeated: Vec<&&str> = whats.windows(2).filter(|w| w[0] == w[1]).map(|w| &w[0]).collect();
    assert!(
        repeated.is_empty(),
        "each case needs its own description, repeated: {repeated:?}"
    );
}
