//! Devices and a real server on 127.0.0.1 over real HTTP: the sync protocol end to end.
#![allow(clippy::unwrap_used)]

use client_core::{HttpTransport, ListFilter, Store, SyncError};
use protocol::RejectionCode;
use serde_json::json;
use tests::*;
use uuid::Uuid;

const TEAM: &str = "Team 3";

/// A device enrolled as `fieldsync enroll` does it: the token, then a first sync, which tells the device its role.
fn device(dir: &std::path::Path, server: &TestServer, name: &str, teams: &[&str], role: DeviceRole) -> Store {
    let mut store = store(&dir.join(format!("{name}.db")), name, &format!("{name} user"));
    let (_, token) = server.enrol(name, teams, role);
    enrolled(&mut store, server, &token);
    store.sync(|_| {}).unwrap();
    store
}

fn sync(store: &mut Store) -> client_core::SyncReport {
    store.sync(|_| {}).unwrap()
}

#[test]
fn a_sync_cut_off_after_the_server_committed_is_retried_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut a = device(dir.path(), &server, "tablet-a", &[TEAM], DeviceRole::Supervisor);
    let (_, _, find_id) = day_of_work(&mut a);
    let (url, token) = a.enrollment().unwrap().unwrap();
    let transport = HttpTransport::new(&url, &token);

    // The server receives and commits the push, but the answer never reaches the tablet.
    let error = a
        .sync_with(
            |request| {
                transport.send(request)?;
                Err(SyncError::Network {
                    url: url.clone(),
                    reason: "connection reset".into(),
                })
            },
            |_| {},
        )
        .unwrap_err();
    assert!(error.to_string().contains("stay on this device"), "{error}");
    assert_eq!(a.outbox().unwrap().len(), 3, "nothing acknowledged without an answer");

    let report = sync(&mut a);
    assert_eq!(report.accepted, 3, "the retry is acknowledged");
    assert_eq!(report.pulled, 0, "a device is not sent back what it just pushed");
    assert!(a.outbox().unwrap().is_empty());
    let logged = server.storage(|s| async move {
        sync_core::store::SyncStore::document_changes(&s, find_id)
            .await
            .unwrap()
    });
    assert_eq!(logged.len(), 1, "the find's change is in the log once");
    let mut b = store(&dir.path().join("tablet-b.db"), "tablet-b", "tablet-b user");
    let (_, token) = server.enrol("tablet-b", &[TEAM], DeviceRole::Supervisor);
    enrolled(&mut b, &server, &token);
    let pulled = sync(&mut b);
    assert_eq!(pulled.pulled, 3, "each change is served once");
    assert_eq!(visible_state(&a), visible_state(&b));
}

#[test]
fn devices_continue_from_their_cursors_after_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = TestServer::start(&data);
    let addr = server.addr;
    let mut a = device(dir.path(), &server, "tablet-a", &[TEAM], DeviceRole::Supervisor);
    let mut b = device(dir.path(), &server, "tablet-b", &[TEAM], DeviceRole::Supervisor);
    let (task, wa, _) = day_of_work(&mut a);
    sync(&mut a);
    assert_eq!(sync(&mut b).pulled, 3);
    server.stop();

    let server = TestServer::start_at(&data, addr);
    let mut late = tests::find(Uuid::now_v7(), task, Some(wa), "F-0300");
    late["location"]["lat"] = json!(40.5004);
    create(&mut a, late);
    sync(&mut a);
    let report = sync(&mut b);
    assert_eq!(report.pulled, 1, "only what is new since its cursor");
    assert_eq!(visible_state(&a), visible_state(&b));
    drop(server);
}

#[test]
fn a_wrong_or_revoked_token_gets_401_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut wrong = store(&dir.path().join("w.db"), "w", "w");
    enrolled(&mut wrong, &server, "fst1_not-a-token");
    match wrong.sync(|_| {}).unwrap_err() {
        SyncError::Server { status, message, .. } => {
            assert_eq!(status, 401);
            assert!(message.contains("unknown device token"), "{message}");
        }
        other => panic!("expected 401, got {other}"),
    }

    let mut a = store(&dir.path().join("a.db"), "a", "a");
    let (id, token) = server.enrol("tablet-a", &[TEAM], DeviceRole::Supervisor);
    enrolled(&mut a, &server, &token);
    day_of_work(&mut a);
    sync(&mut a);
    server.revoke(id);
    create(&mut a, tests::task(Uuid::now_v7()));
    match a.sync(|_| {}).unwrap_err() {
        SyncError::Server { status, message, .. } => {
            assert_eq!(status, 401);
            assert!(message.contains("revoked") && message.contains("tablet-a"), "{message}");
        }
        other => panic!("expected 401, got {other}"),
    }
    assert_eq!(a.outbox().unwrap().len(), 1, "the refused device keeps its change");
}

