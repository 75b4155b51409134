//! HQ's statistics on SQLite, from the materialized `layer_*` tables (see crate::statistics for the definitions).
//! Each query filters and groups in SQL, so what comes back is a few rows per team, task, month and method, not a
//! row per record; the groupings are then folded in Rust.

use crate::Error;
use hq::statistics::{
    Disposals, Filter, FindCount, Keyed, LandRelease, Productivity, ReviewFilter, Statistics, Totals, UNASSIGNED,
};
use rusqlite::{Transaction, named_params};
use std::collections::BTreeMap;

/// A record's team: its daily report's (`d`), or else its task's (`t`) only team (`teams` is `;`-joined).
const TEAM: &str =
    "COALESCE(d.team, CASE WHEN t.teams <> '' AND instr(t.teams, ';') = 0 THEN t.teams END, :unassigned)";
/// The same for a record without a daily report: its task's only team.
const TASK_TEAM: &str = "COALESCE(CASE WHEN t.teams <> '' AND instr(t.teams, ';') = 0 THEN t.teams END, :unassigned)";

/// The filter every query applies to its record alias `x` (`d` the daily report, `t` the task). A record that a
/// live correction supersedes counts through the correction alone.
const FILTER: &str = "NOT x.void AND x.superseded_by IS NULL \
     AND (:from IS NULL OR x.date_of_information >= :from) AND (:to IS NULL OR x.date_of_information <= :to) \
     AND (:organisation IS NULL OR t.organisation = :organisation) \
     AND (:task IS NULL OR x.task_id = :task) AND (:review IS NULL OR x.review IN (SELECT value FROM json_each(:review)))";

