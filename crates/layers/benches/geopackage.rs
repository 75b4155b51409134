//! GeoPackage export: our writer against GDAL's `ogr2ogr` converting our GeoJSON of the same features.
//!
//! `cargo bench -p layers --bench geopackage` (release build). Environment:
//! - `FIELDSYNC_BENCH_RECORDS` (default 1,000,000): records exported, half finds and half worked areas;
//! - `FIELDSYNC_BENCH_RUNS` (default 3): runs of each measurement; the medians are printed;
//! - `FIELDSYNC_BENCH_DIR`: where the files go (default: a temporary directory), to pick the disk;
//! - `FIELDSYNC_BENCH_OURS_ONLY`: set to stop after our writer's figures (no GeoJSON, no ogr2ogr).
//!
//! Our time is the whole export path from domain records: make the feature (geodesic areas, orientation, lane
//! bands), encode, insert, index, commit, fsync. The records are generated on the fly, as the server will stream
//! them from its store, so the process never holds more than one. `ogr2ogr`'s time is the conversion alone, with
//! its defaults (which build the same R*Tree spatial index), from GeoJSON files written beforehand.
//! Results are written by hand into docs/benchmarks.md.
#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, TimeZone, Utc};
use domain::geometry::{AreaShape, CapturedPoint};
use domain::records::{Find, WorkedArea};
use domain::vocabulary::{DisposalStatus, FindCategory, Outcome, ReviewStatus, TriState};
use domain::{Code, Record, RecordBody, RecordMeta, RecordType};
use layers::{GeoJsonWriter, GeoPackageOptions, GeoPackageWriter, feature, layer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A deterministic pseudo-random stream (SplitMix64), so every run exports the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Records as a national dataset holds them: tasks of 1,000 records scattered over Azerbaijan, each task's
/// records within about a kilometre of its centre, in the order they were made (as a store lists them).
struct Synthetic {
    rng: Rng,
    task: Uuid,
    centre: (f64, f64),
}

const MODELS: [(&str, FindCategory); 4] = [
    ("PMN-2", FindCategory::ApMine),
    ("TM-62M", FindCategory::AtMine),
    ("VOG-17", FindCategory::Uxo),
    ("9N235", FindCategory::Submunition),
];

impl Synthetic {
    fn new(seed: u64) -> Synthetic {
        Synthetic {
            rng: Rng(seed),
            task: Uuid::nil(),
            centre: (0.0, 0.0),
        }
    }

    fn meta(&mut self, n: usize, prefix: &str) -> RecordMeta {
        if n.is_multiple_of(1000) {
            self.task = Uuid::from_u128(self.rng.next() as u128);
            self.centre = (45.5 + 4.5 * self.rng.unit(), 38.8 + 2.6 * self.rng.unit());
        }
        RecordMeta {
            id: Uuid::from_u64_pair(self.rng.next(), n as u64),
            label: format!("{prefix}-{n:07}"),
            date_of_information: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
                + chrono::Days::new((n / 3000) as u64 % 365),
            review: ReviewStatus::SupervisorApproved,
            supersedes: None,
            void: None,
            notes: BTreeMap::new(),
            accepted_warnings: BTreeMap::new(),
            reviewed_by: None,
            return_reason: None,
        }
    }

    fn near(&mut self) -> (f64, f64) {
        (
            self.centre.0 + 0.012 * (self.rng.unit() - 0.5),
            self.centre.1 + 0.009 * (self.rng.unit() - 0.5),
        )
    }

    fn find(&mut self, n: usize) -> Record {
        let meta = self.meta(n, "F");
        let (lon, lat) = self.near();
        let (model, category) = MODELS[n % MODELS.len()];
        let found_at = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap() + chrono::Duration::minutes(n as i64);
        Record {
            meta,
            body: RecordBody::Find(Find {
                task: self.task,
                worked_area: Some(Uuid::from_u64_pair(self.rng.next(), 1)),
                daily_report: Some(Uuid::from_u64_pair(self.rng.next(), 2)),
                location: CapturedPoint {
                    lat,
                    lon,
                    method: Code::new("handheld_gnss"),
                    accuracy_m: 2.5,
                    bearing_deg: None,
                    distance_m: None,
                    from: None,
                },
                found_at,
                found_by: "A. Aliyev".into(),
                detection: Code::new("detector"),
                category,
                model: Some(Code::new(model)),
                quantity: 1 + (n % 3) as i64,
                depth_cm: (n % 25) as i64,
                condition: Code::new("intact"),
                fuzed: TriState::Yes,
                armed: TriState::Unknown,
                booby_trapped: TriState::No,
                photos: BTreeSet::new(),
                disposal: DisposalStatus::Disposed,
            }),
        }
    }

    /// A box of 10–40 m a side, or (one in twenty) a 1.2 m lane of 50–150 m.
    fn worked_area(&mut self, n: usize) -> Record {
        let meta = self.meta(n, "W");
        let (lon, lat) = self.near();
        let shape = if n % 20 == 19 {
            let length = (50.0 + 100.0 * self.rng.unit()) / 85_000.0;
            AreaShape::Lane {
                centreline: vec![[lon, lat], [lon + length, lat]],
                width_m: 1.2,
            }
        } else {
            let (w, h) = (
                (10.0 + 30.0 * self.rng.unit()) / 85_000.0,
                (10.0 + 30.0 * self.rng.unit()) / 111_000.0,
            );
            AreaShape::Polygon {
                coordinates: vec![vec![
                    [lon, lat],
                    [lon + w, lat],
                    [lon + w, lat + h],
                    [lon, lat + h],
                    [lon, lat],
                ]],
            }
        };
        Record {
            meta,
            body: RecordBody::WorkedArea(WorkedArea {
                task: self.task,
                daily_report: Some(Uuid::from_u64_pair(self.rng.next(), 2)),
                shape,
                capture_method: Code::new("rtk_gnss"),
                accuracy_m: 0.5,
                reported_area_m2: Some(400.0),
                methods: [Code::new("manual")].into(),
                depth_achieved_cm: Some(20),
                outcome: Outcome::Cleared,
                inaccessible_reason: None,
                technical_asset: Some(false),
            }),
        }
    }

    fn record(&mut self, record_type: RecordType, n: usize) -> Record {
        match record_type {
            RecordType::Find => self.find(n),
            _ => self.worked_area(n),
        }
    }
}

const TYPES: [RecordType; 2] = [RecordType::Find, RecordType::WorkedArea];

/// A line of /proc/PID/status in kB (VmHWM, VmRSS).
fn status_kb(pid: &str, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) a process has used, from /proc/PID/stat, in clock ticks of 10 ms (Linux's USER_HZ).
/// The machine is shared, so CPU time is reported beside wall time: it moves much less with others' load.
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces): utime and stime are 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Resets this process's peak RSS (VmHWM) to its current RSS (Linux `clear_refs` value 5).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn measure(work: impl FnOnce()) -> Sample {
    let (start, cpu) = (Instant::now(), cpu_time("self").unwrap_or_default());
    work();
    Sample {
        wall: start.elapsed(),
        cpu: cpu_time("self").unwrap_or_default().saturating_sub(cpu),
    }
}

