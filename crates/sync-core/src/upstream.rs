//! The camp side of the base-camp tier (docs/relay.md): this server syncs with the server it relays to (HQ) as
//! a device would, through the same sans-IO session (protocol::session), with its own storage as the replica.
//!
//! - Push: every change of this server's log that a device enrolled here pushed and upstream has not answered,
//!   in log order (so a change's dependencies always go first), up to RUN_CHANGES a request, each run of one
//!   device's changes named in `on_behalf_of`, so upstream judges it as that device's.
//! - Pull: what upstream holds in the relay's scope (HQ's decisions, other camps' work on shared tasks), less
//!   what this relay forwarded, taken in as upstream decided it (ingress::Judge::Upstream), as changes of the
//!   upstream server (recorded as a vouched device of role hq that carries itself, so that what came down is
//!   never sent back up).
//! - Upstream's refusals go into this server's quarantine under the device that made the change.
//! - Where it stands (`UpstreamState`) is kept in the store after every answer: its cursor and cursor check at
//!   upstream, and the log position through which upstream has answered every forwarded change.
//!
//! The session is synchronous (it drives a blocking transport); the store is async. [`relay`] runs on a blocking
//! thread and waits on the store through the runtime's handle.

use crate::SyncServer;
use crate::store::{Device, Forwardable, NewQuarantined, Role, StorageError, SyncStore, UpstreamState, Vouched};
use automerge::Automerge;
use chrono::{DateTime, Utc};
use protocol::session::{self, ExchangeError, SessionError, SyncReport};
use protocol::{Carried, DeviceProfile, DocumentChanges, PushedChanges, SyncRequest, SyncResponse};
use serde_bytes::ByteBuf;
use std::collections::HashMap;
use tokio::runtime::Handle;
use uuid::Uuid;

/// Changes forwarded in one request at most: a page in flight on a link that drops is this much to send again.
pub const RUN_CHANGES: u32 = 500;
/// Requests shrink to this after repeated drops, and grow back to RUN_CHANGES, doubling with each answer.
const SMALLEST_RUN: u32 = 8;

/// Why a relay round stopped on this server's side (its storage, or what upstream sent that cannot be taken in).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("what upstream sent could not be taken in: {0}")]
    Pulled(String),
}

/// What one relay round did, summed over its sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelayReport {
    pub requests: usize,
    /// Changes forwarded that upstream accepted.
    pub forwarded: usize,
    /// Changes upstream refused that this round kept in this server's quarantine.
    pub refused: usize,
    /// Changes pulled from upstream.
    pub pulled: usize,
}

/// Syncs with upstream until neither side has anything more for the other. `send` is one exchange with
/// upstream (HTTP in the server; the tests' network in the simulation). Runs on a blocking thread.
pub fn relay<S: SyncStore, E: ExchangeError>(
    server: &SyncServer<S>,
    handle: &Handle,
    mut send: impl FnMut(&SyncRequest) -> Result<SyncResponse, E>,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<RelayReport, SessionError<UpstreamError, E>> {
    let state = handle
        .block_on(server.store.upstream_state())
        .map_err(|e| SessionError::Replica(e.into()))?;
    let mut camp = Camp {
        server,
        handle,
        // Changes went up on a bundle that upstream has not yet said it took: the first request asks first.
        ask_first: state.bundled_through > state.forwarded_through,
        state,
        now: &now,
        profiles: HashMap::new(),
    };
    let mut report = RelayReport::default();
    let refused_before = camp.state.refused;
    loop {
        let before = camp.state.forwarded_through;
        let asks = camp.ask_first;
        let round = match session::run(&mut camp, &mut send, |_| {}) {
            Ok(round) => round,
            Err(SessionError::Send(e)) => {
                // The link dropped before a single answer came: the next requests are half as large, so that a
                // link that drops more often than a full request takes still carries something each time. (A
                // round that got answers first keeps the size: its link carries full requests between drops.)
                if camp.state.forwarded_through == before {
                    camp.state.run_changes = (camp.run_changes() / 2).max(SMALLEST_RUN);
                    camp.save().map_err(|e| SessionError::Replica(e.into()))?;
                }
                return Err(SessionError::Send(e));
            }
            Err(e) => return Err(e),
        };
        add(&mut report, &round);
        // Refusals newly kept here (one told again, which upstream does until the relay's cursor moves past the
        // answer that told it, is kept and counted once).
        report.refused = (camp.state.refused - refused_before) as usize;
        // A session stops when a push made no progress (every change of a run refused): the next run may fare
        // better, so go on while the log position moves.
        if (camp.state.forwarded_through == before && !asks)
            || !session::Replica::has_pushable(&mut camp).map_err(SessionError::Replica)?
        {
            break;
        }
    }
    Ok(report)
}

fn add(report: &mut RelayReport, round: &SyncReport) {
    report.requests += round.requests;
    report.forwarded += round.accepted;
    report.pulled += round.pulled;
}

/// This server as the replica of a session with upstream.
struct Camp<'a, S, N> {
    server: &'a SyncServer<S>,
    handle: &'a Handle,
    state: UpstreamState,
    /// The next request pushes nothing: its answer says how far upstream took this camp's bundles.
    ask_first: bool,
    now: &'a N,
    /// The devices enrolled here, by id, as their changes are vouched for.
    profiles: HashMap<Uuid, DeviceProfile>,
}