#[test]
fn a_push_outside_the_device_scope_is_refused_naming_the_record_and_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut a = device(dir.path(), &server, "tablet-a", &[TEAM], DeviceRole::Supervisor);
    let (task, _, _) = day_of_work(&mut a);
    sync(&mut a);

    let mut other = device(dir.path(), &server, "tablet-x", &["Team 5"], DeviceRole::Supervisor);
    assert_eq!(sync(&mut other).pulled, 0, "Team 5 sees nothing of Team 3's task");
    let refused = other
        .create_json(&tests::find(Uuid::now_v7(), task, None, "F-X0").to_string())
        .unwrap_err();
    assert!(matches!(refused, client_core::StoreError::NotPermitted(_)), "{refused}");
    // A store that has not synced since it was enrolled does not know its teams yet: the server decides.
    let mut other = store(&dir.path().join("x2.db"), "tablet-x2", "x2 user");
    let (_, token) = server.enrol("tablet-x2", &["Team 5"], DeviceRole::Supervisor);
    enrolled(&mut other, &server, &token);
    let intruder = create(&mut other, tests::find(Uuid::now_v7(), task, None, "F-X1"));
    let report = sync(&mut other);
    assert_eq!(report.rejected.len(), 1);
    let rejection = &report.rejected[0];
    assert_eq!(
        (rejection.record_id, rejection.code),
        (intruder, RejectionCode::OutOfScope)
    );
    // The device's own record is named; nothing of the task it does not work on is.
    assert!(
        rejection.message.contains("F-X1")
            && !rejection.message.contains("Team 3")
            && !rejection.message.contains("T-031")
            && !rejection.message.contains(&task.to_string()),
        "{}",
        rejection.message
    );
    let status = other.sync_status().unwrap();
    assert_eq!(status.rejected.len(), 1);
    assert_eq!(status.rejected[0].label.as_deref(), Some("F-X1"));
    let quarantined = server.storage(|s| async move { sync_core::store::SyncStore::quarantined(&s).await.unwrap() });
    assert_eq!(quarantined.len(), 1);
    assert_eq!(
        (quarantined[0].item.record_id, quarantined[0].item.code.as_str()),
        (intruder, "out_of_scope")
    );
    sync(&mut a);
    assert!(a.get(intruder).is_err(), "a refused record is never served to anyone");
}

#[test]
fn an_invalid_record_is_quarantined_and_reported_to_its_device() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut tablet = device(dir.path(), &server, "tablet", &[TEAM], DeviceRole::Supervisor);
    let mut laptop = device(dir.path(), &server, "laptop", &[TEAM], DeviceRole::Supervisor);
    let (task, _, _) = day_of_work(&mut tablet);
    sync(&mut tablet);
    sync(&mut laptop);

    // The supervisor completes the task while the tablet, offline, reports another day's work on it.
    laptop.patch(task, &json!({"status": "completed"})).unwrap();
    sync(&mut laptop);
    let report_id = create(
        &mut tablet,
        json!({"type": "daily_report", "label": "T-031/DR-2", "date_of_information": DAY, "task": task, "team": TEAM, "team_leader": "A. Aliyev"}),
    );
    let report = sync(&mut tablet);
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    let rejection = &report.rejected[0];
    assert_eq!(
        (rejection.record_id, rejection.code),
        (report_id, RejectionCode::Invalid)
    );
    assert!(
        rejection
            .issues
            .iter()
            .any(|i| i.rule == domain::Rule::TaskCompleted && i.field == "task"),
        "{rejection:?}"
    );
    let status = tablet.sync_status().unwrap();
    assert!(
        status.rejected[0]
            .issues
            .iter()
            .any(|i| i.rule == domain::Rule::TaskCompleted)
    );
    let quarantined = server.storage(|s| async move { sync_core::store::SyncStore::quarantined(&s).await.unwrap() });
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].item.code, "invalid");
    sync(&mut laptop);
    assert!(
        laptop.get(report_id).is_err(),
        "a refused record is never served to anyone"
    );
    // The tablet learns the task is completed: the pull after the refused push brought it.
    let tasks = tablet
        .list(&ListFilter {
            status: Some("completed".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(tasks.len(), 1);
}

#[test]
fn an_idle_sync_of_ten_thousand_records_is_one_small_request_and_response() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut a = device(dir.path(), &server, "tablet-a", &[TEAM], DeviceRole::Supervisor);
    let task = Uuid::now_v7();
    create(&mut a, tests::task(task));
    let records: Vec<domain::Record> = (0..9_999)
        .map(|n| {
            let mut f = tests::find(Uuid::now_v7(), task, None, &format!("F-{n:05}"));
            f["location"] = json!({"lat": 40.0 + (n / 100) as f64 * 0.0002, "lon": 47.0 + (n % 100) as f64 * 0.0002, "method": "handheld_gnss", "accuracy_m": 2.0});
            domain::Record::from_json(f, Uuid::now_v7()).unwrap()
        })
        .collect();
    a.create_batch(records).unwrap();
    let first = sync(&mut a);
    assert_eq!(first.accepted, 10_000);
    assert_eq!(a.count().unwrap(), 10_000);

    let (url, token) = a.enrollment().unwrap().unwrap();
    let transport = HttpTransport::new(&url, &token);
    let report = a.sync_with(|request| transport.send(request), |_| {}).unwrap();
    let bytes = transport.bytes_sent() + transport.bytes_received();
    assert_eq!(report.requests, 1);
    assert!(bytes < 1024, "idle sync moved {bytes} bytes");
    assert_eq!((report.accepted, report.pulled), (0, 0));
}

#[test]
fn a_record_larger_than_the_limit_is_refused_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut a = device(dir.path(), &server, "tablet-a", &[TEAM], DeviceRole::Supervisor);
    let (_, _, find_id) = day_of_work(&mut a);
    sync(&mut a);
    // Two changes, each under the change limit, that together make a record over the record limit.
    let essay = "mine ".repeat(protocol::limits::MAX_RECORD_JSON_BYTES / 8);
    a.patch(find_id, &json!({"notes": {"first": {"text": essay}}})).unwrap();
    a.patch(find_id, &json!({"notes": {"second": {"text": essay}}}))
        .unwrap();
    let report = sync(&mut a);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(
        (report.rejected[0].record_id, report.rejected[0].code),
        (find_id, RejectionCode::TooLarge)
    );
    assert!(
        report.rejected[0].message.contains("F-0001"),
        "{}",
        report.rejected[0].message
    );
    let quarantined = server.storage(|s| async move { sync_core::store::SyncStore::quarantined(&s).await.unwrap() });
    assert_eq!(quarantined[0].item.code, "too_large");
}

