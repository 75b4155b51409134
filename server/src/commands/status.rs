//! `status`: where this server stands with its upstream (a base camp's HQ).

use anyhow::Result;
use store_sqlite::SqliteStorage;
use sync_core::store::SyncStore;

pub async fn status(storage: SqliteStorage, json: bool) -> Result<()> {
    let state = storage.upstream_state().await?;
    let waiting = storage.forwardable_count(state.forwarded_through).await?;
    let quarantined = storage.quarantined().await?;
    let refused_upstream = quarantined
        .iter()
        .filter(|q| q.item.code.starts_with("upstream"))
        .count();
    if json {
        let value = serde_json::json!({
            "server_id": storage.server_id(),
            "upstream": {
                "server_id": state.server_id,
                "last_contact": state.last_contact,
                "last_error": state.last_error,
                "changes_waiting": waiting,
                "forwarded_through": state.forwarded_through,
                "bundled_through": state.bundled_through,
                "changes_sent": state.sent,
                "cursor": state.cursor,
                "refused": refused_upstream,
            },
            "quarantined": quarantined.len(),
        });
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    outln!("server {}", storage.server_id());
    match (&state.server_id, &state.last_contact) {
        (Some(upstream), Some(at)) => outln!("upstream {upstream}: last contact {}", at.to_rfc3339()),
        _ if state.last_error.is_some() => outln!("upstream: never reached"),
        _ => outln!("upstream: none (serve --upstream URL --upstream-token TOKEN relays to one)"),
    }
    if let Some(error) = &state.last_error {
        outln!("  last attempt failed: {error}");
    }
    outln!("  {waiting} changes waiting to go up");
    if state.bundled_through > state.forwarded_through {
        let bundled = waiting.saturating_sub(storage.forwardable_count(state.bundled_through).await?);
        outln!(
            "  {bundled} of them went on bundles (export-bundle --upstream); HQ's answer comes when the link returns"
        );
    }
    outln!("  {} changes sent over the link in all", state.sent);
    outln!("  {refused_upstream} changes refused upstream, kept in quarantine (fieldsync-server quarantine list)");
    Ok(())
}
