//! `rebuild`: everything derived from the log made again from the log alone.

use anyhow::{Context, Result};
use server::config::Settings;
use store_sqlite::SqliteStorage;

/// `rebuild`: the derived tables from the log, with progress on stderr every tenth of each pass.
pub async fn rebuild(storage: SqliteStorage, settings: &Settings) -> Result<()> {
    let started = std::time::Instant::now();
    let mut shown = (0, 0);
    let summary = sync_core::rebuild::rebuild(&storage, &domain::Programme::default(), |p| {
        let tenth = (p.pass, p.done * 10 / p.total.max(1));
        if tenth != shown {
            shown = tenth;
            let what = if p.pass == 1 {
                "records rebuilt from the log"
            } else {
                "records validated"
            };
            eprintln!("pass {}/2: {}/{} {what}", p.pass, p.done, p.total);
        }
    })
    .await
    .with_context(|| format!("the rebuild of {} stopped; run it again", settings.data_dir.display()))?;
    outln!(
        "rebuilt {} records from {} changes in {:.1} s: {} carry warnings, {} break a rule today (kept)",
        summary.records,
        summary.changes,
        started.elapsed().as_secs_f64(),
        summary.with_warnings,
        summary.breaking_rules
    );
    Ok(())
}
