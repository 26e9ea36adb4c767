//! Scenarios every engine must pass, written once over `&dyn Store`: the
//! SQLite unit tests and the PostgreSQL integration tests run the same ones,
//! each on a fresh store, through [`store_scenarios!`](crate::store_scenarios).
//! Built for tests only (`cfg(test)` or the `test-support` feature).
//!
//! The scenarios: the batch view's publish, replace and manifest
//! ([`batch`]), the merge rule at the boundary, by hand and as a property
//! against a naive reference ([`merge`]), the speed view's commits
//! ([`speed`]), the serving layer's reads ([`serving`]) and the signal
//! bot's tables ([`signals`]).

mod batch;
mod merge;
mod serving;
mod signals;
mod speed;

pub use batch::{
    batch_days_trace_runs_and_files, manifest_and_rejects_round_trip, publish_outside_its_days_leaves_nothing,
    publish_reads_back_exactly, republish_is_atomic_for_readers, republish_replaces_only_its_days,
    retention_drops_only_what_is_old_enough,
};
pub use merge::{merge_rule_matches_the_reference, merged_reads_batch_before_the_boundary};
pub use serving::serving_reads;
pub use signals::{signal, signal_commit_reads_back, signal_commit_refuses_foreign_records};
pub use speed::{
    speed_after_upgrade, speed_changes_since, speed_commit_is_atomic, speed_commit_reads_back, speed_offsets_move,
    speed_replay_is_idempotent, speed_upsert_replaces,
};

use super::speed::{LateTrade, PartitionOffset, SpeedBar, SpeedChange};
use super::{BarQuery, BatchPublish, DaySummary, ReadStore, StoreError, View, ViewSelect, migrations};
use crate::bar::Bar;
use crate::codec::Reject;
use crate::fixed::{Price, Size, Volume};
use crate::interval::Interval;
use crate::tick::{Symbol, Tick};
use crate::time::NANOS_PER_DAY;

/// Runs every scenario of [`crate::store::testing`] as a test of its own,
/// each on a fresh store. `$open` is an expression of a future that yields
/// `(guard, store)`: the store (an `Arc<dyn Store>`) and whatever must live
/// as long as it (a temporary directory, say). The merge rule's property
/// runs `cases` random histories (48 unless given), each on a fresh store.
#[macro_export]
macro_rules! store_scenarios {
    ($open:expr) => {
        $crate::store_scenarios!($open, cases = 48);
    };
    ($open:expr, cases = $cases:expr) => {
        $crate::store_scenarios!(@each $open;
            publish_reads_back_exactly,
            republish_replaces_only_its_days,
            republish_is_atomic_for_readers,
            publish_outside_its_days_leaves_nothing,
            manifest_and_rejects_round_trip,
            batch_days_trace_runs_and_files,
            retention_drops_only_what_is_old_enough,
            merged_reads_batch_before_the_boundary,
            speed_commit_reads_back,
            speed_upsert_replaces,
            speed_offsets_move,
            speed_commit_is_atomic,
            speed_replay_is_idempotent,
            speed_changes_since,
            serving_reads,
            signal_commit_reads_back,
            signal_commit_refuses_foreign_records,
        );

        #[test]
        fn merge_rule_matches_the_reference() {
            $crate::store::testing::merge_rule_matches_the_reference($cases, || $open);
        }
    };
    (@each $open:expr; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (_guard, store) = $open.await;
            $crate::store::testing::$name(&*store).await;
        }
    )*};
}

const MINUTE: i64 = 60_000_000_000;
/// 2023-11-14T22:13:00Z, a minute boundary.
const T0: i64 = 1_699_999_980_000_000_000;

/// Applies the migrations up to `version` to the SQLite file at `path`, as an older tickflow would have.
pub fn sqlite_at_version(path: &std::path::Path, version: i64) -> Result<(), StoreError> {
    migrations::run_sqlite_to(&mut rusqlite::Connection::open(path)?, version).map(drop)
}

/// Applies the migrations up to `version` to the PostgreSQL database at `url`.
pub async fn postgres_at_version(url: &str, version: i64) -> Result<(), StoreError> {
    let mut client = super::connect_postgres(url).await?;
    migrations::run_postgres_to(&mut client, version).await.map(drop)
}

fn interval(label: &str) -> Interval {
    label.parse().expect("interval")
}

