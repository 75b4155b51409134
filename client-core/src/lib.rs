//! The device store of fieldsync: what a tablet app embeds.
//!
//! Each record is an Automerge document kept in a local SQLite file (WAL). A local edit commits, in one
//! transaction, the change bytes, the document's heads and the materialized row that lists and lookups read, so a
//! crash at any instant leaves the old state or the new one. Changes from elsewhere merge without loss: a field
//! edited on two devices stays visible as a conflict with every candidate and its author.
//!
//! **Architecture invariant:** client-core never links the server's web or PostgreSQL stack.

mod authority;
mod bundle;
mod carried;
mod compaction;
mod editing;
mod enrollment;
mod error;
mod exchange;
mod http;
mod identity;
mod import;
mod neighbourhood;
mod queries;
mod receipts;
mod recovery;
mod review;
mod store;
mod sync;

pub use authority::Enrolled;
pub use bundle::{BundleContents, BundleImported, BundleWritten};
pub use carried::{CarriedBundle, Forwarded};
pub use compaction::CompactionReport;
pub use editing::Saved;
pub use enrollment::{CodeEnrollment, Enrollment, fetch_authority};
pub use error::StoreError;
pub use exchange::{DocumentChanges, ImportReport, OutboxChange};
pub use identity::DeviceIdentity;
pub use protocol::enrollment::Invitation;
pub use queries::{ListFilter, RecordSummary, StoredRecord};
pub use receipts::{Reached, ReachedCounts};
pub use store::Store;
pub use sync::{RejectedChange, SyncError, SyncProgress, SyncReport, SyncStatus};
pub use sync_http::{HttpTransport, TransportError};
