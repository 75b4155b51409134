//! USB bundles at the camp, as a supervisor carries them: `fieldsync-server import-bundle` and `export-bundle` on
//! a real data directory, with real device stores on both ends and the real server binary serving in between.
#![allow(clippy::unwrap_used)]

mod common;

use client_core::BundleContents;
use common::{DAY, Server, create, day_of_work, device, path, records};
use serde_json::json;
use uuid::Uuid;

#[test]
fn a_tablets_day_on_a_usb_stick_goes_through_ingress_once_and_reaches_hq() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(&dir.path().join("camp"));
    let url = server.serve();
    let (_, tablet_token) = server.enrol("tablet-3", "supervisor");
    let (_, deminer_token) = server.enrol("tablet-7", "deminer");
    let (hq_id, hq_token) = server.enrol("hq", "hq");

    // Each tablet was enrolled over the camp's Wi-Fi, then worked in the field for the day.
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-3");
    tablet.enroll(&url, &tablet_token).unwrap();
    tablet.sync(|_| {}).unwrap();
    let mut deminer = device(&dir.path().join("deminer.db"), "tablet-7");
    deminer.enroll(&url, &deminer_token).unwrap();
    deminer.sync(|_| {}).unwrap();
    server.stop();
    day_of_work(&mut tablet, "T-031");
    let made = records(&tablet);
    // A deminer's store that claims to be a supervisor's, as an attacker with a deminer's token would make it:
    // its own store lets it write a task; the server decides by the credential that sealed the bundle.
    common::claim_role(&deminer, domain::Role::Supervisor);
    let forged_task = create(
        &mut deminer,
        json!({
            "type": "task", "id": Uuid::now_v7(), "label": "T-999", "date_of_information": DAY, "activity": "clearance",
            "status": "active", "organisation": "ANAMA", "teams": ["Team 3"], "required_depth_cm": 20
        }),
    );

    let stick = dir.path().join("stick.fsb");
    let written = tablet.export_bundle(&stick, BundleContents::New).unwrap();
    assert_eq!((written.records, written.changes), (3, 3));
    let logged = server.logged();

    // A bit flipped on the way: refused whole, with the reason, and nothing stored.
    let bytes = std::fs::read(&stick).unwrap();
    let damaged = dir.path().join("damaged.fsb");
    for at in [0, 30, 60, bytes.len() / 2, bytes.len() - 1] {
        let mut copy = bytes.clone();
        copy[at] ^= 0x10;
        std::fs::write(&damaged, &copy).unwrap();
        let error = server.fails(&["import-bundle", path(&damaged)]);
        assert!(
            error.contains("nothing of it stored") || error.contains("not a fieldsync bundle"),
            "{error}"
        );
    }
    std::fs::write(&damaged, &bytes[..bytes.len() - 7]).unwrap();
    assert!(server.fails(&["import-bundle", path(&damaged)]).contains("damaged"));
    assert_eq!(server.logged(), logged, "nothing of a damaged bundle was stored");
    assert_eq!(server.quarantined(), 0);

    // The bundle as written: three new changes; the same bundle again changes nothing.
    let out = server.ok(&["import-bundle", path(&stick)]);
    assert!(
        out.contains("bundle from tablet-3") && out.contains("accepted 3 changes, 3 of them new"),
        "{out}"
    );
    assert_eq!(server.logged(), logged + 3);
    let again = server.ok(&["import-bundle", path(&stick)]);
    assert!(again.contains("accepted 3 changes, 0 of them new"), "{again}");
    assert_eq!(server.logged(), logged + 3);

    // The forged task is refused as the deminer's, kept in quarantine once however often it is imported.
    let forged = dir.path().join("forged.fsb");
    deminer.export_bundle(&forged, BundleContents::New).unwrap();
    let out = server.ok(&["import-bundle", path(&forged)]);
    assert!(
        out.contains("bundle from tablet-7") && out.contains("1 records refused"),
        "{out}"
    );
    assert!(
        out.contains(&forged_task.to_string()) && out.contains("[not_permitted]"),
        "{out}"
    );
    server.ok(&["import-bundle", path(&forged)]);
    assert_eq!(server.quarantined(), 1, "a refusal imported twice is kept once");
    assert_eq!(server.logged(), logged + 3);

    // The same bundle made to claim HQ's device: the seal is the deminer's, so it is not taken as HQ's.
    let mut opened = protocol::bundle::read(&std::fs::read(&forged).unwrap()).unwrap().bundle;
    opened.header.source.id = hq_id;
    let claimed = dir.path().join("claimed.fsb");
    let key = protocol::bundle::seal_key(&deminer_token);
    std::fs::write(&claimed, opened.to_bytes(Some(&key)).unwrap()).unwrap();
    let error = server.fails(&["import-bundle", path(&claimed)]);
    assert!(error.contains("sealed by tablet-7's credential"), "{error}");
    // A store never enrolled writes an unsealed bundle, which a server cannot take as anyone's.
    let mut stranger = device(&dir.path().join("stranger.db"), "stranger");
    day_of_work(&mut stranger, "T-500");
    let unsealed = dir.path().join("unsealed.fsb");
    stranger.export_bundle(&unsealed, BundleContents::New).unwrap();
    assert!(server.fails(&["import-bundle", path(&unsealed)]).contains("not sealed"));
    assert_eq!(server.logged(), logged + 3);

    // While the server serves, an import is refused (one process validates at a time) and the server is unharmed.
    let url = server.serve();
    let error = server.fails(&["import-bundle", path(&stick)]);
    assert!(
        error.contains("in use by another fieldsync-server (serve, pid"),
        "{error}"
    );

    // HQ sees the tablet's day; the tablet's next sync pushes nothing the server holds again.
    let mut hq = device(&dir.path().join("hq.db"), "hq");
    hq.enroll(&url, &hq_token).unwrap();
    hq.sync(|_| {}).unwrap();
    assert_eq!(records(&hq), made);
    assert_eq!(tablet.sync(|_| {}).unwrap().accepted, 3);
    assert!(tablet.outbox().unwrap().is_empty());
    assert_eq!(server.logged(), logged + 3, "nothing was appended twice");
    let status = deminer.sync(|_| {}).unwrap();
    assert_eq!(status.rejected.len(), 1, "the deminer hears of the refusal: {status:?}");
}