/// A bar whose every field depends on `price`; money with all 8 decimals.
pub fn bar(symbol: &str, label: &str, start: i64, price: i64) -> Bar {
    Bar {
        symbol: Symbol::new(symbol).expect("symbol"),
        interval: interval(label),
        start,
        open: Price(price),
        high: Price(price + 70_000_001),
        low: Price(price - 30_000_003),
        close: Price(price + 10_000_009),
        // Near the top of what SQLite's 64-bit units hold.
        volume: Volume(i128::from(i64::MAX) - i128::from(price)),
        vwap: Price(price + 20_000_007),
        trades: 17 + price.unsigned_abs() % 1000,
        first_ts: start + 1,
        last_ts: start + MINUTE - 1,
    }
}

pub(crate) fn speed(bar: Bar, is_final: bool) -> SpeedBar {
    SpeedBar { bar, is_final }
}

fn offset(topic: &str, partition: i32, next_offset: i64, replay_from: i64) -> PartitionOffset {
    PartitionOffset { topic: topic.into(), partition, next_offset, replay_from, end_offset: Some(next_offset + 5) }
}

fn late(partition: i32, position: u64, price: i64) -> LateTrade {
    LateTrade {
        tick: Tick {
            symbol: Symbol::new("BRK.B").expect("symbol"),
            ts: T0 - 3 * MINUTE + 123_456_789,
            price: Price(price),
            size: Size(1_234_567_890_123),
            seq: u64::MAX >> 2,
        },
        source: format!("ticks/{partition}"),
        position,
        reason: "the 1m bar closed more than 5s before".into(),
    }
}

fn reject(position: u64) -> Reject {
    Reject::new("ticks/1", position, "price \"-1\" must be positive".into(), b"{\"price\":-1,\t\"x\":\"\\\\\"}")
}

/// Bars of one day: the first `minutes` minutes of two symbols, and a 1h
/// bar of each.
fn day_bars(day: i64, minutes: i64, price: i64) -> Vec<Bar> {
    let base = day * NANOS_PER_DAY;
    let mut bars = Vec::new();
    for symbol in ["AAPL", "MSFT"] {
        for minute in 0..minutes {
            bars.push(bar(symbol, "1m", base + minute * MINUTE, price + minute));
        }
        bars.push(bar(symbol, "1h", base, price));
    }
    bars
}

/// A publish of `bars` replacing `days` (day, trades), with no files or rejects.
fn publish(days: &[(i64, u64)], bars: Vec<Bar>) -> BatchPublish {
    BatchPublish {
        started_at: 1_700_000_000_123_456_000,
        days: days.iter().map(|&(day, trades)| DaySummary { day, trades }).collect(),
        bars: Box::new(bars.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    }
}

/// All bars of one interval from `view`.
fn query(label: &str, view: ViewSelect) -> BarQuery {
    BarQuery { interval: interval(label), symbol: None, from: None, to: None, view, limit: None }
}

/// `bars` in the order reads return them.
fn by_key(mut bars: Vec<Bar>) -> Vec<Bar> {
    bars.sort_by(|a, b| (&a.symbol, a.start).cmp(&(&b.symbol, b.start)));
    bars
}

/// The bars of one view and interval, as [`ReadStore::bars`] reads them.
async fn read(store: &dyn ReadStore, label: &str, view: ViewSelect) -> Vec<Bar> {
    let query = BarQuery { interval: interval(label), symbol: None, from: None, to: None, view, limit: None };
    let bars = store.bars(&query).await.expect("read bars").bars;
    let expected = if view == ViewSelect::Batch { View::Batch } else { View::Speed };
    assert!(bars.iter().all(|b| b.view == expected));
    bars.into_iter().map(|b| b.bar).collect()
}

/// `bars` of one interval in the order reads return them.
fn sorted(bars: &[SpeedBar], label: &str) -> Vec<Bar> {
    let mut bars: Vec<Bar> = bars.iter().filter(|b| b.bar.interval == interval(label)).map(|b| b.bar.clone()).collect();
    bars.sort_by(|a, b| (&a.symbol, a.start).cmp(&(&b.symbol, b.start)));
    bars
}

async fn all_changes(store: &dyn ReadStore, label: &str, since: i64) -> Vec<SpeedChange> {
    store.speed_changes(interval(label), None, since, usize::MAX).await.expect("changes").changes
}
