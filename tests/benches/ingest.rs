//! Ingest benchmark: `cargo bench -p tests --bench ingest [-- SCENARIO...]`. Figures go to docs/benchmarks.md.
//!
//! The server's side of sync under load, over real HTTP to a real server on 127.0.0.1 with its SQLite file. The
//! pushes are made up front (one Automerge change per new record, as a tablet makes them), so that what is timed
//! is the server's work and the wire, not the device's:
//!
//! - `single`: one device pushes 10,000 and then 50,000 new records: ms a record;
//! - `crowd`: 20 devices push 500 records each at once: records/s over all, p50 and p99 of one device's sync;
//! - `fairness`: small syncs (one record pushed, the page pulled) while another device pushes 50,000: p50, p99;
//! - `fill`: a fresh tablet's first sync of 50,000 records: time, and store bytes a record (by table and index too);
//! - `steps` (only when named): 5,000 (or `STEPS_RECORDS`) new records served in process, without HTTP, for instruction counts:
//!   `valgrind --tool=callgrind target/release/deps/ingest-* steps`, then `callgrind_annotate --inclusive=yes`.
#![allow(clippy::unwrap_used)]

use automerge::ActorId;
use client_core::HttpTransport;
use domain::Record;
use domain::document::{self, Authorship};
use protocol::{PushedChanges, SyncRequest, limits};
use serde_bytes::ByteBuf;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tests::*;
use uuid::Uuid;

fn main() {
    let chosen: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| chosen.is_empty() || chosen.iter().any(|c| c == name);
    let dir = tempfile::tempdir().unwrap();
    println!("ingest benchmark in {}", dir.path().display());
    if run("single") {
        single(dir.path());
    }
    if run("crowd") {
        crowd(dir.path());
    }
    if run("fairness") {
        fairness(dir.path());
    }
    if run("fill") {
        fill(dir.path());
    }
    if chosen.iter().any(|c| c == "steps") {
        steps(dir.path());
    }
}

/// A device enrolled at `server`, with the pushes of `n` new records of its own task (the task first).
struct Pusher {
    token: String,
    pushes: Vec<Vec<PushedChanges>>,
}

impl Pusher {
    fn new(server: &TestServer, name: &str, team: &str, n: usize) -> Pusher {
        let (device_id, token) = server.enrol(name, &[team], DeviceRole::Supervisor);
        Pusher {
            token,
            pushes: pushes(device_id, name, team, n),
        }
    }
}

/// The pushes, in requests of at most the protocol's limit, of `n` new records of one task of `team` made by
/// `device_id` (the task first, then finds).
fn pushes(device_id: Uuid, name: &str, team: &str, n: usize) -> Vec<Vec<PushedChanges>> {
    let author = Authorship {
        device_id,
        device: name.to_string(),
        user: "bench".to_string(),
        action: "create".to_string(),
    };
    let actor = ActorId::random();
    let task_id = Uuid::now_v7();
    let mut task = tests::task(task_id);
    task["teams"] = json!([team]);
    let mut values = vec![task];
    values.extend((1..n).map(|i| find_on_grid(Uuid::now_v7(), task_id, None, &format!("F-{i:05}"), i / 100, i % 100)));
    let changes: Vec<PushedChanges> = values
        .into_iter()
        .map(|value| {
            let record = Record::from_json(value, Uuid::now_v7()).unwrap();
            let (_, change) = document::create(&record, actor.clone(), &author, noon().timestamp()).unwrap();
            PushedChanges {
                record_id: None,
                changes: vec![ByteBuf::from(change.raw_bytes().to_vec())],
            }
        })
        .collect();
    changes.chunks(limits::MAX_PUSH_CHANGES).map(<[_]>::to_vec).collect()
}

impl Pusher {
    /// Pushes everything, request after request as a device does; returns how long each request took.
    fn push_all(&self, server: &TestServer) -> Vec<Duration> {
        let transport = HttpTransport::new(&server.url(), &self.token);
        let mut cursor = 0;
        let mut server_id = None;
        let mut times = Vec::new();
        for push in &self.pushes {
            let request = SyncRequest {
                push: push.clone(),
                ..SyncRequest::new(cursor, server_id)
            };
            let started = Instant::now();
            let response = transport.send(&request).unwrap();
            times.push(started.elapsed());
            assert_eq!(
                response.accepted as usize,
                push.len(),
                "{:?}",
                response.rejected.first()
            );
            (cursor, server_id) = (response.cursor, Some(response.server_id));
        }
        times
    }

    fn records(&self) -> usize {
        self.pushes.iter().map(Vec::len).sum()
    }
}

fn single(dir: &Path) {
    for n in [10_000, 50_000] {
        let server = TestServer::start(&dir.join(format!("single-{n}")));
        let pusher = Pusher::new(&server, "single", "Team 3", n);
        let (started, cpu) = (Instant::now(), cpu_seconds());
        let requests = pusher.push_all(&server);
        let (elapsed, cpu) = (started.elapsed(), cpu_seconds() - cpu);
        println!(
            "single: {n} new records from one device in {} request(s): {:.2} s, {:.3} ms a record; {:.3} ms of CPU a record ({:.2} cores busy)",
            requests.len(),
            elapsed.as_secs_f64(),
            ms(elapsed) / n as f64,
            cpu * 1e3 / n as f64,
            cpu / elapsed.as_secs_f64()
        );
        server.stop();
    }
}

