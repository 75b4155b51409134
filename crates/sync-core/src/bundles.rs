//! Bundles at a server (protocol::bundle, docs/protocol.md "Bundles"): a device's bundle, carried on a USB stick,
//! imported as that device's push, through the same ingress as a network sync (validation, scope, roles,
//! quarantine); and a bundle of what a device would pull, for a device the server cannot reach.

use crate::serve::{Pushed, Refusal, SyncServer};
use crate::store::{Device, StorageError, SyncStore};
use automerge::Automerge;
use chrono::{DateTime, Utc};
use protocol::bundle::{self, Bundle, BundleError, Covers, Source, SourceKind};
use protocol::{DocumentChanges, PushedChanges, limits};
use serde_bytes::ByteBuf;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What an imported bundle was and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleImport {
    /// The enrolled device the bundle came from, whose push it was taken as.
    pub device: Device,
    /// When the device wrote it, by its clock (RFC 3339; empty for the first format).
    pub written_at: String,
    pub records: usize,
    pub changes: usize,
    /// How many of them the log did not hold before.
    pub new_changes: u64,
    pub pushed: Pushed,
}

/// Why a bundle was not imported. Nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the bundle was refused, and nothing of it stored: {0}")]
    Bundle(#[from] BundleError),
    #[error(
        "the bundle comes from device {name} ({id}), and no device enrolled at this server sealed it, so nothing of \
         it was stored: import it at the server the device syncs with, or enrol the device here and write the bundle \
         again"
    )]
    UnknownDevice { id: Uuid, name: String },
    #[error(
        "the bundle says it comes from device {name} ({id}) but was sealed by {sealer}'s credential: it is not taken \
         as either's, and nothing of it was stored"
    )]
    NotSealedBySource { id: Uuid, name: String, sealer: String },
    #[error(
        "the bundle from {name} ({id}) is not sealed with a device credential (a store never enrolled, or a bundle \
         of the first format), so this server cannot tell who wrote it, and nothing of it was stored: import it on a \
         device with `fieldsync import-bundle`, or enrol the device and write the bundle again"
    )]
    Unsealed { id: Uuid, name: String },
    #[error(
        "the bundle comes from device {name} ({id}), revoked on {revoked_at}: a revoked device's changes are not \
         accepted, and nothing of it was stored"
    )]
    Revoked {
        id: Uuid,
        name: String,
        revoked_at: DateTime<Utc>,
    },
    #[error(
        "the bundle was written by a server ({id}) for one of its devices: import it on that device with \
         `fieldsync import-bundle`; nothing of it was stored"
    )]
    FromServer { id: Uuid },
    #[error(
        "the bundle was sealed by {name}, enrolled as {role}: only a relay (a camp's server) forwards other devices' \
         changes, and nothing of it was stored"
    )]
    NotARelay { name: String, role: String },
    #[error(
        "the bundle from server {id} was not sealed for this camp's relay (its --upstream-token): it was written \
         for another device, or changed since, and nothing of it was stored"
    )]
    NotForThisRelay { id: Uuid },
    #[error(
        "the bundle comes from server {id}, and this camp relays to server {upstream}: import it where it was \
         meant to go; nothing of it was stored"
    )]
    OtherUpstream { id: Uuid, upstream: Uuid },
    #[error("{0}")]
    Refused(Refusal),
    #[error("the server's storage failed: {0}")]
    Storage(#[from] StorageError),
}

/// Reads a bundle a device wrote and pushes its changes as that device's, all checked as a sync's push would be.
/// A damaged bundle, or one from a device not enrolled here, is refused whole. Importing a bundle again adds
/// nothing to the log and nothing to quarantine.
pub async fn import<S: SyncStore>(
    server: &SyncServer<S>,
    opened: bundle::Opened,
    now: DateTime<Utc>,
) -> Result<BundleImport, ImportError> {
    let device = writer(&server.store, &opened).await?;
    let bundle = opened.bundle;
    let (records, changes) = (bundle.documents.len(), bundle.change_count());
    let push = as_push(bundle.documents);
    let before = server.store.last_seq().await?;
    let pushed = server.push(&device, push, now).await.map_err(ImportError::Refused)?;
    let after = server.store.last_seq().await?;
    Ok(BundleImport {
        device,
        written_at: bundle.header.written_at,
        records,
        changes,
        // Exact when only this import appends while it runs (`fieldsync-server import-bundle`, which holds the data
        // directory's lock); a bundle forwarded to a serving server counts what others appended meanwhile too.
        new_changes: after - before,
        pushed,
    })
}

