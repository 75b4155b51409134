//! HQ's statistics with 1,000,000 worked areas and finds stored: the time `HqReadModel::totals` (the dashboard's
//! headline) and `HqReadModel::statistics` take, for the whole dataset and for one team over one month (`cargo bench -p tests --bench hq_statistics`).
//!
//! The rows go straight into the materialized tables with SQL (500,000 worked areas, 500,000 finds, their daily
//! reports and tasks), not through sync: this measures the query HQ's dashboard runs, not ingest (benches/sync.rs
//! measures that). Column values follow the demo's: 40 teams, 200 tasks, 300 days.
#![allow(clippy::unwrap_used)]

use hq::HqReadModel;
use hq::statistics::Filter;
use std::time::Instant;
use store_sqlite::SqliteStorage;

const WORKED_AREAS: i64 = 500_000;
const FINDS: i64 = 500_000;
const TEAMS: i64 = 40;
const TASKS: i64 = 200;
const DAYS: i64 = 300;

fn fill(path: &std::path::Path) {
    let mut conn = rusqlite::Connection::open(path.join("fieldsync-server.db")).unwrap();
    let tx = conn.transaction().unwrap();
    for task in 0..TASKS {
        tx.execute(
            "INSERT INTO layer_tasks (record_id, label, date_of_information, activity, status, organisation, teams, void, review) \
             VALUES (?1, ?2, '2026-01-01', 'clearance', 'active', ?3, ?4, 0, 'supervisor_approved')",
            rusqlite::params![format!("task-{task}"), format!("T-{task:03}"), format!("Org {}", task % 4), format!("Team {}", task % TEAMS)],
        )
        .unwrap();
    }
    for day in 0..DAYS {
        for team in 0..TEAMS {
            let task = team + TEAMS * (day % (TASKS / TEAMS));
            tx.execute(
                "INSERT INTO layer_daily_reports (record_id, label, date_of_information, task_id, team, void, review) \
                 VALUES (?1, ?1, date('2026-01-01', ?2), ?3, ?4, 0, 'supervisor_approved')",
                rusqlite::params![
                    format!("dr-{day}-{team}"),
                    format!("+{day} days"),
                    format!("task-{task}"),
                    format!("Team {team}")
                ],
            )
            .unwrap();
        }
    }
    let outcomes = ["cleared", "reduced", "cancelled", "cleared", "searched_negative"];
    for i in 0..WORKED_AREAS {
        let (day, team) = (i % DAYS, (i / DAYS) % TEAMS);
        let task = team + TEAMS * (day % (TASKS / TEAMS));
        tx.prepare_cached(
            "INSERT INTO layer_worked_areas (record_id, label, date_of_information, task_id, daily_report_id, area_m2, \
             outcome, technical_asset, methods, void, review) \
             VALUES (?1, ?1, date('2026-01-01', ?2), ?3, ?4, ?5, ?6, ?7, 'manual', 0, 'supervisor_approved')",
        )
        .unwrap()
        .execute(rusqlite::params![
            format!("wa-{i}"),
            format!("+{day} days"),
            format!("task-{task}"),
            format!("dr-{day}-{team}"),
            100.0 + (i % 50) as f64,
            outcomes[(i % 5) as usize],
            i % 2 == 0
        ])
        .unwrap();
    }
    let categories = ["ap_mine", "at_mine", "uxo", "small_arms_ammunition"];
    for i in 0..FINDS {
        let (day, team) = (i % DAYS, (i / DAYS) % TEAMS);
        let task = team + TEAMS * (day % (TASKS / TEAMS));
        tx.prepare_cached(
            "INSERT INTO layer_finds (record_id, label, date_of_information, task_id, daily_report_id, category, model, \
             quantity, void, review) VALUES (?1, ?1, date('2026-01-01', ?2), ?3, ?4, ?5, 'PMN-2', 1, 0, 'supervisor_approved')",
        )
        .unwrap()
        .execute(rusqlite::params![
            format!("f-{i}"),
            format!("+{day} days"),
            format!("task-{task}"),
            format!("dr-{day}-{team}"),
            categories[(i % 4) as usize]
        ])
        .unwrap();
    }
    tx.commit().unwrap();
}

fn median_ms(storage: &SqliteStorage, runtime: &tokio::runtime::Runtime, filter: &Filter, totals: bool) -> (f64, f64) {
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            let worked_areas = if totals {
                runtime
                    .block_on(storage.totals(filter))
                    .unwrap()
                    .land_release
                    .worked_areas
            } else {
                runtime
                    .block_on(storage.statistics(filter))
                    .unwrap()
                    .land_release
                    .worked_areas
            };
            assert!(worked_areas > 0);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1])
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStorage::open(dir.path()).unwrap());
    let start = Instant::now();
    fill(dir.path());
    println!(
        "filled {WORKED_AREAS} worked areas and {FINDS} finds in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let storage = SqliteStorage::open(dir.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (median, max) = median_ms(&storage, &runtime, &Filter::default(), true);
    println!("dashboard totals, everything: median {median:.0} ms, max {max:.0} ms (n = 7)");
    let (median, max) = median_ms(&storage, &runtime, &Filter::default(), false);
    println!("statistics, everything: median {median:.0} ms, max {max:.0} ms (n = 7)");
    let month = Filter {
        from: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
        to: chrono::NaiveDate::from_ymd_opt(2026, 3, 31),
        team: Some("Team 7".into()),
        ..Filter::default()
    };
    let (median, max) = median_ms(&storage, &runtime, &month, false);
    println!("statistics, one team over one month: median {median:.0} ms, max {max:.0} ms (n = 7)");
}
