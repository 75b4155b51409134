//! The messages of protocol version 1.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use uuid::Uuid;

/// Changes of one record's document, as raw Automerge change bytes. For a document the device lacks, the server
/// may send a snapshot (Automerge `save()` output, covering many changes in far fewer bytes) plus the changes
/// after it (the tail). Applying either is idempotent, so a snapshot of changes the device holds is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentChanges {
    pub record_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<ByteBuf>,
    pub changes: Vec<ByteBuf>,
}

impl DocumentChanges {
    /// Plain changes, no snapshot.
    pub fn changes(record_id: Uuid, changes: Vec<ByteBuf>) -> DocumentChanges {
        DocumentChanges {
            record_id,
            snapshot: None,
            changes,
        }
    }
}

/// A device's summary of one document for recovery: the record and `heads_digest` of its current heads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentDigest {
    pub record_id: Uuid,
    pub digest: ByteBuf,
}

/// The server's heads of a document whose digest differed from the device's (or that one side lacks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentHeads {
    pub record_id: Uuid,
    /// The server's heads (32-byte change hashes); empty when the server does not hold the record.
    pub heads: Vec<ByteBuf>,
    /// True when the device may write this record: it should push the changes the server lacks.
    pub send: bool,
}

/// Changes a device pushes for one record. `record_id` may be left out when `changes` include the document's first
/// change (the one with no dependencies): that change sets the record's id, and the server reads it from there.
/// A new record then costs no id beside its changes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedChanges {
    pub record_id: Option<Uuid>,
    pub changes: Vec<ByteBuf>,
}

/// What a device sends: its unacknowledged changes, and where it stands in the server's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub version: u32,
    /// The last server sequence number the device has applied; 0 for a device that has pulled nothing.
    pub cursor: u64,
    /// The server instance the cursor refers to (from an earlier response); a cursor from another instance,
    /// or beyond the end of this one's log, is answered with `cursor_unknown`.
    pub server_id: Option<Uuid>,
    pub push: Vec<PushedChanges>,
    /// At most this many changes in the response (the server may send fewer).
    pub page_limit: Option<u32>,
    /// The `cursor_check` of the response that gave `cursor`: the server refuses a cursor whose log entry is no
    /// longer the same (a log restored from backup and written again), instead of silently skipping entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_check: Option<ByteBuf>,
    /// Recovery: the device's digest of each document it holds beyond its outbox. Sent instead of a cursor when the
    /// device has no cursor for this server (a new or restored server). The server answers with `differ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Vec<DocumentDigest>>,
    /// Records to send whole (snapshot and changes) whatever the cursor: documents recovery found the device
    /// lacks. At most `limits::MAX_WANT` per request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub want: Vec<Uuid>,
    /// Sent by a relay only (a base camp's server, enrolled upstream with role `relay`): who made the changes in
    /// `push`, as consecutive runs: the first run's `records` entries were made by its device, the next run's by
    /// the next device, and so on, covering `push` exactly. Each device is enrolled at the relay's server, which
    /// vouches for its role and teams; the upstream server judges each run as its device's, within the relay's
    /// teams. The pull is the relay's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_behalf_of: Vec<Carried>,
}

/// One run of a relay's push: `records` consecutive entries of `push` made by `device` (SyncRequest::on_behalf_of).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    pub device: DeviceProfile,
    pub records: u32,
}

impl SyncRequest {
    /// A request of this protocol version that pushes nothing; set `push` and the rest as needed. Build requests
    /// with it rather than field by field, so that fields a later version adds take their defaults.
    pub fn new(cursor: u64, server_id: Option<Uuid>) -> SyncRequest {
        SyncRequest {
            version: crate::VERSION,
            cursor,
            server_id,
            push: vec![],
            page_limit: None,
            cursor_check: None,
            reconcile: None,
            want: vec![],
            on_behalf_of: vec![],
        }
    }
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub version: u32,
    pub server_id: Uuid,
    /// How many pushed changes the server now holds durably (including ones it already had). Every pushed change
    /// not listed in `rejected` is accepted: the device knows what it pushed, so acknowledgements cost no bytes.
    pub accepted: u64,
    /// Pushed changes the server did not accept, each with the reason. Refused ones are kept in quarantine.
    pub rejected: Vec<Rejection>,
    /// Sent empty by this server: a device validates every record it holds with the same rules (crates/domain)
    /// and knows its warnings already, so repeating them cost about 16 bytes a record for nothing. The server keeps
    /// its own findings with each record, where review and HQ's quality report read them. Kept in the message so
    /// that devices of every version still read the response.
    #[serde(default)]
    pub warnings: Vec<domain::Issue>,
    /// Changes in the device's scope after its cursor, in server order.
    pub pull: Vec<DocumentChanges>,
    /// The cursor to send next time.
    pub cursor: u64,
    /// True when more changes wait: sync again at once with the new cursor.
    pub more: bool,
    /// A fingerprint of the log entry at `cursor`, to send back with it (see `SyncRequest::cursor_check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_check: Option<ByteBuf>,
    /// Answer to `reconcile`: the documents in the device's scope whose heads differ from the device's digest,
    /// that the device lacks, or that the server lacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differ: Vec<DocumentHeads>,
    /// Who the server knows this device as: its enrolled id, name, role and teams. The device checks its own edits
    /// against this role before storing them, with the same rules the server applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceProfile>,
    /// The position in this server's log of the last change this device pushed (0, and left out: none yet). With
    /// `relayed_through`, how far a device's acknowledged changes have travelled (docs/relay.md, "Receipts").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pushed_through: u64,
    /// Sent by a server that relays to an upstream server (a base camp's): every change of its log up to this
    /// position has been answered upstream, accepted or refused (a refusal is told in `rejected`). Left out by the
    /// server at the top of the chain (HQ): what it acknowledges has arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relayed_through: Option<u64>,
    /// Sent to a relay whose camp forwarded changes on bundles (`fieldsync-server export-bundle --upstream`):
    /// every change of the camp's log up to this position has been answered here, accepted or refused (a refusal
    /// is told in `rejected`), so the camp sends none of them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundled_through: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A device as enrolled at the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceProfile {
    pub id: Uuid,
    pub name: String,
    pub role: domain::Role,
    pub teams: Vec<String>,
}