/// Makes every feature and drops it: the part of an export that is the domain's computation, not the writer's.
fn features_only(per_layer: usize) {
    for (i, t) in TYPES.into_iter().enumerate() {
        let mut source = Synthetic::new(i as u64 + 1);
        for n in 0..per_layer {
            std::hint::black_box(feature(&source.record(t, n)));
        }
    }
}

/// Exports both layers; `rss` gets the resident set size at each quarter of each layer.
fn export_geopackage(path: &Path, per_layer: usize, options: GeoPackageOptions, mut rss: Option<&mut Vec<String>>) {
    let _ = std::fs::remove_file(path);
    let mut writer = GeoPackageWriter::create_with(path, options).unwrap();
    for (i, t) in TYPES.into_iter().enumerate() {
        let mut source = Synthetic::new(i as u64 + 1);
        writer.begin_layer(layer(t)).unwrap();
        for n in 0..per_layer {
            writer.write(&feature(&source.record(t, n))).unwrap();
            if let Some(rss) = rss.as_mut().filter(|_| (n + 1) % (per_layer / 4).max(1) == 0) {
                let kb = status_kb("self", "VmRSS:").unwrap_or(0);
                rss.push(format!("{} {}: {} MB", layer(t).name, n + 1, kb / 1024));
            }
        }
        writer.finish_layer().unwrap();
    }
    writer.finish().unwrap();
}

fn export_geojson(dir: &Path, per_layer: usize) -> Vec<PathBuf> {
    TYPES
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let path = dir.join(format!("{}.geojson", layer(t).name));
            let mut source = Synthetic::new(i as u64 + 1);
            let mut writer = GeoJsonWriter::new(std::fs::File::create(&path).unwrap(), layer(t)).unwrap();
            for n in 0..per_layer {
                writer.write(&feature(&source.record(t, n))).unwrap();
            }
            writer.finish().unwrap().sync_all().unwrap();
            path
        })
        .collect()
}

