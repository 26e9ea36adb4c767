//! A fresh PostgreSQL database per test, on a real server: TimescaleDB
//! preloaded (the production path, [`database`]), or plain PostgreSQL with
//! the extension at most installed, not preloaded ([`plain_database`]).
//!
//! With `TICKFLOW_TEST_POSTGRES` (and `TICKFLOW_TEST_POSTGRES_PLAIN`) set to
//! the URL of a server where the user may `CREATE DATABASE`, as `.ci/run`
//! exports, databases are created there. Otherwise the helper runs a
//! throwaway cluster of its own: `initdb` into a temporary directory,
//! `pg_ctl start` on a free loopback port, as the `postgres` OS user when
//! running as root. The cluster is left running and its port recorded in
//! `target/tickflow-test-pg[-plain]/port`, so the next test run reuses it
//! instead of paying for `initdb` again.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

const NO_SERVER: &str = "PostgreSQL tests need a server: run `bash .ci/run`, or set TICKFLOW_TEST_POSTGRES, or \
                         install the postgresql package (apt-get install postgresql)";

const NO_TIMESCALEDB: &str = "PostgreSQL tests run on TimescaleDB: run `bash .ci/run` (it builds TimescaleDB from \
                              ../shared/vendor once), or set TICKFLOW_TEST_POSTGRES to a server that preloads it";

/// Which server a database is made on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// TimescaleDB in `shared_preload_libraries`.
    Timescale,
    /// No preload: plain tables.
    Plain,
}

/// The URL of a new, empty database for one test, on a server that preloads TimescaleDB.
pub fn database() -> String {
    new_database(Flavor::Timescale)
}

/// The URL of a new, empty database for one test, on a server without TimescaleDB preloaded.
pub fn plain_database() -> String {
    new_database(Flavor::Plain)
}

fn new_database(flavor: Flavor) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let server = server(flavor);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let name = format!("tickflow_test_{}_{}_{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let admin = server.to_owned();
    let create = name.clone();
    // A runtime of its own, on its own thread: callers may be inside one already.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to the test server {admin}: {e}"));
            tokio::spawn(connection);
            client.batch_execute(&format!("CREATE DATABASE {create}")).await.expect("CREATE DATABASE");
        });
    })
    .join()
    .expect("database creation");
    with_database(server, &name)
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The server's admin URL, starting a local cluster once per process if needed.
fn server(flavor: Flavor) -> &'static str {
    static SERVERS: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let (slot, variable) = match flavor {
        Flavor::Timescale => (&SERVERS[0], "TICKFLOW_TEST_POSTGRES"),
        Flavor::Plain => (&SERVERS[1], "TICKFLOW_TEST_POSTGRES_PLAIN"),
    };
    slot.get_or_init(|| match std::env::var(variable) {
        Ok(url) if !url.is_empty() => url,
        _ => local_cluster(flavor),
    })
}

fn state_dir(flavor: Flavor) -> PathBuf {
    let name = if flavor == Flavor::Plain { "target/tickflow-test-pg-plain" } else { "target/tickflow-test-pg" };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn url_of(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

fn local_cluster(flavor: Flavor) -> String {
    let state = state_dir(flavor);
    std::fs::create_dir_all(&state).expect("create target/tickflow-test-pg");
    // Another test binary may be starting one right now: take a lock file.
    let _lock = LockFile::take(&state.join("lock"));
    if let Some(port) = std::fs::read_to_string(state.join("port")).ok().and_then(|p| p.trim().parse::<u16>().ok())
        && TcpStream::connect(("127.0.0.1", port)).is_ok()
    {
        return url_of(port);
    }
    let bin = tickflow_bench::postgres::pg_bin().unwrap_or_else(|| panic!("{NO_SERVER}"));
    let preload = if flavor == Flavor::Timescale {
        let libdir = Command::new(bin.join("pg_config")).arg("--pkglibdir").output().ok();
        let libdir = libdir.map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        assert!(libdir.is_some_and(|dir| dir.join("timescaledb.so").exists()), "{NO_TIMESCALEDB}");
        " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
    } else {
        ""
    };
    let cluster = Cluster::init(&format!("{}", preload.len()), &[]);
    let port = cluster.port;
    cluster.start(preload);
    std::mem::forget(cluster);
    std::fs::write(state.join("port"), port.to_string()).expect("record the port");
    url_of(port)
}

/// A PostgreSQL cluster of the test's own, for tests that change the
/// server's configuration (TLS) or stop it (fault tests): `initdb` into a
/// temporary directory on a free loopback port, trust authentication, as
/// the `postgres` OS user when running as root. Stopped (immediately) and
/// removed on drop.
pub struct Cluster {
    bin: PathBuf,
    as_root: bool,
    /// The cluster's directory: `data/`, `log`, the socket, and any file a test puts there.
    pub dir: PathBuf,
    /// The loopback port it listens on.
    pub port: u16,
}

impl Cluster {
    /// A new cluster, initialised and not yet started; `conf` lines are
    /// appended to its `postgresql.conf` (like `ssl = on`).
    pub fn new(conf: &[&str]) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        Self::init(&format!("own-{}", COUNTER.fetch_add(1, Ordering::Relaxed)), conf)
    }

    fn init(tag: &str, conf: &[&str]) -> Self {
        let bin = tickflow_bench::postgres::pg_bin().unwrap_or_else(|| panic!("{NO_SERVER}"));
        let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let dir = std::env::temp_dir().join(format!("tickflow-test-pg-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let cluster = Self { bin, as_root, dir, port: super::free_port() };
        cluster.chown(&cluster.dir);
        run(
            cluster.pg("initdb").arg("-D").arg(cluster.data()).args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            "initdb",
        );
        if !conf.is_empty() {
            let path = cluster.data().join("postgresql.conf");
            let mut text = std::fs::read_to_string(&path).expect("read postgresql.conf");
            text.push_str(&conf.join("\n"));
            text.push('\n');
            std::fs::write(&path, text).expect("write postgresql.conf");
        }
        cluster
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Gives `path` (a file the test wrote, like a key) to the server's OS user.
    pub fn chown(&self, path: &Path) {
        if self.as_root {
            run(Command::new("chown").arg("postgres:postgres").arg(path), "chown");
        }
    }

    /// The admin URL of its `postgres` database.
    pub fn url(&self) -> String {
        url_of(self.port)
    }

    /// Starts the server and waits until it accepts connections; `options`
    /// are extra `postgres` command-line options.
    pub fn start(&self, options: &str) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off{options}", self.port, self.dir.display());
        let mut command = self.pg("pg_ctl");
        command.arg("-D").arg(self.data()).arg("-l").arg(self.dir.join("log")).args(["-o", &options, "-w", "start"]);
        run(&mut command, "pg_ctl start");
    }

    /// Stops the server as a crash would (`pg_ctl -m immediate stop`).
    pub fn stop_immediate(&self) {
        run(self.pg("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]), "pg_ctl stop");
    }

    fn pg(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what} cannot start: {e}; {NO_SERVER}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An exclusive lock file, removed on drop.
struct LockFile(PathBuf);

impl LockFile {
    fn take(path: &Path) -> Self {
        for _ in 0..600 {
            if std::fs::OpenOptions::new().write(true).create_new(true).open(path).is_ok() {
                return Self(path.to_owned());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // A stale lock from a killed run: take it over.
        Self(path.to_owned())
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
