//! Reading JSON a person gives: a file, or standard input when the file is `-` or absent.

use anyhow::{Context, Result};
use std::io::Read;
use std::path::Path;

pub fn text(file: Option<&Path>) -> Result<String> {
    match file {
        Some(path) if path != Path::new("-") => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input")?;
            Ok(text)
        }
    }
}

pub fn json(file: Option<&Path>) -> Result<serde_json::Value> {
    let text = text(file)?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("input is not valid JSON: {e}"))
}
