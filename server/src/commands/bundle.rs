//! `import-bundle` and `export-bundle`: a day's changes on a USB stick, between the server and a device it cannot
//! reach over the network (sync_core::bundles; docs/protocol.md, "Bundles").

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::Path;
use store_sqlite::SqliteStorage;
use sync_core::SyncServer;
use sync_core::store::{Device, SyncStore};

/// `import-bundle FILE`: the bundle's changes, pushed as the device that wrote it, and what became of them.
pub async fn import_bundle(storage: SqliteStorage, file: &Path) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let server = SyncServer::new(storage, domain::Programme::default());
    let import = sync_core::bundles::import(&server, &bytes, chrono::Utc::now())
        .await
        .with_context(|| format!("{} was not imported", file.display()))?;
    let written = if import.written_at.is_empty() {
        String::new()
    } else {
        format!(", written {}", import.written_at)
    };
    outln!(
        "bundle from {} ({}, {}){written}: {} records, {} changes",
        import.device.name,
        import.device.id,
        import.device.role.as_str(),
        import.records,
        import.changes
    );
    outln!(
        "accepted {} changes, {} of them new to this server",
        import.pushed.accepted,
        import.new_changes
    );
    if !import.pushed.rejected.is_empty() {
        outln!(
            "{} records refused, kept in quarantine (`fieldsync-server quarantine list`); the device hears why at its next sync:",
            import.pushed.rejected.len()
        );
        for r in &import.pushed.rejected {
            outln!("  record {}: [{}] {}", r.record_id, code(r.code), r.message);
            for issue in &r.issues {
                outln!("      {issue}");
            }
        }
    }
    Ok(())
}

/// `export-bundle --device D FILE`: what `D` would pull after `after`, written to `file`.
pub async fn export_bundle(storage: SqliteStorage, device: &str, after: u64, file: &Path) -> Result<()> {
    let device = find_device(&storage, device).await?;
    let last = storage.last_seq().await?;
    if after > last {
        bail!(
            "--after {after} is beyond the end of this server's log ({last}): the device's cursor is for another server?"
        );
    }
    let bundle = sync_core::bundles::export(&storage, &device, after, chrono::Utc::now()).await?;
    let bytes = bundle.to_bytes(None)?;
    write_replacing(file, &bytes).with_context(|| format!("cannot write {}", file.display()))?;
    outln!(
        "wrote {} for {} ({}): {} records, {} changes, {} bytes; import it there with `fieldsync import-bundle`",
        file.display(),
        device.name,
        device.id,
        bundle.documents.len(),
        bundle.change_count(),
        bytes.len()
    );
    Ok(())
}

/// The enrolled, unrevoked device named by its id or its name.
async fn find_device(storage: &SqliteStorage, wanted: &str) -> Result<Device> {
    let devices = storage.devices().await?;
    let by_id = uuid::Uuid::parse_str(wanted).ok();
    let matching: Vec<Device> = devices
        .into_iter()
        .filter(|d| Some(d.id) == by_id || d.name == wanted)
        .collect();
    match matching.as_slice() {
        [] => bail!("no device is enrolled as {wanted:?}: `fieldsync-server device list` shows them"),
        [device] if device.revoked_at.is_some() => bail!("device {} ({}) is revoked", device.name, device.id),
        [device] => Ok(device.clone()),
        several => bail!(
            "{} devices are named {wanted:?}: give the id of one ({})",
            several.len(),
            several.iter().map(|d| d.id.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn code(code: protocol::RejectionCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Writes to a temporary file beside `path`, flushed to the medium, then renamed into place: a stick pulled out
/// mid-write leaves no half bundle under the bundle's name.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
