//! The base-camp tier end to end (docs/relay.md): two real `fieldsync-server` processes, a camp serving with
//! `--upstream` and HQ, with real device stores at both. A tablet's day goes up through the camp; HQ's approval
//! comes back down; what HQ refuses stays in the camp's quarantine and reaches the tablet that made it; each
//! record's receipt says how far it has travelled; nothing crosses twice.
#![allow(clippy::unwrap_used)]

mod common;

use client_core::{ListFilter, Reached, ReachedCounts, Store};
use common::{Server, day_of_work, day_of_work_for, device};
use domain::RecordType;
use protocol::{Carried, DeviceProfile, PushedChanges, SyncRequest};
use serde_bytes::ByteBuf;
use serde_json::Value;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Syncs `store` until `done` holds, within a minute (the camp relays every second).
fn sync_until(store: &mut Store, what: &str, done: impl Fn(&Store) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        store.sync(|_| {}).unwrap();
        if done(store) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within a minute");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn review_of(store: &Store, id: Uuid) -> Option<String> {
    store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .map(|r| r.review)
}

fn the_find(store: &Store) -> Uuid {
    let filter = ListFilter {
        record_type: Some(RecordType::Find),
        ..ListFilter::default()
    };
    store.list(&filter).unwrap()[0].id
}

fn status(camp: &Server) -> Value {
    serde_json::from_str(&camp.ok(&["status", "--json"])).unwrap()
}

