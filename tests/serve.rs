//! `tickflow serve`'s HTTP API against real stores: every route on SQLite
//! and PostgreSQL, every error case, auth on and off, the OpenAPI document
//! against the routes served, and the binary's graceful shutdown.

use crate::support::http::{PATIENCE, Reply, Server};
use crate::support::{postgres, tickflow_output};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use tickflow_serve::{ApiToken, ServeConfig};
use tickflow_shared::render::write_json_bars;
use tickflow_shared::store::testing::bar;
use tickflow_shared::store::{
    Access, BatchPublish, DaySummary, PartitionOffset, PostgresStore, SpeedBar, SpeedCommit, SqliteStore, Store, View,
    ViewBar,
};
use tickflow_shared::time::NANOS_PER_DAY;

const MINUTE: i64 = 60_000_000_000;
/// 2013-10-07, a day of the batch view.
const DAY: i64 = 15_985;
/// 2013-10-07T13:30:00Z.
const OPEN: i64 = DAY * NANOS_PER_DAY + 810 * MINUTE;

/// The batch view holds AAPL and MSFT 1m bars for ten minutes of `DAY` and
/// an AAPL 1h bar; the speed view an AAPL bar of `DAY` (hidden by the
/// boundary) and three AAPL minutes of the next day. Returns the bars a
/// merged read of AAPL 1m over both days gives.
pub(crate) async fn fixture(store: &dyn Store) -> Vec<ViewBar> {
    let mut batch = Vec::new();
    for symbol in ["AAPL", "MSFT"] {
        batch.extend((0..10).map(|m| bar(symbol, "1m", OPEN + m * MINUTE, 16_741_000_000 + m)));
    }
    batch.push(bar("AAPL", "1h", OPEN - 30 * MINUTE, 16_700_000_000));
    let publish = BatchPublish {
        started_at: OPEN,
        days: vec![DaySummary { day: DAY, trades: 100 }],
        bars: Box::new(batch.clone().into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.expect("publish");
    let next = OPEN + NANOS_PER_DAY;
    let mut speed = vec![SpeedBar { bar: bar("AAPL", "1m", OPEN + 3 * MINUTE, 1), is_final: true }];
    speed.extend(
        (0..3).map(|m| SpeedBar { bar: bar("AAPL", "1m", next + m * MINUTE, 17_000_000_001 + m), is_final: m < 2 }),
    );
    let position = |partition, next_offset, end_offset| PartitionOffset {
        topic: "ticks".into(),
        partition,
        next_offset,
        replay_from: next_offset - 2,
        end_offset,
    };
    let mut commit = SpeedCommit {
        bars: speed.clone(),
        offsets: vec![position(0, 40, Some(45)), position(1, 12, None)],
        watermark: Some(next + 2 * MINUTE),
        ..SpeedCommit::default()
    };
    store.commit_speed(&mut commit).await.expect("speed commit");
    let batch_aapl = batch.into_iter().filter(|b| b.symbol.as_str() == "AAPL" && b.interval.to_string() == "1m");
    let speed_after = speed.into_iter().skip(1).map(|b| ViewBar { bar: b.bar, view: View::Speed });
    batch_aapl.map(|bar| ViewBar { bar, view: View::Batch }).chain(speed_after).collect()
}

pub(crate) fn bars_body(symbol: &str, boundary: &str, bars: &[ViewBar]) -> String {
    let mut text = String::new();
    write_json_bars(&mut text, bars);
    format!(r#"{{"symbol":"{symbol}","interval":"1m","boundary":"{boundary}","bars":{text}}}"#)
}

async fn every_route(store: Arc<dyn Store>) {
    let merged = fixture(&*store).await;
    let server = Server::start(store, ServeConfig::default()).await;
    let both_days = "from=2013-10-07T13:30:00Z&to=2013-10-08T13:33:00Z";
    let bars = server.get(&format!("/api/v1/bars?symbol=AAPL&interval=1m&{both_days}"), &[]).await;
    assert_eq!(bars.status, 200, "{}", bars.body);
    assert!(bars.has_header("content-type", "application/json"));
    assert_eq!(bars.body, bars_body("AAPL", "2013-10-08T00:00:00Z", &merged));
    let json = bars.json();
    assert_eq!(json["bars"][0]["start"], "2013-10-07T13:30:00Z");
    assert_eq!((json["bars"][9]["view"].as_str(), json["bars"][10]["view"].as_str()), (Some("batch"), Some("speed")));

    // Epoch milliseconds; `from` inclusive, `to` exclusive; `limit` keeps the earliest.
    let ms = |ts: i64| ts / 1_000_000;
    let path = format!("/api/v1/bars?symbol=AAPL&interval=1m&from={}&to={}", ms(OPEN + MINUTE), ms(OPEN + 3 * MINUTE));
    assert_eq!(server.get(&path, &[]).await.body, bars_body("AAPL", "2013-10-08T00:00:00Z", &merged[1..3]));
    let limited = server.get(&format!("/api/v1/bars?symbol=AAPL&interval=1m&{both_days}&limit=2"), &[]).await;
    assert_eq!(limited.body, bars_body("AAPL", "2013-10-08T00:00:00Z", &merged[..2]));
    // Asked for gzip, the same answer comes compressed, fresh or kept.
    for _ in 0..2 {
        let gzip = [("accept-encoding", "gzip, deflate, br")];
        let compressed = server.get(&format!("/api/v1/bars?symbol=AAPL&interval=1m&{both_days}"), &gzip).await;
        assert!(compressed.has_header("content-encoding", "gzip"), "{}", compressed.head);
        assert!(compressed.has_header("vary", "accept-encoding"), "{}", compressed.head);
        assert_eq!(compressed.body, bars.body);
    }
    assert!(!bars.has_header("content-encoding", "gzip"));
    let unknown = server.get(&format!("/api/v1/bars?symbol=NOPE&interval=1m&{both_days}"), &[]).await;
    assert_eq!((unknown.status, unknown.json()["bars"].as_array().map(Vec::len)), (200, Some(0)));

    let symbols = server.get("/api/v1/symbols", &[]).await.json();
    assert_eq!(symbols["symbols"], serde_json::json!(["AAPL", "MSFT"]));
    assert_eq!(symbols["intervals"], serde_json::json!(["1s", "1m", "5m", "15m", "1h", "1d"]));

    let latest = server.get("/api/v1/latest?symbols=MSFT,AAPL", &[]).await.json();
    let newest: Vec<(&str, &str, &str, &str)> = latest["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| {
            let field = |k: &str| b[k].as_str().expect("text");
            (field("symbol"), field("interval"), field("start"), field("view"))
        })
        .collect();
    assert_eq!(
        newest,
        [
            ("AAPL", "1m", "2013-10-08T13:32:00Z", "speed"),
            ("AAPL", "1h", "2013-10-07T13:00:00Z", "batch"),
            ("MSFT", "1m", "2013-10-07T13:39:00Z", "batch"),
        ]
    );
    let one = server.get("/api/v1/latest?symbols=AAPL&interval=1h", &[]).await.json();
    assert_eq!(one["bars"].as_array().map(Vec::len), Some(1));
    assert_eq!(server.get("/api/v1/latest", &[]).await.json()["bars"].as_array().map(Vec::len), Some(3));

    let status = server.get("/api/v1/status", &[]).await.json();
    assert_eq!(status["batch"]["boundary"], "2013-10-08T00:00:00Z");
    assert_eq!(status["batch"]["last_run"]["version"], 1);
    assert_eq!(status["batch"]["last_run"]["trades"], 100);
    assert_eq!(status["speed"]["watermark"], "2013-10-08T13:32:00Z");
    assert!(status["speed"]["lag_seconds"].as_f64().is_some_and(|lag| lag > 0.0));
    assert_eq!(status["rows"]["batch_bars"], 21);
    assert_eq!(status["rows"]["speed_bars"], 4);
    let partitions = &status["speed"]["partitions"];
    assert_eq!((partitions[0]["next_offset"].as_i64(), partitions[0]["end_offset"].as_i64()), (Some(40), Some(45)));
    assert_eq!(partitions[0]["lag_messages"], 5);
    assert!(partitions[1]["end_offset"].is_null() && partitions[1]["lag_messages"].is_null(), "{partitions}");

    assert_eq!(server.get("/healthz", &[]).await.json()["status"], "ok");
    assert_eq!(server.get("/readyz", &[]).await.json()["status"], "ready");
    let doc = server.get("/api/v1/openapi.json", &[]).await.json();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let metrics = server.get("/metrics", &[]).await;
    assert!(
        metrics.body.contains(r#"tickflow_serve_requests_total{route="/api/v1/bars",status="200"} 6"#),
        "{}",
        metrics.body
    );
    assert!(metrics.body.contains("tickflow_serve_request_duration_seconds_bucket{"), "{}", metrics.body);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_every_route_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    every_route(Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_every_route_on_postgres() {
    every_route(Arc::new(PostgresStore::open(&postgres::database(), Access::Write).await.expect("connect"))).await;
}

/// A 400 that names `parameter` and whose message has `says`.
fn refused(reply: &Reply, parameter: &str, says: &str) -> Value {
    assert_eq!(reply.status, 400, "{}", reply.body);
    let json = reply.json();
    assert_eq!(json["parameter"], parameter, "{}", reply.body);
    assert!(json["error"].as_str().is_some_and(|e| e.contains(says)), "{:?} lacks {says:?}", json["error"]);
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_bad_requests_with_what_is_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open"));
    let config = ServeConfig {
        intervals: tickflow_shared::Interval::parse_list("1m,1h").expect("intervals"),
        point_limit: 100,
        ..ServeConfig::default()
    };
    let server = Server::start(store, config).await;
    let bars = |query: &str| format!("/api/v1/bars?{query}");
    let day = "from=2013-10-07T13:30:00Z&to=2013-10-07T14:30:00Z";
    let json = refused(&server.get(&bars(&format!("symbol=A&interval=1s&{day}")), &[]).await, "interval", "1m, 1h");
    assert_eq!(json["allowed"], serde_json::json!(["1m", "1h"]));
    refused(&server.get(&bars(&format!("symbol=A&{day}")), &[]).await, "interval", "required");
    refused(&server.get(&bars(&format!("interval=1m&{day}")), &[]).await, "symbol", "required");
    refused(&server.get(&bars(&format!("symbol=A%20B&interval=1m&{day}")), &[]).await, "symbol", "not a symbol");
    let reversed = "symbol=A&interval=1m&from=2013-10-07T14:30:00Z&to=2013-10-07T13:30:00Z";
    refused(&server.get(&bars(reversed), &[]).await, "from", "after to");
    let long = "symbol=A&interval=1m&from=2013-10-07T00:00:00Z&to=2013-10-08T00:00:00Z";
    refused(&server.get(&bars(long), &[]).await, "to", "1440 bars of 1m; at most 100");
    assert_eq!(server.get(&bars(&format!("{long}&limit=100")), &[]).await.status, 200);
    refused(&server.get(&bars("symbol=A&interval=1m&from=yesterday&to=1"), &[]).await, "from", "RFC 3339");
    refused(&server.get(&bars("symbol=A&interval=1m&from=0&to=2013-10-07T13:30:00+02:00"), &[]).await, "to", "%2B");
    // Issue 18: an open range is no longer refused; `serve_open_range` tests what it answers.
    assert_eq!(server.get(&bars("symbol=A&interval=1m&from=0"), &[]).await.status, 200);
    for limit in ["0", "101", "ten", "-1"] {
        refused(
            &server.get(&bars(&format!("symbol=A&interval=1m&{day}&limit={limit}")), &[]).await,
            "limit",
            "1 to 100",
        );
    }
    let json = refused(&server.get(&bars(&format!("symbol=A&interval=1m&{day}&lmit=5")), &[]).await, "query", "lmit");
    assert_eq!(json["allowed"], serde_json::json!(["symbol", "interval", "from", "to", "limit"]));
    refused(&server.get(&bars(&format!("symbol=A&symbol=B&interval=1m&{day}")), &[]).await, "symbol", "twice");
    refused(&server.get("/api/v1/latest?symbols=A,,B", &[]).await, "symbols", "not a symbol");
    refused(&server.get("/api/v1/latest?interval=5m", &[]).await, "interval", "1m, 1h");
    refused(&server.get("/api/v1/stream?symbols=A", &[]).await, "interval", "required");
    refused(&server.get("/api/v1/stream?interval=1m&since=x", &[]).await, "since", "change number");
    refused(&server.get("/api/v1/status?verbose=1", &[]).await, "query", "takes none");

    let missing = server.get("/api/v2/bars", &[]).await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["allowed"].as_array().is_some_and(|routes| routes.contains(&"/api/v1/bars".into())));
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let post = "POST /api/v1/bars HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut stream, post.as_bytes()).await.expect("send");
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 405") && answer.to_ascii_lowercase().contains("allow: get"), "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_store_failure_is_503_with_advice_and_recovers_when_the_database_is_back() {
    let cluster = postgres::Cluster::new(&[]);
    cluster.start("");
    let store = Arc::new(PostgresStore::open(&cluster.url(), Access::Write).await.expect("connect"));
    let server = Server::start(store, ServeConfig::default()).await;
    assert_eq!(server.get("/readyz", &[]).await.status, 200);
    cluster.stop_immediate();
    let path = "/api/v1/bars?symbol=A&interval=1m&from=0&to=60000";
    for reply in
        [server.get(path, &[]).await, server.get("/readyz", &[]).await, server.get("/api/v1/status", &[]).await]
    {
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(reply.json()["error"].as_str().is_some_and(|e| e.contains("check that the database is up")));
    }
    assert_eq!(server.get("/healthz", &[]).await.status, 200);
    cluster.start("");
    // The store connects again on the next request: no restart of serve.
    assert_eq!(server.get(path, &[]).await.status, 200);
    assert_eq!(server.get("/readyz", &[]).await.status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_token_guards_all_but_health() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open"));
    let config = ServeConfig { api_token: ApiToken::new("s3cr3t-token"), ..ServeConfig::default() };
    let server = Server::start(store, config).await;
    let guarded = ["/api/v1/symbols", "/api/v1/status", "/api/v1/latest", "/api/v1/openapi.json", "/metrics"];
    for path in guarded {
        for headers in [&[][..], &[("authorization", "Bearer wrong")], &[("authorization", "Basic s3cr3t-token")]] {
            let reply = server.get(path, headers).await;
            assert_eq!(reply.status, 401, "{path} {headers:?}: {}", reply.body);
            assert!(reply.has_header("www-authenticate", "Bearer"));
            assert!(reply.json()["error"].as_str().is_some_and(|e| e.contains("Bearer")));
        }
        assert_eq!(server.get(path, &[("authorization", "Bearer s3cr3t-token")]).await.status, 200, "{path}");
        assert_eq!(server.get(&format!("{path}?token=s3cr3t-token"), &[]).await.status, 200, "{path}");
        assert_eq!(server.get(&format!("{path}?token=s3cr3t"), &[]).await.status, 401, "{path}");
    }
    // Without the token, a bad request is refused as unauthorised, not explained.
    assert_eq!(server.get("/api/v1/bars?interval=9x", &[]).await.status, 401);
    assert_eq!(server.get("/nothing/here", &[]).await.status, 404);
    for open in ["/healthz", "/readyz"] {
        assert_eq!(server.get(open, &[]).await.status, 200);
    }
    server.stop().await;
}

/// Every route the document names is served with exactly its parameters,
/// and every route served (as the 404 answer lists them) is in the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_openapi_document_matches_the_routes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open"));
    let server = Server::start(store, ServeConfig::default()).await;
    let doc = server.get("/api/v1/openapi.json", &[]).await.json();
    let paths = doc["paths"].as_object().expect("paths");
    let served: BTreeSet<String> = server.get("/unknown", &[]).await.json()["allowed"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| r.as_str().expect("a route").to_owned())
        .collect();
    assert_eq!(paths.keys().cloned().collect::<BTreeSet<_>>(), served);
    for (path, item) in paths {
        let params = item["get"]["parameters"].as_array().expect("parameters");
        let documented: Vec<&str> = params.iter().map(|p| p["name"].as_str().expect("name")).collect();
        let example: Vec<String> = params
            .iter()
            .filter(|p| p["required"] == true)
            .map(|p| format!("{}={}", p["name"].as_str().expect("name"), p["example"].as_str().expect("an example")))
            .collect();
        let reply = server.get(&format!("{path}?bogus=1"), &[]).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        let json = reply.json();
        let allowed: Vec<&str> =
            json["allowed"].as_array().map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_str).collect());
        assert_eq!(allowed, documented, "{path}");
        if path.ends_with("/stream") {
            let stream =
                crate::support::http::EventStream::open(server.addr, &format!("{path}?{}", example.join("&")), &[])
                    .await;
            assert_eq!(stream.status, 200, "{path}");
        } else {
            let reply = server.get(&format!("{path}?{}", example.join("&")), &[]).await;
            assert_eq!(reply.status, 200, "{path} with its examples: {}", reply.body);
        }
    }
    server.stop().await;
}

/// The real binary serves, keeps the token out of its log, and stops on SIGTERM.
#[test]
fn serve_binary_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let output = tickflow_output(&["serve", "--store", &store, "--listen", "127.0.0.1:1", "--point-limit", "0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 1"), "{output:?}");
    // `serve` only reads: a writer creates the store.
    drop(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("create the store"));

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(["serve", "--store", &store, "--listen", "127.0.0.1:0"])
        .env("TICKFLOW_API_TOKEN", "never-logged-token")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let (lines, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            // Without colour codes, whether or not the log has them.
            let mut plain = String::new();
            let mut escape = false;
            for c in line.chars() {
                match (escape, c) {
                    (false, '\u{1b}') => escape = true,
                    (true, 'm') => escape = false,
                    (false, c) => plain.push(c),
                    (true, _) => {}
                }
            }
            if lines.send(plain).is_err() {
                return;
            }
        }
    });
    let next_line = || log.recv_timeout(PATIENCE).expect("a log line in time");
    let addr = loop {
        if let Some(rest) = next_line().split("address=").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    std::io::Write::write_all(&mut stream, b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .expect("send");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    let mut rest = Vec::new();
    while let Ok(line) = log.recv_timeout(PATIENCE) {
        rest.push(line);
    }
    let status = child.wait().expect("wait");
    let rest = rest.join("\n");
    assert!(status.success(), "{status}: {rest}");
    assert!(rest.contains("Shutting down"), "{rest}");
    assert!(!rest.contains("never-logged-token"), "{rest}");
}
