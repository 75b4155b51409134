//! The release `fieldsync-server` binary run as a child process, for the benchmarks that measure the server as an
//! operator runs it: its resident memory is read from /proc, which an in-process server would share with the
//! benchmark itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; stopped on every path out of the benchmark, a panic included.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub port: u16,
}

impl ServerProcess {
    /// Starts `fieldsync-server serve` on `data_dir`, listening on a free port of 127.0.0.1, and waits until it
    /// accepts connections.
    pub fn serve(data_dir: &Path) -> ServerProcess {
        ServerProcess::serve_with(data_dir, &[])
    }

    /// [`ServerProcess::serve`] with more arguments of `serve` (a camp's `--upstream`).
    pub fn serve_with(data_dir: &Path, more: &[&str]) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(server_binary())
            .args(["--data-dir", data_dir.to_str().unwrap(), "serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(more)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = ServerProcess { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of the server's /proc/<pid>/status, in kB (VmRSS, VmHWM, RssAnon...).
    pub fn status(&self, field: &str) -> u64 {
        proc_status(self.child.id(), field)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `fieldsync-server device add` on `data_dir` (beside a running server, as an operator does), and the code it
/// prints exchanged for the device's credential through the storage contract, as `POST /v1/enroll` does it.
pub fn device_add(data_dir: &Path, name: &str, team: &str, role: &str) -> String {
    let output = Command::new(server_binary())
        .args([
            "--data-dir",
            data_dir.to_str().unwrap(),
            "device",
            "add",
            "--name",
            name,
        ])
        .args(["--team", team, "--role", role, "--no-qr"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8(output.stdout).unwrap();
    let code = out.lines().skip_while(|l| !l.starts_with("code")).nth(1).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let storage = store_sqlite::SqliteStorage::open(data_dir).unwrap();
    runtime
        .block_on(sync_core::auth::redeem(&storage, code.trim(), chrono::Utc::now()))
        .unwrap()
        .credential
}

/// `fieldsync-server status --json` on `data_dir`.
pub fn upstream_status(data_dir: &Path) -> serde_json::Value {
    let output = Command::new(server_binary())
        .args(["--data-dir", data_dir.to_str().unwrap(), "status", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A field of /proc/<pid>/status, in kB; 0 once the process is gone.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The release server binary beside the running benchmark (target/release/deps/<bench> → target/release/).
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().and_then(Path::parent).unwrap();
    let binary = release.join("fieldsync-server");
    assert!(
        binary.exists(),
        "build the server first: cargo build --release -p server ({} missing)",
        binary.display()
    );
    binary
}
