//! The device store against a real SQLite file: persistence, lists, bad input, compaction.
#![allow(clippy::unwrap_used)]

use client_core::{ListFilter, Store, StoreError};
use domain::RecordType;
use serde_json::json;
use tests::*;
use uuid::Uuid;

#[test]
fn close_and_reopen_gives_identical_records_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db");
    let mut store = store(&path, "Tablet T-03", "A. Aliyev");
    let (_, _, find) = day_of_work(&mut store);
    store
        .patch(
            find,
            &json!({"quantity": 2, "notes": {"n1": {"text": "second PMN-2 beside the first"}}}),
        )
        .unwrap();
    let before = visible_state(&store);
    let identity = store.identity().clone();
    drop(store);

    let store = reopen(&path);
    assert_eq!(visible_state(&store), before);
    assert_eq!(store.identity(), &identity, "device identity and actor persist");
    let history = store.history(find).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].changed.get("quantity"), Some(&json!(2)));
    assert_eq!(history[1].author.as_ref().unwrap().user, "A. Aliyev");
    assert_eq!(history[1].author.as_ref().unwrap().action, "edit");
    assert!(
        history[1].changed.contains_key("notes/n1"),
        "history names the note added: {:?}",
        history[1].changed
    );
}

#[test]
fn open_without_init_says_how_to_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let error = Store::open(dir.path().join("missing.db")).unwrap_err();
    assert!(matches!(error, StoreError::NotInitialised(_)));
    assert!(error.to_string().contains("fieldsync init"), "{error}");
}

#[test]
fn lists_by_type_task_status_and_date() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(&dir.path().join("s.db"), "T", "U");
    let (task_a, _, find_a) = day_of_work(&mut store);
    let (task_b, wa_b, _) = day_of_work(&mut store);
    let mut late = find(Uuid::now_v7(), task_b, Some(wa_b), "F-0009");
    late["date_of_information"] = json!("2026-11-19");
    late["disposal"] = json!("disposed");
    late["location"]["lat"] = json!(40.5004);
    let late = create(&mut store, late);

    let ids = |filter: ListFilter| {
        store
            .list(&filter)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(ListFilter {
            record_type: Some(RecordType::Find),
            task: Some(task_a),
            ..Default::default()
        }),
        vec![find_a]
    );
    assert_eq!(
        ids(ListFilter {
            status: Some("disposed".into()),
            ..Default::default()
        }),
        vec![late]
    );
    let on_the_19th = ListFilter {
        to: Some("2026-11-19".parse().unwrap()),
        ..Default::default()
    };
    assert_eq!(ids(on_the_19th), vec![late]);
    let task_b_records = ids(ListFilter {
        task: Some(task_b),
        ..Default::default()
    });
    assert_eq!(task_b_records.len(), 4, "task, worked area and two finds");
    assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 7);
}

#[test]
fn labels_resolve_to_ids_and_ambiguous_labels_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(&dir.path().join("s.db"), "T", "U");
    let (task, _, find_id) = day_of_work(&mut store);
    assert_eq!(store.resolve_reference("F-0001").unwrap(), find_id);
    let mut twin = find(Uuid::now_v7(), task, None, "F-0001");
    twin["location"]["lat"] = json!(40.6);
    create(&mut store, twin);
    let error = store.resolve_reference("F-0001").unwrap_err();
    assert!(matches!(error, StoreError::AmbiguousLabel { count: 2, .. }), "{error}");
}

