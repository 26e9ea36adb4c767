use super::*;
use crate::interval::Interval;
use crate::store::{DaySummary, ViewSelect};

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
        volume: Volume(123_456_789_012 + i128::from(price)),
        vwap: Price(price + 2),
        trades: 17,
        first_ts: start + 1,
        last_ts: start + 999_999_999,
    }
}

/// Bars of one day: every minute of the first hour for two symbols, plus a 1h bar each.
fn day_bars(day: i64, price: i64) -> Vec<Bar> {
    let base = day * NANOS_PER_DAY;
    let mut bars = Vec::new();
    for symbol in ["AAPL", "MSFT"] {
        for minute in 0..60 {
            bars.push(bar(symbol, "1m", base + minute * 60_000_000_000, price + minute));
        }
        bars.push(bar(symbol, "1h", base, price));
    }
    bars
}

fn publish(days: &[(i64, u64)], bars: Vec<Bar>) -> BatchPublish<'static> {
    BatchPublish {
        started_at: 1_700_000_000_123_456_789,
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

fn sorted(mut bars: Vec<Bar>, label: &str) -> Vec<Bar> {
    bars.retain(|b| b.interval == interval(label));
    bars.sort_by(|a, b| (&a.symbol, a.start).cmp(&(&b.symbol, b.start)));
    bars
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("nested/views.db")).expect("open");
    (dir, store)
}

fn batch_bars(bars: &Bars) -> Vec<Bar> {
    assert!(bars.bars.iter().all(|b| b.view == View::Batch));
    bars.bars.iter().map(|b| b.bar.clone()).collect()
}

#[tokio::test]
async fn publish_reads_back_exactly() {
    let (_dir, store) = store();
    let bars = day_bars(19_000, 10_000_000_000);
    let run = store.publish_batch(publish(&[(19_000, 500)], bars.clone())).await.expect("publish");
    assert_eq!(run.version, 1);
    assert_eq!(run.bars, bars.len() as u64);
    assert_eq!(run.trades, 500);
    assert_eq!(run.boundary, Some(19_001 * NANOS_PER_DAY));
    for label in ["1m", "1h"] {
        let read = store.bars(&query(label, ViewSelect::Batch)).await.expect("read");
        assert_eq!(read.boundary, run.boundary);
        assert_eq!(batch_bars(&read), sorted(bars.clone(), label));
    }
    assert_eq!(store.batch_runs(10).await.expect("runs"), vec![run]);

    let mut q = query("1m", ViewSelect::Batch);
    q.symbol = Some(Symbol::new("MSFT").expect("symbol"));
    q.from = Some(19_000 * NANOS_PER_DAY + 60_000_000_000);
    q.to = Some(19_000 * NANOS_PER_DAY + 180_000_000_000);
    let read = store.bars(&q).await.expect("read");
    assert_eq!(read.bars.len(), 2);
    q.limit = Some(1);
    assert_eq!(store.bars(&q).await.expect("read").bars.len(), 1);
}

#[tokio::test]
async fn republish_replaces_only_its_days_and_moves_the_boundary() {
    let (_dir, store) = store();
    let old_a = day_bars(19_000, 10_000_000_000);
    let old_b = day_bars(19_001, 20_000_000_000);
    let all: Vec<Bar> = old_a.iter().chain(&old_b).cloned().collect();
    store.publish_batch(publish(&[(19_000, 5), (19_001, 6)], all)).await.expect("publish");

    let mut new_a = day_bars(19_000, 30_000_000_000);
    new_a.truncate(10);
    let run = store.publish_batch(publish(&[(19_000, 7)], new_a.clone())).await.expect("republish");
    assert_eq!(run.version, 2);
    assert_eq!(run.boundary, Some(19_002 * NANOS_PER_DAY));
    let read = store.bars(&query("1m", ViewSelect::Batch)).await.expect("read");
    let expected: Vec<Bar> = new_a.iter().chain(&old_b).cloned().collect();
    assert_eq!(batch_bars(&read), sorted(expected, "1m"));

    let run = store.publish_batch(publish(&[(19_002, 1)], day_bars(19_002, 5))).await.expect("newer day");
    assert_eq!(run.boundary, Some(19_003 * NANOS_PER_DAY));

    // A day with no trades leaves the batch view, and the boundary follows.
    let run = store.publish_batch(publish(&[(19_002, 0)], Vec::new())).await.expect("empty day");
    assert_eq!(run.boundary, Some(19_002 * NANOS_PER_DAY));
    let read = store.bars(&query("1h", ViewSelect::Batch)).await.expect("read");
    assert!(read.bars.iter().all(|b| b.bar.start < 19_002 * NANOS_PER_DAY));
    let runs = store.batch_runs(2).await.expect("runs");
    assert_eq!(runs.iter().map(|r| r.version).collect::<Vec<_>>(), vec![4, 3]);
}

