//! Device credentials and enrollment codes, both random and both stored only as SHA-256 hashes.
//!
//! `device add` issues a one-time enrollment code that expires; the device exchanges it (`POST /v1/enroll`) for a
//! credential made at that moment for that install, sent once over the pinned TLS connection and kept by the
//! server only as its hash (docs/security.md, "Enrollment codes and credentials").

use crate::store::{Device, EnrollmentCode, Redemption, SyncStore};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix that makes a fieldsync credential recognisable in logs and secret scanners.
const TOKEN_PREFIX: &str = "fst1_";
/// Prefix of an enrollment code, which is not a credential: it only buys one.
pub const CODE_PREFIX: &str = "fse1_";
/// How long an enrollment code is good for unless `device add --expires-in` says otherwise.
pub const CODE_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// A new random token: 244 bits from the operating system's generator (two UUID v4s).
pub fn new_token() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("{TOKEN_PREFIX}{}{}", a.simple(), b.simple())
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new enrollment code: 122 random bits (a UUID v4), enough for a secret that lives a day and works once.
pub fn new_code() -> String {
    format!("{CODE_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// A new code for `device_id`, good from `now` for `lifetime`: the code (to show once) and what is stored.
pub fn issue(device_id: Uuid, now: DateTime<Utc>, lifetime: chrono::Duration) -> (String, EnrollmentCode) {
    let code = new_code();
    let stored = EnrollmentCode {
        device_id,
        code_hash: token_hash(&code),
        issued_at: now,
        expires_at: now + lifetime,
    };
    (code, stored)
}

/// Why an enrollment code buys no credential, with what the person enrolling should do.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("no enrollment code: send the code `fieldsync-server device add` printed")]
    Missing,
    #[error(
        "unknown enrollment code: check it was copied whole, and that this is the server whose `device add` printed it"
    )]
    Unknown,
    #[error(
        "this enrollment code for {device} was used already, on {at}: a code works once. If this device did not use \
         it, revoke {device} (`fieldsync-server device revoke`); otherwise ask for a new code \
         (`fieldsync-server device rotate`)"
    )]
    Used { device: String, at: String },
    #[error("this enrollment code for {device} expired on {at}: ask for a new one (`fieldsync-server device rotate`)")]
    Expired { device: String, at: String },
    #[error("a newer enrollment code for {device} was issued on {at}: enrol with that one")]
    Superseded { device: String, at: String },
    #[error("device {device} was revoked on {at}: its enrollment codes no longer work")]
    Revoked { device: String, at: String },
    #[error("storage: {0}")]
    Storage(#[from] crate::store::StorageError),
}

/// A device enrolled by its code, and the credential it now holds (to send back once, never to log).
pub struct Enrolled {
    pub device: Device,
    pub credential: String,
}

/// Never the credential.
impl std::fmt::Debug for Enrolled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolled")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Exchanges an enrollment code for a new credential, once.
pub async fn redeem<S: SyncStore>(storage: &S, code: &str, now: DateTime<Utc>) -> Result<Enrolled, EnrollError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(EnrollError::Missing);
    }
    let credential = new_token();
    let at = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match storage
        .redeem_code(token_hash(code), token_hash(&credential), now)
        .await?
    {
        Redemption::Enrolled(device) => Ok(Enrolled { device, credential }),
        Redemption::Unknown => Err(EnrollError::Unknown),
        Redemption::Used { device, at: when } => Err(EnrollError::Used { device, at: at(when) }),
        Redemption::Expired { device, at: when } => Err(EnrollError::Expired { device, at: at(when) }),
        Redemption::Superseded { device, at: when } => Err(EnrollError::Superseded { device, at: at(when) }),
        Redemption::Revoked { device, at: when } => Err(EnrollError::Revoked { device, at: at(when) }),
    }
}

/// Why a request is not authenticated, with what the device's user should do.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no device token: send `Authorization: Bearer <token>` (enrol the device with `fieldsync enroll`)")]
    Missing,
    #[error(
        "unknown device token: its credential was rotated or never issued here; ask a supervisor for a new \
         enrollment code (`fieldsync-server device rotate`) and enrol again"
    )]
    Unknown,
    #[error("device {0} was revoked on {1}: ask a supervisor to enrol it again if that was a mistake")]
    Revoked(String, String),
    #[error("storage: {0}")]
    Storage(#[from] crate::store::StorageError),
}

/// The enrolled, unrevoked device holding `token` (the request's bearer token, None when it sent none).
pub async fn authenticate<S: SyncStore>(storage: &S, token: Option<&str>) -> Result<Device, AuthError> {
    let token = token
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)?;
    let device = storage
        .device_for_token(token_hash(token))
        .await?
        .ok_or(AuthError::Unknown)?;
    if let Some(at) = device.revoked_at {
        return Err(AuthError::Revoked(device.name, at.to_rfc3339()));
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_to_32_bytes() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a), token_hash(&a.clone()));
        let code = new_code();
        assert!(code.starts_with(CODE_PREFIX) && code.len() == CODE_PREFIX.len() + 32);
        assert_ne!(code, new_code());
    }
}
