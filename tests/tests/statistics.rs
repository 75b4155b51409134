//! HQ's statistics over HTTP against an independent computation: the demo programme is pushed into a real server
//! through the sync protocol, and the figures `GET /v1/hq/statistics` returns must equal the ones this test
//! computes from the generated records themselves.
#![allow(clippy::unwrap_used)]

use chrono::NaiveDate;
use demo::{Author, Scale, Scenario};
use domain::Record;
use domain::records::RecordBody;
use domain::vocabulary::{FindCategory, Outcome};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tests::TestServer;
use uuid::Uuid;

/// What the test expects, computed from the records with the definitions of hq::statistics.
#[derive(Debug, Default)]
struct Expected {
    cleared_m2: f64,
    reduced_m2: f64,
    cancelled_m2: f64,
    items: BTreeMap<&'static str, i64>,
    cleared_by_team: BTreeMap<String, f64>,
    team_days: BTreeMap<String, u64>,
}

fn expected(records: &[Record], from: Option<NaiveDate>, to: Option<NaiveDate>, team: Option<&str>) -> Expected {
    let in_period = |r: &Record| {
        r.meta.void.is_none()
            && from.is_none_or(|f| r.meta.date_of_information >= f)
            && to.is_none_or(|t| r.meta.date_of_information <= t)
    };
    let by_id: HashMap<Uuid, &Record> = records.iter().map(|r| (r.id(), r)).collect();
    // A record's team: its daily report's, or else its task's only team.
    let team_of = |daily: Option<Uuid>, task: Uuid| -> String {
        if let Some(RecordBody::DailyReport(d)) = daily.and_then(|id| by_id.get(&id)).map(|r| &r.body) {
            return d.team.clone();
        }
        match by_id.get(&task).map(|r| &r.body) {
            Some(RecordBody::Task(t)) if t.teams.len() == 1 => t.teams.iter().next().unwrap().clone(),
            _ => "(unassigned)".to_string(),
        }
    };
    let mut e = Expected::default();
    for r in records.iter().filter(|r| in_period(r)) {
        match &r.body {
            RecordBody::WorkedArea(w) => {
                let t = team_of(w.daily_report, w.task);
                if team.is_some_and(|wanted| wanted != t) {
                    continue;
                }
                let area = w.shape.area_m2();
                match w.outcome {
                    Outcome::Cleared => {
                        e.cleared_m2 += area;
                        *e.cleared_by_team.entry(t).or_default() += area;
                    }
                    Outcome::Reduced => e.reduced_m2 += area,
                    Outcome::Cancelled => e.cancelled_m2 += area,
                    _ => {}
                }
            }
            RecordBody::Find(f) => {
                if team.is_some_and(|wanted| wanted != team_of(f.daily_report, f.task)) {
                    continue;
                }
                let category = match f.category {
                    FindCategory::ApMine => "ap_mine",
                    FindCategory::AtMine => "at_mine",
                    FindCategory::Uxo => "uxo",
                    _ => "other",
                };
                *e.items.entry(category).or_default() += f.quantity;
            }
            RecordBody::DailyReport(d) if team.is_none_or(|wanted| wanted == d.team) => {
                *e.team_days.entry(d.team.clone()).or_default() += 1;
            }
            _ => {}
        }
    }
    e
}

fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    tests::hq_get(url, token)
}

fn close(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {actual}"));
    assert!(
        (actual - expected).abs() <= 1e-6 * expected.abs().max(1.0),
        "{what}: the server says {actual}, the records say {expected}"
    );
}

/// A server, a supervisor's tablet enrolled for Team 3 with task T-031 on it, and an HQ token.
fn supervisor_with_a_task(dir: &std::path::Path) -> (TestServer, client_core::Store, String, Uuid) {
    let server = TestServer::start(&dir.join("server"));
    let (_, token) = server.enrol("Supervisor tablet", &["Team 3"], tests::DeviceRole::Supervisor);
    let (_, hq) = server.enrol("HQ", &[], tests::DeviceRole::Hq);
    let mut tablet = tests::store(&dir.join("tablet.db"), "Supervisor tablet", "R. Mammadova");
    tests::enrolled(&mut tablet, &server, &token);
    // The first sync tells the tablet it is a supervisor's, as `fieldsync enroll` does.
    tablet.sync(|_| {}).unwrap();
    let task = Uuid::now_v7();
    tests::create(&mut tablet, tests::task(task));
    (server, tablet, hq, task)
}

