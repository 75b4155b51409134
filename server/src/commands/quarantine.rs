//! `quarantine list`: the changes the server refused, kept with why.

use anyhow::Result;
use store_sqlite::SqliteStorage;
use sync_core::store::SyncStore;

/// Every quarantined change, oldest first, with its code, message and the rules it broke; then what each device
/// sent beyond its daily quota, counted.
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
    for over in storage.quarantine_overflow().await? {
        outln!(
            "device {} on {}: {} more refusal(s), {} bytes, beyond its quarantine quota, counted but not kept \
             (digest sha256:{}; the device still holds its changes)",
            over.device_id,
            over.day,
            over.refusals,
            over.bytes,
            over.digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
    }
    outln!("{} quarantined change(s)", items.len());
    Ok(())
}
