//! A real Kafka-protocol broker per test: tansu, started by the same launcher
//! the benchmarks use (free loopback port, storage of its own, killed on
//! drop, restarted in place for the fault tests). A missing tansu fails the test and says how to install it: Kafka
//! tests never skip.

pub use tickflow_bench::tansu::Storage;

/// A running broker.
pub struct Broker(tickflow_bench::tansu::Broker);

impl Broker {
    /// Starts a broker with SQLite storage (consumer groups behave as in production).
    pub fn start() -> Broker {
        Broker::with(Storage::Sqlite)
    }

    /// Starts a broker with the given storage, or fails the test saying why.
    pub fn with(storage: Storage) -> Broker {
        Broker(
            tickflow_bench::tansu::Broker::start(storage).unwrap_or_else(|e| panic!("Kafka tests need a broker: {e}")),
        )
    }

    /// Kills the broker, waits `down` and starts it again on the same port
    /// and storage, or fails the test saying why.
    pub fn restart(&mut self, down: std::time::Duration) {
        self.0.restart(down).unwrap_or_else(|e| panic!("the broker did not come back: {e}"));
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.0.bootstrap()
    }
}

/// Creates topic `name` with `partitions` partitions on `bootstrap` (plain
/// Kafka), as the commands do at start, or fails the test.
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let kafka = tickflow_shared::kafka::KafkaConfig::plain(bootstrap);
    runtime.block_on(tickflow_ingest::producer::ensure_topic(&kafka, name, partitions)).expect("topic");
}

/// A tansu broker that requires SASL (SCRAM-SHA-256 and -512) from every
/// client, on SQLite storage, with one user. tansu creates users over the
/// Kafka protocol, which an authenticating broker refuses before the
/// handshake, so the user is created on the same storage first, by the
/// same broker without authentication, which then restarts with it.
pub struct SaslBroker {
    child: std::process::Child,
    port: u16,
    /// The broker's storage and log, removed on drop.
    _dir: tempfile::TempDir,
}

impl SaslBroker {
    /// Starts the broker with `user` and `password` for both SCRAM mechanisms.
    pub fn start(user: &str, password: &str) -> SaslBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = super::free_port();
        let binary = tickflow_bench::tansu::binary().expect("Kafka tests need tansu: set TICKFLOW_TEST_TANSU");
        let mut plain = Self::spawn(&binary, dir.path(), port, false);
        wait_for(port, &mut plain, dir.path());
        for mechanism in ["scram256", "scram512"] {
            let status = std::process::Command::new(&binary)
                .args(["user", "create", "--broker", &format!("tcp://127.0.0.1:{port}"), "--mechanism", mechanism])
                .args([user, password])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("tansu user create runs");
            assert!(status.success(), "tansu user create {user} --mechanism {mechanism}: {status}");
        }
        let _ = plain.kill();
        let _ = plain.wait();
        let mut child = Self::spawn(&binary, dir.path(), port, true);
        wait_for(port, &mut child, dir.path());
        SaslBroker { child, port, _dir: dir }
    }

    fn spawn(binary: &std::path::Path, dir: &std::path::Path, port: u16, authentication: bool) -> std::process::Child {
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = std::process::Command::new(binary);
        command
            .args(["broker", "--storage-engine=sqlite://tansu.db"])
            .arg(format!("--listener-url={url}"))
            .arg(format!("--advertised-listener-url={url}"))
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("broker.log")).expect("broker log"));
        if authentication {
            command.arg("--authentication");
        }
        command.spawn().expect("tansu starts")
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Waits (up to 30 s) until the broker accepts connections, or fails with its log.
fn wait_for(port: u16, child: &mut std::process::Child, dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = || std::fs::read_to_string(dir.join("broker.log")).unwrap_or_default();
        if let Ok(Some(status)) = child.try_wait() {
            panic!("tansu exited with {status}: {}", log());
        }
        assert!(std::time::Instant::now() < deadline, "tansu did not listen within 30 s: {}", log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

impl Drop for SaslBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
