//! A real Kafka-protocol broker per test: `tansu`, on a free loopback port,
//! with its own in-memory storage and a temporary working directory for its
//! log, killed on drop. (Its SQLite engine works too but serves a million
//! messages several times slower, which the suite cannot afford.)
//!
//! The binary is `$TICKFLOW_TEST_TANSU`, else `tansu` on `PATH` or in
//! `~/.cargo/bin` (`.ci/run` installs it there with
//! `cargo install tansu --locked --features dynostore,libsql`). Without it the
//! test fails and says how to install it: a Kafka test never skips.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NO_BROKER: &str = "Kafka tests need the tansu broker: run `cargo install tansu --locked --features \
                         dynostore,libsql` (or `bash .ci/run`), or set TICKFLOW_TEST_TANSU to its path";

/// A running broker; stopped, and its storage gone, when dropped.
pub struct Broker {
    child: Child,
    port: u16,
    _storage: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Broker {
        let binary = binary();
        let storage = tempfile::tempdir().expect("broker storage");
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("address").port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(storage.path().join("broker.log")).expect("broker log");
        let child = Command::new(&binary)
            .arg("broker")
            .arg("--storage-engine=memory://tansu/")
            .arg(format!("--listener-url={url}"))
            .arg(format!("--advertised-listener-url={url}"))
            .current_dir(storage.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut broker = Broker { child, port, _storage: storage };
        broker.wait_until_listening();
        broker
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("tansu exited with {status} before listening; its log: {}", self.log());
            }
            assert!(Instant::now() < deadline, "tansu did not listen within 30 s; its log: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._storage.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TICKFLOW_TEST_TANSU") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("tansu"));
    let in_cargo = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/tansu"));
    on_path.chain(in_cargo).find(|p| p.is_file()).unwrap_or_else(|| panic!("{NO_BROKER}"))
}
