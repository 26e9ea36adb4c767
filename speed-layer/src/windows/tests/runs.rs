//! Whole runs of the speed layer over disordered trades on two partitions,
//! with any flush schedule, and with a crash recovered by the restart contract.

use super::*;

#[test]
fn min_open_position_is_the_lowest_offset_of_an_open_window() {
    let mut w = windows("1s,1m", Duration::from_secs(10));
    let mut sink = Sink::default();
    let at = |partition, offset| Position { partition, offset };
    let trades = [
        Trade { at: at(0, 100), ..trade(0, DAY0 + 59 * S, 1, p(1), p(1)) },
        Trade { at: at(1, 7), ..trade(1, DAY0 + 59 * S, 1, p(1), p(1)) },
        Trade { at: at(0, 101), ..trade(0, DAY0 + 61 * S, 2, p(1), p(1)) },
        Trade { at: at(0, 102), ..trade(0, DAY0 + 50 * S, 3, p(1), p(1)) },
    ];
    for t in &trades {
        push(&mut w, t).expect("on time");
    }
    assert_eq!((w.min_open_position(0), w.min_open_position(1), w.min_open_position(2)), (Some(100), Some(7), None));
    sink.advance(&mut w, DAY0 + 69 * S);
    assert_eq!(w.min_open_position(0), Some(100), "the first minute is held until 60 s + 10 s");
    sink.advance(&mut w, DAY0 + 70 * S);
    assert_eq!((w.min_open_position(0), w.min_open_position(1)), (Some(101), None));
    assert_eq!(w.open_positions().collect::<Vec<_>>(), [at(0, 101)]);
    let late = Trade { at: at(0, 103), ..trade(0, DAY0 + 30 * S, 4, p(1), p(1)) };
    assert!(push(&mut w, &late).is_err());
    assert_eq!(w.min_open_position(0), Some(101), "a refused trade is not held");
}

/// What one run of the speed layer stored.
struct Run {
    bars: BTreeMap<Key, Bar>,
    /// Number of final emissions.
    finals: usize,
    /// The trades in the stored bars: accepted and committed, or accepted after the restart.
    accepted: Vec<Trade>,
}

/// One run of the speed layer over `arrivals` (watermark bound 2 s) with a
/// crash after arrival `crash`, if any, recovered by the contract in the
/// module docs.
fn run_with_crash(arrivals: &[Trade], flushes: &[bool], plan: &str, lateness: Duration, crash: Option<usize>) -> Run {
    /// What the store holds after a commit.
    #[derive(Clone, Default)]
    struct Commit {
        sink: Sink,
        watermark: Option<i64>,
        next: BTreeMap<Partition, u64>,
        replay_from: BTreeMap<Partition, u64>,
        late_table: Vec<Position>,
        accepted: Vec<Trade>,
    }
    let config = WatermarkConfig { max_out_of_orderness: Duration::from_secs(2), idle_timeout: Duration::MAX };
    let mut w = windows(plan, lateness);
    let mut marks = Watermarks::new([0, 1], config, Duration::ZERO);
    let (mut sink, mut commit) = (Sink::default(), Commit::default());
    let (mut next, mut late_table, mut accepted) = (BTreeMap::new(), Vec::new(), Vec::new());
    let mut resume = 0;
    for (i, t) in arrivals.iter().enumerate() {
        match push(&mut w, t) {
            Ok(()) => accepted.push(*t),
            Err(_) => late_table.push(t.at),
        }
        marks.observe(t.at.partition, t.ts, Duration::ZERO);
        next.insert(t.at.partition, t.at.offset + 1);
        if flushes[i % flushes.len()] {
            sink.advance(&mut w, marks.watermark(Duration::ZERO).unwrap_or(i64::MIN));
            let replay_from = next.iter().map(|(&p, &n)| (p, w.min_open_position(p).unwrap_or(n))).collect();
            let (sink, watermark, next, late_table) = (sink.clone(), w.watermark(), next.clone(), late_table.clone());
            commit = Commit { sink, watermark, next, replay_from, late_table, accepted: accepted.clone() };
            resume = i + 1;
        }
        if crash == Some(i) {
            break;
        }
    }
    if crash.is_some() {
        // Memory is lost; the store keeps the last commit. Restart by the contract.
        (sink, accepted) = (commit.sink, commit.accepted);
        w = windows(plan, lateness);
        marks = Watermarks::new([0, 1], config, Duration::ZERO);
        if let Some(mark) = commit.watermark {
            w.advance(mark, |u| panic!("nothing to emit: {u:?}"));
        }
        for (partition, &from) in &commit.replay_from {
            let mut replay: Vec<&Trade> = arrivals.iter().filter(|t| t.at.partition == *partition).collect();
            replay.retain(|t| (from..commit.next[partition]).contains(&t.at.offset));
            for t in replay.into_iter().filter(|t| !commit.late_table.contains(&t.at)) {
                let id = w.intern_str(SYMBOLS[t.symbol]).expect("symbol");
                w.replay(id, t.ts, t.seq, Price(t.price), Size(t.size), t.at).expect("valid");
                if t.at.offset % 3 == 0 {
                    w.advance(commit.watermark.unwrap_or(i64::MIN), |_| {});
                }
            }
        }
        w.advance(commit.watermark.unwrap_or(i64::MIN), |_| {});
        for (i, t) in arrivals.iter().enumerate().skip(resume) {
            if push(&mut w, t).is_ok() {
                accepted.push(*t);
            }
            marks.observe(t.at.partition, t.ts, Duration::ZERO);
            if flushes[i % flushes.len()] {
                sink.advance(&mut w, marks.watermark(Duration::ZERO).unwrap_or(i64::MIN));
            }
        }
    }
    sink.advance(&mut w, i64::MAX);
    Run { bars: sink.final_bars(), finals: sink.finals.len(), accepted }
}

