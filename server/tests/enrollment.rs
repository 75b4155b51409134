//! Enrollment by a one-time code against the real binary: the code `device add` prints works once, its second use,
//! an expired code, a superseded one and a revoked device are each refused with a message saying what to do, a
//! failed enrollment leaves the store as it was, and `device rotate` retires a credential at once.
#![allow(clippy::unwrap_used)]

mod common;

use client_core::{Enrollment, Invitation, Store, SyncError};
use common::*;
use sync_core::store::SyncStore;

fn enrollment(server: &Server) -> Enrollment {
    Enrollment::new(&server.url(), "")
}

fn refusal(error: SyncError) -> (u16, String) {
    match error {
        SyncError::Server { status, message, .. } => (status, message),
        other => panic!("expected the server's refusal, got {other:?}"),
    }
}

#[test]
fn an_enrollment_code_works_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve();
    let invitation = Invitation::parse(&camp.invite("tablet-3", "supervisor", "Team 3", None)).unwrap();
    assert!(invitation.code.starts_with("fse1_"), "{}", invitation.code);

    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-3");
    day_of_work(&mut tablet, "Horadiz 7c");
    let enrolled = tablet
        .enroll_by_code(&enrollment(&camp), &invitation.code, |_| {})
        .unwrap();
    assert_eq!(enrolled.device.name, "tablet-3");
    assert_eq!(enrolled.first_sync.unwrap().accepted, 3);
    let (_, credential) = tablet.enrollment().unwrap().unwrap();
    assert!(credential.starts_with("fst1_"));
    assert_eq!(tablet.enrolled().unwrap().unwrap().name, "tablet-3");

    // Someone who copied the code off the screen gets nothing with it, and the store they tried it in is untouched.
    let mut copier = device(&dir.path().join("copier.db"), "copier");
    let (status, message) = refusal(
        copier
            .enroll_by_code(&enrollment(&camp), &invitation.code, |_| {})
            .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert!(message.contains("used already"), "{message}");
    assert!(
        message.contains("device revoke"),
        "says what to do if it was not this device: {message}"
    );
    assert_eq!(copier.enrollment().unwrap(), None);
    // The first device's credential still works.
    tablet.sync(|_| {}).unwrap();

    let (status, message) = refusal(
        copier
            .enroll_by_code(&enrollment(&camp), "fse1_00000000000000000000000000000000", |_| {})
            .unwrap_err(),
    );
    assert_eq!(status, 401);
    assert!(message.contains("unknown enrollment code"), "{message}");
}

/// An expired code and a superseded one are refused over HTTP and change nothing.
#[test]
fn an_expired_or_superseded_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve();
    let out = camp.ok(&[
        "device", "add", "--name", "tablet-4", "--role", "deminer", "--team", "Team 3", "--no-qr",
    ]);
    assert!(out.contains("works once, until"), "{out}");
    let id: uuid::Uuid = out.split(['(', ')']).nth(1).unwrap().parse().unwrap();
    let first = code_of(&out);

    // A code issued a day and a second ago, for a day: as `device add` yesterday would have made it.
    let yesterday = chrono::Utc::now() - chrono::Duration::seconds(86_401);
    let (stale, stored) = sync_core::auth::issue(id, yesterday, sync_core::auth::CODE_LIFETIME);
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let storage = store_sqlite::SqliteStorage::open(&camp.data_dir).unwrap();
    assert!(runtime.block_on(storage.issue_code(stored)).unwrap());
    drop(storage);

    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-4");
    let (status, message) = refusal(tablet.enroll_by_code(&enrollment(&camp), &stale, |_| {}).unwrap_err());
    assert_eq!(status, 403);
    assert!(message.contains("expired"), "{message}");
    assert!(message.contains("device rotate"), "{message}");
    let (status, message) = refusal(tablet.enroll_by_code(&enrollment(&camp), &first, |_| {}).unwrap_err());
    assert_eq!(status, 403);
    assert!(message.contains("newer enrollment code"), "{message}");
    assert_eq!(tablet.enrollment().unwrap(), None, "nothing was kept");
}

