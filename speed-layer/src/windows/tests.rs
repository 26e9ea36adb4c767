//! Windows against a naive reference: group, sort, fold by hand.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tickflow_shared::Volume;
use tickflow_shared::fixed::{SCALE, div_round};
use tickflow_shared::time::NANOS_PER_DAY;
use tickflow_shared::watermark::{Partition, WatermarkConfig, Watermarks};

mod periods;
mod phases;
mod runs;

const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
/// 2023-12-09T00:00:00Z, so that tests cross minute, hour and day boundaries on purpose.
const DAY0: i64 = 19_700 * NANOS_PER_DAY;
const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "BRK.B"];

#[derive(Clone, Copy, Debug)]
struct Trade {
    symbol: usize,
    ts: i64,
    seq: u64,
    price: i64,
    size: i64,
    at: Position,
}

fn trade(symbol: usize, ts: i64, seq: u64, price: i64, size: i64) -> Trade {
    Trade { symbol, ts, seq, price, size, at: Position::default() }
}

type Key = (String, Interval, i64);

fn intervals(text: &str) -> Vec<Interval> {
    Interval::parse_list(text).expect("intervals")
}

fn windows(text: &str, lateness: Duration) -> Windows {
    Windows::new(&IntervalPlan::new(&intervals(text)), WindowsConfig { allowed_lateness: lateness })
}

fn push(windows: &mut Windows, t: &Trade) -> Result<(), Late> {
    let id = windows.intern_str(SYMBOLS[t.symbol]).expect("symbol");
    windows.push(id, t.ts, t.seq, Price(t.price), Size(t.size), t.at)
}

/// The naive reference: every field computed by hand from the sorted trades of each window.
fn reference(trades: &[Trade], intervals: &[Interval]) -> BTreeMap<Key, Bar> {
    let mut groups: BTreeMap<Key, Vec<Trade>> = BTreeMap::new();
    for t in trades {
        for &interval in intervals {
            groups.entry((SYMBOLS[t.symbol].to_owned(), interval, interval.start_of(t.ts))).or_default().push(*t);
        }
    }
    groups
        .into_iter()
        .map(|(key, mut trades)| {
            trades.sort_by_key(|t| (t.ts, t.seq, t.price));
            let (first, last) = (trades[0], trades[trades.len() - 1]);
            let volume: i128 = trades.iter().map(|t| i128::from(t.size)).sum();
            let notional: i128 = trades.iter().map(|t| i128::from(t.price) * i128::from(t.size)).sum();
            let bar = Bar {
                symbol: Symbol::new(&key.0).expect("symbol"),
                interval: key.1,
                start: key.2,
                open: Price(first.price),
                high: Price(trades.iter().map(|t| t.price).max().expect("trades")),
                low: Price(trades.iter().map(|t| t.price).min().expect("trades")),
                close: Price(last.price),
                volume: Volume(volume),
                vwap: Price(div_round(notional, volume) as i64),
                trades: trades.len() as u64,
                first_ts: first.ts,
                last_ts: last.ts,
            };
            (key, bar)
        })
        .collect()
}

/// A stand-in for the sink: the latest version of every bar, and every final emission.
#[derive(Default, Clone)]
struct Sink {
    bars: BTreeMap<Key, BarUpdate>,
    finals: Vec<Bar>,
    updates: usize,
}

impl Sink {
    fn take(&mut self, update: BarUpdate) {
        let bar = &update.bar;
        if update.is_final {
            self.finals.push(bar.clone());
        }
        self.updates += 1;
        self.bars.insert((bar.symbol.to_string(), bar.interval, bar.start), update);
    }

    /// Advances `windows` and checks every update's finality against `watermark`.
    fn advance(&mut self, windows: &mut Windows, watermark: i64) -> AdvanceReport {
        let effective = watermark.max(windows.watermark().unwrap_or(i64::MIN));
        windows.advance(watermark, |update| {
            let end = update.bar.start + update.bar.interval.nanos();
            assert_eq!(update.is_final, end <= effective, "{update:?} at watermark {effective}");
            self.take(update);
        })
    }

