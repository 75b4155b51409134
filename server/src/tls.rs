//! TLS at the edge: the certificate the server presents. Either the operator's (`--tls-cert FILE --tls-key FILE`)
//! or the camp's own (`--tls auto`): on first use a certificate authority is made for this server in
//! `<data-dir>/tls/` (its key readable by the server's user alone), and at every start a server certificate signed
//! by it for the addresses the server listens on. Devices pin the authority, by the fingerprint `device add`
//! prints, so the server certificate can be made again whenever the camp's addresses change.
//!
//! Why an authority and a leaf rather than one self-signed certificate: webpki, which rustls verifies with, refuses
//! a certificate used both as the trust anchor and as the server's own (`CaUsedAsEndEntity`).
//!
//! Neither certificate expires before the year 4096 (rcgen's default): a tablet whose battery died comes back with
//! its clock in 1970 or years off, and a camp has no one to renew certificates. What protects a camp is the pinned
//! authority, whose key never leaves the data directory.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How the server speaks TLS (`serve --tls`, `--tls-cert`, `--tls-key`; `tls`, `tls_cert`, `tls_key` in the
/// config file).
#[derive(Debug, Clone, PartialEq)]
pub enum TlsSetting {
    /// Plain HTTP: on the loopback, or behind a proxy that speaks TLS for the server.
    Off,
    /// The camp's own authority and a server certificate for the listen address, and for `names` too.
    Auto { names: Vec<String> },
    /// The operator's certificate chain and key, PEM files.
    Files { cert: PathBuf, key: PathBuf },
}

/// What the server presents, and what devices pin.
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    /// The authority devices pin: the camp's own with `--tls auto`; None for the operator's certificate, which
    /// the system's authorities vouch for.
    pub authority: Option<Authority>,
    /// The names and addresses the server certificate is for (with `--tls auto`).
    pub names: Vec<String>,
}

/// The certificate of the authority devices pin.
#[derive(Debug, Clone)]
pub struct Authority {
    pub der: Vec<u8>,
    pub pem: String,
    /// protocol::enrollment::fingerprint of it, as `device add` prints it.
    pub fingerprint: String,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("authority", &self.authority.as_ref().map(|a| &a.fingerprint))
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

const DIR: &str = "tls";
const AUTHORITY_CERT: &str = "authority.pem";
const AUTHORITY_KEY: &str = "authority.key";

/// The TLS the server speaks with `setting` while listening on `listen`; None for plain HTTP.
pub fn server_tls(setting: &TlsSetting, data_dir: &Path, listen: SocketAddr) -> Result<Option<ServerTls>> {
    match setting {
        TlsSetting::Off => Ok(None),
        TlsSetting::Auto { names } => auto(data_dir, listen, names).map(Some),
        TlsSetting::Files { cert, key } => from_files(cert, key).map(Some),
    }
}

/// The fingerprint devices pin under `setting`, without serving (`device add`): with `--tls auto` the camp's
/// authority is made now if it does not exist yet, so the first tablets can be enrolled before the first start.
pub fn pinned_fingerprint(setting: &TlsSetting, data_dir: &Path) -> Result<Option<String>> {
    match setting {
        TlsSetting::Off => Ok(None),
        TlsSetting::Auto { .. } => Ok(Some(protocol::enrollment::fingerprint(&authority(data_dir)?.0))),
        // The operator's certificate is one the system's authorities sign (a public name's): devices trust them,
        // pinning nothing that a renewal would change. A private authority is what `--tls auto` is for.
        TlsSetting::Files { .. } => Ok(None),
    }
}

/// Whether the data directory holds the camp's own authority (a `--tls auto` server has run on it).
pub fn has_authority(data_dir: &Path) -> bool {
    data_dir.join(DIR).join(AUTHORITY_CERT).exists()
}

/// `--tls auto`: the camp's authority (made on first use) and a fresh server certificate it signs.
fn auto(data_dir: &Path, listen: SocketAddr, extra: &[String]) -> Result<ServerTls> {
    let (authority_der, authority_pem, authority_key) = authority(data_dir)?;
    let names = certificate_names(listen, extra);
    let issuer = Issuer::from_ca_cert_pem(&authority_pem, authority_key)
        .context("the camp's certificate authority in the data directory is damaged")?;
    let mut params = CertificateParams::new(names.clone()).context("a --tls-name is not a valid DNS name")?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("fieldsync server {}", names.join(" ")));
    params.use_authority_key_identifier_extension = true;
    params.key_usages.push(KeyUsagePurpose::DigitalSignature);
    params.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    let key = KeyPair::generate()?;
    let leaf = params.signed_by(&key, &issuer)?;
    let chain = vec![leaf.der().clone(), authority_der.clone()];
    let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
    Ok(ServerTls {
        config: rustls_config(chain, key)?,
        authority: Some(Authority {
            fingerprint: protocol::enrollment::fingerprint(&authority_der),
            der: authority_der.to_vec(),
            pem: authority_pem,
        }),
        names,
    })
}