fn crowd(dir: &Path) {
    let server = TestServer::start(&dir.join("crowd"));
    let pushers: Vec<Pusher> = (0..20)
        .map(|i| Pusher::new(&server, &format!("crowd-{i}"), &format!("Team {i}"), 500))
        .collect();
    let (started, cpu) = (Instant::now(), cpu_seconds());
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = pushers
            .iter()
            .map(|p| scope.spawn(|| p.push_all(&server).into_iter().sum::<Duration>()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (elapsed, cpu) = (started.elapsed(), cpu_seconds() - cpu);
    times.sort();
    let records: usize = pushers.iter().map(Pusher::records).sum();
    println!(
        "crowd: 20 devices x 500 records at once: {:.2} s in all, {:.0} records/s; one device's sync p50 {:.0} ms, p99 {:.0} ms; {:.2} cores busy",
        elapsed.as_secs_f64(),
        records as f64 / elapsed.as_secs_f64(),
        ms(times[10]),
        ms(times[19]),
        cpu / elapsed.as_secs_f64()
    );
    server.stop();
}

fn fairness(dir: &Path) {
    let server = TestServer::start(&dir.join("fairness"));
    let large = Pusher::new(&server, "large", "Team 3", 50_000);
    let small = Pusher::new(&server, "small", "Team 9", 2_000);
    let done = AtomicBool::new(false);
    let (mut times, large_elapsed) = std::thread::scope(|scope| {
        let big = scope.spawn(|| {
            let started = Instant::now();
            large.push_all(&server);
            done.store(true, Ordering::SeqCst);
            started.elapsed()
        });
        // One record a sync, each with the cursor of the last, as a tablet syncing now and then.
        let transport = HttpTransport::new(&server.url(), &small.token);
        let (mut cursor, mut server_id, mut times) = (0, None, Vec::new());
        let records = small.pushes.iter().flatten();
        for pushed in records {
            if done.load(Ordering::SeqCst) {
                break;
            }
            let request = SyncRequest {
                push: vec![pushed.clone()],
                ..SyncRequest::new(cursor, server_id)
            };
            let started = Instant::now();
            let response = transport.send(&request).unwrap();
            times.push(started.elapsed());
            (cursor, server_id) = (response.cursor, Some(response.server_id));
            std::thread::sleep(Duration::from_millis(20));
        }
        (times, big.join().unwrap())
    });
    times.sort();
    let n = times.len();
    println!(
        "fairness: {n} small syncs while one device pushed 50,000 records ({:.1} s): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        large_elapsed.as_secs_f64(),
        ms(times[n / 2]),
        ms(times[(n * 99 / 100).min(n - 1)]),
        ms(times[n - 1])
    );
    server.stop();
}

fn fill(dir: &Path) {
    let n = 50_000;
    let server = TestServer::start(&dir.join("fill"));
    Pusher::new(&server, "source", "Team 3", n).push_all(&server);
    let (_, token) = server.enrol("fresh", &["Team 3"], DeviceRole::Supervisor);
    let path = dir.join("fresh.db");
    let mut device = store(&path, "fresh", "bench");
    device.enroll(&server.url(), &token).unwrap();
    let transport = HttpTransport::new(&server.url(), &token);
    let started = Instant::now();
    let report = device.sync_with(|r| transport.send(r), |_| {}).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(device.count().unwrap(), n);
    drop(device);
    let bytes: u64 = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("fresh.db"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    println!(
        "fill: a fresh tablet's first sync of {n} records: {:.2} s in {} request(s); store {:.1} MB, {:.0} B a record",
        elapsed.as_secs_f64(),
        report.requests,
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
    // Where the bytes are: each table and index, by SQLite's dbstat.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .unwrap();
    let tables = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .map(|(name, size)| format!("{name} {:.0}", size as f64 / n as f64))
        .collect::<Vec<_>>();
    println!("fill: B a record by table and index: {}", tables.join(", "));
    server.stop();
}

fn steps(dir: &Path) {
    let n = std::env::var("STEPS_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let storage = store_sqlite::SqliteStorage::open(&dir.join("steps")).unwrap();
    let device = sync_core::store::Device {
        id: Uuid::now_v7(),
        name: "steps".to_string(),
        teams: ["Team 3".to_string()].into(),
        role: DeviceRole::Supervisor,
        created_at: chrono::Utc::now(),
        revoked_at: None,
    };
    let new = sync_core::store::NewDevice {
        device: device.clone(),
        token_hash: [0; 32],
    };
    runtime
        .block_on(sync_core::store::SyncStore::add_device(&storage, new))
        .unwrap();
    let server = sync_core::serve::SyncServer::new(storage, domain::Programme::default());
    let push = pushes(device.id, "steps", "Team 3", n).concat();
    let request = SyncRequest {
        push,
        ..SyncRequest::new(0, None)
    };
    let started = Instant::now();
    let response = runtime
        .block_on(server.serve(&device, request, chrono::Utc::now()))
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(response.accepted as usize, n);
    println!(
        "steps: {n} new records served in process: {:.2} s, {:.3} ms a record",
        elapsed.as_secs_f64(),
        ms(elapsed) / n as f64
    );
}

/// The CPU time this process (the server and the bench's devices) has used so far, user and system, from
/// /proc/self/stat (in clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces: utime and stime are the
    // 14th and 15th fields of the line, the 12th and 13th after the name.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