/// The `i`th box of a row along 40.5°N, `side` degrees square, and its geodesic area in m².
fn square_box(i: usize, side: f64) -> (Value, f64) {
    let ring = tests::square(47.5 + i as f64 * 0.001, 40.5, side);
    let coordinates: Vec<Vec<[f64; 2]>> = serde_json::from_value(ring.clone()).unwrap();
    (ring, domain::geometry::PolygonShape::new(coordinates).area_m2())
}

#[test]
fn statistics_equal_an_independent_computation_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let dataset = demo::generate(&Scenario::new(Scale::Small, 5, today));
    let enrolment = server.storage(|s| {
        let dataset = &dataset;
        async move { demo::enrol(&s, dataset, chrono::Utc::now()).await.unwrap() }
    });
    let plan = demo::plan(&dataset).unwrap();
    demo::push(&server.url(), &enrolment, &plan, |_| {}).unwrap();
    let records: Vec<Record> = dataset.records_by_team().into_values().flatten().collect();
    // Everything reported, drafts included: what the generated records add up to.
    let endpoint = format!("{}/v1/hq/statistics?review=any", server.url());
    let hq = Some(enrolment.hq_token());

    // Everything.
    let (status, stats) = get(&endpoint, hq);
    assert_eq!(status, 200, "{stats}");
    let e = expected(&records, None, None, None);
    assert!(
        e.cleared_m2 > 0.0 && e.items.values().sum::<i64>() > 0,
        "the scenario has work to count"
    );
    close(
        &stats["headline"]["hectares_cleared"],
        e.cleared_m2 / 10_000.0,
        "hectares cleared",
    );
    assert_eq!(
        stats["headline"]["ap_mines"],
        e.items.get("ap_mine").copied().unwrap_or(0)
    );
    assert_eq!(
        stats["headline"]["at_mines"],
        e.items.get("at_mine").copied().unwrap_or(0)
    );
    assert_eq!(stats["headline"]["uxo"], e.items.get("uxo").copied().unwrap_or(0));
    let land = &stats["land_release"];
    close(&land["cleared_m2"], e.cleared_m2, "cleared m²");
    let reduced = land["reduced_with_technical_asset_m2"].as_f64().unwrap()
        + land["reduced_without_technical_asset_m2"].as_f64().unwrap();
    close(&Value::from(reduced), e.reduced_m2, "reduced m²");
    close(&land["cancelled_m2"], e.cancelled_m2, "cancelled m²");
    let by_team = stats["land_release_by_team"].as_array().unwrap();
    for (team, cleared) in &e.cleared_by_team {
        let row = by_team
            .iter()
            .find(|r| r["key"] == team.as_str())
            .unwrap_or_else(|| panic!("{team} missing"));
        close(&row["cleared_m2"], *cleared, &format!("{team} cleared m²"));
    }
    let productivity = stats["productivity"].as_array().unwrap();
    assert_eq!(productivity.len(), e.team_days.len());
    for (team, days) in &e.team_days {
        let row = productivity.iter().find(|r| r["team"] == team.as_str()).unwrap();
        assert_eq!(row["team_days"], *days, "{team}");
        let cleared = e.cleared_by_team.get(team).copied().unwrap_or(0.0);
        close(
            &row["m2_per_team_day"],
            cleared / *days as f64,
            &format!("{team} m² per team-day"),
        );
    }

    // The dashboard's totals are the same figures, computed the short way.
    let (status, totals) = get(&format!("{}/v1/hq/totals?review=any", server.url()), hq);
    assert_eq!(status, 200, "{totals}");
    assert_eq!(totals["headline"]["ap_mines"], stats["headline"]["ap_mines"]);
    assert_eq!(totals["headline"]["uxo"], stats["headline"]["uxo"]);
    assert_eq!(totals["finds_by_category"], stats["finds_by_category"]);
    for field in [
        "cleared_m2",
        "reduced_with_technical_asset_m2",
        "cancelled_m2",
        "released_ha",
    ] {
        close(
            &totals["land_release"][field],
            stats["land_release"][field].as_f64().unwrap(),
            field,
        );
    }
    assert_eq!(
        totals["land_release"]["worked_areas"],
        stats["land_release"]["worked_areas"]
    );

    // One team over the last two weeks.
    let team = e.cleared_by_team.keys().next().unwrap().clone();
    let (from, to) = (today - chrono::Days::new(14), today);
    let url = format!("{endpoint}&from={from}&to={to}&team={}", team.replace(' ', "%20"));
    let (status, stats) = get(&url, hq);
    assert_eq!(status, 200, "{stats}");
    let e = expected(&records, Some(from), Some(to), Some(&team));
    close(
        &stats["land_release"]["cleared_m2"],
        e.cleared_m2,
        "the team's cleared m² in the period",
    );
    assert_eq!(
        stats["headline"]["ap_mines"],
        e.items.get("ap_mine").copied().unwrap_or(0)
    );
    assert_eq!(
        stats["land_release_by_team"].as_array().unwrap().len(),
        1,
        "only that team"
    );

    // Only hq and admin devices read HQ's data; a bad filter is named.
    let (status, body) = get(&endpoint, enrolment.token(Author::Team(0)));
    assert_eq!(status, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("hq or admin"), "{body}");
    let (status, _) = get(&endpoint, None);
    assert_eq!(status, 401);
    let (status, body) = get(&format!("{endpoint}&from=last-week"), hq);
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("from"), "{body}");
}

