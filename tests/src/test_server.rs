//! A real fieldsync server on 127.0.0.1, on a real data directory, for end-to-end tests. It runs on its own
//! thread and runtime (the device side is blocking) and stops deterministically through its shutdown future.

use chrono::NaiveDate;
use server::config::Upstream;
use server::http::App;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use store_sqlite::SqliteStorage;
use sync_core::store::{Device, NewDevice, Role, SyncStore};
use tokio::sync::oneshot;

/// The day the demo programmes of the tests are made: their data ends a few days before it.
pub const DEMO_TODAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 23).expect("a date");

#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// With [`TestServer::start_tls`]: the certificate of the server's own authority (DER), which devices pin.
    pub authority: Option<Vec<u8>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free port.
    pub fn start(data_dir: &Path) -> TestServer {
        TestServer::start_at(data_dir, "127.0.0.1:0".parse().unwrap())
    }

    /// Starts a server on a given address (to restart one where its devices expect it).
    pub fn start_at(data_dir: &Path, addr: SocketAddr) -> TestServer {
        TestServer::start_with(data_dir, addr, None, false)
    }

    /// Starts a server on a free port speaking TLS as `serve --tls auto` does; [`TestServer::authority`] is the
    /// certificate to pin, [`TestServer::https_url`] its address.
    pub fn start_tls(data_dir: &Path) -> TestServer {
        TestServer::start_with(data_dir, "127.0.0.1:0".parse().unwrap(), None, true)
    }

    /// Starts a camp's server on a free port, relaying to `upstream` every `every` (`serve --upstream`).
    pub fn start_relaying(data_dir: &Path, upstream: Upstream, every: std::time::Duration) -> TestServer {
        TestServer::start_with(data_dir, "127.0.0.1:0".parse().unwrap(), Some((upstream, every)), false)
    }

    fn start_with(
        data_dir: &Path,
        addr: SocketAddr,
        relay: Option<(Upstream, std::time::Duration)>,
        tls: bool,
    ) -> TestServer {
        let storage = SqliteStorage::open(data_dir).unwrap();
        let tls_dir = data_dir.to_path_buf();
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
                let address = listener.local_addr().unwrap();
                let tls = tls.then(|| {
                    let auto = server::tls::TlsSetting::Auto { names: vec![] };
                    server::tls::server_tls(&auto, &tls_dir, address).unwrap().unwrap()
                });
                let authority = tls.as_ref().and_then(|t| t.authority.as_ref()).map(|a| a.der.clone());
                bound.send((address, authority)).unwrap();
                let app = match &relay {
                    Some(_) => App::relaying(storage),
                    None => App::new(storage),
                };
                let relaying =
                    relay.map(|(upstream, every)| tokio::spawn(server::relay::run(app.clone(), upstream, every)));
                let edge = server::http::Edge {
                    tls,
                    ..server::http::Edge::default()
                };
                server::http::serve(listener, app, edge, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
                if let Some(relaying) = relaying {
                    relaying.abort();
                }
            });
        });
        let (addr, authority) = address.recv().unwrap();
        TestServer {
            addr,
            authority,
            data_dir: data_dir.to_path_buf(),
            shutdown: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address of a server started with [`TestServer::start_tls`].
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Enrols a device with a one-time enrollment code, as `fieldsync-server device add` does: its id and the
    /// code (`fieldsync enroll --server URL --code CODE` exchanges it).
    pub fn invite(&self, name: &str, teams: &[&str], role: Role) -> (uuid::Uuid, String) {
        let device = Device {
            id: uuid::Uuid::now_v7(),
            name: name.to_string(),
            teams: teams.iter().map(|t| t.to_string()).collect(),
            role,
            created_at: chrono::Utc::now(),
            revoked_at: None,
        };
        let id = device.id;
        let token_hash = sync_core::auth::token_hash(&sync_core::auth::new_token());
        let (code, stored) = sync_core::auth::issue(id, chrono::Utc::now(), sync_core::auth::CODE_LIFETIME);
        self.storage(|s| async move {
            s.add_device(NewDevice { device, token_hash }).await.unwrap();
            assert!(s.issue_code(stored).await.unwrap());
        });
        (id, code)
    }

    /// Enrols a device and returns its credential: [`TestServer::invite`], and the code exchanged as
    /// `POST /v1/enroll` exchanges it.
    pub fn enrol(&self, name: &str, teams: &[&str], role: Role) -> (uuid::Uuid, String) {
        let (id, code) = self.invite(name, teams, role);
        let enrolled =
            self.storage(|s| async move { sync_core::auth::redeem(&s, &code, chrono::Utc::now()).await.unwrap() });
        (id, enrolled.credential)
    }

    pub fn revoke(&self, device: uuid::Uuid) {
        assert!(self.storage(|s| async move { s.revoke_device(device, chrono::Utc::now()).await.unwrap() }));
    }

    /// Runs `f` with a second connection to the server's data directory (SQLite WAL allows it).
    pub fn storage<T, F: std::future::Future<Output = T>>(&self, f: impl FnOnce(SqliteStorage) -> F) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let storage = SqliteStorage::open(&self.data_dir).unwrap();
        runtime.block_on(f(storage))
    }

    /// Fills the server with the small demo programme of `seed` (as of [`DEMO_TODAY`]), its devices enrolled and
    /// every record pushed through the sync protocol; returns the records (the test's independent truth) and the
    /// devices' tokens.
    pub fn push_demo(&self, seed: u64) -> (demo::Dataset, demo::Enrolment) {
        let dataset = demo::generate(&demo::Scenario::new(demo::Scale::Small, seed, DEMO_TODAY));
        let enrolment = self.storage(|s| {
            let dataset = &dataset;
            async move { demo::enrol(&s, dataset, chrono::Utc::now()).await.unwrap() }
        });
        demo::push(&self.url(), &enrolment, &demo::plan(&dataset).unwrap(), |_| {}).unwrap();
        (dataset, enrolment)
    }

    /// Stops the server and waits for it to finish the requests in flight.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Enrols a device store with a server.
pub fn enrolled(store: &mut client_core::Store, server: &TestServer, token: &str) {
    store.enroll(&server.url(), token).unwrap();
}

pub use sync_core::store::Role as DeviceRole;
