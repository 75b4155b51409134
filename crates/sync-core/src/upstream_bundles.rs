//! Bundles across the camp–HQ hop (docs/relay.md, "Bundles upstream"), for a camp whose link is down for days:
//!
//! - At the camp, [`export`]: what the relay would forward (its devices' changes HQ has not answered), with the
//!   runs that say which device made which (`on_behalf_of`), sealed with the relay's credential by the caller.
//! - At HQ, [`import_relayed`]: taken as the relay's push would be, each run judged as the camp's device that made
//!   it (crate::vouching), refusals quarantined under that device. HQ remembers how far the camp's log is
//!   answered and tells the relay at its next sync (`bundled_through`), with the refusals (crate::refused_upstream),
//!   so that when the link returns the camp sends nothing again that HQ took from a bundle.
//! - At the camp, [`take_in`]: a bundle HQ wrote for the relay (`export-bundle --device` at HQ, sealed with the
//!   relay's key), taken in as upstream decided it, as a pull of the relay's would be; the relay's cursor moves
//!   past what it covered.

use crate::bundles::ImportError;
use crate::serve::{Pushed, SyncServer};
use crate::store::{Device, NewQuarantined, Role, StorageError, SyncStore, Vouched};
use chrono::{DateTime, Utc};
use protocol::bundle::{self, Bundle, Covers, Source, SourceKind};
use protocol::{Carried, DeviceProfile, DocumentChanges, PushedChanges, RejectionCode};
use serde_bytes::ByteBuf;
use std::collections::HashMap;
use uuid::Uuid;

/// What a bundle for upstream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// What upstream has not answered and no earlier bundle for it held (the default).
    New,
    /// Everything upstream has not answered, what earlier bundles held too (a bundle lost on its way).
    Unanswered,
}

/// Changes read from the log at a time while a bundle is made.
const READ_CHANGES: u32 = 5_000;

/// The bundle of this camp's changes for upstream, and the log position it reaches. Nothing is marked: the caller
/// writes the file, then calls [`mark_bundled`].
pub async fn export<S: SyncStore>(
    store: &S,
    contents: Contents,
    now: DateTime<Utc>,
) -> Result<(Bundle, u64), StorageError> {
    let state = store.upstream_state().await?;
    let after = match contents {
        Contents::New => state.forwarded_through.max(state.bundled_through),
        Contents::Unanswered => state.forwarded_through,
    };
    let profiles: HashMap<Uuid, DeviceProfile> = store.devices().await?.iter().map(|d| (d.id, d.profile())).collect();
    let mut documents: Vec<DocumentChanges> = Vec::new();
    let mut runs: Vec<Carried> = Vec::new();
    let mut last_entry: Option<(Uuid, Uuid)> = None;
    let mut through = after;
    loop {
        let changes = store.forwardable(through, READ_CHANGES).await?;
        let Some(last) = changes.last() else { break };
        through = last.seq;
        for change in changes {
            // A run of `runs` for each device in turn, an entry of `documents` for each record in turn: the order
            // of the log, so that a change's dependencies come before it, as a relay's push sends them.
            if runs.last().is_none_or(|run| run.device.id != change.device_id) {
                let device = profiles.get(&change.device_id).cloned().ok_or_else(|| {
                    StorageError::Damaged(format!(
                        "the log names device {}, which is not enrolled",
                        change.device_id
                    ))
                })?;
                runs.push(Carried { device, records: 0 });
            }
            let entry = (change.device_id, change.record_id);
            let bytes = ByteBuf::from(change.bytes);
            match documents.last_mut() {
                Some(document) if last_entry == Some(entry) => document.changes.push(bytes),
                _ => {
                    last_entry = Some(entry);
                    documents.push(DocumentChanges::changes(change.record_id, vec![bytes]));
                    if let Some(run) = runs.last_mut() {
                        run.records += 1;
                    }
                }
            }
        }
    }
    let source = Source {
        kind: SourceKind::Server,
        id: store.server_id(),
        name: "fieldsync-server (relay)".into(),
    };
    let covers = Covers::Relayed {
        answered: state.forwarded_through,
        after,
        through,
        runs,
    };
    let bundle = Bundle::new(source, now.to_rfc3339(), covers, documents)
        .map_err(|e| StorageError::Damaged(format!("a change in the log: {e}")))?;
    Ok((bundle, through))
}

