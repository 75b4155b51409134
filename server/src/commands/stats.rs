//! `stats`: HQ's statistics, as `GET /v1/hq/statistics` gives them.

use anyhow::Result;
use hq::HqReadModel;
use store_sqlite::SqliteStorage;

/// `stats`: the headline in ANAMA's form and land released per team, or everything as JSON.
pub async fn stats(storage: SqliteStorage, filter: &hq::statistics::Filter, json: bool) -> Result<()> {
    let filter = filter.clone().reported();
    let stats = storage.statistics(&filter).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    let h = &stats.headline;
    let counted = match filter.review {
        Some(hq::statistics::ReviewFilter::Approved) | None => {
            "approved records (supervisor or HQ); --review any for everything reported".to_string()
        }
        Some(review) => format!("records with review {}", String::from(review)),
    };
    outln!("counting {counted}");
    outln!(
        "{:.2} ha cleared, {} AP mines, {} AT mines, {} UXO",
        h.hectares_cleared,
        h.ap_mines,
        h.at_mines,
        h.uxo
    );
    let l = &stats.land_release;
    outln!(
        "land released: {:.2} ha ({:.2} cleared, {:.2} reduced, {:.2} cancelled) in {} worked areas",
        l.released_ha,
        l.cleared_ha,
        l.reduced_ha,
        l.cancelled_ha,
        l.worked_areas
    );
    outln!(
        "{:<24} {:>12} {:>12} {:>10} {:>14}",
        "TEAM",
        "CLEARED HA",
        "RELEASED HA",
        "TEAM-DAYS",
        "M² / TEAM-DAY"
    );
    for team in &stats.land_release_by_team {
        let days = stats.productivity.iter().find(|p| p.team == team.key);
        outln!(
            "{:<24} {:>12.2} {:>12.2} {:>10} {:>14.0}",
            team.key,
            team.value.cleared_ha,
            team.value.released_ha,
            days.map_or(0, |p| p.team_days),
            days.map_or(0.0, |p| p.m2_per_team_day)
        );
    }
    outln!("(--json for finds by model, disposals by method, and land released by task, method and month)");
    Ok(())
}