/// The enrolled, unrevoked device whose credential sealed the bundle. What the header says of its source is only a
/// claim: a bundle is taken as a device's push only if that device's key sealed it. A device whose bundle names no
/// id this server knows (a tablet given its credential but never synced) is found by its seal.
async fn writer<S: SyncStore>(store: &S, opened: &bundle::Opened) -> Result<Device, ImportError> {
    let source = &opened.bundle.header.source;
    if source.kind == SourceKind::Server {
        return Err(ImportError::FromServer { id: source.id });
    }
    let name = if source.name.is_empty() {
        "(unnamed)".to_string()
    } else {
        source.name.clone()
    };
    if !opened.is_sealed() {
        return Err(ImportError::Unsealed { id: source.id, name });
    }
    let devices = store.devices().await?;
    if let Some(named) = devices.iter().find(|d| d.id == source.id)
        && let Some(revoked_at) = named.revoked_at
    {
        return Err(ImportError::Revoked {
            id: named.id,
            name: named.name.clone(),
            revoked_at,
        });
    }
    let keys = store.device_keys().await?;
    match sealed_by_enrolled(opened, &keys, devices) {
        Some(device) if device.id == source.id || !keys.iter().any(|(id, _)| *id == source.id) => Ok(device),
        Some(device) => Err(ImportError::NotSealedBySource {
            id: source.id,
            name,
            sealer: device.name,
        }),
        None => Err(ImportError::UnknownDevice { id: source.id, name }),
    }
}

/// The enrolled, unrevoked device among `devices` whose key (of `keys`, SyncStore::device_keys) sealed the bundle.
pub(crate) fn sealed_by_enrolled(
    opened: &bundle::Opened,
    keys: &[(Uuid, [u8; 32])],
    devices: Vec<Device>,
) -> Option<Device> {
    let sealer = keys.iter().find(|(_, key)| opened.sealed_by(key)).map(|(id, _)| *id)?;
    devices.into_iter().find(|d| d.id == sealer)
}

/// A bundle's documents as a push, each entry naming its record (a bundle lists every record it holds).
pub(crate) fn as_push(documents: Vec<DocumentChanges>) -> Vec<PushedChanges> {
    documents
        .into_iter()
        .map(|d| PushedChanges {
            record_id: Some(d.record_id),
            changes: d.changes,
        })
        .collect()
}

/// A bundle of everything `device` may see in this server's log after position `after`: what its next sync
/// would pull, its own changes included (importing what it holds changes nothing; for a relay, what it carried is
/// left out, as from its pull). Snapshots are opened into
/// their changes, so that every change in the bundle is checked by its hash on import.
pub async fn export<S: SyncStore>(
    store: &S,
    device: &Device,
    after: u64,
    now: DateTime<Utc>,
) -> Result<Bundle, StorageError> {
    let visibility = crate::scope::visibility(device);
    // A relay's camp holds what it forwarded: that is left out, as from a relay's pull (OwnChanges::relay).
    let own = (device.role == crate::store::Role::Relay).then_some(crate::store::OwnChanges {
        device: device.id,
        pushed_after: 0,
        relay: Some(device.id),
    });
    let mut order: Vec<Uuid> = Vec::new();
    let mut by_record: HashMap<Uuid, (Vec<ByteBuf>, HashSet<[u8; 32]>)> = HashMap::new();
    let mut cursor = after;
    loop {
        let page = crate::pull::pull(store, &visibility, own, cursor, limits::DEFAULT_PAGE_CHANGES).await?;
        for change in page.changes {
            let (changes, seen) = by_record.entry(change.record_id).or_insert_with(|| {
                order.push(change.record_id);
                Default::default()
            });
            let mut add = |bytes: Vec<u8>| {
                if let Some(hash) = domain::document::change_hash(&bytes)
                    && seen.insert(hash)
                {
                    changes.push(ByteBuf::from(bytes));
                }
            };
            if change.snapshot {
                let doc = Automerge::load(&change.bytes)
                    .map_err(|e| StorageError::Damaged(format!("the snapshot of record {}: {e}", change.record_id)))?;
                for c in doc.get_changes(&[]) {
                    add(c.raw_bytes().to_vec());
                }
            } else {
                add(change.bytes);
            }
        }
        cursor = page.cursor;
        if !page.more {
            break;
        }
    }
    let documents = order
        .into_iter()
        .filter_map(|id| {
            by_record
                .remove(&id)
                .map(|(changes, _)| DocumentChanges::changes(id, changes))
        })
        .collect();
    let source = Source {
        kind: SourceKind::Server,
        id: store.server_id(),
        name: "fieldsync-server".into(),
    };
    let covers = Covers::Log {
        device: device.id,
        after,
        through: cursor,
    };
    Bundle::new(source, now.to_rfc3339(), covers, documents)
        .map_err(|e| StorageError::Damaged(format!("a change in the log: {e}")))
}