/// Every kind of bad input gets an error that names the problem, and the store does not change.
#[test]
fn bad_input_is_refused_with_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(&dir.path().join("s.db"), "T", "U");
    let (task, wa, _) = day_of_work(&mut store);
    let before = visible_state(&store);
    let outbox = store.outbox().unwrap().len();

    let mut out_of_range = find(Uuid::now_v7(), task, Some(wa), "F-0002");
    out_of_range["location"]["lat"] = json!(95.0);
    let mut zero = find(Uuid::now_v7(), task, Some(wa), "F-0003");
    zero["location"] = json!({"lat": 0.0, "lon": 0.0, "method": "handheld_gnss", "accuracy_m": 2.0});
    let mut negative_depth = find(Uuid::now_v7(), task, Some(wa), "F-0004");
    negative_depth["depth_cm"] = json!(-5);
    let mut metres = find(Uuid::now_v7(), task, Some(wa), "F-0005");
    metres.as_object_mut().unwrap().remove("depth_cm");
    metres["depth_m"] = json!(0.1);
    let mut hectares = worked_area(Uuid::now_v7(), task, "T-031/B4");
    hectares["reported_area_ha"] = json!(0.2);
    let mut fractional_cm = find(Uuid::now_v7(), task, Some(wa), "F-0006");
    fractional_cm["depth_cm"] = json!(10.5);

    let cases: Vec<(&str, String, &[&str])> = vec![
        ("malformed JSON", "{\"type\": \"find\", ".into(), &["not valid JSON"]),
        (
            "unknown record type",
            json!({"type": "minefield", "label": "x"}).to_string(),
            &["unknown record type", "minefield", "hazard_area"],
        ),
        ("no type", json!({"label": "x"}).to_string(), &["missing field `type`"]),
        (
            "latitude out of range",
            out_of_range.to_string(),
            &["coordinates", "location", "95"],
        ),
        ("(0,0)", zero.to_string(), &["coordinates", "(0,0)"]),
        (
            "negative depth",
            negative_depth.to_string(),
            &["depth_range", "depth_cm", "-5"],
        ),
        ("depth in metres", metres.to_string(), &["depth_m", "whole centimetres"]),
        (
            "area in hectares",
            hectares.to_string(),
            &["reported_area_ha", "square metres"],
        ),
        (
            "fractional centimetres",
            fractional_cm.to_string(),
            &["depth_cm", "10.5"],
        ),
        (
            "misspelt vocabulary",
            find(Uuid::now_v7(), task, Some(wa), "F-7")
                .to_string()
                .replace("ap_mine", "ap-mine"),
            &["category", "ap-mine", "ap_mine"],
        ),
    ];
    for (case, text, expected) in cases {
        let error = store.create_json(&text).expect_err(case).to_string();
        for needle in expected {
            assert!(
                error.contains(needle),
                "{case}: error should mention {needle:?}: {error}"
            );
        }
    }
    let errors = [
        store.patch(wa, &json!({"depth_achieved_cm": -1})).unwrap_err(),
        store.patch(wa, &json!({"type": "find"})).unwrap_err(),
        store
            .patch(
                wa,
                &json!({"shape": {"type": "Polygon", "coordinates": [[[47.5, 40.5], [47.6, 40.5]]]}}),
            )
            .unwrap_err(),
        store.patch(Uuid::now_v7(), &json!({"label": "x"})).unwrap_err(),
    ];
    assert!(errors[0].to_string().contains("depth_range"), "{}", errors[0]);
    assert!(errors[1].to_string().contains("`type` cannot change"), "{}", errors[1]);
    assert!(errors[2].to_string().contains("polygon"), "{}", errors[2]);
    assert!(matches!(errors[3], StoreError::NotFound(_)));

    assert_eq!(
        visible_state(&store),
        before,
        "a refused input must leave the store as it was"
    );
    assert_eq!(store.outbox().unwrap().len(), outbox);
}

#[test]
fn warnings_are_stored_with_the_record_and_do_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(&dir.path().join("s.db"), "T", "U");
    let (task, wa, _) = day_of_work(&mut store);
    let mut deep = find(Uuid::now_v7(), task, Some(wa), "F-0002");
    deep["depth_cm"] = json!(35);
    deep["location"]["lat"] = json!(40.5004);
    let saved = store.create_json(&deep.to_string()).unwrap();
    assert!(
        saved
            .warnings
            .iter()
            .any(|w| w.rule == domain::Rule::FindDeeperThanRequired && w.field == "depth_cm")
    );
    let stored = store.get(saved.id).unwrap();
    assert_eq!(stored.issues, saved.warnings);
    let summary = store
        .list(&ListFilter::default())
        .unwrap()
        .into_iter()
        .find(|s| s.id == saved.id)
        .unwrap();
    assert_eq!((summary.errors, summary.warnings), (0, 1));
}