/// What a request forwarded: the log position it reaches, and its changes by hash (with their record and the
/// device that made them), for upstream's refusals.
struct Forwarded {
    through: u64,
    changes: HashMap<String, ForwardedChange>,
    /// Pushed nothing, to hear how far upstream took this camp's bundles.
    asks: bool,
}

#[derive(Clone)]
struct ForwardedChange {
    record_id: Uuid,
    device_id: Uuid,
    bytes: Vec<u8>,
}

impl<S: SyncStore, N: Fn() -> DateTime<Utc>> Camp<'_, S, N> {
    fn wait<T>(&self, work: impl Future<Output = T>) -> T {
        self.handle.block_on(work)
    }

    /// How many changes a request carries now (fewer after the link dropped requests in flight).
    fn run_changes(&self) -> u32 {
        match self.state.run_changes {
            0 => RUN_CHANGES,
            n => n.min(RUN_CHANGES),
        }
    }

    /// The next changes to forward, after the forwarded position, in log order.
    fn next_run(&self) -> Result<Vec<Forwardable>, StorageError> {
        self.wait(
            self.server
                .store
                .forwardable(self.state.forwarded_through, self.run_changes()),
        )
    }

    fn profile(&mut self, id: Uuid) -> Result<DeviceProfile, StorageError> {
        if !self.profiles.contains_key(&id) {
            for device in self.wait(self.server.store.devices())? {
                self.profiles.insert(device.id, device.profile());
            }
        }
        self.profiles
            .get(&id)
            .cloned()
            .ok_or_else(|| StorageError::Damaged(format!("the log names device {id}, which is not enrolled")))
    }

    /// A change forwarded before this request (on a bundle, or in a request whose answer told it already) that
    /// upstream refused: found in the log, unless it is in quarantine here already with this code (a refusal
    /// told again is kept, and counted, once).
    fn earlier(&self, record: Uuid, hash: &str, code: &str) -> Result<Option<ForwardedChange>, StorageError> {
        let pushers = self.wait(self.server.store.change_pushers(record))?;
        let Some(device_id) = pushers.iter().find(|(h, _)| hex(h) == hash).map(|(_, d)| *d) else {
            return Ok(None);
        };
        let known = self.wait(self.server.store.refused_upstream(device_id, 0, u32::MAX))?;
        if known
            .iter()
            .any(|q| q.item.change_hash.as_deref() == Some(hash) && q.item.code == code)
        {
            return Ok(None);
        }
        let changes = self.wait(self.server.store.document_changes(record))?;
        let bytes = changes
            .into_iter()
            .find(|bytes| domain::document::change_hash(bytes).is_some_and(|h| hex(&h) == hash));
        Ok(bytes.map(|bytes| ForwardedChange {
            record_id: record,
            device_id,
            bytes,
        }))
    }

    fn save(&self) -> Result<(), StorageError> {
        self.wait(self.server.store.set_upstream_state(self.state.clone()))
    }

    /// Takes in what upstream sent, as upstream decided it, as upstream's own changes.
    fn take_in(&mut self, request: &SyncRequest, response: &SyncResponse) -> Result<usize, UpstreamError> {
        if response.pull.is_empty() {
            return Ok(0);
        }
        let upstream = Device {
            id: response.server_id,
            name: format!("upstream {}", response.server_id),
            teams: Default::default(),
            role: Role::Hq,
            created_at: (self.now)(),
            revoked_at: None,
        };
        let vouched = Vouched {
            device: upstream.clone(),
            carrier: upstream.id,
        };
        self.wait(self.server.store.vouch(vouched))?;
        let mut push = Vec::with_capacity(response.pull.len());
        for document in &response.pull {
            push.push(opened(document).map_err(UpstreamError::Pulled)?);
        }
        let records = push.len();
        let pushed = self
            .wait(self.server.take_in_upstream(&upstream, push, (self.now)()))
            .map_err(|e| UpstreamError::Pulled(e.message))?;
        for rejection in &pushed.rejected {
            // Wanted again only if it was not just sent whole, which would ask for it for ever.
            if rejection.code == protocol::RejectionCode::Deferred && !request.want.contains(&rejection.record_id) {
                let wanted = &mut self.state.wanted;
                if !wanted.contains(&rejection.record_id) && wanted.len() < protocol::limits::MAX_WANT {
                    wanted.push(rejection.record_id);
                }
                continue;
            }
            let (record, code) = (rejection.record_id, rejection.code);
            tracing::warn!(%record, ?code, "refused what upstream sent (quarantined): {}", rejection.message);
        }
        Ok(records - pushed.rejected.len())
    }
}

