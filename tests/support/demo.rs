//! `tickflow demo` as a test starts it: the real binary on a temporary data
//! directory and a free port, talked to over HTTP, stopped with SIGTERM.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running demo; killed if the test ends without [`Demo::stop`].
pub struct Demo {
    child: Option<Child>,
    data: PathBuf,
    port: u16,
    http: reqwest::Client,
    token: Option<String>,
}

impl Demo {
    /// Starts `tickflow demo --data DATA --listen 127.0.0.1:<free port>`,
    /// with `TICKFLOW_API_TOKEN` set when `token` is given; output goes to
    /// `DATA.log`. The hour of history has 200,000 trades instead of a
    /// million: the same code path, five times less work for a debug build
    /// on a busy machine.
    pub fn start(data: &Path, token: Option<&str>) -> Self {
        let port = super::free_port();
        let log = std::fs::File::create(data.with_extension("log")).expect("demo log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickflow"));
        command
            .args(["demo", "--data", data.to_str().expect("path"), "--listen", &format!("127.0.0.1:{port}")])
            .args(["--history-trades", "200000"])
            .env_remove("TICKFLOW_API_TOKEN")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null());
        if let Some(token) = token {
            command.env("TICKFLOW_API_TOKEN", token);
        }
        let child = command.spawn().expect("tickflow demo starts");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        Self { child: Some(child), data: data.to_owned(), port, http, token: token.map(str::to_owned) }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What the demo printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// `GET path` as JSON, or why not (not up yet, an error status).
    pub async fn get(&self, path: &str) -> Result<Value, String> {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}: {text}"))
    }

    /// Polls `/api/v1/bars` of `symbol` at `interval` over the last day
    /// until it holds bars of both views; panics with the demo's output if
    /// that takes longer than `deadline` or the demo exits.
    pub async fn both_views(&mut self, symbol: &str, interval: &str, deadline: Duration) -> Value {
        let started = Instant::now();
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
        // The demo's history is the last hour of the weekday before: at most four days back.
        let path = format!(
            "/api/v1/bars?symbol={symbol}&interval={interval}&from={}&to={}",
            now_ms - 4 * 86_400_000,
            now_ms + 120_000
        );
        let mut last = String::new();
        while started.elapsed() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().expect("child status")) {
                panic!("tickflow demo exited with {status} before serving both views:\n{}", self.log());
            }
            match self.get(&path).await {
                Ok(response) => {
                    let views: Vec<&str> =
                        response["bars"].as_array().into_iter().flatten().filter_map(|b| b["view"].as_str()).collect();
                    if views.contains(&"batch") && views.contains(&"speed") {
                        return response;
                    }
                    last = format!("views so far: {views:?}");
                }
                Err(error) => last = error,
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("no bars of both views within {deadline:?} ({last}):\n{}", self.log());
    }

    /// Sends SIGTERM and waits for the exit (killing the demo after 30 s).
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("child status") {
                return status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("tickflow demo did not stop within 30 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
