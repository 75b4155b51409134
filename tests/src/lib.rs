//! Scenario builders for the end-to-end tests in tests/tests/: real device stores on real SQLite files, and a
//! small, consistent day of work near 40.5°N 47.5°E. Panics are fine here: this is test set-up.
#![allow(clippy::unwrap_used)]

mod hq_api;
pub mod network;
mod server_process;
pub mod shaped_link;
mod test_server;
pub use hq_api::{hq_download, hq_get};
pub use server_process::{ServerProcess, device_add, proc_status, server_binary, upstream_status};
pub use test_server::{DEMO_TODAY, DeviceRole, TestServer, enrolled};

use chrono::{DateTime, TimeZone, Utc};
use client_core::Store;
use serde_json::{Value, json};
use std::path::Path;
use uuid::Uuid;

/// The server binary's allocator (server/src/main.rs), for every test and bench that links this crate: a server
/// run in process, as most of them run it, is then measured and tried with the allocator it ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The moment every test device believes it is: the afternoon of the day the fixtures describe.
pub fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

pub const DAY: &str = "2026-11-20";

/// A store with a fixed clock.
pub fn store(path: &Path, device: &str, user: &str) -> Store {
    let mut store = Store::init(path, device, user).unwrap();
    store.set_clock(noon);
    store
}

/// Gives a store the role a server would give it at enrolment, for tests of one device alone (with a server, the
/// first sync does this).
pub fn enrolled_as(store: &Store, role: DeviceRole, teams: &[&str]) {
    let profile = protocol::DeviceProfile {
        id: Uuid::now_v7(),
        name: store.identity().device_name.clone(),
        role,
        teams: teams.iter().map(|t| t.to_string()).collect(),
    };
    store.set_enrolled(&profile).unwrap();
}

pub fn reopen(path: &Path) -> Store {
    let mut store = Store::open(path).unwrap();
    store.set_clock(noon);
    store
}

/// A square ring of `side` degrees with its south-west corner at (lon, lat), closed, counter-clockwise.
pub fn square(lon: f64, lat: f64, side: f64) -> Value {
    json!([[
        [lon, lat],
        [lon + side, lat],
        [lon + side, lat + side],
        [lon, lat + side],
        [lon, lat]
    ]])
}

pub fn task(id: Uuid) -> Value {
    json!({
        "type": "task", "id": id, "label": "T-031", "date_of_information": DAY,
        "activity": "clearance", "status": "active", "organisation": "ANAMA", "teams": ["Team 3"],
        "required_depth_cm": 20
    })
}

pub fn worked_area(id: Uuid, task: Uuid, label: &str) -> Value {
    json!({
        "type": "worked_area", "id": id, "label": label, "date_of_information": DAY, "task": task,
        "shape": {"type": "Polygon", "coordinates": square(47.5, 40.5, 0.0005)},
        "capture_method": "handheld_gnss", "accuracy_m": 2.0, "methods": ["manual"],
        "depth_achieved_cm": 20, "outcome": "cleared"
    })
}

pub fn find(id: Uuid, task: Uuid, worked_area: Option<Uuid>, label: &str) -> Value {
    json!({
        "type": "find", "id": id, "label": label, "date_of_information": DAY, "task": task, "worked_area": worked_area,
        "location": {"lat": 40.5002, "lon": 47.5002, "method": "handheld_gnss", "accuracy_m": 2.0},
        "found_at": "2026-11-20T09:15:00Z", "found_by": "A. Aliyev", "detection": "detector",
        "category": "ap_mine", "model": "PMN-2", "quantity": 1, "depth_cm": 10, "condition": "intact",
        "fuzed": "yes", "armed": "unknown", "booby_trapped": "no", "disposal": "pending"
    })
}

/// [`find`] at place (`row`, `column`) of a grid whose points lie about 20 m apart: finds that are not all
/// siblings near one another, as a day's finds are not.
pub fn find_on_grid(id: Uuid, task: Uuid, worked_area: Option<Uuid>, label: &str, row: usize, column: usize) -> Value {
    let mut value = find(id, task, worked_area, label);
    value["location"] = json!({"lat": 40.5 + row as f64 * 0.0002, "lon": 47.5 + column as f64 * 0.0002,
        "method": "handheld_gnss", "accuracy_m": 2.0});
    value
}

/// A task and `n - 1` finds about 20 m apart, stored in batches of 1,000: the device of the sync benchmarks.
pub fn task_with_finds(store: &mut Store, n: usize) {
    let task_id = Uuid::now_v7();
    create(store, task(task_id));
    let records: Vec<domain::Record> = (1..n)
        .map(|i| {
            let mut f = find(Uuid::now_v7(), task_id, None, &format!("F-{i:05}"));
            f["location"] = json!({"lat": 40.0 + (i / 100) as f64 * 0.0002, "lon": 47.0 + (i % 100) as f64 * 0.0002,
                "method": "handheld_gnss", "accuracy_m": 2.0});
            domain::Record::from_json(f, Uuid::now_v7()).unwrap()
        })
        .collect();
    for chunk in records.chunks(1_000) {
        store.create_batch(chunk.to_vec()).unwrap();
    }
}

pub fn create(store: &mut Store, value: Value) -> Uuid {
    store.create_json(&value.to_string()).unwrap().id
}

/// A task with one worked area and one find in it; returns (task, worked area, find).
pub fn day_of_work(store: &mut Store) -> (Uuid, Uuid, Uuid) {
    let (t, w, f) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    create(store, task(t));
    create(store, worked_area(w, t, "T-031/B3"));
    create(store, find(f, t, Some(w), "F-0001"));
    (t, w, f)
}

/// Moves every change from one store into another (what a sync or a USB bundle does).
pub fn exchange(from: &Store, to: &mut Store) {
    let changes = from.export_changes().unwrap();
    to.import_changes(&changes).unwrap();
}

/// Everything a user can see of a store: every record as shown, its conflicts and issues, and its history.
pub fn visible_state(store: &Store) -> Vec<(String, String, String, Vec<String>)> {
    let filter = client_core::ListFilter {
        include_void: true,
        ..Default::default()
    };
    let mut out: Vec<_> = store
        .list(&filter)
        .unwrap()
        .into_iter()
        .map(|s| {
            let stored = store.get(s.id).unwrap();
            let history = store
                .history(s.id)
                .unwrap()
                .iter()
                .map(|h| serde_json::to_string(h).unwrap())
                .collect();
            (
                stored.record.to_json().to_string(),
                serde_json::to_string(&stored.conflicts).unwrap(),
                serde_json::to_string(&stored.issues).unwrap(),
                history,
            )
        })
        .collect();
    out.sort();
    out
}
