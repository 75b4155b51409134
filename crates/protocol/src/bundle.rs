//! Bundles: what a sync would carry, written to a file for a hop without a network (a USB stick from a tablet to
//! its camp, from a camp to HQ, and back). One format at every hop (docs/protocol.md, "Bundles").
//!
//! A bundle file is [`MAGIC`], a checksum, the seal, then the [`Bundle`] as CBOR compressed with zstd, the
//! protocol's own encoding. The checksum is the SHA-256 of the seal and of the SHA-256 of the payload, so it covers
//! every byte after it. [`read`] checks it first, so a file with one flipped bit, or cut short on its way, is
//! refused before anything in it is decoded; then it checks that the header lists exactly the changes inside, each
//! by the hash its bytes have. A bundle carries changes only, never snapshots: every change it holds is checked one
//! by one.
//!
//! The seal says who wrote the bundle: an HMAC-SHA256 of the payload's digest keyed by the writing device's
//! credential as the server keeps it (the SHA-256 of its token, [`seal_key`]). A server imports a device's bundle
//! only with a seal that one of its enrolled devices' keys makes, so a bundle cannot claim to come from a device
//! that did not write it. A bundle written by a server, or by a device never given a credential, is unsealed
//! (zeros).

use crate::DocumentChanges;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sha2::{Digest, Sha256};
use std::io::Read as _;
use uuid::Uuid;

/// The first bytes of every bundle file of this format.
pub const MAGIC: &[u8; 20] = b"fieldsync bundle v2\n";

/// Largest bundle, decompressed: a camp's week of work is tens of MB; a zstd bomb stops here.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024 * 1024;

/// What a bundle holds: a header saying where it comes from and what is inside, then the changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    pub header: Header,
    pub documents: Vec<DocumentChanges>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub source: Source,
    /// When the bundle was written, by the writer's clock (RFC 3339).
    pub written_at: String,
    pub covers: Covers,
    /// Every record inside, with the hash of each of its changes, in the order of `documents`.
    pub records: Vec<Contents>,
}

/// Who wrote the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub kind: SourceKind,
    /// The device's id (for a device), or the server's log id (for a server).
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Device,
    Server,
}

/// What part of its source's data a bundle holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Covers {
    /// Every change of every record the source holds.
    Everything,
    /// A device's own changes that its server had not acknowledged when the bundle was written: all of them, or
    /// only those not in an earlier bundle (`after`: the last change row an earlier bundle held, 0 if none).
    Unacknowledged { after: u64 },
    /// A server's log as one device sees it: the changes in `device`'s scope after log position `after`, up to
    /// `through`, pushed by anyone.
    Log { device: Uuid, after: u64, through: u64 },
    /// A camp's log forwarded to the server it relays to, for a link that is down (docs/relay.md, "Bundles
    /// upstream"): the changes the camp's devices pushed after camp log position `after` up to `through`, in log
    /// order, each run of one device's records named as `SyncRequest::on_behalf_of` names them. `answered` is the
    /// position through which upstream had answered the camp over the network when the bundle was written, so
    /// that upstream knows whether the bundle follows on from what it has answered.
    Relayed {
        answered: u64,
        after: u64,
        through: u64,
        runs: Vec<crate::Carried>,
    },
    /// A bundle of the first format (JSON), which said nothing of what it covers.
    Unknown,
}

/// One record of a bundle and the hash of each of its changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    pub record_id: Uuid,
    pub changes: Vec<ByteBuf>,
}

/// The server's answer to a forwarded bundle (`POST /v1/bundles`): whose push it was taken as and what became of
/// it. Refusals are kept in the server's quarantine and told to the device that made the change at its next sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleReceipt {
    /// The device whose credential sealed the bundle.
    pub device: Uuid,
    pub device_name: String,
    /// Changes the server holds now, new or held already.
    pub accepted: u64,
    pub rejected: Vec<crate::Rejection>,
}

/// The seal of a bundle no key sealed.
pub const UNSEALED: [u8; 32] = [0; 32];

/// The key a device seals its bundles with: the SHA-256 of its token, which is what its server keeps of it.
pub fn seal_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// A bundle read and checked, with its seal, to be verified against the keys of the devices it may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub bundle: Bundle,
    seal: [u8; 32],
    digest: [u8; 32],
}

impl Opened {
    /// Whether any key sealed it (the first format, and bundles written by a server, are unsealed).
    pub fn is_sealed(&self) -> bool {
        self.seal != UNSEALED
    }

    /// The bundle's checksum (the 32 bytes after the magic), which names the file: two files with the same
    /// checksum hold the same bundle.
    pub fn checksum(&self) -> [u8; 32] {
        checksum(&self.seal, &self.digest)
    }

