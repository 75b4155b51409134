//! `device add|list|revoke`: enrolling devices, each with a token shown once.

use super::join;
use crate::DeviceCommand;
use anyhow::Result;
use std::collections::BTreeSet;
use store_sqlite::SqliteStorage;
use sync_core::store::{Device, NewDevice, SyncStore};

pub async fn device(storage: SqliteStorage, command: DeviceCommand) -> Result<()> {
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
            let token = sync_core::auth::new_token();
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
                    token_hash: sync_core::auth::token_hash(&token),
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
