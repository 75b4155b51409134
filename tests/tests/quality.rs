//! HQ's data-quality report over real syncs: a tablet records an overlapping worked area, a duplicate find and a
//! find outside its worked area (warnings on the tablet, accepted by the server, which checks no siblings), and
//! `GET /v1/hq/quality` names each, with the other record of each pair.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use tests::*;
use uuid::Uuid;

fn get(url: &str, token: &str) -> (u16, Value) {
    hq_get(url, Some(token))
}

#[test]
fn the_quality_report_names_overlaps_duplicates_and_finds_outside_their_worked_area() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut tablet = store(&dir.path().join("tablet.db"), "tablet", "A. Aliyev");
    let (_, token) = server.enrol("tablet", &["Team 3"], DeviceRole::Supervisor);
    enrolled(&mut tablet, &server, &token);
    let (task, box_b3, find) = day_of_work(&mut tablet);

    // Box B4 overlaps B3 by half; F-0002 is F-0001 again, 30 cm away; F-0003 lies 200 m outside B3.
    let box_b4 = Uuid::now_v7();
    let mut b4 = worked_area(box_b4, task, "T-031/B4");
    b4["shape"]["coordinates"] = square(47.50025, 40.5, 0.0005);
    create(&mut tablet, b4);
    let duplicate = create(&mut tablet, tests::find(Uuid::now_v7(), task, Some(box_b3), "F-0002"));
    let mut far = tests::find(Uuid::now_v7(), task, Some(box_b3), "F-0003");
    far["location"]["lon"] = json!(47.5025);
    far["model"] = json!("TM-62M");
    far["category"] = json!("at_mine");
    let outside = create(&mut tablet, far);
    let report = tablet.sync(|_| {}).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);

    let (_, hq_token) = server.enrol("hq", &[], DeviceRole::Hq);
    let (status, body) = get(&format!("{}/v1/hq/quality", server.url()), &hq_token);
    assert_eq!(status, 200, "{body}");
    let findings = body["findings"].as_array().unwrap();
    let of_kind = |kind: &str| -> Vec<&Value> { findings.iter().filter(|f| f["kind"] == kind).collect() };
    let pair = |f: &Value| {
        let mut ids = [
            f["record_id"].as_str().unwrap().to_string(),
            f["other_record_id"].as_str().unwrap().to_string(),
        ];
        ids.sort();
        ids
    };
    let sorted = |a: Uuid, b: Uuid| {
        let mut ids = [a.to_string(), b.to_string()];
        ids.sort();
        ids
    };

    let overlaps = of_kind("overlapping_worked_areas");
    assert_eq!(overlaps.len(), 1, "one overlap, reported once: {findings:?}");
    assert_eq!(pair(overlaps[0]), sorted(box_b3, box_b4));
    let duplicates = of_kind("duplicate_find_candidate");
    assert_eq!(duplicates.len(), 1, "{findings:?}");
    assert_eq!(pair(duplicates[0]), sorted(find, duplicate));
    let outside_findings = of_kind("find_outside_worked_area");
    assert_eq!(outside_findings.len(), 1, "{findings:?}");
    assert_eq!(outside_findings[0]["record_id"], outside.to_string());
    assert!(of_kind("invalid_polygon").is_empty());
    // The server stored the outside-the-box warning at ingress (the worked area is a linked record).
    assert!(
        of_kind("carries_warnings")
            .iter()
            .any(|f| f["record_id"] == outside.to_string())
    );

    // One task's report, and only hq or admin tokens.
    let (status, one) = get(&format!("{}/v1/hq/quality?task={task}", server.url()), &hq_token);
    assert_eq!(status, 200);
    assert_eq!(one["findings"].as_array().unwrap().len(), findings.len());
    let (status, _) = get(&format!("{}/v1/hq/quality", server.url()), &token);
    assert_eq!(status, 403);
}

