//! Server memory benchmark: `cargo build --release -p server && cargo bench -p tests --bench server_memory`
//! (FIELDSYNC_BENCH_STEP=5000 to sync in smaller steps).
//!
//! Runs the real `fieldsync-server` binary as a child process, syncs 100,000 records into it from one device in
//! steps, and reads the server's resident memory (VmRSS) and peak (VmHWM) from /proc after each step. The
//! server must not hold documents in memory, so its RSS should stay flat in the number of records stored.
#![allow(clippy::unwrap_used)]

use domain::Record;
use serde_json::json;
use std::time::Instant;
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
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    // `serve` makes the data directory; the device is enrolled beside the running server, as an operator does.
    let mut server = ServerProcess::serve(&data);
    let token = device_add(&data, "bench", "Team 3", "team-leader");
    println!(
        "server pid {}: after start VmRSS {} kB",
        server.pid(),
        server.status("VmRSS")
    );

    let mut device = store(&dir.path().join("device.db"), "bench", "bench");
    device.enroll(&server.url(), &token).unwrap();
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
            server.status("VmRSS"),
            server.status("RssAnon"),
            server.status("RssFile"),
            server.status("RssShmem"),
            server.status("VmHWM"),
            server.status("Threads"),
            started.elapsed().as_secs_f64()
        );
    }
    server.stop();
}
