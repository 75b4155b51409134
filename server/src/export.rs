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

/// What an export wrote: each layer's name and feature count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub layers: Vec<(String, u64)>,
}