/// A bundle for upstream reaching `through` was written: the next one holds what comes after.
pub async fn mark_bundled<S: SyncStore>(store: &S, through: u64) -> Result<(), StorageError> {
    let mut state = store.upstream_state().await?;
    state.bundled_through = state.bundled_through.max(through);
    store.set_upstream_state(state).await
}

/// What a camp's bundle was at HQ and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayedImport {
    /// The relay whose credential sealed it.
    pub relay: Device,
    pub written_at: String,
    /// The devices whose changes it carried, with how many records each.
    pub runs: Vec<Carried>,
    pub records: usize,
    pub changes: usize,
    pub new_changes: u64,
    pub pushed: Pushed,
    /// How far the camp's log is now answered here (told to the relay at its next sync); 0 if this bundle does
    /// not follow on from what was answered (an earlier bundle is missing: import that one too).
    pub bundled_through: u64,
}

/// Imports at HQ a bundle a relay wrote for it, as that relay's push on behalf of its camp's devices.
pub async fn import_relayed<S: SyncStore>(
    server: &SyncServer<S>,
    opened: bundle::Opened,
    now: DateTime<Utc>,
) -> Result<RelayedImport, ImportError> {
    let store = &server.store;
    let Covers::Relayed {
        answered,
        after,
        through,
        runs,
    } = opened.bundle.header.covers.clone()
    else {
        return Err(ImportError::Bundle(bundle::BundleError::Inconsistent(
            "it is not a relay's bundle".into(),
        )));
    };
    let relay = sealer(store, &opened).await?;
    if relay.role != Role::Relay {
        return Err(ImportError::NotARelay {
            name: relay.name,
            role: relay.role.as_str().into(),
        });
    }
    let bundle = opened.bundle;
    let (records, changes) = (bundle.documents.len(), bundle.change_count());
    let push = crate::bundles::as_push(bundle.documents);
    let before = store.last_seq().await?;
    let mut pushed = Pushed::default();
    for (pusher, push) in crate::vouching::runs(store, &relay, &runs, push, now)
        .await
        .map_err(ImportError::Refused)?
    {
        let outcome = server
            .push(&pusher, push.clone(), now)
            .await
            .map_err(ImportError::Refused)?;
        quarantine_deferred(store, &pusher, &push, &outcome, now).await?;
        pushed.accepted += outcome.accepted;
        pushed.rejected.extend(outcome.rejected);
    }
    let new_changes = store.last_seq().await? - before;
    // The camp's word for where upstream had answered it over the network, or what earlier bundles reached: a
    // bundle that follows on from either moves the answered position to its end.
    let answered_here = store.bundled_through(relay.id).await?.max(answered);
    let bundled_through = if after <= answered_here {
        let reached = answered_here.max(through);
        store.set_bundled_through(relay.id, reached).await?;
        reached
    } else {
        0
    };
    Ok(RelayedImport {
        relay,
        written_at: bundle.header.written_at,
        runs,
        records,
        changes,
        new_changes,
        pushed,
        bundled_through,
    })
}

/// A change deferred behind a refused one is kept in quarantine too, so that the relay is told of it at its next
/// sync (as a network push's answer would have told it), and the tablet's receipt never says it reached HQ.
async fn quarantine_deferred<S: SyncStore>(
    store: &S,
    pusher: &Device,
    push: &[PushedChanges],
    outcome: &Pushed,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    for rejection in outcome.rejected.iter().filter(|r| r.code == RejectionCode::Deferred) {
        let changes = push
            .iter()
            .filter(|p| p.record_id == Some(rejection.record_id))
            .flat_map(|p| p.changes.iter());
        for bytes in changes {
            let Some(hash) = domain::document::change_hash(bytes).map(|h| hex(&h)) else {
                continue;
            };
            if !rejection.changes.contains(&hash) {
                continue;
            }
            let item = NewQuarantined {
                device_id: pusher.id,
                record_id: rejection.record_id,
                change_hash: Some(hash),
                bytes: bytes.to_vec(),
                code: "deferred".into(),
                message: rejection.message.clone(),
                issues: vec![],
                received_at: now,
            };
            store.quarantine(item).await?;
        }
    }
    Ok(())
}

