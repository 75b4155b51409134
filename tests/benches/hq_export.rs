//! HQ's GeoPackage export of a national dataset, beside GDAL's own `ogr2ogr`, and the server's memory meanwhile:
//! `cargo build --release -p server && cargo bench -p tests --bench hq_export` (needs gdal-bin).
//!
//! The data directory holds the small demo programme, pushed through the real sync protocol, and 500,000 worked
//! areas and 500,000 finds more: copies of the demo's, each moved to its own place, written through the server's
//! own storage path (`SyncStore::append`: the change log, `records` and the layer tables, in batches of 1,000 as
//! ingest writes them), skipping only HTTP and validation, which benches/sync.rs measures. Filling takes minutes,
//! so the directory is kept in `target/bench-data/` and reused by the next run.
//!
//! Then the real `fieldsync-server` binary serves it, and the benchmark measures:
//! - `GET /v1/hq/export?format=gpkg&layer=worked_areas,finds`, timed to the last byte (3 runs), while a thread reads
//!   the server's resident memory from /proc every 20 ms;
//! - the GeoJSON export of both layers, and `ogr2ogr` converting those files into one GeoPackage;
//! - the dashboard's map (`GET /v1/hq/map`) of everything, and of smaller boxes;
//! - the dashboard's totals (`GET /v1/hq/totals`) and the full statistics (`GET /v1/hq/statistics`).
//!
//! FIELDSYNC_BENCH_RECORDS=N sets worked areas and finds (N/2 each) for a quicker look.
#![allow(clippy::unwrap_used)]

use domain::document::Authorship;
use domain::geometry::AreaShape;
use domain::records::RecordBody;
use domain::{Record, RecordType};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use store_sqlite::SqliteStorage;
use sync_core::store::{Batch, SyncStore};
use tests::ServerProcess;
use uuid::Uuid;

