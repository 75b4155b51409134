//! What a person hands a device to enrol it (docs/protocol.md, "Enrolling"): the server's address, the SHA-256
//! fingerprint of the certificate authority the device must pin, and its one-time enrollment code.
//! `fieldsync-server device add` prints them and puts them in a QR code as one `fieldsync:enroll?…` text, which
//! `fieldsync enroll --code` reads; the device then exchanges the code at [`ENROLL_PATH`] for its credential.
//!
//! The fingerprint is what makes TLS on a camp's Wi-Fi worth having: a camp's server certificate is signed by the
//! camp's own authority (`serve --tls auto`), which no tablet trusts by default. The device fetches the authority's
//! certificate from [`CA_PATH`] over an unverified connection, keeps it only if its SHA-256 is the fingerprint it
//! was given, and from then on trusts that certificate alone.

use sha2::{Digest, Sha256};

/// Where a server serves the certificate of the authority its TLS certificate chains to (PEM), to anyone: it is
/// public, and a device checks it against the fingerprint it was given before it trusts it.
pub const CA_PATH: &str = "/v1/tls/ca";

/// Where a device exchanges its enrollment code for a credential: a JSON [`EnrollRequest`] answered by a JSON
/// [`EnrollResponse`], or the protocol's JSON error (401 an unknown code; 403 a code used, expired, superseded,
/// or of a revoked device).
pub const ENROLL_PATH: &str = "/v1/enroll";

/// The body of `POST /v1/enroll`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub code: String,
}

/// Never the code.
impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest").finish_non_exhaustive()
    }
}

/// What a device is given for its code: who it is enrolled as, and its credential (the bearer token of every
/// later request), sent this once.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct EnrollResponse {
    pub device: crate::DeviceProfile,
    pub credential: String,
}

/// Never the credential.
impl std::fmt::Debug for EnrollResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollResponse")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// The URI scheme and path of an enrollment text.
const PREFIX: &str = "fieldsync:enroll?";

/// The fingerprint of a certificate (its DER bytes): `sha256:` and 64 lowercase hex digits.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A fingerprint as a person may type or paste it (with or without `sha256:`, with colons or spaces between
/// bytes, in either case), in the form [`fingerprint`] gives; an error names what is wrong with it.
pub fn normalize_fingerprint(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let body = trimmed
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256:"))
        .map_or(trimmed, |_| &trimmed[7..]);
    let hex: String = body
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{trimmed}` is not a certificate fingerprint: expected sha256: and 64 hex digits, as \
             `fieldsync-server device add` prints it"
        ));
    }
    Ok(format!("sha256:{hex}"))
}

/// Everything a device needs to enrol with a server.
#[derive(Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The server's address, `https://…` (or `http://` on the loopback).
    pub server: String,
    /// The fingerprint of the authority to pin; None when the server's certificate is one the device's system
    /// already trusts (an operator's certificate from a public authority), or the server speaks plain HTTP.
    pub ca_fingerprint: Option<String>,
    /// The one-time enrollment code (`fse1_…`).
    pub code: String,
}

/// Never the code.
impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("server", &self.server)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .finish_non_exhaustive()
    }
}

impl Invitation {
    /// The text of the QR code: `fieldsync:enroll?server=…&ca=…&code=…`, each value form-encoded.
    pub fn to_text(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("server", &self.server);
        if let Some(ca) = &self.ca_fingerprint {
            query.append_pair("ca", ca);
        }
        query.append_pair("code", &self.code);
        format!("{PREFIX}{}", query.finish())
    }

    /// Reads what [`Invitation::to_text`] writes; an error says what is missing or wrong.
    pub fn parse(text: &str) -> Result<Invitation, String> {
        let query = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| "not a fieldsync enrollment code: it should start with fieldsync:enroll?".to_string())?;
        let (mut server, mut ca, mut code) = (None, None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "server" => server = Some(value.into_owned()),
                "ca" => ca = Some(normalize_fingerprint(&value)?),
                "code" => code = Some(value.into_owned()),
                _ => {}
            }
        }
        let missing = |what: &str| format!("the enrollment code has no {what}: scan the whole code again");
        Ok(Invitation {
            server: server.ok_or_else(|| missing("server address"))?,
            ca_fingerprint: ca,
            code: code.ok_or_else(|| missing("enrollment code"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_reads_back_what_it_wrote() {
        let invitation = Invitation {
            server: "https://192.168.8.10:7878".into(),
            ca_fingerprint: Some(fingerprint(b"a certificate")),
            code: "fse1_a+b/c=&d".into(),
        };
        let text = invitation.to_text();
        assert!(text.starts_with("fieldsync:enroll?server=https"), "{text}");
        assert_eq!(Invitation::parse(&text), Ok(invitation.clone()));
        assert!(!format!("{invitation:?}").contains("fse1_"));
        let error = Invitation::parse("fieldsync:enroll?server=https%3A%2F%2Fx").expect_err("no code");
        assert!(error.contains("no enrollment code"), "{error}");
        assert!(Invitation::parse("https://x").is_err());
    }

    #[test]
    fn a_fingerprint_is_read_however_it_was_typed() {
        let canonical = fingerprint(b"ca");
        let hex = canonical.trim_start_matches("sha256:");
        let colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
            .collect();
        assert_eq!(normalize_fingerprint(&colons.join(":")), Ok(canonical.clone()));
        assert_eq!(normalize_fingerprint(&format!(" SHA256:{hex} ")), Ok(canonical.clone()));
        let error = normalize_fingerprint(&canonical[..40]).expect_err("short");
        assert!(error.contains("64 hex digits"), "{error}");
        assert!(normalize_fingerprint(&format!("sha256:{}", "g".repeat(64))).is_err());
    }
}
