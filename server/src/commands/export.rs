//! `export`: GIS layers to files, as `GET /v1/hq/export` gives them.

use anyhow::{Context, Result};
use hq::HqReadModel;
use std::path::PathBuf;
use store_sqlite::SqliteStorage;

/// `export`: the layers to a file, a progress line per 10,000 features.
pub async fn export(
    storage: SqliteStorage,
    format: hq::export::Format,
    out: PathBuf,
    names: &[String],
    filter: hq::statistics::Filter,
) -> Result<()> {
    let record_types = if names.is_empty() {
        domain::RecordType::ALL.to_vec()
    } else {
        names
            .iter()
            .map(|name| {
                domain::RecordType::ALL
                    .into_iter()
                    .find(|t| &layers::layer(*t).name == name)
                    .with_context(|| {
                        let all: Vec<&str> = layers::layers().iter().map(|l| l.name.as_str()).collect();
                        format!("there is no layer {name:?}; the layers are {}", all.join(", "))
                    })
            })
            .collect::<Result<_>>()?
    };
    let request = hq::export::ExportRequest {
        filter,
        format,
        record_types,
        path: out.clone(),
    };
    let started = std::time::Instant::now();
    let summary = storage
        .export(request, |layer, count| eprintln!("{layer}: {count} features"))
        .await?;
    let total: u64 = summary.layers.iter().map(|(_, n)| n).sum();
    outln!(
        "wrote {total} features in {} layer(s) to {} in {:.1} s",
        summary.layers.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
