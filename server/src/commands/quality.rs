//! `quality`: HQ's data-quality report, as `GET /v1/hq/quality` gives it.

use anyhow::Result;
use store_sqlite::SqliteStorage;

/// `quality`: one line per finding, or JSON.
pub async fn quality(storage: SqliteStorage, task: Option<uuid::Uuid>, json: bool) -> Result<()> {
    let programme = domain::Programme::default();
    let report = hq::quality::report(&storage, &programme, task, chrono::Utc::now()).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for f in &report.findings {
        let kind = serde_json::to_value(f.kind)?;
        outln!(
            "{:<26} {} {:<14} {}",
            kind.as_str().unwrap_or_default(),
            f.record_type,
            f.label,
            f.detail
        );
    }
    outln!("{} finding(s)", report.findings.len());
    Ok(())
}