    /// Every bar, asserting that each is final.
    fn final_bars(&self) -> BTreeMap<Key, Bar> {
        self.bars
            .iter()
            .map(|(key, update)| {
                assert!(update.is_final, "{update:?} is not final");
                (key.clone(), update.bar.clone())
            })
            .collect()
    }
}

/// Compares bar sets, naming the first few differences instead of printing both sets.
#[track_caller]
fn assert_same_bars(actual: &BTreeMap<Key, Bar>, expected: &BTreeMap<Key, Bar>, context: &str) {
    let keys: std::collections::BTreeSet<&Key> = actual.keys().chain(expected.keys()).collect();
    let differences: Vec<String> = keys
        .into_iter()
        .filter(|k| actual.get(*k) != expected.get(*k))
        .take(3)
        .map(|k| format!("{k:?}:\n  actual   {:?}\n  expected {:?}", actual.get(k), expected.get(k)))
        .collect();
    assert!(
        differences.is_empty(),
        "{context}: {} bars vs {} expected; {}",
        actual.len(),
        expected.len(),
        differences.join("\n")
    );
}

fn p(units: i64) -> i64 {
    units * SCALE
}

#[test]
fn in_order_trades_match_the_naive_fold_and_the_hand_computed_bar() {
    let trades = [
        trade(0, DAY0 + 100 * MS, 1, p(10), p(2)),
        trade(0, DAY0 + 500 * MS, 3, p(9), p(1)),
        trade(0, DAY0 + 500 * MS, 2, p(12), p(1)),
        trade(1, DAY0 + 700 * MS, 1, p(300), p(1)),
        trade(0, DAY0 + 1200 * MS, 4, p(11), p(4)),
        trade(1, DAY0 + 61 * S, 2, p(301), p(3)),
        trade(2, DAY0 + 3600 * S, 1, p(400_000), p(1) / 100),
    ];
    let mut w = windows(Interval::DEFAULTS, Duration::from_secs(60));
    let mut sink = Sink::default();
    for t in &trades {
        push(&mut w, t).expect("in order");
        sink.advance(&mut w, t.ts - 2 * S);
    }
    sink.advance(&mut w, i64::MAX);
    let bars = sink.final_bars();
    assert_eq!(bars, reference(&trades, &intervals(Interval::DEFAULTS)));
    let second = &bars[&("AAPL".to_owned(), intervals("1s")[0], DAY0)];
    assert_eq!(
        (second.open, second.high, second.low, second.close),
        (Price(p(10)), Price(p(12)), Price(p(9)), Price(p(9)))
    );
    assert_eq!((second.volume, second.trades, second.vwap), (Volume(p(4).into()), 3, Price(1_025_000_000)));
    assert_eq!((second.first_ts, second.last_ts), (DAY0 + 100 * MS, DAY0 + 500 * MS));
    let minute = &bars[&("AAPL".to_owned(), intervals("1m")[0], DAY0)];
    assert_eq!((minute.open, minute.close, minute.trades), (Price(p(10)), Price(p(11)), 4));
    assert_eq!((minute.volume, minute.vwap), (Volume(p(8).into()), Price(1_062_500_000)));
    // 1s: AAPL 2, MSFT 2, BRK.B 1; 1m: 1, 2, 1; 5m, 15m, 1h, 1d: one each.
    assert_eq!(bars.len(), 5 + 4 + 3 * 4);
}

#[test]
fn disorder_within_the_bound_gives_the_same_final_bars_each_emitted_once() {
    // Trades every 300 ms, each delayed by up to 2 s (the bound): arrival order by ts + delay.
    let trades: Vec<Trade> = (0..400u64)
        .map(|i| trade((i % 3) as usize, DAY0 - 30 * S + i as i64 * 300 * MS, i, p(100) + (i * 7 % 13) as i64, p(1)))
        .collect();
    let mut arrivals = trades.clone();
    arrivals.sort_by_key(|t| t.ts + (t.seq * 7919 % 2001) as i64 * MS);
    let mut marks = Watermarks::new([0], WatermarkConfig::default(), Duration::ZERO);
    let mut w = windows(Interval::DEFAULTS, Duration::ZERO);
    let mut sink = Sink::default();
    for (i, t) in arrivals.iter().enumerate() {
        push(&mut w, t).expect("within the bound, never late");
        marks.observe(0, t.ts, Duration::ZERO);
        if i % 5 == 0 {
            sink.advance(&mut w, marks.watermark(Duration::ZERO).expect("data"));
        }
    }
    sink.advance(&mut w, i64::MAX);
    let expected = reference(&trades, &intervals(Interval::DEFAULTS));
    assert_eq!(sink.final_bars(), expected);
    assert_eq!(sink.finals.len(), expected.len(), "no bar is final twice");
    for bar in &sink.finals {
        assert_eq!(&expected[&(bar.symbol.to_string(), bar.interval, bar.start)], bar);
    }
}