#[test]
fn a_camp_relays_its_tablets_work_to_hq_and_hqs_decisions_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut hq = Server::new(&dir.path().join("hq"));
    let hq_url = hq.serve();
    let (_, relay_token) = hq.enrol("camp-a", "relay");
    let (_, hq_token) = hq.enrol("hq-analyst", "hq");
    let (_, attacker_token) = hq.enrol("tablet-x", "deminer");

    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve();
    let (_, supervisor_token) = camp.enrol("tablet-3", "supervisor");
    // Team 9 works from the camp but HQ enrolled the relay for Team 3 only: what it records, HQ refuses.
    let (_, outsider_token) = camp.enrol_for("tablet-9", "supervisor", "Team 9");
    // Before its first contact, the camp says it has never reached upstream.
    assert!(status(&camp)["upstream"]["last_contact"].is_null());
    camp.stop();
    let camp_url = camp.serve_with(&[
        "--upstream",
        &hq_url,
        "--upstream-token",
        &relay_token,
        "--upstream-every",
        "1",
    ]);

    // A supervisor's day at the camp, approved there; it reaches HQ's analyst through the relay.
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-3");
    tablet.enroll(&camp_url, &supervisor_token).unwrap();
    tablet.sync(|_| {}).unwrap();
    day_of_work(&mut tablet, "T-031");
    let find = the_find(&tablet);
    tablet.submit(find).unwrap();
    tablet.approve(find, &[], None).unwrap();
    let on_the_tablet = ReachedCounts {
        device: 3,
        camp: 0,
        hq: 0,
    };
    assert_eq!(tablet.sync_status().unwrap().reached, on_the_tablet);
    assert_eq!(tablet.reached(find).unwrap(), Some(Reached::Device));
    assert_eq!(tablet.sync(|_| {}).unwrap().rejected.len(), 0);
    let mut analyst = device(&dir.path().join("analyst.db"), "hq-analyst");
    analyst.enroll(&hq_url, &hq_token).unwrap();
    analyst.sync(|_| {}).unwrap();
    sync_until(&mut analyst, "the camp's day reaching HQ", |s| {
        review_of(s, find).as_deref() == Some("supervisor_approved")
    });
    assert_eq!(analyst.list(&ListFilter::default()).unwrap().len(), 3);

    // HQ approves the find; the decision comes back down to the tablet that recorded it.
    analyst.approve(find, &[], None).unwrap();
    assert_eq!(analyst.sync(|_| {}).unwrap().rejected.len(), 0);
    sync_until(&mut tablet, "HQ's approval reaching the tablet", |s| {
        review_of(s, find).as_deref() == Some("hq_approved")
    });
    // The tablet's receipts: everything it recorded is at HQ (HQ's approval is not the tablet's change).
    let reached_hq = ReachedCounts {
        device: 0,
        camp: 0,
        hq: 3,
    };
    assert_eq!(tablet.sync_status().unwrap().reached, reached_hq);
    assert_eq!(tablet.reached(find).unwrap(), Some(Reached::Hq));
    // HQ's analyst syncs with HQ itself, the top of the chain: its approval is at HQ once acknowledged.
    assert_eq!(analyst.reached(find).unwrap(), Some(Reached::Hq));

    // Team 9's day is accepted at the camp (its supervisor may record it there) and refused at HQ, where the
    // relay does not carry Team 9: kept in the camp's quarantine, and the queue goes on past it.
    let mut outsider = device(&dir.path().join("outsider.db"), "tablet-9");
    outsider.enroll(&camp_url, &outsider_token).unwrap();
    outsider.sync(|_| {}).unwrap();
    day_of_work_for(&mut outsider, "T-090", "Team 9");
    assert_eq!(outsider.sync(|_| {}).unwrap().rejected.len(), 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let settled = loop {
        let now = status(&camp);
        if now["upstream"]["refused"] == 3 && now["upstream"]["changes_waiting"] == 0 {
            break now;
        }
        assert!(Instant::now() < deadline, "the camp did not settle with HQ: {now}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(settled["upstream"]["last_error"].is_null(), "{settled}");
    assert!(!settled["upstream"]["last_contact"].is_null(), "{settled}");
    let quarantine = camp.ok(&["quarantine", "list"]);
    assert!(
        quarantine.contains("upstream_out_of_scope") && quarantine.contains("tablet-9"),
        "{quarantine}"
    );
    // The tablet that made them hears of HQ's refusals at its next sync, and keeps them in its status: the task,
    // which HQ refused, and its worked area and find, which HQ deferred behind it. None of them counts as at HQ.
    let heard = outsider.sync(|_| {}).unwrap();
    // The sync's report lists refusals, not deferrals; the status lists both.
    assert_eq!(heard.rejected.len(), 1, "{heard:?}");
    outsider.sync(|_| {}).unwrap();
    let refused = outsider.sync_status().unwrap();
    assert!(refused.unacknowledged.is_empty(), "{refused:?}");
    assert_eq!(refused.rejected.len(), 3, "{refused:?}");
    let task = refused
        .rejected
        .iter()
        .find(|r| r.label.as_deref() == Some("T-090"))
        .unwrap();
    assert_eq!(task.code, protocol::RejectionCode::OutOfScope, "{task:?}");
    assert!(task.message.starts_with("upstream refused it"), "{task:?}");
    let deferred = refused
        .rejected
        .iter()
        .filter(|r| r.code == protocol::RejectionCode::Deferred);
    assert_eq!(deferred.count(), 2, "{refused:?}");
    let held_at_camp = ReachedCounts {
        device: 0,
        camp: 3,
        hq: 0,
    };
    assert_eq!(refused.reached, held_at_camp);
    assert!(tablet.sync_status().unwrap().rejected.is_empty());
    let text = camp.ok(&["status"]);
    assert!(
        text.contains("0 changes waiting") && text.contains("3 changes refused upstream"),
        "{text}"
    );
    sync_until(&mut analyst, "the analyst's sync", |_| true);
    assert_eq!(
        analyst.list(&ListFilter::default()).unwrap().len(),
        3,
        "HQ holds nothing of Team 9"
    );

    // A deminer's token at HQ cannot speak for anyone: only a relay pushes on another device's behalf.
    let mut forged = SyncRequest::new(0, None);
    forged.on_behalf_of = vec![Carried {
        device: DeviceProfile {
            id: Uuid::now_v7(),
            name: "tablet-3".into(),
            role: domain::Role::Supervisor,
            teams: vec!["Team 3".into()],
        },
        records: 1,
    }];
    forged.push = vec![PushedChanges {
        record_id: Some(find),
        changes: vec![ByteBuf::from(vec![0x85, 0x6f, 0x4a, 0x83])],
    }];
    let error = sync_http::HttpTransport::new(&hq_url, &attacker_token)
        .send(&forged)
        .unwrap_err()
        .to_string();
    assert!(error.contains("403") && error.contains("not as a relay"), "{error}");
    // A relay whose runs do not cover its push exactly is refused whole, naming the mismatch.
    forged.on_behalf_of[0].records = 2;
    let error = sync_http::HttpTransport::new(&hq_url, &relay_token)
        .send(&forged)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("400") && error.contains("covers 2 pushed records"),
        "{error}"
    );

    // Rounds go on every second; nothing is forwarded or pulled twice.
    camp.stop();
    hq.stop();
    let (at_hq, at_camp) = (hq.logged(), camp.logged());
    camp.serve_with(&[
        "--upstream",
        &hq_url,
        "--upstream-token",
        &relay_token,
        "--upstream-every",
        "1",
    ]);
    hq.serve();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(status(&camp)["upstream"]["changes_waiting"], 0);
    camp.stop();
    hq.stop();
    assert_eq!(hq.logged(), at_hq, "HQ logged nothing twice");
    assert_eq!(camp.logged(), at_camp, "the camp logged nothing twice");
}

#[test]
fn a_camp_enrolled_with_hq_by_its_code_relays_without_upstream_flags() {
    let dir = tempfile::tempdir().unwrap();
    let mut hq = Server::new(&dir.path().join("hq"));
    hq.serve();
    let code = hq.invite("camp-a", "relay", "Team 3", None);
    let (_, hq_token) = hq.enrol("hq-analyst", "hq");

    // A damaged or mistyped code changes nothing at the camp.
    let mut camp = Server::new(&dir.path().join("camp"));
    let refused = camp.fails(&["enroll-upstream", "--code", "fieldsync:enroll?server=nowhere"]);
    assert!(refused.contains("code"), "{refused}");
    let credential_file = camp.data_dir.join("upstream.json");
    assert!(!credential_file.exists());

    let enrolled = camp.ok(&["enroll-upstream", "--code", &code]);
    assert!(enrolled.contains("as camp-a (relay"), "{enrolled}");
    let kept = std::fs::read_to_string(&credential_file).unwrap();
    let invitation = client_core::Invitation::parse(&code).unwrap();
    assert!(!kept.contains(&invitation.code), "the one-time code is spent, not kept");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credential_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "upstream.json is {mode:o}");
    }
    // The code is spent: a second camp cannot take the same identity at HQ, and its data directory stays empty.
    let other = Server::new(&dir.path().join("other-camp"));
    let again = other.fails(&["enroll-upstream", "--code", &code]);
    assert!(again.contains("used already"), "{again}");
    assert!(!other.data_dir.join("upstream.json").exists());

    let camp_url = camp.serve_with(&["--upstream-every", "1"]);
    let (_, supervisor_token) = camp.enrol("tablet-3", "supervisor");
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-3");
    tablet.enroll(&camp_url, &supervisor_token).unwrap();
    day_of_work(&mut tablet, "T-031");
    assert_eq!(tablet.sync(|_| {}).unwrap().rejected.len(), 0);

    let mut analyst = device(&dir.path().join("analyst.db"), "hq-analyst");
    analyst.enroll(&hq.url(), &hq_token).unwrap();
    sync_until(&mut analyst, "the camp's day reaching HQ", |s| {
        s.list(&ListFilter::default()).unwrap().len() == 3
    });
    assert_eq!(status(&camp)["upstream"]["changes_waiting"], 0);
}
