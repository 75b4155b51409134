//! Which server this device syncs with and how it knows it is that server: the address, the device's token, the
//! certificate authority pinned at enrollment, and whether plain HTTP beyond the loopback was allowed.
//!
//! Enrolling over TLS with a camp's own authority (docs/security.md): the device is given the server's address and
//! the authority's fingerprint (protocol::enrollment, the QR code `device add` shows), fetches the authority's
//! certificate, keeps it only if its fingerprint matches ([`fetch_authority`]), and from then on trusts it alone.

use crate::error::StoreError;
use crate::store::Store;
use crate::sync::{SyncError, SyncProgress, SyncReport};
use sync_http::{HttpTransport, Trust};

pub use sync_http::fetch_authority;

/// How this device reaches its server.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// `https://…`, or `http://` on the loopback (or beyond it with `insecure_http`).
    pub server_url: String,
    pub token: String,
    /// The certificate (DER) of the authority the server's certificate must chain to; None: the system's.
    pub authority: Option<Vec<u8>>,
    /// Plain HTTP to a server beyond the loopback, which carries the token and records in clear.
    pub insecure_http: bool,
}

/// Never the token.
impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("server_url", &self.server_url)
            .field(
                "authority",
                &self.authority.as_deref().map(protocol::enrollment::fingerprint),
            )
            .field("insecure_http", &self.insecure_http)
            .finish_non_exhaustive()
    }
}

impl Enrollment {
    /// A server trusted by the system's authorities (or on the loopback).
    pub fn new(server_url: &str, token: &str) -> Enrollment {
        Enrollment {
            server_url: server_url.to_string(),
            token: token.to_string(),
            authority: None,
            insecure_http: false,
        }
    }

    /// The transport this enrollment speaks through.
    pub fn transport(&self) -> HttpTransport {
        let trust = Trust::pinned_or_system(self.authority.clone());
        HttpTransport::with_trust(&self.server_url, &self.token, &trust, self.insecure_http)
    }
}

/// What enrolling by a code gave: who the server enrolled this device as, and how its first sync went (the
/// enrollment is kept either way: `fieldsync sync` tries again).
#[derive(Debug)]
pub struct CodeEnrollment {
    pub device: protocol::DeviceProfile,
    pub first_sync: Result<SyncReport, SyncError>,
}

/// The server address of `enrollment`, without a trailing slash, if it is one this device may speak to.
fn checked_address(enrollment: &Enrollment) -> Result<&str, StoreError> {
    let url = enrollment.server_url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(StoreError::BadEdit(format!(
            "server address {url} must start with https:// (or http:// for a server on this machine)"
        )));
    }
    if !enrollment.insecure_http && !sync_http::plain_http_allowed(url) {
        return Err(StoreError::BadEdit(format!(
            "{url} is plain http: the device's credential and every record would cross the network in clear. Use \
             the https:// address `fieldsync-server device add` prints, or --insecure-http on a network you trust"
        )));
    }
    Ok(url)
}

pub(crate) const SERVER_URL: &str = "server_url";
const TOKEN: &str = "device_token";
/// The pinned authority's certificate, hex of its DER.
const AUTHORITY: &str = "server_authority";
const INSECURE_HTTP: &str = "insecure_http";

impl Store {
    /// Records the server and this device's token, trusting the system's authorities (or a server on this
    /// machine). The token stays in the store file, like the data it guards.
    pub fn enroll(&mut self, server_url: &str, token: &str) -> Result<(), StoreError> {
        self.enroll_with(&Enrollment::new(server_url, token))
    }

    /// Records how this device reaches its server. A new enrollment starts a new conversation: the next sync
    /// reconciles with (or pulls from the start of) that server.
    pub fn enroll_with(&mut self, enrollment: &Enrollment) -> Result<(), StoreError> {
        let url = checked_address(enrollment)?;
        if enrollment.token.trim().is_empty() {
            return Err(StoreError::BadEdit(
                "the token is empty: copy it from `fieldsync-server device add`".into(),
            ));
        }
        self.write(|| {
            self.set_meta(SERVER_URL, url)?;
            self.set_meta(TOKEN, enrollment.token.trim())?;
            match &enrollment.authority {
                Some(der) => self.set_meta(AUTHORITY, &crate::sync::hex(der))?,
                None => self.delete_meta(AUTHORITY)?,
            }
            match enrollment.insecure_http {
                true => self.set_meta(INSECURE_HTTP, "1")?,
                false => self.delete_meta(INSECURE_HTTP)?,
            }
            self.drop_cursor()?;
            Ok(())
        })
    }