#[test]
fn a_trade_within_the_lateness_updates_the_final_bar_and_its_coarser_bars() {
    let mut w = windows("1s,1m", Duration::from_secs(60));
    let mut sink = Sink::default();
    push(&mut w, &trade(0, DAY0 + 100 * MS, 1, p(10), p(1))).expect("on time");
    let report = sink.advance(&mut w, DAY0 + 5 * S);
    assert_eq!((report.provisional, report.finals), (1, 1), "1s final, 1m provisional");
    let late = trade(0, DAY0 + 900 * MS, 2, p(20), p(1));
    assert_eq!(push(&mut w, &late), Ok(()), "window ended 4 s ago, within 60 s");
    let before = sink.updates;
    let report = sink.advance(&mut w, DAY0 + 5 * S);
    assert_eq!((report.provisional, report.finals, sink.updates - before), (1, 1, 2));
    let second = &sink.bars[&("AAPL".to_owned(), intervals("1s")[0], DAY0)];
    assert!(second.is_final);
    assert_eq!((second.bar.trades, second.bar.close), (2, Price(p(20))));
    assert_eq!(sink.finals.len(), 2, "the 1s bar final twice, first with one trade, then with two");
    assert_eq!(sink.finals[0].trades, 1);
    let minute = &sink.bars[&("AAPL".to_owned(), intervals("1m")[0], DAY0)];
    assert_eq!((minute.is_final, minute.bar.trades), (false, 2));
}

#[test]
fn a_trade_later_than_the_lateness_is_refused_with_its_reason_and_in_no_bar() {
    let mut w = windows("1s,1m", Duration::from_secs(60));
    let mut sink = Sink::default();
    let on_time = trade(0, DAY0 + 100 * MS, 1, p(10), p(1));
    push(&mut w, &on_time).expect("on time");
    // The 1s window [DAY0, DAY0 + 1s) is kept while the watermark is below DAY0 + 61 s.
    sink.advance(&mut w, DAY0 + 61 * S - 1);
    push(&mut w, &trade(0, DAY0 + 200 * MS, 2, p(11), p(1))).expect("1 ns inside the lateness");
    sink.advance(&mut w, DAY0 + 61 * S);
    let too_late = trade(0, DAY0 + 300 * MS, 3, p(99), p(1));
    let late = push(&mut w, &too_late).expect_err("at the lateness: refused");
    assert_eq!(
        late,
        Late {
            ts: DAY0 + 300 * MS,
            reason: LateReason::Expired { window_end: DAY0 + S, watermark: DAY0 + 61 * S, allowed_lateness: 60 * S }
        }
    );
    assert_eq!(
        late.to_string(),
        "trade at 2023-12-09T00:00:00.300Z is too late: its window ended at 2023-12-09T00:00:01Z, more than the \
         allowed lateness 60s before the watermark 2023-12-09T00:01:01Z"
    );
    // Its 1m window is still open, yet the trade must not reach it either.
    sink.advance(&mut w, i64::MAX);
    let accepted = [on_time, trade(0, DAY0 + 200 * MS, 2, p(11), p(1))];
    assert_eq!(sink.final_bars(), reference(&accepted, &intervals("1s,1m")));
}

