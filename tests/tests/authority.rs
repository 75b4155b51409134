//! Who may change what, end to end: every role × action of shared/domain.md's authority table tried on a real device
//! store (its own check, before anything is stored) and as a crafted push to a real server that skips the device's
//! check, which the server must decide alone by the authenticated device.
#![allow(clippy::unwrap_used)]

use client_core::{HttpTransport, Store, StoreError};
use protocol::{PushedChanges, RejectionCode, SyncRequest, SyncResponse};
use serde_json::{Value, json};
use std::path::Path;
use tests::*;
use uuid::Uuid;

const TEAM: &str = "Team 3";
const ROLES: [DeviceRole; 6] = [
    DeviceRole::Deminer,
    DeviceRole::TeamLeader,
    DeviceRole::Supervisor,
    DeviceRole::Hq,
    DeviceRole::Relay,
    DeviceRole::Admin,
];

/// The authority table of shared/domain.md, written out here (not read from the code under test): for each action
/// on a record of a task of the device's team, whether a deminer, team leader, supervisor, HQ, relay and admin may
/// take it. A relay only forwards other devices' changes, and an admin changes no record.
const TABLE: &[(&str, [bool; 6])] = &[
    ("edit_draft", [true, true, true, true, false, false]),
    ("record_inspection", [false, false, true, true, false, false]),
    ("edit_submitted", [false, false, true, true, false, false]),
    ("submit", [true, true, true, true, false, false]),
    ("return", [false, false, true, true, false, false]),
    ("approve", [false, false, true, true, false, false]),
    ("accept_warning", [false, false, true, true, false, false]),
    ("hq_approve", [false, false, false, true, false, false]),
    ("resolve_conflict", [false, true, true, true, false, false]),
    ("void_others_draft", [false, true, true, true, false, false]),
    ("void_own_draft", [true, true, true, true, false, false]),
    ("supersede", [false, true, true, true, false, false]),
    ("create_task", [false, false, true, true, false, false]),
    ("change_task", [false, false, true, true, false, false]),
    ("define_hazard_area", [false, false, true, true, false, false]),
    ("change_hazard_area_status", [false, false, true, true, false, false]),
];

/// A programme with a Team 3 task and a hazard area, made by HQ, and a second HQ device for concurrent edits.
struct Programme {
    dir: tempfile::TempDir,
    server: TestServer,
    hq: Store,
    hq2: Store,
    task: Uuid,
    hazard: Uuid,
    devices: usize,
    finds: usize,
}

impl Programme {
    fn new() -> Programme {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start(&dir.path().join("server"));
        let mut hq = enrolled_device(dir.path(), &server, "hq", DeviceRole::Hq, &[]);
        let mut hq2 = enrolled_device(dir.path(), &server, "hq2", DeviceRole::Hq, &[]);
        let (task, hazard) = (Uuid::now_v7(), Uuid::now_v7());
        create(&mut hq, hazard_area(hazard));
        let mut definition = tests::task(task);
        definition["hazard_areas"] = json!([hazard]);
        create(&mut hq, definition);
        hq.sync(|_| {}).unwrap();
        hq2.sync(|_| {}).unwrap();
        Programme {
            dir,
            server,
            hq,
            hq2,
            task,
            hazard,
            devices: 0,
            finds: 0,
        }
    }

    /// A new device of `role` for Team 3, enrolled and synced (so it knows its role and holds the task); with it,
    /// its token.
    fn device(&mut self, role: DeviceRole) -> (Store, String) {
        self.devices += 1;
        let name = format!("{}-{}", role.as_str(), self.devices);
        let mut store = tests::store(
            &self.dir.path().join(format!("{name}.db")),
            &name,
            &format!("{name} user"),
        );
        let (_, token) = self.server.enrol(&name, &[TEAM], role);
        enrolled(&mut store, &self.server, &token);
        store.sync(|_| {}).unwrap();
        (store, token)
    }

    /// A find of the task, 10 m from every other (so that none is a duplicate candidate of another).
    fn new_find(&mut self, label: &str) -> Value {
        self.finds += 1;
        let mut find = tests::find(Uuid::now_v7(), self.task, None, label);
        find["location"]["lon"] = json!(47.4995 + self.finds as f64 * 0.00012);
        find
    }