/// The enrolled, unrevoked device whose credential sealed the bundle.
async fn sealer<S: SyncStore>(store: &S, opened: &bundle::Opened) -> Result<Device, ImportError> {
    let source = &opened.bundle.header.source;
    let name = source.name.clone();
    if !opened.is_sealed() {
        return Err(ImportError::Unsealed { id: source.id, name });
    }
    let keys = store.device_keys().await?;
    crate::bundles::sealed_by_enrolled(opened, &keys, store.devices().await?)
        .ok_or(ImportError::UnknownDevice { id: source.id, name })
}

/// What a bundle from upstream did at the camp.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamImport {
    pub written_at: String,
    pub records: usize,
    pub changes: usize,
    pub new_changes: u64,
    /// Records that lack earlier changes this camp does not hold: asked for whole at the next sync.
    pub wanted: usize,
    /// The relay's cursor at upstream after the import (unchanged if the bundle does not follow on from it).
    pub cursor: u64,
}

/// Takes in at the camp a bundle upstream wrote for this relay, sealed with `key` (the relay's credential, which
/// upstream keeps as a hash): as upstream decided it, as a pull would be.
pub async fn take_in<S: SyncStore>(
    server: &SyncServer<S>,
    opened: bundle::Opened,
    key: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<UpstreamImport, ImportError> {
    let store = &server.store;
    let source = opened.bundle.header.source.clone();
    if !opened.sealed_by(key) {
        return Err(ImportError::NotForThisRelay { id: source.id });
    }
    let Covers::Log { after, through, .. } = opened.bundle.header.covers else {
        return Err(ImportError::Bundle(bundle::BundleError::Inconsistent(
            "a server's bundle for a relay covers a part of its log".into(),
        )));
    };
    let mut state = store.upstream_state().await?;
    if let Some(upstream) = state.server_id
        && upstream != source.id
    {
        return Err(ImportError::OtherUpstream {
            id: source.id,
            upstream,
        });
    }
    let bundle = opened.bundle;
    let (records, changes) = (bundle.documents.len(), bundle.change_count());
    let upstream = Device {
        id: source.id,
        name: format!("upstream {}", source.id),
        teams: Default::default(),
        role: Role::Hq,
        created_at: now,
        revoked_at: None,
    };
    store
        .vouch(Vouched {
            device: upstream.clone(),
            carrier: upstream.id,
        })
        .await?;
    let mut push = Vec::with_capacity(records);
    for document in &bundle.documents {
        let document =
            crate::upstream::opened(document).map_err(|e| ImportError::Bundle(bundle::BundleError::Inconsistent(e)))?;
        push.push(document);
    }
    let before = store.last_seq().await?;
    let pushed = server
        .take_in_upstream(&upstream, push, now)
        .await
        .map_err(ImportError::Refused)?;
    let new_changes = store.last_seq().await? - before;
    let mut wanted = 0;
    for rejection in &pushed.rejected {
        if rejection.code == RejectionCode::Deferred {
            if !state.wanted.contains(&rejection.record_id) && state.wanted.len() < protocol::limits::MAX_WANT {
                state.wanted.push(rejection.record_id);
            }
            wanted += 1;
        } else {
            let (record, code) = (rejection.record_id, rejection.code);
            tracing::warn!(%record, ?code, "refused what upstream's bundle held (quarantined): {}", rejection.message);
        }
    }
    // The bundle follows on from the relay's cursor: the cursor moves to its end (its check is gone with it, as
    // after a restore: upstream checks no cursor sent without one).
    if after <= state.cursor && through > state.cursor {
        state.cursor = through;
        state.cursor_check = None;
        state.server_id = Some(source.id);
    }
    let cursor = state.cursor;
    store.set_upstream_state(state).await?;
    Ok(UpstreamImport {
        written_at: bundle.header.written_at,
        records,
        changes,
        new_changes,
        wanted,
        cursor,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