#[test]
fn approved_records_are_corrected_by_a_superseding_record_not_edited() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(&dir.path().join("s.db"), "T", "U");
    // A supervisor approves, voids and corrects; a store never enrolled may only make and submit drafts.
    tests::enrolled_as(&store, tests::DeviceRole::Supervisor, &["Team 3"]);
    let (task, wa, find_id) = day_of_work(&mut store);
    store.patch(find_id, &json!({"review": "submitted"})).unwrap();
    store.patch(find_id, &json!({"review": "supervisor_approved"})).unwrap();
    let error = store.patch(find_id, &json!({"quantity": 3})).unwrap_err().to_string();
    assert!(error.contains("approved_immutable"), "{error}");
    assert!(
        store
            .void(find_id, "typed twice")
            .unwrap_err()
            .to_string()
            .contains("approved_immutable")
    );

    let mut correction = find(Uuid::now_v7(), task, Some(wa), "F-0001a");
    correction["supersedes"] = json!(find_id);
    correction["quantity"] = json!(3);
    let corrected = create(&mut store, correction);
    assert_eq!(
        store.get(find_id).unwrap().record.meta.review.as_str(),
        "supervisor_approved",
        "the old version stays visible"
    );
    assert_eq!(store.get(corrected).unwrap().record.meta.supersedes, Some(find_id));
}

#[test]
fn voided_records_stay_in_history_and_leave_default_lists() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store(&dir.path().join("s.db"), "T", "U");
    // A supervisor approves, voids and corrects; a store never enrolled may only make and submit drafts.
    tests::enrolled_as(&store, tests::DeviceRole::Supervisor, &["Team 3"]);
    let (_, _, find_id) = day_of_work(&mut store);
    store.void(find_id, "entered on the wrong tablet").unwrap();
    assert!(
        !store
            .list(&ListFilter::default())
            .unwrap()
            .iter()
            .any(|s| s.id == find_id)
    );
    let all = store
        .list(&ListFilter {
            include_void: true,
            ..Default::default()
        })
        .unwrap();
    assert!(all.iter().any(|s| s.id == find_id && s.voided));
    assert_eq!(store.history(find_id).unwrap().len(), 2);
}

#[test]
fn compaction_keeps_unacknowledged_changes_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = store(&path, "T", "U");
    let (_, _, find_id) = day_of_work(&mut store);
    for quantity in 2..6 {
        store.patch(find_id, &json!({"quantity": quantity})).unwrap();
    }
    let before = visible_state(&store);
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 7, "3 creations and 4 edits wait for a server");

    let report = store.compact().unwrap();
    assert_eq!(report.change_rows_removed, 0, "nothing acknowledged, nothing removed");
    assert_eq!(store.outbox().unwrap(), outbox);
    assert_eq!(visible_state(&store), before);

    let acked: Vec<String> = outbox.iter().take(5).map(|c| c.hash.clone()).collect();
    assert_eq!(store.acknowledge(&acked).unwrap(), 5);
    let report = store.compact().unwrap();
    assert_eq!(report.change_rows_removed, 5);
    assert_eq!(report.change_rows_kept, 2);
    assert_eq!(store.outbox().unwrap(), outbox[5..].to_vec());
    drop(store);
    let store = reopen(&path);
    assert_eq!(visible_state(&store), before, "the snapshot holds the full history");
    assert_eq!(store.history(find_id).unwrap().len(), 5);
}

#[test]
fn a_hazard_area_with_its_perimeter_is_stored_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = store(&path, "T", "U");
    let hazard = json!({
        "type": "hazard_area", "label": "CHA-FZ-0142", "date_of_information": DAY,
        "classification": "cha", "status": "open", "contamination": ["ap_mines", "uxo"], "evidence": ["direct_find"],
        "perimeter": {"type": "Polygon", "coordinates": square(47.5, 40.5, 0.002)}, "perimeter_accuracy_m": 2.0,
        "benchmark": {"lat": 40.4999, "lon": 47.4999, "method": "rtk_gnss", "accuracy_m": 0.05}
    });
    let id = store.create_json(&hazard.to_string()).unwrap().id;
    drop(store);
    let stored = reopen(&path).get(id).unwrap();
    assert_eq!(stored.record.to_json()["perimeter"], hazard["perimeter"]);
    assert_eq!(stored.record.to_json()["contamination"], json!(["ap_mines", "uxo"]));
}

