//! The batch view's scenarios: a publish reads back exactly, a republish
//! replaces only its days and is atomic for readers, a bad publish leaves
//! nothing, and the manifest and rejects round-trip (contract 5).

use super::{by_key, day_bars, interval, publish, query};
use crate::bar::Bar;
use crate::codec::Reject;
use crate::store::{Bars, BatchDay, DayFile, FileManifest, Retained, Retention, Store, StoreError, View, ViewSelect};
use crate::tick::Symbol;
use crate::time::NANOS_PER_DAY;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const MINUTE: i64 = 60_000_000_000;

/// The bars of a read, all of which must be batch bars.
fn batch_bars(bars: &Bars) -> Vec<Bar> {
    assert!(bars.bars.iter().all(|b| b.view == View::Batch), "a speed bar in a batch read");
    bars.bars.iter().map(|b| b.bar.clone()).collect()
}

/// `bars` of one interval, in read order.
fn of(bars: &[Bar], label: &str) -> Vec<Bar> {
    by_key(bars.iter().filter(|b| b.interval == interval(label)).cloned().collect())
}

/// A publish reads back bar for bar in every interval; its run is recorded;
/// a read by symbol, range and limit returns the right slice.
pub async fn publish_reads_back_exactly(store: &dyn Store) {
    let bars = day_bars(19_000, 60, 10_000_000_000);
    let run = store.publish_batch(publish(&[(19_000, 500)], bars.clone())).await.expect("publish");
    assert_eq!((run.version, run.bars, run.trades), (1, bars.len() as u64, 500));
    assert_eq!(run.boundary, Some(19_001 * NANOS_PER_DAY));
    for label in ["1m", "1h"] {
        let read = store.bars(&query(label, ViewSelect::Batch)).await.expect("read");
        assert_eq!(read.boundary, run.boundary);
        assert_eq!(batch_bars(&read), of(&bars, label));
    }
    assert_eq!(store.batch_runs(10).await.expect("runs"), vec![run]);

    let mut q = query("1m", ViewSelect::Batch);
    q.symbol = Some(Symbol::new("MSFT").expect("symbol"));
    q.from = Some(19_000 * NANOS_PER_DAY + MINUTE);
    q.to = Some(19_000 * NANOS_PER_DAY + 3 * MINUTE);
    let read = batch_bars(&store.bars(&q).await.expect("read"));
    let msft: Vec<Bar> = of(&bars, "1m").into_iter().filter(|b| b.symbol.as_str() == "MSFT").collect();
    assert_eq!(read, msft[1..3]);
    q.limit = Some(1);
    assert_eq!(batch_bars(&store.bars(&q).await.expect("read")), msft[1..2]);
}

/// A republish of one day replaces that day's bars only and moves the
/// boundary to the end of the newest published day; a day republished with
/// no trades leaves the view, and the boundary follows.
pub async fn republish_replaces_only_its_days(store: &dyn Store) {
    let old_a = day_bars(19_000, 30, 10_000_000_000);
    let old_b = day_bars(19_001, 30, 20_000_000_000);
    let both: Vec<Bar> = old_a.iter().chain(&old_b).cloned().collect();
    let run = store.publish_batch(publish(&[(19_000, 5), (19_001, 6)], both)).await.expect("publish");
    assert_eq!((run.version, run.boundary), (1, Some(19_002 * NANOS_PER_DAY)));

    let new_a = day_bars(19_000, 3, 30_000_000_000);
    let run = store.publish_batch(publish(&[(19_000, 7)], new_a.clone())).await.expect("republish");
    assert_eq!((run.version, run.boundary), (2, Some(19_002 * NANOS_PER_DAY)));
    let expected: Vec<Bar> = new_a.iter().chain(&old_b).cloned().collect();
    for label in ["1m", "1h"] {
        let read = store.bars(&query(label, ViewSelect::Batch)).await.expect("read");
        assert_eq!(batch_bars(&read), of(&expected, label));
    }
    let mut q = query("1m", ViewSelect::Batch);
    q.to = Some(19_001 * NANOS_PER_DAY);
    assert_eq!(batch_bars(&store.bars(&q).await.expect("read")), of(&new_a, "1m"));
    q.from = q.to.take();
    assert_eq!(batch_bars(&store.bars(&q).await.expect("read")), of(&old_b, "1m"));

    let run = store.publish_batch(publish(&[(19_002, 1)], day_bars(19_002, 2, 5))).await.expect("newer day");
    assert_eq!(run.boundary, Some(19_003 * NANOS_PER_DAY));
    let run = store.publish_batch(publish(&[(19_002, 0)], Vec::new())).await.expect("empty day");
    assert_eq!(run.boundary, Some(19_002 * NANOS_PER_DAY));
    let read = store.bars(&query("1h", ViewSelect::Batch)).await.expect("read");
    assert_eq!(batch_bars(&read), of(&expected, "1h"));
    let runs = store.batch_runs(2).await.expect("runs");
    assert_eq!(runs.iter().map(|r| r.version).collect::<Vec<_>>(), vec![4, 3]);
}

