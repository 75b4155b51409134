//! Server settings: flags first, then environment variables (clap reads both), then a TOML file, then defaults.

use crate::tls::TlsSetting;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";
pub const DEFAULT_DATA_DIR: &str = "fieldsync-data";

/// The optional TOML file, e.g. `data_dir = "/var/lib/fieldsync"` and `listen = "127.0.0.1:7878"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    /// The server this one relays to (a base camp's HQ), and the relay's token there.
    pub upstream: Option<String>,
    pub upstream_token: Option<String>,
    /// The fingerprint of upstream's certificate authority (HQ's `device add` prints it), pinned.
    pub upstream_ca: Option<String>,
    /// Relay to an upstream beyond the loopback over plain HTTP (the token and records cross in clear).
    #[serde(default)]
    pub upstream_insecure_http: bool,
    /// `auto` or `off` (default: `auto` when listening beyond the loopback); or `tls_cert` and `tls_key`.
    pub tls: Option<TlsMode>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// More names or addresses for the `--tls auto` certificate (a camp's DNS name).
    #[serde(default)]
    pub tls_names: Vec<String>,
}

/// `--tls`: the server's own certificate, or plain HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// A certificate authority made for this server on first start, and a server certificate it signs.
    Auto,
    /// Plain HTTP (on the loopback, or behind a proxy that speaks TLS).
    Off,
}

impl FileConfig {
    pub fn read(path: &Path) -> anyhow::Result<FileConfig> {
        use anyhow::Context;
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
    }
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub upstream: Option<Upstream>,
    pub tls: TlsSetting,
}

/// The server a base camp relays to (`serve --upstream URL --upstream-token TOKEN`).
#[derive(Clone, PartialEq)]
pub struct Upstream {
    pub url: String,
    pub token: String,
    /// The fingerprint of the authority upstream's certificate must chain to; None: the system's authorities.
    pub ca_fingerprint: Option<String>,
    /// Plain HTTP to an upstream beyond the loopback, allowed (`--upstream-insecure-http`).
    pub insecure_http: bool,
}

/// Never the token: settings are logged.
impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What the command line and environment give; the file fills what they leave out.
#[derive(Debug, Default, Clone)]
pub struct Given {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub upstream: Option<String>,
    pub upstream_token: Option<String>,
    pub upstream_ca: Option<String>,
    pub upstream_insecure_http: bool,
    pub tls: Option<TlsMode>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_names: Vec<String>,
}

impl Settings {
    /// The data directory alone (given, else the file's, else the default), for a command that must not read
    /// what is in it before it runs (`enroll-upstream` replaces a damaged upstream credential).
    pub fn data_dir(given: Option<PathBuf>, file: Option<&Path>) -> anyhow::Result<PathBuf> {
        let file = file.map(FileConfig::read).transpose()?.unwrap_or_default();
        Ok(data_dir_of(given, file.data_dir))
    }

    pub fn resolve(given: Given, file: Option<&Path>) -> anyhow::Result<Settings> {
        let file = file.map(FileConfig::read).transpose()?.unwrap_or_default();
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse()?;
        let data_dir = data_dir_of(given.data_dir, file.data_dir);
        let upstream = match (
            given.upstream.or(file.upstream),
            given.upstream_token.or(file.upstream_token),
        ) {
            // Flags and the file say nothing: the upstream `enroll-upstream` enrolled this camp with, if any.
            (None, None) => crate::upstream_credential::recorded(&data_dir)?,
            (Some(url), Some(token)) => Some(Upstream {
                url: url.trim_end_matches('/').to_string(),
                token: token.trim().to_string(),
                ca_fingerprint: given
                    .upstream_ca
                    .or(file.upstream_ca)
                    .map(|ca| protocol::enrollment::normalize_fingerprint(&ca))
                    .transpose()
                    .map_err(|why| anyhow::anyhow!("--upstream-ca: {why}"))?,
                insecure_http: given.upstream_insecure_http || file.upstream_insecure_http,
            }),
            (Some(url), None) => anyhow::bail!(
                "an upstream ({url}) needs the relay's credential there: enrol this camp with the code HQ's \
                 `fieldsync-server device add --role relay` printed (`fieldsync-server enroll-upstream --code …`, \
                 then `serve` without --upstream), or give --upstream-token"
            ),
            (None, Some(_)) => anyhow::bail!("an upstream token is given but no upstream: add --upstream URL"),
        };
        let listen = given.listen.or(file.listen).unwrap_or(default_listen);
        let names = if given.tls_names.is_empty() {
            file.tls_names
        } else {
            given.tls_names
        };
        let tls = match (
            given.tls.or(file.tls),
            given.tls_cert.or(file.tls_cert),
            given.tls_key.or(file.tls_key),
        ) {
            (Some(TlsMode::Off), None, None) => TlsSetting::Off,
            (Some(TlsMode::Auto), None, None) => TlsSetting::Auto { names },
            // Beyond the loopback, tokens and records would cross the camp's Wi-Fi in clear. A data directory that
            // has its own authority keeps TLS on: its devices were enrolled over https.
            (None, None, None) if listen.ip().is_loopback() && !crate::tls::has_authority(&data_dir) => TlsSetting::Off,
            (None, None, None) => TlsSetting::Auto { names },
            (None, Some(cert), Some(key)) => TlsSetting::Files { cert, key },
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                anyhow::bail!("give either --tls auto|off or --tls-cert with --tls-key, not both")
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                anyhow::bail!("--tls-cert and --tls-key go together: the certificate chain and its private key")
            }
        };
        Ok(Settings {
            data_dir,
            listen,
            upstream,
            tls,
        })
    }

    /// The address devices reach this server at under these settings (crate::serving::public_url).
    pub fn public_url(&self) -> String {
        crate::serving::public_url(self.listen, self.tls != TlsSetting::Off)
    }
}