/// A pushed change the server refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub record_id: Uuid,
    /// Hashes (hex) of the refused changes of this record.
    pub changes: Vec<String>,
    pub code: RejectionCode,
    pub message: String,
    /// For `invalid`: the validation errors (and warnings) of the record the changes would make.
    pub issues: Vec<domain::Issue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    /// The record is not in the device's scope (not its team's task).
    OutOfScope,
    /// The device's role may not do what the changes do (domain::authority): the message names the role, the
    /// action and the rule.
    NotPermitted,
    /// A change was made by another device (its Automerge actor belongs to another enrolled device).
    AuthorMismatch,
    /// The record the changes would make breaks a validation rule.
    Invalid,
    /// The bytes are not an Automerge change, or the document is not a fieldsync record.
    Malformed,
    /// A change is larger than the limit.
    TooLarge,
    /// Not refused, not accepted yet: the changes depend on something the server does not hold yet (earlier
    /// changes of the record, or the task it belongs to). Not quarantined; push them again next sync.
    Deferred,
}

/// Why a request was not served (docs/protocol.md, "Errors"). Each has one HTTP status, given by the server's
/// HTTP adapter; the code, not the status, is what a client acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No token, an unknown token, or a revoked device (401).
    Unauthorized,
    /// The device's role may not use this endpoint (403).
    Forbidden,
    /// The body or a query parameter cannot be read (400).
    BadRequest,
    /// The request speaks another protocol version (400).
    UnsupportedVersion,
    /// More than a limit allows in one request (413).
    TooLarge,
    /// The cursor is not one this server's log can honour: drop it and reconcile (409).
    CursorUnknown,
    /// No such record (404).
    NotFound,
    /// Asked again too soon (429): the message says when to try again. A device reconciles once per recovery,
    /// so only a device looping reconciles meets it.
    RateLimited,
    /// The server failed; nothing was half-applied, retry later (500).
    Internal,
    /// A code this build does not know (a newer server's), or a body that was not a fieldsync error at all.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::CursorUnknown => "cursor_unknown",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response (4xx, 5xx), in JSON so that any HTTP client can read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// What happened and what to do, for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    #[test]
    fn error_codes_are_written_as_their_names_and_unknown_ones_are_read_as_unknown() {
        for code in [
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::BadRequest,
            ErrorCode::UnsupportedVersion,
            ErrorCode::TooLarge,
            ErrorCode::CursorUnknown,
            ErrorCode::NotFound,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).expect("encode");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).expect("decode"), code);
        }
        let body: ErrorBody =
            serde_json::from_str(r#"{"code": "payment_required", "message": "a newer server's"}"#).expect("decode");
        assert_eq!(body.code, ErrorCode::Unknown);
    }

    #[test]
    fn messages_round_trip_through_the_wire_encoding() {
        let request = SyncRequest {
            version: crate::VERSION,
            cursor: 42,
            server_id: Some(Uuid::now_v7()),
            push: vec![
                PushedChanges {
                    record_id: Some(Uuid::now_v7()),
                    changes: vec![ByteBuf::from(vec![1, 2, 3])],
                },
                PushedChanges {
                    record_id: None,
                    changes: vec![ByteBuf::from(vec![4])],
                },
            ],
            page_limit: Some(10),
            cursor_check: Some(ByteBuf::from(vec![7; 8])),
            reconcile: Some(vec![DocumentDigest {
                record_id: Uuid::now_v7(),
                digest: ByteBuf::from(crate::heads_digest(&[[1; 32]]).to_vec()),
            }]),
            want: vec![Uuid::now_v7()],
            on_behalf_of: vec![Carried {
                device: DeviceProfile {
                    id: Uuid::now_v7(),
                    name: "tablet-3".into(),
                    role: domain::Role::TeamLeader,
                    teams: vec!["Team 3".into()],
                },
                records: 2,
            }],
        };
        let bytes = encode(&request).expect("encode");
        assert_eq!(decode::<SyncRequest>(&bytes).expect("decode"), request);
    }
}
