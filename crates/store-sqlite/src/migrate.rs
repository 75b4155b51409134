//! The numbered migrations and what each fills in from the documents already stored.

use crate::Error;
use crate::rows::*;
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use sync_core::store::StorageError;

/// Numbered migrations, applied in order; `PRAGMA user_version` holds how many ran.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_server.sql"),
    include_str!("../migrations/0002_recovery.sql"),
    include_str!("../migrations/0003_review_and_conflicts.sql"),
    include_str!("../migrations/0004_authors.sql"),
    include_str!("../migrations/0005_custody.sql"),
    include_str!("../migrations/0006_quarantine_once.sql"),
    include_str!("../migrations/0007_relay.sql"),
    include_str!("../migrations/0008_bundles_upstream.sql"),
    include_str!("../migrations/0009_enrollment_codes.sql"),
    include_str!("../migrations/0010_quarantine_quota.sql"),
];
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let known = MIGRATIONS.len() as i64;
    // Immediate, and the version read inside: two processes opening a fresh directory at once migrate it once.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > known {
        return Err(StorageError::NewerSchema { found: version, known }.into());
    }
    let done = usize::try_from(version)
        .map_err(|_| Error::from(StorageError::Damaged(format!("schema version {version}"))))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql)?;
        match i {
            1 => fill_missing_heads(&tx)?,
            2 => fill_review_and_conflicts(&tx)?,
            3 => {
                fill_actors(&tx)?;
                fill_review_by(&tx)?;
            }
            _ => {}
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    crate::layer_tables::ensure(&tx)?;
    tx.commit()?;
    Ok(())
}

/// Migration 0002: records written before heads were stored get them from their changes in the log.
pub(crate) fn fill_missing_heads(tx: &Transaction<'_>) -> Result<(), Error> {
    for_each_logged_document(tx, "SELECT record_id FROM records WHERE heads = x''", |id, doc| {
        let heads: Vec<[u8; 32]> = doc.get_heads().iter().map(|h| h.0).collect();
        tx.execute(
            "UPDATE records SET heads = ?2 WHERE record_id = ?1",
            params![id, heads_blob(&heads)],
        )?;
        Ok(())
    })
}

/// Migration 0003: records written before their open conflicts and review time were stored get them from their
/// changes in the log.
pub(crate) fn fill_review_and_conflicts(tx: &Transaction<'_>) -> Result<(), Error> {
    for_each_logged_document(tx, "SELECT record_id FROM records", |id, doc| {
        let conflicts = domain::document::conflicts(doc)
            .map_err(|e| Error::from(StorageError::Damaged(format!("document {id}: {e}"))))?;
        let review_since = domain::document::set_at(doc, "review");
        tx.execute(
            "UPDATE records SET conflicts = ?2, review_since = ?3 WHERE record_id = ?1",
            params![id, json_text(&conflicts)?, review_since.as_ref().map(time_text)],
        )?;
        Ok(())
    })
}

/// Migration 0004: changes logged before actors were stored get theirs from their bytes.
pub(crate) fn fill_actors(tx: &Transaction<'_>) -> Result<(), Error> {
    let rows = tx
        .prepare("SELECT seq, bytes FROM log WHERE kind = 'change' AND actor IS NULL")?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut update = tx.prepare("UPDATE log SET actor = ?2 WHERE seq = ?1")?;
    for (seq, bytes) in rows {
        let change = automerge::Change::from_bytes(bytes)
            .map_err(|e| Error::from(StorageError::Damaged(format!("logged change {seq}: {e}"))))?;
        update.execute(params![seq, change.actor_id().to_bytes()])?;
    }
    Ok(())
}

/// Migration 0004: records written before the device behind their review status was stored get it from the log.
pub(crate) fn fill_review_by(tx: &Transaction<'_>) -> Result<(), Error> {
    for_each_logged_document(tx, "SELECT record_id FROM records", |id, doc| {
        let Some(hash) = domain::document::set_by(doc, "review") else {
            return Ok(());
        };
        tx.execute(
            "UPDATE records SET review_by = (SELECT device_id FROM log WHERE record_id = ?1 AND hash = ?2) \
             WHERE record_id = ?1",
            params![id, &hash.0[..]],
        )?;
        Ok(())
    })
}

/// Loads, one at a time, the document of each record `ids_sql` selects from its changes in the log.
pub(crate) fn for_each_logged_document(
    tx: &Transaction<'_>,
    ids_sql: &str,
    mut each: impl FnMut(&str, &automerge::Automerge) -> Result<(), Error>,
) -> Result<(), Error> {
    let ids = tx
        .prepare(ids_sql)?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for id in ids {
        let changes = tx
            .prepare_cached("SELECT bytes FROM log WHERE record_id = ?1 AND kind = 'change' ORDER BY seq")?
            .query_map([&id], |r| r.get::<_, Vec<u8>>(0))?
            .map(|bytes| {
                automerge::Change::from_bytes(bytes?)
                    .map_err(|e| Error::from(StorageError::Damaged(format!("stored change of {id}: {e}"))))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut doc = automerge::Automerge::new();
        doc.apply_changes(changes)
            .map_err(|e| Error::from(StorageError::Damaged(format!("document {id}: {e}"))))?;
        each(&id, &doc)?;
    }
    Ok(())
}
