//! The fault suite's abuse of `serve` (issue 21): for a minute, on
//! loopback, the binary serving real batch bars from SQLite with its default
//! limits takes 2,000 slowloris connections (headers a byte a second, each
//! reconnecting when the server cuts it off), 1 MB query strings, invalid
//! UTF-8 in paths and queries and 10,000 bad-parameter requests. Meanwhile
//! `/healthz` keeps answering (its latency percentiles are printed, only
//! the answers asserted), normal `/api/v1/bars` requests keep succeeding,
//! and the process's resident memory stays under a generous bound.

use crate::support::process::Service;
use crate::support::{shared_data, tickflow};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ABUSE: Duration = Duration::from_secs(60);
const SLOW_CLIENTS: usize = 2_000;
const BAD_REQUESTS: usize = 10_000;
/// How long any one answer may take before the test calls it lost.
const ANSWER: Duration = Duration::from_secs(20);
/// The bound on serve's resident memory: generous, but far below what
/// unbounded buffers or connections would take.
const RSS_BOUND_KB: u64 = 512 * 1024;
/// A normal query: SPY's first hour of 2013-10-07 in minutes.
const BARS: &str = "/api/v1/bars?symbol=SPY&interval=1m&from=2013-10-07T13:30:00Z&to=2013-10-07T14:30:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stays_up_under_abuse() {
    let files = rlimit::increase_nofile_limit(u64::MAX).expect("the open-file limit");
    assert!(
        files > SLOW_CLIENTS as u64 + 1_000,
        "the open-file limit is {files}; this test opens {SLOW_CLIENTS} connections: raise the hard limit (ulimit -Hn)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let day = shared_data().join("real/trades-2013-10-07.csv.zst");
    tickflow(&["batch", "--archive", day.to_str().expect("path"), "--store", &store, "--intervals", "1m,1h"]);
    let args = ["serve", "--store", &store, "--listen", "127.0.0.1:0", "--intervals", "1m,1h"].map(str::to_owned);
    let mut serve = Service::tickflow("serve", &args, &[]);
    let addr: SocketAddr = serve.wait_for_log("the API's address", |log| {
        let line = log.lines().find(|l| l.contains("Serving the API."))?;
        line.split("address=").nth(1)?.split_whitespace().next()?.parse().ok()
    });
    let (status, body) = get(addr, BARS).await.expect("a first /bars answer");
    assert_eq!((status, bar_count(&body)), (200, 60), "{body}");
    let baseline = rss_kb(serve.pid());

    let end = Instant::now() + ABUSE;
    let cut_off = Arc::new(AtomicUsize::new(0));
    let mut abusers = tokio::task::JoinSet::new();
    for i in 0..SLOW_CLIENTS {
        // Spread the connects over the first two seconds.
        let start = Duration::from_millis((i as u64 * 2_000) / SLOW_CLIENTS as u64);
        abusers.spawn(slow_client(addr, start, end, Arc::clone(&cut_off)));
    }
    let huge = tokio::spawn(huge_queries(addr, end));
    let invalid = tokio::spawn(invalid_utf8(addr, end));
    let bad = tokio::spawn(bad_parameters(addr));
    let health = tokio::spawn(probe(addr, "/healthz", Duration::from_millis(50), end));
    let bars = tokio::spawn(probe(addr, BARS, Duration::from_millis(500), end));
    let mut peak = baseline;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(1)).await;
        serve.assert_running();
        peak = peak.max(rss_kb(serve.pid()));
    }

    let health = health.await.expect("the /healthz prober");
    let bars = bars.await.expect("the /bars prober");
    let (bad_answers, bad_took) = bad.await.expect("the bad-parameter sender");
    let huge = huge.await.expect("the huge-query sender");
    let invalid = invalid.await.expect("the invalid UTF-8 sender");
    abusers.shutdown().await;
    let mut latencies: Vec<Duration> = health.iter().map(|(took, _, _)| *took).collect();
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "serve under abuse for {ABUSE:?}: /healthz answered {} probes, p50 {:?}, p99 {:?}, max {:?}; \
         {} /bars answers; {SLOW_CLIENTS} slow clients cut off {} times; {} 1 MB queries ({} answered 431, \
         the rest reset); {} invalid UTF-8 requests; {BAD_REQUESTS} bad-parameter requests in {bad_took:?}; \
         RSS {} MB at start, peak {} MB",
        health.len(),
        percentile(50),
        percentile(99),
        latencies[latencies.len() - 1],
        bars.len(),
        cut_off.load(Ordering::Relaxed),
        huge.0,
        huge.1,
        invalid,
        baseline / 1024,
        peak / 1024,
    );
    assert!(!health.is_empty() && !bars.is_empty(), "no probe ran");
    for (took, status, body) in &health {
        assert_eq!(*status, Some(200), "/healthz under abuse, after {took:?}: {body}");
    }
    for (took, status, body) in &bars {
        assert_eq!(*status, Some(200), "/bars under abuse, after {took:?}: {body}");
        assert_eq!(bar_count(body), 60, "{body}");
    }
    assert_eq!(bad_answers, BAD_REQUESTS, "every bad-parameter request got its 400");
    assert!(cut_off.load(Ordering::Relaxed) >= SLOW_CLIENTS, "the slow clients were not cut off");
    assert!(peak < RSS_BOUND_KB, "serve's memory grew to {} MB under abuse", peak / 1024);
    assert!(serve.terminate().success(), "{}", serve.log());
}

