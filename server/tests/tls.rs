//! TLS at the edge, as a camp runs it: `serve --tls auto`, a tablet enrolled with the code `device add` prints
//! (server address, the camp authority's fingerprint, token), and what crosses the camp's Wi-Fi.
#![allow(clippy::unwrap_used)]

mod common;

use client_core::{Enrollment, Invitation, SyncError};
use common::{Server, day_of_work, device};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tablet enrols over TLS with the code `device add` printed and syncs a day of work through a proxy that
/// records every byte on the loopback port: neither the token nor the records' text is in them, while the same
/// proxy in front of a plain-HTTP server does see the token (so the check can fail).
#[test]
fn a_tablet_enrolled_with_the_code_syncs_over_tls_and_the_wire_shows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve_with(&["--tls", "auto"]);
    let wire = RecordingProxy::start(camp.port);
    let code = camp.invite("tablet-1", "supervisor", "Team 3", Some(&wire.https_url()));
    let invitation = Invitation::parse(&code).unwrap();
    let fingerprint = invitation
        .ca_fingerprint
        .clone()
        .expect("--tls auto gives a fingerprint to pin");
    assert_eq!(invitation.server, wire.https_url());

    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-1");
    day_of_work(&mut tablet, "Horadiz north 7c1e");
    let authority = client_core::fetch_authority(&invitation.server, &fingerprint).unwrap();
    let enrollment = Enrollment {
        server_url: invitation.server.clone(),
        token: String::new(),
        authority: Some(authority),
        insecure_http: false,
    };
    let enrolled = tablet.enroll_by_code(&enrollment, &invitation.code, |_| {}).unwrap();
    assert_eq!(enrolled.device.name, "tablet-1");
    let report = enrolled.first_sync.unwrap();
    assert_eq!(report.accepted, 3, "the task, its worked area and its find");
    assert!(tablet.sync_status().unwrap().unacknowledged.is_empty());
    let (_, credential) = tablet.enrollment().unwrap().unwrap();
    assert!(credential.starts_with("fst1_") && credential != invitation.code);

    let seen = wire.bytes();
    assert!(seen.len() > 2_000, "the proxy carried the sync ({} bytes)", seen.len());
    for secret in [
        invitation.code.as_str(),
        credential.as_str(),
        "Horadiz north",
        "PMN-2",
        "A. Aliyev",
        "Bearer",
    ] {
        assert!(
            !contains(&seen, secret.as_bytes()),
            "`{secret}` crossed the wire in clear"
        );
    }

    // The same proxy in front of a plain-HTTP server sees the token: the check above can fail.
    let mut plain = Server::new(&dir.path().join("plain"));
    plain.serve();
    let (_, plain_token) = plain.enrol("tablet-2", "supervisor");
    let plain_wire = RecordingProxy::start(plain.port);
    let mut other = device(&dir.path().join("tablet-2.db"), "tablet-2");
    other.enroll(&plain_wire.http_url(), &plain_token).unwrap();
    other.sync(|_| {}).unwrap();
    assert!(contains(&plain_wire.bytes(), plain_token.as_bytes()));
}

/// A tablet pinned to camp A's authority refuses camp B's server (its own authority), says why, sends nothing,
/// and stays enrolled as it was; a fingerprint that is not the server's authority's is refused at enrollment.
#[test]
fn a_server_with_another_authority_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut camp_a = Server::new(&dir.path().join("a"));
    let mut camp_b = Server::new(&dir.path().join("b"));
    camp_a.serve_with(&["--tls", "auto"]);
    camp_b.serve_with(&["--tls", "auto"]);
    let code_a = Invitation::parse(&camp_a.invite("tablet-1", "supervisor", "Team 3", None)).unwrap();
    let code_b = Invitation::parse(&camp_b.invite("tablet-1", "supervisor", "Team 3", None)).unwrap();
    assert_ne!(
        code_a.ca_fingerprint, code_b.ca_fingerprint,
        "each camp has its own authority"
    );
    let authority_a =
        client_core::fetch_authority(&camp_a.https_url(), code_a.ca_fingerprint.as_deref().unwrap()).unwrap();

    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-1");
    day_of_work(&mut tablet, "Task 1");
    let enrolled = tablet
        .enroll_by_code(
            &Enrollment {
                server_url: camp_a.https_url(),
                token: String::new(),
                authority: Some(authority_a.clone()),
                insecure_http: false,
            },
            &code_a.code,
            |_| {},
        )
        .unwrap();
    enrolled.first_sync.unwrap();
    let before = tablet.enrolled_with().unwrap().unwrap();

    // Camp B's server, dialled with camp A's authority pinned (someone on the Wi-Fi posing as camp A).
    let impostor = Enrollment {
        server_url: camp_b.https_url(),
        token: String::new(),
        authority: Some(authority_a),
        insecure_http: false,
    };
    day_of_work(&mut tablet, "Task 2");
    let error = tablet.enroll_by_code(&impostor, &code_b.code, |_| {}).unwrap_err();
    assert!(matches!(error, SyncError::Insecure(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("not signed by the authority"), "{message}");
    assert_eq!(
        tablet.enrolled_with().unwrap().unwrap(),
        before,
        "the store is enrolled as it was"
    );
    assert_eq!(camp_b.logged(), 0, "camp B received nothing");

    // Asked for camp A's authority, camp B's server shows its own: refused before anything is kept.
    let error =
        client_core::fetch_authority(&camp_b.https_url(), code_a.ca_fingerprint.as_deref().unwrap()).unwrap_err();
    assert!(error.to_string().contains("not the sha256:"), "{error}");

    // Still camp A's tablet: its next sync goes there.
    assert_eq!(tablet.sync(|_| {}).unwrap().accepted, 3);
}

/// Plain http beyond the loopback is refused at enrollment unless asked for; asked for, it is kept, and the
/// server's address over TLS without a pinned authority is checked against the system's (which do not know a
/// camp's authority).
#[test]
fn plain_http_beyond_the_loopback_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut tablet = device(&dir.path().join("tablet.db"), "tablet-1");
    let error = tablet
        .enroll("http://192.0.2.10:7878", "fst1_token")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("plain http") && error.contains("--insecure-http"),
        "{error}"
    );
    assert!(tablet.enrolled_with().unwrap().is_none());
    let insecure = Enrollment {
        insecure_http: true,
        ..Enrollment::new("http://192.0.2.10:7878", "fst1_token")
    };
    tablet.enroll_with(&insecure).unwrap();
    assert_eq!(tablet.enrolled_with().unwrap().unwrap(), insecure);

    let mut camp = Server::new(&dir.path().join("camp"));
    camp.serve_with(&["--tls", "auto"]);
    let (_, token) = camp.enrol("tablet-1", "supervisor");
    let error = tablet
        .enroll_and_sync(&Enrollment::new(&camp.https_url(), &token), |_| {})
        .unwrap_err()
        .to_string();
    assert!(error.contains("not signed by the authority"), "{error}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A TCP proxy on 127.0.0.1 in front of a server's port that keeps every byte it carries, both ways: what
/// someone on the camp's Wi-Fi would capture.
struct RecordingProxy {
    port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl RecordingProxy {
    fn start(target: u16) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (seen_by, stopped) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let server = TcpStream::connect(("127.0.0.1", target)).unwrap();
                        pipe(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            seen_by.clone(),
                        );
                        pipe(server, client, seen_by.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        RecordingProxy { port, seen, stop }
    }

    fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn bytes(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until either closes, keeping a copy of every byte.
fn pipe(mut from: TcpStream, mut to: TcpStream, seen: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buffer = [0; 16 * 1024];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                break;
            }
            seen.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}
