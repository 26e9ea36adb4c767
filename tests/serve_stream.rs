//! The serving layer live and under load: `/stream` delivers provisional
//! then final bars as speed commits land (SQLite and PostgreSQL), resumes
//! from an event id, and `/bars` keeps the merge rule while batch publishes
//! move the boundary concurrently (PostgreSQL).

use crate::support::http::{EventStream, Server};
use crate::support::postgres;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tickflow_serve::ServeConfig;
use tickflow_shared::store::testing::bar;
use tickflow_shared::store::{
    Access, BatchPublish, DaySummary, PostgresStore, SpeedBar, SpeedCommit, SpeedStore, SqliteStore, Store,
};
use tickflow_shared::time::{NANOS_PER_DAY, format_rfc3339};

const MINUTE: i64 = 60_000_000_000;
/// 2013-10-07T13:30:00Z.
const OPEN: i64 = 15_985 * NANOS_PER_DAY + 810 * MINUTE;

fn config() -> ServeConfig {
    ServeConfig { poll_interval: Duration::from_millis(20), ..ServeConfig::default() }
}

async fn commit(store: &dyn SpeedStore, bars: Vec<SpeedBar>) {
    store.commit_speed(&mut SpeedCommit { bars, ..SpeedCommit::default() }).await.expect("speed commit");
}

fn speed(symbol: &str, start: i64, price: i64, is_final: bool) -> SpeedBar {
    SpeedBar { bar: bar(symbol, "1m", start, price), is_final }
}

/// The `bar` event's data as JSON, checked against the bar it should be.
async fn next_bar(stream: &mut EventStream, start: i64, is_final: bool) -> Value {
    let event = stream.next().await;
    assert_eq!(event.event, "bar", "{event:?}");
    let data: Value = serde_json::from_str(&event.data).expect("JSON data");
    assert_eq!((data["symbol"].as_str(), data["interval"].as_str()), (Some("AAPL"), Some("1m")), "{data}");
    assert_eq!(data["start"].as_str(), Some(format_rfc3339(start).as_str()), "{data}");
    assert_eq!((data["final"].as_bool(), data["view"].as_str()), (Some(is_final), Some("speed")), "{data}");
    assert_eq!(event.id.as_deref().map(str::parse::<i64>), Some(Ok(data["seq"].as_i64().expect("seq"))));
    data
}

