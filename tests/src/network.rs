//! An in-memory network: device stores and one or more servers joined without sockets, for tests of many devices
//! and many partitions. Each exchange hands a device's request straight to sync_core's `serve` and its response
//! back to the device's sync loop (no HTTP in between: no bearer token, no CBOR + zstd, no body limit), unless the
//! scheduler cuts, drops, duplicates or replays it.
//!
//! Everything else is real: each device is a client-core store on its own SQLite file, each server is a
//! `SyncServer` on the embedded SQLite backend (a device talks to the one it was enrolled with; a camp's server
//! talks to its upstream through a relay link, sync_core::upstream, with the same faults on the way), and every
//! push goes through validation at ingress. Files live in /dev/shm when the machine has it, so that thousands of
//! schedules spend their time in sync, not in fsync.
//!
//! Deterministic for a seed: the faults are drawn from a seeded generator and the server's clock is the number of
//! exchanges so far. (Automerge actors and device ids are random, so which concurrent value wins a field may
//! differ from run to run; that every replica ends with the same one may not.)

use crate::{DeviceRole, noon};
use chrono::{DateTime, Duration, Utc};
use client_core::{Store, SyncError, SyncReport, TransportError};
use protocol::session::SessionError;
use protocol::{SyncRequest, SyncResponse};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use store_sqlite::SqliteStorage;
use sync_core::SyncServer;
use sync_core::store::{Device, NewDevice, SyncStore};
use sync_core::upstream::RelayReport;
use uuid::Uuid;

/// How often each fault strikes an exchange, from 0 (never) to 1 (always).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// The request is lost before the server sees it.
    pub drop_request: f64,
    /// The server commits, and its answer is lost on the way back.
    pub drop_response: f64,
    /// The request arrives twice; the device hears the second answer.
    pub duplicate: f64,
    /// A copy of the request is held back and delivered later, after newer ones (its answer goes nowhere).
    pub delay: f64,
}

/// One device on the network.
#[derive(Debug)]
pub struct Node {
    pub store: Store,
    /// The device as its server enrolled it.
    pub device: Device,
    /// The server it syncs with (an index into [`Network::servers`]).
    pub server: usize,
    /// Cut off from the server: every exchange fails as a lost connection.
    pub partitioned: bool,
}

/// A camp's server relaying to its upstream (sync_core::upstream), enrolled there as `relay`.
#[derive(Debug)]
pub struct Link {
    pub camp: usize,
    pub upstream: usize,
    pub relay: Device,
    /// The camp has no link: every exchange fails as a lost connection.
    pub partitioned: bool,
}

/// Device stores and servers joined in memory.
#[derive(Debug)]
pub struct Network {
    pub nodes: Vec<Node>,
    pub servers: Vec<SyncServer<SqliteStorage>>,
    pub links: Vec<Link>,
    pub faults: Faults,
    runtime: tokio::runtime::Runtime,
    rng: ChaCha8Rng,
    /// Requests held back by [`Faults::delay`], with the device that sent them.
    delayed: Vec<(usize, SyncRequest)>,
    exchanges: u64,
    /// What happened, one line per event, for a failing schedule's report.
    pub trace: Vec<String>,
    dir: tempfile::TempDir,
}

impl Network {
    /// A network with one empty server and no devices; `seed` decides every fault.
    pub fn new(seed: u64) -> Network {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut network = Network {
            nodes: Vec::new(),
            servers: Vec::new(),
            links: Vec::new(),
            faults: Faults::default(),
            runtime,
            rng: ChaCha8Rng::seed_from_u64(seed),
            delayed: Vec::new(),
            exchanges: 0,
            trace: Vec::new(),
            dir,
        };
        network.add_server();
        network
    }

    /// Another empty server, with a data directory of its own; returns its index.
    pub fn add_server(&mut self) -> usize {
        let data_dir = self.dir.path().join(format!("server-{}", self.servers.len()));
        let storage = SqliteStorage::open(&data_dir).unwrap();
        self.servers.push({
            let mut server = SyncServer::new(storage, domain::Programme::default());
            // Schedules restore and reconcile devices many times a simulated minute; the limit is checked
            // in tests/tests/recovery.rs, not here.
            server.reconcile_every = chrono::Duration::zero();
            server
        });
        self.servers.len() - 1
    }

