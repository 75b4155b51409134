//! Devices edit offline, then exchange changes: nothing is lost, and concurrent edits of one field stay visible.
#![allow(clippy::unwrap_used)]

use client_core::{DocumentChanges, Store, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tempfile::TempDir;
use tests::*;
use uuid::Uuid;

/// Two tablets with the same day of work on both.
fn two_devices() -> (TempDir, Store, Store, (Uuid, Uuid, Uuid)) {
    let dir = tempfile::tempdir().unwrap();
    let mut a = store(&dir.path().join("a.db"), "Tablet A", "Team leader Aliyev");
    let mut b = store(&dir.path().join("b.db"), "Laptop B", "Supervisor Mammadova");
    tests::enrolled_as(&b, tests::DeviceRole::Supervisor, &["Team 3"]);
    let ids = day_of_work(&mut a);
    exchange(&a, &mut b);
    (dir, a, b, ids)
}

fn conflict_values(store: &Store, id: Uuid, field: &str) -> Vec<(Value, String)> {
    let stored = store.get(id).unwrap();
    let conflict = stored
        .conflicts
        .iter()
        .find(|c| c.field == field)
        .unwrap_or_else(|| panic!("no conflict on {field}: {:?}", stored.conflicts));
    let mut values: Vec<_> = conflict
        .candidates
        .iter()
        .map(|c| (c.value.clone(), c.author.as_ref().unwrap().user.clone()))
        .collect();
    values.sort_by_key(|v| v.0.to_string());
    values
}

#[test]
fn exchanging_in_either_direction_gives_identical_documents() {
    for a_first in [true, false] {
        let (_dir, mut a, mut b, (_, _, find)) = two_devices();
        a.patch(find, &json!({"quantity": 2})).unwrap();
        b.patch(find, &json!({"depth_cm": 12, "condition": "corroded"}))
            .unwrap();
        if a_first {
            exchange(&a, &mut b);
            exchange(&b, &mut a);
        } else {
            exchange(&b, &mut a);
            exchange(&a, &mut b);
        }
        assert_eq!(visible_state(&a), visible_state(&b));
        let merged = a.get(find).unwrap();
        assert!(
            merged.conflicts.is_empty(),
            "different fields merge cleanly: {:?}",
            merged.conflicts
        );
        let json = merged.record.to_json();
        assert_eq!(
            (
                json["quantity"].clone(),
                json["depth_cm"].clone(),
                json["condition"].clone()
            ),
            (json!(2), json!(12), json!("corroded"))
        );
    }
}

#[test]
fn a_find_category_edited_on_two_devices_is_a_conflict_with_both_values_and_authors() {
    let (_dir, mut a, mut b, (_, _, find)) = two_devices();
    a.patch(find, &json!({"category": "uxo", "model": "VOG-17"})).unwrap();
    b.patch(find, &json!({"category": "at_mine", "model": "TM-62M"}))
        .unwrap();
    exchange(&a, &mut b);
    exchange(&b, &mut a);
    assert_eq!(visible_state(&a), visible_state(&b));
    for store in [&a, &b] {
        assert_eq!(
            conflict_values(store, find, "category"),
            vec![
                (json!("at_mine"), "Supervisor Mammadova".to_string()),
                (json!("uxo"), "Team leader Aliyev".to_string())
            ]
        );
        assert_eq!(conflict_values(store, find, "model").len(), 2);
    }
    let listed = a.conflicts().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0.id, find);
}

#[test]
fn a_polygon_edited_on_two_devices_is_a_conflict_and_never_blended() {
    let (_dir, mut a, mut b, (_, worked_area, _)) = two_devices();
    let east = json!({"type": "Polygon", "coordinates": square(47.5001, 40.5, 0.0005)});
    let north = json!({"type": "Polygon", "coordinates": square(47.5, 40.5001, 0.0005)});
    a.patch(worked_area, &json!({"shape": east})).unwrap();
    b.patch(worked_area, &json!({"shape": north})).unwrap();
    exchange(&a, &mut b);
    exchange(&b, &mut a);
    assert_eq!(visible_state(&a), visible_state(&b));
    let candidates: BTreeSet<String> = conflict_values(&a, worked_area, "shape")
        .into_iter()
        .map(|(v, _)| v.to_string())
        .collect();
    assert_eq!(candidates, BTreeSet::from([east.to_string(), north.to_string()]));
    let shown = a.get(worked_area).unwrap().record.to_json()["shape"].clone();
    assert!(
        shown == east || shown == north,
        "the shown polygon must be one of the two whole polygons, got {shown}"
    );
}

