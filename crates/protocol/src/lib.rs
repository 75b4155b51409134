//! The fieldsync sync protocol, version 1 (specified in docs/protocol.md).
//!
//! One request pushes a device's unacknowledged changes and pulls everything in its scope after its cursor; the
//! response acknowledges or rejects each pushed change and carries the new changes, the new cursor and whether
//! more pages follow. Every step is idempotent: changes are content-addressed, so a retried request is harmless.
//!
//! **Architecture invariant:** this crate does no IO; both the device and the server build on it.

pub mod bundle;
mod digest;
mod encoding;
pub mod enrollment;
mod messages;

pub mod session;

pub use digest::{DIGEST_BYTES, heads_digest};
pub use encoding::{ProtocolError, decode, encode};
pub use messages::*;

/// The protocol version this build speaks. A request of another version gets `unsupported_version`.
pub const VERSION: u32 = 1;

/// The media type of request and response bodies: a CBOR message compressed with zstd. The compression is part of
/// the media type, not an HTTP `Content-Encoding`, so proxies and HTTP clients pass the bytes through untouched.
pub const MEDIA_TYPE: &str = "application/vnd.fieldsync.v1+cbor-zstd";

/// The path of the sync endpoint.
pub const SYNC_PATH: &str = "/v1/sync";
/// Where a device forwards a bundle another device wrote, which it carried (docs/protocol.md, "Bundles").
pub const BUNDLE_PATH: &str = "/v1/bundles";
/// The content type of a bundle file in a request body.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.fieldsync.bundle";

/// Limits both sides enforce; the server's are authoritative and announced in docs/protocol.md.
pub mod limits {
    /// Largest compressed request body the server reads.
    pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;
    /// Largest decompressed message either side decodes (a zstd bomb stops here).
    pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
    /// Most changes one request may push.
    pub const MAX_PUSH_CHANGES: usize = 20_000;
    /// Largest single change.
    pub const MAX_CHANGE_BYTES: usize = 1024 * 1024;
    /// Largest record, measured as its JSON form after the push (a change can be small and still make a huge
    /// record, since Automerge compresses large changes).
    pub const MAX_RECORD_JSON_BYTES: usize = 1024 * 1024;
    /// Most changes one response carries unless the device asks for fewer.
    pub const DEFAULT_PAGE_CHANGES: u32 = 5_000;
    /// Most records one request may `want` whole.
    pub const MAX_WANT: usize = 1_000;
    /// Most document digests one `reconcile` request may carry (about 3.5 MiB on the wire).
    pub const MAX_RECONCILE: usize = 100_000;
}
