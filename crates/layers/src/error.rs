//! What can go wrong while writing a layer, named so that a caller (the server's export endpoint) can tell the
//! operator which file, layer, record or column is at fault.

use crate::schema::{ColumnType, GeometryKind};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write failed: {0}")]
    Write(#[from] std::io::Error),
    #[cfg(feature = "geopackage")]
    #[error("geopackage {path}: {action} failed: {source}")]
    Sqlite {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("geopackage {path} is unusable after an earlier error: drop the writer and export again")]
    Unusable { path: PathBuf },
    #[error("csv write failed: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("name `{name}` cannot be a layer or column name: use lower-case ascii letters, digits and `_`")]
    InvalidName { name: String },
    #[error("layer `{layer}` has the column `{column}` twice (or a column the writer reserves: fid, geom)")]
    DuplicateColumn { layer: String, column: String },
    #[error("layer `{layer}` is already in this geopackage")]
    DuplicateLayer { layer: String },
    #[error("layer `{open}` is still open: finish it before beginning `{next}`")]
    LayerStillOpen { open: String, next: String },
    #[error("no layer is open: call begin_layer first")]
    NoLayerOpen,
    #[error("layer `{layer}`, record {record_id}: {found} values for {expected} columns")]
    ColumnCount {
        layer: String,
        record_id: Uuid,
        expected: usize,
        found: usize,
    },
    #[error("layer `{layer}`, record {record_id}: column `{column}` is {expected:?}, the value is {found}")]
    ValueType {
        layer: String,
        record_id: Uuid,
        column: String,
        expected: ColumnType,
        found: &'static str,
    },
    #[error("layer `{layer}`, record {record_id}: the layer holds {expected:?} geometries, the feature has {found}")]
    GeometryType {
        layer: String,
        record_id: Uuid,
        expected: GeometryKind,
        found: &'static str,
    },
    #[error("layer `{layer}`, record {record_id}: {problem}")]
    InvalidGeometry {
        layer: String,
        record_id: Uuid,
        problem: &'static str,
    },
    #[error("unreadable GeoPackage geometry: {problem}")]
    UnreadableGeometry { problem: String },
}