#[test]
fn a_device_the_server_cannot_reach_gets_what_it_may_see_on_a_usb_stick() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(&dir.path().join("camp"));
    let url = server.serve();
    let (_, supervisor_token) = server.enrol("tablet-3", "supervisor");
    let (_, token) = server.enrol("tablet-9", "deminer");
    let mut supervisor = device(&dir.path().join("supervisor.db"), "tablet-3");
    supervisor.enroll(&url, &supervisor_token).unwrap();
    day_of_work(&mut supervisor, "T-031");
    supervisor.sync(|_| {}).unwrap();

    // The new tablet was given its credential but has not reached the server: its first records come by stick.
    let stick = dir.path().join("for-tablet-9.fsb");
    let out = server.ok(&["export-bundle", "--device", "tablet-9", path(&stick)]);
    assert!(
        out.contains("for tablet-9") && out.contains("3 records, 3 changes"),
        "{out}"
    );
    let error = server.fails(&["export-bundle", "--device", "tablet-99", path(&stick)]);
    assert!(error.contains("no device is enrolled as \"tablet-99\""), "{error}");
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-9");
    tablet.enroll(&url, &token).unwrap();
    let imported = tablet.import_bundle(&std::fs::read(&stick).unwrap()).unwrap();
    assert_eq!(imported.report.new_changes, 3);
    assert_eq!(records(&tablet), records(&supervisor));
    // A server's bundle is for its devices: imported at a server, it is refused.
    server.stop();
    assert!(
        server
            .fails(&["import-bundle", path(&stick)])
            .contains("written by a server")
    );
    server.serve();
    tablet.sync(|_| {}).unwrap();
    assert_eq!(
        records(&tablet),
        records(&supervisor),
        "its first sync finds what the stick brought"
    );
}

