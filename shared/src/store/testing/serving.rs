//! The serving layer's reads as a scenario both engines must pass.

use super::{MINUTE, T0, bar, interval, late, offset, reject, speed};
use crate::Bar;
use crate::store::speed::SpeedCommit;
use crate::store::{BatchPublish, DaySummary, Store, View};
use crate::tick::Symbol;

/// Symbols of both views; the newest bar of each symbol and interval by the
/// merge rule (a speed bar before the boundary is not the newest, a batch
/// bar is when no speed bar follows it); counts and partitions of `stats`.
pub async fn serving_reads(store: &dyn Store) {
    let day = T0.div_euclid(crate::time::NANOS_PER_DAY);
    let base = day * crate::time::NANOS_PER_DAY;
    let boundary = base + crate::time::NANOS_PER_DAY;
    let mut batch = Vec::new();
    for (i, symbol) in ["MSFT", "AAPL"].into_iter().enumerate() {
        for minute in 0..3 {
            batch.push(bar(symbol, "1m", base + minute * MINUTE, 1_000 + i as i64 * 10 + minute));
        }
        batch.push(bar(symbol, "1h", base, 2_000 + i as i64));
    }
    // A symbol that traded the day before and not on the last day: its newest bar is a day back.
    batch.insert(0, bar("KO", "1m", base - crate::time::NANOS_PER_DAY + 5 * MINUTE, 3_000));
    let publish = BatchPublish {
        started_at: T0,
        days: vec![DaySummary { day: day - 1, trades: 1 }, DaySummary { day, trades: 9 }],
        bars: Box::new(batch.clone().into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: vec![reject(1)],
    };
    store.publish_batch(publish).await.expect("publish");
    let hidden = speed(bar("MSFT", "1m", base + 5 * MINUTE, 7), true);
    let after = speed(bar("AAPL", "1m", boundary + MINUTE, 8), false);
    let only_speed = speed(bar("ZZZ", "1m", boundary, 9), false);
    let mut commit = SpeedCommit {
        bars: vec![hidden, after.clone(), only_speed.clone()],
        offsets: vec![offset("ticks", 1, 5, 5), offset("ticks", 0, 9, 3)],
        late: vec![late(0, 2, 1)],
        ..SpeedCommit::default()
    };
    store.commit_speed(&mut commit).await.expect("commit");

    let names: Vec<String> = store.symbols().await.expect("symbols").iter().map(|s| s.to_string()).collect();
    assert_eq!(names, ["AAPL", "KO", "MSFT", "ZZZ"]);

    let symbols: Vec<Symbol> = ["AAPL", "KO", "MSFT", "NONE", "ZZZ"].map(|s| Symbol::new(s).expect("symbol")).to_vec();
    let latest = store.latest(&symbols, &[interval("1m"), interval("1h")]).await.expect("latest");
    assert_eq!(latest.boundary, Some(boundary));
    let got: Vec<(Bar, View)> = latest.bars.into_iter().map(|b| (b.bar, b.view)).collect();
    let newest_batch = |symbol: &str, label: &str| {
        let of = batch.iter().filter(|b| b.symbol.as_str() == symbol && b.interval == interval(label));
        (of.max_by_key(|b| b.start).expect("a batch bar").clone(), View::Batch)
    };
    assert_eq!(
        got,
        vec![
            (after.bar, View::Speed),
            newest_batch("AAPL", "1h"),
            newest_batch("KO", "1m"),
            newest_batch("MSFT", "1m"),
            newest_batch("MSFT", "1h"),
            (only_speed.bar, View::Speed),
        ]
    );
    assert!(store.latest(&[], &[interval("1m")]).await.expect("latest").bars.is_empty());

    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.boundary, Some(boundary));
    let counts = (stats.batch_bars, stats.speed_bars, stats.late_trades, stats.rejects);
    assert_eq!(counts, (batch.len() as u64, 3, 1, 1));
    let partitions: Vec<(i32, i64)> =
        stats.partitions.iter().map(|p| (p.offset.partition, p.offset.next_offset)).collect();
    assert_eq!(partitions, [(0, 9), (1, 5)]);
    assert!(stats.partitions.iter().all(|p| p.updated_at > T0), "{:?}", stats.partitions);
}