    /// A draft find of the task, made by HQ, in review status `review`; returns its id once the server has it.
    fn find_in(&mut self, review: &str) -> Uuid {
        let find = self.new_find("F-0001");
        let id = create(&mut self.hq, find);
        for step in ["submitted", "supervisor_approved"] {
            if self.hq.get(id).unwrap().record.meta.review.as_str() == review {
                break;
            }
            self.hq.patch(id, &json!({ "review": step })).unwrap();
        }
        self.hq.sync(|_| {}).unwrap();
        id
    }

    /// A draft find whose `quantity` two HQ devices set concurrently: an open conflict on a safety-relevant field.
    fn conflicted_find(&mut self) -> Uuid {
        let id = self.find_in("draft");
        self.hq2.sync(|_| {}).unwrap();
        self.hq.patch(id, &json!({"quantity": 2})).unwrap();
        self.hq2.patch(id, &json!({"quantity": 3})).unwrap();
        self.hq.sync(|_| {}).unwrap();
        self.hq2.sync(|_| {}).unwrap();
        id
    }
}

fn enrolled_device(dir: &Path, server: &TestServer, name: &str, role: DeviceRole, teams: &[&str]) -> Store {
    let mut store = tests::store(&dir.join(format!("{name}.db")), name, &format!("{name} user"));
    let (_, token) = server.enrol(name, teams, role);
    enrolled(&mut store, server, &token);
    store.sync(|_| {}).unwrap();
    store
}

fn hazard_area(id: Uuid) -> Value {
    json!({
        "type": "hazard_area", "id": id, "label": "CHA-FZ-0142", "date_of_information": DAY,
        "classification": "cha", "status": "open", "contamination": ["ap_mines"], "evidence": ["direct_find"],
        "perimeter": {"type": "Polygon", "coordinates": square(47.499, 40.499, 0.003)}, "perimeter_accuracy_m": 2.0
    })
}

fn qa_inspection(task: Uuid) -> Value {
    json!({
        "type": "qa_inspection", "label": "T-031/QA1", "date_of_information": DAY, "kind": "internal_qa",
        "inspector": "QA officer", "task": task, "result": "pass", "item_found": false
    })
}

/// Takes `action` on `store`; the record it works on is set up first, on the server, by HQ (or by `store` itself
/// for its own draft). Returns the result of the store's own edit.
fn act(programme: &mut Programme, store: &mut Store, action: &str) -> Result<(), StoreError> {
    let task = programme.task;
    match action {
        "edit_draft" => store.create_json(&programme.new_find("F-0002").to_string()).map(drop),
        "record_inspection" => store.create_json(&qa_inspection(task).to_string()).map(drop),
        "edit_submitted" => {
            let id = programme.find_in("submitted");
            fetch(programme, store);
            store.patch(id, &json!({"depth_cm": 12})).map(drop)
        }
        "submit" => {
            let id = programme.find_in("draft");
            fetch(programme, store);
            store.submit(id).map(drop)
        }
        "return" => {
            let id = programme.find_in("submitted");
            fetch(programme, store);
            store.return_record(id, "the fuze is not photographed").map(drop)
        }
        "approve" => {
            let id = programme.find_in("submitted");
            fetch(programme, store);
            store.approve(id, &[], None).map(drop)
        }
        "accept_warning" => {
            let id = programme.find_in("submitted");
            fetch(programme, store);
            let acceptance = json!({"late_entry:date_of_information": {"by": "x", "comment": "typed from paper"}});
            store.patch(id, &json!({ "accepted_warnings": acceptance })).map(drop)
        }
        "hq_approve" => {
            let id = programme.find_in("supervisor_approved");
            fetch(programme, store);
            store.approve(id, &[], None).map(drop)
        }
        "resolve_conflict" => {
            let id = programme.conflicted_find();
            fetch(programme, store);
            assert_eq!(
                store.get(id).unwrap().conflicts.len(),
                1,
                "the conflict reached the device"
            );
            store.resolve(id, &[("quantity".into(), json!(2))]).map(drop)
        }
        "void_others_draft" => {
            let id = programme.find_in("draft");
            fetch(programme, store);
            store.void(id, "entered twice").map(drop)
        }
        "void_own_draft" => {
            // Made on this device (where its role allows it); voided before it ever left.
            match store.create_json(&programme.new_find("F-0003").to_string()) {
                Ok(saved) => store.void(saved.id, "entered twice").map(drop),
                Err(refused) => Err(refused),
            }
        }
        "supersede" => {
            let id = programme.find_in("supervisor_approved");
            fetch(programme, store);
            let mut correction = programme.new_find("F-0001 (corrected)");
            correction["supersedes"] = json!(id);
            store.create_json(&correction.to_string()).map(drop)
        }
        "create_task" => store.create_json(&tests::task(Uuid::now_v7()).to_string()).map(drop),
        "change_task" => {
            // Another depth than the task has now (an allowed cell before may have changed it).
            let depth = match store.get(task).unwrap().record.to_json()["required_depth_cm"].as_i64() {
                Some(20) => 25,
                _ => 20,
            };
            store.patch(task, &json!({ "required_depth_cm": depth })).map(drop)
        }
        "define_hazard_area" => store.create_json(&hazard_area(Uuid::now_v7()).to_string()).map(drop),
        "change_hazard_area_status" => {
            let status = match store.get(programme.hazard).unwrap().record.to_json()["status"].as_str() {
                Some("worked_on") => "suspended",
                _ => "worked_on",
            };
            store.patch(programme.hazard, &json!({ "status": status })).map(drop)
        }
        other => panic!("no scenario for {other}"),
    }
}

