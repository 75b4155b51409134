//! A camp's relay over a link that drops (tests/src/shaped_link.rs): every change reaches HQ once, whatever the
//! link cuts in flight.
#![allow(clippy::unwrap_used)]

use server::config::Upstream;
use std::time::{Duration, Instant};
use sync_core::store::SyncStore;
use tests::shaped_link::{Shape, ShapedLink};
use tests::*;
use uuid::Uuid;

#[test]
fn a_camps_relay_over_a_link_that_keeps_dropping_delivers_every_change_once() {
    let dir = tempfile::tempdir().unwrap();
    let hq = TestServer::start(&dir.path().join("hq"));
    let (_, relay_token) = hq.enrol("camp A", &["Team 3"], DeviceRole::Relay);
    let camp_dir = dir.path().join("camp");
    let camp = TestServer::start(&camp_dir);
    let (_, token) = camp.enrol("tablet", &["Team 3"], DeviceRole::Supervisor);
    let mut tablet = store(&dir.path().join("tablet.db"), "tablet", "A. Aliyev");
    tablet.enroll(&camp.url(), &token).unwrap();
    let task = Uuid::now_v7();
    create(&mut tablet, tests::task(task));
    let mut made = vec![task];
    for i in 0..600 {
        made.push(create(
            &mut tablet,
            find_on_grid(Uuid::now_v7(), task, None, &format!("F-{i:03}"), i / 30, i % 30),
        ));
    }
    assert_eq!(tablet.sync(|_| {}).unwrap().accepted, 601);
    camp.stop();

    // A slow link that cuts every connection twice a second: the 601 changes need several requests, several cut.
    let shape = Shape {
        bits_per_second: 256_000,
        round_trip: Duration::from_millis(100),
        drop_every: Some(Duration::from_millis(500)),
    };
    let link = ShapedLink::start(hq.addr, shape);
    let upstream = Upstream {
        url: link.url(),
        token: relay_token,
        ca_fingerprint: None,
        insecure_http: false,
    };
    let camp = TestServer::start_relaying(&camp_dir, upstream, Duration::from_millis(100));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let waiting = camp.storage(|s| async move {
            let state = s.upstream_state().await.unwrap();
            s.forwardable(state.forwarded_through, 1).await.unwrap().len()
        });
        if waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the camp did not reach HQ within two minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(link.drops() > 0, "the link was cut while the camp forwarded");
    assert!(link.connections() > 1, "and the camp connected again");
    let (held, logged) = hq.storage(|s| async move {
        let mut held = 0;
        for id in made {
            held += usize::from(s.record(id).await.unwrap().is_some());
        }
        (held, s.last_seq().await.unwrap())
    });
    assert_eq!(held, 601, "HQ holds every record");
    assert_eq!(logged, 601, "and logged each change once");
    camp.stop();
    hq.stop();
}
