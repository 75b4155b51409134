//! One record as HQ sees it: the record as the server holds it, its warnings and open conflicts, and its history
//! (every change: who it claims made it, the enrolled device that really pushed it, and the values it set).

use serde_json::{Value, json};
use sync_core::document_cache::Loaded;
use sync_core::store::{Device, StorageError, SyncStore};
use uuid::Uuid;

/// The record `id` with its history, as JSON; None when the server holds no such record.
pub async fn record_history<S: SyncStore>(store: &S, id: Uuid) -> Result<Option<Value>, StorageError> {
    let Some(row) = store.record(id).await? else {
        return Ok(None);
    };
    let loaded = Loaded::from_stored(id, store.document(id).await?)?;
    let history = domain::document::history(&loaded.doc)
        .map_err(|e| StorageError::Damaged(format!("the history of record {id}: {e}")))?;
    let pushers = store.change_pushers(id).await?;
    let devices = store.devices().await?;
    Ok(Some(json!({
        "record_id": id,
        "record_type": row.record_type,
        "record": row.body,
        "warnings": row.warnings,
        "conflicts": row.conflicts,
        "review_since": row.review_since,
        "history": with_pushers(history, &pushers, &devices),
    })))
}

/// Each change of a history with the enrolled device that really pushed it (`pushed_by`: id, name, role), beside
/// the person and device the change only claims (`author`) and the values it set (`changed`).
fn with_pushers(history: Vec<domain::HistoryEntry>, pushers: &[([u8; 32], Uuid)], devices: &[Device]) -> Vec<Value> {
    history
        .into_iter()
        .map(|entry| {
            let pusher = entry
                .change
                .parse::<automerge::ChangeHash>()
                .ok()
                .and_then(|hash| pushers.iter().find(|(h, _)| *h == hash.0))
                .and_then(|(_, device)| devices.iter().find(|d| d.id == *device));
            let mut value = serde_json::to_value(&entry).unwrap_or_default();
            value["pushed_by"] = pusher.map_or(
                Value::Null,
                |d| json!({"id": d.id, "name": d.name, "role": d.role, "teams": d.teams}),
            );
            value
        })
        .collect()
}
