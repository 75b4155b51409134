//! Where devices meet this server: the address and the certificate authority to pin, as the last `serve` found
//! them, kept in `<data-dir>/serving.json`. `device add` runs in another process, often before anyone thinks of
//! the flags `serve` was given (`--listen 0.0.0.0:7878`, `--tls`): it enrols devices for the server they will
//! actually meet.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

const FILE: &str = "serving.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serving {
    pub url: String,
    pub ca_fingerprint: Option<String>,
}

impl Serving {
    /// What a server listening on `address` offers devices.
    pub fn at(address: SocketAddr, ca_fingerprint: Option<String>, tls: bool) -> Serving {
        Serving {
            url: public_url(address, tls),
            ca_fingerprint,
        }
    }

    /// Kept for `device add` (written whole, then renamed into place).
    pub fn record(&self, data_dir: &Path) -> Result<()> {
        let path = data_dir.join(FILE);
        let partial = data_dir.join(format!("{FILE}.partial"));
        std::fs::write(&partial, serde_json::to_vec_pretty(self)?)
            .and_then(|()| std::fs::rename(&partial, &path))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// What the last `serve` on `data_dir` offered, if it has run.
    pub fn recorded(data_dir: &Path) -> Option<Serving> {
        let text = std::fs::read(data_dir.join(FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// The address devices dial for a server listening on `address`: when it listens on every interface, the first
/// IPv4 address of one that is not the loopback (what a tablet on the camp's Wi-Fi reaches).
pub fn public_url(address: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let mut address = address;
    if address.ip().is_unspecified() {
        let outside = interface_addresses()
            .into_iter()
            .find(|ip| !ip.is_loopback() && ip.is_ipv4());
        address.set_ip(outside.unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()));
    }
    format!("{scheme}://{address}")
}

/// The addresses of this machine's interfaces (none if they cannot be read).
pub fn interface_addresses() -> Vec<std::net::IpAddr> {
    if_addrs::get_if_addrs()
        .map(|interfaces| interfaces.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}
