//! Conformance checks of what the base-camp tier keeps: devices a relay vouches for, the changes a camp forwards,
//! and where it stands with its upstream.

use super::fixtures::*;
use crate::store::{NewDevice, Role, SyncStore, UpstreamState, Vouched, Vouching};
use domain::RecordType;
use uuid::Uuid;

/// One change each, of hazard areas 1, 2, …, logged in this order as pushed by these devices.
async fn pushed_in_turn<S: SyncStore, const N: usize>(storage: &S, changes: [(&[u8; 2], &crate::store::Device); N]) {
    for (n, (bytes, by)) in changes.into_iter().enumerate() {
        let mut ingest = push(
            record_in(id(n as u128 + 1), RecordType::HazardArea, None),
            &[bytes],
            vec![],
        );
        ingest.device_id = by.id;
        storage.ingest(ingest).await.unwrap();
    }
}

pub async fn vouched_devices_are_carried_and_never_authenticate<S: SyncStore>(storage: &S) {
    let relay = device("camp A", &["alpha"], Role::Relay);
    let enrolled = device("hq desk", &[], Role::Hq);
    for (device, n) in [(&relay, 1), (&enrolled, 2)] {
        let new = NewDevice {
            device: device.clone(),
            token_hash: token(n),
        };
        storage.add_device(new).await.unwrap();
    }
    let tablet = device("tablet-3", &["alpha"], Role::TeamLeader);
    let vouched = Vouched {
        device: tablet.clone(),
        carrier: relay.id,
    };
    assert_eq!(storage.vouch(vouched.clone()).await.unwrap(), Vouching::Recorded);
    // Vouched for again with a new role: brought up to date, still one device.
    let promoted = Vouched {
        device: crate::store::Device {
            role: Role::Supervisor,
            ..tablet.clone()
        },
        carrier: relay.id,
    };
    assert_eq!(storage.vouch(promoted.clone()).await.unwrap(), Vouching::Recorded);
    let listed = storage.devices().await.unwrap();
    assert_eq!(listed.iter().filter(|d| d.id == tablet.id).count(), 1);
    assert!(listed.contains(&promoted.device), "{listed:?}");
    assert_eq!(storage.carriers().await.unwrap(), vec![(tablet.id, relay.id)]);
    // No relay speaks for a device enrolled here, nor for another relay's device.
    let impostor = Vouched {
        device: enrolled.clone(),
        carrier: relay.id,
    };
    assert_eq!(storage.vouch(impostor).await.unwrap(), Vouching::EnrolledHere);
    let other_relay = Vouched {
        device: tablet.clone(),
        carrier: id(900),
    };
    assert_eq!(storage.vouch(other_relay).await.unwrap(), Vouching::CarriedBy(relay.id));
    // It holds no bundle key, and no token of the enrolled ones finds it.
    let mut keys: Vec<_> = storage
        .device_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    keys.sort();
    let mut expected = vec![relay.id, enrolled.id];
    expected.sort();
    assert_eq!(keys, expected);
}

pub async fn forwardable_changes_are_those_of_devices_enrolled_here<S: SyncStore>(storage: &S) {
    let tablet = device("tablet-3", &["alpha"], Role::TeamLeader);
    let upstream = device("HQ", &[], Role::Hq);
    let new = NewDevice {
        device: tablet.clone(),
        token_hash: token(1),
    };
    storage.add_device(new).await.unwrap();
    let vouched = Vouched {
        device: upstream.clone(),
        carrier: upstream.id,
    };
    storage.vouch(vouched).await.unwrap();
    pushed_in_turn(
        storage,
        [(b"t1", &tablet), (b"h1", &upstream), (b"t2", &tablet), (b"t3", &tablet)],
    )
    .await;
    let all = storage.forwardable(0, 10).await.unwrap();
    assert_eq!(storage.forwardable_count(0).await.unwrap(), 3);
    assert_eq!(storage.forwardable_count(1).await.unwrap(), 2);
    assert_eq!(storage.forwardable_count(4).await.unwrap(), 0);
    let seen: Vec<_> = all.iter().map(|f| (f.seq, f.bytes.clone(), f.device_id)).collect();
    assert_eq!(
        seen,
        vec![
            (1, b"t1".to_vec(), tablet.id),
            (3, b"t2".to_vec(), tablet.id),
            (4, b"t3".to_vec(), tablet.id)
        ],
        "what came from upstream is not sent back up"
    );
    assert_eq!(all[1].record_id, id(3));
    let page = storage.forwardable(1, 1).await.unwrap();
    assert_eq!(page.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![3]);
    assert!(storage.forwardable(4, 10).await.unwrap().is_empty());
}

