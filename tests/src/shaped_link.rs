//! A shaped link on loopback, for tests and benchmarks of the camp's link to HQ: a TCP proxy in front of a server
//! that delays every byte by half the round trip each way, paces each direction to a bit rate, and, if asked,
//! cuts every connection at a fixed interval (as a satellite link that drops). It counts the bytes it carried.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// What the link is like.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Each direction's rate.
    pub bits_per_second: u64,
    pub round_trip: Duration,
    /// Every connection is cut this often.
    pub drop_every: Option<Duration>,
}

impl Shape {
    /// The link: 256 kbit/s, 600 ms round trip.
    pub fn satellite() -> Shape {
        Shape {
            bits_per_second: 256_000,
            round_trip: Duration::from_millis(600),
            drop_every: None,
        }
    }
}

/// A running link; stops accepting when dropped.
#[derive(Debug)]
pub struct ShapedLink {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Counters {
    /// Bytes from the client to the server, and back.
    up: AtomicU64,
    down: AtomicU64,
    drops: AtomicU64,
    connections: AtomicU64,
}

impl ShapedLink {
    /// A link on a free port of 127.0.0.1 to `target`.
    pub fn start(target: SocketAddr, shape: Shape) -> ShapedLink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        if let Some(every) = shape.drop_every {
            let (open, stop, counters) = (open.clone(), stop.clone(), counters.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(every);
                    let mut open = open.lock().unwrap();
                    if !open.is_empty() {
                        counters.drops.fetch_add(1, Ordering::Relaxed);
                    }
                    for stream in open.drain(..) {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
            });
        }
        let (accept_stop, accept_counters) = (stop.clone(), counters.clone());
        thread::spawn(move || {
            while !accept_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let Ok(server) = TcpStream::connect(target) else {
                            continue;
                        };
                        client.set_nonblocking(false).unwrap();
                        accept_counters.connections.fetch_add(1, Ordering::Relaxed);
                        let mut tracked = open.lock().unwrap();
                        tracked.push(client.try_clone().unwrap());
                        tracked.push(server.try_clone().unwrap());
                        drop(tracked);
                        let up = accept_counters.clone();
                        let down = accept_counters.clone();
                        pump(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            shape,
                            move |n| {
                                up.up.fetch_add(n, Ordering::Relaxed);
                            },
                        );
                        pump(server, client, shape, move |n| {
                            down.down.fetch_add(n, Ordering::Relaxed);
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(5)),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ShapedLink { addr, counters, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes carried up (client to server) and down.
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.counters.up.load(Ordering::Relaxed),
            self.counters.down.load(Ordering::Relaxed),
        )
    }

    /// How many times the link cut its connections, and how many it carried.
    pub fn drops(&self) -> u64 {
        self.counters.drops.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::Relaxed)
    }
}

impl Drop for ShapedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Carries `from` → `to`: a reader stamps each chunk as it arrives; a writer lets it out half a round trip
/// later, no sooner than the rate allows after the chunk before it.
fn pump(mut from: TcpStream, mut to: TcpStream, shape: Shape, count: impl Fn(u64) + Send + 'static) {
    let (chunks, arrived) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buffer = vec![0u8; 4096];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if chunks.send((Instant::now(), buffer[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    thread::spawn(move || {
        let one_way = shape.round_trip / 2;
        let mut free_at = Instant::now();
        for (at, chunk) in arrived {
            let sending = Duration::from_secs_f64(chunk.len() as f64 * 8.0 / shape.bits_per_second as f64);
            free_at = free_at.max(at + one_way) + sending;
            if let Some(wait) = free_at.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
            count(chunk.len() as u64);
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
