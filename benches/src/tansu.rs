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
use std::path::PathBuf;
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
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker and waits (up to 30 s) until it accepts connections.
    pub fn start(storage: Storage) -> Result<Broker, BenchError> {
        let binary = binary().ok_or_else(|| BenchError::Prepare(NO_BROKER.into()))?;
        let dir = tempfile::tempdir()?;
        let port = crate::free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .arg("broker")
            .arg(match storage {
                Storage::Sqlite => "--storage-engine=sqlite://tansu.db",
                Storage::Memory => "--storage-engine=memory://tansu/",
            })
            .arg(format!("--listener-url={url}"))
            .arg(format!("--advertised-listener-url={url}"))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("broker.log"))?)
            .spawn()
            .map_err(|e| BenchError::Prepare(format!("cannot start {}: {e}", binary.display())))?;
        let mut broker = Broker { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = broker.child.try_wait() {
                return Err(BenchError::Prepare(format!("tansu exited with {status}: {}", broker.log())));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Prepare(format!("tansu did not listen within 30 s: {}", broker.log())));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
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
