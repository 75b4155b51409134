//! The base-camp tier's part of the SQLite store (docs/relay.md): devices a relay vouches for, what a camp forwards,
//! where it stands with its upstream, and the refusals told down the chain. Called from the `SyncStore` impl
//! (sync_store.rs), one transaction each.

use crate::Error;
use crate::rows::*;
use crate::sync_store::quarantine_rows;
use rusqlite::{OptionalExtension, Transaction, params};
use sync_core::store::{Forwardable, Quarantined, UpstreamState, Vouched, Vouching};
use uuid::Uuid;

pub(crate) fn vouch(tx: &Transaction<'_>, vouched: &Vouched) -> Result<Vouching, Error> {
    let Vouched { device, carrier } = vouched;
    let id = device.id.to_string();
    let known: Option<Option<String>> = tx
        .prepare_cached("SELECT carrier FROM devices WHERE device_id = ?1")?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    match known {
        Some(None) => return Ok(Vouching::EnrolledHere),
        Some(Some(other)) if other != carrier.to_string() => {
            return Ok(Vouching::CarriedBy(parse_uuid(&other, "device carrier")?));
        }
        Some(Some(_)) => {
            tx.prepare_cached(
                "UPDATE devices SET name = ?2, teams = ?3, role = ?4, revoked_at = ?5 WHERE device_id = ?1",
            )?
            .execute(params![
                id,
                device.name,
                json_text(&device.teams)?,
                device.role.as_str(),
                device.revoked_at.as_ref().map(time_text),
            ])?;
        }
        None => {
            // A vouched device can never authenticate here.
            let unusable = crate::enrollment::unusable_credential();
            tx.execute(
                "INSERT INTO devices (device_id, name, teams, role, token_hash, created_at, revoked_at, carrier) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    device.name,
                    json_text(&device.teams)?,
                    device.role.as_str(),
                    &unusable[..],
                    time_text(&device.created_at),
                    device.revoked_at.as_ref().map(time_text),
                    carrier.to_string(),
                ],
            )?;
        }
    }
    Ok(Vouching::Recorded)
}

pub(crate) fn carriers(tx: &Transaction<'_>) -> Result<Vec<(Uuid, Uuid)>, Error> {
    let mut stmt =
        tx.prepare_cached("SELECT device_id, carrier FROM devices WHERE carrier IS NOT NULL ORDER BY device_id")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(device, carrier)| {
            Ok((
                parse_uuid(&device, "device id")?,
                parse_uuid(&carrier, "device carrier")?,
            ))
        })
        .collect()
}

pub(crate) fn forwardable_count(tx: &Transaction<'_>, after: u64) -> Result<u64, Error> {
    let count: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM log l JOIN devices d ON d.device_id = l.device_id \
             WHERE l.seq > ?1 AND l.kind = 'change' AND d.carrier IS NULL",
        )?
        .query_row([i64::try_from(after).unwrap_or(i64::MAX)], |r| r.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub(crate) fn forwardable(tx: &Transaction<'_>, after: u64, limit: u32) -> Result<Vec<Forwardable>, Error> {
    // Walks the log from `after` by its primary key; the devices are few and looked up by theirs.
    let mut stmt = tx.prepare_cached(
        "SELECT l.seq, l.record_id, l.device_id, l.bytes FROM log l \
         JOIN devices d ON d.device_id = l.device_id \
         WHERE l.seq > ?1 AND l.kind = 'change' AND d.carrier IS NULL ORDER BY l.seq LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![i64::try_from(after).unwrap_or(i64::MAX), limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(seq, record, device, bytes)| {
            Ok(Forwardable {
                seq: u64::try_from(seq).unwrap_or(0),
                record_id: parse_uuid(&record, "log record id")?,
                device_id: parse_uuid(&device, "log device id")?,
                bytes,
            })
        })
        .collect()
}

pub(crate) fn upstream_state(tx: &Transaction<'_>) -> Result<UpstreamState, Error> {
    let text: Option<String> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = 'upstream'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match text {
        None => Ok(UpstreamState::default()),
        Some(text) => Ok(parse_json(&text, "upstream state")?),
    }
}

pub(crate) fn set_upstream_state(tx: &Transaction<'_>, state: &UpstreamState) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('upstream', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([json_text(state)?])?;
    Ok(())
}

pub(crate) fn refused_upstream(
    tx: &Transaction<'_>,
    device: Uuid,
    cursor: u64,
    limit: u32,
) -> Result<Vec<Quarantined>, Error> {
    quarantine_rows(
        tx,
        "device_id = ?1 AND code LIKE 'upstream%' AND (told_cursor IS NULL OR told_cursor > ?2) \
         ORDER BY id LIMIT ?3",
        rusqlite::params![device.to_string(), cursor as i64, limit],
    )
}

pub(crate) fn refused_carried(
    tx: &Transaction<'_>,
    relay: Uuid,
    cursor: u64,
    limit: u32,
) -> Result<Vec<Quarantined>, Error> {
    quarantine_rows(
        tx,
        "device_id IN (SELECT device_id FROM devices WHERE carrier = ?1) \
         AND (told_cursor IS NULL OR told_cursor > ?2) ORDER BY id LIMIT ?3",
        rusqlite::params![relay.to_string(), cursor as i64, limit],
    )
}

pub(crate) fn bundled_through(tx: &Transaction<'_>, relay: Uuid) -> Result<u64, Error> {
    let seq: Option<Option<i64>> = tx
        .prepare_cached("SELECT bundled_through FROM devices WHERE device_id = ?1")?
        .query_row([relay.to_string()], |r| r.get(0))
        .optional()?;
    Ok(seq.flatten().map_or(0, |seq| u64::try_from(seq).unwrap_or(0)))
}

pub(crate) fn set_bundled_through(tx: &Transaction<'_>, relay: Uuid, through: u64) -> Result<(), Error> {
    tx.prepare_cached("UPDATE devices SET bundled_through = ?2 WHERE device_id = ?1")?
        .execute(rusqlite::params![relay.to_string(), through as i64])?;
    Ok(())
}

pub(crate) fn told(tx: &Transaction<'_>, ids: Vec<i64>, cursor: u64) -> Result<(), Error> {
    let mut stmt = tx.prepare_cached("UPDATE quarantine SET told_cursor = ?2 WHERE id = ?1")?;
    for id in ids {
        stmt.execute(rusqlite::params![id, cursor as i64])?;
    }
    Ok(())
}
