//! Many devices, partitions and faults on the in-memory network (tests/src/network.rs): real stores and a real
//! sync server joined without sockets, so that hundreds of schedules run in seconds.
#![allow(clippy::unwrap_used)]

use serde_json::json;
use std::collections::BTreeSet;
use tests::network::{Faults, Network};
use tests::{DeviceRole, create, day_of_work, visible_state};
use uuid::Uuid;

const TEAM: &str = "Team 3";

/// A record as `visible_state` lists it.
type Row = (String, String, String, Vec<String>);

/// The first row of `a` that `b` lacks: where two replicas differ.
fn first_not_in(a: &[Row], b: &[Row]) -> Option<Row> {
    a.iter().find(|x| !b.contains(x)).cloned()
}

fn sync_ok(net: &mut Network, i: usize) {
    let report = net.sync(i).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
}

#[test]
fn three_devices_syncing_in_different_orders_converge_with_conflicts_visible() {
    let mut net = Network::new(1);
    let a = net.add_device("tablet-a", DeviceRole::Supervisor, &[TEAM]);
    let b = net.add_device("tablet-b", DeviceRole::Supervisor, &[TEAM]);
    let c = net.add_device("laptop-c", DeviceRole::Supervisor, &[TEAM]);

    let (task, wa, find_id) = day_of_work(&mut net.nodes[a].store);
    for i in [a, b, c] {
        sync_ok(&mut net, i);
    }
    assert_eq!(net.nodes[b].store.count().unwrap(), 3);

    // Offline: everyone records and edits, two of them the same field.
    let mut created = Vec::new();
    for i in [a, b, c] {
        let mut f = tests::find(Uuid::now_v7(), task, Some(wa), &format!("F-20{i}"));
        f["location"]["lat"] = json!(40.5003 + i as f64 * 0.00005);
        created.push(create(&mut net.nodes[i].store, f));
    }
    for (i, patch) in [
        (a, json!({"category": "uxo", "model": "VOG-17"})),
        (b, json!({"category": "at_mine", "model": "TM-62M"})),
        (c, json!({"notes": {"qa": {"text": "checked on site"}}})),
    ] {
        net.nodes[i].store.patch(find_id, &patch).unwrap();
    }

    for order in [[c, a, b], [b, c, a], [a, b, c], [c, b, a]] {
        for i in order {
            sync_ok(&mut net, i);
        }
    }
    let state = visible_state(&net.nodes[a].store);
    assert_eq!(visible_state(&net.nodes[b].store), state);
    assert_eq!(visible_state(&net.nodes[c].store), state);
    assert_eq!(net.nodes[a].store.count().unwrap(), 6, "no record lost");
    for node in &net.nodes {
        let stored = node.store.get(find_id).unwrap();
        let fields: Vec<&str> = stored.conflicts.iter().map(|c| c.field.as_str()).collect();
        assert!(fields.contains(&"category") && fields.contains(&"model"), "{fields:?}");
        assert_eq!(stored.record.to_json()["notes"]["qa"]["text"], "checked on site");
        assert!(node.store.sync_status().unwrap().unacknowledged.is_empty());
    }
    for id in created {
        assert!(net.server_record(0, id).is_some(), "the server holds {id}");
    }
}