#[test]
fn a_push_without_record_id_must_carry_the_first_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut a = device(dir.path(), &server, "tablet-a", &[TEAM], DeviceRole::Supervisor);
    let (_, _, find_id) = day_of_work(&mut a);
    sync(&mut a);
    a.patch(find_id, &json!({"quantity": 2})).unwrap();
    let edit = a.outbox().unwrap().pop().unwrap();
    let (url, token) = a.enrollment().unwrap().unwrap();
    let request = protocol::SyncRequest {
        push: vec![protocol::PushedChanges {
            record_id: None,
            changes: vec![serde_bytes::ByteBuf::from(edit.bytes)],
        }],
        ..protocol::SyncRequest::new(0, None)
    };
    let response = HttpTransport::new(&url, &token).send(&request).unwrap();
    assert_eq!(response.accepted, 0);
    assert_eq!(response.rejected.len(), 1);
    assert_eq!(response.rejected[0].code, RejectionCode::Malformed);
    assert_eq!(response.rejected[0].changes, vec![edit.hash]);
    assert!(
        response.rejected[0].message.contains("first change"),
        "{}",
        response.rejected[0].message
    );
    let quarantined = server.storage(|s| async move { sync_core::store::SyncStore::quarantined(&s).await.unwrap() });
    assert_eq!(quarantined.len(), 1, "kept for review, not dropped");
}

#[test]
fn a_record_named_twice_in_one_request_is_decided_once_with_all_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut a = device(dir.path(), &server, "tablet-a", &[TEAM], DeviceRole::Supervisor);
    let (task, _, find_id) = day_of_work(&mut a);
    a.patch(find_id, &json!({"quantity": 2})).unwrap();
    let outbox = a.outbox().unwrap();
    let find_changes: Vec<_> = outbox.iter().filter(|c| c.record_id == find_id).collect();
    assert_eq!(find_changes.len(), 2, "the find's creation and its edit");
    let entry = |record_id, change: &client_core::OutboxChange| protocol::PushedChanges {
        record_id,
        changes: vec![serde_bytes::ByteBuf::from(change.bytes.clone())],
    };
    // The edit first, under the record's id; then, in another entry, the creation without an id.
    let mut push: Vec<_> = outbox
        .iter()
        .filter(|c| c.record_id != find_id)
        .map(|c| entry(Some(c.record_id), c))
        .collect();
    push.push(entry(Some(find_id), find_changes[1]));
    push.push(entry(None, find_changes[0]));
    let (url, token) = a.enrollment().unwrap().unwrap();
    let request = protocol::SyncRequest {
        push,
        ..protocol::SyncRequest::new(0, None)
    };
    let response = HttpTransport::new(&url, &token).send(&request).unwrap();
    assert!(response.rejected.is_empty(), "{:?}", response.rejected);
    assert_eq!(response.accepted, outbox.len() as u64);
    let row = server.storage(|s| async move { sync_core::store::SyncStore::record(&s, find_id).await.unwrap() });
    let row = row.unwrap();
    assert_eq!(row.body["quantity"], 2);
    assert_eq!(row.task_id, Some(task));
}