/// A task shared by two teams: each worked area and find counts for the team of its daily report, and one without
/// a daily report for no team, since the task has two (docs/statistics.md, "A record's team").
#[test]
fn a_task_of_two_teams_credits_each_team_with_its_own_daily_reports() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let (_, supervisor) = server.enrol(
        "Supervisor tablet",
        &["Team A", "Team B"],
        tests::DeviceRole::Supervisor,
    );
    let (_, hq) = server.enrol("HQ", &[], tests::DeviceRole::Hq);
    let mut tablet = tests::store(&dir.path().join("tablet.db"), "Supervisor tablet", "S. Supervisor");
    tests::enrolled(&mut tablet, &server, &supervisor);
    tablet.sync(|_| {}).unwrap();

    let task = Uuid::now_v7();
    let mut shared = tests::task(task);
    shared["teams"] = json!(["Team A", "Team B"]);
    tests::create(&mut tablet, shared);
    let report = |team: &str| {
        json!({"type": "daily_report", "label": format!("T-031/DR-{team}"), "date_of_information": tests::DAY,
               "task": task, "team": team, "team_leader": "A. Aliyev"})
    };
    let (report_a, report_b) = (
        tests::create(&mut tablet, report("Team A")),
        tests::create(&mut tablet, report("Team B")),
    );
    // Three boxes of different sizes side by side: A's, B's and one nobody reported.
    let mut areas = BTreeMap::new();
    for (i, (team, daily_report, side)) in [
        ("Team A", Some(report_a), 0.0004),
        ("Team B", Some(report_b), 0.0005),
        ("(unassigned)", None, 0.0006),
    ]
    .into_iter()
    .enumerate()
    {
        let (ring, area) = square_box(i, side);
        let mut worked_area = tests::worked_area(Uuid::now_v7(), task, &format!("T-031/B{i}"));
        worked_area["shape"]["coordinates"] = ring;
        worked_area["daily_report"] = json!(daily_report);
        tests::create(&mut tablet, worked_area);
        areas.insert(team.to_string(), area);
    }
    let mut find = tests::find(Uuid::now_v7(), task, None, "F-A1");
    find["daily_report"] = json!(report_a);
    tests::create(&mut tablet, find);
    tests::create(&mut tablet, tests::find(Uuid::now_v7(), task, None, "F-X1"));
    tablet.sync(|_| {}).unwrap();

    let statistics = |query: &str| {
        let (status, body) = get(&format!("{}/v1/hq/statistics{query}", server.url()), Some(&hq));
        assert_eq!(status, 200, "{body}");
        body
    };
    let everything = statistics("?review=any");
    let by_team: BTreeMap<String, &Value> = everything["land_release_by_team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap().to_string(), t))
        .collect();
    assert_eq!(by_team.keys().collect::<Vec<_>>(), areas.keys().collect::<Vec<_>>());
    for (team, area) in &areas {
        close(&by_team[team.as_str()]["cleared_m2"], *area, team);
        assert_eq!(by_team[team.as_str()]["worked_areas"], 1, "{team}");
    }
    let days: BTreeMap<&str, u64> = everything["productivity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["team"].as_str().unwrap(), p["team_days"].as_u64().unwrap()))
        .collect();
    assert_eq!(days.get("Team A"), Some(&1));
    assert_eq!(days.get("Team B"), Some(&1));

    // Filtered to one team: its own box and its own find, nothing of the other team or of nobody's.
    let team_a = statistics("?team=Team%20A&review=any");
    close(&team_a["land_release"]["cleared_m2"], areas["Team A"], "Team A's land");
    assert_eq!(team_a["land_release"]["worked_areas"], 1);
    assert_eq!(team_a["headline"]["ap_mines"], 1);
    assert_eq!(everything["headline"]["ap_mines"], 2);
    let nobody = statistics("?team=(unassigned)&review=any");
    close(
        &nobody["land_release"]["cleared_m2"],
        areas["(unassigned)"],
        "nobody's land",
    );
    assert_eq!(nobody["headline"]["ap_mines"], 1);
}

#[test]
fn a_correction_counts_instead_of_the_approved_record_it_supersedes_once_it_is_approved_itself() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let (server, mut tablet, hq, task) = supervisor_with_a_task(dir.path());
    let ((first_ring, first_m2), (corrected_ring, corrected_m2)) = (square_box(0, 0.0004), square_box(0, 0.0005));
    let mut box_b3 = tests::worked_area(Uuid::now_v7(), task, "T-031/B3");
    box_b3["shape"]["coordinates"] = first_ring;
    let box_b3 = tests::create(&mut tablet, box_b3);
    let find = tests::create(&mut tablet, tests::find(Uuid::now_v7(), task, None, "F-0001"));
    let approve = |tablet: &mut client_core::Store, id: Uuid| {
        tablet.submit(id).unwrap();
        tablet.approve(id, &[], None).unwrap();
    };
    approve(&mut tablet, box_b3);
    approve(&mut tablet, find);
    tablet.sync(|_| {}).unwrap();

    // What HQ reports: approved records (the default).
    let figures = |what: &str| {
        let (status, totals) = get(&format!("{}/v1/hq/totals", server.url()), Some(&hq));
        assert_eq!(status, 200, "{totals}");
        let (status, statistics) = get(&format!("{}/v1/hq/statistics", server.url()), Some(&hq));
        assert_eq!(status, 200, "{statistics}");
        for body in [&totals, &statistics] {
            assert_eq!(body["land_release"]["worked_areas"], 1, "{what}: {body}");
        }
        (totals, statistics)
    };
    let drawn = || {
        let (status, map) = get(&format!("{}/v1/hq/map", server.url()), Some(&hq));
        assert_eq!(status, 200);
        map["layers"][1]["features"]["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect::<Vec<String>>()
    };
    let (before, _) = figures("before the correction");
    close(&before["land_release"]["cleared_m2"], first_m2, "the first box");
    assert_eq!(before["headline"]["ap_mines"], 1);

    // The box was larger and the find held two mines: corrections that supersede both records, in draft.
    let mut correction = tests::worked_area(Uuid::now_v7(), task, "T-031/B3 (corrected)");
    correction["shape"]["coordinates"] = corrected_ring;
    correction["supersedes"] = json!(box_b3);
    let correction = tests::create(&mut tablet, correction);
    let mut recount = tests::find(Uuid::now_v7(), task, None, "F-0001 (corrected)");
    recount["quantity"] = json!(2);
    recount["supersedes"] = json!(find);
    let recount = tests::create(&mut tablet, recount);
    let report = tablet.sync(|_| {}).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let (drafted, _) = figures("with the corrections in draft");
    close(
        &drafted["land_release"]["cleared_m2"],
        first_m2,
        "the approved original still counts",
    );
    assert_eq!(drafted["headline"]["ap_mines"], 1, "{drafted}");
    assert!(
        drawn().contains(&box_b3.to_string()),
        "the map still draws the original"
    );

    approve(&mut tablet, correction);
    approve(&mut tablet, recount);
    tablet.sync(|_| {}).unwrap();
    let (totals, statistics) = figures("after the corrections were approved");
    for body in [&totals, &statistics] {
        close(
            &body["land_release"]["cleared_m2"],
            corrected_m2,
            "the corrected box alone",
        );
        assert_eq!(body["headline"]["ap_mines"], 2, "the recount alone: {body}");
    }
    assert_eq!(statistics["finds_by_category"][0]["finds"], 1, "{statistics}");
    assert_eq!(
        drawn(),
        vec![correction.to_string()],
        "the map draws the correction alone"
    );
}

#[test]
fn a_review_filter_counts_one_status_or_every_approved_record_and_names_a_mistake() {
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let (server, mut tablet, hq, task) = supervisor_with_a_task(dir.path());
    // Three boxes apart: one left in draft, one submitted, one submitted and then approved.
    let mut areas = BTreeMap::new();
    for (i, (review, side)) in [
        ("draft", 0.0004),
        ("submitted", 0.0005),
        ("supervisor_approved", 0.0006),
    ]
    .into_iter()
    .enumerate()
    {
        let (ring, area) = square_box(i, side);
        let mut worked_area = tests::worked_area(Uuid::now_v7(), task, &format!("T-031/B{i}"));
        worked_area["shape"]["coordinates"] = ring;
        let id = tests::create(&mut tablet, worked_area);
        for step in ["submitted", "supervisor_approved"] {
            if review == "draft" || (review == "submitted" && step != "submitted") {
                break;
            }
            tablet.patch(id, &json!({ "review": step })).unwrap();
        }
        areas.insert(review, area);
    }
    let report = tablet.sync(|_| {}).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);

    for (query, review) in [
        ("approved", "supervisor_approved"),
        ("supervisor_approved", "supervisor_approved"),
        ("submitted", "submitted"),
        ("draft", "draft"),
    ] {
        for endpoint in ["totals", "statistics"] {
            let url = format!("{}/v1/hq/{endpoint}?review={query}", server.url());
            let (status, body) = get(&url, Some(&hq));
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["land_release"]["worked_areas"], 1, "{query}: {body}");
            close(&body["land_release"]["cleared_m2"], areas[review], query);
        }
        let csv = dir.path().join(format!("{query}.csv"));
        let url = format!(
            "{}/v1/hq/export?format=csv&layer=worked_areas&review={query}",
            server.url()
        );
        assert_eq!(tests::hq_download(&url, &hq, &csv), 200);
        let rows = std::fs::read_to_string(&csv).unwrap().lines().count();
        assert_eq!(rows, 2, "a header and the one {review} worked area");
    }
    let (_, everything) = get(&format!("{}/v1/hq/totals?review=any", server.url()), Some(&hq));
    assert_eq!(everything["land_release"]["worked_areas"], 3);
    let (_, reported) = get(&format!("{}/v1/hq/totals", server.url()), Some(&hq));
    assert_eq!(
        (
            reported["filter"]["review"].as_str(),
            &reported["land_release"]["worked_areas"]
        ),
        (Some("approved"), &serde_json::json!(1)),
        "without a filter, HQ's totals count approved records"
    );

    for endpoint in ["totals", "statistics", "export?format=csv&layer=worked_areas&"] {
        let separator = if endpoint.ends_with('&') { "" } else { "?" };
        let url = format!("{}/v1/hq/{endpoint}{separator}review=aproved", server.url());
        let (status, body) = get(&url, Some(&hq));
        assert_eq!(status, 400, "{url}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("\"aproved\"") && message.contains("approved"),
            "{message}"
        );
    }
}