pub async fn upstream_state_round_trips<S: SyncStore>(storage: &S) {
    assert_eq!(storage.upstream_state().await.unwrap(), UpstreamState::default());
    let state = UpstreamState {
        server_id: Some(id(77)),
        cursor: 41,
        cursor_check: Some(vec![1, 2, 3, 4, 5, 6, 7, 8]),
        forwarded_through: 12,
        last_contact: Some(at(3600, 0)),
        last_error: Some("connection refused".into()),
        refused: 2,
        wanted: vec![id(78)],
        run_changes: 125,
        bundled_through: 30,
        sent: 9,
    };
    storage.set_upstream_state(state.clone()).await.unwrap();
    assert_eq!(storage.upstream_state().await.unwrap(), state);
    let later = UpstreamState {
        last_error: None,
        cursor: 44,
        ..state
    };
    storage.set_upstream_state(later.clone()).await.unwrap();
    assert_eq!(storage.upstream_state().await.unwrap(), later);
}

pub async fn upstream_refusals_are_told_until_the_cursor_moves_past<S: SyncStore>(storage: &S) {
    let tablet = Uuid::from_u128(7);
    let refused = |record: u128, code: &str| crate::store::NewQuarantined {
        change_hash: Some(format!("{record:064x}")),
        code: code.into(),
        ..quarantined_item(Uuid::from_u128(record))
    };
    // Refused here (not upstream's): never told by this means; refused upstream: told.
    storage.quarantine(refused(1, "invalid")).await.unwrap();
    storage.quarantine(refused(2, "upstream_out_of_scope")).await.unwrap();
    storage.quarantine(refused(3, "upstream_not_permitted")).await.unwrap();
    let other_device = crate::store::NewQuarantined {
        device_id: Uuid::from_u128(8),
        ..refused(4, "upstream_invalid")
    };
    storage.quarantine(other_device).await.unwrap();
    let records =
        |rows: Vec<crate::store::Quarantined>| -> Vec<Uuid> { rows.iter().map(|q| q.item.record_id).collect() };
    let told = storage.refused_upstream(tablet, 10, 100).await.unwrap();
    assert_eq!(records(told.clone()), vec![Uuid::from_u128(2), Uuid::from_u128(3)]);
    assert_eq!(
        records(storage.refused_upstream(tablet, 10, 1).await.unwrap()),
        vec![Uuid::from_u128(2)]
    );
    // Told in a response that gave cursor 12: told again while the device's cursor is behind 12 (it may not
    // have applied that response); a device at 12 applied it.
    storage.told(told.iter().map(|q| q.id).collect(), 12).await.unwrap();
    for cursor in [0, 10, 11] {
        assert_eq!(
            storage.refused_upstream(tablet, cursor, 100).await.unwrap().len(),
            2,
            "at cursor {cursor}"
        );
    }
    assert!(storage.refused_upstream(tablet, 12, 100).await.unwrap().is_empty());
    assert_eq!(
        records(storage.refused_upstream(Uuid::from_u128(8), 13, 100).await.unwrap()),
        vec![Uuid::from_u128(4)]
    );
}