/// `device rotate` retires the credential at once and the device enrols again with the new code, its records
/// kept; a revoked device's credential and codes are refused, saying it was revoked.
#[test]
fn rotating_and_revoking_retire_a_credential_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve();
    let out = camp.ok(&[
        "device",
        "add",
        "--name",
        "tablet-5",
        "--role",
        "supervisor",
        "--team",
        "Team 3",
        "--no-qr",
    ]);
    let id = out.split(['(', ')']).nth(1).unwrap().to_string();
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-5");
    day_of_work(&mut tablet, "Task 1");
    tablet
        .enroll_by_code(&enrollment(&camp), &code_of(&out), |_| {})
        .unwrap()
        .first_sync
        .unwrap();
    let (_, old) = tablet.enrollment().unwrap().unwrap();

    let rotated = camp.ok(&["device", "rotate", &id, "--no-qr"]);
    assert!(rotated.contains("stopped working"), "{rotated}");
    let (status, message) = refusal(tablet.sync(|_| {}).unwrap_err());
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("unknown device token"), "{message}");
    tablet
        .enroll_by_code(&enrollment(&camp), &code_of(&rotated), |_| {})
        .unwrap()
        .first_sync
        .unwrap();
    let (_, new) = tablet.enrollment().unwrap().unwrap();
    assert_ne!(old, new);
    day_of_work(&mut tablet, "Task 2");
    assert_eq!(tablet.sync(|_| {}).unwrap().accepted, 3);

    let spare = camp.ok(&["device", "rotate", &id, "--no-qr"]);
    tablet
        .enroll_by_code(&enrollment(&camp), &code_of(&spare), |_| {})
        .unwrap()
        .first_sync
        .unwrap();
    let another = camp.ok(&["device", "rotate", &id, "--no-qr"]);
    camp.ok(&["device", "revoke", &id]);
    let (status, message) = refusal(tablet.sync(|_| {}).unwrap_err());
    assert_eq!(status, 401);
    assert!(
        message.contains("unknown device token"),
        "rotated, then revoked: {message}"
    );
    let mut other = device(&dir.path().join("other.db"), "other");
    let (status, message) = refusal(
        other
            .enroll_by_code(&enrollment(&camp), &code_of(&another), |_| {})
            .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert!(message.contains("was revoked"), "{message}");
    let error = camp.fails(&["device", "rotate", &id, "--no-qr"]);
    assert!(error.contains("no active device"), "{error}");
}

/// A credential that was revoked while the device kept it: its sync says the device was revoked.
#[test]
fn a_revoked_credential_is_refused_naming_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve();
    let (id, token) = camp.enrol("tablet-6", "supervisor");
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-6");
    tablet.enroll(&camp.url(), &token).unwrap();
    tablet.sync(|_| {}).unwrap();
    camp.ok(&["device", "revoke", &id.to_string()]);
    let (status, message) = refusal(tablet.sync(|_| {}).unwrap_err());
    assert_eq!(status, 401);
    assert!(message.contains("tablet-6 was revoked"), "{message}");
}

/// A wrong address, or a code the server does not know, leaves an enrolled store as it was.
#[test]
fn a_failed_enrollment_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve();
    let (_, token) = camp.enrol("tablet-7", "supervisor");
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-7");
    tablet.enroll(&camp.url(), &token).unwrap();
    tablet.sync(|_| {}).unwrap();
    let before = tablet.enrolled_with().unwrap();
    let status_before = tablet.sync_status().unwrap();

    let nowhere = Server::new(&dir.path().join("nowhere"));
    let code = camp.invite("tablet-8", "supervisor", "Team 3", None);
    let code = Invitation::parse(&code).unwrap().code;
    let error = tablet.enroll_by_code(&enrollment(&nowhere), &code, |_| {}).unwrap_err();
    assert!(matches!(error, SyncError::Network { .. }), "{error:?}");
    let error = tablet
        .enroll_by_code(&enrollment(&camp), "fse1_not-a-code", |_| {})
        .unwrap_err();
    assert!(error.to_string().contains("unknown enrollment code"), "{error}");
    let error = tablet.enroll_by_code(&enrollment(&camp), "  ", |_| {}).unwrap_err();
    assert!(error.to_string().contains("empty"), "{error}");
    assert_eq!(tablet.enrolled_with().unwrap(), before);
    assert_eq!(tablet.sync_status().unwrap(), status_before);
    tablet.sync(|_| {}).unwrap();
    // The code tried against the wrong address was not spent.
    let mut other: Store = device(&dir.path().join("other.db"), "tablet-8");
    other
        .enroll_by_code(&enrollment(&camp), &code, |_| {})
        .unwrap()
        .first_sync
        .unwrap();
}

/// What is not an enrollment request is refused with a message naming what is wrong.
#[test]
fn junk_at_the_enrollment_endpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve();
    let url = format!("{}{}", camp.url(), protocol::enrollment::ENROLL_PATH);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    for (content_type, body, expected) in [
        ("application/json", "{\"token\": 1}", "not {\"code\""),
        ("application/json", "not json", "not {\"code\""),
        ("text/plain", "{\"code\": \"fse1_x\"}", "Content-Type: application/json"),
    ] {
        let mut answer = agent
            .post(&url)
            .header("Content-Type", content_type)
            .send(body)
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{body}");
        let error: protocol::ErrorBody = serde_json::from_reader(answer.body_mut().as_reader()).unwrap();
        assert!(error.message.contains(expected), "{body}: {}", error.message);
    }
    let big = format!("{{\"code\": \"{}\"}}", "x".repeat(10_000));
    let answer = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(big.as_str())
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
}