    /// Enrols a new device with `role` and `teams` at the first server and gives it a store; returns its index.
    pub fn add_device(&mut self, name: &str, role: DeviceRole, teams: &[&str]) -> usize {
        self.add_device_on(0, name, role, teams)
    }

    /// Enrols a new device with `role` and `teams` at server `server` and gives it a store; returns its index.
    pub fn add_device_on(&mut self, server: usize, name: &str, role: DeviceRole, teams: &[&str]) -> usize {
        let device = Device {
            id: Uuid::now_v7(),
            name: name.to_string(),
            teams: teams.iter().map(|t| t.to_string()).collect(),
            role,
            created_at: noon(),
            revoked_at: None,
        };
        let token_hash = sync_core::auth::token_hash(&format!("token of {name}"));
        let new = NewDevice {
            device: device.clone(),
            token_hash,
        };
        self.runtime
            .block_on(self.servers[server].store.add_device(new))
            .unwrap();
        let path = self.dir.path().join(format!("{name}.db"));
        let store = crate::store(&path, name, &format!("{name} user"));
        store
            .set_enrolled(&protocol::DeviceProfile {
                id: device.id,
                name: device.name.clone(),
                role,
                teams: device.teams.iter().cloned().collect(),
            })
            .unwrap();
        self.nodes.push(Node {
            store,
            device,
            server,
            partitioned: false,
        });
        self.nodes.len() - 1
    }

    /// Enrols server `camp` at server `upstream` as a relay for `teams`; returns the link's index.
    pub fn add_relay(&mut self, camp: usize, upstream: usize, teams: &[&str]) -> usize {
        let relay = Device {
            id: Uuid::now_v7(),
            name: format!("camp {camp}"),
            teams: teams.iter().map(|t| t.to_string()).collect(),
            role: DeviceRole::Relay,
            created_at: noon(),
            revoked_at: None,
        };
        let new = NewDevice {
            device: relay.clone(),
            token_hash: sync_core::auth::token_hash(&format!("token of camp {camp}")),
        };
        self.runtime
            .block_on(self.servers[upstream].store.add_device(new))
            .unwrap();
        self.servers[camp].relays_upstream = true;
        self.links.push(Link {
            camp,
            upstream,
            relay,
            partitioned: false,
        });
        self.links.len() - 1
    }

    /// Link `l` runs one relay round: the camp syncs with its upstream until neither has more, or to the first
    /// failed exchange.
    pub fn relay(&mut self, l: usize) -> Result<RelayReport, String> {
        let Network {
            links,
            servers,
            faults,
            runtime,
            rng,
            exchanges,
            trace,
            ..
        } = self;
        let link = &links[l];
        let (camp, upstream) = (&servers[link.camp], &servers[link.upstream]);
        let name = link.relay.name.clone();
        // The camp's clock and the exchanges share the count: `now` reads it while `send` moves it.
        let count = std::cell::Cell::new(*exchanges);
        let send = |request: &SyncRequest| -> Result<SyncResponse, TransportError> {
            count.set(count.get() + 1);
            if link.partitioned {
                return Err(lost("memory://upstream", "no link"));
            }
            let now = clock(count.get());
            through_faults(
                *faults,
                rng,
                trace,
                &name,
                |_, _| {},
                || runtime.block_on(upstream.serve(&link.relay, request.clone(), now)),
            )
        };
        let result =
            sync_core::upstream::relay(camp, runtime.handle(), send, || clock(count.get())).map_err(|e| match e {
                SessionError::Replica(e) => e.to_string(),
                SessionError::Send(e) => e.to_string(),
            });
        *exchanges = count.get();
        match &result {
            Ok(r) => trace.push(format!(
                "{name}: relayed, {} forwarded, {} refused upstream, {} pulled",
                r.forwarded, r.refused, r.pulled
            )),
            Err(e) => trace.push(format!("{name}: relay failed: {e}")),
        }
        result
    }