    /// Whether `key` sealed it.
    pub fn sealed_by(&self, key: &[u8; 32]) -> bool {
        self.is_sealed() && seal(Some(key), &self.digest) == self.seal
    }
}

fn seal(key: Option<&[u8; 32]>, digest: &[u8; 32]) -> [u8; 32] {
    let Some(key) = key else { return UNSEALED };
    // HMAC takes a key of any length: the error is never made.
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key) else {
        return UNSEALED;
    };
    mac.update(digest);
    mac.finalize().into_bytes().into()
}

fn checksum(seal: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(seal);
    hasher.update(digest);
    hasher.finalize().into()
}

/// Why a file was not read as a bundle. Nothing of a refused bundle is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("it is not a fieldsync bundle (it does not begin as one)")]
    NotABundle,
    #[error("it is {0} bytes, too short for a bundle: it was cut short; copy it again from where it was written")]
    Truncated(usize),
    #[error(
        "it is damaged: its checksum does not match its contents (changed or cut short after it was written); \
         copy it again from where it was written"
    )]
    Damaged,
    #[error("its contents cannot be read: {0}")]
    Unreadable(String),
    #[error("it does not hold what its header lists: {0}")]
    Inconsistent(String),
}

impl Bundle {
    /// A bundle of `documents`, its header listing each change by its hash. Fails on bytes that are not an
    /// Automerge change: a writer bundles only changes it holds, so that is a damaged store, not a user's error.
    pub fn new(
        source: Source,
        written_at: String,
        covers: Covers,
        documents: Vec<DocumentChanges>,
    ) -> Result<Bundle, BundleError> {
        let records = documents.iter().map(contents_of).collect::<Result<Vec<_>, _>>()?;
        Ok(Bundle {
            header: Header {
                source,
                written_at,
                covers,
                records,
            },
            documents,
        })
    }

    /// How many changes the bundle holds.
    pub fn change_count(&self) -> usize {
        self.documents.iter().map(|d| d.changes.len()).sum()
    }

    /// The bundle as the bytes of a file: magic, checksum, seal (with `key`, the writer's [`seal_key`], or
    /// none), compressed CBOR.
    pub fn to_bytes(&self, key: Option<&[u8; 32]>) -> Result<Vec<u8>, BundleError> {
        let payload = crate::encode(self).map_err(|e| BundleError::Unreadable(e.to_string()))?;
        let digest: [u8; 32] = Sha256::digest(&payload).into();
        let seal = seal(key, &digest);
        let mut bytes = Vec::with_capacity(MAGIC.len() + 64 + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&checksum(&seal, &digest));
        bytes.extend_from_slice(&seal);
        bytes.extend_from_slice(&payload);
        Ok(bytes)
    }
}

/// Reads a bundle file, this format or the first (JSON, written by `fieldsync export-changes`), and checks it
/// whole before anything in it is used.
pub fn read(bytes: &[u8]) -> Result<Opened, BundleError> {
    read_within(bytes, MAX_BUNDLE_BYTES)
}

/// [`read`], decompressing no more than `max` bytes: a bundle that arrives over the network (`POST /v1/bundles`)
/// is held to a sync message's limit, since anyone can make a checksum that matches a zstd bomb.
pub fn read_within(bytes: &[u8], max: usize) -> Result<Opened, BundleError> {
    if bytes.first() == Some(&b'{') {
        return Ok(Opened {
            bundle: read_first_format(bytes)?,
            seal: UNSEALED,
            digest: [0; 32],
        });
    }
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            BundleError::Truncated(bytes.len())
        } else {
            BundleError::NotABundle
        });
    }
    let (magic, rest) = bytes.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(BundleError::NotABundle);
    }
    if rest.len() < 64 {
        return Err(BundleError::Truncated(bytes.len()));
    }
    let (written, rest) = rest.split_at(32);
    let (seal, payload) = rest.split_at(32);
    let seal: [u8; 32] = seal.try_into().map_err(|_| BundleError::Truncated(bytes.len()))?;
    let digest: [u8; 32] = Sha256::digest(payload).into();
    if checksum(&seal, &digest) != written {
        return Err(BundleError::Damaged);
    }
    let bundle: Bundle = decode_payload(payload, max)?;
    check_contents(&bundle)?;
    Ok(Opened { bundle, seal, digest })
}

