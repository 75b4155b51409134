//! The server under abuse from the camp's network, as an attacker with no token, or with a deminer's, would try it.
#![allow(clippy::unwrap_used)]

mod common;

use common::Server;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// 5,000 connections opened and left idle (over the server's cap of 1,024) do not stop /health from answering
/// within a second, over plain HTTP and over TLS: a connection beyond the cap closes the quietest one.
#[test]
fn idle_connections_do_not_starve_the_server() {
    let dir = tempfile::tempdir().unwrap();
    for tls in [false, true] {
        let mut server = Server::new(&dir.path().join(if tls { "tls" } else { "plain" }));
        server.serve_with(if tls { &["--tls", "auto"] } else { &[] });
        let idle: Vec<TcpStream> = (0..5_000)
            .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
            .collect();
        // Each idle one has been accepted (or waits in the kernel's queue) before /health is asked for.
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let answer = if tls {
            health_over_tls(&server)
        } else {
            health(server.port)
        };
        let took = started.elapsed();
        assert!(answer.contains("\"status\":\"ok\""), "{answer}");
        assert!(
            took < Duration::from_secs(1),
            "/health took {took:?} behind 5,000 idle connections (tls: {tls})"
        );
        let closed = idle.into_iter().filter(closed_by_server).count();
        assert!(
            closed >= 5_000 - 1_024,
            "only {closed} idle connections were shed (tls: {tls})"
        );
    }
}

