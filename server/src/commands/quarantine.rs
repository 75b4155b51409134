//! `quarantine list`: the changes the server refused, kept with why.

use anyhow::Result;
use store_sqlite::SqliteStorage;
use sync_core::store::SyncStore;

/// Every quarantined change, oldest first, with its code, message and the rules it broke.
pub async fn quarantine(storage: SqliteStorage) -> Result<()> {
    let items = storage.quarantined().await?;
    for q in &items {
        let i = &q.item;
        outln!(
            "#{} {} record {} from device {}: [{}] {}",
            q.id,
            i.received_at.to_rfc3339(),
            i.record_id,
            i.device_id,
            i.code,
            i.message
        );
        for issue in &i.issues {
            outln!("    {issue}");
        }
    }
    outln!("{} quarantined change(s)", items.len());
    Ok(())
}
