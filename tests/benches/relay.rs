//! Relay benchmark: `cargo bench -p tests --bench relay`. Figures go to docs/benchmarks.md.
//!
//! A camp's day (50 tablets × 40 finds, and 10 edits on each tablet) goes from the camp's server to HQ's over a
//! shaped link (tests/src/shaped_link.rs: 256 kbit/s, 600 ms round trip), then again over the same link cut
//! every 10 s and every 3 s: wall time from the camp's start until HQ has answered every change, bytes on the
//! wire both ways, and bytes up over the floor (every forwarded change concatenated and compressed together,
//! zstd -3).
//!
//! A camp holding 100,000 records HQ lacks catches up on loopback, the release server binary at both ends: wall
//! time, and each process's peak memory.
#![allow(clippy::unwrap_used)]

use server::config::Upstream;
use std::path::Path;
use std::time::{Duration, Instant};
use sync_core::store::SyncStore;
use tests::shaped_link::{Shape, ShapedLink};
use tests::*;
use uuid::Uuid;

const TEAM: &str = "Team 3";
const TABLETS: usize = 50;
const FINDS: usize = 40;
const EDITS: usize = 10;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("relay benchmark in {}", dir.path().display());
    let cut = |seconds| Shape {
        drop_every: Some(Duration::from_secs(seconds)),
        ..Shape::satellite()
    };
    let shapes = [
        ("256 kbit/s, 600 ms", Shape::satellite()),
        ("the same, cut every 10 s", cut(10)),
        // The day takes less than 10 s: cut more often, so that pages are cut in flight.
        ("the same, cut every 3 s", cut(3)),
    ];
    let only = std::env::var("FIELDSYNC_BENCH_ONLY").unwrap_or_default();
    for (name, shape) in shapes.into_iter().filter(|_| only != "catch-up") {
        camps_day(&dir.path().join(name.replace([' ', ',', '/'], "-")), name, shape);
    }
    catch_up(&dir.path().join("catch-up"), 100_000);
}

