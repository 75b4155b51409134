//! HQ and two camps, three tablets each, all real processes and stores (docs/relay.md). Camp A has a link and
//! relays as it goes; camp B has none for days, and its supervisor carries each day to HQ on a USB stick
//! (`export-bundle --upstream` at the camp, `import-bundle` at HQ). When camp B's link returns, HQ's decision comes
//! down to the tablet, HQ's refusal of a bundled record reaches the tablet that made it, and nothing HQ took from a
//! stick crosses the link again. At the end every replica holds the same documents as HQ for what it may see.
#![allow(clippy::unwrap_used)]

mod common;

use client_core::{ListFilter, Reached, Store};
use common::{Server, day_of_work_for, device, find_in, path};
use domain::RecordType;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Each record's changes, as a set of their bytes: two replicas hold the same document exactly when these match.
type Documents = BTreeMap<Uuid, BTreeSet<Vec<u8>>>;

fn on_device(store: &Store) -> Documents {
    store
        .export_changes()
        .unwrap()
        .into_iter()
        .map(|d| (d.record_id, d.changes.into_iter().collect()))
        .collect()
}

/// A stopped server's documents, read from its data directory.
fn on_server(server: &Server) -> Documents {
    use sync_core::store::SyncStore;
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let storage = store_sqlite::SqliteStorage::open(&server.data_dir).unwrap();
    runtime.block_on(async {
        let mut documents = Documents::new();
        for id in storage.logged_records().await.unwrap() {
            let changes = storage.document_changes(id).await.unwrap();
            documents.insert(id, changes.into_iter().collect());
        }
        documents
    })
}

fn of_type(store: &Store, record_type: RecordType, task: Uuid) -> Uuid {
    let filter = ListFilter {
        record_type: Some(record_type),
        task: Some(task),
        ..ListFilter::default()
    };
    store.list(&filter).unwrap()[0].id
}

fn review_of(store: &Store, id: Uuid) -> String {
    let all = store.list(&ListFilter::default()).unwrap();
    all.into_iter()
        .find(|r| r.id == id)
        .map(|r| r.review)
        .unwrap_or_default()
}

/// How many changes a bundle holds, as `export-bundle` says it ("…: N records, M changes, …").
fn changes_in(out: &str) -> u64 {
    let at = out.find(" changes").unwrap();
    out[..at].rsplit(' ').next().unwrap().parse().unwrap()
}

/// A camp's three tablets: a supervisor and two deminers of `team`, enrolled at `camp` and synced once.
fn tablets(dir: &Path, camp: &Server, url: &str, team: &str, prefix: &str) -> [Store; 3] {
    [("sup", "supervisor"), ("dem1", "deminer"), ("dem2", "deminer")].map(|(name, role)| {
        let name = format!("{prefix}-{name}");
        // The camp's supervisor also leads Team 9, which HQ did not give the camp's relay.
        let teams: &[&str] = if role == "supervisor" {
            &[team, "Team 9"]
        } else {
            &[team]
        };
        let (_, token) = camp.enrol_with(&name, role, teams);
        let mut store = device(&dir.join(format!("{name}.db")), &name);
        store.enroll(url, &token).unwrap();
        store.sync(|_| {}).unwrap();
        store
    })
}

/// A day at a camp: the supervisor's task, worked area and find (submitted and approved there), then a find by
/// each deminer; every tablet synced with the camp. Returns the task.
fn a_day(tablets: &mut [Store; 3], label: &str, team: &str) -> Uuid {
    let [supervisor, first, second] = tablets;
    let task = day_of_work_for(supervisor, label, team);
    let find = of_type(supervisor, RecordType::Find, task);
    supervisor.submit(find).unwrap();
    supervisor.approve(find, &[], None).unwrap();
    assert!(supervisor.sync(|_| {}).unwrap().rejected.is_empty());
    let area = of_type(supervisor, RecordType::WorkedArea, task);
    for (n, deminer) in [first, second].into_iter().enumerate() {
        deminer.sync(|_| {}).unwrap();
        find_in(deminer, task, area, &format!("F-01{n}"));
        assert!(deminer.sync(|_| {}).unwrap().rejected.is_empty());
    }
    task
}