/// The compressed CBOR after the checksum, decompressed no further than `max` bytes.
fn decode_payload(payload: &[u8], max: usize) -> Result<Bundle, BundleError> {
    let unreadable = |e: &dyn std::fmt::Display| BundleError::Unreadable(e.to_string());
    let decoder = zstd::stream::read::Decoder::new(payload).map_err(|e| unreadable(&e))?;
    let mut cbor = Vec::new();
    decoder
        .take(max as u64 + 1)
        .read_to_end(&mut cbor)
        .map_err(|e| unreadable(&e))?;
    if cbor.len() > max {
        return Err(BundleError::Unreadable(format!(
            "it holds more than {max} bytes once decompressed"
        )));
    }
    ciborium::from_reader(cbor.as_slice()).map_err(|e| unreadable(&e))
}

/// The header lists every record and change inside, in order, each change by the hash of its bytes.
fn check_contents(bundle: &Bundle) -> Result<(), BundleError> {
    let inconsistent = |message: String| Err(BundleError::Inconsistent(message));
    if bundle.header.records.len() != bundle.documents.len() {
        return inconsistent(format!(
            "its header lists {} records and it holds {}",
            bundle.header.records.len(),
            bundle.documents.len()
        ));
    }
    for (listed, document) in bundle.header.records.iter().zip(&bundle.documents) {
        let held = contents_of(document)?;
        if held.record_id != listed.record_id {
            return inconsistent(format!(
                "its header lists record {} where it holds {}",
                listed.record_id, held.record_id
            ));
        }
        if held.changes != listed.changes {
            return inconsistent(format!(
                "the changes of record {} are not those its header lists",
                held.record_id
            ));
        }
    }
    Ok(())
}