#[test]
fn coarser_bars_are_the_merge_of_finer_ones_and_of_the_reference() {
    // About 2¼ hours of two symbols with uneven gaps, across midnight.
    let mut ts = DAY0 - 3600 * S;
    let trades: Vec<Trade> = (0..3000u64)
        .map(|i| {
            ts += (i as i64 % 17 + 1) * 300 * MS;
            trade((i % 2) as usize, ts, i, p(50) + (i * 31 % 101) as i64 * 1_000_000, p(1) + i as i64)
        })
        .collect();
    let mut w = windows(Interval::DEFAULTS, Duration::from_secs(60));
    let mut sink = Sink::default();
    for (i, t) in trades.iter().enumerate() {
        push(&mut w, t).expect("in order");
        if i % 50 == 0 {
            sink.advance(&mut w, t.ts - 2 * S);
        }
    }
    sink.advance(&mut w, i64::MAX);
    let bars = sink.final_bars();
    let plan = IntervalPlan::new(&intervals(Interval::DEFAULTS));
    assert_eq!(bars, reference(&trades, plan.intervals()));
    assert!(bars.keys().any(|k| k.1 == intervals("1d")[0] && k.2 == DAY0), "crosses a day");
    for (level, &interval) in plan.intervals().iter().enumerate() {
        let Some(source) = plan.source(level) else { continue };
        let finer = plan.intervals()[source];
        for ((symbol, _, start), bar) in bars.iter().filter(|(k, _)| k.1 == interval) {
            let parts: Vec<&Bar> = bars
                .range((symbol.clone(), finer, *start)..(symbol.clone(), finer, start + interval.nanos()))
                .map(|(_, b)| b)
                .collect();
            let (first, last) = (parts[0], parts[parts.len() - 1]);
            assert_eq!((bar.open, bar.first_ts), (first.open, first.first_ts), "{bar:?}");
            assert_eq!((bar.close, bar.last_ts), (last.close, last.last_ts));
            assert_eq!(bar.high, parts.iter().map(|b| b.high).max().expect("parts"));
            assert_eq!(bar.low, parts.iter().map(|b| b.low).min().expect("parts"));
            assert_eq!(bar.volume.0, parts.iter().map(|b| b.volume.0).sum::<i128>());
            assert_eq!(bar.trades, parts.iter().map(|b| b.trades).sum::<u64>());
        }
    }
}

#[test]
fn a_bar_becomes_final_once_without_changes_and_then_stays_quiet() {
    let mut w = windows("1s,1m", Duration::from_secs(60));
    let mut sink = Sink::default();
    push(&mut w, &trade(0, DAY0 + 100 * MS, 1, p(10), p(1))).expect("on time");
    let r = sink.advance(&mut w, DAY0 + 500 * MS);
    assert_eq!((r.provisional, r.finals), (2, 0));
    let r = sink.advance(&mut w, DAY0 + 700 * MS);
    assert_eq!((r.provisional, r.finals), (0, 0), "nothing changed");
    let r = sink.advance(&mut w, DAY0 + S);
    assert_eq!((r.provisional, r.finals), (0, 1), "the 1s bar became final at its end");
    let r = sink.advance(&mut w, DAY0 + 30 * S);
    assert_eq!((r.provisional, r.finals), (0, 0));
    let r = sink.advance(&mut w, DAY0 + 90 * S);
    assert_eq!((r.provisional, r.finals, r.evicted), (0, 1, 1), "1m final; 1s evicted");
}

#[test]
fn a_flush_of_finals_emits_the_windows_that_ended_and_leaves_open_ones_changed() {
    let mut w = windows("1s,1m", Duration::from_secs(60));
    let finals = |w: &mut Windows, watermark| {
        let mut emitted = Vec::new();
        let r = w.advance_finals(watermark, |u| emitted.push((u.bar.start - DAY0, u.is_final)));
        (r.provisional, emitted)
    };
    push(&mut w, &trade(0, DAY0 + 2 * S + 100 * MS, 1, p(10), p(1))).expect("on time");
    push(&mut w, &trade(0, DAY0 + 3 * S + 500 * MS, 2, p(11), p(1))).expect("on time");
    assert_eq!(finals(&mut w, DAY0 + 3 * S), (0, vec![(2 * S, true)]), "the second that ended at the watermark");
    // A trade within the lateness dirties an older window than the open ones.
    push(&mut w, &trade(0, DAY0 + 2 * S + 200 * MS, 3, p(12), p(1))).expect("within the lateness");
    assert_eq!(finals(&mut w, DAY0 + 3 * S), (0, vec![(2 * S, true)]), "the changed final only");
    let mut sink = Sink::default();
    let r = sink.advance(&mut w, DAY0 + 3 * S + 600 * MS);
    assert_eq!((r.provisional, r.finals), (2, 0), "the open second and minute were still changed");
}