/// The data directory given on the command line (or in the environment), else the config file's, else the default.
fn data_dir_of(given: Option<PathBuf>, file: Option<PathBuf>) -> PathBuf {
    given.or(file).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("fieldsync-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("server.toml");
        std::fs::write(&file, "data_dir = \"/srv/fs\"\nlisten = \"127.0.0.1:9000\"\n").expect("write");
        let from_file = Settings::resolve(Given::default(), Some(&file)).expect("file");
        assert_eq!(
            from_file,
            Settings {
                data_dir: "/srv/fs".into(),
                listen: "127.0.0.1:9000".parse().expect("addr"),
                upstream: None,
                tls: TlsSetting::Off,
            }
        );
        let given = Given {
            data_dir: Some("/tmp/x".into()),
            ..Given::default()
        };
        let flagged = Settings::resolve(given, Some(&file)).expect("flags");
        assert_eq!(flagged.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(flagged.listen.port(), 9000);
        let defaults = Settings::resolve(Given::default(), None).expect("defaults");
        assert_eq!(defaults.listen.to_string(), DEFAULT_LISTEN);
        std::fs::write(&file, "datadir = 1\n").expect("write");
        let error = Settings::resolve(Given::default(), Some(&file))
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("not valid"), "{error}");
    }

    #[test]
    fn tls_is_on_beyond_the_loopback_unless_turned_off() {
        let at = |listen: &str| Given {
            listen: Some(listen.parse().expect("addr")),
            ..Given::default()
        };
        let loopback = Settings::resolve(at("127.0.0.1:7878"), None).expect("loopback");
        assert_eq!(
            (loopback.tls.clone(), loopback.public_url()),
            (TlsSetting::Off, "http://127.0.0.1:7878".into())
        );
        let camp = Settings::resolve(at("192.168.8.10:7878"), None).expect("camp");
        assert_eq!(camp.tls, TlsSetting::Auto { names: vec![] });
        assert_eq!(camp.public_url(), "https://192.168.8.10:7878");
        let off = Given {
            tls: Some(TlsMode::Off),
            ..at("192.168.8.10:7878")
        };
        assert_eq!(Settings::resolve(off, None).expect("off").tls, TlsSetting::Off);
        let half = Given {
            tls_cert: Some("chain.pem".into()),
            ..at("192.168.8.10:7878")
        };
        let error = Settings::resolve(half, None).expect_err("no key").to_string();
        assert!(error.contains("--tls-key"), "{error}");
    }

    #[test]
    fn an_upstream_needs_its_token_and_the_token_is_never_shown() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("camp.toml");
        std::fs::write(
            &file,
            "upstream = \"https://hq.example:7878/\"\nupstream_token = \"fst1_secret\"\n",
        )
        .expect("write");
        let settings = Settings::resolve(Given::default(), Some(&file)).expect("file");
        let upstream = settings.upstream.clone().expect("upstream");
        assert_eq!(
            (upstream.url.as_str(), upstream.token.as_str()),
            ("https://hq.example:7878", "fst1_secret")
        );
        assert!(!format!("{settings:?}").contains("fst1_secret"));
        let given = Given {
            upstream: Some("http://10.0.0.1:7878".into()),
            ..Given::default()
        };
        let error = Settings::resolve(given, None).expect_err("no token").to_string();
        assert!(error.contains("--upstream-token"), "{error}");
    }
}