#[test]
fn a_programme_merged_from_elsewhere_reads_back_as_it_was_made_in_every_record_type() {
    use client_core::DocumentChanges;
    use demo::{Scale, Scenario};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("laptop.db");
    let mut store = store(&path, "Camp laptop", "Supervisor");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let dataset = demo::generate(&Scenario::new(Scale::Small, 5, today));
    let plan = demo::plan(&dataset).unwrap();
    let batch = |created: bool| -> Vec<DocumentChanges> {
        plan.entries
            .iter()
            .filter(|e| e.creates == created)
            .map(|e| DocumentChanges {
                record_id: e.record_id,
                changes: e.changes.clone(),
            })
            .collect()
    };
    // A malformed change at the end of a batch of thousands refuses it all, though the chunks before it were
    // already written inside its transaction.
    let mut spoiled = batch(true);
    assert!(
        spoiled.len() > 1_000,
        "the batch is merged in several chunks: {}",
        spoiled.len()
    );
    let last = spoiled.len() - 1;
    spoiled[last].changes[0].truncate(40);
    let error = store.import_changes(&spoiled).unwrap_err();
    assert!(
        matches!(error, StoreError::BadChange { record, .. } if record == spoiled[last].record_id),
        "{error}"
    );
    assert_eq!(store.count().unwrap(), 0, "nothing of the refused batch is kept");

    // Records new to the store first (kept as their document's bytes), then their edits (kept as change rows).
    let created = store.import_changes(&batch(true)).unwrap();
    let edited = store.import_changes(&batch(false)).unwrap();
    assert_eq!(created.new_changes + edited.new_changes, plan.changes);
    assert!(edited.new_changes > 0, "the demo edits records after creating them");
    assert!(created.incomplete.is_empty() && edited.incomplete.is_empty());

    let check = |store: &Store| {
        let mut types = std::collections::BTreeSet::new();
        for history in dataset.histories() {
            let expected = history.record();
            let stored = store.get(expected.id()).unwrap();
            assert_eq!(&stored.record, expected, "{} reads back as made", expected.meta.label);
            types.insert(expected.record_type());
        }
        types
    };
    let types = check(&store);
    assert!(types.len() >= 7, "the demo covers the record types: {types:?}");
    assert_eq!(store.count().unwrap(), dataset.record_count());
    assert!(
        store.outbox().unwrap().is_empty(),
        "nothing merged is this device's to deliver"
    );

    // Reopened, every change of every record is still there, and merging it all again adds nothing.
    drop(store);
    let mut store = reopen(&path);
    check(&store);
    let held: usize = store.export_changes().unwrap().iter().map(|d| d.changes.len()).sum();
    assert_eq!(held, plan.changes);
    let again = store.import_changes(&store.export_changes().unwrap()).unwrap();
    assert_eq!((again.new_changes, again.records_changed.len()), (0, 0));
}

/// A lost tablet's store is its owner's alone on the machine it is copied to: the file and the WAL and
/// shared-memory files SQLite makes beside it are 0600 from the first write.
#[test]
fn a_new_store_and_its_journal_files_are_readable_by_their_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablet.db");
    let mut store = store(&path, "Tablet T-03", "A. Aliyev");
    day_of_work(&mut store);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "the store file");
    for suffix in ["-wal", "-shm"] {
        let journal = dir.path().join(format!("tablet.db{suffix}"));
        assert!(journal.exists(), "a write in WAL mode leaves {}", journal.display());
        assert_eq!(mode(&journal), 0o600, "{}", journal.display());
    }
    drop(store);
    let err = Store::init(&path, "Tablet T-04", "B. Mammadov").unwrap_err();
    assert!(matches!(err, StoreError::AlreadyInitialised(_)), "{err}");
}
