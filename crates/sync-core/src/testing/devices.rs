//! Conformance checks of devices, writers and quarantine.

use super::fixtures::*;
use crate::store::{
    Batch, Device, NewChange, NewDevice, NewQuarantined, QuarantineOverflow, Role, StorageError, SyncStore,
    quarantine_cost,
};
use domain::RecordType;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub async fn devices_round_trip<S: SyncStore>(storage: &S) {
    assert!(storage.devices().await.unwrap().is_empty());
    let supervisor = device("supervisor laptop", &["alpha", "bravo"], Role::Supervisor);
    let hq = device("hq desk", &[], Role::Hq);
    storage
        .add_device(NewDevice {
            device: supervisor.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();
    storage
        .add_device(NewDevice {
            device: hq.clone(),
            token_hash: token(2),
        })
        .await
        .unwrap();

    assert_eq!(
        storage.device_for_token(token(1)).await.unwrap(),
        Some(supervisor.clone())
    );
    assert_eq!(storage.device_for_token(token(2)).await.unwrap(), Some(hq.clone()));
    assert_eq!(storage.device_for_token(token(3)).await.unwrap(), None);

    let mut all = storage.devices().await.unwrap();
    all.sort_by_key(|d| d.id);
    let mut expected = vec![supervisor.clone(), hq.clone()];
    expected.sort_by_key(|d| d.id);
    assert_eq!(all, expected);

    // A revoked device is still found by its token, so the caller can say why it is refused.
    let revoked_at = at(3600, 5);
    assert!(storage.revoke_device(supervisor.id, revoked_at).await.unwrap());
    let found = storage.device_for_token(token(1)).await.unwrap().unwrap();
    assert_eq!(
        found,
        Device {
            revoked_at: Some(revoked_at),
            ..supervisor
        }
    );
    assert_eq!(
        storage.device_for_token(token(2)).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(
        storage
            .devices()
            .await
            .unwrap()
            .iter()
            .filter(|d| d.revoked_at.is_some())
            .count(),
        1
    );
}

pub async fn duplicate_devices_are_refused<S: SyncStore>(storage: &S) {
    let first = device("tablet 1", &["alpha"], Role::Deminer);
    storage
        .add_device(NewDevice {
            device: first.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();

    let same_id = Device {
        name: "impostor".into(),
        ..first.clone()
    };
    match storage
        .add_device(NewDevice {
            device: same_id,
            token_hash: token(2),
        })
        .await
    {
        Err(StorageError::DuplicateDevice(id)) => assert_eq!(id, first.id),
        other => panic!("expected DuplicateDevice, got {other:?}"),
    }
    let same_token = device("tablet 2", &["alpha"], Role::Deminer);
    assert!(
        storage
            .add_device(NewDevice {
                device: same_token,
                token_hash: token(1)
            })
            .await
            .is_err()
    );

    // Neither refusal changed anything: the token still names the first device.
    assert_eq!(storage.devices().await.unwrap(), vec![first.clone()]);
    assert_eq!(storage.device_for_token(token(1)).await.unwrap(), Some(first));
    assert_eq!(storage.device_for_token(token(2)).await.unwrap(), None);
}

pub async fn revoking_twice_revokes_once<S: SyncStore>(storage: &S) {
    let tablet = device("tablet", &["alpha"], Role::TeamLeader);
    storage
        .add_device(NewDevice {
            device: tablet.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();
    assert!(storage.revoke_device(tablet.id, at(10, 0)).await.unwrap());
    assert!(!storage.revoke_device(tablet.id, at(20, 0)).await.unwrap());
    // The first revocation time stands.
    assert_eq!(
        storage.device_for_token(token(1)).await.unwrap().unwrap().revoked_at,
        Some(at(10, 0))
    );
    assert!(!storage.revoke_device(Uuid::now_v7(), at(30, 0)).await.unwrap());
}

/// The keys bundles are sealed with: every unrevoked device's token hash, and none of a revoked one.
pub async fn device_keys_are_the_unrevoked_devices_token_hashes<S: SyncStore>(storage: &S) {
    let (tablet, laptop) = (
        device("tablet", &["alpha"], Role::Deminer),
        device("laptop", &["alpha"], Role::Supervisor),
    );
    for (device, n) in [(&tablet, 1), (&laptop, 2)] {
        let new = NewDevice {
            device: device.clone(),
            token_hash: token(n),
        };
        storage.add_device(new).await.unwrap();
    }
    let mut expected = vec![(tablet.id, token(1)), (laptop.id, token(2))];
    expected.sort();
    assert_eq!(storage.device_keys().await.unwrap(), expected);
    storage.revoke_device(tablet.id, at(10, 0)).await.unwrap();
    assert_eq!(storage.device_keys().await.unwrap(), vec![(laptop.id, token(2))]);
}

/// Authorship: each change is logged with its writer (Automerge actor) and pushing device. The writer belongs to the
/// device that pushed its first change, whoever pushes it later, and each change names its pusher.
pub async fn a_writer_belongs_to_the_device_that_first_pushed_it<S: SyncStore>(storage: &S) {
    let written_by = |bytes: &[u8], actor: &[u8]| NewChange {
        actor: actor.to_vec(),
        ..change(bytes)
    };
    assert_eq!(storage.actor_owner(b"tablet").await.unwrap(), None);
    let mut first = push(record_in(id(1), RecordType::HazardArea, None), &[], vec![]);
    first.changes = vec![written_by(b"a1", b"tablet"), written_by(b"a2", b"laptop")];
    first.device_id = id(100);
    let mut later = push(record_in(id(1), RecordType::HazardArea, None), &[], vec![]);
    later.changes = vec![written_by(b"a3", b"tablet")];
    later.device_id = id(200);
    storage.ingest(first).await.unwrap();
    storage.ingest(later).await.unwrap();
    assert_eq!(storage.actor_owner(b"tablet").await.unwrap(), Some(id(100)));
    assert_eq!(storage.actor_owner(b"laptop").await.unwrap(), Some(id(100)));
    assert_eq!(storage.actor_owner(b"nobody").await.unwrap(), None);
    let pushers = storage.change_pushers(id(1)).await.unwrap();
    let expected: Vec<([u8; 32], Uuid)> = [(b"a1", id(100)), (b"a2", id(100)), (b"a3", id(200))]
        .into_iter()
        .map(|(bytes, device)| (Sha256::digest(bytes).into(), device))
        .collect();
    assert_eq!(pushers, expected);
    assert!(storage.change_pushers(id(2)).await.unwrap().is_empty());
}

pub async fn quarantine_round_trips<S: SyncStore>(storage: &S) {
    assert!(storage.quarantined().await.unwrap().is_empty());
    let first = NewQuarantined {
        device_id: Uuid::now_v7(),
        record_id: id(1),
        change_hash: Some(hex(&Sha256::digest(b"bad"))),
        bytes: b"bad".to_vec(),
        code: "validation_failed".into(),
        message: "the find lies outside its worked area".into(),
        issues: vec![warning(id(1))],
        received_at: at(5, 987_654_321),
    };
    let second = NewQuarantined {
        change_hash: None,
        bytes: vec![0, 159, 146, 150],
        code: "malformed_change".into(),
        message: "not an automerge change".into(),
        issues: vec![],
        ..first.clone()
    };
    storage.quarantine(first.clone()).await.unwrap();
    storage.quarantine(second.clone()).await.unwrap();
    // Refused again (a bundle imported twice, a push retried): kept once, as first received.
    let again = NewQuarantined {
        received_at: at(9, 0),
        ..first.clone()
    };
    storage.quarantine(again).await.unwrap();
    // The same bytes from another device, or refused for another reason, are kept apart.
    let from_another = NewQuarantined {
        device_id: Uuid::now_v7(),
        ..first.clone()
    };
    let another_reason = NewQuarantined {
        code: "not_permitted".into(),
        ..first.clone()
    };
    storage.quarantine(from_another.clone()).await.unwrap();
    storage.quarantine(another_reason.clone()).await.unwrap();
    let stored = storage.quarantined().await.unwrap();
    assert_eq!(
        stored.iter().map(|q| q.item.clone()).collect::<Vec<_>>(),
        [first, second, from_another, another_reason]
    );
    assert!(stored[0].id < stored[1].id);
    // Quarantine never reaches the log.
    assert_eq!(storage.last_seq().await.unwrap(), 0);
}

/// A device's refusals of a day are kept up to the quota and counted beyond it (with their cost and a digest
/// chained over their bytes); another device, another day and a refusal without a quota are unaffected.
pub async fn a_device_over_its_quarantine_quota_is_counted_not_kept<S: SyncStore>(storage: &S) {
    let flooder = Uuid::from_u128(41);
    let refusal = |n: u8, device: Uuid, seconds: i64| NewQuarantined {
        device_id: device,
        record_id: id(u128::from(n)),
        change_hash: None,
        bytes: vec![n; 300],
        code: "malformed".into(),
        message: "not an automerge change".into(),
        issues: vec![],
        received_at: at(seconds, 0),
    };
    let cost = quarantine_cost(&refusal(1, flooder, 0));
    let quota = 3 * cost;
    let batch = |items: Vec<NewQuarantined>, quota: Option<u64>| Batch {
        ingests: vec![],
        quarantined: items,
        quarantine_quota: quota,
    };
    // Five refusals on the first day: three fit, two are counted.
    storage
        .append(batch((1..=5).map(|n| refusal(n, flooder, 60)).collect(), Some(quota)))
        .await
        .unwrap();
    // One kept already is not counted again; another device has a quota of its own; so does the next day.
    let neighbour = Uuid::from_u128(42);
    storage
        .append(batch(
            vec![
                refusal(1, flooder, 70),
                refusal(6, neighbour, 70),
                refusal(7, flooder, 86_400 + 5),
            ],
            Some(quota),
        ))
        .await
        .unwrap();
    // Without a quota (what upstream refused), a refusal is kept whatever the day's count.
    storage.quarantine(refusal(8, flooder, 80)).await.unwrap();

    let kept: Vec<(Uuid, Uuid)> = storage
        .quarantined()
        .await
        .unwrap()
        .into_iter()
        .map(|q| (q.item.device_id, q.item.record_id))
        .collect();
    assert_eq!(
        kept,
        [
            (flooder, id(1)),
            (flooder, id(2)),
            (flooder, id(3)),
            (neighbour, id(6)),
            (flooder, id(7)),
            (flooder, id(8)),
        ],
        "kept up to the quota, a device and a day at a time"
    );
    let mut digest = [0u8; 32];
    for n in [4u8, 5] {
        let mut chain = Sha256::new();
        chain.update(digest);
        chain.update(Sha256::digest(vec![n; 300]));
        digest = chain.finalize().into();
    }
    assert_eq!(
        storage.quarantine_overflow().await.unwrap(),
        [QuarantineOverflow {
            device_id: flooder,
            day: at(60, 0).format("%Y-%m-%d").to_string(),
            refusals: 2,
            bytes: 2 * cost,
            digest,
        }]
    );
    // Nothing of it reaches the log.
    assert_eq!(storage.last_seq().await.unwrap(), 0);
}
