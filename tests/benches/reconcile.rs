//! Reconcile under load: `cargo build --release -p server && cargo bench -p tests --bench reconcile`. Figures go
//! to docs/benchmarks.md ("Reconcile beside pushes").
//!
//! The release server holds 10,000 records of one team. One device (a deminer's token, as an attacker would hold
//! it) loops reconciles of 100,000 digests as fast as the server answers, while another device of the team makes
//! a find and syncs, 1,000 times: that device's sync p50/p99, against no looping device, with the server's limit of
//! one reconcile every 10 s per device (the default) and with no limit (`--reconcile-every 0`), where reconcile
//! runs outside the ingest lock but has the cores to itself as often as it asks.
#![allow(clippy::unwrap_used)]

use domain::Record;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tests::*;
use uuid::Uuid;

const RECORDS: usize = 10_000;
const PUSHES: usize = 1_000;
const DIGESTS: usize = 100_000;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("reconcile benchmark in {}", dir.path().display());
    for (scenario, looping, args) in [
        ("no reconciling device", false, vec![]),
        ("a device looping reconciles, limit 1 per 10 s (default)", true, vec![]),
        (
            "a device looping reconciles, no limit",
            true,
            vec!["--reconcile-every", "0"],
        ),
    ] {
        let data = dir.path().join(format!("server-{}", scenario.len()));
        let server = ServerProcess::serve_with(&data, &args);
        let token = device_add(&data, "pusher", "Team 3", "supervisor");
        let looper_token = device_add(&data, "looper", "Team 3", "deminer");
        let mut device = store(
            &dir.path().join(format!("device-{}.db", scenario.len())),
            "pusher",
            "bench",
        );
        device.enroll(&server.url(), &token).unwrap();
        let task = Uuid::now_v7();
        create(&mut device, tests::task(task));
        let records: Vec<Record> = (1..RECORDS)
            .map(|i| Record::from_json(find_at(task, i), Uuid::now_v7()).unwrap())
            .collect();
        for chunk in records.chunks(1_000) {
            device.create_batch(chunk.to_vec()).unwrap();
        }
        let seeded = device.sync(|_| {}).unwrap();
        assert_eq!(seeded.accepted, RECORDS, "{seeded:?}");

        let stop = Arc::new(AtomicBool::new(false));
        let (answered, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let looper = looping.then(|| {
            let (stop, answered, refused, url) = (stop.clone(), answered.clone(), refused.clone(), server.url());
            std::thread::spawn(move || loop_reconciles(&url, &looper_token, &stop, &answered, &refused))
        });
        // Let the looping device get going.
        std::thread::sleep(Duration::from_millis(500));
        let mut times = Vec::with_capacity(PUSHES);
        for i in 0..PUSHES {
            create(&mut device, find_at(task, RECORDS + i));
            let started = Instant::now();
            let report = device.sync(|_| {}).unwrap();
            times.push(started.elapsed());
            assert_eq!(report.accepted, 1, "{report:?}");
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(looper) = looper {
            looper.join().unwrap();
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{scenario}: the other device's sync of one new find p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms \
             (n = {PUSHES}); reconciles answered {}, refused {}",
            ms(times[PUSHES / 2]),
            ms(times[PUSHES * 99 / 100]),
            ms(times[PUSHES - 1]),
            answered.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed)
        );
    }
}

/// A find of the task at a distinct spot.
fn find_at(task: Uuid, i: usize) -> serde_json::Value {
    let mut f = find(Uuid::now_v7(), task, None, &format!("F-{i:06}"));
    f["location"] = json!({"lat": 40.0 + (i / 300) as f64 * 0.0002, "lon": 47.0 + (i % 300) as f64 * 0.0002, "method": "handheld_gnss", "accuracy_m": 2.0});
    f
}

/// Reconciles of `DIGESTS` digests (encoded once: the looping client's own work is not the server's) until `stop`.
fn loop_reconciles(url: &str, token: &str, stop: &AtomicBool, answered: &AtomicU64, refused: &AtomicU64) {
    let mut request = protocol::SyncRequest::new(0, None);
    request.reconcile = Some(
        (0..DIGESTS)
            .map(|i| protocol::DocumentDigest {
                record_id: Uuid::from_u128(i as u128 + 1),
                digest: serde_bytes::ByteBuf::from(vec![7; 16]),
            })
            .collect(),
    );
    let body = protocol::encode(&request).unwrap();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    while !stop.load(Ordering::Relaxed) {
        let mut response = agent
            .post(format!("{url}{}", protocol::SYNC_PATH))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", protocol::MEDIA_TYPE)
            .send(&body[..])
            .unwrap();
        let status = response.status().as_u16();
        let _ = response.body_mut().with_config().limit(1 << 28).read_to_vec();
        match status {
            200 => answered.fetch_add(1, Ordering::Relaxed),
            429 => refused.fetch_add(1, Ordering::Relaxed),
            other => panic!("reconcile answered {other}"),
        };
    }
}