/// The operator's chain and key; devices trust it through the system's authorities, pinning nothing.
fn from_files(cert: &Path, key: &Path) -> Result<ServerTls> {
    let chain = read_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{} holds no private key in PEM: {e}", key.display()))?;
    Ok(ServerTls {
        config: rustls_config(chain, key)?,
        authority: None,
        names: Vec::new(),
    })
}

fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read the certificate chain {}: {e}", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate in PEM", cert.display());
    Ok(chain)
}

fn rustls_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The camp's authority: its certificate (DER and PEM) and key, made and written on first use (the key 0600 in a
/// 0700 directory).
fn authority(data_dir: &Path) -> Result<(CertificateDer<'static>, String, KeyPair)> {
    let dir = data_dir.join(DIR);
    let (cert_path, key_path) = (dir.join(AUTHORITY_CERT), dir.join(AUTHORITY_KEY));
    if !cert_path.exists() {
        // A key without its certificate is what a start cut off while making the authority leaves: no device
        // can have pinned it, so it is made again.
        if key_path.exists() {
            std::fs::remove_file(&key_path).with_context(|| format!("cannot remove {}", key_path.display()))?;
        }
        make_authority(&dir, &cert_path, &key_path)?;
    }
    let pem_text =
        std::fs::read_to_string(&cert_path).with_context(|| format!("cannot read {}", cert_path.display()))?;
    let key_text = std::fs::read_to_string(&key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
    let der = CertificateDer::from_pem_slice(pem_text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{} is not a certificate: {e}", cert_path.display()))?;
    let key = KeyPair::from_pem(&key_text).with_context(|| format!("{} is not a private key", key_path.display()))?;
    Ok((der, pem_text, key))
}

fn make_authority(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<()> {
    crate::private_files::create_dir(dir)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    // It signs server certificates only, never another authority.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::OrganizationName, "fieldsync");
    params.distinguished_name.push(
        DnType::CommonName,
        format!("fieldsync camp authority {}", uuid::Uuid::new_v4().simple()),
    );
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    // The key first: the certificate is what says the authority exists, so a start cut off between the two
    // leaves a key alone, which the next start replaces.
    crate::private_files::write_new(key_path, key.serialize_pem().as_bytes())?;
    crate::private_files::write_new(cert_path, cert.pem().as_bytes())?;
    tracing::info!(fingerprint = %protocol::enrollment::fingerprint(cert.der()), "made the camp's certificate authority");
    Ok(())
}

/// What the server certificate names: the listen address, or, listening on every interface, each interface's
/// address, the loopback and `localhost`; and the names given with `--tls-name`.
fn certificate_names(listen: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut addresses: Vec<IpAddr> = if listen.ip().is_unspecified() {
        let mut all = crate::serving::interface_addresses();
        all.extend([
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ]);
        all
    } else {
        vec![listen.ip()]
    };
    addresses.sort();
    addresses.dedup();
    let mut names: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    if listen.ip().is_unspecified() || listen.ip().is_loopback() {
        names.push("localhost".into());
    }
    names.extend(extra.iter().cloned());
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn the_camps_authority_is_made_once_private_and_again_after_a_cut_off_start() {
        let dir = tempfile::tempdir().expect("dir");
        let auto = TlsSetting::Auto { names: vec![] };
        let first = pinned_fingerprint(&auto, dir.path())
            .expect("made")
            .expect("a fingerprint");
        assert_eq!(
            pinned_fingerprint(&auto, dir.path()).expect("read").as_ref(),
            Some(&first),
            "made once"
        );
        let tls = dir.path().join(DIR);
        assert_eq!((mode(&tls), mode(&tls.join(AUTHORITY_KEY))), (0o700, 0o600));
        let served = server_tls(&auto, dir.path(), "127.0.0.1:7878".parse().expect("addr"))
            .expect("served")
            .expect("tls");
        assert_eq!(served.authority.map(|a| a.fingerprint), Some(first.clone()));
        assert_eq!(served.names, vec!["127.0.0.1".to_string(), "localhost".to_string()]);

        // A start cut off after the key was written and before the certificate: the next one makes both again.
        std::fs::remove_file(tls.join(AUTHORITY_CERT)).expect("remove");
        let again = pinned_fingerprint(&auto, dir.path())
            .expect("made again")
            .expect("a fingerprint");
        assert_ne!(again, first);
    }
}