#[tokio::test]
async fn merged_reads_batch_before_the_boundary_and_speed_from_it() {
    let (_dir, store) = store();
    let day = 19_000;
    let base = day * NANOS_PER_DAY;
    let insert_speed = |start: i64, price: i64| {
        let b = bar("AAPL", "1h", start, price);
        lock(&store.write)
            .execute(
                r#"INSERT INTO speed_bars (symbol, "interval", start, open, high, low, close, volume, vwap, trades,
                   first_ts_ns, last_ts_ns, "final", updated_at) VALUES ('AAPL', '1h', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, 0)"#,
                params![
                    b.start,
                    b.open.0,
                    b.high.0,
                    b.low.0,
                    b.close.0,
                    i64::try_from(b.volume.0).expect("volume"),
                    b.vwap.0,
                    17,
                    b.first_ts,
                    b.last_ts
                ],
            )
            .expect("insert speed bar");
        b
    };
    // Before any batch run, merged is all speed.
    let speed_old = insert_speed(base, 1);
    let speed_new = insert_speed(base + NANOS_PER_DAY, 2);
    let read = store.bars(&query("1h", ViewSelect::Merged)).await.expect("read");
    assert_eq!(read.boundary, None);
    assert!(read.bars.iter().all(|b| b.view == View::Speed));
    assert_eq!(read.bars.len(), 2);

    let batch = bar("AAPL", "1h", base, 100);
    store.publish_batch(publish(&[(day, 3)], vec![batch.clone()])).await.expect("publish");
    let read = store.bars(&query("1h", ViewSelect::Merged)).await.expect("read");
    assert_eq!(read.boundary, Some(base + NANOS_PER_DAY));
    assert_eq!(
        read.bars,
        vec![ViewBar { bar: batch.clone(), view: View::Batch }, ViewBar { bar: speed_new.clone(), view: View::Speed }]
    );
    let read = store.bars(&query("1h", ViewSelect::Speed)).await.expect("read");
    assert_eq!(read.bars.iter().map(|b| b.bar.clone()).collect::<Vec<_>>(), vec![speed_old, speed_new]);
    let mut q = query("1h", ViewSelect::Merged);
    q.from = Some(base + 1);
    assert_eq!(store.bars(&q).await.expect("read").bars.len(), 1);
}

#[tokio::test]
async fn manifest_and_rejects_round_trip() {
    let (_dir, store) = store();
    let file = |path: &str, days: Vec<i64>| FileManifest {
        path: path.into(),
        bytes: 1234,
        modified_ns: 1_700_000_000_000_000_001,
        days,
    };
    let reject = Reject::new("a.csv", 3, "price \"-1\" must be positive".into(), b"AAPL,-1,\t\"x\"");
    let mut p = publish(&[(19_000, 1)], Vec::new());
    p.files = vec![file("a.csv", vec![19_000, 19_001]), file("b.csv", vec![19_000])];
    p.rejects = vec![reject.clone()];
    store.publish_batch(p).await.expect("publish");
    assert_eq!(
        store.batch_manifest().await.expect("manifest"),
        vec![file("a.csv", vec![19_000, 19_001]), file("b.csv", vec![19_000])]
    );

    let mut p = publish(&[(19_000, 1)], Vec::new());
    p.files = vec![file("a.csv", vec![19_002])];
    p.forget_files = vec!["b.csv".into()];
    p.rejects = vec![reject.clone()];
    store.publish_batch(p).await.expect("republish");
    assert_eq!(store.batch_manifest().await.expect("manifest"), vec![file("a.csv", vec![19_002])]);
    assert_eq!(store.rejects(10).await.expect("rejects"), vec![reject]);
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("views.db");
    let store = SqliteStore::open(&path).expect("open");
    store.publish_batch(publish(&[(1, 1)], day_bars(1, 100))).await.expect("publish");
    drop(store);
    let store = SqliteStore::open(&path).expect("reopen");
    let applied = migrations::run_sqlite(&mut lock(&store.write)).expect("migrate");
    assert_eq!(applied, 0);
    assert_eq!(store.bars(&query("1h", ViewSelect::Batch)).await.expect("read").bars.len(), 2);
}

#[tokio::test]
async fn rejects_volumes_that_do_not_fit() {
    let (_dir, store) = store();
    let mut big = bar("AAPL", "1h", 0, 1);
    big.volume = Volume(i128::from(i64::MAX) + 1);
    let error = store.publish_batch(publish(&[(0, 1)], vec![big])).await.expect_err("too big");
    assert!(matches!(error, StoreError::Range(_)), "{error}");
    let outside = bar("AAPL", "1h", NANOS_PER_DAY, 1);
    let error = store.publish_batch(publish(&[(0, 1)], vec![outside])).await.expect_err("outside");
    assert!(matches!(error, StoreError::Range(_)), "{error}");
    assert!(store.batch_runs(10).await.expect("runs").is_empty());
}