#[test]
fn a_window_complete_on_this_worker_waits_for_its_final_bar() {
    let mut w = windows("1s", Duration::from_secs(60));
    push(&mut w, &trade(0, DAY0 + 100 * MS, 1, p(10), p(1))).expect("on time");
    push(&mut w, &trade(0, DAY0 + 2 * S + 100 * MS, 2, p(11), p(1))).expect("on time");
    let mut emitted = Vec::new();
    let r = w.advance_open_after(DAY0 + 500 * MS, DAY0 + 2 * S, Phase::ALL, |u| {
        emitted.push((u.bar.start - DAY0, u.is_final))
    });
    assert_eq!((r.provisional, emitted), (1, vec![(2 * S, false)]), "the first second ended by the own watermark");
    let mut emitted = Vec::new();
    let r = w.advance_finals(DAY0 + S, |u| emitted.push((u.bar.start - DAY0, u.is_final)));
    assert_eq!((r.finals, emitted), (1, vec![(0, true)]), "its first emission is the final one");
}

#[test]
fn a_lower_watermark_is_ignored() {
    let mut w = windows("1s", Duration::ZERO);
    let mut sink = Sink::default();
    push(&mut w, &trade(0, DAY0 + 100 * MS, 1, p(10), p(1))).expect("on time");
    sink.advance(&mut w, DAY0 + 10 * S);
    assert_eq!(sink.finals.len(), 1);
    let r = sink.advance(&mut w, DAY0);
    assert_eq!((r.provisional, r.finals, w.watermark()), (0, 0, Some(DAY0 + 10 * S)));
    assert!(push(&mut w, &trade(0, DAY0 + 5 * S, 2, p(10), p(1))).is_err(), "late against the higher watermark");
}

#[test]
fn eviction_frees_the_state_of_expired_windows() {
    let mut w = windows(Interval::DEFAULTS, Duration::from_secs(60));
    let mut sink = Sink::default();
    for second in 0..300 {
        for symbol in 0..3 {
            let t = trade(symbol, DAY0 + second * S + symbol as i64 * 100 * MS, 0, p(10), p(1));
            push(&mut w, &t).expect("in order");
        }
    }
    sink.advance(&mut w, DAY0);
    // 300 s of three symbols: 1s bars 3 × 300, 1m 3 × 5, 5m 3, 15m 3, 1h 3, 1d 3.
    assert_eq!(w.open_bars(), 900 + 15 + 12);
    sink.advance(&mut w, DAY0 + 200 * S);
    // 1s windows ending after 140 s remain (160 of them); 1m windows ending after 140 s (3).
    assert_eq!(w.open_bars(), 3 * 160 + 3 * 3 + 12);
    let r = sink.advance(&mut w, i64::MAX);
    assert_eq!((w.open_bars(), r.evicted), (0, 3 * 160 + 3 * 3 + 12));
    assert_eq!(w.open_positions().count(), 0);
}

#[test]
fn a_trade_outside_the_event_time_range_is_refused() {
    let mut w = windows("1s", Duration::ZERO);
    for ts in [-1, i64::MIN, tickflow_shared::time::MAX_EVENT_TIME] {
        let late = push(&mut w, &trade(0, ts, 0, p(1), p(1))).expect_err("out of range");
        assert_eq!(late.reason, LateReason::OutOfRange);
        assert_eq!(late.reason.to_string(), "its event time is outside 1970-01-01 .. 2200-01-01");
    }
    assert_eq!(w.advance(i64::MAX, |u| panic!("{u:?}")), AdvanceReport::default());
}

