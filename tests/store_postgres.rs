//! The PostgreSQL view store against a real server: the SQLite store's
//! behaviours, plus atomic replacement of a day under concurrent readers,
//! the speed-layer scenarios of `store::testing`, and change polling under
//! concurrent speed commits.

use crate::support::postgres;
use std::sync::Arc;
use tickflow_shared::codec::Reject;
use tickflow_shared::store::{
    BarQuery, BatchPublish, DaySummary, FileManifest, PostgresStore, SpeedBar, SpeedCommit, View, ViewBar, ViewSelect,
    ViewStore, testing,
};
use tickflow_shared::time::{NANOS_PER_DAY, format_rfc3339};
use tickflow_shared::{Bar, Interval, Price, Symbol, Volume};

fn interval(label: &str) -> Interval {
    label.parse().expect("interval")
}

fn bar(symbol: &str, label: &str, start: i64, price: i64) -> Bar {
    Bar {
        symbol: Symbol::new(symbol).expect("symbol"),
        interval: interval(label),
        start,
        open: Price(price),
        high: Price(price + 7),
        low: Price(price - 3),
        close: Price(price + 1),
        // Beyond i64: PostgreSQL keeps the whole i128.
        volume: Volume(i128::from(i64::MAX) * 1000 + i128::from(price)),
        vwap: Price(price + 2),
        trades: 17,
        first_ts: start + 1,
        last_ts: start + 999_999_999,
    }
}

fn day_bars(day: i64, minutes: i64, price: i64) -> Vec<Bar> {
    let base = day * NANOS_PER_DAY;
    let mut bars = Vec::new();
    for symbol in ["AAPL", "MSFT"] {
        for minute in 0..minutes {
            bars.push(bar(symbol, "1m", base + minute * 60_000_000_000, price + minute));
        }
    }
    bars
}

fn publish(days: &[(i64, u64)], bars: Vec<Bar>) -> BatchPublish<'static> {
    BatchPublish {
        started_at: 1_700_000_000_123_456_000,
        days: days.iter().map(|&(day, trades)| DaySummary { day, trades }).collect(),
        bars: Box::new(bars.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    }
}

fn query(label: &str, view: ViewSelect) -> BarQuery {
    BarQuery { interval: interval(label), symbol: None, from: None, to: None, view, limit: None }
}

async fn store() -> PostgresStore {
    PostgresStore::connect(&postgres::database()).await.expect("connect")
}

fn plain(bars: &[ViewBar], view: View) -> Vec<Bar> {
    assert!(bars.iter().all(|b| b.view == view));
    bars.iter().map(|b| b.bar.clone()).collect()
}

#[tokio::test]
async fn store_postgres_publish_replace_and_boundary() {
    let store = store().await;
    let (a, b) = (day_bars(19_000, 30, 10_000_000_000), day_bars(19_001, 30, 20_000_000_000));
    let run = store
        .publish_batch(publish(&[(19_000, 5), (19_001, 6)], a.iter().chain(&b).cloned().collect()))
        .await
        .expect("publish");
    assert_eq!((run.version, run.bars, run.boundary), (1, 120, Some(19_002 * NANOS_PER_DAY)));
    let read = store.bars(&query("1m", ViewSelect::Batch)).await.expect("read");
    let mut expected: Vec<Bar> = a.iter().chain(&b).cloned().collect();
    expected.sort_by(|x, y| (&x.symbol, x.start).cmp(&(&y.symbol, y.start)));
    assert_eq!(plain(&read.bars, View::Batch), expected);
    assert_eq!(store.batch_runs(5).await.expect("runs"), vec![run]);

    let new_a = day_bars(19_000, 3, 30_000_000_000);
    store.publish_batch(publish(&[(19_000, 7)], new_a.clone())).await.expect("republish");
    let mut q = query("1m", ViewSelect::Batch);
    q.to = Some(19_001 * NANOS_PER_DAY);
    assert_eq!(plain(&store.bars(&q).await.expect("read").bars, View::Batch).len(), new_a.len());
    q.from = q.to.take();
    assert_eq!(store.bars(&q).await.expect("read").bars.len(), b.len());

    let run = store.publish_batch(publish(&[(19_001, 0)], Vec::new())).await.expect("empty day");
    assert_eq!((run.version, run.boundary), (3, Some(19_001 * NANOS_PER_DAY)));
    assert_eq!(store.bars(&query("1m", ViewSelect::Batch)).await.expect("read").bars.len(), new_a.len());
}