impl<S: SyncStore, N: Fn() -> DateTime<Utc>> session::Replica for Camp<'_, S, N> {
    type Error = UpstreamError;
    type Sent = Forwarded;

    fn next_request(&mut self) -> Result<(SyncRequest, Forwarded), UpstreamError> {
        let asks = std::mem::take(&mut self.ask_first);
        let run = if asks { vec![] } else { self.next_run()? };
        let mut request = SyncRequest::new(self.state.cursor, self.state.server_id);
        request.cursor_check = self.state.cursor_check.clone().map(ByteBuf::from);
        request.want = self.state.wanted.clone();
        let mut sent = Forwarded {
            through: self.state.forwarded_through,
            changes: HashMap::new(),
            asks,
        };
        // A record's first change goes without the record's id, which it carries (as a tablet pushes a new
        // record): 40 bytes less a new record, a third of a find's share of the link.
        let records: Vec<Uuid> = run.iter().map(|c| c.record_id).collect();
        let firsts: std::collections::HashSet<(Uuid, u64)> = self
            .wait(self.server.store.first_changes(&records))?
            .into_iter()
            .collect();
        // The device and record of the last push entry: a change of both joins it.
        let mut last_entry: Option<(Uuid, Uuid)> = None;
        for change in run {
            sent.through = change.seq;
            let first = firsts.contains(&(change.record_id, change.seq));
            // A new run of `on_behalf_of` where the device changes; a new push entry where the record changes.
            let same_device = request
                .on_behalf_of
                .last()
                .is_some_and(|c| c.device.id == change.device_id);
            if !same_device {
                let device = self.profile(change.device_id)?;
                request.on_behalf_of.push(Carried { device, records: 0 });
            }
            if let Some(hash) = domain::document::change_hash(&change.bytes) {
                let forwarded = ForwardedChange {
                    record_id: change.record_id,
                    device_id: change.device_id,
                    bytes: change.bytes.clone(),
                };
                sent.changes.insert(hex(&hash), forwarded);
            }
            let bytes = ByteBuf::from(change.bytes);
            let entry = (change.device_id, change.record_id);
            match request.push.last_mut() {
                Some(last) if last_entry == Some(entry) => last.changes.push(bytes),
                _ => {
                    last_entry = Some(entry);
                    request.push.push(PushedChanges {
                        record_id: (!first).then_some(change.record_id),
                        changes: vec![bytes],
                    });
                    if let Some(run) = request.on_behalf_of.last_mut() {
                        run.records += 1;
                    }
                }
            }
        }
        Ok((request, sent))
    }

    fn apply(
        &mut self,
        sent: &Forwarded,
        request: &SyncRequest,
        response: &SyncResponse,
    ) -> Result<usize, UpstreamError> {
        // What was wanted came whole with this answer; what still cannot be taken in is wanted again.
        self.state.wanted.retain(|id| !request.want.contains(id));
        let changed = self.take_in(request, response)?;
        // Upstream's refusals stay here, under the device that made the change (nothing is dropped), and the
        // forwarded position moves past them: upstream has decided them. A change upstream defers (it lacks an
        // earlier change of the record, which it refused) is kept the same way.
        let now = (self.now)();
        for rejection in &response.rejected {
            let code = serde_json::to_value(rejection.code)
                .ok()
                .and_then(|v| v.as_str().map(|s| format!("upstream_{s}")))
                .unwrap_or_else(|| "upstream".into());
            for hash in &rejection.changes {
                // A refusal of what this request forwarded, or, told again or after a bundle, of an earlier one.
                let change = match sent.changes.get(hash) {
                    Some(change) => change.clone(),
                    None => match self.earlier(rejection.record_id, hash, &code)? {
                        Some(change) => change,
                        None => continue,
                    },
                };
                let item = NewQuarantined {
                    device_id: change.device_id,
                    record_id: change.record_id,
                    change_hash: Some(hash.clone()),
                    bytes: change.bytes,
                    code: code.clone(),
                    message: format!("upstream refused it: {}", rejection.message),
                    issues: rejection.issues.clone(),
                    received_at: now,
                };
                self.wait(self.server.store.quarantine(item))?;
                self.state.refused += 1;
            }
        }
        self.state.sent += sent.changes.len() as u64;
        if !request.push.is_empty() {
            self.state.run_changes = (self.run_changes() * 2).min(RUN_CHANGES);
        }
        // What upstream took from this camp's bundles is answered too.
        self.state.forwarded_through = sent.through.max(response.bundled_through.unwrap_or(0));
        if sent.asks && self.state.forwarded_through < self.state.bundled_through {
            // Upstream has not (yet) imported the bundles: what they held goes over the link now, and a bundle
            // written after this holds it again.
            tracing::info!(
                answered = self.state.forwarded_through,
                bundled = self.state.bundled_through,
                "upstream has not imported this camp's last bundles: forwarding what they held"
            );
            self.state.bundled_through = self.state.forwarded_through;
        }
        self.state.server_id = Some(response.server_id);
        self.state.cursor = response.cursor;
        self.state.cursor_check = response.cursor_check.clone().map(|c| c.into_vec());
        self.state.last_contact = Some(now);
        self.state.last_error = None;
        self.save()?;
        Ok(changed)
    }

    fn forget_cursor(&mut self) -> Result<(), UpstreamError> {
        // Upstream is new or was restored from a backup: everything is sent again from the start (upstream keeps
        // each change once) and everything in scope pulled again.
        self.state = UpstreamState {
            refused: self.state.refused,
            ..UpstreamState::default()
        };
        Ok(self.save()?)
    }

    fn has_pushable(&mut self) -> Result<bool, UpstreamError> {
        Ok(!self
            .wait(self.server.store.forwardable(self.state.forwarded_through, 1))?
            .is_empty())
    }

    fn has_wanted(&mut self) -> Result<bool, UpstreamError> {
        Ok(!self.state.wanted.is_empty())
    }

    fn finished(&mut self) -> Result<(), UpstreamError> {
        Ok(())
    }
}

/// A pulled document as a push: a snapshot opened into its changes, which ingress checks one by one.
pub(crate) fn opened(document: &DocumentChanges) -> Result<PushedChanges, String> {
    let mut changes = Vec::new();
    if let Some(snapshot) = &document.snapshot {
        let doc =
            Automerge::load(snapshot).map_err(|e| format!("the snapshot of record {}: {e}", document.record_id))?;
        changes.extend(
            doc.get_changes(&[])
                .into_iter()
                .map(|c| ByteBuf::from(c.raw_bytes().to_vec())),
        );
    }
    changes.extend(document.changes.iter().cloned());
    Ok(PushedChanges {
        record_id: Some(document.record_id),
        changes,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
