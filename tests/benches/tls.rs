//! TLS benchmark: `cargo bench -p tests --bench tls`. Figures go to docs/benchmarks.md ("TLS at the edge").
//!
//! A first sync of 1,000 and of 10,000 new records from one device to a server on loopback, over plain HTTP and
//! over TLS with the server's own authority pinned (`serve --tls auto`): wall time, median of 3 runs each, a fresh
//! server and device every run; and an idle sync (nothing new) over each, median of 20.
#![allow(clippy::unwrap_used)]

use client_core::Enrollment;
use std::time::{Duration, Instant};
use tests::*;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("TLS benchmark in {}", dir.path().display());
    for n in [1_000, 10_000] {
        for tls in [false, true] {
            let mut firsts = Vec::new();
            let mut idles = Vec::new();
            for run in 0..3 {
                let name = format!("{n}-{tls}-{run}");
                let data_dir = dir.path().join(format!("server-{name}"));
                let server = if tls {
                    TestServer::start_tls(&data_dir)
                } else {
                    TestServer::start(&data_dir)
                };
                let (_, token) = server.enrol("bench", &["Team 3"], DeviceRole::Supervisor);
                let mut device = store(&dir.path().join(format!("device-{name}.db")), "bench", "bench");
                let url = if tls { server.https_url() } else { server.url() };
                device
                    .enroll_with(&Enrollment {
                        authority: server.authority.clone(),
                        ..Enrollment::new(&url, &token)
                    })
                    .unwrap();
                task_with_finds(&mut device, n);
                let started = Instant::now();
                let report = device.sync(|_| {}).unwrap();
                firsts.push(started.elapsed());
                assert_eq!(report.accepted, n);
                for _ in 0..20 {
                    let started = Instant::now();
                    let report = device.sync(|_| {}).unwrap();
                    idles.push(started.elapsed());
                    assert_eq!((report.requests, report.pulled), (1, 0));
                }
                server.stop();
            }
            firsts.sort();
            idles.sort();
            println!(
                "{}: first sync of {n} records, median {:.2} s (runs: {}); idle sync median {:.2} ms (n = {})",
                if tls { "TLS, authority pinned" } else { "plain HTTP" },
                firsts[1].as_secs_f64(),
                firsts
                    .iter()
                    .map(|t| format!("{:.2}", t.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(", "),
                ms(idles[idles.len() / 2]),
                idles.len()
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