#[tokio::test]
async fn store_postgres_merged_view() {
    let url = postgres::database();
    let store = PostgresStore::connect(&url).await.expect("connect");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let base = 19_000 * NANOS_PER_DAY;
    let speed = |start: i64| bar("AAPL", "1h", start, 5);
    for b in [speed(base), speed(base + NANOS_PER_DAY)] {
        client
            .execute(
                r#"INSERT INTO speed_bars VALUES ('AAPL', '1h', to_timestamp($1::bigint / 1000000000),
                   0.00000005, 0.00000012, 0.00000002, 0.00000006, $2::text::numeric, 0.00000007, 17, $3, $4, TRUE, now())"#,
                &[&(b.start), &b.volume.to_string(), &b.first_ts, &b.last_ts],
            )
            .await
            .expect("insert speed bar");
    }
    let read = store.bars(&query("1h", ViewSelect::Merged)).await.expect("read");
    assert_eq!(read.boundary, None);
    assert_eq!(plain(&read.bars, View::Speed), vec![speed(base), speed(base + NANOS_PER_DAY)]);

    let batch = bar("AAPL", "1h", base, 100);
    store.publish_batch(publish(&[(19_000, 3)], vec![batch.clone()])).await.expect("publish");
    let read = store.bars(&query("1h", ViewSelect::Merged)).await.expect("read");
    assert_eq!(read.boundary, Some(base + NANOS_PER_DAY));
    assert_eq!(
        read.bars,
        vec![
            ViewBar { bar: batch, view: View::Batch },
            ViewBar { bar: speed(base + NANOS_PER_DAY), view: View::Speed }
        ]
    );
}

#[tokio::test]
async fn store_postgres_manifest_rejects_and_migrations() {
    let url = postgres::database();
    let store = PostgresStore::connect(&url).await.expect("connect");
    let file = |path: &str, days: Vec<i64>| FileManifest { path: path.into(), bytes: 99, modified_ns: 5, days };
    let reject = Reject::new("a.csv", 3, "price \"-1\" must be positive".into(), b"AAPL,-1,\t\"x\"\\");
    let mut p = publish(&[(19_000, 1)], Vec::new());
    p.files = vec![file("a.csv", vec![19_000, 19_001]), file("b.csv", vec![19_000])];
    p.rejects = vec![reject.clone()];
    store.publish_batch(p).await.expect("publish");
    let mut p = publish(&[(19_000, 1)], Vec::new());
    p.files = vec![file("a.csv", vec![19_002])];
    p.forget_files = vec!["b.csv".into()];
    p.rejects = vec![reject.clone()];
    store.publish_batch(p).await.expect("republish");
    assert_eq!(store.batch_manifest().await.expect("manifest"), vec![file("a.csv", vec![19_002])]);
    assert_eq!(store.rejects(10).await.expect("rejects"), vec![reject]);

    // Connecting again (twice at once) applies nothing and keeps the data.
    let (again, twice) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
    again.expect("reconnect");
    twice.expect("reconnect");
    assert_eq!(store.batch_runs(10).await.expect("runs").len(), 2);
}

/// Contract 5 and 6: a reader sees a day either wholly before or wholly
/// after a republish, never a mix or a part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_postgres_atomic_replace() {
    let store = Arc::new(store().await);
    let day = 19_000;
    let version_a = day_bars(day, 240, 1_000_000_000);
    let version_b = day_bars(day, 97, 2_000_000_000);
    store.publish_batch(publish(&[(day, 1)], version_a.clone())).await.expect("publish A");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        let (a, b) = (version_a.clone(), version_b.clone());
        tokio::spawn(async move {
            let mut q = query("1m", ViewSelect::Merged);
            q.from = Some(day * NANOS_PER_DAY);
            q.to = Some((day + 1) * NANOS_PER_DAY);
            let mut reads = 0;
            while reads < 300 || !done.load(std::sync::atomic::Ordering::Relaxed) {
                let read = store.bars(&q).await.expect("read");
                let bars = plain(&read.bars, View::Batch);
                let mut sorted_a = a.clone();
                let mut sorted_b = b.clone();
                sorted_a.sort_by(|x, y| (&x.symbol, x.start).cmp(&(&y.symbol, y.start)));
                sorted_b.sort_by(|x, y| (&x.symbol, x.start).cmp(&(&y.symbol, y.start)));
                assert!(bars == sorted_a || bars == sorted_b, "read {reads} saw {} bars, a mix or a part", bars.len());
                reads += 1;
                if reads >= 2000 {
                    break;
                }
            }
            reads
        })
    };
    for i in 0..20 {
        let next = if i % 2 == 0 { version_b.clone() } else { version_a.clone() };
        store.publish_batch(publish(&[(day, 1)], next)).await.expect("republish");
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.await.expect("reader");
    assert!(reads >= 300);
}

