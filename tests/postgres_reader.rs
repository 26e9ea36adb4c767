//! Issue 21: least privilege on TimescaleDB. `tickflow grant` lets a role
//! the DBA made read the store; `serve` and `features` run as it, and it can
//! write nothing: no INSERT, UPDATE, DELETE or CREATE.

use crate::support::process::{Service, http_get};
use crate::support::{postgres, shared_data, tickflow, tickflow_output};
use std::sync::atomic::{AtomicUsize, Ordering};
use tickflow_shared::store::testing::bar;
use tickflow_shared::store::{self, Access, BatchPublish, DaySummary};
use tokio_postgres::Client;

/// `url` (of the test server's admin user) with `user` instead.
fn as_user(url: &str, user: &str) -> String {
    url.replacen("://postgres@", &format!("://{user}@"), 1)
}

async fn connect(url: &str) -> Client {
    store::connect_postgres(url).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Serves the store at `url` and returns what `/api/v1/bars` and `/api/v1/status` answer.
fn serve(url: &str, bars: &str) -> (String, String) {
    let port = crate::support::free_port();
    let args: Vec<String> =
        ["serve", "--store", url, "--listen", &format!("127.0.0.1:{port}")].into_iter().map(String::from).collect();
    let mut serve = Service::tickflow("serve", &args, &[]);
    let addr = ([127, 0, 0, 1], port).into();
    let get = |serve: &mut Service, path: &str| loop {
        match http_get(addr, path) {
            Some((200, body)) => break body,
            Some((status, body)) => panic!("{path}: {status} {body}\n{}", serve.log()),
            None => serve.assert_running(),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let answers = (get(&mut serve, bars), get(&mut serve, "/api/v1/status"));
    serve.terminate();
    let log = serve.log();
    assert!(!log.contains("ERROR") && !log.contains("permission denied"), "{log}");
    answers
}

#[tokio::test]
async fn postgres_reader_role_serves_and_exports_and_cannot_write() {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let owner = postgres::database();
    let role = format!("tickflow_reader_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let admin = connect(&owner).await;
    admin.batch_execute(&format!("CREATE ROLE {role} LOGIN")).await.expect("CREATE ROLE");
    let archive = shared_data().join("real");
    tickflow(&["batch", "--archive", archive.to_str().expect("path"), "--store", &owner, "--intervals", "1h,1d"]);

    let unknown = tickflow_output(&["grant", "--store", &owner, "--role", "nobody_made_this_role"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success() && stderr.contains("does not exist: create it first"), "{stderr}");
    let granted = tickflow(&["grant", "--store", &owner, "--role", &role]);
    println!("{granted}");
    assert!(granted.contains("batch_bars") && granted.contains("schema_migrations"), "{granted}");

    // A chunk made after the grant, and a table a later migration adds, are readable too.
    let store = store::open(&owner, Access::Write).await.expect("open as owner");
    let day = 16_000;
    let publish = BatchPublish {
        started_at: 1,
        days: vec![DaySummary { day, trades: 1 }],
        bars: Box::new(vec![bar("SPY", "1h", day * 86_400_000_000_000, 100)].into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.expect("publish a day after the grant");
    admin.batch_execute("CREATE TABLE later_migration (x INT)").await.expect("a later table");
    let spy = "SELECT count(*) FROM batch_bars WHERE symbol = 'SPY' AND \"interval\" = '1h'";
    let expected = count(&admin, spy).await;

    let url = as_user(&owner, &role);
    let reader = connect(&url).await;
    assert_eq!(count(&reader, spy).await, expected);
    assert_eq!(count(&reader, "SELECT count(*) FROM later_migration").await, 0);
    let chunks = admin
        .query(
            "SELECT format('%I.%I', chunk_schema, chunk_name) FROM timescaledb_information.chunks
             WHERE hypertable_name = 'batch_bars'",
            &[],
        )
        .await
        .expect("chunks");
    assert!(chunks.len() >= 3, "two days of trades and the day published after the grant");
    for chunk in &chunks {
        let chunk: String = chunk.get(0);
        count(&reader, &format!("SELECT count(*) FROM {chunk}")).await;
    }
    for write in [
        "INSERT INTO batch_runs (version, started_at, published_at, days, trades) VALUES (999, now(), now(), 0, 0)",
        "UPDATE batch_bars SET trades = 0",
        "DELETE FROM speed_bars",
        "DELETE FROM schema_migrations",
        "CREATE TABLE intruder (x INT)",
        "CREATE INDEX intruder ON batch_bars (trades)",
    ] {
        let error = reader.batch_execute(write).await.err().unwrap_or_else(|| panic!("{write}: allowed"));
        let error = error.as_db_error().map(|e| e.message().to_owned()).unwrap_or_else(|| error.to_string());
        assert!(error.contains("permission denied") || error.contains("must be owner"), "{write}: {error}");
    }

    let path = "/api/v1/bars?symbol=SPY&interval=1h&from=2013-10-07T00:00:00Z&to=2013-10-09T00:00:00Z";
    let (bars, status) = serve(&url, path);
    let bars: serde_json::Value = serde_json::from_str(&bars).expect("JSON");
    assert_eq!(bars["bars"].as_array().map(Vec::len), Some(expected as usize - 1), "{bars}");
    assert!(serde_json::from_str::<serde_json::Value>(&status).is_ok(), "{status}");

    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("features");
    let out = out.to_str().expect("path");
    let exported = tickflow(&["features", "--store", &url, "--interval", "1h", "--from", "2013-01-01", "--out", out]);
    println!("{exported}");
    let verified = tickflow_output(&["features", "--store", &url, "--verify", out]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
}
