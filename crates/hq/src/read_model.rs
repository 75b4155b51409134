//! HQ's read model: the contract a storage backend keeps for HQ's figures, map and exports, read from its
//! materialized tables (one per record type, crates/layers' columns). Apart from the sync store's contract
//! (sync_core::store), so that a backend answers each from what suits it.

use crate::{export, map, statistics};
use std::future::Future;
use sync_core::store::StorageError;

/// HQ's read model. Futures are `Send` so that request handlers can await them.
pub trait HqReadModel: Send + Sync + 'static {
    /// A directory for an export's temporary file, on the data's own disk: an HQ export can be gigabytes, and
    /// the system's temporary directory may be memory.
    fn scratch_dir(&self) -> &std::path::Path;

    /// HQ's statistics over the records `filter` selects, from the materialized tables (see crate::statistics).
    fn statistics(
        &self,
        filter: &statistics::Filter,
    ) -> impl Future<Output = Result<statistics::Statistics, StorageError>> + Send;
    /// Writes an export (export), calling `progress(layer, features written)` now and then. Runs beside
    /// sync: a long export does not hold pushes up.
    fn export(
        &self,
        request: export::ExportRequest,
        progress: impl FnMut(&str, u64) + Send + 'static,
    ) -> impl Future<Output = Result<export::ExportSummary, StorageError>> + Send;
    /// The dashboard's map of a box (the extent of everything mapped when None): each mapped layer's records in
    /// it, as features when there are at most `limit`, else counted on a grid (crate::map).
    fn map(
        &self,
        bbox: Option<map::BBox>,
        limit: u32,
    ) -> impl Future<Output = Result<map::MapView, StorageError>> + Send;
    /// The dashboard's totals (headline, land released, finds by category) over `filter`: the same figures as
    /// [`HqReadModel::statistics`] gives, without its breakdowns.
    fn totals(
        &self,
        filter: &statistics::Filter,
    ) -> impl Future<Output = Result<statistics::Totals, StorageError>> + Send;
}