#[test]
fn two_root_intervals_are_accepted_or_refused_together() {
    // 45s and 1m are both roots (neither divides the other); 3m merges from 1m.
    let trades: Vec<Trade> =
        (0..500u64).map(|i| trade((i % 2) as usize, DAY0 + i as i64 * 700 * MS, i, p(20) + i as i64, p(1))).collect();
    let mut w = windows("45s,1m,3m", Duration::from_secs(5));
    let mut sink = Sink::default();
    let (mut accepted, mut max_ts) = (Vec::new(), i64::MIN);
    for (i, t) in trades.iter().enumerate() {
        // Every 7th trade comes 50 s late: refused when its 45s or 1m window has expired.
        let t = if i % 7 == 3 { Trade { ts: t.ts - 50 * S, ..*t } } else { *t };
        let watermark = w.watermark().unwrap_or(i64::MIN);
        let expired = |text: &str| {
            let interval = intervals(text)[0];
            interval.start_of(t.ts) + interval.nanos() + 5 * S <= watermark
        };
        match push(&mut w, &t) {
            Ok(()) => {
                assert!(!expired("45s") && !expired("1m"));
                accepted.push(t);
            }
            Err(late) => assert!(expired("45s") || expired("1m"), "{late}"),
        }
        max_ts = max_ts.max(t.ts);
        if i % 10 == 0 {
            sink.advance(&mut w, max_ts - 2 * S);
        }
    }
    assert!(accepted.len() < trades.len(), "some were refused");
    sink.advance(&mut w, i64::MAX);
    assert_eq!(sink.final_bars(), reference(&accepted, &intervals("45s,1m,3m")));
}

#[test]
fn an_idle_partition_stops_holding_back_the_bars() {
    let config = WatermarkConfig::default();
    let mut marks = Watermarks::new([0, 1], config, Duration::ZERO);
    let mut w = windows("1s", Duration::ZERO);
    let mut sink = Sink::default();
    marks.observe(1, DAY0, Duration::ZERO);
    for i in 0..20u64 {
        let now = Duration::from_secs(i);
        let t = Trade { at: Position { partition: 0, offset: i }, ..trade(0, DAY0 + i as i64 * S, i, p(1), p(1)) };
        push(&mut w, &t).expect("in order");
        marks.observe(0, t.ts, now);
        if let Some(mark) = marks.watermark(now) {
            sink.advance(&mut w, mark);
        }
    }
    // Partition 1 went idle at 10 s: bars up to 19 s − 2 s are final.
    assert_eq!(sink.finals.len(), 17);
    marks.observe(1, DAY0 + 30 * S, Duration::from_secs(20));
    marks.observe(0, DAY0 + 40 * S, Duration::from_secs(20));
    assert_eq!(marks.watermark(Duration::from_secs(20)), Some(DAY0 + 28 * S), "partition 1 holds it back again");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// With any disorder, a trade is refused exactly when its finest window
    /// expired, and the final bars are the reference fold of the accepted ones.
    #[test]
    fn any_disorder_gives_the_fold_of_the_accepted_trades(
        steps in prop::collection::vec((0usize..3, -20 * S..20 * S, 1i64..50, 1i64..20), 1..150),
        flushes in prop::collection::vec(any::<bool>(), 1..20),
        lateness in 0i64..10,
    ) {
        let mut w = windows("1s,5s,1m", Duration::from_secs(lateness as u64));
        let mut sink = Sink::default();
        let (mut accepted, mut max_ts) = (Vec::new(), i64::MIN);
        for (i, &(symbol, jump, price, size)) in steps.iter().enumerate() {
            let t = trade(symbol, DAY0 + jump + i as i64 * 100 * MS, i as u64, price, size);
            let watermark = w.watermark().unwrap_or(i64::MIN);
            let expired = Interval::from_seconds(1).expect("1s").start_of(t.ts) + S + lateness * S <= watermark;
            prop_assert_eq!(push(&mut w, &t).is_err(), expired);
            if !expired {
                accepted.push(t);
            }
            max_ts = max_ts.max(t.ts);
            if flushes[i % flushes.len()] {
                sink.advance(&mut w, max_ts - 2 * S);
            }
        }
        sink.advance(&mut w, i64::MAX);
        prop_assert_eq!(sink.final_bars(), reference(&accepted, &intervals("1s,5s,1m")));
    }
}
