use domain::{DocumentError, InputError, Issue};
use std::path::PathBuf;
use uuid::Uuid;

/// What can go wrong with the device store, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no fieldsync store at {0}: create one with `fieldsync init`")]
    NotInitialised(PathBuf),
    #[error("a fieldsync store already exists at {0}")]
    AlreadyInitialised(PathBuf),
    #[error("cannot create the store file {path}: {reason}")]
    CannotCreate { path: PathBuf, reason: String },
    #[error(
        "the store at {path} was written by a newer fieldsync (schema {found}, this build knows {known}): update fieldsync"
    )]
    NewerStore { path: PathBuf, found: i64, known: i64 },
    #[error("no record {0}")]
    NotFound(String),
    #[error("label {label} names {count} records; use the record id instead")]
    AmbiguousLabel { label: String, count: usize },
    #[error("record {0} already exists: use edit to change it")]
    AlreadyExists(Uuid),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{}", invalid_message(.issues))]
    Invalid { issues: Vec<Issue> },
    #[error("{0}")]
    BadEdit(String),
    /// The device's role may not make this edit (domain::authority); nothing was stored.
    #[error("{0}")]
    NotPermitted(String),
    #[error("the store file is damaged ({0}): restore it from a backup, or re-sync the device")]
    Damaged(String),
    #[error("record {record}: change {index} cannot be used: {reason}")]
    BadChange { record: Uuid, index: usize, reason: String },
    #[error("record {record}: {source}")]
    Document { record: Uuid, source: Box<DocumentError> },
    /// A bundle file refused whole (damaged, cut short, not a bundle); nothing of it was stored.
    #[error("the bundle was not imported: {0}. Nothing was stored")]
    BadBundle(String),
    #[error("cannot write the bundle to {path}: {reason}")]
    BundleFile { path: String, reason: String },
    #[error("the store's database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn invalid_message(issues: &[Issue]) -> String {
    let lines: Vec<String> = issues.iter().map(|i| format!("  {i}")).collect();
    format!(
        "the record was not saved; fix these and try again:\n{}",
        lines.join("\n")
    )
}

impl StoreError {
    pub(crate) fn document(record: Uuid) -> impl FnOnce(DocumentError) -> StoreError {
        move |source| StoreError::Document {
            record,
            source: Box::new(source),
        }
    }
}
