//! `demo`: a generated programme pushed into an empty data directory through the sync protocol.

use anyhow::{Context, Result};
use server::config::Settings;
use store_sqlite::SqliteStorage;

/// `demo`: generate, enrol, start a server on 127.0.0.1:0 in this process, push, stop it, say how to sign in.
pub async fn demo(storage: SqliteStorage, settings: &Settings, scale: demo::Scale, seed: u64) -> Result<()> {
    let data_dir = settings.data_dir.display();
    demo::ensure_empty(&storage)
        .await
        .with_context(|| format!("cannot put the demo into {data_dir}"))?;
    let started = std::time::Instant::now();
    let scenario = demo::Scenario::new(scale, seed, demo::programme_today());
    let dataset = std::sync::Arc::new(demo::generate(&scenario));
    eprintln!(
        "generated the {} demo (seed {seed}): {} records of {} teams, {} working days up to {}",
        scale.as_str(),
        dataset.record_count(),
        dataset.teams.len(),
        scenario.weeks * 5,
        scenario.working_days().last().map_or(String::new(), |d| d.to_string())
    );
    let counts: Vec<String> = dataset.counts().iter().map(|(t, n)| format!("{n} {t}")).collect();
    eprintln!("  {}", counts.join(", "));
    let enrolment = demo::enrol(&storage, &dataset, chrono::Utc::now()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1 for the demo push")?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server::http::run(
        listener,
        server::http::App::new(storage),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut lines = demo::ProgressLines::default();
    let pushed = demo::push_in_background(url, sync_http::Trust::System, enrolment.clone(), dataset, move |p| {
        if let Some(line) = lines.line(p) {
            eprintln!("{line}");
        }
    })
    .await;
    let _ = stop.send(());
    running.await.context("the demo server stopped unexpectedly")??;
    let report = pushed.with_context(|| format!("the demo push into {data_dir} failed"))?;
    let token_file = demo::write_hq_token(&settings.data_dir, enrolment.hq_token())
        .with_context(|| format!("cannot write the HQ token into {data_dir}"))?;
    eprintln!(
        "pushed {} records ({} changes, {} requests) in {:.1} s; all accepted",
        report.records,
        report.changes,
        report.requests,
        started.elapsed().as_secs_f64()
    );
    outln!("HQ token (also in {}):\n{}", token_file.display(), enrolment.hq_token());
    outln!();
    outln!("Start the server:  fieldsync-server --data-dir {data_dir} serve");
    outln!(
        "Sign in as HQ:     fieldsync --store hq.db init --device-name \"HQ laptop\" --user \"HQ\" && \\\n                   fieldsync --store hq.db enroll --server http://{} --token \"$(cat {})\"",
        settings.listen,
        token_file.display()
    );
    Ok(())
}
