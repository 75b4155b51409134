//! The fieldsync domain model: the records of humanitarian mine action, their vocabularies and geometry,
//! the validation rules a national programme enforces, and how a record maps to an Automerge document.
//!
//! **Architecture invariant:** this crate does no IO. It knows nothing of SQL, HTTP, files or async runtimes;
//! time and identifiers are passed in. The device store and the server both build on it.

pub mod authority;
pub mod conflict;
pub mod document;
pub mod geometry;
pub mod input;
pub mod programme;
pub mod records;
pub mod validation;
pub mod vocabulary;

pub use authority::{Action, Role};
pub use conflict::{Candidate, FieldConflict};
pub use document::{Authorship, DocumentError, HistoryEntry, Materialized};
pub use input::{InputError, parse_record};
pub use programme::{Programme, ReferenceData};
pub use records::{Record, RecordBody, RecordMeta, RecordType};
pub use validation::{Context, Issue, Related, Rule, Severity};
pub use vocabulary::Code;
