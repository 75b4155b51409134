//! HQ's refusals passed down at the camp (docs/relay.md): a change a camp's device made, which the camp accepted and
//! forwarded and HQ refused, is quarantined at the camp (crate::upstream) and told to that device in the
//! `rejected` of its next syncs, so that its `fieldsync status` shows it beside the camp's own refusals, and does
//! not count it as having reached HQ.
//!
//! Told at least once: a refusal is told again at every sync until the device sends the cursor of a response that
//! told it, which proves the device applied that response. Telling again changes nothing on the device.
//!
//! The same way, HQ tells a relay what it refused of the devices the relay carries: a camp that forwarded its
//! days on bundles hears HQ's refusals of them at its first sync after the link returns.

use crate::store::{Device, Role, StorageError, SyncStore};
use protocol::{Rejection, RejectionCode, SyncResponse};
use std::collections::HashSet;

/// At most this many refusals told in one response; the rest at the following syncs.
const TOLD_PER_RESPONSE: u32 = 1_000;

/// Adds to `response` (already holding its final cursor) what upstream refused of `device`'s changes that it may
/// not have heard of at `cursor`, the cursor of its request; and, for a relay, what this server refused of the
/// devices it carries (HQ's refusals of what the camp forwarded on a bundle, which no response has told yet).
pub async fn tell<S: SyncStore>(
    store: &S,
    device: &Device,
    cursor: u64,
    response: &mut SyncResponse,
) -> Result<(), StorageError> {
    let mut refused = store.refused_upstream(device.id, cursor, TOLD_PER_RESPONSE).await?;
    if device.role == Role::Relay {
        refused.extend(store.refused_carried(device.id, cursor, TOLD_PER_RESPONSE).await?);
    }
    if refused.is_empty() {
        return Ok(());
    }
    // What this response refuses already it tells once.
    let in_response: HashSet<String> = response
        .rejected
        .iter()
        .flat_map(|r| r.changes.iter().cloned())
        .collect();
    for quarantined in &refused {
        let item = &quarantined.item;
        let code = item.code.strip_prefix("upstream_").unwrap_or(&item.code);
        let code = serde_json::from_value(serde_json::Value::String(code.into())).unwrap_or(RejectionCode::Invalid);
        // A row without a hash names no change the device could mark. A change upstream deferred behind a refused
        // one is told as deferred: the device marks it (it is acknowledged here, so it is not pushed again), so
        // that it does not count as having reached HQ.
        let Some(hash) = &item.change_hash else { continue };
        if in_response.contains(hash) {
            continue;
        }
        response.rejected.push(Rejection {
            record_id: item.record_id,
            changes: vec![hash.clone()],
            code,
            message: item.message.clone(),
            issues: item.issues.clone(),
        });
    }
    // Marked told only when the response moves the device's cursor: a device that then sends that cursor has
    // applied this response. (Where the cursor stays, the device could not prove it, so it is told again.)
    if response.cursor > cursor {
        store
            .told(refused.iter().map(|q| q.id).collect(), response.cursor)
            .await?;
    }
    Ok(())
}
