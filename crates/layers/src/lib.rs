//! The GIS layers HQ hands its analysts (shared/domain.md, "What HQ needs out"): one layer per record type, in
//! GeoPackage, GeoJSON (RFC 7946) and CSV, with stable ids, the CRS stated (EPSG:4326) and units in column names,
//! so that the layers open in QGIS or load into IMSMA Core as they are.
//!
//! A national export holds millions of records, so everything here streams: a record becomes a [`Feature`]
//! ([`feature()`]), a writer takes features one at a time, and nothing grows with the number of records except
//! the output file. The three writers share one schema ([`schema`]), so a column means the same in every format.
//!
//! ```no_run
//! # fn main() -> Result<(), layers::LayerError> {
//! # let finds: Vec<domain::Record> = Vec::new();
//! let layer = layers::layer(domain::RecordType::Find);
//! let mut gpkg = layers::GeoPackageWriter::create("export.gpkg")?;
//! gpkg.begin_layer(layer)?;
//! for record in &finds {
//!     gpkg.write(&layers::feature(record))?;
//! }
//! gpkg.finish_layer()?;
//! gpkg.finish()?;
//! # Ok(())
//! # }
//! ```
//!
//! **Architecture invariant:** this crate writes files and knows nothing of the network or of where records are
//! stored; the server feeds it records. It never links tokio, axum, hyper, reqwest, ureq, client-core or server
//! (`.ci/check-dependencies`).

mod csv;
mod error;
mod feature;
mod geojson;
#[cfg(feature = "geopackage")]
mod geopackage;
mod lane;
mod orientation;
pub mod schema;
mod value;
mod wkb;

pub use crate::csv::CsvWriter;
pub use error::LayerError;
pub use feature::{Feature, feature};
pub use geojson::GeoJsonWriter;
#[cfg(feature = "geopackage")]
pub use geopackage::{GeoPackageOptions, GeoPackageWriter, LayerSummary};
pub use schema::{Column, ColumnType, GeometryKind, Layer, layer, layers};
pub use value::{Value, iso_date, iso_datetime};
pub use wkb::{geometry_from_geopackage, geopackage_geometry};