/// Trades of three symbols on two partitions, each delayed by at most 2 s; in arrival order.
fn arrivals(steps: &[(usize, i64, i64, i64, i64)]) -> (Vec<Trade>, Vec<Trade>) {
    let mut ts = DAY0 - 45 * S;
    let mut trades: Vec<(i64, Trade)> = steps
        .iter()
        .enumerate()
        .map(|(i, &(symbol, gap, price, size, delay))| {
            ts += gap;
            (ts + delay, trade(symbol, ts, (i % 4) as u64, price, size))
        })
        .collect();
    trades.sort_by_key(|(arrival, _)| *arrival);
    let mut offsets = [0u64; 2];
    let arrivals: Vec<Trade> = trades
        .into_iter()
        .map(|(_, t)| {
            let partition = (t.symbol % 2) as Partition;
            offsets[partition as usize] += 1;
            Trade { at: Position { partition, offset: offsets[partition as usize] - 1 }, ..t }
        })
        .collect();
    let mut ordered = arrivals.clone();
    ordered.sort_by_key(|t| (t.symbol, t.ts, t.seq));
    (arrivals, ordered)
}

/// Steps of [`arrivals`] with delays up to `max_delay`.
fn steps(max_delay: i64) -> impl Strategy<Value = Vec<(usize, i64, i64, i64, i64)>> {
    prop::collection::vec((0usize..3, 0i64..900 * MS, 1i64..50, 1i64..20, 0i64..=max_delay), 1..150)
}