#[test]
fn a_tablets_stick_imported_on_a_laptop_reaches_the_server_at_the_laptops_next_sync_as_the_tablets_work() {
    use sync_core::store::SyncStore;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(&dir.path().join("camp"));
    let url = server.serve();
    let (tablet_id, tablet_token) = server.enrol("tablet-7", "deminer");
    let (laptop_id, laptop_token) = server.enrol("supervisor-laptop", "supervisor");
    let mut laptop = device(&dir.path().join("laptop.db"), "supervisor-laptop");
    laptop.enroll(&url, &laptop_token).unwrap();
    let task = day_of_work(&mut laptop, "T-031");
    laptop.sync(|_| {}).unwrap();
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-7");
    tablet.enroll(&url, &tablet_token).unwrap();
    tablet.sync(|_| {}).unwrap();

    // In the field, out of reach: the deminer records a find, and, with a store made to claim a supervisor's role,
    // a task, which a deminer may not create: the supervisor's laptop that carries the stick lends it no role.
    common::claim_role(&tablet, domain::Role::Supervisor);
    let area = laptop
        .list(&client_core::ListFilter {
            record_type: Some(domain::RecordType::WorkedArea),
            ..Default::default()
        })
        .unwrap()[0]
        .id;
    let find = common::find_in(&mut tablet, task, area, "F-0107");
    let task_of_its_own = create(
        &mut tablet,
        json!({
            "type": "task", "id": Uuid::now_v7(), "label": "T-700", "date_of_information": DAY, "activity": "clearance",
            "status": "active", "organisation": "ANAMA", "teams": ["Team 3"], "required_depth_cm": 20
        }),
    );
    let stick = dir.path().join("tablet-7.fsb");
    tablet.export_bundle(&stick, BundleContents::New).unwrap();

    // The supervisor's laptop takes the stick, sees the find at once, and forwards the stick at its next sync.
    let imported = laptop.import_bundle(&std::fs::read(&stick).unwrap()).unwrap();
    assert!(imported.carried);
    assert!(laptop.get(find).is_ok());
    let again = laptop.import_bundle(&std::fs::read(&stick).unwrap()).unwrap();
    assert!(!again.carried, "the same stick is kept once");
    let logged = server.logged();
    let forwarded = laptop.forward_carried_bundles().unwrap();
    assert_eq!(
        (forwarded.bundles, forwarded.accepted, forwarded.refused),
        (1, 1, 1),
        "{forwarded:?}"
    );
    assert_eq!(
        server.logged(),
        logged + 1,
        "the find, and not the task a deminer may not create"
    );
    let carried = laptop.carried_bundles().unwrap();
    assert!(carried.len() == 1 && carried[0].forwarded_at.is_some(), "{carried:?}");
    // Forwarded once: the next sync sends it no more.
    assert_eq!(laptop.forward_carried_bundles().unwrap().bundles, 0);
    laptop.sync(|_| {}).unwrap();
    assert_eq!(server.logged(), logged + 1);

    // The server took the find as the deminer's push, not the laptop's.
    server.stop();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let storage = store_sqlite::SqliteStorage::open(&server.data_dir).unwrap();
    let pushers = runtime.block_on(storage.change_pushers(find)).unwrap();
    assert!(!pushers.is_empty() && pushers.iter().all(|(_, by)| *by == tablet_id && *by != laptop_id));
    drop(storage);
    let quarantine = server.ok(&["quarantine", "list"]);
    assert!(
        quarantine.contains(&tablet_id.to_string()) && quarantine.contains(&task_of_its_own.to_string()),
        "{quarantine}"
    );
    server.serve();
    // Junk posted as a bundle is refused, naming why; without a device's token, nothing is read.
    let error = sync_http::HttpTransport::new(&url, &laptop_token)
        .forward_bundle(b"junk")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("400") && error.contains("not a fieldsync bundle"),
        "{error}"
    );
    let error = sync_http::HttpTransport::new(&url, "fst1_nobody")
        .forward_bundle(&std::fs::read(&stick).unwrap())
        .unwrap_err()
        .to_string();
    assert!(error.contains("401"), "{error}");

    // The tablet's own next sync pushes nothing the server holds again, and hears of its refused task.
    let report = tablet.sync(|_| {}).unwrap();
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(server.logged(), logged + 1);
    assert!(tablet.outbox().unwrap().iter().all(|c| c.record_id == task_of_its_own));
}
