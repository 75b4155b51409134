//! Sync benchmark: `cargo bench -p tests --bench sync`. Figures go to docs/benchmarks.md.
//!
//! - a first sync of 1,000 and of 10,000 new records from one device to a server on loopback: wall time,
//!   requests, bytes up and down, and wire bytes over the floor (the same changes compressed together, zstd -3);
//! - an idle sync (nothing new on either side) with 100 and with 10,000 records stored: bytes and time.
#![allow(clippy::unwrap_used)]

use client_core::{HttpTransport, Store};
use std::time::{Duration, Instant};
use tests::*;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("sync benchmark in {}", dir.path().display());
    for n in [100, 1_000, 10_000] {
        let server = TestServer::start(&dir.path().join(format!("server-{n}")));
        let (_, token) = server.enrol("bench", &["Team 3"], DeviceRole::Supervisor);
        let mut device = store(&dir.path().join(format!("device-{n}.db")), "bench", "bench");
        device.enroll(&server.url(), &token).unwrap();
        task_with_finds(&mut device, n);
        let floor = compressed_floor(&device);

        let transport = HttpTransport::new(&server.url(), &token);
        let started = Instant::now();
        let report = device.sync_with(|r| transport.send(r), |_| {}).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(report.accepted, n);
        let (up, down) = (transport.bytes_sent(), transport.bytes_received());
        println!(
            "first sync of {n} records: {:.2} s, {} request(s), {up} B up, {down} B down; floor {floor} B; (up + down) / floor = {:.3}",
            elapsed.as_secs_f64(),
            report.requests,
            (up + down) as f64 / floor as f64
        );

        let mut times = Vec::new();
        let mut bytes = Vec::new();
        for _ in 0..20 {
            let idle = HttpTransport::new(&server.url(), &token);
            let started = Instant::now();
            let report = device.sync_with(|r| idle.send(r), |_| {}).unwrap();
            times.push(started.elapsed());
            bytes.push(idle.bytes_sent() + idle.bytes_received());
            assert_eq!((report.requests, report.pulled), (1, 0));
        }
        times.sort();
        bytes.sort();
        println!(
            "idle sync with {n} records stored: {} B (up + down), median {:.2} ms, p90 {:.2} ms (n = 20)",
            bytes[10],
            ms(times[10]),
            ms(times[18])
        );
        server.stop();
    }
}

/// The floor: every change the device will push, concatenated and compressed together (zstd level 3).
fn compressed_floor(device: &Store) -> usize {
    let all: Vec<u8> = device.outbox().unwrap().into_iter().flat_map(|c| c.bytes).collect();
    zstd::stream::encode_all(all.as_slice(), 3).unwrap().len()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
