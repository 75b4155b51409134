//! Conformance checks of enrollment codes: issued, exchanged once, refused after, and what a refusal says.

use super::fixtures::*;
use crate::store::{EnrollmentCode, NewDevice, Redemption, Role, SyncStore};
use uuid::Uuid;

/// The hash of code number `n`.
fn code_hash(n: u8) -> [u8; 32] {
    token(100 + n)
}

fn code(device_id: Uuid, n: u8, issued: i64, expires: i64) -> EnrollmentCode {
    EnrollmentCode {
        device_id,
        code_hash: code_hash(n),
        issued_at: at(issued, 0),
        expires_at: at(expires, 0),
    }
}

/// A code works once, before it expires, and only while it is its device's newest: each refusal names why and
/// changes nothing; the exchange gives the device its new credential and takes the old one away.
pub async fn an_enrollment_code_is_exchanged_once<S: SyncStore>(storage: &S) {
    let tablet = device("tablet 3", &["alpha"], Role::TeamLeader);
    storage
        .add_device(NewDevice {
            device: tablet.clone(),
            token_hash: token(1),
        })
        .await
        .unwrap();
    assert!(storage.issue_code(code(tablet.id, 1, 0, 100)).await.unwrap());
    assert_eq!(
        storage.device_for_token(token(1)).await.unwrap(),
        None,
        "issuing a code retires the device's credential"
    );
    assert_eq!(
        storage.redeem_code(token(99), token(2), at(1, 0)).await.unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        storage.redeem_code(code_hash(1), token(2), at(10, 0)).await.unwrap(),
        Redemption::Enrolled(tablet.clone())
    );
    assert_eq!(storage.device_for_token(token(2)).await.unwrap(), Some(tablet.clone()));
    assert!(storage.device_keys().await.unwrap().contains(&(tablet.id, token(2))));

    // Used: the second exchange is refused and the first credential still works.
    assert_eq!(
        storage.redeem_code(code_hash(1), token(3), at(11, 0)).await.unwrap(),
        Redemption::Used {
            device: "tablet 3".into(),
            at: at(10, 0)
        }
    );
    assert_eq!(storage.device_for_token(token(3)).await.unwrap(), None);
    assert_eq!(storage.device_for_token(token(2)).await.unwrap(), Some(tablet.clone()));

    // Expired: not before its time, and nothing changes.
    assert!(storage.issue_code(code(tablet.id, 2, 20, 50)).await.unwrap());
    assert_eq!(
        storage.redeem_code(code_hash(2), token(4), at(50, 0)).await.unwrap(),
        Redemption::Expired {
            device: "tablet 3".into(),
            at: at(50, 0)
        }
    );
    assert_eq!(storage.device_for_token(token(4)).await.unwrap(), None);

    // Superseded: a newer code makes the older one useless.
    assert!(storage.issue_code(code(tablet.id, 3, 60, 200)).await.unwrap());
    assert!(storage.issue_code(code(tablet.id, 4, 70, 200)).await.unwrap());
    assert_eq!(
        storage.redeem_code(code_hash(3), token(5), at(80, 0)).await.unwrap(),
        Redemption::Superseded {
            device: "tablet 3".into(),
            at: at(70, 0)
        }
    );
    // Revoked: its newest code no longer works either, and a revoked device gets no new code.
    assert!(storage.revoke_device(tablet.id, at(90, 0)).await.unwrap());
    assert_eq!(
        storage.redeem_code(code_hash(4), token(6), at(95, 0)).await.unwrap(),
        Redemption::Revoked {
            device: "tablet 3".into(),
            at: at(90, 0)
        }
    );
    assert_eq!(storage.device_for_token(token(6)).await.unwrap(), None);
    assert!(!storage.issue_code(code(tablet.id, 5, 100, 300)).await.unwrap());
    assert!(
        !storage.issue_code(code(Uuid::now_v7(), 6, 100, 300)).await.unwrap(),
        "no such device"
    );
}