/// Runs ogr2ogr, polling its peak RSS and CPU time; returns its sample and peak RSS in kB.
fn ogr2ogr(args: &[&str]) -> (Sample, u64) {
    let start = Instant::now();
    let mut child = Command::new("ogr2ogr")
        .args(args)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ogr2ogr ({e}): install gdal-bin"));
    let pid = child.id().to_string();
    let (mut peak, mut cpu) = (0, Duration::ZERO);
    loop {
        peak = peak.max(status_kb(&pid, "VmHWM:").unwrap_or(0));
        cpu = cpu.max(cpu_time(&pid).unwrap_or_default());
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "ogr2ogr {args:?} failed");
            return (
                Sample {
                    wall: start.elapsed(),
                    cpu,
                },
                peak,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Medians of wall and CPU time, each taken on its own.
fn median(samples: &[Sample]) -> Sample {
    let mid = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    Sample {
        wall: mid(samples.iter().map(|s| s.wall).collect()),
        cpu: mid(samples.iter().map(|s| s.cpu).collect()),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn file_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0)
}

fn main() {
    let records = env_usize("FIELDSYNC_BENCH_RECORDS", 1_000_000);
    let runs = env_usize("FIELDSYNC_BENCH_RUNS", 3).max(1);
    let per_layer = records / 2;
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("FIELDSYNC_BENCH_DIR").map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "GeoPackage export of {per_layer} finds + {per_layer} worked areas, {runs} runs, in {}",
        dir.display()
    );
    let mut rows: Vec<String> = Vec::new();
    let row = |name: &str, s: Sample, file: String, peak: String| {
        format!("| {name} | {} | {} | {file} | {peak} |", secs(s.wall), secs(s.cpu))
    };

    // The domain's share: making the features, with no output.
    let samples: Vec<Sample> = (0..runs).map(|_| measure(|| features_only(per_layer))).collect();
    rows.push(row(
        "making the features only (no output)",
        median(&samples),
        String::new(),
        String::new(),
    ));

    // Ours as exported (R*Tree and record_id index), then without each index, to show what each costs.
    let start_kb = status_kb("self", "VmRSS:").unwrap_or(0);
    let variants = [
        ("R*Tree + record_id index (default)", GeoPackageOptions::default()),
        (
            "R*Tree, no record_id index",
            GeoPackageOptions {
                spatial_index: true,
                record_id_index: false,
            },
        ),
        (
            "no index",
            GeoPackageOptions {
                spatial_index: false,
                record_id_index: false,
            },
        ),
    ];
    let mut ours_median = None;
    let mut rss = Vec::new();
    for (i, (name, options)) in variants.iter().enumerate() {
        let path = dir.join(format!("ours-{i}.gpkg"));
        reset_peak();
        let mut samples = Vec::new();
        for run in 0..runs {
            let record_rss = (i == 0 && run == 0).then_some(&mut rss);
            let sample = measure(|| export_geopackage(&path, per_layer, *options, record_rss));
            println!(
                "  ours, {name}, run {run}: {} wall, {} CPU",
                secs(sample.wall),
                secs(sample.cpu)
            );
            samples.push(sample);
        }
        let peak_kb = status_kb("self", "VmHWM:").unwrap_or(0);
        let m = median(&samples);
        ours_median.get_or_insert(m);
        let file = format!("{:.0} MB", file_mb(&path));
        rows.push(row(
            &format!("our GeoPackageWriter, {name}"),
            m,
            file,
            format!("{} MB", peak_kb / 1024),
        ));
    }

    if std::env::var_os("FIELDSYNC_BENCH_OURS_ONLY").is_none() {
        // Our GeoJSON of the same features, then ogr2ogr converting it.
        reset_peak();
        let mut geojson = Vec::new();
        let sample = measure(|| geojson = export_geojson(&dir, per_layer));
        let peak = format!("{} MB", status_kb("self", "VmHWM:").unwrap_or(0) / 1024);
        let size = format!("{:.0} MB", geojson.iter().map(|p| file_mb(p)).sum::<f64>());
        rows.push(row("our GeoJsonWriter (ogr2ogr's input), 1 run", sample, size, peak));

        let theirs = dir.join("ogr2ogr.gpkg");
        let mut samples = Vec::new();
        let mut peak_kb = 0;
        for run in 0..runs {
            let _ = std::fs::remove_file(&theirs);
            let mut total = Sample {
                wall: Duration::ZERO,
                cpu: Duration::ZERO,
            };
            for (i, input) in geojson.iter().enumerate() {
                let (out, input) = (theirs.to_str().unwrap(), input.to_str().unwrap());
                let update: &[&str] = if i == 0 { &[] } else { &["-update"] };
                let args: Vec<&str> = ["-f", "GPKG"]
                    .iter()
                    .chain(update)
                    .chain(&[out, input])
                    .copied()
                    .collect();
                let (sample, peak) = ogr2ogr(&args);
                total.wall += sample.wall;
                total.cpu += sample.cpu;
                peak_kb = peak_kb.max(peak);
            }
            println!(
                "  ogr2ogr, run {run}: {} wall, {} CPU",
                secs(total.wall),
                secs(total.cpu)
            );
            samples.push(total);
        }
        let theirs_median = median(&samples);
        let file = format!("{:.0} MB", file_mb(&theirs));
        rows.push(row(
            "`ogr2ogr -f GPKG` of that GeoJSON",
            theirs_median,
            file,
            format!("{} MB", peak_kb / 1024),
        ));
        if let Some(ours) = ours_median {
            println!(
                "\nours (default) against ogr2ogr: {:.2}x the wall time, {:.2}x the CPU time",
                ours.wall.as_secs_f64() / theirs_median.wall.as_secs_f64(),
                ours.cpu.as_secs_f64() / theirs_median.cpu.as_secs_f64()
            );
        }
    }

    println!("\n| export | wall, median of {runs} | CPU, median of {runs} | file | peak RSS |");
    println!("|---|---|---|---|---|");
    rows.iter().for_each(|r| println!("{r}"));
    println!(
        "\nRSS at start {} MB; while writing (default, first run): {}",
        start_kb / 1024,
        rss.join(", ")
    );
}
