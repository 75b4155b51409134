//! The upstream side of the base-camp tier: a relay's push on behalf of a device enrolled at its camp
//! (docs/relay.md). The relay is the carrier; the device that made the changes is recorded as vouched for by it,
//! and its changes are judged as that device's, with its role and only within the teams the relay carries.

use crate::serve::Refusal;
use crate::store::{Device, Role, SyncStore, Vouched, Vouching};
use chrono::{DateTime, Utc};
use protocol::{Carried, DeviceProfile, ErrorCode, PushedChanges};

/// A relay's push split into its runs (`SyncRequest::on_behalf_of`), each with the device it is judged as, in
/// the order pushed (a run may depend on an earlier one: a task, then another device's finds in it). Refused whole
/// when the runs do not cover the push exactly, or when [`pusher`] refuses one of them.
pub async fn runs<S: SyncStore>(
    store: &S,
    relay: &Device,
    carried: &[Carried],
    push: Vec<PushedChanges>,
    now: DateTime<Utc>,
) -> Result<Vec<(Device, Vec<PushedChanges>)>, Refusal> {
    let covered: u64 = carried.iter().map(|c| u64::from(c.records)).sum();
    if covered != push.len() as u64 {
        let message = format!(
            "on_behalf_of covers {covered} pushed records and the push holds {}: each run names how many \
             consecutive entries of push its device made",
            push.len()
        );
        return Err(Refusal::new(ErrorCode::BadRequest, message));
    }
    let mut entries = push.into_iter();
    let mut runs = Vec::with_capacity(carried.len());
    for run in carried {
        let device = pusher(store, relay, &run.device, now).await?;
        runs.push((device, entries.by_ref().take(run.records as usize).collect()));
    }
    Ok(runs)
}

/// The device a relay's push is judged as: `origin`, as the relay vouches for it, recorded here beside the
/// devices enrolled here, with at most a supervisor's role and only the teams the relay carries. Refused whole
/// when the pusher is not a relay, or speaks for a device enrolled here or carried by another relay.
pub async fn pusher<S: SyncStore>(
    store: &S,
    relay: &Device,
    origin: &DeviceProfile,
    now: DateTime<Utc>,
) -> Result<Device, Refusal> {
    let forbidden = |message: String| Err(Refusal::new(ErrorCode::Forbidden, message));
    if relay.role != Role::Relay {
        return forbidden(format!(
            "{} is enrolled as {}, not as a relay: only a relay pushes changes on behalf of another device",
            relay.name,
            relay.role.as_str()
        ));
    }
    // A relay's word grants no more than a field role and the teams both it and HQ agree on. What goes beyond is
    // not refused for the whole push (that would stall the camp's queue behind it) but record by record, by the
    // same authority and scope checks as any device's push, so each refusal is quarantined at the camp.
    let role = match origin.role {
        Role::Deminer | Role::TeamLeader | Role::Supervisor => origin.role,
        _ => Role::Supervisor,
    };
    let teams: std::collections::BTreeSet<String> = origin
        .teams
        .iter()
        .filter(|t| relay.teams.contains(*t))
        .cloned()
        .collect();
    let device = Device {
        id: origin.id,
        name: origin.name.clone(),
        teams,
        role,
        created_at: now,
        revoked_at: None,
    };
    let vouched = Vouched {
        device: device.clone(),
        carrier: relay.id,
    };
    match store.vouch(vouched).await.map_err(Refusal::internal)? {
        Vouching::Recorded => Ok(device),
        Vouching::EnrolledHere => forbidden(format!(
            "relay {} spoke for device {}, which is enrolled here: a relay speaks only for its camp's devices",
            relay.name, origin.id
        )),
        Vouching::CarriedBy(other) => forbidden(format!(
            "relay {} spoke for device {}, which relay {other} carries",
            relay.name, origin.id
        )),
    }
}