#[test]
fn a_crash_recovers_the_same_bars() {
    // 300 trades 370 ms apart, delayed by up to 2 s, then every 10th by 70 s more:
    // refused, or applied to a bar final already, depending on the lateness.
    let steps: Vec<_> = (0..300)
        .map(|i| {
            let delay = (i * 733 % 2001) as i64 * MS + if i % 10 == 9 { 70 * S } else { 0 };
            (i % 3, 370 * MS, 10 + (i % 7) as i64, 1, delay)
        })
        .collect();
    let (arrivals, _) = arrivals(&steps);
    let flushes = [false, false, true];
    for lateness in [0, 60, 75] {
        let lateness = Duration::from_secs(lateness);
        let whole = run_with_crash(&arrivals, &flushes, Interval::DEFAULTS, lateness, None);
        assert!(whole.accepted.len() < arrivals.len() || lateness.as_secs() == 75, "some refused");
        let expected = reference(&whole.accepted, &intervals(Interval::DEFAULTS));
        assert_same_bars(&whole.bars, &expected, "no crash");
        for crash in [0, 1, 2, 3, 50, 151, 298, 299] {
            let run = run_with_crash(&arrivals, &flushes, Interval::DEFAULTS, lateness, Some(crash));
            let expected = reference(&run.accepted, &intervals(Interval::DEFAULTS));
            assert_same_bars(&run.bars, &expected, &format!("lateness {lateness:?}, crash after {crash}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any arrival order within the out-of-orderness bound and any flush
    /// schedule give the reference bars, each final exactly once.
    #[test]
    fn any_order_within_the_bound_and_any_flushes_give_the_reference_bars(
        steps in steps(2 * S),
        flushes in prop::collection::vec(any::<bool>(), 1..20),
    ) {
        let (arrivals, trades) = arrivals(&steps);
        let run = run_with_crash(&arrivals, &flushes, Interval::DEFAULTS, Duration::ZERO, None);
        prop_assert_eq!(run.accepted.len(), trades.len(), "none late");
        prop_assert_eq!(run.finals, run.bars.len(), "each bar final once");
        prop_assert_eq!(run.bars, reference(&trades, &intervals(Interval::DEFAULTS)));
    }

    /// A crash anywhere, recovered by the contract, stores the reference bars
    /// of the trades accepted, also with trades beyond the bound (refused, or
    /// applied to final bars).
    #[test]
    fn a_crash_anywhere_recovers_the_reference_bars(
        steps in steps(6 * S),
        flushes in prop::collection::vec(any::<bool>(), 1..10),
        crash in any::<prop::sample::Index>(),
        lateness in 0u64..4,
    ) {
        let (arrivals, _) = arrivals(&steps);
        let crash = crash.index(arrivals.len());
        let run = run_with_crash(&arrivals, &flushes, "1s,1m,1h", Duration::from_secs(lateness), Some(crash));
        prop_assert_eq!(run.bars, reference(&run.accepted, &intervals("1s,1m,1h")));
    }
}

/// Regression: a restart replays trades of windows that closed before the
/// stored watermark; the next advance once emitted them again, holding only
/// the replayed trades, over the whole bar in the store.
#[test]
fn replayed_trades_of_evicted_windows_are_not_emitted() {
    let mut w = windows("1s,1m", Duration::ZERO);
    w.advance(DAY0 + 10 * S, |_| {});
    let id = w.intern_str(SYMBOLS[0]).expect("symbol");
    w.replay(id, DAY0 + 2 * S + 5 * MS, 1, Price(p(1)), Size(p(1)), Position::default()).expect("a valid time");
    let mut emitted = Vec::new();
    w.advance(DAY0 + 11 * S, |u| emitted.push((u.bar.interval, u.bar.start, u.is_final)));
    assert_eq!(emitted, [(intervals("1m")[0], DAY0, false)], "the open minute only, not the second it closed");
}

/// `advance_finals` writes what became final at once and keeps changed open
/// bars for the next `advance`, which emits each of them once.
#[test]
fn advancing_finals_only_keeps_open_changes_for_later() {
    let mut w = windows("1s,1m", Duration::ZERO);
    let id = w.intern_str(SYMBOLS[0]).expect("symbol");
    w.push(id, DAY0 + 5 * MS, 1, Price(p(1)), Size(p(1)), Position::default()).expect("on time");
    w.push(id, DAY0 + S + 5 * MS, 2, Price(p(2)), Size(p(1)), Position::default()).expect("on time");
    let mut emitted = Vec::new();
    w.advance_finals(DAY0 + S, |u| emitted.push((u.bar.interval, u.bar.start, u.is_final, u.bar.trades)));
    let (second, minute) = (intervals("1s")[0], intervals("1m")[0]);
    assert_eq!(emitted, [(second, DAY0, true, 1)], "the closed second only");
    emitted.clear();
    w.advance_finals(DAY0 + S + MS, |u| emitted.push((u.bar.interval, u.bar.start, u.is_final, u.bar.trades)));
    assert_eq!(emitted, [], "nothing became final");
    w.advance(DAY0 + S + MS, |u| emitted.push((u.bar.interval, u.bar.start, u.is_final, u.bar.trades)));
    emitted.sort();
    assert_eq!(emitted, [(second, DAY0 + S, false, 1), (minute, DAY0, false, 2)], "the open bars, with every trade");
    emitted.clear();
    w.advance(DAY0 + S + 2 * MS, |u| emitted.push((u.bar.interval, u.bar.start, u.is_final, u.bar.trades)));
    assert_eq!(emitted, [], "each change is emitted once");
}
