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
    /// The certificate devices pin (PEM): the camp's authority, or the last certificate of the operator's chain.
    pub authority_pem: String,
    /// The same, DER.
    pub authority_der: Vec<u8>,
    /// Its fingerprint (protocol::enrollment::fingerprint), as `device add` prints it.
    pub fingerprint: String,
    /// The names and addresses the server certificate is for (with `--tls auto`).
    pub names: Vec<String>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint)
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
        TlsSetting::Files { cert, .. } => {
            let chain = read_chain(cert)?;
            Ok(chain.last().map(|anchor| protocol::enrollment::fingerprint(anchor)))
        }
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
        fingerprint: protocol::enrollment::fingerprint(&authority_der),
        authority_der: authority_der.to_vec(),
        authority_pem,
        names,
    })
}

/// The operator's chain and key. The last certificate of the chain is the one devices pin: put the authority
/// that signed the server's certificate last.
fn from_files(cert: &Path, key: &Path) -> Result<ServerTls> {
    let chain = read_chain(cert)?;
    let anchor = chain
        .last()
        .cloned()
        .context("unreachable: read_chain refuses an empty chain")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("{} holds no private key in PEM: {e}", key.display()))?;
    let authority_pem = pem::encode(&pem::Pem::new("CERTIFICATE", anchor.to_vec()));
    Ok(ServerTls {
        config: rustls_config(chain, key)?,
        fingerprint: protocol::enrollment::fingerprint(&anchor),
        authority_der: anchor.to_vec(),
        authority_pem,
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
    // The key first: an authority certificate without its key would be kept and fail every start.
    crate::private_files::write_new(key_path, key.serialize_pem().as_bytes())?;
    crate::private_files::write_new(cert_path, cert.pem().as_bytes())?;
    tracing::info!(fingerprint = %protocol::enrollment::fingerprint(cert.der()), "made the camp's certificate authority");
    Ok(())
}

/// What the server certificate names: the listen address, or, listening on every interface, each interface's
/// address, the loopback and `localhost`; and the names given with `--tls-name`.
fn certificate_names(listen: SocketAddr, extra: &[String]) -> Vec<String> {
    let mut addresses: Vec<IpAddr> = if listen.ip().is_unspecified() {
        let mut all: Vec<IpAddr> = if_addrs::get_if_addrs()
            .map(|interfaces| interfaces.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default();
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
