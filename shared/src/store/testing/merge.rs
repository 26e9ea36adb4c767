//! The merge rule (contract 6): batch bars before the boundary, speed bars
//! from it on, read in one snapshot. Once by hand, and once as a property:
//! random batch days, speed bars and queries, each read compared with a
//! naive reference (no gap, no duplicate, the right view).

use super::{MINUTE, bar, interval, publish, query, speed};
use crate::bar::Bar;
use crate::interval::Interval;
use crate::store::speed::SpeedCommit;
use crate::store::{BarQuery, Bars, Store, View, ViewBar, ViewSelect};
use crate::tick::Symbol;
use crate::time::NANOS_PER_DAY;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// Before any batch run a merged read is all speed; after one, batch bars
/// stand before the boundary and speed bars from it, and a speed bar hidden
/// by the batch view is still in the speed view.
pub async fn merged_reads_batch_before_the_boundary(store: &dyn Store) {
    let day = 19_000;
    let base = day * NANOS_PER_DAY;
    let speed_old = bar("AAPL", "1h", base, 1);
    let speed_new = bar("AAPL", "1h", base + NANOS_PER_DAY, 2);
    let bars = vec![speed(speed_old.clone(), true), speed(speed_new.clone(), false)];
    store.commit_speed(&mut SpeedCommit { bars, ..SpeedCommit::default() }).await.expect("commit");
    let read = store.bars(&query("1h", ViewSelect::Merged)).await.expect("read");
    assert_eq!(read.boundary, None);
    assert_eq!(read.bars, vec![tagged(&speed_old, View::Speed), tagged(&speed_new, View::Speed)]);

    let batch = bar("AAPL", "1h", base, 100);
    store.publish_batch(publish(&[(day, 3)], vec![batch.clone()])).await.expect("publish");
    let read = store.bars(&query("1h", ViewSelect::Merged)).await.expect("read");
    assert_eq!(read.boundary, Some(base + NANOS_PER_DAY));
    assert_eq!(read.bars, vec![tagged(&batch, View::Batch), tagged(&speed_new, View::Speed)]);
    let read = store.bars(&query("1h", ViewSelect::Speed)).await.expect("read");
    assert_eq!(read.bars, vec![tagged(&speed_old, View::Speed), tagged(&speed_new, View::Speed)]);
    let mut q = query("1h", ViewSelect::Merged);
    q.from = Some(base + 1);
    assert_eq!(store.bars(&q).await.expect("read").bars, vec![tagged(&speed_new, View::Speed)]);
}

fn tagged(bar: &Bar, view: View) -> ViewBar {
    ViewBar { bar: bar.clone(), view }
}

/// The days of the property's bars: two published at most, one after them.
const DAY0: i64 = 19_000;
const DAYS: i64 = 4;

/// One random history: batch runs of whole days, speed commits, queries.
#[derive(Clone, Debug)]
struct History {
    /// Each run: the days it replaces (with whether they have trades) and their bars.
    runs: Vec<Vec<(i64, bool, Vec<Bar>)>>,
    /// Speed commits, in order; a later bar of a key replaces an earlier one.
    commits: Vec<Vec<Bar>>,
    queries: Vec<BarQuery>,
}

/// Bar starts near the edges that matter, a day's start (where the boundary
/// falls) most of all: a day's first and last minutes and hours, and a few
/// between.
fn start() -> impl Strategy<Value = (i64, &'static str, i64)> {
    let minutes = prop::sample::select(vec![0, 0, 0, 1, 59, 60, 719, 1380, 1439]);
    let hours = prop::sample::select(vec![0, 0, 1, 12, 23]);
    (0..DAYS, prop_oneof![minutes.prop_map(|m| ("1m", m * MINUTE)), hours.prop_map(|h| ("1h", h * 60 * MINUTE))])
        .prop_map(|(day, (label, offset))| (day, label, (DAY0 + day) * NANOS_PER_DAY + offset))
}

fn random_bar() -> impl Strategy<Value = Bar> {
    (prop::sample::select(vec!["AAPL", "MSFT", "SPY"]), start(), 1..1_000_000i64)
        .prop_map(|(symbol, (_, label, start), price)| bar(symbol, label, start, price * 1_000))
}

fn run() -> impl Strategy<Value = Vec<(i64, bool, Vec<Bar>)>> {
    prop::collection::btree_map(0..DAYS - 1, (any::<bool>(), prop::collection::vec(random_bar(), 0..12)), 1..3)
        .prop_map(|days| {
            days.into_iter()
                .map(|(day, (trades, bars))| {
                    // A day's bars are its own, one per key.
                    let mut own: BTreeMap<(Symbol, Interval, i64), Bar> = BTreeMap::new();
                    for mut bar in bars {
                        bar.start = (DAY0 + day) * NANOS_PER_DAY + bar.start.rem_euclid(NANOS_PER_DAY);
                        own.insert((bar.symbol.clone(), bar.interval, bar.start), bar);
                    }
                    let bars = if trades { own.into_values().collect() } else { Vec::new() };
                    (DAY0 + day, trades, bars)
                })
                .collect()
        })
}