/// A client that sends an endless header a byte a second; when the server
/// cuts it off, it counts that and connects again, until `end`.
async fn slow_client(addr: SocketAddr, start: Duration, end: Instant, cut_off: Arc<AtomicUsize>) {
    tokio::time::sleep(start).await;
    while Instant::now() < end {
        let Ok(stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let (mut read, mut write) = stream.into_split();
        let head = b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-slow: ";
        let bytes = head.iter().copied().chain(std::iter::repeat(b'a'));
        let trickle = async {
            for byte in bytes {
                if write.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        let mut answer = Vec::new();
        tokio::select! {
            () = trickle => {}
            _ = read.read_to_end(&mut answer) => {}
            () = tokio::time::sleep_until(end.into()) => return,
        }
        cut_off.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends requests with a 1 MB query string until `end`: how many were
/// sent, and how many were answered 431 (the rest are reset mid-send).
async fn huge_queries(addr: SocketAddr, end: Instant) -> (usize, usize) {
    let request = format!("GET /api/v1/bars?symbol={} HTTP/1.1\r\nhost: t\r\n\r\n", "A".repeat(1 << 20));
    let (mut sent, mut refused) = (0, 0);
    while Instant::now() < end {
        sent += 1;
        if let Ok((Some(431), _)) = tokio::time::timeout(ANSWER, exchange(addr, request.as_bytes())).await {
            refused += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (sent, refused)
}

/// Sends paths and queries that are not UTF-8 (raw and percent-encoded)
/// until `end`; each must get a 4xx. Returns how many were sent.
async fn invalid_utf8(addr: SocketAddr, end: Instant) -> usize {
    let requests: [&[u8]; 4] = [
        b"GET /api/v1/\xff\xfe HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        b"GET /api/v1/bars?symbol=\xc3\x28&interval=1m HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        b"GET /api/v1/%ff%c0%af HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        b"GET /api/v1/bars?symbol=%ff%fe&interval=%c3%28 HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    ];
    let mut sent = 0;
    while Instant::now() < end {
        for request in requests {
            let answer = tokio::time::timeout(ANSWER, exchange(addr, request)).await;
            let status = answer.as_ref().ok().and_then(|(status, _)| *status);
            assert!(
                status.is_some_and(|s| (400..500).contains(&s)),
                "{:?} got {answer:?}",
                String::from_utf8_lossy(request)
            );
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sent
}

/// Sends `BAD_REQUESTS` requests with bad parameters over two kept-alive
/// connections; how many got their 400, and how long it took.
async fn bad_parameters(addr: SocketAddr) -> (usize, Duration) {
    let started = Instant::now();
    let paths = [
        "/api/v1/bars?symbol=SPY&interval=7x&from=0&to=60000",
        "/api/v1/bars?symbol=SPY&interval=1m&from=yesterday&to=now",
        "/api/v1/bars?symbol=SPY&interval=1m&from=0&to=60000&limit=-1",
        "/api/v1/latest?symbols=A,,B",
        "/api/v1/status?verbose=%ff",
    ];
    let mut workers = Vec::new();
    for worker in 0..2 {
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut refused = 0;
            for i in (worker..BAD_REQUESTS).step_by(2) {
                let url = format!("http://{addr}{}", paths[i % paths.len()]);
                if let Ok(reply) = client.get(url).timeout(ANSWER).send().await
                    && reply.status() == 400
                {
                    refused += 1;
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for worker in workers {
        refused += worker.await.expect("a bad-parameter worker");
    }
    (refused, started.elapsed())
}

/// GETs `path` every `every` until `end`: how long each took, its status
/// (none if it got no answer) and its body.
async fn probe(addr: SocketAddr, path: &str, every: Duration, end: Instant) -> Vec<(Duration, Option<u16>, String)> {
    let mut answers = Vec::new();
    while Instant::now() < end {
        let started = Instant::now();
        let answer = tokio::time::timeout(ANSWER, get(addr, path)).await.ok().flatten();
        let (status, body) = answer.map_or((None, String::new()), |(status, body)| (Some(status), body));
        answers.push((started.elapsed(), status, body));
        tokio::time::sleep(every).await;
    }
    answers
}

/// One `GET path` on a new connection: the status and the body.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    let (status, body) = exchange(addr, request.as_bytes()).await;
    Some((status?, body))
}

/// Sends `request` on a new connection and reads until it closes: the
/// answer's status (none if there was no answer) and its body.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (Option<u16>, String) {
    let Ok(mut stream) = TcpStream::connect(addr).await else { return (None, String::new()) };
    // A server that answers early and closes may reset the rest of the send.
    let _ = stream.write_all(request).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return (None, text.into_owned()) };
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        String::from_utf8_lossy(&crate::support::http::dechunk(body.as_bytes())).into_owned()
    } else {
        body.to_owned()
    };
    (status, body)
}

fn bar_count(body: &str) -> usize {
    serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| v["bars"].as_array().map(Vec::len)).unwrap_or(0)
}

/// The resident memory of process `pid`, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()).expect("VmRSS in kB")
}