fn main() {
    let records: usize = std::env::var("FIELDSYNC_BENCH_RECORDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let data = bench_data(records);
    let token = std::fs::read_to_string(data.join(demo::HQ_TOKEN_FILE))
        .unwrap()
        .trim()
        .to_string();
    let out = tempfile::tempdir_in(data.parent().unwrap()).unwrap();
    // Opening the store rebuilds the layer tables from `records` when their layout changed since the last run.
    let started = Instant::now();
    drop(SqliteStorage::open(&data).unwrap());
    println!("store opened in {:.1} s", started.elapsed().as_secs_f64());
    let mut server = ServerProcess::serve(&data);
    let export = format!("{}/v1/hq/export", server.url());
    println!("server started: VmRSS {} kB", server.status("VmRSS"));

    let mut times = Vec::new();
    for run in 1..=3 {
        let path = out.path().join(format!("export-{run}.gpkg"));
        let (seconds, peaks) = measured(&server, || {
            download(&format!("{export}?format=gpkg&layer=worked_areas,finds"), &token, &path)
        });
        let counts = ogr_counts(&path);
        println!(
            "GeoPackage export {run}: {seconds:.1} s, {} MB; server VmRSS peak by quarter {} MB; ogrinfo {counts:?}",
            megabytes(&path),
            mb(peaks),
        );
        assert_eq!(counts.values().sum::<u64>() as usize, stored(&data));
        times.push(seconds);
        std::fs::remove_file(&path).unwrap();
    }
    times.sort_by(f64::total_cmp);
    println!("GeoPackage export: median {:.1} s (n = 3)", times[1]);

    let mut geojson = Vec::new();
    for layer in ["worked_areas", "finds"] {
        let path = out.path().join(format!("{layer}.geojson"));
        let (seconds, peaks) = measured(&server, || {
            download(&format!("{export}?format=geojson&layer={layer}"), &token, &path)
        });
        println!(
            "GeoJSON export of {layer}: {seconds:.1} s, {} MB; server VmRSS peak by quarter {} MB",
            megabytes(&path),
            mb(peaks)
        );
        geojson.push((layer, path));
    }

    let (ms, view) = map_ms(&server, &token, "");
    println!("map of everything: median {ms:.0} ms (n = 7); {}", map_summary(&view));
    // Zooming in as a user does: the densest cell of the finds, then a tenth of it around its records.
    let densest = view["layers"][2]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|c| c["count"].as_u64().unwrap())
        .unwrap()
        .clone();
    let b: Vec<f64> = densest["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let query = format!("?bbox={},{},{},{}", b[0], b[1], b[2], b[3]);
    let (ms, view) = map_ms(&server, &token, &query);
    println!(
        "map of the densest cell: median {ms:.0} ms (n = 7); {}",
        map_summary(&view)
    );
    let (lon, lat) = (densest["lon"].as_f64().unwrap(), densest["lat"].as_f64().unwrap());
    let (half_lon, half_lat) = ((b[2] - b[0]) / 20.0, (b[3] - b[1]) / 20.0);
    let query = format!(
        "?bbox={},{},{},{}",
        lon - half_lon,
        lat - half_lat,
        lon + half_lon,
        lat + half_lat
    );
    let (ms, view) = map_ms(&server, &token, &query);
    println!(
        "map of a tenth of it: median {ms:.0} ms (n = 7); {}",
        map_summary(&view)
    );
    println!("server VmRSS after the maps {} kB", server.status("VmRSS"));

    // The dashboard's headline as it asks for it, and the full statistics of a report.
    let (ms, totals) = get_ms(&server, &token, "/v1/hq/totals", 7);
    println!(
        "dashboard totals (GET /v1/hq/totals): median {ms:.0} ms (n = 7); headline {}",
        totals["headline"]
    );
    let (ms, _) = get_ms(&server, &token, "/v1/hq/statistics", 3);
    println!("full statistics (GET /v1/hq/statistics): median {ms:.0} ms (n = 3)");
    server.stop();

    let converted = out.path().join("ogr2ogr.gpkg");
    let started = Instant::now();
    for (i, (layer, path)) in geojson.iter().enumerate() {
        let mut ogr2ogr = Command::new("ogr2ogr");
        ogr2ogr.args(["-f", "GPKG", "-nln", layer]);
        if i > 0 {
            ogr2ogr.arg("-update");
        }
        let status = ogr2ogr
            .arg(&converted)
            .arg(path)
            .status()
            .expect("ogr2ogr runs: install gdal-bin");
        assert!(status.success());
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ogr2ogr GeoJSON → GeoPackage of the same layers: {seconds:.1} s, {} MB; ogrinfo counts {:?}",
        megabytes(&converted),
        ogr_counts(&converted)
    );
}

/// Runs `download`, timing it and sampling the server's VmRSS every 20 ms; returns the seconds and the peak VmRSS
/// (kB) of each quarter of the run, which tells memory that stays flat from memory that grows with the export.
fn measured(server: &ServerProcess, download: impl FnOnce()) -> (f64, [u64; 4]) {
    let pid = server.pid();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !done.load(Ordering::Relaxed) {
                samples.push(tests::proc_status(pid, "VmRSS"));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            samples
        })
    };
    let started = Instant::now();
    download();
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let quarter = samples.len().div_ceil(4).max(1);
    let mut peaks = [0; 4];
    for (i, chunk) in samples.chunks(quarter).enumerate() {
        peaks[i] = chunk.iter().copied().max().unwrap_or(0);
    }
    (seconds, peaks)
}

fn mb(peaks: [u64; 4]) -> String {
    peaks.map(|kb| format!("{:.0}", kb as f64 / 1024.0)).join(" / ")
}

/// The median milliseconds of 7 map requests, and the last answer.
fn map_ms(server: &ServerProcess, token: &str, query: &str) -> (f64, serde_json::Value) {
    get_ms(server, token, &format!("/v1/hq/map{query}"), 7)
}

/// The median milliseconds of `runs` GETs of `path` (whole responses, over HTTP), and the last answer.
fn get_ms(server: &ServerProcess, token: &str, path: &str, runs: usize) -> (f64, serde_json::Value) {
    let url = format!("{}{path}", server.url());
    let mut last = serde_json::Value::Null;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let (status, body) = tests::hq_get(&url, Some(token));
            assert_eq!(status, 200, "{body}");
            last = body;
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[runs / 2], last)
}