macro_rules! speed_scenarios {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            testing::$name(&store().await).await;
        }
    )*};
}

speed_scenarios!(
    speed_commit_reads_back,
    speed_upsert_replaces,
    speed_offsets_move,
    speed_commit_is_atomic,
    speed_replay_is_idempotent,
    speed_changes_since,
    serving_reads,
);

#[tokio::test]
async fn store_postgres_speed_upgrade_from_version_2() {
    let url = postgres::database();
    testing::postgres_at_version(&url, 2).await.expect("version 2");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let old = [testing::bar("MSFT", "1m", 60_000_000_000, 5), testing::bar("AAPL", "1m", 120_000_000_000, 6)];
    for (written, b) in (1i64..).zip(&old) {
        let money = [b.open.to_string(), b.high.to_string(), b.low.to_string(), b.close.to_string()];
        client
            .execute(
                r#"INSERT INTO speed_bars VALUES ($1, '1m', $2::text::timestamptz, $3::text::numeric,
                   $4::text::numeric, $5::text::numeric, $6::text::numeric, $7::text::numeric, $8::text::numeric,
                   $9, $10, $11, TRUE, to_timestamp($12))"#,
                &[
                    &b.symbol.as_str(),
                    &format_rfc3339(b.start),
                    &money[0],
                    &money[1],
                    &money[2],
                    &money[3],
                    &b.volume.to_string(),
                    &b.vwap.to_string(),
                    &i64::try_from(b.trades).expect("trades"),
                    &b.first_ts,
                    &b.last_ts,
                    &(written as f64),
                ],
            )
            .await
            .expect("insert a version-2 speed bar");
    }
    let store = PostgresStore::connect(&url).await.expect("upgrade");
    testing::speed_after_upgrade(&store, "1m", &old).await;
}

/// Two writers commit while a third store polls for changes: the poller
/// ends with the last value of every bar, so no change number became
/// visible after a larger one it had already read past.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_postgres_speed_changes_poller_misses_nothing() {
    const ROUNDS: i64 = 30;
    const KEYS: usize = 50;
    let url = postgres::database();
    let writers =
        [PostgresStore::connect(&url).await.expect("connect"), PostgresStore::connect(&url).await.expect("connect")];
    let poller = PostgresStore::connect(&url).await.expect("connect");
    let minute = interval("1m");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poll = {
        let done = Arc::clone(&done);
        async move {
            let mut seen = std::collections::HashMap::new();
            let mut since = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let changes = poller.speed_changes(minute, None, since, 64).await.expect("poll");
                for change in &changes.changes {
                    seen.insert(change.bar.bar.symbol.clone(), change.bar.bar.open);
                }
                let caught_up = changes.next == changes.head;
                since = changes.next;
                if finished && caught_up {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        }
    };
    let write = |w: usize| {
        let store = &writers[w];
        async move {
            for round in 0..ROUNDS {
                let bars = (0..KEYS)
                    .map(|k| SpeedBar { bar: bar(&format!("W{w}K{k:02}"), "1m", 0, 1_000 + round), is_final: false })
                    .collect();
                store.commit_speed(&mut SpeedCommit { bars, ..SpeedCommit::default() }).await.expect("commit");
            }
        }
    };
    let writes = async {
        tokio::join!(write(0), write(1));
        done.store(true, std::sync::atomic::Ordering::Release);
    };
    let (seen, ()) = tokio::join!(poll, writes);
    assert_eq!(seen.len(), 2 * KEYS);
    assert!(seen.values().all(|open| *open == Price(1_000 + ROUNDS - 1)), "a poll missed a change");
}
