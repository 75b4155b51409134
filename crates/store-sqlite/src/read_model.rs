//! HQ's read model on the SQLite file: statistics, totals, the map and exports, from the `layer_*` tables.

use std::path::Path;
use sync_core::store::StorageError;

use crate::SqliteStorage;
use hq::HqReadModel;

impl HqReadModel for SqliteStorage {
    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    async fn statistics(&self, filter: &hq::statistics::Filter) -> Result<hq::statistics::Statistics, StorageError> {
        let filter = filter.clone();
        self.read(move |tx| crate::statistics::statistics(tx, &filter)).await
    }

    async fn export(
        &self,
        request: hq::export::ExportRequest,
        mut progress: impl FnMut(&str, u64) + Send + 'static,
    ) -> Result<hq::export::ExportSummary, StorageError> {
        let path = self.path.clone();
        let output = request.clone();
        self.exports
            .run(
                move || Ok(crate::export::export(&path, &request, &mut progress)?),
                move || output.discard_output(),
            )
            .await
    }

    async fn map(&self, bbox: Option<hq::map::BBox>, limit: u32) -> Result<hq::map::MapView, StorageError> {
        self.read(move |tx| crate::map::map(tx, bbox, limit)).await
    }

    async fn totals(&self, filter: &hq::statistics::Filter) -> Result<hq::statistics::Totals, StorageError> {
        let filter = filter.clone();
        self.read(move |tx| crate::statistics::totals(tx, &filter)).await
    }
}
