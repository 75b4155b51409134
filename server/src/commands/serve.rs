//! `serve`: the sync protocol, HQ's API and the dashboard until interrupted; `serve --demo` fills an empty data
//! directory with the small demo in the background.

use anyhow::{Context, Result};
use server::config::Settings;
use server::http::{Edge, Limits};
use std::net::SocketAddr;
use store_sqlite::SqliteStorage;
use sync_core::store::SyncStore;

/// What `serve` holds each device to (docs/security.md, "Limits under abuse").
#[derive(Debug, Clone, Copy)]
pub struct DeviceLimits {
    /// Bytes of refusals kept for a device a day (`--quarantine-quota-mib`).
    pub quarantine_quota: u64,
    /// Least time between two reconciles of a device (`--reconcile-every`).
    pub reconcile_every: chrono::Duration,
}

impl Default for DeviceLimits {
    fn default() -> DeviceLimits {
        DeviceLimits {
            quarantine_quota: sync_core::serve::DEFAULT_QUARANTINE_QUOTA,
            reconcile_every: sync_core::serve::DEFAULT_RECONCILE_EVERY,
        }
    }
}

pub async fn serve(
    storage: SqliteStorage,
    settings: &Settings,
    limits: Limits,
    upstream_every: u64,
    device_limits: DeviceLimits,
) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .json()
        .init();
    let listener =
        server::http::listen(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
    let edge = edge(settings, &listener, limits)?;
    tracing::info!(address = %listener.local_addr()?, data_dir = %settings.data_dir.display(), server_id = %storage.server_id(), "serving");
    let mut sync = sync_core::serve::SyncServer::new(storage, Default::default());
    sync.relays_upstream = settings.upstream.is_some();
    sync.quarantine_quota = Some(device_limits.quarantine_quota);
    sync.reconcile_every = device_limits.reconcile_every;
    let app = server::http::App::serving(sync);
    let relay = settings.upstream.clone().map(|upstream| {
        let every = std::time::Duration::from_secs(upstream_every);
        tokio::spawn(server::relay::run(app.clone(), upstream, every))
    });
    server::http::serve(listener, app, edge, shutdown_signal()).await?;
    if let Some(relay) = relay {
        // A round in flight is cut off: each answer it had is applied, and the next start resumes from there.
        relay.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// TLS and connection limits for the bound listener, logging what devices must pin.
fn edge(settings: &Settings, listener: &tokio::net::TcpListener, limits: Limits) -> Result<Edge> {
    let address = listener.local_addr()?;
    let tls = server::tls::server_tls(&settings.tls, &settings.data_dir, address)?;
    let fingerprint = tls
        .as_ref()
        .and_then(|tls| tls.authority.as_ref())
        .map(|a| a.fingerprint.clone());
    let serving = server::serving::Serving::at(address, fingerprint, tls.is_some());
    serving.record(&settings.data_dir)?;
    match &tls {
        Some(tls) => {
            tracing::info!(url = %serving.url, fingerprint = ?serving.ca_fingerprint, names = ?tls.names, "speaking TLS")
        }
        None if !listener.local_addr()?.ip().is_loopback() => tracing::warn!(
            "serving plain HTTP beyond the loopback (--tls off): tokens and records cross the network in clear \
             unless a proxy in front speaks TLS"
        ),
        None => {}
    }
    Ok(Edge { tls, limits })
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

/// `serve --demo`: `serve`, and if the data directory is empty, fill it with the small demo in the background as
/// soon as the listener is bound.
pub async fn serve_demo(storage: SqliteStorage, settings: &Settings, limits: Limits) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .json()
        .init();
    let fill = storage.last_seq().await? == 0;
    let listener =
        server::http::listen(settings.listen).with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    let edge = edge(settings, &listener, limits)?;
    tracing::info!(%address, data_dir = %settings.data_dir.display(), server_id = %storage.server_id(), "serving");
    let app = server::http::App::new(storage);
    if fill {
        let (app, data_dir) = (app.clone(), settings.data_dir.clone());
        // Over TLS, the demo's devices trust what a tablet would: the server's own authority, pinned.
        let trust = edge
            .tls
            .as_ref()
            .map(|tls| sync_http::Trust::pinned_or_system(tls.authority.as_ref().map(|a| a.der.clone())));
        tokio::spawn(async move {
            match fill_demo(&app.sync.store, address, trust, &data_dir).await {
                Ok(message) => tracing::info!("demo: {message}"),
                Err(e) => tracing::error!("demo: {e:#}"),
            }
        });
    } else {
        tracing::info!("the data directory already holds records: serving it without adding the demo");
    }
    server::http::serve(listener, app, edge, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Enrols the small demo's devices and pushes it to this server, listening on `address`.
/// Over TLS (`trust` given), the demo's devices dial https and trust what it says.
pub async fn fill_demo(
    storage: &SqliteStorage,
    address: SocketAddr,
    trust: Option<sync_http::Trust>,
    data_dir: &std::path::Path,
) -> Result<String> {
    let scenario = demo::Scenario::new(demo::Scale::Small, 1, demo::programme_today());
    let dataset = std::sync::Arc::new(demo::generate(&scenario));
    tracing::info!(
        records = dataset.record_count(),
        "demo: filling the empty data directory"
    );
    let enrolment = demo::enrol(storage, &dataset, chrono::Utc::now()).await?;
    // A listener on every address (0.0.0.0) is reached on the loopback.
    let target = if address.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
    } else {
        address
    };
    let mut lines = demo::ProgressLines::default();
    let scheme = if trust.is_some() { "https" } else { "http" };
    let trust = trust.unwrap_or(sync_http::Trust::System);
    let report = demo::push_in_background(
        format!("{scheme}://{target}"),
        trust,
        enrolment.clone(),
        dataset,
        move |p| {
            if let Some(line) = lines.line(p) {
                tracing::info!("demo: {line}");
            }
        },
    )
    .await?;
    let path = demo::write_hq_token(data_dir, enrolment.hq_token())
        .with_context(|| format!("cannot write the HQ token into {}", data_dir.display()))?;
    Ok(format!(
        "pushed {} records ({} changes); open the dashboard at {scheme}://{target}/ and sign in with the token in {}",
        report.records,
        report.changes,
        path.display()
    ))
}