#[test]
fn safety_fields_show_the_more_dangerous_value_until_a_supervisor_decides() {
    let (_dir, mut a, mut b, (task, _, find)) = two_devices();
    let plot = Uuid::now_v7();
    let mut negative = worked_area(plot, task, "T-031/B5");
    negative["outcome"] = json!("searched_negative");
    negative["shape"] = json!({"type": "Polygon", "coordinates": square(47.502, 40.5, 0.0005)});
    create(&mut a, negative);
    exchange(&a, &mut b);

    a.patch(plot, &json!({"outcome": "cleared"})).unwrap();
    b.patch(plot, &json!({"outcome": "searched_positive"})).unwrap();
    a.patch(find, &json!({"disposal": "disposed"})).unwrap();
    b.patch(find, &json!({"disposal": "handed_over"})).unwrap();
    exchange(&a, &mut b);
    exchange(&b, &mut a);
    for store in [&a, &b] {
        let shown = store.get(plot).unwrap().record.to_json();
        assert_eq!(
            shown["outcome"],
            json!("searched_positive"),
            "a merge never makes a plot cleared"
        );
        assert_eq!(
            store.get(find).unwrap().record.to_json()["disposal"],
            json!("handed_over")
        );
        let listed = store
            .list(&client_core::ListFilter {
                status: Some("cleared".into()),
                ..Default::default()
            })
            .unwrap();
        assert!(
            !listed.iter().any(|s| s.id == plot),
            "lists show the dangerous value too"
        );
    }

    // An unrelated edit leaves the conflict open.
    a.patch(plot, &json!({"notes": {"n1": {"text": "rechecked lanes 3-4"}}}))
        .unwrap();
    assert_eq!(a.get(plot).unwrap().conflicts.len(), 1);

    // The supervisor's decision is a recorded change that reaches every device.
    b.resolve(plot, &[("outcome".into(), json!("cleared"))]).unwrap();
    exchange(&b, &mut a);
    exchange(&a, &mut b);
    assert_eq!(visible_state(&a), visible_state(&b));
    let decided = a.get(plot).unwrap();
    assert!(decided.conflicts.is_empty());
    assert_eq!(decided.record.to_json()["outcome"], json!("cleared"));
    let last = a
        .history(plot)
        .unwrap()
        .into_iter()
        .find(|h| h.author.as_ref().unwrap().action == "resolve")
        .unwrap();
    assert_eq!(last.author.unwrap().user, "Supervisor Mammadova");
    assert_eq!(last.changed.get("outcome"), Some(&json!("cleared")));

    let error = a
        .resolve(plot, &[("outcome".into(), json!("reduced"))])
        .unwrap_err()
        .to_string();
    assert!(error.contains("no conflict on `outcome`"), "{error}");
}

#[test]
fn notes_and_photos_merge_as_sets() {
    let (_dir, mut a, mut b, (_, _, find)) = two_devices();
    a.patch(
        find,
        &json!({"photos": ["aa11"], "notes": {"a1": {"text": "tripwire cut"}}}),
    )
    .unwrap();
    b.patch(
        find,
        &json!({"photos": ["bb22"], "notes": {"b1": {"text": "second photo from the south"}}}),
    )
    .unwrap();
    exchange(&a, &mut b);
    exchange(&b, &mut a);
    assert_eq!(visible_state(&a), visible_state(&b));
    let merged = a.get(find).unwrap();
    assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
    let json = merged.record.to_json();
    assert_eq!(json["photos"], json!(["aa11", "bb22"]));
    assert_eq!(
        json["notes"].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["a1", "b1"]
    );
}

