//! The PostgreSQL view store against a real server: the SQLite store's
//! behaviours, plus atomic replacement of a day under concurrent readers.

use crate::support::postgres;
use std::sync::Arc;
use tickflow_shared::codec::Reject;
use tickflow_shared::store::{
    BarQuery, BatchPublish, DaySummary, FileManifest, PostgresStore, View, ViewBar, ViewSelect, ViewStore,
};
use tickflow_shared::time::NANOS_PER_DAY;
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