/// "worked_areas: 12 features" or "finds: 500,257 on 1,900 cells", per layer.
fn map_summary(view: &serde_json::Value) -> String {
    let layers = view["layers"].as_array().unwrap();
    layers
        .iter()
        .map(|l| match l["features"]["features"].as_array() {
            Some(features) => format!("{}: {} features", l["layer"], features.len()),
            None => format!(
                "{}: {} on {} cells",
                l["layer"],
                l["total"],
                l["cells"].as_array().unwrap().len()
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn download(url: &str, token: &str, path: &Path) {
    assert_eq!(tests::hq_download(url, token, path), 200, "{url}");
}

fn megabytes(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len() / 1_000_000
}

/// Feature count per layer, as `ogrinfo` reads the file.
fn ogr_counts(path: &Path) -> std::collections::BTreeMap<String, u64> {
    let output = Command::new("ogrinfo").args(["-so", "-al"]).arg(path).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut counts = std::collections::BTreeMap::new();
    let mut layer = String::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        if let Some(name) = line.strip_prefix("Layer name: ") {
            layer = name.trim().to_string();
        }
        if let Some(count) = line.strip_prefix("Feature Count: ") {
            counts.insert(layer.clone(), count.trim().parse().unwrap());
        }
    }
    counts
}

/// Worked areas and finds the data directory holds: the demo's and the copies.
fn stored(data: &Path) -> usize {
    let conn = rusqlite::Connection::open(data.join("fieldsync-server.db")).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    (count("layer_worked_areas") + count("layer_finds")) as usize
}

/// The filled data directory for `records` copies, made on first use.
fn bench_data(records: usize) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let data = target.join("bench-data").join(format!("hq-export-{records}"));
    if data.join("filled").exists() {
        println!("reusing {}", data.display());
        return data;
    }
    if data.exists() {
        std::fs::remove_dir_all(&data).unwrap();
    }
    std::fs::create_dir_all(&data).unwrap();
    let started = Instant::now();
    let status = Command::new(tests::server_binary())
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "demo",
            "--scale",
            "small",
            "--seed",
            "11",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the demo did not fill {}", data.display());
    println!("demo pushed through sync in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(fill(&data, records));
    std::fs::write(data.join("filled"), b"").unwrap();
    println!(
        "stored {records} more worked areas and finds through SyncStore::append in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    data
}

/// Copies the demo's worked areas and finds until there are `records` more of them, half each.
async fn fill(data: &Path, records: usize) {
    let storage = SqliteStorage::open(data).unwrap();
    let author = Authorship {
        device_id: Uuid::from_u128(1),
        device: "bench".into(),
        user: "Bench".into(),
        action: "create".into(),
    };
    let actor = automerge::ActorId::from(author.device_id.as_bytes());
    for record_type in [RecordType::WorkedArea, RecordType::Find] {
        let mut templates = Vec::new();
        for id in storage.record_ids(record_type).await.unwrap() {
            let row = storage.record(id).await.unwrap().unwrap();
            templates.push(Record::from_json(row.body, id).unwrap());
        }
        let mut batch = Batch::default();
        for i in 0..records / 2 {
            let mut record = templates[i % templates.len()].clone();
            // Each round of copies moves 300 m east, and every 50 rounds 300 m north: distinct places, as in a
            // national dataset, so that the spatial index is not handed one box a thousand times.
            let round = (i / templates.len()) as f64;
            moved(&mut record, (round % 50.0) * 0.0035, (round / 50.0).floor() * 0.0027);
            record.meta.id = Uuid::from_u128(((record_type as u128) << 64) | (i as u128 + 1));
            record.meta.label = format!("{}-{i}", record.meta.label);
            batch.ingests.push(sync_core::testing::ingest_of_new_record(
                &record,
                actor.clone(),
                &author,
                1_780_000_000,
            ));
            if batch.ingests.len() == 1_000 {
                storage.append(std::mem::take(&mut batch)).await.unwrap();
            }
            if (i + 1) % 100_000 == 0 {
                println!("  {record_type:?}: {} stored", i + 1);
            }
        }
        storage.append(batch).await.unwrap();
    }
}

fn moved(record: &mut Record, east: f64, north: f64) {
    let shift = |p: &mut [f64; 2]| {
        p[0] += east;
        p[1] += north;
    };
    match &mut record.body {
        RecordBody::WorkedArea(w) => match &mut w.shape {
            AreaShape::Polygon { coordinates } => coordinates.iter_mut().flatten().for_each(shift),
            AreaShape::Lane { centreline, .. } => centreline.iter_mut().for_each(shift),
        },
        RecordBody::Find(f) => {
            f.location.lon += east;
            f.location.lat += north;
        }
        _ => {}
    }
}
