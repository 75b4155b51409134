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
