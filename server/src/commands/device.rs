//! `device add|list|revoke|rotate`: enrolling devices, each with a one-time enrollment code shown once, which the
//! device exchanges for its own credential (docs/security.md, "Enrollment codes and credentials").

use super::join;
use crate::{CodeFlags, DeviceCommand};
use anyhow::Result;
use server::config::Settings;
use std::collections::BTreeSet;
use store_sqlite::SqliteStorage;
use sync_core::store::{Device, NewDevice, SyncStore};
use uuid::Uuid;

pub async fn device(storage: SqliteStorage, settings: &Settings, command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Add {
            name,
            teams,
            role,
            code,
        } => {
            if teams.is_empty() && !role.sees_everything() {
                anyhow::bail!(
                    "a {} device needs --team (repeat it for a supervisor of several teams)",
                    role.as_str()
                );
            }
            let device = Device {
                id: Uuid::now_v7(),
                name,
                teams: teams.into_iter().collect::<BTreeSet<_>>(),
                role,
                created_at: chrono::Utc::now(),
                revoked_at: None,
            };
            // The credential this makes is thrown away: the device's own comes from exchanging its code.
            storage
                .add_device(NewDevice {
                    device: device.clone(),
                    token_hash: sync_core::auth::token_hash(&sync_core::auth::new_token()),
                })
                .await?;
            outln!(
                "enrolled {} ({}) as {}; teams: {}",
                device.name,
                device.id,
                role.as_str(),
                join(&device.teams)
            );
            hand_over_code(&storage, settings, device.id, &code).await?;
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
                outln!("revoked {device_id}: its credential and enrollment codes no longer work");
            } else {
                anyhow::bail!("no active device {device_id} (see `fieldsync-server device list`)");
            }
        }
        DeviceCommand::Rotate { device_id, code } => {
            hand_over_code(&storage, settings, device_id, &code).await?;
            outln!("{device_id}'s credential and any earlier code stopped working: enrol it again with this code");
        }
    }
    Ok(())
}

/// Issues the device a new enrollment code (retiring its credential and earlier code) and prints it once, with
/// the server's address and the authority to pin, as text and as a QR code.
async fn hand_over_code(
    storage: &SqliteStorage,
    settings: &Settings,
    device_id: Uuid,
    flags: &CodeFlags,
) -> Result<()> {
    let lifetime = chrono::Duration::hours(i64::from(flags.expires_in));
    let (code, stored) = sync_core::auth::issue(device_id, chrono::Utc::now(), lifetime);
    let expires_at = stored.expires_at;
    if !storage.issue_code(stored).await? {
        anyhow::bail!(
            "no active device {device_id} enrolled here (see `fieldsync-server device list`; a revoked device stays \
             revoked: add it again)"
        );
    }
    // What the last `serve` offered; before the first, what these settings will.
    let serving = match server::serving::Serving::recorded(&settings.data_dir) {
        Some(serving) => serving,
        None => server::serving::Serving {
            url: settings.public_url(),
            ca_fingerprint: server::tls::pinned_fingerprint(&settings.tls, &settings.data_dir)?,
        },
    };
    let invitation = protocol::enrollment::Invitation {
        server: flags.url.clone().unwrap_or(serving.url),
        ca_fingerprint: serving.ca_fingerprint,
        code,
    };
    outln!("server: {}", invitation.server);
    match &invitation.ca_fingerprint {
        Some(fingerprint) => outln!("certificate authority: {fingerprint}"),
        None => outln!("certificate authority: none to pin (plain http, or a certificate the system trusts)"),
    }
    outln!(
        "code (works once, until {}; give it to the device with `fieldsync enroll`):\n{}",
        expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        invitation.code
    );
    outln!(
        "enrollment code (shown once; `fieldsync enroll --code` takes it whole, and the QR code holds it):\n{}",
        invitation.to_text()
    );
    if !flags.no_qr {
        outln!("{}", server::enrollment::qr(&invitation.to_text())?);
    }
    Ok(())
}
