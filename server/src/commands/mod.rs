//! One file per `fieldsync-server` command. Each takes the opened storage and the settings it needs and prints
//! with `outln!` (main.rs).

pub mod bundle;
pub mod demo;
pub mod device;
pub mod enroll_upstream;
pub mod export;
pub mod quality;
pub mod quarantine;
pub mod rebuild;
pub mod serve;
pub mod stats;
pub mod status;

use std::collections::BTreeSet;

pub fn join(teams: &BTreeSet<String>) -> String {
    if teams.is_empty() {
        "-".into()
    } else {
        teams.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}
