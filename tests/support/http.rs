//! A `tickflow serve` server run in-process on a free port, and a small raw
//! HTTP/1.1 client for it (requests, and Server-Sent Events).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tickflow_serve::ServeConfig;
use tickflow_shared::store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for an answer or an event before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running server; dropping it does not stop it, [`Server::stop`] does.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serves `store` (its bars and its signals) with `config` on a free loopback port.
    pub async fn start(store: Arc<dyn Store>, config: ServeConfig) -> Self {
        let mut registry = prometheus_client::registry::Registry::default();
        let server = config.build(store.clone(), &mut registry).expect("build the server").with_signals(store);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(async move {
            tickflow_serve::run(listener, server, Arc::new(registry), shutdown).await.expect("serve");
        });
        Self { addr, stop: Some(stop), task }
    }

    /// `GET path` with `headers`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        tokio::time::timeout(PATIENCE, get(self.addr, path, headers)).await.expect("an answer in time")
    }

    /// Shuts down gracefully and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, &mut self.task).await.expect("a graceful stop in time").expect("server task");
    }
}

/// An answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: not JSON: {}", self.body))
    }

    /// Whether the head has `name: value` (name case-insensitive).
    pub fn has_header(&self, name: &str, value: &str) -> bool {
        self.head.lines().any(|l| {
            l.split_once(':').is_some_and(|(n, v)| n.eq_ignore_ascii_case(name) && v.trim().starts_with(value))
        })
    }
}

fn request(path: &str, headers: &[(&str, &str)], close: bool) -> String {
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        request.push_str("connection: close\r\n");
    }
    request.push_str("\r\n");
    request
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request(path, headers, true).as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = std::str::from_utf8(&raw[..end]).expect("a UTF-8 head").to_owned();
    let mut body = raw.split_off(end + 4);
    let lower = head.to_ascii_lowercase();
    // The transfer coding wraps the content coding: unchunk first, then gunzip.
    if lower.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    if lower.contains("content-encoding: gzip") {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain).expect("a gzip body");
        body = plain;
    }
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    Reply { status, head, body: String::from_utf8(body).expect("a UTF-8 body") }
}

/// The body of a chunked answer, joined.
pub fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..line_end]).expect("a chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        let rest = &body[line_end + 2..];
        out.extend_from_slice(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// An open `/stream` connection.
pub struct EventStream {
    stream: TcpStream,
    buffer: Vec<u8>,
    text: String,
    pub status: u16,
}

impl EventStream {
    /// Opens `path` and reads the answer's head.
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request(path, headers, false).as_bytes()).await.expect("send");
        let mut this = Self { stream, buffer: Vec::new(), text: String::new(), status: 0 };
        let head = tokio::time::timeout(PATIENCE, this.until(b"\r\n\r\n")).await.expect("a head in time");
        this.status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
        this
    }

    async fn until(&mut self, end: &[u8]) -> String {
        loop {
            if let Some(at) = self.buffer.windows(end.len()).position(|w| w == end) {
                let taken: Vec<u8> = self.buffer.drain(..at + end.len()).collect();
                return String::from_utf8(taken[..at].to_vec()).expect("UTF-8");
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the stream ended");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next event (comments skipped), failing the test after [`PATIENCE`].
    pub async fn next(&mut self) -> Event {
        tokio::time::timeout(PATIENCE, async {
            loop {
                if let Some(at) = self.text.find("\n\n") {
                    let block: String = self.text.drain(..at + 2).collect();
                    let mut event = Event::default();
                    for line in block.lines() {
                        let (field, value) = line.split_once(':').unwrap_or((line, ""));
                        match field {
                            "event" => event.event = value.trim_start().to_owned(),
                            "id" => event.id = Some(value.trim_start().to_owned()),
                            "data" => event.data.push_str(value.trim_start()),
                            _ => {}
                        }
                    }
                    if !event.event.is_empty() || !event.data.is_empty() {
                        return event;
                    }
                    continue;
                }
                let size = self.until(b"\r\n").await;
                let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
                assert!(size > 0, "the stream ended");
                while self.buffer.len() < size + 2 {
                    let mut chunk = [0u8; 4096];
                    let n = self.stream.read(&mut chunk).await.expect("read");
                    assert!(n > 0, "the stream ended inside a chunk");
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
                let data: Vec<u8> = self.buffer.drain(..size + 2).collect();
                self.text.push_str(std::str::from_utf8(&data[..size]).expect("UTF-8"));
            }
        })
        .await
        .expect("an event in time")
    }
}
