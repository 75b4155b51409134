//! `device add|list|revoke`: enrolling devices, each with a token shown once.

use super::join;
use crate::DeviceCommand;
use anyhow::Result;
use server::config::Settings;
use std::collections::BTreeSet;
use store_sqlite::SqliteStorage;
use sync_core::store::{Device, NewDevice, SyncStore};

pub async fn device(storage: SqliteStorage, settings: &Settings, command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Add {
            name,
            teams,
            role,
            no_qr,
            url,
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
            // What the last `serve` offered; before the first, what these settings will.
            let serving = match server::serving::Serving::recorded(&settings.data_dir) {
                Some(serving) => serving,
                None => server::serving::Serving {
                    url: settings.public_url(),
                    ca_fingerprint: server::tls::pinned_fingerprint(&settings.tls, &settings.data_dir)?,
                },
            };
            let invitation = protocol::enrollment::Invitation {
                server: url.unwrap_or(serving.url),
                ca_fingerprint: serving.ca_fingerprint,
                token,
            };
            outln!("server: {}", invitation.server);
            match &invitation.ca_fingerprint {
                Some(fingerprint) => outln!("certificate authority: {fingerprint}"),
                None => outln!("certificate authority: none to pin (plain http, or a certificate the system trusts)"),
            }
            outln!(
                "token (shown once; give it to the device with `fieldsync enroll`):\n{}",
                invitation.token
            );
            outln!(
                "enrollment code (shown once; `fieldsync enroll --code` takes it whole, and the QR code holds it):\n{}",
                invitation.to_text()
            );
            if !no_qr {
                outln!("{}", server::enrollment::qr(&invitation.to_text())?);
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
