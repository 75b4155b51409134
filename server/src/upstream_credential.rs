//! A camp's credential at its upstream (HQ), got by exchanging the enrollment code HQ's `device add --role relay`
//! printed (`fieldsync-server enroll-upstream`), and kept in `<data-dir>/upstream.json`, 0600: the relay's
//! equivalent of a tablet's enrollment. `serve` relays with it when no `--upstream` is given.

use crate::config::Upstream;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use sync_http::{HttpTransport, Trust};

const FILE: &str = "upstream.json";

#[derive(Serialize, Deserialize)]
struct Stored {
    url: String,
    ca_fingerprint: Option<String>,
    insecure_http: bool,
    credential: String,
}

/// Exchanges `invitation`'s code at upstream (over its pinned authority, if it names one) for this camp's
/// credential and keeps it; what upstream enrolled the relay as. Nothing is kept if the exchange fails.
pub fn enroll(
    data_dir: &Path,
    invitation: &protocol::enrollment::Invitation,
    insecure_http: bool,
) -> Result<protocol::DeviceProfile> {
    let url = invitation.server.trim().trim_end_matches('/').to_string();
    let trust = match &invitation.ca_fingerprint {
        Some(fingerprint) => Trust::Pinned(
            sync_http::fetch_authority(&url, fingerprint)
                .with_context(|| format!("cannot enrol with {url}: nothing was changed"))?,
        ),
        None => Trust::System,
    };
    let answer = HttpTransport::with_trust(&url, "", &trust, insecure_http)
        .enroll(&invitation.code)
        .with_context(|| format!("cannot enrol with {url}: nothing was changed"))?;
    let stored = Stored {
        url,
        ca_fingerprint: invitation.ca_fingerprint.clone(),
        insecure_http,
        credential: answer.credential,
    };
    crate::private_files::create_dir(data_dir)?;
    crate::private_files::replace(&data_dir.join(FILE), &serde_json::to_vec_pretty(&stored)?)?;
    Ok(answer.device)
}

/// The upstream this camp enrolled with, if it did.
pub fn recorded(data_dir: &Path) -> Result<Option<Upstream>> {
    let path = data_dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let stored: Stored = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is damaged: enrol with upstream again (`fieldsync-server enroll-upstream`)",
            path.display()
        )
    })?;
    Ok(Some(Upstream {
        url: stored.url,
        token: stored.credential,
        ca_fingerprint: stored.ca_fingerprint,
        insecure_http: stored.insecure_http,
    }))
}