/// Contracts 5 and 6: a reader sees a day either wholly before or wholly
/// after a republish, never a mix or a part, while publishes run beside it.
pub async fn republish_is_atomic_for_readers(store: &dyn Store) {
    let day = 19_000;
    let version_a = of(&day_bars(day, 240, 1_000_000_000), "1m");
    let version_b = of(&day_bars(day, 97, 2_000_000_000), "1m");
    store.publish_batch(publish(&[(day, 1)], version_a.clone())).await.expect("publish A");
    let done = AtomicBool::new(false);
    let read = async {
        let mut q = query("1m", ViewSelect::Merged);
        q.from = Some(day * NANOS_PER_DAY);
        q.to = Some((day + 1) * NANOS_PER_DAY);
        let mut reads = 0;
        while (reads < 300 || !done.load(Ordering::Relaxed)) && reads < 2000 {
            let bars = batch_bars(&store.bars(&q).await.expect("read"));
            assert!(bars == version_a || bars == version_b, "read {reads} saw {} bars, a mix or a part", bars.len());
            reads += 1;
            tokio::task::yield_now().await;
        }
        reads
    };
    let write = async {
        for i in 0..20 {
            let next = if i % 2 == 0 { version_b.clone() } else { version_a.clone() };
            store.publish_batch(publish(&[(day, 1)], next)).await.expect("republish");
        }
        done.store(true, Ordering::Relaxed);
    };
    let (reads, ()) = tokio::join!(read, write);
    assert!(reads >= 300, "{reads} reads");
}

/// A publish with a bar outside the days it replaces fails and leaves no
/// bar and no run behind.
pub async fn publish_outside_its_days_leaves_nothing(store: &dyn Store) {
    let mut bars = day_bars(0, 3, 1_000);
    bars.push(super::bar("AAPL", "1h", NANOS_PER_DAY, 1));
    let error = store.publish_batch(publish(&[(0, 1)], bars)).await.expect_err("outside");
    assert!(matches!(error, StoreError::Range(_)), "{error}");
    assert!(store.batch_runs(10).await.expect("runs").is_empty());
    assert!(store.bars(&query("1m", ViewSelect::Batch)).await.expect("read").bars.is_empty());
    assert_eq!(store.bars(&query("1m", ViewSelect::Batch)).await.expect("read").boundary, None);
}

/// Each run's files replace their earlier entries and forgotten files go;
/// rejects are kept once per source position.
pub async fn manifest_and_rejects_round_trip(store: &dyn Store) {
    let file = |path: &str, days: Vec<i64>| FileManifest {
        path: path.into(),
        bytes: 1234,
        modified_ns: 1_700_000_000_000_000_001,
        days,
    };
    let reject = Reject::new("a.csv", 3, "price \"-1\" must be positive".into(), b"AAPL,-1,\t\"x\"\\");
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
    assert_eq!(store.batch_runs(10).await.expect("runs").len(), 2);
}

