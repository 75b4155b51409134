//! `import-bundle` and `export-bundle`: a day's changes on a USB stick, between the server and a device it cannot
//! reach over the network (sync_core::bundles; docs/protocol.md, "Bundles").

use anyhow::{Context, Result, bail};
use protocol::bundle::{Covers, SourceKind};
use std::io::Write;
use std::path::Path;
use store_sqlite::SqliteStorage;
use sync_core::SyncServer;
use sync_core::store::{Device, SyncStore};

/// `import-bundle FILE`: a device's bundle, pushed as the device that wrote it; at HQ, a camp's bundle, pushed as
/// its relay's; at a camp, HQ's bundle for its relay (sealed with `relay_token`), taken in as a relay round would.
pub async fn import_bundle(storage: SqliteStorage, file: &Path, relay_token: Option<&str>) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let not_imported = || format!("{} was not imported", file.display());
    let opened = protocol::bundle::read(&bytes)
        .map_err(sync_core::bundles::ImportError::from)
        .with_context(not_imported)?;
    let server = SyncServer::new(storage, domain::Programme::default());
    let now = chrono::Utc::now();
    match &opened.bundle.header.covers {
        Covers::Relayed { .. } => {
            let import = sync_core::upstream_bundles::import_relayed(&server, opened, now)
                .await
                .with_context(not_imported)?;
            report_relayed(&import);
        }
        Covers::Log { .. } if opened.bundle.header.source.kind == SourceKind::Server => {
            let Some(token) = relay_token else {
                bail!(
                    "{} was not imported: it was written by a server for one of its devices; import it on that device \
                     with `fieldsync import-bundle`, or, at a camp, enrol the camp with HQ first \
                     (`fieldsync-server enroll-upstream --code …`) or give the relay's token HQ sealed it with \
                     (--upstream-token). Nothing was stored.",
                    file.display()
                );
            };
            let key = protocol::bundle::seal_key(token);
            let import = sync_core::upstream_bundles::take_in(&server, opened, &key, now)
                .await
                .with_context(not_imported)?;
            outln!(
                "bundle from upstream, written {}: {} records, {} changes, {} of them new to this server",
                import.written_at,
                import.records,
                import.changes,
                import.new_changes
            );
            if import.wanted > 0 {
                outln!(
                    "{} records lack earlier changes this server does not hold: the relay asks for them whole when the link returns",
                    import.wanted
                );
            }
            outln!("the relay's cursor at upstream is now {}", import.cursor);
        }
        _ => {
            let import = sync_core::bundles::import(&server, opened, now)
                .await
                .with_context(not_imported)?;
            report_device(&import);
        }
    }
    Ok(())
}

fn report_device(import: &sync_core::bundles::BundleImport) {
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
    report_refused(&import.pushed.rejected, "the device hears why at its next sync");
}

fn report_relayed(import: &sync_core::upstream_bundles::RelayedImport) {
    outln!(
        "bundle from relay {} ({}), written {}: {} records, {} changes of {} devices",
        import.relay.name,
        import.relay.id,
        import.written_at,
        import.records,
        import.changes,
        import
            .runs
            .iter()
            .map(|r| r.device.id)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    outln!(
        "accepted {} changes, {} of them new to this server",
        import.pushed.accepted,
        import.new_changes
    );
    if import.bundled_through == 0 {
        outln!(
            "this bundle does not follow on from what the relay forwarded before (an earlier bundle of its is missing): \
             its changes are kept, and the relay sends the earlier ones when its link returns"
        );
    }
    report_refused(&import.pushed.rejected, "the camp hears why at its next sync");
}

fn report_refused(rejected: &[protocol::Rejection], hears: &str) {
    let refused: Vec<_> = rejected
        .iter()
        .filter(|r| r.code != protocol::RejectionCode::Deferred)
        .collect();
    if refused.is_empty() {
        return;
    }
    outln!(
        "{} records refused, kept in quarantine (`fieldsync-server quarantine list`); {hears}:",
        refused.len()
    );
    for r in refused {
        outln!("  record {}: [{}] {}", r.record_id, code(r.code), r.message);
        for issue in &r.issues {
            outln!("      {issue}");
        }
    }
}

/// `export-bundle --upstream FILE`: what this camp's relay would forward, sealed with its token at HQ.
pub async fn export_upstream_bundle(storage: SqliteStorage, all: bool, token: &str, file: &Path) -> Result<()> {
    let contents = if all {
        sync_core::upstream_bundles::Contents::Unanswered
    } else {
        sync_core::upstream_bundles::Contents::New
    };
    let (bundle, through) = sync_core::upstream_bundles::export(&storage, contents, chrono::Utc::now()).await?;
    let bytes = bundle.to_bytes(Some(&protocol::bundle::seal_key(token)))?;
    write_replacing(file, &bytes).with_context(|| format!("cannot write {}", file.display()))?;
    sync_core::upstream_bundles::mark_bundled(&storage, through).await?;
    outln!(
        "wrote {} for upstream: {} records, {} changes, {} bytes; import it at HQ with `fieldsync-server import-bundle`",
        file.display(),
        bundle.documents.len(),
        bundle.change_count(),
        bytes.len()
    );
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
    // Sealed with the device's key, so that a relay knows it comes from its upstream (a device's store checks
    // only that it is whole).
    let keys = storage.device_keys().await?;
    let key = keys.iter().find(|(id, _)| *id == device.id).map(|(_, key)| key);
    let bytes = bundle.to_bytes(key)?;
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
