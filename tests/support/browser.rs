//! Headless Chromium driven over the W3C WebDriver protocol: `chromedriver`
//! (Debian's `chromium-driver`) on a free port, spoken to with plain HTTP
//! and JSON. The binaries come from `TICKFLOW_TEST_CHROMEDRIVER` and
//! `TICKFLOW_TEST_CHROMIUM` (default: `chromedriver` on the PATH and
//! `/usr/bin/chromium`); without them the tests fail and say what to install.

use serde_json::{Value, json};
use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const INSTALL: &str = "install Debian's chromium and chromium-driver packages (bash .ci/run does) \
    or point TICKFLOW_TEST_CHROMIUM and TICKFLOW_TEST_CHROMEDRIVER at them";

/// A chromedriver process; on drop its sessions are ended (so no browser
/// outlives a failed test) and it is killed.
pub struct Driver {
    child: Child,
    port: u16,
    base: String,
    http: reqwest::Client,
    profile: tempfile::TempDir,
    sessions: Mutex<Vec<String>>,
}

/// One browser session (one headless Chromium).
pub struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Driver {
    /// Starts chromedriver and waits until it is ready.
    pub async fn start() -> Self {
        let binary = std::env::var("TICKFLOW_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = super::free_port();
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} cannot start: {e}; {INSTALL}"));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("HTTP client");
        let profile = tempfile::tempdir().expect("profile dir");
        let base = format!("http://127.0.0.1:{port}");
        let driver = Self { child, port, base, http, profile, sessions: Mutex::new(Vec::new()) };
        let started = Instant::now();
        while driver.http.get(format!("{}/status", driver.base)).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "{binary} did not answer within 20 s; {INSTALL}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let text = request.send().await.unwrap_or_else(|e| panic!("WebDriver {path}: {e}")).text().await.expect("body");
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("WebDriver {path}: {e}: {text}"));
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    /// A new headless Chromium with a fresh profile, its console log kept.
    pub async fn session(&self) -> Session<'_> {
        let chromium = std::env::var("TICKFLOW_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(std::path::Path::new(&chromium).exists(), "no Chromium at {chromium}; {INSTALL}");
        let profile = format!("--user-data-dir={}", self.profile.path().display());
        // Without the background-networking flags Chromium dials out at start, which a closed network refuses.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &profile,
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let value = self.call(reqwest::Method::POST, "/session", Some(capabilities)).await;
        let id = value["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {value}")).to_owned();
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner).push(id.clone());
        Session { driver: self, id }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Plain blocking HTTP: drop cannot await.
        for id in self.sessions.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let request = format!(
                    "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(request.as_bytes());
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Session<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.driver.call(reqwest::Method::POST, &format!("/session/{}{path}", self.id), Some(body)).await
    }

    /// Sets the window's outer size.
    pub async fn window(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height})).await;
    }

    /// Loads `url` and waits for the document.
    pub async fn navigate(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []})).await
    }

    /// Moves the mouse to `(x, y)` CSS pixels from the centre of the element `css` selects.
    pub async fn hover(&self, css: &str, x: i64, y: i64) {
        let element = self.post("/element", json!({"using": "css selector", "value": css})).await;
        let actions = json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "duration": 0, "origin": element, "x": x, "y": y}]}]});
        self.post("/actions", actions).await;
    }

    /// The page as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let path = format!("/session/{}/screenshot", self.id);
        let value = self.driver.call(reqwest::Method::GET, &path, None).await;
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(value.as_str().expect("base64 PNG")).expect("PNG")
    }

    /// The browser console's entries since the last call: `(level, message)`.
    pub async fn console(&self) -> Vec<(String, String)> {
        let entries = self.post("/se/log", json!({"type": "browser"})).await;
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (e["level"].as_str().unwrap_or("").to_owned(), e["message"].as_str().unwrap_or("").to_owned()))
            .collect()
    }

    /// Ends the session and its browser.
    pub async fn close(self) {
        self.driver.call(reqwest::Method::DELETE, &format!("/session/{}", self.id), None).await;
        self.driver.sessions.lock().unwrap_or_else(PoisonError::into_inner).retain(|id| *id != self.id);
    }
}

/// Where a browser test leaves its screenshot `name`: under the build's
/// target directory, so `cargo clean` removes it and CI can collect it.
pub fn screenshot_path(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"), std::path::PathBuf::from);
    target.join(name)
}