#[test]
fn the_quality_report_lists_open_conflicts_until_decided_and_the_wait_in_review_since_the_status_was_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let mut tablet = store(&dir.path().join("tablet.db"), "Team 3 tablet", "A. Aliyev");
    let (_, token) = server.enrol("tablet", &["Team 3"], DeviceRole::Supervisor);
    enrolled(&mut tablet, &server, &token);
    let mut laptop = store(&dir.path().join("laptop.db"), "Base camp laptop", "R. Mammadova");
    let (_, token) = server.enrol("laptop", &["Team 3"], DeviceRole::Supervisor);
    enrolled(&mut laptop, &server, &token);
    let (_, hq_token) = server.enrol("hq", &[], DeviceRole::Hq);
    let (task, box_b3, find) = day_of_work(&mut tablet);
    tablet.sync(|_| {}).unwrap();
    laptop.sync(|_| {}).unwrap();

    // Offline, the team leader and the supervisor count the find's items differently; both reach the server.
    tablet.patch(find, &json!({"quantity": 2})).unwrap();
    laptop.patch(find, &json!({"quantity": 3})).unwrap();
    for device in [&mut tablet, &mut laptop] {
        let report = device.sync(|_| {}).unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    }
    // Days later, by its own clock, the tablet submits the worked area for review.
    tablet.set_clock(chrono::Utc::now);
    tablet.patch(box_b3, &json!({"review": "submitted"})).unwrap();
    tablet.sync(|_| {}).unwrap();

    let url = format!("{}/v1/hq/quality", server.url());
    let (status, body) = get(&url, &hq_token);
    assert_eq!(status, 200, "{body}");
    let of = |body: &Value, kind: &str, id: Uuid| -> Vec<String> {
        body["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == kind && f["record_id"] == id.to_string())
            .map(|f| f["detail"].as_str().unwrap().to_string())
            .collect()
    };
    let conflict = of(&body, "open_conflict", find);
    assert_eq!(conflict.len(), 1, "{body}");
    for part in [
        "`quantity`",
        "2 (A. Aliyev on Team 3 tablet)",
        "3 (R. Mammadova on Base camp laptop)",
    ] {
        assert!(conflict[0].contains(part), "{part} in {}", conflict[0]);
    }
    // The task has been a draft since the tablet entered it at noon on the 20th (more than a week before any day
    // this test runs); the worked area was submitted just now.
    let task_wait = of(&body, "stuck_in_review", task);
    assert_eq!(task_wait.len(), 1, "{body}");
    assert!(
        task_wait[0].contains("draft") && task_wait[0].contains("(2026-11-20 12:00 UTC)"),
        "{task_wait:?}"
    );
    assert!(of(&body, "stuck_in_review", box_b3).is_empty(), "{body}");

    // The supervisor decides; the finding is gone once the decision reaches the server.
    laptop.sync(|_| {}).unwrap();
    laptop.resolve(find, &[("quantity".to_string(), json!(3))]).unwrap();
    laptop.sync(|_| {}).unwrap();
    let (_, body) = get(&url, &hq_token);
    assert!(of(&body, "open_conflict", find).is_empty(), "{body}");
}

/// Approvals recorded before roles were enforced stay approved, and the quality report lists each one whose device
/// could not have given it. The log such a server wrote is stood in for by appending through the storage contract,
/// as that server's ingress did, with nothing checked.
#[test]
fn approvals_a_device_could_not_give_are_listed_not_undone() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let (leader, _) = server.enrol("Team 3 tablet", &["Team 3"], DeviceRole::TeamLeader);
    let (supervisor, _) = server.enrol("Base camp laptop", &["Team 3"], DeviceRole::Supervisor);
    let (_, hq_token) = server.enrol("hq", &[], DeviceRole::Hq);
    let task = Uuid::now_v7();
    let mut records = vec![(tests::task(task), supervisor)];
    for (label, approver) in [("T-031/B1", leader), ("T-031/B2", supervisor)] {
        let mut plot = tests::worked_area(Uuid::now_v7(), task, label);
        plot["review"] = json!("supervisor_approved");
        plot["shape"]["coordinates"] = square(if label.ends_with('1') { 47.5 } else { 47.502 }, 40.5, 0.0005);
        records.push((plot, approver));
    }
    for (json, device) in records {
        let record = domain::Record::from_json(json, Uuid::nil()).unwrap();
        let claim = domain::Authorship {
            device_id: device,
            device: "old".into(),
            user: "old".into(),
            action: "create".into(),
        };
        let (doc, change) =
            domain::document::create(&record, automerge::ActorId::random(), &claim, noon().timestamp()).unwrap();
        let mut row = sync_core::ingress::row_of(&record, vec![], vec![], &doc);
        row.review_by = Some(device);
        let ingest = sync_core::store::Ingest {
            record: row,
            changes: vec![sync_core::store::NewChange {
                hash: change.hash().0,
                bytes: change.raw_bytes().to_vec(),
                actor: change.actor_id().to_bytes().to_vec(),
            }],
            device_id: device,
            received_at: noon(),
            grants: vec![],
            snapshot: None,
            feature: Some(layers::feature(&record)),
        };
        server.storage(|s| async move { sync_core::store::SyncStore::ingest(&s, ingest).await.unwrap() });
    }

    let (status, body) = get(&format!("{}/v1/hq/quality", server.url()), &hq_token);
    assert_eq!(status, 200, "{body}");
    let listed: Vec<&Value> = body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "approval_not_authorised")
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["label"], "T-031/B1");
    let detail = listed[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Team 3 tablet") && detail.contains("team-leader may not approve"),
        "{detail}"
    );
    let (_, totals) = get(&format!("{}/v1/hq/totals", server.url()), &hq_token);
    assert_eq!(
        totals["land_release"]["worked_areas"], 2,
        "nothing is silently un-approved: {totals}"
    );
}