/// One random schedule: 3–6 supervisors of one team record finds and edit them offline and concurrently while the
/// network partitions them, loses requests and answers, delivers requests twice and late. Once the network heals,
/// every replica is identical and holds every record anyone created, and nothing is left unacknowledged.
fn schedule(net: &mut Network, seed: u64) -> Result<(), String> {
    let devices = 3 + (seed % 4) as usize;
    for d in 0..devices {
        net.add_device(&format!("device-{d}"), DeviceRole::Supervisor, &[TEAM]);
    }
    let (task, wa) = (net.record_id(), net.record_id());
    create(&mut net.nodes[0].store, tests::task(task));
    create(&mut net.nodes[0].store, tests::worked_area(wa, task, "T-031/B3"));
    let mut created: Vec<Uuid> = vec![task, wa];
    let mut finds: Vec<Uuid> = Vec::new();
    net.faults = Faults {
        drop_request: 0.1,
        drop_response: 0.1,
        duplicate: 0.1,
        delay: 0.1,
    };
    for step in 0..40 {
        let i = net.below(devices);
        let action = net.below(100);
        if action < 30 {
            let id = net.record_id();
            let mut f = tests::find(id, task, Some(wa), &format!("F-{seed}-{step}"));
            f["location"]["lat"] = json!(40.5001 + net.below(300) as f64 * 0.000001);
            // A device that has not yet heard of the task cannot file a find under it.
            if net.nodes[i].store.get(task).is_ok() {
                net.trace.push(format!("device-{i}: records find {id}"));
                create(&mut net.nodes[i].store, f);
                created.push(id);
                finds.push(id);
            }
        } else if action < 55 && !finds.is_empty() {
            let id = finds[net.below(finds.len())];
            if net.nodes[i].store.get(id).is_err() {
                continue;
            }
            let patch = match net.below(4) {
                0 => json!({"category": "uxo", "model": "VOG-17"}),
                1 => json!({"category": "at_mine", "model": "TM-62M"}),
                2 => json!({"quantity": 1 + net.below(3)}),
                _ => json!({"notes": {format!("n-{step}"): {"text": format!("seen by device {i}")}}}),
            };
            net.trace.push(format!("device-{i}: edits {id}: {patch}"));
            net.nodes[i]
                .store
                .patch(id, &patch)
                .map_err(|e| format!("device-{i} could not edit {id}: {e}"))?;
        } else if action < 85 {
            let _ = net.sync(i);
        } else if action < 95 {
            let node = &mut net.nodes[i];
            node.partitioned = !node.partitioned;
            let partitioned = node.partitioned;
            net.trace.push(format!("device-{i}: partitioned {partitioned}"));
        } else {
            net.deliver_delayed();
        }
    }
    net.quiesce(30);

    let state = visible_state(&net.nodes[0].store);
    for (i, node) in net.nodes.iter().enumerate() {
        let theirs = visible_state(&node.store);
        if theirs != state {
            return Err(format!(
                "device-{i} differs from device-0 at quiescence:\n  device-0 has {:?}\n  device-{i} has {:?}",
                first_not_in(&state, &theirs),
                first_not_in(&theirs, &state)
            ));
        }
        let held: BTreeSet<Uuid> = created
            .iter()
            .copied()
            .filter(|id| node.store.get(*id).is_ok())
            .collect();
        if held.len() != created.len() {
            let lost: Vec<&Uuid> = created.iter().filter(|id| !held.contains(id)).collect();
            return Err(format!("device-{i} lacks {lost:?}"));
        }
        let status = node.store.sync_status().unwrap();
        if !status.unacknowledged.is_empty() || !status.rejected.is_empty() {
            return Err(format!(
                "device-{i} still has unacknowledged {:?} or refused {:?} changes",
                status.unacknowledged, status.rejected
            ));
        }
    }
    if let Some(id) = created.iter().find(|id| net.server_record(0, **id).is_none()) {
        return Err(format!("the server lacks {id}"));
    }
    if net.quarantined(0) > 0 {
        return Err(format!("the server quarantined {} changes", net.quarantined(0)));
    }
    Ok(())
}

/// 200 seeded schedules (`FIELDSYNC_SCHEDULES` for more, `FIELDSYNC_FIRST_SEED` to start elsewhere); a failure
/// names its seed, so that `FIELDSYNC_FIRST_SEED=<seed> FIELDSYNC_SCHEDULES=1` replays it.
#[test]
fn random_schedules_of_partitions_and_faults_converge_without_losing_a_record() {
    run_schedules("schedules", "FIELDSYNC_SCHEDULES", 200, schedule);
}