fn bound() -> impl Strategy<Value = Option<i64>> {
    prop::option::of((start(), -1..=1i64).prop_map(|((_, _, start), nudge)| start + nudge))
}

fn bar_query() -> impl Strategy<Value = BarQuery> {
    let view = prop::sample::select(vec![ViewSelect::Merged, ViewSelect::Merged, ViewSelect::Batch, ViewSelect::Speed]);
    let symbol = prop::option::of(prop::sample::select(vec!["AAPL", "MSFT", "QQQ"]));
    (prop::sample::select(vec!["1m", "1h"]), symbol, bound(), bound(), view, prop::option::of(0..6usize)).prop_map(
        |(label, symbol, from, to, view, limit)| BarQuery {
            interval: interval(label),
            symbol: symbol.map(|s| Symbol::new(s).expect("symbol")),
            from,
            to,
            view,
            limit,
        },
    )
}

fn history() -> impl Strategy<Value = History> {
    (
        prop::collection::vec(run(), 0..3),
        prop::collection::vec(prop::collection::vec(random_bar(), 0..10), 0..3),
        prop::collection::vec(bar_query(), 1..6),
    )
        .prop_map(|(runs, commits, queries)| History { runs, commits, queries })
}

/// What a read must return, computed from the history alone.
fn reference(history: &History, query: &BarQuery) -> Bars {
    type Key = (Symbol, Interval, i64);
    let key = |b: &Bar| (b.symbol.clone(), b.interval, b.start);
    let mut batch_days: BTreeMap<i64, Vec<Bar>> = BTreeMap::new();
    for run in &history.runs {
        for (day, trades, bars) in run {
            if *trades {
                batch_days.insert(*day, bars.clone());
            } else {
                batch_days.remove(day);
            }
        }
    }
    let boundary = batch_days.keys().next_back().map(|day| (day + 1) * NANOS_PER_DAY);
    let mut speed: BTreeMap<Key, Bar> = BTreeMap::new();
    for bar in history.commits.iter().flatten() {
        speed.insert(key(bar), bar.clone());
    }
    let batch = batch_days.into_values().flatten().map(|bar| tagged(&bar, View::Batch));
    let speed = speed.into_values().map(|bar| tagged(&bar, View::Speed));
    let visible = |b: &ViewBar| match (query.view, boundary) {
        (ViewSelect::Batch, _) => b.view == View::Batch,
        (ViewSelect::Speed, _) | (ViewSelect::Merged, None) => b.view == View::Speed,
        (ViewSelect::Merged, Some(boundary)) => (b.view == View::Batch) == (b.bar.start < boundary),
    };
    let mut bars: Vec<ViewBar> = batch
        .chain(speed)
        .filter(visible)
        .filter(|b| b.bar.interval == query.interval)
        .filter(|b| query.symbol.as_ref().is_none_or(|s| *s == b.bar.symbol))
        .filter(|b| query.from.is_none_or(|from| b.bar.start >= from) && query.to.is_none_or(|to| b.bar.start < to))
        .collect();
    bars.sort_by(|a, b| (&a.bar.symbol, a.bar.start).cmp(&(&b.bar.symbol, b.bar.start)));
    bars.truncate(query.limit.unwrap_or(usize::MAX));
    Bars { boundary, bars }
}

/// Plays `history` into `store` and checks every query against [`reference`].
async fn check(store: &dyn Store, history: &History) -> Result<(), TestCaseError> {
    for run in &history.runs {
        let days: Vec<(i64, u64)> = run.iter().map(|(day, trades, _)| (*day, u64::from(*trades))).collect();
        let bars = run.iter().flat_map(|(_, _, bars)| bars.iter().cloned()).collect();
        store.publish_batch(publish(&days, bars)).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    for (i, bars) in history.commits.iter().enumerate() {
        let bars = bars.iter().map(|b| speed(b.clone(), i % 2 == 0)).collect();
        let mut commit = SpeedCommit { bars, ..SpeedCommit::default() };
        store.commit_speed(&mut commit).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    for query in &history.queries {
        let read = store.bars(query).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(read, reference(history, query), "query {:?}", query);
    }
    Ok(())
}

/// The merge rule as a property over `cases` random histories, on a fresh
/// store per case from `open` (which yields a guard to keep alive and the store).
pub fn merge_rule_matches_the_reference<G, F>(cases: u32, open: impl Fn() -> F)
where
    F: Future<Output = (G, Arc<dyn Store>)>,
{
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("a tokio runtime");
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&history(), |history| {
        runtime.block_on(async {
            let (_guard, store) = open().await;
            check(&*store, &history).await
        })
    });
    if let Err(error) = result {
        panic!("the merged read differs from the reference: {error}");
    }
}
