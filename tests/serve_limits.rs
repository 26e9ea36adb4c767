//! `serve`'s HTTP limits, each on its own: a client too slow to send its
//! headers is disconnected, oversized headers get 431, connections beyond
//! the maximum wait until one closes, streams beyond the maximum get 503.

use crate::support::http::{EventStream, PATIENCE, Server};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickflow_serve::ServeConfig;
use tickflow_shared::store::{Access, SqliteStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(config: ServeConfig) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open"));
    let server = Server::start(store, config).await;
    (dir, server)
}

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection open past {PATIENCE:?}");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_closes_a_client_that_sends_its_headers_too_slowly() {
    let timeout = Duration::from_secs(1);
    let (_dir, server) = server(ServeConfig { header_read_timeout: timeout, ..ServeConfig::default() }).await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    // A byte every 100 ms: the headers would take minutes.
    let trickle = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-slow: ".iter().chain([b'a'; 4096].iter()) {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, read.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the slow client was not disconnected within {PATIENCE:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains(" 200 "), "a request that never ended was answered: {answer}");
    println!("serve closed the slow client after {:?} (header read timeout {timeout:?})", started.elapsed());
    trickle.abort();
    // The server still answers others.
    assert_eq!(server.get("/healthz", &[]).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_431_to_oversized_headers() {
    let (_dir, server) = server(ServeConfig::default()).await;
    let limit = ServeConfig::default_max_header_bytes();
    let fits = "a".repeat(limit / 2);
    assert_eq!(server.get("/healthz", &[("x-padding", &fits)]).await.status, 200);
    for (name, request) in [
        ("a header", format!("GET /healthz HTTP/1.1\r\nhost: t\r\nx-padding: {}\r\n\r\n", "a".repeat(limit + 1))),
        ("a query string", format!("GET /api/v1/bars?symbol={} HTTP/1.1\r\nhost: t\r\n\r\n", "A".repeat(limit + 1))),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{name} over {limit} bytes: {answer:?}");
    }
    assert_eq!(server.get("/healthz", &[]).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_holds_connections_beyond_the_maximum_until_one_closes() {
    let config = ServeConfig { max_connections: 2, header_read_timeout: PATIENCE * 3, ..ServeConfig::default() };
    let (_dir, server) = server(config).await;
    // Two idle connections take both places.
    let first = TcpStream::connect(server.addr).await.expect("connect");
    let _second = TcpStream::connect(server.addr).await.expect("connect");
    let mut third = TcpStream::connect(server.addr).await.expect("the kernel's backlog takes it");
    third.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").await.expect("send");
    let mut byte = [0u8; 1];
    let held = tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte)).await;
    assert!(held.is_err(), "a connection beyond the maximum was served at once: {held:?}");
    drop(first);
    let answer = read_to_close(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the held connection, once a place freed: {answer:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_503_to_streams_beyond_the_maximum() {
    let (_dir, server) = server(ServeConfig { max_streams: 1, ..ServeConfig::default() }).await;
    let path = "/api/v1/stream?interval=1m";
    let mut open = EventStream::open(server.addr, path, &[]).await;
    assert_eq!(open.status, 200);
    assert_eq!(open.next().await.event, "ready");
    let refused = server.get(path, &[]).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let error = refused.json()["error"].as_str().map(str::to_owned).expect("an error message");
    assert!(error.contains("most live streams open (1)") && error.contains("--max-streams"), "{error}");
    // Other routes are not limited by it; the open stream and this request are open connections.
    let metrics = server.get("/metrics", &[]).await.body;
    let connections = crate::support::process::metric(&metrics, "tickflow_serve_connections");
    assert!(connections.is_some_and(|n| n >= 2.0), "{metrics}");
    // A stream that ends gives its place back.
    drop(open);
    let started = Instant::now();
    loop {
        let mut next = EventStream::open(server.addr, path, &[]).await;
        if next.status == 200 {
            assert_eq!(next.next().await.event, "ready");
            break;
        }
        assert!(started.elapsed() < PATIENCE, "the closed stream's place was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}
