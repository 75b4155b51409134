//! Device store benchmark: `cargo bench -p tests --bench device_store`. Figures go to docs/benchmarks.md.
//!
//! - durable create-and-commit of one find, beside the floor: a bare SQLite insert+commit of a 1 KB row with the
//!   same journal (WAL) and synchronous (FULL) settings, on the same disk;
//! - listing the 10,000 records of one task;
//! - opening a store of 100,000 records.
//!
//! Set FIELDSYNC_BENCH_DIR to measure on another disk (default: the system temp dir), and
//! FIELDSYNC_BENCH_WRITES_ONLY=1 to stop after the write figures (for profiling).
#![allow(clippy::unwrap_used)]

use client_core::{ListFilter, Store};
use domain::Record;
use serde_json::json;
use std::time::{Duration, Instant};
use tests::*;
use uuid::Uuid;

const WRITES: usize = 300;

fn main() {
    let base = std::env::var("FIELDSYNC_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(base).unwrap();
    println!("device store benchmark in {}", dir.path().display());

    let floor = bare_sqlite_commits(&dir.path().join("floor.db"));
    let durable = durable_find_creates(&dir.path().join("writes.db"));
    report("bare SQLite insert+commit (floor)", &floor);
    report("durable create of one find", &durable);
    println!(
        "  ratio of medians: {:.2}x the floor; p99 ratio {:.2}x",
        median(&durable) / median(&floor),
        p99(&durable) / p99(&floor)
    );
    if std::env::var_os("FIELDSYNC_BENCH_WRITES_ONLY").is_some() {
        return;
    }

    let path = dir.path().join("big.db");
    let mut store = store(&path, "Bench", "Bench");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..10 {
        let task_id = Uuid::now_v7();
        create(&mut store, task(task_id));
        tasks.push(task_id);
        for chunk in 0..10 {
            let records: Vec<Record> = (0..1_000)
                .map(|i| {
                    let n = chunk * 1_000 + i;
                    let mut f = find(Uuid::now_v7(), task_id, None, &format!("F-{t}-{n:05}"));
                    f["location"] = json!({"lat": 40.0 + t as f64 * 0.1 + (n / 100) as f64 * 0.0002, "lon": 47.0 + (n % 100) as f64 * 0.0002, "method": "handheld_gnss", "accuracy_m": 2.0});
                    Record::from_json(f, Uuid::now_v7()).unwrap()
                })
                .collect();
            store.create_batch(records).unwrap();
        }
    }
    println!(
        "set-up: 100,010 records stored in {:.1} s (batches of 1,000 per transaction)",
        started.elapsed().as_secs_f64()
    );

    let filter = ListFilter {
        task: Some(tasks[3]),
        record_type: Some(domain::RecordType::Find),
        ..Default::default()
    };
    let listing = sample(20, || {
        assert_eq!(store.list(&filter).unwrap().len(), 10_000);
    });
    report("list the 10,000 finds of one task", &listing);
    drop(store);

    let opening = sample(20, || {
        let store = Store::open(&path).unwrap();
        std::hint::black_box(store.identity());
    });
    report("open a store of 100,010 records", &opening);
    let first_read = sample(20, || {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.count().unwrap(), 100_010);
    });
    report("open it and count its records", &first_read);
    println!(
        "store file: {:.1} MB",
        std::fs::metadata(&path).unwrap().len() as f64 / 1e6
    );
}

fn bare_sqlite_commits(path: &std::path::Path) -> Vec<Duration> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, body BLOB NOT NULL)")
        .unwrap();
    let body = vec![7u8; 1024];
    sample(WRITES, || {
        let tx = conn.unchecked_transaction().unwrap();
        tx.execute(
            "INSERT INTO t (id, body) VALUES (?1, ?2)",
            rusqlite::params![Uuid::now_v7().to_string(), body],
        )
        .unwrap();
        tx.commit().unwrap();
    })
}

fn durable_find_creates(path: &std::path::Path) -> Vec<Duration> {
    let mut store = store(path, "Bench", "Bench");
    let task_id = Uuid::now_v7();
    create(&mut store, task(task_id));
    let mut n = 0;
    sample(WRITES, || {
        n += 1;
        let mut f = find(Uuid::now_v7(), task_id, None, &format!("F-{n:05}"));
        f["location"]["lat"] = json!(40.5 + n as f64 * 0.0001);
        let record = Record::from_json(f, Uuid::now_v7()).unwrap();
        store.create(record).unwrap();
    })
}

fn sample(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times
}

fn median(sorted: &[Duration]) -> f64 {
    sorted[sorted.len() / 2].as_secs_f64() * 1e3
}

fn p99(sorted: &[Duration]) -> f64 {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn report(what: &str, sorted: &[Duration]) {
    println!(
        "{what}: median {:.3} ms, p99 {:.3} ms, min {:.3} ms (n = {})",
        median(sorted),
        p99(sorted),
        sorted[0].as_secs_f64() * 1e3,
        sorted.len()
    );
}
