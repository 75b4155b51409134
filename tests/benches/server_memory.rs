//! Server memory benchmark: `cargo build --release -p server && cargo bench -p tests --bench server_memory`
//! (FIELDSYNC_BENCH_STEP=5000 to sync in smaller steps).
//!
//! Runs the real `fieldsync-server` binary as a child process, syncs 100,000 records into it from one device in
//! steps, and reads the server's resident memory (VmRSS) and peak (VmHWM) from /proc after each step. The
//! server must not hold documents in memory, so its RSS should stay flat in the number of records stored.
#![allow(clippy::unwrap_used)]

use domain::Record;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tests::*;
use uuid::Uuid;

const TOTAL: usize = 100_000;

fn main() {
    // Records added (and synced) per step; FIELDSYNC_BENCH_STEP changes it, to tell memory that grows with the
    // size of one sync from memory that grows with what is stored.
    let step: usize = std::env::var("FIELDSYNC_BENCH_STEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let binary = server_binary();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let port = free_port();
    let output = Command::new(&binary)
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "device",
            "add",
            "--name",
            "bench",
            "--team",
            "Team 3",
            "--role",
            "team-leader",
            "--no-qr",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let mut server = Server(
        Command::new(&binary)
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port);
    println!(
        "server pid {}: after start VmRSS {} kB",
        server.0.id(),
        status(&server.0, "VmRSS")
    );

    let mut device = store(&dir.path().join("device.db"), "bench", "bench");
    device.enroll(&format!("http://127.0.0.1:{port}"), &token).unwrap();
    let task = Uuid::now_v7();
    create(&mut device, tests::task(task));
    let mut stored = 1;
    while stored < TOTAL {
        let records: Vec<Record> = (stored..stored + step)
            .map(|i| {
                let mut f = find(Uuid::now_v7(), task, None, &format!("F-{i:06}"));
                f["location"] = json!({"lat": 40.0 + (i / 300) as f64 * 0.0002, "lon": 47.0 + (i % 300) as f64 * 0.0002, "method": "handheld_gnss", "accuracy_m": 2.0});
                Record::from_json(f, Uuid::now_v7()).unwrap()
            })
            .collect();
        for chunk in records.chunks(1_000) {
            device.create_batch(chunk.to_vec()).unwrap();
        }
        let started = Instant::now();
        device.sync(|_| {}).unwrap();
        stored += step;
        if stored % 20_000 != 1 {
            continue;
        }
        println!(
            "{stored:>7} records held: server VmRSS {} kB (anon {} kB, file {} kB, shmem {} kB), VmHWM {} kB, threads {} (sync of {step}: {:.1} s)",
            status(&server.0, "VmRSS"),
            status(&server.0, "RssAnon"),
            status(&server.0, "RssFile"),
            status(&server.0, "RssShmem"),
            status(&server.0, "VmHWM"),
            status(&server.0, "Threads"),
            started.elapsed().as_secs_f64()
        );
    }
    server.stop();
}

/// The release server binary beside this benchmark's own target directory.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().and_then(Path::parent).unwrap();
    let binary = release.join("fieldsync-server");
    assert!(
        binary.exists(),
        "build the server first: cargo build --release -p server ({} missing)",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A field of /proc/<pid>/status, in kB.
fn status(child: &Child, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Stops the server on every path out of the benchmark, including a panic.
struct Server(Child);

impl Server {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