async fn provisional_then_final(store: Arc<dyn Store>) {
    commit(&*store, vec![speed("AAPL", OPEN - MINUTE, 1, true)]).await;
    let server = Server::start(store.clone(), config()).await;
    let path = "/api/v1/stream?symbols=AAPL&interval=1m";
    let mut stream = EventStream::open(server.addr, path, &[]).await;
    assert_eq!(stream.status, 200);
    let ready = stream.next().await;
    assert_eq!(ready.event, "ready");
    // Bars written before subscribing are not sent again; MSFT and 1h bars are not asked for.
    commit(&*store, vec![speed("AAPL", OPEN, 10_000_000_000, false), speed("MSFT", OPEN, 3, false)]).await;
    let provisional = next_bar(&mut stream, OPEN, false).await;
    assert!(provisional.to_string().contains(r#""open":100,"#), "exact money: {provisional}");
    commit(&*store, vec![SpeedBar { bar: bar("AAPL", "1h", OPEN, 5), is_final: false }]).await;
    commit(&*store, vec![speed("AAPL", OPEN, 10_000_000_001, true)]).await;
    let last = next_bar(&mut stream, OPEN, true).await;
    assert!(last["seq"].as_i64() > provisional["seq"].as_i64());

    // A client that comes back with the id of the provisional bar gets the final one from the store.
    let id = provisional["seq"].to_string();
    let mut resumed = EventStream::open(server.addr, path, &[("last-event-id", &id)]).await;
    assert_eq!(resumed.next().await.event, "ready");
    assert_eq!(next_bar(&mut resumed, OPEN, true).await["seq"], last["seq"]);
    commit(&*store, vec![speed("AAPL", OPEN + MINUTE, 7, false)]).await;
    next_bar(&mut stream, OPEN + MINUTE, false).await;
    next_bar(&mut resumed, OPEN + MINUTE, false).await;

    let status = server.get("/api/v1/status", &[]).await.json();
    assert_eq!(status["stream"]["clients"], 2);
    let metrics = server.get("/metrics", &[]).await.body;
    assert!(metrics.contains("tickflow_serve_stream_clients 2"), "{metrics}");
    // Shutting down ends the open streams instead of waiting for them.
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stream_provisional_then_final_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    provisional_then_final(Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open")))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stream_provisional_then_final_on_postgres() {
    provisional_then_final(Arc::new(PostgresStore::open(&postgres::database(), Access::Write).await.expect("connect")))
        .await;
}

const DAYS: i64 = 6;
const MINUTES: i64 = 30;
const FIRST_DAY: i64 = 15_985;

/// Batch prices are `1000 + day·100 + minute` (plus 10 000 on a republish),
/// speed prices `900 000 + …`: a bar's price says its view and its day.
fn day_bars(day: i64, base: i64) -> Vec<tickflow_shared::Bar> {
    (0..MINUTES)
        .map(|m| bar("AAPL", "1m", day * NANOS_PER_DAY + m * MINUTE, base + (day - FIRST_DAY) * 100 + m))
        .collect()
}

/// Contract 6 over HTTP: while batch publishes move the boundary day by
/// day (and republish days), every `/bars` response over all the days has
/// every minute exactly once, batch bars before the boundary it reports
/// (of a published version of their day) and speed bars from it on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_merge_rule_holds_while_batch_publishes() {
    let store: Arc<dyn Store> =
        Arc::new(PostgresStore::open(&postgres::database(), Access::Write).await.expect("connect"));
    let speed_bars = (FIRST_DAY..FIRST_DAY + DAYS).flat_map(|d| day_bars(d, 900_000));
    commit(&*store, speed_bars.map(|bar| SpeedBar { bar, is_final: true }).collect()).await;
    let server = Arc::new(Server::start(store.clone(), config()).await);
    let to = format_rfc3339((FIRST_DAY + DAYS) * NANOS_PER_DAY);
    let path =
        format!("/api/v1/bars?symbol=AAPL&interval=1m&from={}&to={to}", format_rfc3339(FIRST_DAY * NANOS_PER_DAY));
    let expected_starts: Vec<String> = (FIRST_DAY..FIRST_DAY + DAYS)
        .flat_map(|d| (0..MINUTES).map(move |m| format_rfc3339(d * NANOS_PER_DAY + m * MINUTE)))
        .collect();
    let check = move |body: Value| -> Option<String> {
        let boundary = body["boundary"].as_str().map(str::to_owned);
        let bars = body["bars"].as_array().expect("bars");
        let starts: Vec<&str> = bars.iter().map(|b| b["start"].as_str().expect("start")).collect();
        assert_eq!(starts, expected_starts, "a gap or a duplicate at boundary {boundary:?}");
        for b in bars {
            let start = b["start"].as_str().expect("start");
            let batch = boundary.as_deref().is_some_and(|boundary| start < boundary);
            // Prices are tiny (units of 10^-8), so the float is exact enough to read them back.
            let units = (b["open"].as_f64().expect("open") * 1e8).round() as i64;
            let (view, base) = match units {
                u if u >= 900_000 => ("speed", 900_000),
                u if u >= 11_000 => ("batch", 11_000),
                _ => ("batch", 1_000),
            };
            assert_eq!(b["view"], if batch { "batch" } else { "speed" }, "{start} at boundary {boundary:?}");
            assert_eq!(b["view"], view, "{start} at boundary {boundary:?} has a bar of the other view");
            let day = (units - base) / 100 + FIRST_DAY;
            assert!(start.starts_with(&tickflow_shared::time::format_day(day)), "{start} has a bar of day {day}");
        }
        boundary
    };
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (server, done, path, check) = (Arc::clone(&server), Arc::clone(&done), path.clone(), check.clone());
            tokio::spawn(async move {
                let mut seen = BTreeSet::new();
                let mut reads = 0;
                while reads < 20 || !done.load(Ordering::Acquire) {
                    let reply = server.get(&path, &[]).await;
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    seen.insert(check(reply.json()));
                    reads += 1;
                }
                seen
            })
        })
        .collect();
    let first = check(server.get(&path, &[]).await.json());
    for (i, day) in (FIRST_DAY..FIRST_DAY + DAYS).chain(FIRST_DAY..FIRST_DAY + 2).enumerate() {
        let base = if i < DAYS as usize { 1000 } else { 11_000 };
        let publish = BatchPublish {
            started_at: OPEN,
            days: vec![DaySummary { day, trades: MINUTES as u64 }],
            bars: Box::new(day_bars(day, base).into_iter()),
            files: Vec::new(),
            forget_files: Vec::new(),
            rejects: Vec::new(),
        };
        store.publish_batch(publish).await.expect("publish");
    }
    done.store(true, Ordering::Release);
    // An answer may be up to one poll interval older than the newest publish
    // (the /bars cache, see serving-layer): the last one shows within a few.
    let mut last = check(server.get(&path, &[]).await.json());
    for _ in 0..100 {
        if last.as_deref() == Some(to.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = check(server.get(&path, &[]).await.json());
    }
    assert_eq!((first, last), (None, Some(to)));
    let mut boundaries = BTreeSet::new();
    for reader in readers {
        boundaries.extend(reader.await.expect("reader"));
    }
    assert!(!boundaries.is_empty());
}
