//! `fieldsync-server demo`: a realistic, generated mine-action programme in Azerbaijan, pushed into a server
//! through the real sync protocol, so that a new user sees a populated HQ view at once and tests and benchmarks
//! have a plausible seeded scenario.
//!
//! - [`scenario`]: what to generate (a [`Scale`], the seed, `today`);
//! - [`generate`]: the records (deterministic for a scenario), grouped by team: the independent truth a test
//!   compares a server with;
//! - [`push_plan`]: records → Automerge documents (`domain::document`) → changes in push order;
//! - [`push`]: enrolling the demo's devices and pushing over HTTP, checking every answer.

mod fieldwork;
pub mod generate;
pub mod geography;
mod ground;
pub mod people;
pub mod push;
pub mod push_plan;
pub mod scenario;

pub use generate::{Author, Dataset, DemoDevice, History, TeamData, Version, generate};
pub use push::{DemoError, Enrolment, Progress, PushReport, Refused, enrol, ensure_empty, push, push_in_background};
pub use push_plan::{PushPlan, RecordChanges, plan};
pub use scenario::{Scale, Scenario};

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file in the data directory that holds the demo's HQ token.
pub const HQ_TOKEN_FILE: &str = "demo-hq-token.txt";

/// Writes the HQ token to `<data_dir>/demo-hq-token.txt`, readable by its owner only (mode 0600).
pub fn write_hq_token(data_dir: &Path, token: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = data_dir.join(HQ_TOKEN_FILE);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    // A file that existed keeps its old mode through `open`: set it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{token}")?;
    file.sync_all()?;
    Ok(path)
}

/// A progress line, printed when the push has moved on by a tenth or more (and at the end).
#[derive(Debug, Default)]
pub struct ProgressLines {
    shown: usize,
}

impl ProgressLines {
    pub fn line(&mut self, p: Progress) -> Option<String> {
        let total = p.changes_total.max(1);
        let tenth = p.changes * 10 / total;
        if tenth <= self.shown && p.changes < p.changes_total {
            return None;
        }
        self.shown = tenth;
        Some(format!(
            "pushed {}/{} records ({}/{} changes)",
            p.records, p.records_total, p.changes, p.changes_total
        ))
    }
}

/// The day in the programme's time zone.
pub fn programme_today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&domain::Programme::default().utc_offset)
        .date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_hq_token_file_is_readable_by_its_owner_only_even_if_it_existed() {
        let dir = tempfile::tempdir().expect("dir");
        let existing = dir.path().join(HQ_TOKEN_FILE);
        std::fs::write(&existing, "old token, longer than the new one\n").expect("write");
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let path = write_hq_token(dir.path(), "fst1_abc").expect("token");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "fst1_abc\n");
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn progress_lines_come_every_tenth_and_at_the_end() {
        let mut lines = ProgressLines::default();
        let shown: Vec<String> = (1..=100)
            .filter_map(|n| {
                lines.line(Progress {
                    records: n,
                    records_total: 100,
                    changes: n,
                    changes_total: 100,
                })
            })
            .collect();
        assert_eq!(shown.len(), 10, "{shown:?}");
        assert_eq!(
            shown.last().map(String::as_str),
            Some("pushed 100/100 records (100/100 changes)")
        );
    }
}