/// Runs `count` seeded schedules (`variable` for another count, `FIELDSYNC_FIRST_SEED` to start elsewhere) and
/// panics at the first that fails, naming its seed, how to replay it, and its last events.
fn run_schedules(what: &str, variable: &str, count: u64, schedule: fn(&mut Network, u64) -> Result<(), String>) {
    let count: u64 = std::env::var(variable).map_or(count, |v| v.parse().unwrap());
    let first: u64 = std::env::var("FIELDSYNC_FIRST_SEED").map_or(0, |v| v.parse().unwrap());
    let started = std::time::Instant::now();
    for seed in first..first + count {
        let mut net = Network::new(seed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| schedule(&mut net, seed)));
        let why = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(why)) => why,
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into()),
        };
        let trace = net.trace[net.trace.len().saturating_sub(60)..].join("\n  ");
        panic!(
            "{what}: seed {seed} failed: {why}\nreplay it with FIELDSYNC_FIRST_SEED={seed} {variable}=1; its last events:\n  {trace}"
        );
    }
    eprintln!(
        "{count} {what} from seed {first} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Two servers on one network (two camps not yet joined by a relay): each device converges with the devices of
/// its own server, and nothing of one server's devices reaches the other's.
#[test]
fn devices_of_two_servers_converge_each_with_their_own() {
    let mut net = Network::new(2);
    let camp = net.add_server();
    let a = net.add_device("camp-0-a", DeviceRole::Supervisor, &[TEAM]);
    let b = net.add_device("camp-0-b", DeviceRole::Supervisor, &[TEAM]);
    let c = net.add_device_on(camp, "camp-1-c", DeviceRole::Supervisor, &[TEAM]);
    let (task, _, _) = day_of_work(&mut net.nodes[a].store);
    day_of_work(&mut net.nodes[c].store);
    for i in [a, b, c, a, b, c] {
        sync_ok(&mut net, i);
    }
    assert_eq!(visible_state(&net.nodes[a].store), visible_state(&net.nodes[b].store));
    assert_eq!(net.nodes[b].store.count().unwrap(), 3);
    assert_eq!(
        net.nodes[c].store.count().unwrap(),
        3,
        "camp 1 has its own day of work only"
    );
    assert!(net.server_record(0, task).is_some() && net.server_record(camp, task).is_none());
}

/// One random schedule of the base-camp tier: HQ (server 0) and two camps relaying to it, each with 2–3
/// supervisors' tablets, and an HQ analyst's device at HQ. Tablets at both camps record and edit finds of one
/// task, HQ approves some, while tablets and camps' links partition and exchanges are lost, doubled and held
/// back. Once everything heals, every device (whichever server it syncs with) and every server holds the same
/// records, nothing is refused, and nothing is left unacknowledged.
fn camp_schedule(net: &mut Network, seed: u64) -> Result<(), String> {
    let hq = 0;
    let camps = [net.add_server(), net.add_server()];
    for camp in camps {
        net.add_relay(camp, hq, &[TEAM]);
    }
    let per_camp = 2 + (seed % 2) as usize;
    for (c, camp) in camps.into_iter().enumerate() {
        for d in 0..per_camp {
            net.add_device_on(camp, &format!("camp-{c}-tablet-{d}"), DeviceRole::Supervisor, &[TEAM]);
        }
    }
    let analyst = net.add_device_on(hq, "hq-analyst", DeviceRole::Hq, &[TEAM]);
    let devices = net.nodes.len();
    let (task, wa) = (net.record_id(), net.record_id());
    create(&mut net.nodes[0].store, tests::task(task));
    create(&mut net.nodes[0].store, tests::worked_area(wa, task, "T-031/B3"));
    let mut created: Vec<Uuid> = vec![task, wa];
    let mut finds: Vec<Uuid> = Vec::new();
    net.faults = Faults {
        drop_request: 0.1,
        drop_response: 0.1,
        duplicate: 0.1,
        delay: 0.1,
    };
    for step in 0..50 {
        let i = net.below(devices);
        let action = net.below(100);
        if action < 25 && i != analyst {
            let id = net.record_id();
            let mut f = tests::find(id, task, Some(wa), &format!("F-{seed}-{step}"));
            f["location"]["lat"] = json!(40.5001 + net.below(300) as f64 * 0.000001);
            if net.nodes[i].store.get(task).is_ok() {
                net.trace
                    .push(format!("{}: records find {id}", net.nodes[i].device.name));
                create(&mut net.nodes[i].store, f);
                created.push(id);
                finds.push(id);
            }
        } else if action < 40 && !finds.is_empty() {
            let id = finds[net.below(finds.len())];
            if net.nodes[i].store.get(id).is_err() {
                continue;
            }
            let patch = match net.below(3) {
                0 => json!({"category": "uxo", "model": "VOG-17"}),
                1 => json!({"quantity": 1 + net.below(3)}),
                _ => json!({"notes": {format!("n-{step}"): {"text": format!("seen by device {i}")}}}),
            };
            net.trace
                .push(format!("{}: edits {id}: {patch}", net.nodes[i].device.name));
            // A find already in review is not edited in place: the device says so, and that is not a failure.
            let _ = net.nodes[i].store.patch(id, &patch);
        } else if action < 48 && !finds.is_empty() {
            // Review: a camp's supervisor submits and approves; HQ approves what a supervisor approved.
            let id = finds[net.below(finds.len())];
            let store = &mut net.nodes[i].store;
            let Ok(stored) = store.get(id) else { continue };
            let review = stored.record.meta.review.to_string();
            let step_taken = match (review.as_str(), i == analyst) {
                ("draft", false) => store.submit(id).map(|_| "submits"),
                ("submitted", false) => store.approve(id, &[], None).map(|_| "approves"),
                ("supervisor_approved", true) => store.approve(id, &[], None).map(|_| "approves for HQ"),
                _ => continue,
            };
            if let Ok(what) = step_taken {
                net.trace.push(format!("{}: {what} {id}", net.nodes[i].device.name));
            }
        } else if action < 72 {
            let _ = net.sync(i);
        } else if action < 80 {
            let l = net.below(net.links.len());
            let _ = net.relay(l);
        } else if action < 82 {
            // A USB stick from a camp to HQ; one in four is lost on the way.
            let l = net.below(net.links.len());
            let (all, lost) = (net.below(4) == 0, net.below(4) == 0);
            net.carry_up(l, all, lost);
        } else if action < 84 {
            let l = net.below(net.links.len());
            net.carry_down(l);
        } else if action < 90 {
            let node = &mut net.nodes[i];
            node.partitioned = !node.partitioned;
            let line = format!("{}: partitioned {}", node.device.name, node.partitioned);
            net.trace.push(line);
        } else if action < 96 {
            let l = net.below(net.links.len());
            let link = &mut net.links[l];
            link.partitioned = !link.partitioned;
            let line = format!("{}: link down {}", link.relay.name, link.partitioned);
            net.trace.push(line);
        } else {
            net.deliver_delayed();
        }
    }
    net.quiesce(30);

    // An edit made offline while another device approved the record is refused (an approved record is never
    // edited in place), at the camp or at HQ, and stays on the device that made it, reported in its status.
    // Those records may differ on that device; every other record is the same everywhere.
    let mut told: BTreeSet<String> = BTreeSet::new();
    let mut refused_records: BTreeSet<String> = BTreeSet::new();
    for node in &net.nodes {
        let status = node.store.sync_status().unwrap();
        // What is refused stays unacknowledged on the device; nothing else may.
        let refused_labels: BTreeSet<Option<&str>> = status.rejected.iter().map(|r| r.label.as_deref()).collect();
        if let Some(waiting) = status
            .unacknowledged
            .keys()
            .find(|l| !refused_labels.contains(&Some(l.as_str())))
        {
            return Err(format!(
                "{} still has unacknowledged changes of {waiting}",
                node.device.name
            ));
        }
        for refused in &status.rejected {
            use protocol::RejectionCode::{Deferred, Invalid, NotPermitted};
            if ![NotPermitted, Invalid, Deferred].contains(&refused.code) {
                return Err(format!("{} had a change refused: {refused:?}", node.device.name));
            }
            refused_records.insert(refused.record_id.to_string());
            told.insert(refused.change.clone());
        }
    }
    let settled = |node: &tests::network::Node| -> Vec<Row> {
        visible_state(&node.store)
            .into_iter()
            .filter(|row| !refused_records.iter().any(|id| row.0.contains(id.as_str())))
            .collect()
    };
    let state = settled(&net.nodes[analyst]);
    for node in &net.nodes {
        let theirs = settled(node);
        if theirs != state {
            return Err(format!(
                "{} differs from HQ's analyst at quiescence:\n  the analyst has {:?}\n  {} has {:?}",
                node.device.name,
                first_not_in(&state, &theirs),
                node.device.name,
                first_not_in(&theirs, &state)
            ));
        }
        if let Some(id) = created.iter().find(|id| node.store.get(**id).is_err()) {
            return Err(format!("{} lacks {id}", node.device.name));
        }
        // Receipts: every record it changed and nobody refused has reached HQ, and it knows it.
        for id in created.iter().filter(|id| !refused_records.contains(&id.to_string())) {
            let reached = node.store.reached(*id).unwrap();
            if reached.is_some_and(|r| r != client_core::Reached::Hq) {
                return Err(format!(
                    "{}'s receipt for {id} says {reached:?} at quiescence",
                    node.device.name
                ));
            }
        }
    }
    for server in [hq, camps[0], camps[1]] {
        if let Some(id) = created.iter().find(|id| net.server_record(server, **id).is_none()) {
            return Err(format!("server {server} lacks {id}"));
        }
        // Every refusal, here or upstream, reached the device that made the change (a change deferred behind a
        // refused one is told by that one).
        for (code, hash) in net.quarantined_changes(server) {
            if code.ends_with("deferred") {
                continue;
            }
            if !hash.as_ref().is_some_and(|h| told.contains(h)) {
                return Err(format!(
                    "server {server} refused {hash:?} ({code}) and no device heard of it"
                ));
            }
        }
    }
    Ok(())
}

/// 500 seeded schedules of the base-camp tier (`FIELDSYNC_CAMP_SCHEDULES` for more, `FIELDSYNC_FIRST_SEED` to
/// start elsewhere); a failure names its seed.
#[test]
fn random_schedules_of_camps_relaying_to_hq_converge_without_losing_a_record() {
    run_schedules("camp schedules", "FIELDSYNC_CAMP_SCHEDULES", 500, camp_schedule);
}