fn status(camp: &Server) -> Value {
    serde_json::from_str(&camp.ok(&["status", "--json"])).unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within a minute");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_camps_reach_hq_one_by_its_link_one_on_usb_sticks_and_hqs_word_comes_back_to_every_tablet() {
    let dir = tempfile::tempdir().unwrap();
    let mut hq = Server::new(&dir.path().join("hq"));
    let hq_url = hq.serve();
    let (_, relay_a) = hq.enrol_for("camp-a", "relay", "Team 3");
    let (_, relay_b) = hq.enrol_for("camp-b", "relay", "Team 5");
    let (_, analyst_token) = hq.enrol("hq-analyst", "hq");
    let mut analyst = device(&dir.path().join("analyst.db"), "hq-analyst");
    analyst.enroll(&hq_url, &analyst_token).unwrap();

    // Camp A relays over its link as its tablets sync.
    let mut camp_a = Server::new(&dir.path().join("camp-a"));
    let upstream_a = [
        "--upstream",
        &hq_url,
        "--upstream-token",
        &relay_a,
        "--upstream-every",
        "1",
    ];
    let url_a = camp_a.serve_with(&upstream_a);
    let mut at_a = tablets(dir.path(), &camp_a, &url_a, "Team 3", "a");
    let task_a = a_day(&mut at_a, "T-A01", "Team 3");

    // Camp B has no link: it serves its tablets, and each evening its supervisor writes the day to a stick.
    let mut camp_b = Server::new(&dir.path().join("camp-b"));
    let url_b = camp_b.serve();
    let mut at_b = tablets(dir.path(), &camp_b, &url_b, "Team 5", "b");
    let task_b1 = a_day(&mut at_b, "T-B01", "Team 5");
    camp_b.stop();
    let day_1 = dir.path().join("camp-b-day-1.fsb");
    let out = camp_b.ok(&[
        "export-bundle",
        "--upstream",
        "--upstream-token",
        &relay_b,
        path(&day_1),
    ]);
    assert!(out.contains(": 5 records,"), "{out}");
    let on_day_1 = changes_in(&out);
    camp_b.serve();
    let task_b2 = a_day(&mut at_b, "T-B02", "Team 5");
    // A Team 9 day, which the camp accepts (its supervisor leads Team 9) and HQ will refuse.
    let task_b9 = day_of_work_for(&mut at_b[0], "T-B90", "Team 9");
    assert!(at_b[0].sync(|_| {}).unwrap().rejected.is_empty());
    camp_b.stop();
    let day_2 = dir.path().join("camp-b-day-2.fsb");
    // Only what the first stick did not hold.
    let out = camp_b.ok(&[
        "export-bundle",
        "--upstream",
        "--upstream-token",
        &relay_b,
        path(&day_2),
    ]);
    assert!(out.contains(": 8 records,"), "{out}");
    let on_day_2 = changes_in(&out);
    let text = camp_b.ok(&["status"]);
    let waiting = on_day_1 + on_day_2;
    assert!(
        text.contains(&format!("{waiting} changes waiting"))
            && text.contains(&format!("{waiting} of them went on bundles")),
        "{text}"
    );
    // Camp A's day is at HQ by now, over the link.
    analyst.sync(|_| {}).unwrap();
    wait_for("camp A's day reaching HQ", || {
        analyst.sync(|_| {}).unwrap();
        analyst.get(task_a).is_ok() && analyst.list(&ListFilter::default()).unwrap().len() == 5
    });

    // At HQ: a stick damaged on the way is refused whole; the good ones go through ingress as camp B's devices.
    hq.stop();
    let logged = hq.logged();
    let bytes = std::fs::read(&day_1).unwrap();
    for at in [25, bytes.len() / 3, bytes.len() - 2] {
        let mut copy = bytes.clone();
        copy[at] ^= 0x04;
        let damaged = dir.path().join("damaged.fsb");
        std::fs::write(&damaged, &copy).unwrap();
        let error = hq.fails(&["import-bundle", path(&damaged)]);
        assert!(
            error.contains("damaged") || error.contains("nothing of it stored"),
            "{error}"
        );
    }
    assert_eq!(hq.logged(), logged, "nothing of a damaged stick was stored");
    // The stick re-sealed with another device's credential (HQ's analyst, not a relay): refused whole.
    let mut opened = protocol::bundle::read(&bytes).unwrap().bundle;
    opened.header.written_at = "2026-11-20T18:00:00Z".into();
    let forged = dir.path().join("forged.fsb");
    let key = protocol::bundle::seal_key(&analyst_token);
    std::fs::write(&forged, opened.to_bytes(Some(&key)).unwrap()).unwrap();
    let error = hq.fails(&["import-bundle", path(&forged)]);
    assert!(error.contains("only a relay"), "{error}");
    assert_eq!(hq.logged(), logged);
    let out = hq.ok(&["import-bundle", path(&day_1)]);
    assert!(
        out.contains("bundle from relay camp-b") && out.contains(&format!("{on_day_1} changes of 3 devices")),
        "{out}"
    );
    assert!(
        out.contains(&format!("accepted {on_day_1} changes, {on_day_1} of them new")),
        "{out}"
    );
    let again = hq.ok(&["import-bundle", path(&day_1)]);
    assert!(
        again.contains(&format!("accepted {on_day_1} changes, 0 of them new")),
        "{again}"
    );
    let out = hq.ok(&["import-bundle", path(&day_2)]);
    assert!(
        out.contains("1 records refused") && out.contains("[out_of_scope]"),
        "{out}"
    );
    assert!(out.contains(&task_b9.to_string()), "{out}");
    // Everything but Team 9's day (a task, a worked area and a find, one change each).
    assert_eq!(hq.logged(), logged + on_day_1 + on_day_2 - 3);
    hq.serve();

    // HQ's analyst sees camp B's days as its devices made them, and approves the supervisor's find.
    analyst.sync(|_| {}).unwrap();
    let find_b1 = of_type(&at_b[0], RecordType::Find, task_b1);
    assert_eq!(review_of(&analyst, find_b1), "supervisor_approved");
    assert!(analyst.get(task_b2).is_ok() && analyst.get(task_b9).is_err());
    analyst.approve(find_b1, &[], None).unwrap();
    assert!(analyst.sync(|_| {}).unwrap().rejected.is_empty());
    let before_link = hq.logged();

    // The stick goes back: HQ writes what camp B's relay may see (sealed for it), and camp B takes it in, so its
    // supervisor sees HQ's approval before the link returns.
    hq.stop();
    let back = dir.path().join("hq-for-camp-b.fsb");
    let out = hq.ok(&["export-bundle", "--device", "camp-b", path(&back)]);
    assert!(out.contains("wrote"), "{out}");
    let hq_url = hq.serve();
    camp_b.stop();
    let error = camp_b.fails(&["import-bundle", "--upstream-token", &relay_a, path(&back)]);
    assert!(error.contains("not sealed for this camp's relay"), "{error}");
    let at_camp = camp_b.logged();
    let out = camp_b.ok(&["import-bundle", "--upstream-token", &relay_b, path(&back)]);
    assert!(
        out.contains("bundle from upstream") && out.contains("1 of them new"),
        "{out}"
    );
    let again = camp_b.ok(&["import-bundle", "--upstream-token", &relay_b, path(&back)]);
    assert!(again.contains("0 of them new"), "{again}");
    assert_eq!(
        camp_b.logged(),
        at_camp + 1,
        "HQ's approval, and nothing the camp sent HQ, came back"
    );
    camp_b.serve();
    wait_for("HQ's approval reaching camp B's tablet by stick", || {
        at_b[0].sync(|_| {}).unwrap();
        review_of(&at_b[0], find_b1) == "hq_approved"
    });

    // Camp B's link returns: HQ's refusal comes down; nothing on the sticks crosses the link again either way.
    let at_camp = camp_b.logged();
    camp_b.stop();
    let upstream_b = [
        "--upstream",
        &hq_url,
        "--upstream-token",
        &relay_b,
        "--upstream-every",
        "1",
    ];
    camp_b.serve_with(&upstream_b);
    wait_for("camp B settling with HQ", || {
        let now = status(&camp_b);
        now["upstream"]["changes_waiting"] == 0 && now["upstream"]["refused"] == 3
    });
    let settled = status(&camp_b);
    assert_eq!(
        settled["upstream"]["changes_sent"], 0,
        "nothing HQ took from a stick was sent: {settled}"
    );
    let supervisor = &mut at_b[0];
    supervisor.sync(|_| {}).unwrap();
    supervisor.sync(|_| {}).unwrap();
    let refused = supervisor.sync_status().unwrap();
    let team_9: BTreeSet<Uuid> = [
        task_b9,
        of_type(supervisor, RecordType::WorkedArea, task_b9),
        of_type(supervisor, RecordType::Find, task_b9),
    ]
    .into();
    let told: BTreeSet<Uuid> = refused.rejected.iter().map(|r| r.record_id).collect();
    assert_eq!(told, team_9, "T-B90 refused, its area and find deferred: {refused:?}");
    assert_eq!(supervisor.reached(find_b1).unwrap(), Some(Reached::Hq));
    assert_eq!(supervisor.reached(task_b9).unwrap(), Some(Reached::Camp));
    for tablet in &mut at_b[1..] {
        tablet.sync(|_| {}).unwrap();
        assert!(tablet.sync_status().unwrap().rejected.is_empty());
        assert_eq!(tablet.sync_status().unwrap().reached.device, 0);
        assert_eq!(tablet.sync_status().unwrap().reached.camp, 0);
    }
    for tablet in &mut at_a {
        tablet.sync(|_| {}).unwrap();
    }
    analyst.sync(|_| {}).unwrap();
    camp_a.stop();
    camp_b.stop();
    hq.stop();
    assert_eq!(hq.logged(), before_link, "HQ logged nothing twice");
    assert_eq!(camp_b.logged(), at_camp, "camp B took nothing from HQ twice");

    // Every replica holds HQ's documents for what it may see; HQ holds nothing of Team 9.
    let (hq_docs, a_docs, b_docs) = (on_server(&hq), on_server(&camp_a), on_server(&camp_b));
    assert_eq!(on_device(&analyst), hq_docs, "the analyst holds HQ's documents");
    assert!(team_9.iter().all(|id| !hq_docs.contains_key(id)));
    for (camp, tablets) in [(&a_docs, &at_a), (&b_docs, &at_b)] {
        for tablet in tablets {
            for (id, changes) in on_device(tablet) {
                assert_eq!(
                    camp.get(&id),
                    Some(&changes),
                    "record {id} at the camp and on its tablet"
                );
                if !team_9.contains(&id) {
                    assert_eq!(hq_docs.get(&id), Some(&changes), "record {id} at HQ and on its tablet");
                }
            }
        }
    }
    let at_camps: BTreeSet<Uuid> = a_docs.keys().chain(b_docs.keys()).copied().collect();
    let at_hq: BTreeSet<Uuid> = hq_docs.keys().copied().collect();
    assert_eq!(
        at_hq.difference(&at_camps).count(),
        0,
        "HQ holds only what the camps sent"
    );
    assert_eq!(at_hq.len(), 5 + 5 + 5, "camp A's day and camp B's two Team 5 days");
}
