//! What the server's end-to-end tests share: the real `fieldsync-server` binary on a data directory, and device
//! stores that record a team's day.
// Each test file uses a part of it.
#![allow(dead_code, clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use client_core::{ListFilter, Store};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// `fieldsync-server` on one data directory.
pub struct Server {
    pub data_dir: PathBuf,
    /// The port it listens on, the same each time it serves again, as a camp's server keeps its address.
    pub port: u16,
    serving: Option<Child>,
}

impl Server {
    pub fn new(data_dir: &Path) -> Server {
        Server {
            data_dir: data_dir.to_path_buf(),
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
            serving: None,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
            .args(args)
            .env("FIELDSYNC_DATA_DIR", &self.data_dir)
            .output()
            .unwrap()
    }

    /// A command that succeeds; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{args:?} failed: {stdout}{stderr}");
        stdout.into_owned()
    }

    /// A command that fails without a panic; its standard error.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        stderr
    }

    pub fn serve(&mut self) -> String {
        self.serve_with(&[])
    }

    /// `serve` with more arguments (a camp's `--upstream`).
    pub fn serve_with(&mut self, more: &[&str]) -> String {
        let port = self.port;
        let child = Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(more)
            .env("FIELDSYNC_DATA_DIR", &self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.serving = Some(child);
        self.url()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The link goes down: the server stops (as for an import, which one process at a time may run).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.serving.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// `device add`: the device's id and its token.
    pub fn enrol(&self, name: &str, role: &str) -> (Uuid, String) {
        self.enrol_for(name, role, "Team 3")
    }

    /// `device add` for one team.
    pub fn enrol_for(&self, name: &str, role: &str, team: &str) -> (Uuid, String) {
        self.enrol_with(name, role, &[team])
    }

    /// `device add` for these teams.
    pub fn enrol_with(&self, name: &str, role: &str, teams: &[&str]) -> (Uuid, String) {
        let mut args = vec!["device", "add", "--name", name, "--role", role, "--no-qr"];
        for team in teams {
            args.extend(["--team", team]);
        }
        let out = self.ok(&args);
        let id = out.split(['(', ')']).nth(1).unwrap().parse().unwrap();
        (id, self.redeem(&code_of(&out)))
    }

    /// The credential a device gets for its enrollment code, exchanged through the storage contract as
    /// `POST /v1/enroll` does it (so that it works before the server serves; tests/enrollment.rs goes over HTTP).
    pub fn redeem(&self, code: &str) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let storage = store_sqlite::SqliteStorage::open(&self.data_dir).unwrap();
        runtime
            .block_on(sync_core::auth::redeem(&storage, code, Utc::now()))
            .unwrap()
            .credential
    }

    /// `device add` for a device reaching the server at `url` (default: where the server last served): the
    /// enrollment code it prints (the QR code's text).
    pub fn invite(&self, name: &str, role: &str, team: &str, url: Option<&str>) -> String {
        let mut args = vec![
            "device", "add", "--name", name, "--role", role, "--team", team, "--no-qr",
        ];
        if let Some(url) = url {
            args.extend(["--url", url]);
        }
        let out = self.ok(&args);
        let code = out
            .lines()
            .skip_while(|l| !l.starts_with("enrollment code"))
            .nth(1)
            .unwrap();
        code.trim().to_string()
    }

    /// The address of a server serving with `--tls`.
    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// How many entries the server's log holds.
    pub fn logged(&self) -> u64 {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let storage = store_sqlite::SqliteStorage::open(&self.data_dir).unwrap();
        runtime
            .block_on(sync_core::store::SyncStore::last_seq(&storage))
            .unwrap()
    }

    pub fn quarantined(&self) -> usize {
        let out = self.ok(&["quarantine", "list"]);
        out.lines().last().unwrap().split(' ').next().unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The bare one-time code (`fse1_…`) `device add` or `device rotate` printed in `out`.
pub fn code_of(out: &str) -> String {
    let code = out.lines().skip_while(|l| !l.starts_with("code")).nth(1);
    code.unwrap_or_else(|| panic!("no code in: {out}")).trim().to_string()
}

pub fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

pub const DAY: &str = "2026-11-20";

pub fn device(path: &Path, name: &str) -> Store {
    let mut store = Store::init(path, name, "A. Aliyev").unwrap();
    store.set_clock(noon);
    store
}

pub fn create(store: &mut Store, value: Value) -> Uuid {
    store.create_json(&value.to_string()).unwrap().id
}

/// A task with a worked area and a find: a day of a team's work, as a supervisor's tablet records it.
pub fn day_of_work(store: &mut Store, label: &str) -> Uuid {
    day_of_work_for(store, label, "Team 3")
}

/// A day of `team`'s work.
pub fn day_of_work_for(store: &mut Store, label: &str, team: &str) -> Uuid {
    let (task, area) = (Uuid::now_v7(), Uuid::now_v7());
    create(
        store,
        json!({
            "type": "task", "id": task, "label": label, "date_of_information": DAY, "activity": "clearance",
            "status": "active", "organisation": "ANAMA", "teams": [team], "required_depth_cm": 20
        }),
    );
    create(
        store,
        json!({
            "type": "worked_area", "id": area, "label": format!("{label}/B3"), "date_of_information": DAY, "task": task,
            "shape": {"type": "Polygon", "coordinates": [[[47.5, 40.5], [47.5005, 40.5], [47.5005, 40.5005], [47.5, 40.5005], [47.5, 40.5]]]},
            "capture_method": "handheld_gnss", "accuracy_m": 2.0, "methods": ["manual"], "depth_achieved_cm": 20,
            "outcome": "cleared"
        }),
    );
    create(
        store,
        json!({
            "type": "find", "id": Uuid::now_v7(), "label": "F-0001", "date_of_information": DAY, "task": task,
            "worked_area": area,
            "location": {"lat": 40.5002, "lon": 47.5002, "method": "handheld_gnss", "accuracy_m": 2.0},
            "found_at": "2026-11-20T09:15:00Z", "found_by": "A. Aliyev", "detection": "detector",
            "category": "ap_mine", "model": "PMN-2", "quantity": 1, "depth_cm": 10, "condition": "intact",
            "fuzed": "yes", "armed": "unknown", "booby_trapped": "no", "disposal": "pending"
        }),
    );
    task
}

/// A deminer's find in the supervisor's task and worked area.
pub fn find_in(store: &mut Store, task: Uuid, area: Uuid, label: &str) -> Uuid {
    create(
        store,
        json!({
            "type": "find", "id": Uuid::now_v7(), "label": label, "date_of_information": DAY, "task": task,
            "worked_area": area,
            "location": {"lat": 40.5001, "lon": 47.5001, "method": "handheld_gnss", "accuracy_m": 2.0},
            "found_at": "2026-11-20T10:40:00Z", "found_by": "R. Mammadov", "detection": "detector",
            "category": "uxo", "model": "MORTAR-82MM", "quantity": 1, "depth_cm": 15, "condition": "corroded",
            "fuzed": "unknown", "armed": "unknown", "booby_trapped": "no", "disposal": "pending"
        }),
    )
}

/// Makes a device's store claim `role`, as an attacker holding that device's token would: the store then lets it
/// make what the role allows, and only the server's judgement stands in the way.
pub fn claim_role(store: &Store, role: domain::Role) {
    let enrolled = store.enrolled().unwrap().unwrap();
    store
        .set_enrolled(&protocol::DeviceProfile {
            id: enrolled.id,
            name: enrolled.name.clone(),
            role,
            teams: enrolled.teams.iter().cloned().collect(),
        })
        .unwrap();
}

pub fn records(store: &Store) -> BTreeSet<Uuid> {
    store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
