//! The `fieldsync-server` binary as an administrator runs it, on a real data directory.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

/// `fieldsync-server device add … | head -1`: the reader closes the pipe before the token and QR code are
/// written. The device is still enrolled, and the program ends without a panic.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // A data directory as `fieldsync-server serve` leaves it the first time.
    drop(store_sqlite::SqliteStorage::open(dir.path()).unwrap());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args([
            "device",
            "add",
            "--name",
            "Team 3 tablet",
            "--team",
            "Team 3",
            "--role",
            "team-leader",
        ])
        .env("FIELDSYNC_DATA_DIR", dir.path())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{:?}: {stderr}",
        out.status
    );

    let list = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
        .args(["device", "list"])
        .env("FIELDSYNC_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stdout).contains("Team 3 tablet"));
}

/// A mistyped `--data-dir` is refused by every command that reads or changes data, naming the directory, and
/// nothing is created there; `serve` and `demo` are the commands that make a data directory.
#[test]
fn a_directory_without_data_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("fieldsycn-data");
    for args in [
        &["device", "list"][..],
        &[
            "device", "add", "--name", "tablet", "--team", "Team 3", "--role", "deminer",
        ],
        &["stats"],
        &["quality"],
        &["quarantine", "list"],
        &["rebuild"],
        &["import-bundle", "stick.fsb"],
        &["export-bundle", "--device", "tablet", "stick.fsb"],
        &["export", "--format", "csv", "--out", "out"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
            .args(args)
            .arg("--data-dir")
            .arg(&typo)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted a directory without data");
        assert!(
            stderr.contains(&typo.display().to_string()) && stderr.contains("holds no fieldsync data"),
            "{args:?}: {stderr}"
        );
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
}
