//! Long-running processes for tests: a child whose stderr is collected on a
//! thread (so its log can be searched and shown when a test fails), stopped
//! with SIGTERM and killed on drop; and a minimal HTTP GET for the
//! `/metrics`, `/healthz` and API endpoints the services serve.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for a service to get somewhere before failing.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// A running child process with its stderr collected.
pub struct Service {
    name: String,
    child: Child,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Service {
    /// Starts `command` with stderr (and stdout) collected under `name`.
    pub fn start(name: &str, mut command: Command) -> Service {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("{name}: cannot start {command:?}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for stream in [
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().expect("log");
                    log.push_str(&line);
                    log.push('\n');
                }
            }));
        }
        Service { name: name.to_owned(), child, log, readers }
    }

    /// Starts the `tickflow` binary with `args` and extra environment.
    pub fn tickflow(name: &str, args: &[String], env: &[(String, String)]) -> Service {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickflow"));
        command.args(args).envs(env.iter().map(|(k, v)| (k, v))).env("TICKFLOW_LOG", "info").env("NO_COLOR", "1");
        Service::start(name, command)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The output so far, ANSI colours stripped.
    pub fn log(&self) -> String {
        strip_ansi(&self.log.lock().expect("log"))
    }

    /// Waits until `found` returns something for the log, or fails the test.
    pub fn wait_for_log<T>(&mut self, what: &str, found: impl Fn(&str) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = found(&self.log()) {
                return value;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before {what}:\n{}", self.name, self.log());
            }
            assert!(started.elapsed() < DEADLINE, "{}: no {what} within {DEADLINE:?}:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address its `--metrics-listen` endpoint bound, from its log.
    pub fn metrics_address(&mut self) -> SocketAddr {
        self.wait_for_log("metrics endpoint", |log| {
            let line = log.lines().find(|l| l.contains("Serving metrics at /metrics."))?;
            line.split("address=").nth(1)?.split_whitespace().next()?.parse().ok()
        })
    }

    /// Fails the test if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log());
        }
    }

    /// Waits for the process to exit by itself and its output to be
    /// collected, failing the test after the deadline.
    pub fn wait(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status;
            }
            assert!(started.elapsed() < DEADLINE, "{} did not exit within {DEADLINE:?}:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit, failing the test after the deadline.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(started.elapsed() < DEADLINE, "{} did not stop after SIGTERM:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `GET path` on `addr`: the status code and the body, or `None` when the
/// server cannot be reached.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        String::from_utf8_lossy(&super::http::dechunk(body.as_bytes())).into_owned()
    } else {
        body.to_owned()
    };
    Some((status, body))
}

/// The value of a sample line `name{labels} value` in a metrics text, if present.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.split_whitespace().next()?.parse().ok())
}
