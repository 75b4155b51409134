//! `serve --upstream`: the base camp's link to HQ (docs/relay.md). A round syncs with upstream through
//! sync_core::upstream until neither side has more; rounds repeat every `every` while the link is up and back off
//! (doubling, up to five minutes) while it is down; a round that got answers before the link dropped does not
//! count as down. Every answer is applied as it comes, so a link that drops mid-round loses at most the request in
//! flight, and the next round resumes from the last answer.

use crate::config::Upstream;
use crate::http::{App, Backend};
use std::sync::Arc;
use std::time::Duration;
use sync_core::upstream::RelayReport;
use sync_http::{HttpTransport, Trust};

const LONGEST_BACKOFF: Duration = Duration::from_secs(300);

/// Relays until the task is aborted (the server stops).
pub async fn run<S: Backend>(app: Arc<App<S>>, upstream: Upstream, every: Duration) {
    tracing::info!(upstream = %upstream.url, every_s = every.as_secs(), "relaying upstream");
    let mut wait = every;
    loop {
        let before = where_it_stands(&app).await;
        match round(app.clone(), upstream.clone()).await {
            Ok(report) => {
                if report.forwarded + report.refused + report.pulled > 0 {
                    tracing::info!(
                        upstream = %upstream.url,
                        requests = report.requests,
                        forwarded = report.forwarded,
                        refused = report.refused,
                        pulled = report.pulled,
                        "relayed"
                    );
                }
                wait = every;
            }
            Err(error) => {
                // A link that drops every few seconds still carries a page or two each time: a round that got
                // answers before it failed tries again soon; only rounds that got nowhere back off.
                let progressed = where_it_stands(&app).await != before;
                wait = if progressed {
                    every
                } else {
                    (wait * 2).min(LONGEST_BACKOFF).max(every)
                };
                tracing::warn!(upstream = %upstream.url, retry_in_s = wait.as_secs(), "relay: {error}");
                note_failure(&app, &error).await;
            }
        }
        tokio::time::sleep(wait).await;
    }
}

/// One round on a blocking thread (the transport is blocking, as a tablet's is).
pub async fn round<S: Backend>(app: Arc<App<S>>, upstream: Upstream) -> Result<RelayReport, String> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let trust = trust(&upstream)?;
        let transport = HttpTransport::with_trust(&upstream.url, &upstream.token, &trust, upstream.insecure_http);
        sync_core::upstream::relay(&app.sync, &handle, |request| transport.send(request), chrono::Utc::now).map_err(
            |e| match e {
                protocol::session::SessionError::Replica(e) => e.to_string(),
                protocol::session::SessionError::Send(e) => e.to_string(),
            },
        )
    })
    .await
    .map_err(|e| format!("the relay round stopped: {e}"))?
}

/// The certificates the relay accepts from upstream: with a pinned authority, only those that chain to it (its
/// certificate fetched once, and kept only if it has the fingerprint given).
fn trust(upstream: &Upstream) -> Result<Trust, String> {
    static AUTHORITY: std::sync::Mutex<Option<(String, Vec<u8>)>> = std::sync::Mutex::new(None);
    let Some(fingerprint) = &upstream.ca_fingerprint else {
        return Ok(Trust::System);
    };
    let mut known = AUTHORITY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((pinned, der)) = known.as_ref()
        && pinned == fingerprint
    {
        return Ok(Trust::Pinned(der.clone()));
    }
    let der = sync_http::fetch_authority(&upstream.url, fingerprint).map_err(|e| e.to_string())?;
    *known = Some((fingerprint.clone(), der.clone()));
    Ok(Trust::Pinned(der))
}

/// The camp's position at upstream: its cursor there and how far upstream has answered its log.
async fn where_it_stands<S: Backend>(app: &App<S>) -> Option<(u64, u64)> {
    let state = app.sync.store.upstream_state().await.ok()?;
    Some((state.cursor, state.forwarded_through))
}

/// Keeps why the last round failed, for `fieldsync-server status`.
async fn note_failure<S: Backend>(app: &App<S>, error: &str) {
    let store = &app.sync.store;
    let result = async {
        let mut state = store.upstream_state().await?;
        state.last_error = Some(error.to_string());
        store.set_upstream_state(state).await
    }
    .await;
    if let Err(e) = result {
        tracing::error!("relay: cannot record the failure: {e}");
    }
}
