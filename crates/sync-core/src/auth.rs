//! Device tokens: made once at enrollment, shown once, stored only as a SHA-256 hash.

use crate::store::{Device, SyncStore};
use sha2::{Digest, Sha256};

/// Prefix that makes a fieldsync token recognisable in logs and secret scanners.
const TOKEN_PREFIX: &str = "fst1_";

/// A new random token: 244 bits from the operating system's generator (two UUID v4s).
pub fn new_token() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("{TOKEN_PREFIX}{}{}", a.simple(), b.simple())
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Why a request is not authenticated, with what the device's user should do.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no device token: send `Authorization: Bearer <token>` (enrol the device with `fieldsync enroll`)")]
    Missing,
    #[error("unknown device token: ask a supervisor to enrol this device again")]
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
    }
}
