//! `fieldsync-server`: serve the sync protocol on an embedded SQLite data directory, enrol devices, review
//! quarantine. `main` opens the storage backend and hands it to the command (commands/).

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

mod commands;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use server::config::Settings;
use std::net::SocketAddr;
use std::path::PathBuf;
use store_sqlite::SqliteStorage;
use sync_core::store::Role;

/// mimalloc instead of glibc's malloc: ingest allocates and frees many small values a record (parsed changes,
/// materialized records, their JSON), and glibc's malloc took a quarter of the server's time (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// Relay to this server (a base camp's HQ) whenever it can be reached: what this camp's devices push goes
        /// up, HQ's decisions come down (docs/relay.md).
        #[arg(long, env = "FIELDSYNC_UPSTREAM")]
        upstream: Option<String>,
        /// This server's token at upstream, where it is enrolled with `device add --role relay`.
        #[arg(long, env = "FIELDSYNC_UPSTREAM_TOKEN", hide_env_values = true)]
        upstream_token: Option<String>,
        /// The fingerprint of upstream's certificate authority (sha256:…, as HQ's `device add` prints it): the
        /// relay then trusts no other certificate there.
        #[arg(long, env = "FIELDSYNC_UPSTREAM_CA")]
        upstream_ca: Option<String>,
        /// Relay to an upstream beyond the loopback over plain http: the relay's token and every record cross
        /// the network in clear.
        #[arg(long)]
        upstream_insecure_http: bool,
        /// Seconds between relay rounds while the link is up (failures back off up to five minutes).
        #[arg(long, env = "FIELDSYNC_UPSTREAM_EVERY", default_value_t = 30)]
        upstream_every: u64,
        #[command(flatten)]
        tls: TlsFlags,
        /// Most connections held at once; beyond it, a new connection closes the one quiet the longest.
        #[arg(long, env = "FIELDSYNC_MAX_CONNECTIONS", default_value_t = server::http::Limits::default().max_connections)]
        max_connections: usize,
        /// MiB of refused changes kept for each device each day; beyond it a device's refusals are counted and
        /// hashed, not kept (`quarantine list` shows both), so a device cannot fill the disk.
        #[arg(long, env = "FIELDSYNC_QUARANTINE_QUOTA_MIB", default_value_t = 64,
              value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
        quarantine_quota_mib: u64,
        /// Least seconds between two reconciles of one device (each compares every record it may see); a
        /// reconcile sooner is refused with `rate_limited`, saying when to sync again. 0: no limit.
        #[arg(long, env = "FIELDSYNC_RECONCILE_EVERY", default_value_t = 10,
              value_parser = clap::value_parser!(u32).range(0..=3600))]
        reconcile_every: u32,
    },
    /// Where this server stands with its upstream: last contact, changes waiting, upstream's refusals.
    Status {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fill an empty data directory with a generated demo programme, pushed through the sync protocol as devices
    /// would; prints the HQ token to sign in with.
    Demo {
        #[arg(long, value_enum, default_value_t = demo::Scale::Small)]
        scale: demo::Scale,
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
        format: hq::export::Format,
        /// The file to write (for GeoJSON or CSV of several layers, a directory of one file per layer).
        #[arg(long)]
        out: PathBuf,
        /// A layer to export (hazard_areas, tasks, daily_reports, worked_areas, finds, ...); repeat for several.
        /// Default: every layer.
        #[arg(long = "layer")]
        layers: Vec<String>,
        #[command(flatten)]
        filter: hq::statistics::Filter,
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
    /// Import a bundle carried on a USB stick: a device's (`fieldsync export-bundle`), checked as a network sync's
    /// push would be, as that device's; at HQ, a camp's (`export-bundle --upstream`), each change judged as the
    /// camp's device that made it; at a camp, HQ's for it (`export-bundle --device` at HQ), taken in as a relay
    /// round would. Refusals are kept in quarantine. A damaged or truncated bundle is refused whole; importing one
    /// twice changes nothing.
    ImportBundle {
        file: PathBuf,
        /// At a camp, its relay's token at HQ, which seals HQ's bundles for it (default: the config file's).
        #[arg(long, env = "FIELDSYNC_UPSTREAM_TOKEN", hide_env_values = true)]
        upstream_token: Option<String>,
    },
    /// Write a bundle: of what a device would pull (`--device`), for a device this server cannot reach over the
    /// network, which imports it with `fieldsync import-bundle`; or, at a camp whose link is down (`--upstream`),
    /// of what the relay would forward, which HQ imports with `fieldsync-server import-bundle`.
    ExportBundle {
        /// The device, by its name or id (`fieldsync-server device list`).
        #[arg(long, required_unless_present = "upstream", conflicts_with = "upstream")]
        device: Option<String>,
        /// Only what the log holds after this position (the device's cursor); by default everything it may see.
        #[arg(long, default_value_t = 0, conflicts_with = "upstream")]
        after: u64,
        /// What this camp's relay has not forwarded to HQ and no earlier bundle held, sealed with the relay's
        /// token at HQ (stop the server first: writing it moves where the relay stands).
        #[arg(long)]
        upstream: bool,
        /// With --upstream: everything HQ has not answered, what earlier bundles held too (one was lost).
        #[arg(long, requires = "upstream")]
        all: bool,
        /// With --upstream: the relay's token at HQ (default: the config file's).
        #[arg(
            long,
            env = "FIELDSYNC_UPSTREAM_TOKEN",
            hide_env_values = true,
            requires = "upstream"
        )]
        upstream_token: Option<String>,
        file: PathBuf,
    },
    /// At a camp: exchange the enrollment code HQ's `device add --role relay` printed for the camp's credential at
    /// HQ, kept in the data directory (0600); `serve` then relays to HQ without --upstream.
    EnrollUpstream {
        /// The whole enrollment code (`fieldsync:enroll?…`).
        #[arg(long)]
        code: String,
        /// Allow plain http to an HQ beyond this machine: the credential and records cross the network in clear.
        #[arg(long)]
        insecure_http: bool,
    },
    /// Make everything the server derives from its change log (records, their warnings and heads, snapshots,
    /// task scopes, HQ's layer tables) again from the log alone. Stop the server first.
    Rebuild,
    /// HQ's statistics: land released, finds, disposals and team productivity (the same as GET /v1/hq/statistics).
    Stats {
        #[command(flatten)]
        filter: hq::statistics::Filter,
        /// Print every figure as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How the server speaks TLS (docs/security.md). Default: `auto` when listening beyond the loopback, else off.
#[derive(Debug, clap::Args)]
struct TlsFlags {
    /// `auto`: a certificate authority made for this server on first start (in <data-dir>/tls/; devices pin it
    /// by the fingerprint `device add` prints) and a server certificate it signs; `off`: plain HTTP.
    #[arg(long, env = "FIELDSYNC_TLS", value_enum)]
    tls: Option<server::config::TlsMode>,
    /// The operator's certificate chain (PEM, the authority devices pin last), instead of `--tls auto`.
    #[arg(long, env = "FIELDSYNC_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "FIELDSYNC_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Another DNS name or address for the `--tls auto` certificate; repeat for several.
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Enrol a device: prints its one-time enrollment code once (and as a QR code for a tablet's camera), which
    /// the device exchanges for its own credential with `fieldsync enroll`.
    Add {
        #[arg(long)]
        name: String,
        /// Its team; repeat for a supervisor of several teams.
        #[arg(long = "team")]
        teams: Vec<String>,
        /// deminer, team-leader, supervisor, hq, relay or admin (docs/authority.md says what each may do).
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        code: CodeFlags,
    },
    List,
    /// Revoke a device: its credential and any enrollment code of it stop working at once.
    Revoke {
        device_id: uuid::Uuid,
    },
    /// Give a device a new enrollment code: its credential and any earlier code stop working at once, and the
    /// device enrols again with the new code (a tablet reinstalled, a credential that may have leaked).
    Rotate {
        device_id: uuid::Uuid,
        #[command(flatten)]
        code: CodeFlags,
    },
}

/// How an enrollment code is handed over.
#[derive(Debug, clap::Args)]
pub struct CodeFlags {
    /// Do not print the QR code.
    #[arg(long)]
    pub no_qr: bool,
    /// The address devices reach this server at (default: where `serve` last served).
    #[arg(long)]
    pub url: Option<String>,
    /// Hours the enrollment code is good for.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=24 * 30))]
    pub expires_in: u32,
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    List,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut given = server::config::Given {
        data_dir: cli.data_dir.clone(),
        ..Default::default()
    };
    let mut every = 30;
    let mut limits = server::http::Limits::default();
    let mut device_limits = commands::serve::DeviceLimits::default();
    if let Command::Serve {
        listen,
        upstream,
        upstream_token,
        upstream_ca,
        upstream_insecure_http,
        upstream_every,
        tls,
        max_connections,
        quarantine_quota_mib,
        reconcile_every,
        ..
    } = &cli.command
    {
        given.upstream_ca = upstream_ca.clone();
        given.upstream_insecure_http = *upstream_insecure_http;
        given.listen = *listen;
        given.upstream = upstream.clone();
        given.upstream_token = upstream_token.clone();
        given.tls = tls.tls;
        given.tls_cert = tls.tls_cert.clone();
        given.tls_key = tls.tls_key.clone();
        given.tls_names = tls.tls_names.clone();
        every = (*upstream_every).max(1);
        limits.max_connections = (*max_connections).max(1);
        device_limits = commands::serve::DeviceLimits {
            quarantine_quota: quarantine_quota_mib << 20,
            reconcile_every: chrono::Duration::seconds(i64::from(*reconcile_every)),
        };
    }
    if let Command::EnrollUpstream { code, insecure_http } = &cli.command {
        // Before the settings: they would read the credential this replaces.
        let data_dir = Settings::data_dir(cli.data_dir.clone(), cli.config.as_deref())?;
        return commands::enroll_upstream::enroll_upstream(&data_dir, code, *insecure_http);
    }
    let settings = Settings::resolve(given, cli.config.as_deref())?;
    let makes_data = matches!(cli.command, Command::Serve { .. } | Command::Demo { .. });
    if !makes_data && !SqliteStorage::holds_data(&settings.data_dir) {
        anyhow::bail!(
            "{} holds no fieldsync data (is --data-dir mistyped?): `fieldsync-server serve` or `fieldsync-server demo` makes a data directory",
            settings.data_dir.display()
        );
    }
    let storage = SqliteStorage::open(&settings.data_dir)
        .with_context(|| format!("cannot open the data directory {}", settings.data_dir.display()))?;
    let appends = match &cli.command {
        Command::Serve { .. } => Some("serve"),
        Command::Demo { .. } => Some("demo"),
        Command::ImportBundle { .. } => Some("import-bundle"),
        Command::ExportBundle { upstream: true, .. } => Some("export-bundle --upstream"),
        Command::Rebuild => Some("rebuild"),
        _ => None,
    };
    let _lock = appends
        .map(|what| server::data_lock::DataLock::take(&settings.data_dir, what))
        .transpose()?;
    match cli.command {
        Command::Serve { demo: false, .. } => {
            commands::serve::serve(storage, &settings, limits, every, device_limits).await
        }
        Command::Serve { demo: true, .. } => commands::serve::serve_demo(storage, &settings, limits).await,
        Command::Demo { scale, seed } => commands::demo::demo(storage, &settings, scale, seed).await,
        Command::Device(command) => commands::device::device(storage, &settings, command).await,
        Command::Quarantine(QuarantineCommand::List) => commands::quarantine::quarantine(storage).await,
        Command::Export {
            format,
            out,
            layers: names,
            filter,
        } => commands::export::export(storage, format, out, &names, filter).await,
        Command::Quality { task, json } => commands::quality::quality(storage, task, json).await,
        Command::Rebuild => commands::rebuild::rebuild(storage, &settings).await,
        Command::ImportBundle { file, upstream_token } => {
            let token = relay_token(upstream_token, &settings);
            commands::bundle::import_bundle(storage, &file, token.as_deref()).await
        }
        Command::ExportBundle {
            upstream: true,
            all,
            upstream_token,
            file,
            ..
        } => {
            let token = relay_token(upstream_token, &settings).context(
                "a bundle for upstream is sealed with the camp's credential at HQ, and this camp has none: enrol it \
                 with the code HQ's `device add --role relay` printed (`fieldsync-server enroll-upstream --code …`), \
                 or give --upstream-token",
            )?;
            commands::bundle::export_upstream_bundle(storage, all, &token, &file).await
        }
        Command::ExportBundle {
            device, after, file, ..
        } => {
            let device = device.context("--device or --upstream")?;
            commands::bundle::export_bundle(storage, &device, after, &file).await
        }
        Command::Status { json } => commands::status::status(storage, json).await,
        Command::EnrollUpstream { .. } => anyhow::bail!("enroll-upstream runs before the storage is opened"),
        Command::Stats { filter, json } => commands::stats::stats(storage, &filter, json).await,
    }
}

/// The camp's relay token at HQ: the one given, or the config file's.
fn relay_token(given: Option<String>, settings: &Settings) -> Option<String> {
    given.or_else(|| settings.upstream.as_ref().map(|u| u.token.clone()))
}

/// Where [`outln`] goes when standard output cannot be written.
fn stdout_failed(error: std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to standard output: {error}");
    std::process::exit(1)
}
