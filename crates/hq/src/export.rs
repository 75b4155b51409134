//! HQ's exports: GIS layers of the merged dataset as GeoPackage, GeoJSON or CSV (crates/layers), filtered like the
//! statistics (period, organisation, team, task, review status). The storage backend selects the records and
//! streams them, one at a time, into the writers: memory stays flat however large the export.

use crate::statistics::Filter;
use domain::RecordType;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One GeoPackage holding every layer (EPSG:4326).
    Gpkg,
    /// RFC 7946 FeatureCollections, one per layer.
    Geojson,
    /// CSV, one file per layer.
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Gpkg => "gpkg",
            Format::Geojson => "geojson",
            Format::Csv => "csv",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Gpkg => "application/geopackage+sqlite3",
            Format::Geojson => "application/geo+json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// What to export, and where to write it.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub filter: Filter,
    pub format: Format,
    /// The layers, by record type. GeoJSON and CSV of one layer go to `path`; of several, to `path` as a directory
    /// holding `<layer>.<extension>` files. A GeoPackage holds every layer in the one file.
    pub record_types: Vec<RecordType>,
    pub path: PathBuf,
}

impl ExportRequest {
    /// Removes whatever the export wrote or began to write (the file, a directory of layer files, a GeoPackage's
    /// `.partial`): for an export nobody will read, failed or abandoned. What is not there is no error.
    pub fn discard_output(&self) {
        let mut partial = self.path.clone().into_os_string();
        partial.push(".partial");
        for path in [self.path.clone(), PathBuf::from(partial)] {
            let _ = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(_) => Ok(()),
            };
        }
    }
}

/// What an export wrote: each layer's name and feature count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub layers: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: PathBuf) -> ExportRequest {
        ExportRequest {
            filter: Filter::default(),
            format: Format::Gpkg,
            record_types: vec![RecordType::Find],
            path,
        }
    }

    #[test]
    fn discarding_removes_the_file_a_directory_of_layers_or_a_partial_geopackage() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("one.geojson");
        std::fs::write(&file, "{}").expect("file");
        let layers = dir.path().join("layers");
        std::fs::create_dir(&layers).expect("dir");
        std::fs::write(layers.join("finds.csv"), "record_id").expect("layer");
        let partial = dir.path().join("national.gpkg.partial");
        std::fs::write(&partial, "SQLite").expect("partial");
        for path in [&file, &layers, &dir.path().join("national.gpkg")] {
            request(path.clone()).discard_output();
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("listing").count(), 0);
        // Nothing there: no error, nothing else touched.
        request(dir.path().join("never-written.csv")).discard_output();
    }
}