pub async fn a_relays_pull_leaves_out_what_it_carried<S: SyncStore>(storage: &S) {
    let relay = device("camp A", &["alpha"], Role::Relay);
    let other_relay = device("camp B", &["alpha"], Role::Relay);
    let hq = device("hq desk", &[], Role::Hq);
    for (n, enrolled) in [&relay, &other_relay, &hq].into_iter().enumerate() {
        let new = NewDevice {
            device: enrolled.clone(),
            token_hash: token(n as u8 + 1),
        };
        storage.add_device(new).await.unwrap();
    }
    let (ours, theirs) = (
        device("tablet-3", &["alpha"], Role::Supervisor),
        device("tablet-9", &["alpha"], Role::Supervisor),
    );
    for (tablet, carrier) in [(&ours, &relay), (&theirs, &other_relay)] {
        let vouched = Vouched {
            device: tablet.clone(),
            carrier: carrier.id,
        };
        storage.vouch(vouched).await.unwrap();
    }
    pushed_in_turn(
        storage,
        [(b"a1", &ours), (b"b1", &theirs), (b"h1", &hq), (b"a2", &ours)],
    )
    .await;
    let own = |relay: Option<uuid::Uuid>| crate::store::OwnChanges {
        relay,
        ..crate::store::OwnChanges::every(relay.unwrap_or(hq.id))
    };
    let visibility = crate::store::Visibility::Teams(["alpha".to_string()].into());
    let page = crate::pull::pull(storage, &visibility, Some(own(Some(relay.id))), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        bytes_of(&page.changes),
        [b"b1".to_vec(), b"h1".to_vec()],
        "camp A is not sent back what it carried"
    );
    assert_eq!(page.cursor, 4, "and its cursor covers it");
    let everything = crate::pull::pull(
        storage,
        &crate::store::Visibility::All,
        Some(own(Some(relay.id))),
        0,
        100,
    )
    .await
    .unwrap();
    assert_eq!(bytes_of(&everything.changes), [b"b1".to_vec(), b"h1".to_vec()]);
    let page = crate::pull::pull(storage, &visibility, Some(own(None)), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        page.changes.len(),
        3,
        "a device that is no relay gets every change but its own"
    );
}

pub async fn a_relay_is_told_what_was_refused_of_the_devices_it_carries<S: SyncStore>(storage: &S) {
    let relay = device("camp A", &["alpha"], Role::Relay);
    let other_relay = device("camp B", &["alpha"], Role::Relay);
    for (n, relay) in [(1, &relay), (2, &other_relay)] {
        let new = NewDevice {
            device: relay.clone(),
            token_hash: token(n),
        };
        storage.add_device(new).await.unwrap();
    }
    let carried = |name: &str, carrier: &crate::store::Device| Vouched {
        device: device(name, &["alpha"], Role::Deminer),
        carrier: carrier.id,
    };
    let (tablet, elsewhere) = (carried("tablet 1", &relay), carried("tablet 9", &other_relay));
    for vouched in [&tablet, &elsewhere] {
        assert_eq!(storage.vouch(vouched.clone()).await.unwrap(), Vouching::Recorded);
    }
    let refused = |record: u128, by: &crate::store::Device| crate::store::NewQuarantined {
        device_id: by.id,
        change_hash: Some(format!("{record:064x}")),
        ..quarantined_item(Uuid::from_u128(record))
    };
    storage.quarantine(refused(1, &tablet.device)).await.unwrap();
    storage.quarantine(refused(2, &elsewhere.device)).await.unwrap();
    storage.quarantine(refused(3, &relay)).await.unwrap();
    storage.quarantine(refused(4, &tablet.device)).await.unwrap();
    let records =
        |rows: Vec<crate::store::Quarantined>| -> Vec<Uuid> { rows.iter().map(|q| q.item.record_id).collect() };
    let told = storage.refused_carried(relay.id, 0, 100).await.unwrap();
    assert_eq!(records(told.clone()), vec![Uuid::from_u128(1), Uuid::from_u128(4)]);
    assert_eq!(
        records(storage.refused_carried(relay.id, 0, 1).await.unwrap()),
        vec![Uuid::from_u128(1)]
    );
    storage.told(told.iter().map(|q| q.id).collect(), 20).await.unwrap();
    assert_eq!(storage.refused_carried(relay.id, 19, 100).await.unwrap().len(), 2);
    assert!(storage.refused_carried(relay.id, 20, 100).await.unwrap().is_empty());
    assert_eq!(
        records(storage.refused_carried(other_relay.id, 20, 100).await.unwrap()),
        vec![Uuid::from_u128(2)]
    );

    // Where a relay's bundles stand: 0 until one came, then as set, for that relay only.
    assert_eq!(storage.bundled_through(relay.id).await.unwrap(), 0);
    storage.set_bundled_through(relay.id, 250).await.unwrap();
    assert_eq!(storage.bundled_through(relay.id).await.unwrap(), 250);
    assert_eq!(storage.bundled_through(other_relay.id).await.unwrap(), 0);
    assert_eq!(storage.bundled_through(Uuid::from_u128(99)).await.unwrap(), 0);
}
