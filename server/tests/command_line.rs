//! The `fieldsync-server` binary as an administrator runs it, on a real data directory.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

/// `fieldsync-server device add … | head -1`: the reader closes the pipe before the token and QR code are
/// written. The device is still enrolled, and the program ends without a panic.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
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