    /// Enrols with a one-time enrollment code, as `fieldsync enroll --code` does: exchanges the code at the server
    /// (over the pinned authority, if `enrollment.authority` is one) for this install's own credential, keeps it,
    /// and syncs. `enrollment.token` is ignored. If the exchange fails (a wrong address, a certificate that is not
    /// the pinned authority's, a code used, expired or unknown), nothing in the store changes and the error says
    /// why. Once the server has given the credential, the code is spent and the credential is kept whatever the
    /// first sync does: [`CodeEnrollment::first_sync`] says how that went.
    pub fn enroll_by_code(
        &mut self,
        enrollment: &Enrollment,
        code: &str,
        progress: impl FnMut(SyncProgress),
    ) -> Result<CodeEnrollment, SyncError> {
        checked_address(enrollment)?;
        if code.trim().is_empty() {
            return Err(StoreError::BadEdit(
                "the enrollment code is empty: copy it from `fieldsync-server device add`".into(),
            )
            .into());
        }
        let anonymous = Enrollment {
            token: String::new(),
            ..enrollment.clone()
        };
        let answer = anonymous.transport().enroll(code)?;
        let enrolled = Enrollment {
            token: answer.credential,
            ..enrollment.clone()
        };
        self.enroll_with(&enrolled)?;
        self.write(|| self.set_enrolled(&answer.device))?;
        let first_sync = self.sync(progress);
        Ok(CodeEnrollment {
            device: answer.device,
            first_sync,
        })
    }

    /// Enrols and syncs at once, as `fieldsync enroll` does: if the first exchange gets no answer (a wrong
    /// address, a refused token, a certificate that is not the pinned authority's), the store's enrollment is
    /// left as it was before, and the error says why.
    pub fn enroll_and_sync(
        &mut self,
        enrollment: &Enrollment,
        progress: impl FnMut(SyncProgress),
    ) -> Result<SyncReport, SyncError> {
        let before = self.settings_snapshot()?;
        self.enroll_with(enrollment)?;
        match self.sync(progress) {
            Ok(report) => Ok(report),
            Err(error) => {
                // A page applied proves the server is the right one: keep the enrollment and its cursor.
                if !self.has_cursor()? {
                    self.restore_settings(&before)?;
                }
                Err(error)
            }
        }
    }

    /// The server address and token, if enrolled.
    pub fn enrollment(&self) -> Result<Option<(String, String)>, StoreError> {
        Ok(self.enrolled_with()?.map(|e| (e.server_url, e.token)))
    }

    /// How this device reaches its server, if enrolled.
    pub fn enrolled_with(&self) -> Result<Option<Enrollment>, StoreError> {
        let (Some(server_url), Some(token)) = (self.meta(SERVER_URL)?, self.meta(TOKEN)?) else {
            return Ok(None);
        };
        let authority = match self.meta(AUTHORITY)? {
            Some(text) => Some(
                crate::sync::hex_bytes(&text)
                    .ok_or_else(|| StoreError::Damaged("the pinned server authority".into()))?,
            ),
            None => None,
        };
        Ok(Some(Enrollment {
            server_url,
            token,
            authority,
            insecure_http: self.meta(INSECURE_HTTP)?.is_some(),
        }))
    }

    /// The transport to the enrolled server.
    pub(crate) fn transport(&self) -> Result<HttpTransport, SyncError> {
        Ok(self.enrolled_with()?.ok_or(SyncError::NotEnrolled)?.transport())
    }

    fn settings_snapshot(&self) -> Result<Vec<(&'static str, Option<String>)>, StoreError> {
        crate::sync::CONNECTION_SETTINGS
            .iter()
            .chain(&[SERVER_URL, TOKEN, AUTHORITY, INSECURE_HTTP])
            .map(|key| Ok((*key, self.meta(key)?)))
            .collect()
    }

    fn restore_settings(&self, snapshot: &[(&'static str, Option<String>)]) -> Result<(), StoreError> {
        self.write(|| {
            for (key, value) in snapshot {
                match value {
                    Some(value) => self.set_meta(key, value)?,
                    None => self.delete_meta(key)?,
                }
            }
            Ok(())
        })
    }
}
