//! The server's accept loop: which connections it holds, for how long, and TLS on them.
//!
//! axum::serve holds any number of connections for as long as their clients like: 20,000 idle ones, with no
//! login, exhausted the server's file descriptors and /health stopped answering. Here:
//! - a connection must send a request's headers within `header_timeout`, and one idle between requests is closed
//!   after the same time (hyper's header-read timer runs from when a connection starts waiting for a request);
//! - a TLS handshake must finish within `handshake_timeout`;
//! - at most `max_connections` are held: a connection beyond that closes the one that has been quiet (read and
//!   written nothing) the longest, so a newcomer is always served and idle connections, not the device that
//!   needs the server, are the ones shed. A request in flight on a closed connection may finish first (hyper's
//!   graceful shutdown), within `header_timeout` again; then the connection is dropped, so a client trickling a
//!   body cannot hold a shed connection open. If nothing can be shed and twice the cap are held, a newcomer is
//!   closed at once: the count of connections is bounded whatever the clients do.
//! - On shutdown the listener closes at once, and every connection gets the same grace.
//!
//! Only HTTP/1.1 is spoken: every client of the protocol (ureq) speaks it, and a browser does over TLS too.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// How many connections the server holds and for how long (`serve --max-connections`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_connections: usize,
    /// The longest a connection may take to send a request's headers, or sit idle between requests.
    pub header_timeout: Duration,
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    /// 1,024 connections: a camp has tens of tablets, and HQ's hundreds of teams sync in turn, each connection for
    /// seconds. 20 s for headers: a device on a camp's weakest link sends a request's headers in well under one.
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let held = Arc::new(Held::new());
    let (stopping, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors: shed the quietest connection, and wait a moment for it to go (axum::serve
            // sleeps a second here).
            Err(error) if matches!(error.raw_os_error(), Some(EMFILE | ENFILE)) => {
                tracing::warn!("cannot accept a connection: {error}");
                held.shed_quietest();
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            // A client that reset before it was accepted, and the like: that connection only.
            Err(error) => {
                tracing::debug!("cannot accept a connection: {error}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if held.count() >= limits.max_connections && !held.shed_quietest() && held.count() >= 2 * limits.max_connections
        {
            // Every connection held is being shed already and finishing its request: this one waits for none.
            drop(stream);
            continue;
        }
        let connection = held.add();
        let (router, tls, stop, held) = (router.clone(), tls.clone(), stop.clone(), held.clone());
        tasks.spawn(async move {
            let io = Tracked {
                inner: stream,
                connection: connection.clone(),
            };
            // Removed however the task ends, a panic in a handler included.
            let _registered = Registered {
                held,
                connection: connection.clone(),
            };
            serve_connection(io, peer, router, tls, limits, &connection, stop).await;
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    io: Tracked<tokio::net::TcpStream>,
    peer: SocketAddr,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    connection: &Connection,
    stop: watch::Receiver<bool>,
) {
    match tls {
        None => serve_http(io, peer, router, limits, connection, stop).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(io));
            let stream = tokio::select! {
                done = handshake => match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!("TLS handshake failed: {error}");
                        return;
                    }
                    Err(_) => return,
                },
                () = connection.shed.notified() => return,
                () = stopped(stop.clone()) => return,
            };
            serve_http(stream, peer, router, limits, connection, stop).await;
        }
    }
}

async fn serve_http<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    connection: &Connection,
    stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Each request carries the peer's address, for the log of refused requests (guard.rs).
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, request).await }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(http);
    tokio::select! {
        done = http.as_mut() => {
            finished(done);
            return;
        }
        () = connection.shed.notified() => {}
        () = stopped(stop) => {}
    }
    http.as_mut().graceful_shutdown();
    match tokio::time::timeout(limits.header_timeout, http).await {
        Ok(done) => finished(done),
        Err(_) => tracing::debug!("dropped a shed connection whose request did not finish in time"),
    }
}

fn finished(done: hyper::Result<()>) {
    if let Err(error) = done {
        // A client that went away, or one that sent no headers in time: nothing the operator must act on.
        tracing::debug!("connection ended: {error}");
    }
}

/// Completes when the server begins to stop.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// The connections the server holds, each with when it last read or wrote.
#[derive(Debug)]
struct Held {
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
    epoch: Instant,
}

#[derive(Debug)]
struct Connection {
    id: u64,
    /// Milliseconds from `epoch` (the server's, the same for every connection) to the last byte read or written.
    active_at: AtomicU64,
    epoch: Instant,
    shed: Notify,
    shedding: AtomicBool,
}

impl Connection {
    fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.active_at.store(now, Ordering::Relaxed);
    }
}

impl Held {
    fn new() -> Held {
        Held {
            connections: Mutex::default(),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn add(&self) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            active_at: AtomicU64::new(0),
            epoch: self.epoch,
            shed: Notify::new(),
            shedding: AtomicBool::new(false),
        });
        connection.touch();
        self.lock().insert(connection.id, connection.clone());
        connection
    }

    fn remove(&self, connection: &Connection) {
        self.lock().remove(&connection.id);
    }

    fn count(&self) -> usize {
        self.lock().len()
    }

    /// Closes the connection quiet the longest that is not being closed already (a linear scan, only at the cap);
    /// false if every one is being closed already.
    fn shed_quietest(&self) -> bool {
        let connections = self.lock();
        let quietest = connections
            .values()
            .filter(|c| !c.shedding.load(Ordering::Relaxed))
            .min_by_key(|c| c.active_at.load(Ordering::Relaxed));
        match quietest {
            Some(connection) => {
                connection.shedding.store(true, Ordering::Relaxed);
                connection.shed.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        // A panic while holding this lock leaves the map whole (every operation on it is one call).
        self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A connection's place in [`Held`], given up when its task ends.
struct Registered {
    held: Arc<Held>,
    connection: Arc<Connection>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.held.remove(&self.connection);
    }
}

/// The `errno` of a process out of file descriptors, and of a system out of them.
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// A connection's stream, noting when it last moved a byte.
struct Tracked<T> {
    inner: T,
    connection: Arc<Connection>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.connection.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.connection.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.connection.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
