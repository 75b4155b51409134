//! Enrollment codes in the SQLite store (docs/security.md, "Enrollment codes and credentials"): issuing one, which
//! retires the device's credential and any earlier code, and exchanging one for a credential, at most once. Called from the `SyncStore`
//! impl (sync_store.rs), one transaction each.

use crate::Error;
use crate::rows::*;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use sync_core::store::{EnrollmentCode, Redemption};
use uuid::Uuid;

/// A credential hash no one holds (the SHA-256 of a random value thrown away): a device between codes, or vouched
/// for by a relay, can never authenticate with it.
pub(crate) fn unusable_credential() -> [u8; 32] {
    Sha256::digest(Uuid::new_v4().as_bytes()).into()
}

pub(crate) fn issue_code(tx: &Transaction<'_>, code: &EnrollmentCode) -> Result<bool, Error> {
    let id = code.device_id.to_string();
    let retired = tx
        .prepare_cached(
            "UPDATE devices SET token_hash = ?2 WHERE device_id = ?1 AND revoked_at IS NULL AND carrier IS NULL",
        )?
        .execute(params![id, &unusable_credential()[..]])?;
    if retired == 0 {
        return Ok(false);
    }
    let issued = time_text(&code.issued_at);
    tx.prepare_cached(
        "UPDATE enrollment_codes SET superseded_at = ?2 \
         WHERE device_id = ?1 AND used_at IS NULL AND superseded_at IS NULL",
    )?
    .execute(params![id, issued])?;
    tx.prepare_cached(
        "INSERT INTO enrollment_codes (code_hash, device_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![&code.code_hash[..], id, issued, time_text(&code.expires_at)])?;
    Ok(true)
}

pub(crate) fn redeem_code(
    tx: &Transaction<'_>,
    code_hash: &[u8; 32],
    credential_hash: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<Redemption, Error> {
    let found = tx
        .prepare_cached(&format!(
            "SELECT c.expires_at, c.used_at, c.superseded_at, {DEVICE_COLUMNS_OF_D} \
             FROM enrollment_codes c JOIN devices d ON d.device_id = c.device_id WHERE c.code_hash = ?1"
        ))?
        .query_row([&code_hash[..]], |r| {
            let times: (String, Option<String>, Option<String>) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok((times, RawDevice::from_row_at(r, 3)?))
        })
        .optional()?;
    let Some(((expires_at, used_at, superseded_at), raw)) = found else {
        return Ok(Redemption::Unknown);
    };
    let device = raw.decode()?;
    let name = device.name.clone();
    if let Some(at) = device.revoked_at {
        return Ok(Redemption::Revoked { device: name, at });
    }
    if let Some(at) = used_at {
        let at = parse_time(&at, "enrollment code use")?;
        return Ok(Redemption::Used { device: name, at });
    }
    if let Some(at) = superseded_at {
        let at = parse_time(&at, "enrollment code superseded")?;
        return Ok(Redemption::Superseded { device: name, at });
    }
    let expires_at = parse_time(&expires_at, "enrollment code expiry")?;
    if expires_at <= now {
        return Ok(Redemption::Expired {
            device: name,
            at: expires_at,
        });
    }
    tx.prepare_cached("UPDATE enrollment_codes SET used_at = ?2 WHERE code_hash = ?1")?
        .execute(params![&code_hash[..], time_text(&now)])?;
    tx.prepare_cached("UPDATE devices SET token_hash = ?2 WHERE device_id = ?1")?
        .execute(params![device.id.to_string(), &credential_hash[..]])?;
    Ok(Redemption::Enrolled(device))
}