/// Brings the records HQ just made to `store`: a sync for an enrolled device, an import for a copy.
fn fetch(programme: &mut Programme, store: &mut Store) {
    if store.enrollment().unwrap().is_some() {
        store.sync(|_| {}).unwrap();
        return;
    }
    for hq in [&programme.hq, &programme.hq2] {
        store.import_changes(&hq.export_changes().unwrap()).unwrap();
    }
}

/// Pushes changes as they are, the way a client that skips the device's checks would.
fn push_raw(server: &TestServer, token: &str, changes: &[client_core::OutboxChange]) -> SyncResponse {
    let mut by_record: Vec<PushedChanges> = Vec::new();
    for change in changes {
        let bytes = serde_bytes::ByteBuf::from(change.bytes.clone());
        match by_record.iter_mut().find(|p| p.record_id == Some(change.record_id)) {
            Some(entry) => entry.changes.push(bytes),
            None => by_record.push(PushedChanges {
                record_id: Some(change.record_id),
                changes: vec![bytes],
            }),
        }
    }
    let request = SyncRequest {
        push: by_record,
        ..SyncRequest::new(0, None)
    };
    HttpTransport::new(&server.url(), token).send(&request).unwrap()
}

/// The same edit made on a copy of the device's store that believes it is HQ (so it checks nothing a role could
/// refuse), then pushed with the device's own token: the server alone decides.
fn crafted(programme: &mut Programme, store: &Store, token: &str, action: &str) -> SyncResponse {
    let mut copy = tests::store(
        &programme.dir.path().join(format!("copy-{}.db", Uuid::now_v7())),
        &store.identity().device_name,
        &store.identity().user,
    );
    copy.import_changes(&store.export_changes().unwrap()).unwrap();
    enrolled_as(&copy, DeviceRole::Hq, &[TEAM]);
    if action == "void_own_draft" {
        // The draft must be the device's own on the server: made by it (a role that may not make one has it made
        // by HQ, and then may not void it either).
        let draft = programme.new_find("F-0004");
        let mut maker = tests::store(
            &programme.dir.path().join(format!("maker-{}.db", Uuid::now_v7())),
            "maker",
            "maker user",
        );
        enrolled_as(&maker, DeviceRole::Hq, &[TEAM]);
        let id = create(&mut maker, draft);
        let made = maker.outbox().unwrap();
        if !push_raw(&programme.server, token, &made).rejected.is_empty() {
            push_raw(
                &programme.server,
                programme.hq.enrollment().unwrap().unwrap().1.as_str(),
                &made,
            );
        }
        copy.import_changes(&maker.export_changes().unwrap()).unwrap();
        copy.void(id, "entered twice").unwrap();
        let voided: Vec<_> = copy
            .outbox()
            .unwrap()
            .into_iter()
            .filter(|c| c.record_id == id)
            .collect();
        return push_raw(&programme.server, token, &voided);
    }
    act(programme, &mut copy, action).unwrap();
    let outbox = copy.outbox().unwrap();
    assert!(!outbox.is_empty(), "{action}: the crafted edit made a change");
    push_raw(&programme.server, token, &outbox)
}