    /// Camp `l`'s supervisor writes a bundle for upstream (`export-bundle --upstream`: what no earlier bundle
    /// held, or with `all` everything upstream has not answered) and carries it there, where it is imported,
    /// unless the stick is `lost` on the way.
    pub fn carry_up(&mut self, l: usize, all: bool, lost: bool) {
        use sync_core::upstream_bundles::{self, Contents};
        self.exchanges += 1;
        let now = clock(self.exchanges);
        let link = &self.links[l];
        let (camp, upstream) = (&self.servers[link.camp], &self.servers[link.upstream]);
        let contents = if all { Contents::Unanswered } else { Contents::New };
        let key = sync_core::auth::token_hash(&format!("token of camp {}", link.camp));
        let line = self.runtime.block_on(async {
            let (bundle, through) = upstream_bundles::export(&camp.store, contents, now).await.unwrap();
            let bytes = bundle.to_bytes(Some(&key)).unwrap();
            upstream_bundles::mark_bundled(&camp.store, through).await.unwrap();
            let written = format!("{} changes through {through}", bundle.change_count());
            if lost {
                return format!("a bundle of {written} written and lost");
            }
            let opened = protocol::bundle::read(&bytes).unwrap();
            match upstream_bundles::import_relayed(upstream, opened, now).await {
                Ok(import) => format!(
                    "a bundle of {written} imported upstream: {} accepted, {} refused, answered through {}",
                    import.pushed.accepted,
                    import.pushed.rejected.len(),
                    import.bundled_through
                ),
                Err(e) => format!("a bundle of {written} refused upstream: {e}"),
            }
        });
        self.trace.push(format!("{}: {line}", link.relay.name));
    }

    /// Upstream writes a bundle of what camp `l`'s relay may see (`export-bundle --device`, sealed for it) and
    /// the camp takes it in.
    pub fn carry_down(&mut self, l: usize) {
        use sync_core::upstream_bundles;
        self.exchanges += 1;
        let now = clock(self.exchanges);
        let link = &self.links[l];
        let (camp, upstream) = (&self.servers[link.camp], &self.servers[link.upstream]);
        let key = sync_core::auth::token_hash(&format!("token of camp {}", link.camp));
        let line = self.runtime.block_on(async {
            let bundle = sync_core::bundles::export(&upstream.store, &link.relay, 0, now)
                .await
                .unwrap();
            let bytes = bundle.to_bytes(Some(&key)).unwrap();
            let opened = protocol::bundle::read(&bytes).unwrap();
            match upstream_bundles::take_in(camp, opened, &key, now).await {
                Ok(import) => format!(
                    "took in upstream's bundle of {} changes ({} new, {} records wanted), cursor {}",
                    import.changes, import.new_changes, import.wanted, import.cursor
                ),
                Err(e) => format!("refused upstream's bundle: {e}"),
            }
        });
        self.trace.push(format!("{}: {line}", link.relay.name));
    }

    /// A number in 0..n from the schedule's generator.
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// A fresh record id from the schedule's generator (version 7 layout, so ids sort as they would).
    pub fn record_id(&mut self) -> Uuid {
        let bits: u128 = self.rng.random();
        uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid()
    }

    /// Device `i` syncs: its sync loop runs to the end of the log or to the first failed exchange.
    pub fn sync(&mut self, i: usize) -> Result<SyncReport, SyncError> {
        let Network {
            nodes,
            servers,
            faults,
            runtime,
            rng,
            delayed,
            exchanges,
            trace,
            ..
        } = self;
        let node = &mut nodes[i];
        let (device, partitioned, server) = (&node.device, node.partitioned, &servers[node.server]);
        let name = device.name.clone();
        let result = node.store.sync_with(
            |request: &SyncRequest| -> Result<SyncResponse, TransportError> {
                *exchanges += 1;
                if partitioned {
                    return Err(lost("memory://server", "partitioned"));
                }
                let now = clock(*exchanges);
                let hold_back = |rng: &mut ChaCha8Rng, trace: &mut Vec<String>| {
                    if faults.delay > 0.0 && rng.random_bool(faults.delay) {
                        trace.push(format!("{name}: a copy of the request held back"));
                        delayed.push((i, request.clone()));
                    }
                };
                through_faults(*faults, rng, trace, &name, hold_back, || {
                    runtime.block_on(server.serve(device, request.clone(), now))
                })
            },
            |_| {},
        );
        match &result {
            Ok(report) => trace.push(format!(
                "{name}: synced, {} accepted, {} rejected, {} pulled",
                report.accepted,
                report.rejected.len(),
                report.pulled
            )),
            Err(e) => trace.push(format!("{name}: sync failed: {e}")),
        }
        result
    }