fn health(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn health_over_tls(server: &Server) -> String {
    let invitation = client_core::Invitation::parse(&server.invite("probe", "hq", "Team 3", None)).unwrap();
    let authority =
        client_core::fetch_authority(&server.https_url(), invitation.ca_fingerprint.as_deref().unwrap()).unwrap();
    let roots = ureq::tls::RootCerts::new_with_certs(&[ureq::tls::Certificate::from_der(&authority).to_owned()]);
    let agent = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    agent
        .get(format!("{}/health", server.https_url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// Whether the server has closed this connection (a read returns end of file or a reset at once).
fn closed_by_server(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0];
    match (&*stream).read(&mut byte) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

/// The protocol held to its text over HTTP: a body over the limit answered in the protocol's JSON, the content
/// type checked, a second zstd frame and a digest of the wrong length refused, the `Bearer` scheme read in any
/// case; and the headers every HTML page carries.
#[test]
fn the_protocol_is_held_to_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    let url = server.serve();
    let (_, token) = server.enrol("hq-laptop", "hq");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let post = |content_type: &str, body: &[u8], scheme: &str| {
        let mut response = agent
            .post(format!("{url}{}", protocol::SYNC_PATH))
            .header("Authorization", &format!("{scheme} {token}"))
            .header("Content-Type", content_type)
            .send(body)
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().with_config().limit(1 << 26).read_to_vec().unwrap(),
        )
    };
    let error = |(status, body): (u16, Vec<u8>)| {
        let error: protocol::ErrorBody = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{status}: not the protocol's JSON: {}", String::from_utf8_lossy(&body)));
        (status, error.code, error.message)
    };
    let request = protocol::encode(&protocol::SyncRequest::new(0, None)).unwrap();

    let (status, _) = post(protocol::MEDIA_TYPE, &request, "bearer");
    assert_eq!(status, 200, "the scheme's name in lower case");
    // One byte over: the server answers only once it has read the last byte, so the client has sent it all (a
    // larger body would race the server's answer against the rest of the upload).
    let over = vec![0; protocol::limits::MAX_REQUEST_BYTES + 1];
    let (status, code, message) = error(post(protocol::MEDIA_TYPE, &over, "Bearer"));
    assert_eq!((status, code), (413, protocol::ErrorCode::TooLarge), "{message}");
    assert!(message.contains("16 MiB"), "{message}");
    let (status, code, message) = error(post("application/json", &request, "Bearer"));
    assert_eq!((status, code), (400, protocol::ErrorCode::BadRequest));
    assert!(
        message.contains("Content-Type: application/vnd.fieldsync.v1+cbor-zstd"),
        "{message}"
    );
    let twice = [request.clone(), request.clone()].concat();
    let (status, _, message) = error(post(protocol::MEDIA_TYPE, &twice, "Bearer"));
    assert_eq!(status, 400);
    assert!(message.contains("one frame"), "{message}");
    let mut reconcile = protocol::SyncRequest::new(0, None);
    reconcile.reconcile = Some(vec![protocol::DocumentDigest {
        record_id: uuid::Uuid::now_v7(),
        digest: serde_bytes::ByteBuf::from(vec![1, 2, 3]),
    }]);
    let (status, _, message) = error(post(
        protocol::MEDIA_TYPE,
        &protocol::encode(&reconcile).unwrap(),
        "Bearer",
    ));
    assert_eq!(status, 400);
    assert!(message.contains("3 bytes"), "{message}");

    let page = agent.get(format!("{url}/")).call().unwrap();
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert!(
        header("content-security-policy").contains("frame-ancestors 'none'"),
        "{}",
        header("content-security-policy")
    );
    assert!(header("content-security-policy").contains("script-src 'self'"));
}

/// The bytes the server's database takes on disk, its write-ahead log included.
fn database_bytes(server: &Server) -> u64 {
    std::fs::read_dir(&server.data_dir)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("fieldsync-server.db"))
        .map(|entry| entry.metadata().unwrap().len())
        .sum()
}

/// A deminer's token sending refused changes over and over (each request a few KB compressed, 20 MiB of changes
/// once decompressed) cannot grow the database beyond its day's quarantine quota: beyond it the refusals are
/// counted and hashed, each is still reported to the device, and another device's refusals are still kept.
#[test]
fn a_device_over_its_quarantine_quota_cannot_grow_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::new(dir.path());
    let url = server.serve_with(&["--quarantine-quota-mib", "2"]);
    let (_, flooder) = server.enrol("tablet-x", "deminer");
    let (_, neighbour) = server.enrol("tablet-y", "deminer");
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let push = |token: &str, changes: usize, seed: u8| {
        let mut request = protocol::SyncRequest::new(0, None);
        request.push = (0..changes)
            .map(|i| protocol::PushedChanges {
                record_id: Some(uuid::Uuid::now_v7()),
                // Not an Automerge change: refused, and quarantined byte for byte (up to the quota).
                changes: vec![serde_bytes::ByteBuf::from(vec![seed.wrapping_add(i as u8); 512 * 1024])],
            })
            .collect();
        let body = protocol::encode(&request).unwrap();
        assert!(body.len() < 64 * 1024, "{} bytes compressed", body.len());
        let mut response = agent
            .post(format!("{url}{}", protocol::SYNC_PATH))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", protocol::MEDIA_TYPE)
            .send(&body[..])
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body = response.body_mut().with_config().limit(1 << 26).read_to_vec().unwrap();
        protocol::decode::<protocol::SyncResponse>(&body).unwrap()
    };
    let before = database_bytes(&server);
    let mut reported = 0;
    for round in 0..3u8 {
        reported += push(&flooder, 40, round.wrapping_mul(40)).rejected.len();
    }
    assert_eq!(reported, 120, "every refusal is still reported to the device");
    assert_eq!(push(&neighbour, 1, 200).rejected.len(), 1);
    server.stop();

    let grown = database_bytes(&server) - before;
    // 60 MiB refused; 2 MiB of it kept, and the write-ahead log's few pages beside it.
    assert!(grown < 8 << 20, "the database grew by {grown} bytes");
    let listed = server.ok(&["quarantine", "list"]);
    let kept = server.quarantined();
    assert!((3..=5).contains(&kept), "{kept} kept: {listed}");
    let beyond = listed
        .lines()
        .find(|l| l.contains("beyond its quarantine quota"))
        .unwrap_or_else(|| panic!("no overflow listed: {listed}"));
    let counted: usize = beyond
        .split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(kept - 1 + counted, 120, "{beyond}");
    assert!(beyond.contains("digest sha256:"), "{beyond}");
}
