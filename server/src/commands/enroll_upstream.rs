//! `enroll-upstream`: a camp exchanges the enrollment code HQ's `device add --role relay` printed for its own
//! credential at HQ, kept in the data directory for `serve` (server/src/upstream_credential.rs).

use anyhow::Result;
use std::path::Path;

pub fn enroll_upstream(data_dir: &Path, code: &str, insecure_http: bool) -> Result<()> {
    let invitation = protocol::enrollment::Invitation::parse(code).map_err(|why| {
        anyhow::anyhow!("{why} (give the whole code HQ's `device add --role relay` printed, in quotes)")
    })?;
    if insecure_http {
        eprintln!(
            "warning: --insecure-http: the camp's credential at HQ and every record relayed cross the network in clear"
        );
    }
    let device = server::upstream_credential::enroll(data_dir, &invitation, insecure_http)?;
    outln!(
        "enrolled with {} as {} ({}, teams: {}); `fieldsync-server serve` now relays there",
        invitation.server,
        device.name,
        device.role.as_str(),
        device.teams.join(", ")
    );
    Ok(())
}