#[test]
fn three_devices_syncing_in_different_orders_converge_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut devices: Vec<Store> = (0..3)
        .map(|i| {
            store(
                &dir.path().join(format!("{i}.db")),
                &format!("Tablet {i}"),
                &format!("User {i}"),
            )
        })
        .collect();
    let (task, wa, find) = day_of_work(&mut devices[0]);
    let snapshot = devices[0].export_changes().unwrap();
    for d in &mut devices[1..] {
        d.import_changes(&snapshot).unwrap();
    }
    let mut created = Vec::new();
    for (i, d) in devices.iter_mut().enumerate() {
        let mut own = tests::find(Uuid::now_v7(), task, Some(wa), &format!("F-10{i}"));
        own["location"]["lat"] = json!(40.5003 + i as f64 * 0.0001);
        created.push(create(d, own));
        d.patch(find, &json!({"quantity": 2 + i})).unwrap();
    }
    for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
        for pair in order.windows(2) {
            let changes = devices[pair[0]].export_changes().unwrap();
            devices[pair[1]].import_changes(&changes).unwrap();
        }
    }
    for pair in [[2, 0], [0, 1], [1, 2]] {
        let changes = devices[pair[0]].export_changes().unwrap();
        devices[pair[1]].import_changes(&changes).unwrap();
    }
    let first = visible_state(&devices[0]);
    assert!(
        devices.iter().all(|d| visible_state(d) == first),
        "all devices converge"
    );
    for id in created {
        assert!(
            devices.iter().all(|d| d.get(id).is_ok()),
            "record {id} reached every device"
        );
    }
    let quantity = conflict_values(&devices[0], find, "quantity");
    assert_eq!(quantity.len(), 3, "three concurrent quantities, all visible");
    assert_eq!(
        devices[0].get(find).unwrap().record.to_json()["quantity"],
        json!(4),
        "the largest count is shown"
    );
}

#[test]
fn importing_the_same_changes_twice_changes_nothing() {
    let (_dir, mut a, mut b, (_, _, find)) = two_devices();
    a.patch(find, &json!({"quantity": 3})).unwrap();
    let changes = a.export_changes().unwrap();
    let first = b.import_changes(&changes).unwrap();
    assert_eq!(first.new_changes, 1);
    let state = visible_state(&b);
    let again = b.import_changes(&changes).unwrap();
    assert_eq!(again.new_changes, 0);
    assert_eq!(visible_state(&b), state);
}

#[test]
fn malformed_changes_are_refused_naming_the_record_and_change_nothing() {
    let (_dir, a, mut b, (_, _, find)) = two_devices();
    let before = visible_state(&b);
    let mut batch = a.export_changes().unwrap();
    batch.push(DocumentChanges {
        record_id: find,
        changes: vec![b"not an automerge change".to_vec()],
    });
    let error = b.import_changes(&batch).unwrap_err();
    assert!(
        matches!(error, StoreError::BadChange { record, .. } if record == find),
        "{error}"
    );
    assert!(error.to_string().contains(&find.to_string()));
    assert_eq!(visible_state(&b), before);
}

#[test]
fn changes_that_arrive_before_their_dependencies_are_kept_until_they_complete() {
    let (_dir, mut a, _b, (task, _, _)) = two_devices();
    let dir = tempfile::tempdir().unwrap();
    let mut c = store(&dir.path().join("c.db"), "Tablet C", "C");
    let late = create(&mut a, tests::find(Uuid::now_v7(), task, None, "F-0200"));
    a.patch(late, &json!({"quantity": 4})).unwrap();
    let all = a.export_changes().unwrap();
    let doc = all.iter().find(|d| d.record_id == late).unwrap();
    let edit_only = DocumentChanges {
        record_id: late,
        changes: vec![doc.changes[1].clone()],
    };

    let report = c.import_changes(&[edit_only]).unwrap();
    assert_eq!(report.incomplete.len(), 1, "{report:?}");
    assert!(matches!(c.get(late), Err(StoreError::NotFound(_))));

    c.import_changes(&all).unwrap();
    assert_eq!(c.get(late).unwrap().record.to_json()["quantity"], json!(4));
}

#[test]
fn warnings_are_the_same_on_every_device_whatever_order_records_arrived_in() {
    let (_dir, mut a, mut b, (task, wa, original)) = two_devices();
    // B records a second find on the same spot; A learns of it only after its own find was stored.
    let twin = create(&mut b, tests::find(Uuid::now_v7(), task, Some(wa), "F-0002"));
    exchange(&b, &mut a);
    for store in [&a, &b] {
        for id in [original, twin] {
            let rules: Vec<_> = store.get(id).unwrap().issues.iter().map(|i| i.rule).collect();
            assert_eq!(
                rules,
                vec![domain::Rule::DuplicateFind],
                "{id} on {:?}",
                store.identity().device_name
            );
        }
    }
    assert_eq!(visible_state(&a), visible_state(&b));
}
