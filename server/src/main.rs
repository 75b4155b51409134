//! `fieldsync-server`: serve the sync protocol on an embedded SQLite data directory, enrol devices, review
//! quarantine. `main` alone picks the storage backend.

/// `println!` that ends the program quietly when standard output is closed (`fieldsync-server device list | head`)
/// instead of panicking as `println!` does: the reader has had what it wanted. Any other failure to write is an
/// error.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            $crate::stdout_failed(e);
        }
    }};
}

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use server::config::Settings;
use server::storage::{Device, NewDevice, Role, SqliteStorage, Storage};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "fieldsync-server", version, about = "The fieldsync sync server")]
struct Cli {
    /// The data directory (the embedded database lives here).
    #[arg(long, global = true, env = "FIELDSYNC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A TOML file with `data_dir` and `listen`; flags and environment variables win over it.
    #[arg(long, global = true, env = "FIELDSYNC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync protocol until interrupted (Ctrl-C or SIGTERM finish the requests in flight).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "FIELDSYNC_LISTEN")]
        listen: Option<SocketAddr>,
        /// If the data directory is empty, fill it with the small demo programme in the background (the HQ token is
        /// written to <data-dir>/demo-hq-token.txt).
        #[arg(long)]
        demo: bool,
    },
    /// Fill an empty data directory with a generated demo programme, pushed through the sync protocol as devices
    /// would; prints the HQ token to sign in with.
    Demo {
        #[arg(long, value_enum, default_value_t = server::demo::Scale::Small)]
        scale: server::demo::Scale,
        /// The same seed gives the same records.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Enrol, list and revoke devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Review changes the server refused.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Export GIS layers (the same as GET /v1/hq/export), with progress on stderr.
    Export {
        #[arg(long, value_enum)]
        format: server::export::Format,
        /// The file to write (for GeoJSON or CSV of several layers, a directory of one file per layer).
        #[arg(long)]
        out: PathBuf,
        /// A layer to export (hazard_areas, tasks, daily_reports, worked_areas, finds, ...); repeat for several.
        /// Default: every layer.
        #[arg(long = "layer")]
        layers: Vec<String>,
        #[command(flatten)]
        filter: server::statistics::Filter,
    },
    /// HQ's data-quality report: invalid polygons, overlapping worked areas, finds outside their worked area,
    /// duplicate find candidates, records carrying warnings, records stuck in review, approvals the approving
    /// device's role did not allow.
    Quality {
        /// One task's record id (default: every task).
        #[arg(long)]
        task: Option<uuid::Uuid>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make everything the server derives from its change log (records, their warnings and heads, snapshots,
    /// task scopes, HQ's layer tables) again from the log alone. Stop the server first.
    Rebuild,
    /// HQ's statistics: land released, finds, disposals and team productivity (the same as GET /v1/hq/statistics).
    Stats {
        #[command(flatten)]
        filter: server::statistics::Filter,
        /// Print every figure as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Enrol a device; prints its token once (and as a QR code for a tablet's camera).
    Add {
        #[arg(long)]
        name: String,
        /// Its team; repeat for a supervisor of several teams.
        #[arg(long = "team")]
        teams: Vec<String>,
        /// deminer, team-leader, supervisor, hq, relay or admin (docs/authority.md says what each may do).
        #[arg(long)]
        role: Role,
        /// Do not print the QR code.
        #[arg(long)]
        no_qr: bool,
    },
    List,
    /// Revoke a device: its token stops working at once.
    Revoke {
        device_id: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    List,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen, .. } => *listen,
        _ => None,
    };
    let settings = Settings::resolve(cli.data_dir.clone(), listen, cli.config.as_deref())?;
    let storage = SqliteStorage::open(&settings.data_dir)
        .with_context(|| format!("cannot open the data directory {}", settings.data_dir.display()))?;
    match cli.command {
        Command::Serve { demo: false, .. } => serve(storage, &settings).await,
        Command::Serve { demo: true, .. } => serve_demo(storage, &settings).await,
        Command::Demo { scale, seed } => demo(storage, &settings, scale, seed).await,
        Command::Device(command) => device(storage, command).await,
        Command::Quarantine(QuarantineCommand::List) => quarantine(storage).await,
        Command::Export {
            format,
            out,
            layers: names,
            filter,
        } => export(storage, format, out, &names, filter).await,
        Command::Quality { task, json } => quality(storage, task, json).await,
        Command::Rebuild => rebuild(storage, &settings).await,
        Command::Stats { filter, json } => stats(storage, &filter, json).await,
    }
}

async fn serve(storage: SqliteStorage, settings: &Settings) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .json()
        .init();
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    tracing::info!(address = %listener.local_addr()?, data_dir = %settings.data_dir.display(), server_id = %storage.server_id(), "serving");
    server::app::run(listener, server::app::App::new(storage), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
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

async fn device(storage: SqliteStorage, command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Add {
            name,
            teams,
            role,
            no_qr,
        } => {
            if teams.is_empty() && !role.sees_everything() {
                anyhow::bail!(
                    "a {} device needs --team (repeat it for a supervisor of several teams)",
                    role.as_str()
                );
            }
            let token = server::auth::new_token();
            let device = Device {
                id: uuid::Uuid::now_v7(),
                name,
                teams: teams.into_iter().collect::<BTreeSet<_>>(),
                role,
                created_at: chrono::Utc::now(),
                revoked_at: None,
            };
            storage
                .add_device(NewDevice {
                    device: device.clone(),
                    token_hash: server::auth::token_hash(&token),
                })
                .await?;
            outln!(
                "enrolled {} ({}) as {}; teams: {}",
                device.name,
                device.id,
                role.as_str(),
                join(&device.teams)
            );
            outln!("token (shown once; give it to the device with `fieldsync enroll`):\n{token}");
            if !no_qr {
                outln!("{}", server::enrollment::qr(&token)?);
            }
        }
        DeviceCommand::List => {
            outln!("{:<38} {:<24} {:<12} {:<24} STATUS", "ID", "NAME", "ROLE", "TEAMS");
            for d in storage.devices().await? {
                let status = d
                    .revoked_at
                    .map_or("active".to_string(), |at| format!("revoked {}", at.to_rfc3339()));
                outln!(
                    "{:<38} {:<24} {:<12} {:<24} {status}",
                    d.id,
                    d.name,
                    d.role.as_str(),
                    join(&d.teams)
                );
            }
        }
        DeviceCommand::Revoke { device_id } => {
            if storage.revoke_device(device_id, chrono::Utc::now()).await? {
                outln!("revoked {device_id}: its token no longer works");
            } else {
                anyhow::bail!("no active device {device_id} (see `fieldsync-server device list`)");
            }
        }
    }
    Ok(())
}

async fn quarantine(storage: SqliteStorage) -> Result<()> {
    let items = storage.quarantined().await?;
    for q in &items {
        let i = &q.item;
        outln!(
            "#{} {} record {} from device {}: [{}] {}",
            q.id,
            i.received_at.to_rfc3339(),
            i.record_id,
            i.device_id,
            i.code,
            i.message
        );
        for issue in &i.issues {
            outln!("    {issue}");
        }
    }
    outln!("{} quarantined change(s)", items.len());
    Ok(())
}

/// `export`: the layers to a file, a progress line per 10,000 features.
async fn export(
    storage: SqliteStorage,
    format: server::export::Format,
    out: PathBuf,
    names: &[String],
    filter: server::statistics::Filter,
) -> Result<()> {
    let record_types = if names.is_empty() {
        domain::RecordType::ALL.to_vec()
    } else {
        names
            .iter()
            .map(|name| {
                domain::RecordType::ALL
                    .into_iter()
                    .find(|t| &layers::layer(*t).name == name)
                    .with_context(|| {
                        let all: Vec<&str> = layers::layers().iter().map(|l| l.name.as_str()).collect();
                        format!("there is no layer {name:?}; the layers are {}", all.join(", "))
                    })
            })
            .collect::<Result<_>>()?
    };
    let request = server::export::ExportRequest {
        filter,
        format,
        record_types,
        path: out.clone(),
    };
    let started = std::time::Instant::now();
    let summary = storage
        .export(request, |layer, count| eprintln!("{layer}: {count} features"))
        .await?;
    let total: u64 = summary.layers.iter().map(|(_, n)| n).sum();
    outln!(
        "wrote {total} features in {} layer(s) to {} in {:.1} s",
        summary.layers.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `quality`: one line per finding, or JSON.
async fn quality(storage: SqliteStorage, task: Option<uuid::Uuid>, json: bool) -> Result<()> {
    let programme = domain::Programme::default();
    let report = server::quality_report::report(&storage, &programme, task, chrono::Utc::now()).await?;
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

/// `rebuild`: the derived tables from the log, with progress on stderr every tenth of each pass.
async fn rebuild(storage: SqliteStorage, settings: &Settings) -> Result<()> {
    let started = std::time::Instant::now();
    let mut shown = (0, 0);
    let summary = server::rebuild::rebuild(&storage, &domain::Programme::default(), |p| {
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

/// `stats`: the headline in ANAMA's form and land released per team, or everything as JSON.
async fn stats(storage: SqliteStorage, filter: &server::statistics::Filter, json: bool) -> Result<()> {
    let filter = filter.clone().reported();
    let stats = storage.statistics(&filter).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(());
    }
    let h = &stats.headline;
    let counted = match filter.review {
        Some(server::statistics::ReviewFilter::Approved) | None => {
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

/// `demo`: generate, enrol, start a server on 127.0.0.1:0 in this process, push, stop it, say how to sign in.
async fn demo(storage: SqliteStorage, settings: &Settings, scale: server::demo::Scale, seed: u64) -> Result<()> {
    use server::demo;
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
    let running = tokio::spawn(server::app::run(listener, server::app::App::new(storage), async move {
        let _ = stopped.await;
    }));
    let mut lines = demo::ProgressLines::default();
    let pushed = demo::push_in_background(url, enrolment.clone(), dataset, move |p| {
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
        "pushed {} records ({} changes, {} requests, {} warnings) in {:.1} s; all accepted",
        report.records,
        report.changes,
        report.requests,
        report.warnings.len(),
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

/// `serve --demo`: `serve`, and if the data directory is empty, fill it with the small demo in the background as
/// soon as the listener is bound.
async fn serve_demo(storage: SqliteStorage, settings: &Settings) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .json()
        .init();
    let fill = storage.last_seq().await? == 0;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data_dir = %settings.data_dir.display(), server_id = %storage.server_id(), "serving");
    let app = server::app::App::new(storage);
    if fill {
        let (app, data_dir) = (app.clone(), settings.data_dir.clone());
        tokio::spawn(async move {
            match fill_demo(&app.storage, address, &data_dir).await {
                Ok(message) => tracing::info!("demo: {message}"),
                Err(e) => tracing::error!("demo: {e:#}"),
            }
        });
    } else {
        tracing::info!("the data directory already holds records: serving it without adding the demo");
    }
    server::app::run(listener, app, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Enrols the small demo's devices and pushes it to this server, listening on `address`.
async fn fill_demo(storage: &SqliteStorage, address: SocketAddr, data_dir: &std::path::Path) -> Result<String> {
    use server::demo;
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
    let report = demo::push_in_background(format!("http://{target}"), enrolment.clone(), dataset, move |p| {
        if let Some(line) = lines.line(p) {
            tracing::info!("demo: {line}");
        }
    })
    .await?;
    let path = demo::write_hq_token(data_dir, enrolment.hq_token())
        .with_context(|| format!("cannot write the HQ token into {}", data_dir.display()))?;
    Ok(format!(
        "pushed {} records ({} changes); open the dashboard at http://{target}/ and sign in with the token in {}",
        report.records,
        report.changes,
        path.display()
    ))
}

fn join(teams: &BTreeSet<String>) -> String {
    if teams.is_empty() {
        "-".into()
    } else {
        teams.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Where [`outln`] goes when standard output cannot be written.
fn stdout_failed(error: std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {error}");
    std::process::exit(1)
}