/// The lineage of the batch view: each published day names the run that
/// published it and the archive files of its trades, as last read.
pub async fn batch_days_trace_runs_and_files(store: &dyn Store) {
    let file = |path: &str, bytes: u64, days: Vec<i64>| FileManifest { path: path.into(), bytes, modified_ns: 7, days };
    let mut first = publish(&[(19_000, 5), (19_001, 6)], Vec::new());
    first.files = vec![file("a.csv", 10, vec![19_000, 19_001]), file("b.csv", 20, vec![19_000])];
    let first = store.publish_batch(first).await.expect("publish");
    let mut second = publish(&[(19_001, 7)], Vec::new());
    second.files = vec![file("a.csv", 11, vec![19_000, 19_001])];
    let second = store.publish_batch(second).await.expect("republish");

    let day_file = |path: &str, bytes: u64, version: i64| DayFile { path: path.into(), bytes, modified_ns: 7, version };
    let days = store.batch_days(18_000, 20_000).await.expect("days");
    let expected = vec![
        BatchDay {
            day: 19_000,
            version: 1,
            trades: 5,
            bars: 0,
            published_at: first.published_at,
            files: vec![day_file("a.csv", 11, 2), day_file("b.csv", 20, 1)],
        },
        BatchDay {
            day: 19_001,
            version: 2,
            trades: 7,
            bars: 0,
            published_at: second.published_at,
            files: vec![day_file("a.csv", 11, 2)],
        },
    ];
    assert_eq!(days, expected);
    assert_eq!(store.batch_days(19_001, 19_002).await.expect("days"), expected[1..]);
    assert!(store.batch_days(19_002, 20_000).await.expect("days").is_empty());

    store.publish_batch(publish(&[(19_001, 0)], Vec::new())).await.expect("empty the day");
    assert_eq!(store.batch_days(18_000, 20_000).await.expect("days"), expected[..1]);
}

/// Retention (issue 22): speed bars that start more than the setting before
/// the boundary go, nothing newer and no batch bar; late trades and rejects
/// go by their own age.
pub async fn retention_drops_only_what_is_old_enough(store: &dyn Store) {
    let day0 = 19_000;
    let days: Vec<(i64, u64)> = (0..10).map(|d| (day0 + d, 1)).collect();
    let batch: Vec<Bar> = (0..10).flat_map(|d| day_bars(day0 + d, 2, 1_000 + d)).collect();
    store.publish_batch(publish(&days, batch.clone())).await.expect("publish");
    let speed: Vec<Bar> = (0..13)
        .flat_map(|d| {
            let base = (day0 + d) * NANOS_PER_DAY;
            [
                ("AAPL", "1m", base),
                ("AAPL", "1h", base + 3_600_000_000_000),
                ("MSFT", "1m", base + NANOS_PER_DAY - MINUTE),
            ]
            .map(|(symbol, label, start)| super::bar(symbol, label, start, d))
        })
        .collect();
    let mut commit = crate::store::SpeedCommit {
        bars: speed.iter().map(|b| super::speed(b.clone(), true)).collect(),
        late: vec![super::late(0, 1, 5)],
        rejects: vec![super::reject(2)],
        ..Default::default()
    };
    store.commit_speed(&mut commit).await.expect("commit");

    let keep_all = Retention { speed_after_boundary: Duration::from_secs(100 * 86_400), ..Retention::DEFAULT };
    assert_eq!(store.apply_retention(&keep_all).await.expect("retain"), Retained::default());

    // The boundary is the end of day 9: seven days before it is the start of day 3.
    let policy = Retention { late_trades: Duration::ZERO, ..Retention::DEFAULT };
    let retained = store.apply_retention(&policy).await.expect("retain");
    assert_eq!((retained.late_trades, retained.rejects), (1, 0), "{retained:?}");
    let cut = (day0 + 3) * NANOS_PER_DAY;
    for label in ["1m", "1h"] {
        let left = store.bars(&query(label, ViewSelect::Speed)).await.expect("read").bars;
        let kept: Vec<Bar> = of(&speed, label).into_iter().filter(|b| b.start >= cut).collect();
        assert_eq!(left.into_iter().map(|b| b.bar).collect::<Vec<_>>(), kept, "{label} speed bars after retention");
        assert_eq!(batch_bars(&store.bars(&query(label, ViewSelect::Batch)).await.expect("read")), of(&batch, label));
    }
    assert!(retained.speed_bars + retained.speed_chunks > 0, "{retained:?}");
    assert!(store.late_trades(10).await.expect("late").is_empty());
    assert_eq!(store.rejects(10).await.expect("rejects").len(), 1);
    let rejects = Retention { rejects: Duration::ZERO, ..Retention::DEFAULT };
    assert_eq!(store.apply_retention(&rejects).await.expect("retain").rejects, 1);
    assert!(store.rejects(10).await.expect("rejects").is_empty());
}
