//! `fieldsync-server`: serve the sync protocol on an embedded SQLite data directory, enrol devices, review
//! quarantine. `main` alone picks the storage backend.

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
    },
    /// Enrol, list and revoke devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Review changes the server refused.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
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
        #[arg(long, value_enum)]
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
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let settings = Settings::resolve(cli.data_dir.clone(), listen, cli.config.as_deref())?;
    let storage = SqliteStorage::open(&settings.data_dir)
        .with_context(|| format!("cannot open the data directory {}", settings.data_dir.display()))?;
    match cli.command {
        Command::Serve { .. } => serve(storage, &settings).await,
        Command::Device(command) => device(storage, command).await,
        Command::Quarantine(QuarantineCommand::List) => quarantine(storage).await,
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
            println!(
                "enrolled {} ({}) as {}; teams: {}",
                device.name,
                device.id,
                role.as_str(),
                join(&device.teams)
            );
            println!("token (shown once; give it to the device with `fieldsync enroll`):\n{token}");
            if !no_qr {
                println!("{}", server::enrollment::qr(&token)?);
            }
        }
        DeviceCommand::List => {
            println!("{:<38} {:<24} {:<12} {:<24} STATUS", "ID", "NAME", "ROLE", "TEAMS");
            for d in storage.devices().await? {
                let status = d
                    .revoked_at
                    .map_or("active".to_string(), |at| format!("revoked {}", at.to_rfc3339()));
                println!(
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
                println!("revoked {device_id}: its token no longer works");
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
        println!(
            "#{} {} record {} from device {}: [{}] {}",
            q.id,
            i.received_at.to_rfc3339(),
            i.record_id,
            i.device_id,
            i.code,
            i.message
        );
        for issue in &i.issues {
            println!("    {issue}");
        }
    }
    println!("{} quarantined change(s)", items.len());
    Ok(())
}

fn join(teams: &BTreeSet<String>) -> String {
    if teams.is_empty() {
        "-".into()
    } else {
        teams.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
