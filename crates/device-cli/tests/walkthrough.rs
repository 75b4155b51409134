//! The README's walk-through, run as a user would: the real `fieldsync` binary on a real store file.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct Device {
    store: PathBuf,
}

impl Device {
    fn new(dir: &Path, name: &str) -> Device {
        let device = Device {
            store: dir.join(format!("{name}.db")),
        };
        device.ok(
            &["init", "--device-name", name, "--user", &format!("{name} user")],
            None,
        );
        device
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args(args)
            .env("FIELDSYNC_STORE", &self.store)
            // The afternoon of the examples' day: entered the same day, so no late_entry warning, whenever this runs.
            .env("FIELDSYNC_CLOCK", "2026-11-20T15:00:00Z")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.unwrap_or("").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all, None)).unwrap()
    }
}

fn example(name: &str) -> String {
    format!("{}/../../docs/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_day_of_work_as_in_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let tablet = Device::new(dir.path(), "tablet");
    for file in ["task.json", "worked-area.json", "find.json"] {
        assert!(tablet.ok(&["add", &example(file)], None).starts_with("added "));
    }
    let list = tablet.ok(&["list"], None);
    assert!(
        list.contains("T-031/B3") && list.contains("F-0001") && list.contains("3 record(s)"),
        "{list}"
    );
    let finds = tablet.json(&["list", "--type", "find", "--task", "T-031"]);
    assert_eq!(finds.as_array().unwrap().len(), 1);

    let error = tablet.fails(&["edit", "F-0001"], Some(r#"{"depth_cm": -3}"#));
    assert!(
        error.contains("depth_range") && error.contains("depth_cm") && error.contains("-3"),
        "{error}"
    );
    tablet.ok(
        &["edit", "F-0001"],
        Some(r#"{"quantity": 2, "notes": {"n1": {"text": "second PMN-2 under the first"}}}"#),
    );
    let shown = tablet.json(&["show", "F-0001"]);
    assert_eq!(shown["record"]["quantity"], 2);
    assert_eq!(shown["record"]["notes"]["n1"]["text"], "second PMN-2 under the first");

    let history = tablet.json(&["history", "F-0001"]);
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[1]["author"]["user"], "tablet user");
    assert_eq!(history[1]["changed"]["quantity"], 2);

    let report = tablet.ok(&["validate"], None);
    assert!(
        report.contains("checked 3 record(s): 0 error(s), 0 warning(s)"),
        "{report}"
    );
}

#[test]
fn two_devices_exchange_a_usb_bundle_and_a_supervisor_resolves_the_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let tablet = Device::new(dir.path(), "tablet");
    let laptop = Device::new(dir.path(), "laptop");
    // The laptop is the supervisor's at base camp: enrolled, it learns its role, which may decide conflicts.
    let server = tests::TestServer::start(&dir.path().join("server"));
    let (_, code) = server.invite("laptop", &["Team 3"], tests::DeviceRole::Supervisor);
    laptop.ok(&["enroll", "--server", &server.url(), "--code", &code], None);
    for file in ["task.json", "worked-area.json", "find.json"] {
        tablet.ok(&["add", &example(file)], None);
    }
    let stick = dir.path().join("stick.fsb");
    let stick = stick.to_str().unwrap();
    tablet.ok(&["export-bundle", stick], None);
    assert!(
        laptop
            .ok(&["import-bundle", stick], None)
            .contains("merged 3 new changes into 3 records")
    );

    tablet.ok(&["edit", "F-0001"], Some(r#"{"category": "uxo", "model": "VOG-17"}"#));
    laptop.ok(
        &["edit", "F-0001"],
        Some(r#"{"category": "at_mine", "model": "TM-62M"}"#),
    );
    tablet.ok(&["export-bundle", stick], None);
    laptop.ok(&["import-bundle", stick], None);

    let conflicts = laptop.ok(&["conflicts"], None);
    assert!(conflicts.contains("conflict on `category`"), "{conflicts}");
    assert!(
        conflicts.contains("\"uxo\"  set by tablet user on tablet"),
        "{conflicts}"
    );
    assert!(
        conflicts.contains("\"at_mine\"  set by laptop user on laptop"),
        "{conflicts}"
    );

    // Category and model depend on each other: deciding one alone could contradict the catalogue.
    laptop.ok(
        &["resolve", "F-0001", "category", "\"uxo\"", "model", "\"VOG-17\""],
        None,
    );
    assert_eq!(laptop.ok(&["conflicts"], None).trim(), "no conflicts");
    assert_eq!(laptop.json(&["show", "F-0001"])["record"]["category"], "uxo");
}

#[test]
fn mistakes_get_errors_that_say_what_to_fix_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Device {
        store: dir.path().join("none.db"),
    };
    assert!(missing.fails(&["list"], None).contains("fieldsync init"));

    let tablet = Device::new(dir.path(), "tablet");
    tablet.ok(&["add", &example("task.json")], None);
    assert!(
        tablet
            .fails(&["add", "-"], Some("{\"type\": "))
            .contains("not valid JSON")
    );
    assert!(
        tablet
            .fails(&["add", "-"], Some(r#"{"type": "minefield"}"#))
            .contains("unknown record type")
    );
    let find = std::fs::read_to_string(example("find.json"))
        .unwrap()
        .replace("\"depth_cm\": 8", "\"depth_m\": 0.08");
    let error = tablet.fails(
        &["add", "-"],
        Some(&format!(
            "[{}, {find}]",
            std::fs::read_to_string(example("worked-area.json")).unwrap()
        )),
    );
    assert!(
        error.contains("depth_m") && error.contains("whole centimetres") && error.contains("record 2"),
        "{error}"
    );
    assert!(tablet.fails(&["show", "F-9999"], None).contains("no record F-9999"));
    assert!(tablet.fails(&["list", "--type", "mine"], None).contains("hazard_area"));
    let list = tablet.ok(&["list"], None);
    assert!(
        list.contains("1 record(s)"),
        "nothing from the refused batch was stored: {list}"
    );

    let checked = tablet.run(&["validate", "--file", "-"], None);
    assert!(!checked.status.success());
    let bad_area = std::fs::read_to_string(example("worked-area.json"))
        .unwrap()
        .replace("\"reported_area_m2\": 2360", "\"reported_area_m2\": 5000");
    let file = dir.path().join("wa.json");
    std::fs::write(&file, bad_area).unwrap();
    let report = tablet.ok(&["validate", "--file", file.to_str().unwrap()], None);
    assert!(
        report.contains("area_mismatch") && report.contains("0 error(s), 1 warning(s)"),
        "{report}"
    );
    // `fieldsync list | head -1`: the reader is gone before anything is written; no panic, no error.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let closed = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .arg("list")
        .env("FIELDSYNC_STORE", &tablet.store)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(
        closed.status.success() && stderr.is_empty(),
        "{:?}: {stderr}",
        closed.status
    );

    let error = tablet.fails(&["--clock", "yesterday", "list"], None);
    assert!(error.contains("\"yesterday\" is not an RFC 3339 instant"), "{error}");
}

#[test]
fn a_team_leader_submits_and_a_supervisor_approves_as_in_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let server = tests::TestServer::start(&dir.path().join("server"));
    let (_, laptop_code) = server.invite("Base camp laptop", &["Team 3"], tests::DeviceRole::Supervisor);
    let (_, tablet_code) = server.invite("Team 3 tablet", &["Team 3"], tests::DeviceRole::TeamLeader);
    let (_, hq_token) = server.enrol("HQ", &[], tests::DeviceRole::Hq);
    let url = server.url();

    // The task comes from the supervisor: a team leader's tablet may not create one.
    let laptop = Device::new(dir.path(), "laptop");
    laptop.ok(&["enroll", "--server", &url, "--code", &laptop_code], None);
    laptop.ok(&["add", &example("task.json")], None);
    laptop.ok(&["sync"], None);

    let tablet = Device::new(dir.path(), "tablet");
    tablet.ok(&["enroll", "--server", &url, "--code", &tablet_code], None);
    let refused = tablet.fails(&["edit", "T-031"], Some(r#"{"required_depth_cm": 5}"#));
    assert!(
        refused.contains("not permitted: a team-leader may not change a task"),
        "{refused}"
    );
    tablet.ok(&["add", &example("worked-area.json")], None);
    tablet.ok(&["add", &example("find.json")], None);
    let refused = tablet.fails(&["approve", "T-031/B3"], None);
    assert!(refused.contains("is draft"), "{refused}");
    assert!(tablet.ok(&["submit", "T-031/B3", "F-0001"], None).contains("submitted"));
    let refused = tablet.fails(&["approve", "T-031/B3"], None);
    assert!(
        refused.contains("not permitted: a team-leader may not approve"),
        "{refused}"
    );
    tablet.ok(&["sync"], None);

    laptop.ok(&["sync"], None);
    let queue = laptop.ok(&["review"], None);
    assert!(queue.contains("T-031/B3") && queue.contains("F-0001"), "{queue}");
    assert!(tablet.ok(&["review"], None).contains("decides on no record"));
    laptop.ok(&["return", "F-0001", "--reason", "photograph the fuze"], None);
    laptop.ok(&["approve", "T-031/B3"], None);
    laptop.ok(&["sync"], None);
    let shown = laptop.json(&["show", "T-031/B3"]);
    assert_eq!(shown["record"]["review"], "supervisor_approved");
    assert_eq!(shown["record"]["reviewed_by"], "laptop user on laptop");

    tablet.ok(&["sync"], None);
    let returned = tablet.json(&["show", "F-0001"]);
    assert_eq!(returned["record"]["review"], "returned");
    assert_eq!(returned["record"]["return_reason"], "photograph the fuze");
    let (status, totals) = tests::hq_get(&format!("{url}/v1/hq/totals"), Some(&hq_token));
    assert_eq!(status, 200);
    assert_eq!(
        totals["land_release"]["worked_areas"], 1,
        "HQ counts the approved box: {totals}"
    );
    assert_eq!(
        totals["headline"]["ap_mines"], 0,
        "the returned find is not counted: {totals}"
    );
}