/// A camp that holds `n` records HQ lacks (a long time without a link) catches up on loopback: the release
/// binary at both ends, wall time and each process's peak memory.
fn catch_up(dir: &Path, n: usize) {
    let (hq_dir, camp_dir) = (dir.join("hq"), dir.join("camp"));
    let hq = ServerProcess::serve(&hq_dir);
    let relay_token = device_add(&hq_dir, "camp A", TEAM, "relay");
    let mut camp = ServerProcess::serve(&camp_dir);
    let token = device_add(&camp_dir, "tablet", TEAM, "supervisor");
    let mut tablet = store(&dir.join("tablet.db"), "tablet", "bench");
    tablet.enroll(&camp.url(), &token).unwrap();
    let task = Uuid::now_v7();
    create(&mut tablet, tests::task(task));
    let finds: Vec<domain::Record> = (1..n)
        .map(|i| {
            let value = find_on_grid(Uuid::now_v7(), task, None, &format!("F-{i:06}"), i / 300, i % 300);
            domain::Record::from_json(value, Uuid::now_v7()).unwrap()
        })
        .collect();
    for chunk in finds.chunks(1_000) {
        tablet.create_batch(chunk.to_vec()).unwrap();
    }
    let report = tablet.sync(|_| {}).unwrap();
    assert_eq!(report.accepted, n);
    camp.stop();
    let started = Instant::now();
    let camp = ServerProcess::serve_with(
        &camp_dir,
        &[
            "--upstream",
            &hq.url(),
            "--upstream-token",
            &relay_token,
            "--upstream-every",
            "1",
        ],
    );
    let deadline = started + Duration::from_secs(1_800);
    let (mut camp_peak, mut hq_peak) = (0, 0);
    loop {
        camp_peak = camp_peak.max(camp.status("VmHWM"));
        hq_peak = hq_peak.max(hq.status("VmHWM"));
        let status = upstream_status(&camp_dir);
        let upstream = &status["upstream"];
        if upstream["changes_waiting"] == 0 && !upstream["last_contact"].is_null() {
            assert_eq!(upstream["refused"], 0, "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the camp did not catch up in 30 minutes: {status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "relay catch-up of {n} records, camp to HQ on loopback: {:.1} s; peak memory (VmHWM) camp {:.1} MB, HQ {:.1} MB; \
         now VmRSS camp {:.1} MB, HQ {:.1} MB",
        started.elapsed().as_secs_f64(),
        camp_peak as f64 / 1024.0,
        hq_peak as f64 / 1024.0,
        camp.status("VmRSS") as f64 / 1024.0,
        hq.status("VmRSS") as f64 / 1024.0
    );
}

fn camps_day(dir: &Path, name: &str, shape: Shape) {
    let hq = TestServer::start(&dir.join("hq"));
    let (_, relay_token) = hq.enrol("camp A", &[TEAM], DeviceRole::Relay);
    let camp_dir = dir.join("camp");
    let floor = {
        let camp = TestServer::start(&camp_dir);
        record_the_day(&camp, dir);
        camp.stop();
        compressed_floor(&camp_dir)
    };
    let link = ShapedLink::start(hq.addr, shape);
    let upstream = Upstream {
        url: link.url(),
        token: relay_token,
        ca_fingerprint: None,
        insecure_http: false,
    };
    let started = Instant::now();
    let camp = TestServer::start_relaying(&camp_dir, upstream, Duration::from_secs(1));
    let deadline = started + Duration::from_secs(1_800);
    let state = loop {
        let (state, waiting) = camp.storage(|s| async move {
            let state = s.upstream_state().await.unwrap();
            let waiting = s.forwardable(state.forwarded_through, 1).await.unwrap().len();
            (state, waiting)
        });
        if waiting == 0 && state.last_contact.is_some() {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "the camp's day did not reach HQ in 30 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let (up, down) = link.bytes();
    assert_eq!(state.refused, 0, "HQ refused none of it");
    println!(
        "a camp's day over {name}: {:.1} s; {up} B up, {down} B down, {} connection(s), {} cut(s); floor {floor} B; \
         up / floor = {:.3}, (up + down) / floor = {:.3}",
        elapsed.as_secs_f64(),
        link.connections(),
        link.drops(),
        up as f64 / floor as f64,
        (up + down) as f64 / floor as f64
    );
    camp.stop();
    hq.stop();
}

/// A supervisor's task and worked area, then each tablet's day: FINDS finds on a grid and EDITS edits of them,
/// synced with the camp.
fn record_the_day(camp: &TestServer, dir: &Path) {
    let (_, token) = camp.enrol("supervisor", &[TEAM], DeviceRole::Supervisor);
    let mut supervisor = store(&dir.join("supervisor.db"), "supervisor", "S. Huseynov");
    supervisor.enroll(&camp.url(), &token).unwrap();
    supervisor.sync(|_| {}).unwrap();
    let (task, area) = (Uuid::now_v7(), Uuid::now_v7());
    create(&mut supervisor, tests::task(task));
    let mut worked_area = tests::worked_area(area, task, "T-031/B3");
    worked_area["shape"]["coordinates"] = square(47.4999, 40.4999, 0.0105);
    create(&mut supervisor, worked_area);
    supervisor.sync(|_| {}).unwrap();
    for t in 0..TABLETS {
        let name = format!("tablet-{t:02}");
        let (_, token) = camp.enrol(&name, &[TEAM], DeviceRole::Deminer);
        let mut tablet = store(&dir.join(format!("{name}.db")), &name, &format!("deminer {t}"));
        tablet.enroll(&camp.url(), &token).unwrap();
        tablet.sync(|_| {}).unwrap();
        let mut finds = Vec::new();
        for f in 0..FINDS {
            let label = format!("F-{t:02}-{f:02}");
            let value = find_on_grid(Uuid::now_v7(), task, Some(area), &label, t, f);
            finds.push(create(&mut tablet, value));
        }
        for (e, id) in finds.iter().take(EDITS).enumerate() {
            tablet
                .patch(
                    *id,
                    &serde_json::json!({"quantity": 2 + e % 3, "notes": {"e": {"text": "two fuzes"}}}),
                )
                .unwrap();
        }
        let report = tablet.sync(|_| {}).unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    }
}

/// Every change the camp forwards, concatenated and compressed together (zstd level 3).
fn compressed_floor(camp_dir: &Path) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let storage = store_sqlite::SqliteStorage::open(camp_dir).unwrap();
    let all: Vec<u8> = runtime
        .block_on(storage.forwardable(0, u32::MAX))
        .unwrap()
        .into_iter()
        .flat_map(|f| f.bytes)
        .collect();
    zstd::stream::encode_all(all.as_slice(), 3).unwrap().len()
}