pub(super) fn statistics(tx: &Transaction<'_>, filter: &Filter) -> Result<Statistics, Error> {
    let from = filter.from.map(|d| d.to_string());
    let to = filter.to.map(|d| d.to_string());
    let task = filter.task.map(|t| t.to_string());
    let review = filter.review.and_then(ReviewFilter::statuses_json);
    let params = named_params! {
        ":from": from, ":to": to, ":organisation": filter.organisation, ":task": task,
        ":review": review, ":team": filter.team, ":unassigned": UNASSIGNED,
    };
    let mut stats = Statistics {
        filter: filter.clone(),
        ..Statistics::default()
    };

    // Land released, grouped finely enough for every view.
    let sql = format!(
        "WITH x AS (SELECT x.*, {TEAM} AS team, COALESCE(t.label, x.task_id) AS task_label \
             FROM layer_worked_areas AS x \
             LEFT JOIN layer_daily_reports AS d ON d.record_id = x.daily_report_id \
             LEFT JOIN layer_tasks AS t ON t.record_id = x.task_id \
             WHERE {FILTER}) \
         SELECT team, task_label, COALESCE(methods, ''), substr(date_of_information, 1, 7), outcome, \
             technical_asset, SUM(area_m2), COUNT(*) \
         FROM x WHERE :team IS NULL OR team = :team GROUP BY 1, 2, 3, 4, 5, 6"
    );
    let mut by_team: BTreeMap<String, LandRelease> = BTreeMap::new();
    let mut by_task: BTreeMap<String, LandRelease> = BTreeMap::new();
    let mut by_method: BTreeMap<String, LandRelease> = BTreeMap::new();
    let mut by_month: BTreeMap<String, LandRelease> = BTreeMap::new();
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    while let Some(row) = rows.next()? {
        let (team, task, methods, month): (String, String, String, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
        let outcome: String = row.get(4)?;
        let technical_asset: Option<bool> = row.get(5)?;
        let area: f64 = row.get::<_, Option<f64>>(6)?.unwrap_or(0.0);
        let count: u64 = row.get::<_, i64>(7)?.try_into().unwrap_or(0);
        for (map, key) in [
            (&mut by_team, team),
            (&mut by_task, task),
            (&mut by_method, methods),
            (&mut by_month, month),
        ] {
            map.entry(key).or_default().add(&outcome, technical_asset, area, count);
        }
        stats.land_release.add(&outcome, technical_asset, area, count);
    }
    drop(rows);
    let keyed = |map: BTreeMap<String, LandRelease>| {
        map.into_iter()
            .map(|(key, value)| Keyed { key, value })
            .collect::<Vec<_>>()
    };
    let cleared_by_team: BTreeMap<String, f64> = by_team.iter().map(|(k, v)| (k.clone(), v.cleared_m2)).collect();
    stats.land_release_by_team = keyed(by_team);
    stats.land_release_by_task = keyed(by_task);
    stats.land_release_by_method = keyed(by_method);
    stats.land_release_by_month = keyed(by_month);

    // Finds, by category and model.
    let sql = format!(
        "WITH x AS (SELECT x.*, {TEAM} AS team FROM layer_finds AS x \
             LEFT JOIN layer_daily_reports AS d ON d.record_id = x.daily_report_id \
             LEFT JOIN layer_tasks AS t ON t.record_id = x.task_id \
             WHERE {FILTER}) \
         SELECT category, model, SUM(quantity), COUNT(*) FROM x WHERE :team IS NULL OR team = :team \
         GROUP BY 1, 2 ORDER BY 1, 2"
    );
    let mut by_category: BTreeMap<String, FindCount> = BTreeMap::new();
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    while let Some(row) = rows.next()? {
        let count = FindCount {
            category: row.get(0)?,
            model: row.get(1)?,
            items: row.get::<_, Option<i64>>(2)?.unwrap_or(0),
            finds: row.get::<_, i64>(3)?.try_into().unwrap_or(0),
        };
        let total = by_category.entry(count.category.clone()).or_insert_with(|| FindCount {
            category: count.category.clone(),
            ..FindCount::default()
        });
        total.items += count.items;
        total.finds += count.finds;
        stats.finds_by_model.push(count);
    }
    drop(rows);
    stats.finds_by_category = by_category.into_values().collect();

    // Disposals: demolitions by method. A demolition has no daily report: its team is its task's.
    let sql = format!(
        "WITH x AS (SELECT x.*, {TASK_TEAM} AS team FROM layer_demolitions AS x \
             LEFT JOIN layer_tasks AS t ON t.record_id = x.task_id \
             WHERE {FILTER}) \
         SELECT COALESCE(method, ''), COUNT(*), SUM(items_destroyed) FROM x WHERE :team IS NULL OR team = :team \
         GROUP BY 1 ORDER BY 1"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    stats.disposals_by_method = stmt
        .query_map(params, |row| {
            Ok(Disposals {
                method: row.get(0)?,
                demolitions: row.get::<_, i64>(1)?.try_into().unwrap_or(0),
                items_destroyed: row.get::<_, Option<i64>>(2)?.unwrap_or(0),
            })
        })?
        .collect::<Result<_, _>>()?;

    // Productivity: cleared m² per team-day (one daily report of the team).
    let sql = format!(
        "WITH x AS (SELECT x.*, COALESCE(x.team, :unassigned) AS team_name FROM layer_daily_reports AS x \
             LEFT JOIN layer_tasks AS t ON t.record_id = x.task_id \
             WHERE {FILTER}) \
         SELECT team_name, COUNT(*) FROM x WHERE :team IS NULL OR team_name = :team GROUP BY 1 ORDER BY 1"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let team_days: Vec<(String, i64)> = stmt
        .query_map(params, |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    stats.productivity = team_days
        .into_iter()
        .map(|(team, days)| {
            let cleared_m2 = cleared_by_team.get(&team).copied().unwrap_or(0.0);
            let team_days = u64::try_from(days).unwrap_or(0);
            Productivity {
                m2_per_team_day: if team_days == 0 {
                    0.0
                } else {
                    cleared_m2 / team_days as f64
                },
                team,
                team_days,
                cleared_m2,
            }
        })
        .collect();
    Ok(stats.with_headline())
}

/// The filter on a record's own columns (no team or organisation: those need its daily report and task).
const OWN_FILTER: &str = "NOT void AND superseded_by IS NULL \
     AND (:from IS NULL OR date_of_information >= :from) AND (:to IS NULL OR date_of_information <= :to) \
     AND (:task IS NULL OR task_id = :task) AND (:review IS NULL OR review IN (SELECT value FROM json_each(:review)))";

/// The dashboard's totals. Without a team or organisation filter no record needs its daily report or task, so
/// each table is scanned alone instead of joined (a tenth of the time on a million records).
pub(super) fn totals(tx: &Transaction<'_>, filter: &Filter) -> Result<Totals, Error> {
    if filter.team.is_some() || filter.organisation.is_some() {
        return Ok(Totals::of(statistics(tx, filter)?));
    }
    let from = filter.from.map(|d| d.to_string());
    let to = filter.to.map(|d| d.to_string());
    let task = filter.task.map(|t| t.to_string());
    let review = filter.review.and_then(ReviewFilter::statuses_json);
    let params = named_params! { ":from": from, ":to": to, ":task": task, ":review": review };
    let mut land = LandRelease::default();
    let sql = format!(
        "SELECT outcome, technical_asset, SUM(area_m2), COUNT(*) FROM layer_worked_areas WHERE {OWN_FILTER} \
         GROUP BY 1, 2"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    while let Some(row) = rows.next()? {
        let outcome: String = row.get(0)?;
        let area = row.get::<_, Option<f64>>(2)?.unwrap_or(0.0);
        land.add(
            &outcome,
            row.get(1)?,
            area,
            row.get::<_, i64>(3)?.try_into().unwrap_or(0),
        );
    }
    drop(rows);
    let sql =
        format!("SELECT category, SUM(quantity), COUNT(*) FROM layer_finds WHERE {OWN_FILTER} GROUP BY 1 ORDER BY 1");
    let mut stmt = tx.prepare_cached(&sql)?;
    let finds_by_category = stmt
        .query_map(params, |row| {
            Ok(FindCount {
                category: row.get(0)?,
                model: None,
                items: row.get::<_, Option<i64>>(1)?.unwrap_or(0),
                finds: row.get::<_, i64>(2)?.try_into().unwrap_or(0),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let stats = Statistics {
        filter: filter.clone(),
        land_release: land,
        finds_by_category,
        ..Statistics::default()
    }
    .with_headline();
    Ok(Totals::of(stats))
}