/// One role's column of the table, on a programme of its own: each role is its own test, so that the six run
/// side by side and each programme stays small.
fn role_takes_exactly_the_actions_of_its_column(column: usize) {
    let mut programme = Programme::new();
    let mut failures = Vec::new();
    let role = &ROLES[column];
    for (action, allowed) in TABLE {
        let allowed = &allowed[column];
        {
            // The device's own check, before anything is stored.
            let (mut store, _) = programme.device(*role);
            let before = store.outbox().unwrap().len();
            let local = act(&mut programme, &mut store, action);
            let device_message = match &local {
                Ok(()) => None,
                Err(StoreError::NotPermitted(message)) => Some(message.clone()),
                Err(other) => {
                    failures.push(format!("{action} as {role}: the device failed otherwise: {other}"));
                    continue;
                }
            };
            if *allowed != device_message.is_none() {
                failures.push(format!(
                    "{action} as {role}: the device said {local:?}, expected allowed={allowed}"
                ));
            }
            if let Some(message) = &device_message {
                assert!(
                    message.contains(role.as_str()) && message.contains("not permitted"),
                    "{message}"
                );
                assert_eq!(
                    store.outbox().unwrap().len(),
                    before,
                    "{action} as {role}: nothing stored"
                );
            }

            // The server's check of a push that skipped the device's.
            let (fresh, token_of_fresh) = programme.device(*role);
            let response = crafted(&mut programme, &fresh, &token_of_fresh, action);
            let refused: Vec<&protocol::Rejection> = response.rejected.iter().collect();
            match (allowed, refused.as_slice()) {
                (true, []) => {}
                (false, [rejection]) if rejection.code == RejectionCode::NotPermitted => {
                    assert!(
                        rejection.message.contains(role.as_str()),
                        "{action} as {role}: {}",
                        rejection.message
                    );
                    if let Some(message) = &device_message
                        && !matches!(*action, "void_own_draft" | "edit_draft" | "record_inspection")
                    {
                        // Same record, same rule: the device and the server say the same thing.
                        assert_eq!(&rejection.message, message, "{action} as {role}");
                    }
                }
                _ => failures.push(format!(
                    "{action} as {role}: the server answered {refused:?}, expected allowed={allowed}"
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let quarantined = programme
        .server
        .storage(|s| async move { sync_core::store::SyncStore::quarantined(&s).await.unwrap() });
    assert!(
        quarantined.iter().all(|q| q.item.code == "not_permitted"),
        "every refusal is quarantined as not_permitted"
    );
    let denied = TABLE.iter().filter(|(_, a)| !a[column]).count();
    assert!(
        quarantined.len() >= denied,
        "{} quarantined for {denied} denied cells",
        quarantined.len()
    );
}

#[test]
fn a_deminer_may_take_exactly_the_actions_of_the_authority_table_on_the_device_and_at_the_server() {
    role_takes_exactly_the_actions_of_its_column(0);
}

#[test]
fn a_team_leader_may_take_exactly_the_actions_of_the_authority_table_on_the_device_and_at_the_server() {
    role_takes_exactly_the_actions_of_its_column(1);
}

#[test]
fn a_supervisor_may_take_exactly_the_actions_of_the_authority_table_on_the_device_and_at_the_server() {
    role_takes_exactly_the_actions_of_its_column(2);
}

#[test]
fn hq_may_take_exactly_the_actions_of_the_authority_table_on_the_device_and_at_the_server() {
    role_takes_exactly_the_actions_of_its_column(3);
}

#[test]
fn a_relay_may_take_exactly_the_actions_of_the_authority_table_on_the_device_and_at_the_server() {
    role_takes_exactly_the_actions_of_its_column(4);
}

#[test]
fn an_admin_may_take_exactly_the_actions_of_the_authority_table_on_the_device_and_at_the_server() {
    role_takes_exactly_the_actions_of_its_column(5);
}

/// The failure the authority issue began with: a deminer's token moved its own box from submitted to HQ-approved,
/// accepted its warnings as a made-up supervisor, lowered its task's clearance depth and added a team, and HQ's
/// approved totals counted it. Each step, pushed as crafted changes that skip the device's check, is refused.
#[test]
fn a_deminer_cannot_approve_its_own_work_into_hqs_figures_nor_change_its_task() {
    let mut programme = Programme::new();
    let (mut deminer, token) = programme.device(DeviceRole::Deminer);
    let plot = create(
        &mut deminer,
        tests::worked_area(Uuid::now_v7(), programme.task, "T-031/B3"),
    );
    deminer.submit(plot).unwrap();
    let report = deminer.sync(|_| {}).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    let refused = deminer.approve(plot, &[], None).unwrap_err().to_string();
    assert!(
        refused.contains("not permitted: a deminer may not approve"),
        "{refused}"
    );

    let mut copy = tests::store(&programme.dir.path().join("copy.db"), "Team 3 tablet", "Supervisor");
    copy.import_changes(&deminer.export_changes().unwrap()).unwrap();
    enrolled_as(&copy, DeviceRole::Hq, &[TEAM]);
    let acceptance = json!({"outside_hazard:shape": {"by": "Supervisor", "comment": "fine"}});
    copy.patch(plot, &json!({ "accepted_warnings": acceptance })).unwrap();
    copy.approve(plot, &[], None).unwrap();
    copy.approve(plot, &[], None).unwrap();
    copy.patch(
        programme.task,
        &json!({"required_depth_cm": 5, "teams": ["Team 3", "Team 9"]}),
    )
    .unwrap();
    let response = push_raw(&programme.server, &token, &copy.outbox().unwrap());
    let codes: Vec<RejectionCode> = response.rejected.iter().map(|r| r.code).collect();
    assert_eq!(codes, vec![RejectionCode::NotPermitted; 2], "{:?}", response.rejected);

    let row = |id: Uuid| {
        programme
            .server
            .storage(|s| async move { sync_core::store::SyncStore::record(&s, id).await.unwrap().unwrap() })
    };
    assert_eq!(row(plot).body["review"], "submitted");
    assert_eq!(row(programme.task).body["required_depth_cm"], 20);
    assert_eq!(row(programme.task).body["teams"], json!(["Team 3"]));
    let hq_token = programme.hq.enrollment().unwrap().unwrap().1;
    let (_, approved) = tests::hq_get(&format!("{}/v1/hq/totals", programme.server.url()), Some(&hq_token));
    assert_eq!(approved["filter"]["review"], "approved");
    assert_eq!(approved["land_release"]["worked_areas"], 0, "{approved}");
    let (_, reported) = tests::hq_get(
        &format!("{}/v1/hq/totals?review=any", programme.server.url()),
        Some(&hq_token),
    );
    assert_eq!(reported["land_release"]["worked_areas"], 1, "{reported}");
}

/// A correction reaches only records its device may correct: a Team 3 device cannot take a Team 4 box out of HQ's
/// figures, and its refusal tells it nothing of Team 4's records.
#[test]
fn a_team_cannot_correct_another_teams_record_and_learns_nothing_of_it() {
    let mut programme = Programme::new();
    let team4_task = Uuid::now_v7();
    let mut definition = tests::task(team4_task);
    definition["label"] = json!("T-044");
    definition["teams"] = json!(["Team 4"]);
    create(&mut programme.hq, definition);
    let team4_box = create(
        &mut programme.hq,
        tests::worked_area(Uuid::now_v7(), team4_task, "T-044/SECRET-BOX"),
    );
    for step in ["submitted", "supervisor_approved"] {
        programme.hq.patch(team4_box, &json!({ "review": step })).unwrap();
    }
    programme.hq.sync(|_| {}).unwrap();

    for role in [DeviceRole::Deminer, DeviceRole::TeamLeader] {
        let (store, token) = programme.device(role);
        assert!(store.get(team4_box).is_err(), "Team 3 is not sent Team 4's box");
        // Crafted, with no check of any kind: a correction in Team 3's task naming Team 4's box, and one in
        // Team 4's task itself.
        for task in [programme.task, team4_task] {
            let mut correction = tests::worked_area(Uuid::now_v7(), task, "T-031/B3 (corrected)");
            correction["supersedes"] = json!(team4_box);
            let record = domain::Record::from_json(correction, Uuid::nil()).unwrap();
            let claim = domain::Authorship {
                device_id: Uuid::nil(),
                device: "tablet".into(),
                user: "someone".into(),
                action: "create".into(),
            };
            let (_, change) =
                domain::document::create(&record, automerge::ActorId::random(), &claim, noon().timestamp()).unwrap();
            let crafted = client_core::OutboxChange {
                record_id: record.id(),
                hash: change.hash().to_string(),
                bytes: change.raw_bytes().to_vec(),
            };
            let response = push_raw(&programme.server, &token, &[crafted]);
            assert_eq!(response.rejected.len(), 1, "{role}: {:?}", response.rejected);
            let rejection = &response.rejected[0];
            assert!(
                matches!(rejection.code, RejectionCode::OutOfScope | RejectionCode::NotPermitted),
                "{rejection:?}"
            );
            let told = serde_json::to_string(rejection).unwrap();
            for secret in [
                "T-044",
                "SECRET-BOX",
                "Team 4",
                &team4_box.to_string(),
                &team4_task.to_string(),
            ] {
                assert!(!told.contains(secret), "{role} was told {secret}: {told}");
            }
        }
    }
    let hq_token = programme.hq.enrollment().unwrap().unwrap().1;
    let (_, totals) = tests::hq_get(&format!("{}/v1/hq/totals", programme.server.url()), Some(&hq_token));
    assert_eq!(
        totals["land_release"]["worked_areas"], 1,
        "Team 4's approved box still counts: {totals}"
    );
}

/// Every change names who made it only as a claim; the server knows the writer. A change written with HQ's writer
/// id and pushed with a deminer's token is refused, and HQ's history names the device that really pushed each change.
#[test]
fn a_change_written_as_another_device_is_refused() {
    let mut programme = Programme::new();
    let (deminer, token) = programme.device(DeviceRole::Deminer);
    let mut doc = automerge::Automerge::new();
    for record in deminer.export_changes().unwrap() {
        if record.record_id == programme.task {
            let changes = record
                .changes
                .into_iter()
                .map(|b| automerge::Change::from_bytes(b).unwrap());
            doc.apply_changes(changes).unwrap();
        }
    }
    doc.set_actor(programme.hq.identity().actor.clone());
    let mut task = domain::document::materialize(&doc).unwrap().record;
    task.meta.label = "T-031 (renamed)".into();
    let claim = domain::Authorship {
        device_id: programme.hq.identity().device_id,
        device: "hq".into(),
        user: "HQ Director".into(),
        action: "edit".into(),
    };
    let change = domain::document::edit(&mut doc, &task, &claim, noon().timestamp())
        .unwrap()
        .unwrap();
    let forged = client_core::OutboxChange {
        record_id: programme.task,
        hash: change.hash().to_string(),
        bytes: change.raw_bytes().to_vec(),
    };
    let response = push_raw(&programme.server, &token, &[forged]);
    assert_eq!(response.rejected.len(), 1, "{:?}", response.rejected);
    assert_eq!(response.rejected[0].code, RejectionCode::AuthorMismatch);
    assert!(
        !response.rejected[0].message.contains("hq"),
        "{}",
        response.rejected[0].message
    );
}

/// Reconcile compares a device's records with the server's. Naming an id outside its scope tells the device nothing:
/// another team's record and an id that exists nowhere get the same answer.
#[test]
fn reconcile_does_not_reveal_whether_another_teams_record_exists() {
    let mut programme = Programme::new();
    let team4_task = Uuid::now_v7();
    let mut definition = tests::task(team4_task);
    definition["teams"] = json!(["Team 4"]);
    create(&mut programme.hq, definition);
    programme.hq.sync(|_| {}).unwrap();
    let (_, token) = programme.device(DeviceRole::TeamLeader);
    let nowhere = Uuid::now_v7();
    let digest = |record_id| protocol::DocumentDigest {
        record_id,
        digest: serde_bytes::ByteBuf::from(vec![0; 16]),
    };
    let request = SyncRequest {
        reconcile: Some(vec![digest(team4_task), digest(nowhere)]),
        ..SyncRequest::new(0, None)
    };
    let response = HttpTransport::new(&programme.server.url(), &token)
        .send(&request)
        .unwrap();
    let answer = |id: Uuid| {
        let entry = response.differ.iter().find(|d| d.record_id == id).unwrap();
        (entry.heads.len(), entry.send)
    };
    assert_eq!(answer(team4_task), answer(nowhere));
    assert_eq!(answer(nowhere), (0, true));
}
