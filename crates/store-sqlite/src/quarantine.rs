//! Keeping refused changes, within each device's daily quota (sync_core::store::Batch::quarantine_quota): a
//! refusal that fits is kept byte for byte; one beyond it is counted and hashed in `quarantine_days`, so that a
//! device sending the same refused megabyte over and over cannot fill the server's disk.

use crate::Error;
use crate::rows::*;
use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use sync_core::store::{NewQuarantined, QuarantineOverflow, quarantine_cost};

/// One refused change, kept for review unless the same bytes from the same device for the same record were
/// refused for the same reason before (kept once), or keeping it would take its device's refusals of the day
/// beyond `quota` (counted instead).
pub(crate) fn append_quarantined(tx: &Transaction<'_>, item: NewQuarantined, quota: Option<u64>) -> Result<(), Error> {
    let device_id = item.device_id.to_string();
    let record_id = item.record_id.to_string();
    let kept_already = tx
        .prepare_cached(
            "SELECT 1 FROM quarantine WHERE record_id = ?1 AND device_id = ?2 AND code = ?3 AND bytes = ?4",
        )?
        .query_row(params![record_id, device_id, item.code, item.bytes], |_| Ok(()))
        .optional()?
        .is_some();
    if kept_already {
        return Ok(());
    }
    let day = item.received_at.format("%Y-%m-%d").to_string();
    let cost = i64::try_from(quarantine_cost(&item)).unwrap_or(i64::MAX);
    if let Some(quota) = quota {
        let kept: i64 = tx
            .prepare_cached("SELECT kept_bytes FROM quarantine_days WHERE device_id = ?1 AND day = ?2")?
            .query_row(params![device_id, day], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if kept.saturating_add(cost) > i64::try_from(quota).unwrap_or(i64::MAX) {
            return count_beyond_quota(tx, &device_id, &day, &item.bytes, cost);
        }
        tx.prepare_cached(
            "INSERT INTO quarantine_days (device_id, day, kept_bytes) VALUES (?1, ?2, ?3) \
             ON CONFLICT (device_id, day) DO UPDATE SET kept_bytes = kept_bytes + excluded.kept_bytes",
        )?
        .execute(params![device_id, day, cost])?;
    }
    tx.prepare_cached(
        "INSERT INTO quarantine (device_id, record_id, change_hash, bytes, code, message, issues, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        device_id,
        record_id,
        item.change_hash,
        item.bytes,
        item.code,
        item.message,
        json_text(&item.issues)?,
        time_text(&item.received_at),
    ])?;
    Ok(())
}

/// A refusal beyond its device's quota: its cost counted and its bytes' hash chained into the day's digest.
fn count_beyond_quota(tx: &Transaction<'_>, device_id: &str, day: &str, bytes: &[u8], cost: i64) -> Result<(), Error> {
    let before: Option<Vec<u8>> = tx
        .prepare_cached("SELECT over_digest FROM quarantine_days WHERE device_id = ?1 AND day = ?2")?
        .query_row(params![device_id, day], |r| r.get(0))
        .optional()?
        .flatten();
    let mut chain = Sha256::new();
    chain.update(before.unwrap_or_else(|| vec![0; 32]));
    chain.update(Sha256::digest(bytes));
    let digest: [u8; 32] = chain.finalize().into();
    tx.prepare_cached(
        "INSERT INTO quarantine_days (device_id, day, over_refusals, over_bytes, over_digest) VALUES (?1, ?2, 1, ?3, ?4) \
         ON CONFLICT (device_id, day) DO UPDATE SET over_refusals = over_refusals + 1, \
             over_bytes = over_bytes + excluded.over_bytes, over_digest = excluded.over_digest",
    )?
    .execute(params![device_id, day, cost, &digest[..]])?;
    Ok(())
}

/// Every device and day with refusals beyond the quota, by day then device.
pub(crate) fn overflow(tx: &Transaction<'_>) -> Result<Vec<QuarantineOverflow>, Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT device_id, day, over_refusals, over_bytes, over_digest FROM quarantine_days \
         WHERE over_refusals > 0 ORDER BY day, device_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(device_id, day, refusals, bytes, digest)| {
            let digest = digest.and_then(|d| <[u8; 32]>::try_from(d).ok()).ok_or_else(|| {
                Error::from(sync_core::store::StorageError::Damaged(format!(
                    "the quarantine digest of {device_id} on {day} is not 32 bytes"
                )))
            })?;
            Ok(QuarantineOverflow {
                device_id: parse_uuid(&device_id, "quarantine overflow device id")?,
                day,
                refusals: u64::try_from(refusals).unwrap_or(0),
                bytes: u64::try_from(bytes).unwrap_or(0),
                digest,
            })
        })
        .collect()
}
