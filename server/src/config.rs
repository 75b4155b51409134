//! Server settings: flags first, then environment variables (clap reads both), then a TOML file, then defaults.

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
}

impl Settings {
    pub fn resolve(
        data_dir: Option<PathBuf>,
        listen: Option<SocketAddr>,
        file: Option<&Path>,
    ) -> anyhow::Result<Settings> {
        let file = file.map(FileConfig::read).transpose()?.unwrap_or_default();
        let default_listen: SocketAddr = DEFAULT_LISTEN.parse()?;
        Ok(Settings {
            data_dir: data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen: listen.or(file.listen).unwrap_or(default_listen),
        })
    }
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
        let from_file = Settings::resolve(None, None, Some(&file)).expect("file");
        assert_eq!(
            from_file,
            Settings {
                data_dir: "/srv/fs".into(),
                listen: "127.0.0.1:9000".parse().expect("addr")
            }
        );
        let flagged = Settings::resolve(Some("/tmp/x".into()), None, Some(&file)).expect("flags");
        assert_eq!(flagged.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(flagged.listen.port(), 9000);
        let defaults = Settings::resolve(None, None, None).expect("defaults");
        assert_eq!(defaults.listen.to_string(), DEFAULT_LISTEN);
        std::fs::write(&file, "datadir = 1\n").expect("write");
        let error = Settings::resolve(None, None, Some(&file))
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("not valid"), "{error}");
    }
}