/// A document's record and the hash of each change, checked to be a change.
fn contents_of(document: &DocumentChanges) -> Result<Contents, BundleError> {
    if document.snapshot.is_some() {
        return Err(BundleError::Inconsistent(format!(
            "record {} comes as a snapshot; a bundle carries changes only",
            document.record_id
        )));
    }
    let changes = document
        .changes
        .iter()
        .map(|bytes| {
            domain::document::change_hash(bytes)
                .map(|hash| ByteBuf::from(hash.to_vec()))
                .ok_or_else(|| {
                    BundleError::Inconsistent(format!(
                        "a change of record {} is not an Automerge change",
                        document.record_id
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Contents {
        record_id: document.record_id,
        changes,
    })
}

/// The first format: JSON, change bytes as arrays of numbers, no header and no checksum. Still read, so that files
/// written before keep importing; every change is still checked to be one.
#[derive(Deserialize)]
struct FirstFormat {
    format: String,
    version: u32,
    from_device: Uuid,
    documents: Vec<FirstFormatDocument>,
}

#[derive(Deserialize)]
struct FirstFormatDocument {
    record_id: Uuid,
    changes: Vec<Vec<u8>>,
}

const FIRST_FORMAT: &str = "fieldsync-change-bundle";

fn read_first_format(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let old: FirstFormat = serde_json::from_slice(bytes).map_err(|e| BundleError::Unreadable(e.to_string()))?;
    if old.format != FIRST_FORMAT || old.version != 1 {
        return Err(BundleError::Unreadable(format!(
            "it is a {} version {} file; this fieldsync reads bundles of version 2 and {FIRST_FORMAT} version 1",
            old.format, old.version
        )));
    }
    let documents = old
        .documents
        .into_iter()
        .map(|d| DocumentChanges::changes(d.record_id, d.changes.into_iter().map(ByteBuf::from).collect()))
        .collect();
    let source = Source {
        kind: SourceKind::Device,
        id: old.from_device,
        name: String::new(),
    };
    Bundle::new(source, String::new(), Covers::Unknown, documents)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use automerge::transaction::Transactable;

    /// Two records' changes, as a tablet would bundle them: a record made and then edited, and another.
    fn documents() -> Vec<DocumentChanges> {
        let record = |label: &str, edits: usize| {
            let mut doc = automerge::AutoCommit::new();
            doc.put(automerge::ROOT, "label", label).unwrap();
            for i in 0..edits {
                doc.commit();
                doc.put(automerge::ROOT, "notes", format!("edit {i}")).unwrap();
            }
            let changes = doc
                .get_changes(&[])
                .iter()
                .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                .collect();
            DocumentChanges::changes(Uuid::now_v7(), changes)
        };
        vec![record("F-0001", 2), record("F-0002", 0)]
    }

    fn bundle() -> Bundle {
        let source = Source {
            kind: SourceKind::Device,
            id: Uuid::now_v7(),
            name: "tablet-3".into(),
        };
        Bundle::new(
            source,
            "2026-12-02T10:00:00Z".into(),
            Covers::Unacknowledged { after: 0 },
            documents(),
        )
        .unwrap()
    }

    #[test]
    fn a_bundle_reads_back_as_it_was_written_with_every_change_listed_by_its_hash() {
        let bundle = bundle();
        assert_eq!(bundle.header.records.len(), 2);
        assert_eq!(bundle.header.records[0].changes.len(), 3);
        assert_eq!(bundle.change_count(), 4);
        let bytes = bundle.to_bytes(None).unwrap();
        assert!(bytes.starts_with(MAGIC));
        let opened = read(&bytes).unwrap();
        assert_eq!(opened.bundle, bundle);
        assert!(!opened.is_sealed());
        assert!(!opened.sealed_by(&UNSEALED), "an unsealed bundle is sealed by no key");
    }

    #[test]
    fn a_sealed_bundle_is_sealed_by_its_writers_key_only() {
        let (key, other) = (seal_key("fst1_tablet"), seal_key("fst1_other"));
        assert_eq!(seal_key(" fst1_tablet\n"), key, "the token as typed or pasted");
        let bytes = bundle().to_bytes(Some(&key)).unwrap();
        let opened = read(&bytes).unwrap();
        assert!(opened.is_sealed());
        assert!(opened.sealed_by(&key));
        assert!(!opened.sealed_by(&other));
        // A seal copied from another bundle does not fit this one.
        let mut forged = bundle().to_bytes(Some(&other)).unwrap();
        forged[MAGIC.len() + 32..MAGIC.len() + 64].copy_from_slice(&bytes[MAGIC.len() + 32..MAGIC.len() + 64]);
        assert!(read(&forged).is_err(), "the checksum covers the seal");
    }

    #[test]
    fn every_flipped_bit_and_every_cut_is_refused() {
        let bytes = bundle().to_bytes(Some(&seal_key("fst1_tablet"))).unwrap();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert!(read(&damaged).is_err(), "byte {i} bit {bit} flipped was read");
            }
        }
        for len in 0..bytes.len() {
            assert!(read(&bytes[..len]).is_err(), "cut at {len} of {} was read", bytes.len());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(read(&longer), Err(BundleError::Damaged), "bytes added after it");
        let payload_flip = MAGIC.len() + 64 + 5;
        let mut damaged = bytes.clone();
        damaged[payload_flip] ^= 1;
        assert_eq!(read(&damaged), Err(BundleError::Damaged));
        assert_eq!(read(b"PK\x03\x04 a zip file"), Err(BundleError::NotABundle));
        assert_eq!(read(&bytes[..10]), Err(BundleError::Truncated(10)));
    }

    /// A writer whose header and contents disagree (a bug, or a header edited by hand and the checksum made
    /// again) is caught by the per-change check.
    #[test]
    fn a_bundle_larger_than_allowed_once_decompressed_is_refused_before_it_is_decoded() {
        let bytes = bundle().to_bytes(None).unwrap();
        assert!(read_within(&bytes, 1 << 20).is_ok());
        match read_within(&bytes, 64) {
            Err(BundleError::Unreadable(why)) => assert!(why.contains("more than 64 bytes"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_header_that_does_not_list_what_is_inside_is_refused() {
        let mut bundle = bundle();
        bundle.header.records[0].changes.swap(0, 1);
        let error = read(&bundle.to_bytes(None).unwrap()).unwrap_err();
        assert!(matches!(error, BundleError::Inconsistent(_)), "{error}");

        let mut bundle = self::bundle();
        bundle.documents[1].changes[0] = ByteBuf::from(b"not a change".to_vec());
        let error = read(&bundle.to_bytes(None).unwrap()).unwrap_err();
        assert!(error.to_string().contains("is not an Automerge change"), "{error}");

        let mut bundle = self::bundle();
        bundle.header.records.pop();
        let error = read(&bundle.to_bytes(None).unwrap()).unwrap_err();
        assert!(error.to_string().contains("lists 1 records and it holds 2"), "{error}");
    }

    #[test]
    fn a_file_of_the_first_format_still_reads() {
        let documents = documents();
        let old = serde_json::json!({
            "format": "fieldsync-change-bundle",
            "version": 1,
            "from_device": Uuid::nil(),
            "documents": documents.iter().map(|d| serde_json::json!({
                "record_id": d.record_id,
                "changes": d.changes.iter().map(|c| c.to_vec()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let opened = read(old.to_string().as_bytes()).unwrap();
        assert!(!opened.is_sealed());
        let bundle = opened.bundle;
        assert_eq!(bundle.documents, documents);
        assert_eq!(bundle.header.covers, Covers::Unknown);
        assert_eq!(bundle.header.source.id, Uuid::nil());

        let other =
            serde_json::json!({"format": "something-else", "version": 1, "from_device": Uuid::nil(), "documents": []});
        let error = read(other.to_string().as_bytes()).unwrap_err();
        assert!(error.to_string().contains("something-else version 1"), "{error}");
    }
}
