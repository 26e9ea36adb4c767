//! A throwaway tansu broker: a free loopback port, storage of its own in a
//! temporary working directory, killed on drop.
//!
//! Two engines: SQLite, which keeps consumer-group state the way a real
//! broker does, and memory, which serves millions of messages several times
//! faster but (in tansu 0.6) loses committed group offsets across members
//! and answers a fetch at an offset inside a record batch with the wrong
//! batches (records skipped and repeated); use it only for volume read
//! from the start.
//!
//! The binary is `$TICKFLOW_TEST_TANSU`, else `tansu` on `PATH` or in
//! `~/.cargo/bin` (`cargo install tansu --locked --features dynostore,libsql`;
//! `.ci/run` does it). Tests and benchmarks both start brokers with it.

use crate::BenchError;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NO_BROKER: &str = "the tansu broker is not installed: run `cargo install tansu --locked --features \
                         dynostore,libsql` (or `bash .ci/run`), or set TICKFLOW_TEST_TANSU to its path";

/// Where a broker keeps its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// `sqlite://tansu.db` in the broker's directory.
    Sqlite,
    /// `memory://`: fast, for volume runs without consumer groups.
    Memory,
}

/// A running broker.
pub struct Broker {
    child: Child,
    storage: Storage,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker and waits (up to 30 s) until it accepts connections.
    pub fn start(storage: Storage) -> Result<Broker, BenchError> {
        let binary = binary().ok_or_else(|| BenchError::Prepare(NO_BROKER.into()))?;
        let dir = tempfile::tempdir()?;
        let port = crate::free_port()?;
        let child = spawn(&binary, storage, port, dir.path())?;
        let mut broker = Broker { child, storage, port, dir };
        broker.wait_listening()?;
        Ok(broker)
    }

    /// Kills the broker (SIGKILL, as a crash would), waits `down`, then starts
    /// it again on the same port and storage and waits until it accepts
    /// connections. With [`Storage::Sqlite`] its log and committed offsets
    /// survive; with [`Storage::Memory`] they do not.
    ///
    /// While it is down, the port may serve as the local end of another
    /// process's connection: a broker that exits at once (cannot bind) is
    /// started again, for up to 10 s.
    pub fn restart(&mut self, down: Duration) -> Result<(), BenchError> {
        let _ = self.child.kill();
        self.child.wait()?;
        std::thread::sleep(down);
        let binary = binary().ok_or_else(|| BenchError::Prepare(NO_BROKER.into()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.child = spawn(&binary, self.storage, self.port, self.dir.path())?;
            match self.wait_listening() {
                Err(_) if Instant::now() < deadline && self.child.try_wait().is_ok_and(|s| s.is_some()) => {
                    std::thread::sleep(Duration::from_millis(500));
                }
                listening => return listening,
            }
        }
    }

    fn wait_listening(&mut self) -> Result<(), BenchError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::Prepare(format!("tansu exited with {status}: {}", self.log())));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Prepare(format!("tansu did not listen within 30 s: {}", self.log())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the broker logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts tansu on `port` with its storage and log in `dir` (the log is
/// appended to, so a restarted broker's log follows the first one's).
fn spawn(binary: &Path, storage: Storage, port: u16, dir: &Path) -> Result<Child, BenchError> {
    let url = format!("tcp://127.0.0.1:{port}");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("broker.log"))?;
    Command::new(binary)
        .arg("broker")
        .arg(match storage {
            Storage::Sqlite => "--storage-engine=sqlite://tansu.db",
            Storage::Memory => "--storage-engine=memory://tansu/",
        })
        .arg(format!("--listener-url={url}"))
        .arg(format!("--advertised-listener-url={url}"))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| BenchError::Prepare(format!("cannot start {}: {e}", binary.display())))
}

/// The tansu binary: `$TICKFLOW_TEST_TANSU`, else `tansu` on `PATH` or in `~/.cargo/bin`.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TICKFLOW_TEST_TANSU") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"));
    let in_cargo = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/tansu"));
    on_path.chain(in_cargo).find(|p| p.is_file())
}