    /// Delivers one held-back request (a stale exchange overtaken by newer ones); its answer goes nowhere.
    pub fn deliver_delayed(&mut self) {
        if self.delayed.is_empty() {
            return;
        }
        let k = self.below(self.delayed.len());
        let (i, request) = self.delayed.swap_remove(k);
        self.exchanges += 1;
        let now = clock(self.exchanges);
        let node = &self.nodes[i];
        let outcome = self
            .runtime
            .block_on(self.servers[node.server].serve(&node.device, request, now));
        let name = &self.nodes[i].device.name;
        self.trace.push(match outcome {
            Ok(r) => format!(
                "{name}: a late copy arrived: {} accepted, {} rejected",
                r.accepted,
                r.rejected.len()
            ),
            Err(e) => format!("{name}: a late copy arrived and was refused: {e}"),
        });
    }

    /// Heals every partition, stops every fault, delivers what was held back, and syncs every device in turn until
    /// a whole round moves nothing. Panics if that takes more than `rounds` rounds.
    pub fn quiesce(&mut self, rounds: usize) {
        self.faults = Faults::default();
        for node in &mut self.nodes {
            node.partitioned = false;
        }
        for link in &mut self.links {
            link.partitioned = false;
        }
        while !self.delayed.is_empty() {
            self.deliver_delayed();
        }
        let mut quiet = 0;
        for _ in 0..rounds {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                let report = self
                    .sync(i)
                    .unwrap_or_else(|e| panic!("sync at quiescence failed: {e}"));
                moved |= report.accepted > 0 || report.pulled > 0;
            }
            for l in 0..self.links.len() {
                let report = self
                    .relay(l)
                    .unwrap_or_else(|e| panic!("relay at quiescence failed: {e}"));
                moved |= report.forwarded > 0 || report.refused > 0 || report.pulled > 0;
            }
            quiet = if moved { 0 } else { quiet + 1 };
            if quiet == 2 {
                return;
            }
        }
        panic!("the network did not settle in {rounds} rounds");
    }

    /// Server `server`'s row of a record, if it holds one.
    pub fn server_record(&self, server: usize, id: Uuid) -> Option<sync_core::store::RecordRow> {
        self.runtime.block_on(self.servers[server].store.record(id)).unwrap()
    }

    /// What server `server` refused (kept in its quarantine): each change's code and hash.
    pub fn quarantined_changes(&self, server: usize) -> Vec<(String, Option<String>)> {
        self.runtime
            .block_on(self.servers[server].store.quarantined())
            .unwrap()
            .into_iter()
            .map(|q| (q.item.code, q.item.change_hash))
            .collect()
    }

    /// How many changes server `server` refused (kept in its quarantine).
    pub fn quarantined(&self, server: usize) -> usize {
        self.runtime
            .block_on(self.servers[server].store.quarantined())
            .unwrap()
            .len()
    }
}

/// One exchange through the network's faults: the request lost, a copy held back (`hold_back`, which decides),
/// the request served twice (the sender hears the second answer), or the answer lost after the server committed.
fn through_faults(
    faults: Faults,
    rng: &mut ChaCha8Rng,
    trace: &mut Vec<String>,
    name: &str,
    mut hold_back: impl FnMut(&mut ChaCha8Rng, &mut Vec<String>),
    serve: impl Fn() -> Result<SyncResponse, sync_core::Refusal>,
) -> Result<SyncResponse, TransportError> {
    if faults.drop_request > 0.0 && rng.random_bool(faults.drop_request) {
        trace.push(format!("{name}: request lost"));
        return Err(lost("memory://server", "the request was lost"));
    }
    hold_back(rng, trace);
    let mut response = serve();
    if faults.duplicate > 0.0 && rng.random_bool(faults.duplicate) {
        trace.push(format!("{name}: request delivered twice"));
        response = serve();
    }
    let response = response.map_err(|refusal| TransportError::Server {
        // No HTTP in between, so no status: the code is what a device acts on.
        status: 0,
        code: refusal.code,
        message: refusal.message,
    })?;
    if faults.drop_response > 0.0 && rng.random_bool(faults.drop_response) {
        trace.push(format!("{name}: answer lost after the server committed"));
        return Err(lost("memory://server", "the answer was lost"));
    }
    Ok(response)
}

/// A lost connection, as the sync loop sees it.
fn lost(url: &str, why: &str) -> TransportError {
    TransportError::Network {
        url: url.into(),
        reason: why.to_string(),
    }
}

/// The server's clock: a second per exchange after the fixtures' noon.
fn clock(exchanges: u64) -> DateTime<Utc> {
    noon() + Duration::seconds(exchanges as i64)
}