/// A day offline pushes several changes of one record at once. The review workflow holds for each of them, as the
/// device checked it edit by edit, not for the jump from the server's state to the last one: a box created,
/// submitted and approved on the supervisor's laptop is accepted, and crafted pushes that skip submission, or edit a
/// box in the push that approves it, are refused.
#[test]
fn the_changes_of_one_record_in_a_push_are_checked_step_by_step() {
    use domain::vocabulary::ReviewStatus::{Draft, Submitted, SupervisorApproved};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut laptop = device(dir.path(), &server, "laptop", &[TEAM], DeviceRole::Supervisor);
    let (task, box_b3, _) = day_of_work(&mut laptop);
    for review in ["submitted", "supervisor_approved"] {
        laptop.patch(box_b3, &json!({ "review": review })).unwrap();
    }
    let report = sync(&mut laptop);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let row = server.storage(|s| async move { sync_core::store::SyncStore::record(&s, box_b3).await.unwrap() });
    assert_eq!(row.unwrap().body["review"], "supervisor_approved");

    // Changes made by hand, as a client that skips the device's checks would.
    let (url, token) = laptop.enrollment().unwrap().unwrap();
    let push = |record_id: Uuid, changes: &[automerge::Change]| {
        let request = protocol::SyncRequest {
            push: vec![protocol::PushedChanges {
                record_id: Some(record_id),
                changes: changes
                    .iter()
                    .map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec()))
                    .collect(),
            }],
            ..protocol::SyncRequest::new(0, None)
        };
        HttpTransport::new(&url, &token).send(&request).unwrap()
    };
    let refused_for = |response: &protocol::SyncResponse, rule: domain::Rule, says: &str| {
        assert_eq!(response.rejected.len(), 1, "{response:?}");
        let rejection = &response.rejected[0];
        assert_eq!(rejection.code, RejectionCode::Invalid);
        assert!(
            rejection
                .issues
                .iter()
                .any(|i| i.rule == rule && i.message.contains(says)),
            "{:?}",
            rejection.issues
        );
    };
    let author = domain::Authorship {
        device_id: Uuid::nil(),
        device: "laptop".into(),
        user: "laptop user".into(),
        action: "edit".into(),
    };
    // Each version of a new box (in draft, a minute apart): its changes, the first being the box's creation. Entered
    // on the day the fixture describes, so the box carries no warning to accept.
    let changes_of = |versions: &[domain::Record]| {
        let time = noon().timestamp();
        let (mut doc, created) =
            domain::document::create(&versions[0], automerge::ActorId::random(), &author, time).unwrap();
        let mut changes = vec![created];
        for (minute, version) in (1..).zip(&versions[1..]) {
            changes.push(
                domain::document::edit(&mut doc, version, &author, time + 60 * minute)
                    .unwrap()
                    .unwrap(),
            );
        }
        changes
    };
    let draft = domain::Record::from_json(worked_area(Uuid::now_v7(), task, "T-031/B9"), Uuid::nil()).unwrap();
    let version = |review, depth: i64| {
        let mut version = draft.clone();
        version.meta.review = review;
        if let domain::RecordBody::WorkedArea(w) = &mut version.body {
            w.depth_achieved_cm = Some(depth);
        }
        version
    };

    // Straight from draft to approved, in the push that creates the box.
    let skipped = changes_of(&[version(Draft, 20), version(SupervisorApproved, 20)]);
    refused_for(
        &push(draft.id(), &skipped),
        domain::Rule::ReviewTransition,
        "from draft to supervisor_approved",
    );

    // Created and submitted (accepted), then approved and edited in one push: refused, though the jump from
    // submitted to an approved box with another depth is a valid transition on its own.
    let changes = changes_of(&[
        version(Draft, 20),
        version(Submitted, 20),
        version(SupervisorApproved, 20),
        version(SupervisorApproved, 25),
    ]);
    let response = push(draft.id(), &changes[..2]);
    assert!(response.rejected.is_empty(), "{response:?}");
    refused_for(
        &push(draft.id(), &changes[2..]),
        domain::Rule::ApprovedImmutable,
        "record a correction",
    );
}
