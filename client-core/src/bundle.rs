//! Bundles in and out of the device store (protocol::bundle): what a sync would carry, on a file, for a hop
//! without a network (a tablet's day on a USB stick to its camp, or to a supervisor's laptop).
//!
//! By default a bundle holds this device's changes its server has not acknowledged and no earlier bundle held:
//! the file carried today holds today's work, not the whole store again. A bundle is written to a temporary file
//! beside its destination and renamed into place, and only then counted as written, so a stick pulled out
//! mid-write leaves no half bundle that looks whole, and the next bundle holds those changes again. A bundle another
//! device wrote is merged, and kept to forward to the server at the next sync (crate::carried).

use crate::error::StoreError;
use crate::exchange::{DocumentChanges, ImportReport};
use crate::neighbourhood::parse_id;
use crate::store::Store;
use protocol::bundle::{self, Bundle, Covers, Source, SourceKind};
use serde_bytes::ByteBuf;
use std::io::Write;
use std::path::Path;
use uuid::Uuid;

/// What a bundle written by this device holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleContents {
    /// This device's changes its server has not acknowledged that no earlier bundle held (the default).
    New,
    /// All of this device's changes its server has not acknowledged, those of earlier bundles too (a bundle
    /// lost on its way).
    Unacknowledged,
    /// Every change of every record this store holds, whoever made it (for a device that has nothing).
    Everything,
}

/// What a written bundle holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleWritten {
    pub records: usize,
    pub changes: usize,
    /// The size of the file.
    pub bytes: usize,
}

/// What an imported bundle was and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleImported {
    pub source: Source,
    pub covers: Covers,
    pub report: ImportReport,
    /// Another device wrote and sealed it: this device forwards it to its server at its next sync (crate::carried).
    pub carried: bool,
}

/// The last change row a bundle of new changes held (`changes.seq`).
const BUNDLE_MARK: &str = "bundle_mark";

impl Store {
    /// Writes a bundle of `contents` to `path` (replacing a file there), and then remembers what it held.
    pub fn export_bundle(&mut self, path: &Path, contents: BundleContents) -> Result<BundleWritten, StoreError> {
        let (documents, covers, mark) = match contents {
            BundleContents::Everything => {
                let documents = self.export_changes()?.into_iter().map(to_protocol).collect();
                (documents, Covers::Everything, None)
            }
            BundleContents::New | BundleContents::Unacknowledged => {
                let after = match contents {
                    BundleContents::New => self.meta(BUNDLE_MARK)?.and_then(|m| m.parse().ok()).unwrap_or(0),
                    _ => 0,
                };
                let (documents, last) = self.unacknowledged_after(after)?;
                (
                    documents,
                    Covers::Unacknowledged {
                        after: u64::try_from(after).unwrap_or(0),
                    },
                    last,
                )
            }
        };
        // The device as its server enrolled it, and sealed with its credential, so that the server knows who wrote
        // the bundle; a store never given a credential writes an unsealed bundle, which only devices import.
        let source = match self.enrolled()? {
            Some(enrolled) => Source {
                kind: SourceKind::Device,
                id: enrolled.id,
                name: enrolled.name,
            },
            None => Source {
                kind: SourceKind::Device,
                id: self.identity().device_id,
                name: self.identity().device_name.clone(),
            },
        };
        let key = self.enrollment()?.map(|(_, token)| bundle::seal_key(&token));
        let bundle = Bundle::new(source, self.now().to_rfc3339(), covers, documents)
            .map_err(|e| StoreError::Damaged(format!("a change to bundle: {e}")))?;
        let bytes = bundle
            .to_bytes(key.as_ref())
            .map_err(|e| StoreError::Damaged(format!("the bundle: {e}")))?;
        write_replacing(path, &bytes).map_err(|e| StoreError::BundleFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if let Some(mark) = mark {
            self.write(|| self.set_meta(BUNDLE_MARK, &mark.to_string()))?;
        }
        Ok(BundleWritten {
            records: bundle.documents.len(),
            changes: bundle.change_count(),
            bytes: bytes.len(),
        })
    }

    /// Reads a bundle (this format, or the first one's JSON) and merges its changes, all or nothing. A damaged,
    /// truncated or inconsistent bundle is refused whole, with the reason, and nothing is stored. Importing a
    /// bundle again adds nothing.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<BundleImported, StoreError> {
        let opened = bundle::read(bytes).map_err(|e| StoreError::BadBundle(e.to_string()))?;
        // Another device's bundle is kept to forward at the next sync (crate::carried), before it is merged: a
        // store that fails half-way through the merge still forwards it.
        let carried = self.keep_to_forward(&opened, bytes)?;
        let bundle = opened.bundle;
        let documents: Vec<DocumentChanges> = bundle
            .documents
            .into_iter()
            .map(|d| DocumentChanges {
                record_id: d.record_id,
                changes: d.changes.into_iter().map(ByteBuf::into_vec).collect(),
            })
            .collect();
        let report = self.import_changes(&documents)?;
        Ok(BundleImported {
            source: bundle.header.source,
            covers: bundle.header.covers,
            report,
            carried,
        })
    }

    /// This device's unacknowledged changes after change row `after`, by record (hazard areas and tasks before
    /// what links to them, as a sync pushes them), and the last change row among them.
    fn unacknowledged_after(&self, after: i64) -> Result<(Vec<protocol::DocumentChanges>, Option<i64>), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.seq, c.record_id, c.bytes, r.record_type FROM changes c \
             LEFT JOIN records r ON r.record_id = c.record_id \
             WHERE c.origin = 'local' AND c.acknowledged = 0 AND c.seq > ?1 ORDER BY c.seq",
        )?;
        let rows = stmt.query_map([after], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut last = None;
        let mut order: Vec<(usize, Uuid)> = Vec::new();
        let mut by_record: std::collections::HashMap<Uuid, Vec<ByteBuf>> = std::collections::HashMap::new();
        for row in rows {
            let (seq, id, bytes, record_type) = row?;
            last = Some(seq);
            let id = parse_id(&id)?;
            let changes = by_record.entry(id).or_insert_with(|| {
                order.push((type_order(record_type.as_deref()), id));
                Vec::new()
            });
            changes.push(ByteBuf::from(bytes));
        }
        // Stable: records of one type keep the order of their first change.
        order.sort_by_key(|(rank, _)| *rank);
        let documents = order
            .into_iter()
            .map(|(_, id)| protocol::DocumentChanges::changes(id, by_record.remove(&id).unwrap_or_default()))
            .collect();
        Ok((documents, last))
    }
}

/// Where a record type comes in a push: in the order of `RecordType::ALL` (hazard areas and tasks first).
fn type_order(record_type: Option<&str>) -> usize {
    record_type
        .and_then(domain::RecordType::parse)
        .and_then(|t| domain::RecordType::ALL.iter().position(|x| *x == t))
        .unwrap_or(usize::MAX)
}

fn to_protocol(document: DocumentChanges) -> protocol::DocumentChanges {
    protocol::DocumentChanges::changes(
        document.record_id,
        document.changes.into_iter().map(ByteBuf::from).collect(),
    )
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to the medium, and renames it into place: a
/// reader never finds a half-written bundle under the bundle's name.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
