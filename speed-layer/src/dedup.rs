//! Each bar key once per commit: the bars the window operators flushed
//! since the last commit, folded so that a key's last flush wins.
//!
//! The committer thread does this, not the sink worker: the sink only moves
//! each flush's vector, so gathering costs the worker nothing per bar. Most
//! of the time there is nothing to fold: a symbol's bars all come from one
//! worker (trades are exchanged by symbol), and within one emit period a
//! worker flushes each key once ([`Windows::period`]). The sink commits as
//! periods end, so a worker's bars in a commit are usually of one period,
//! and are then only joined.
//!
//! [`Windows::period`]: crate::windows::Windows::period

use rustc_hash::FxHashMap;
use tickflow_shared::interval::Interval;
use tickflow_shared::store::SpeedBar;
use tickflow_shared::{Bar, Symbol};

/// Folds flushed bars into one write per key; keeps its index between
/// commits, since the same symbols and intervals come back.
#[derive(Debug, Default)]
pub struct Dedup {
    /// Where each key's bar is in the commit: per symbol and interval, its
    /// `(start, slot)`s sorted by start. There are few series and each is
    /// mostly appended to, so a lookup stays in cache; one hash table of
    /// every key of a commit (300k of them while catching up) missed it on
    /// nearly every bar.
    series: FxHashMap<Symbol, Vec<(Interval, Starts)>>,
}

/// One series' `(start, slot in the commit)`s, sorted by start.
type Starts = Vec<(i64, u32)>;

/// One worker's flushed bars since the last commit.
#[derive(Debug, Default)]
pub struct Flushed {
    bars: Vec<Vec<(Bar, bool)>>,
    period: Option<u32>,
    /// A key may be in `bars` twice: flushes of two periods, or repeats within one.
    mixed: bool,
}

impl Flushed {
    /// Adds the bars of one flush of emit `period`; `repeats` if one of them
    /// was flushed before in that period.
    pub fn push(&mut self, bars: Vec<(Bar, bool)>, period: u32, repeats: bool) {
        if bars.is_empty() {
            return;
        }
        self.mixed |= repeats || *self.period.get_or_insert(period) != period;
        self.bars.push(bars);
    }

    /// Whether no bar was added.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }
}

impl Dedup {
    /// Every worker's bars, each key once at its last flush: a worker's
    /// bars are folded only if a key may repeat among them.
    pub fn join(&mut self, workers: Vec<Flushed>) -> Vec<SpeedBar> {
        let mut bars = Vec::with_capacity(workers.iter().flat_map(|w| &w.bars).map(Vec::len).sum());
        for worker in workers {
            if worker.mixed {
                self.fold(worker.bars, &mut bars);
            } else {
                bars.extend(worker.bars.into_iter().flatten().map(|(bar, is_final)| SpeedBar { bar, is_final }));
            }
        }
        bars
    }

    /// Appends the bars of `flushes` (in the order they were flushed) to
    /// `bars`, each key once at its last flush, in the order keys were first
    /// flushed. No key of `flushes` may be in `bars` already.
    fn fold(&mut self, flushes: Vec<Vec<(Bar, bool)>>, bars: &mut Vec<SpeedBar>) {
        for (bar, is_final) in flushes.into_iter().flatten() {
            let starts = self.starts(&bar.symbol, bar.interval);
            let at = match starts.last() {
                Some(&(last, _)) if last < bar.start => starts.len(),
                None => 0,
                Some(_) => starts.partition_point(|&(start, _)| start < bar.start),
            };
            match starts.get(at) {
                Some(&(start, slot)) if start == bar.start => bars[slot as usize] = SpeedBar { bar, is_final },
                _ => {
                    starts.insert(at, (bar.start, bars.len() as u32));
                    bars.push(SpeedBar { bar, is_final });
                }
            }
        }
        // Emptied, not dropped: the same series come back in the next commit.
        self.series.values_mut().flatten().for_each(|(_, starts)| starts.clear());
    }

    fn starts(&mut self, symbol: &Symbol, interval: Interval) -> &mut Starts {
        // One lookup per bar; cloning a symbol (inline, no allocation) is cheaper than a second.
        let intervals = self.series.entry(symbol.clone()).or_default();
        let at = match intervals.iter().position(|(i, _)| *i == interval) {
            Some(at) => at,
            None => {
                intervals.push((interval, Vec::new()));
                intervals.len() - 1
            }
        };
        &mut intervals[at].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::{BarAcc, Price, Size};

    fn bar(symbol: &str, interval: Interval, start: i64, trades: u64) -> Bar {
        let mut acc = BarAcc::default();
        for i in 0..trades {
            acc.push(start + i as i64, i, Price(100), Size(1));
        }
        acc.finish(Symbol::new(symbol).expect("symbol"), interval, start).expect("a bar")
    }

    /// One worker's flushes, each of the emit period given.
    fn worker(flushes: Vec<(u32, Vec<(Bar, bool)>)>) -> Flushed {
        let mut flushed = Flushed::default();
        for (period, bars) in flushes {
            flushed.push(bars, period, false);
        }
        flushed
    }

    #[test]
    fn a_later_flush_of_a_bar_replaces_the_earlier() {
        let minute = Interval::parse_list("1m").expect("interval")[0];
        let mut dedup = Dedup::default();
        let flushes = vec![(1, vec![(bar("A", minute, 0, 1), false)]), (2, vec![(bar("A", minute, 0, 3), true)])];
        let bars = dedup.join(vec![worker(flushes)]);
        assert_eq!(bars.len(), 1, "flushes of two periods are folded");
        assert_eq!((bars[0].bar.trades, bars[0].is_final), (3, true));
        assert!(dedup.join(Vec::new()).is_empty(), "nothing is carried into the next commit");
    }

    #[test]
    fn one_period_of_each_worker_is_joined_and_repeats_are_folded() {
        let minute = Interval::parse_list("1m").expect("interval")[0];
        let mut dedup = Dedup::default();
        let a = |trades| (bar("A", minute, 0, trades), false);
        let b = |start: i64, trades| (bar("B", minute, start * 60_000_000_000, trades), true);
        let first = worker(vec![(4, vec![a(1)]), (4, vec![a(2)])]);
        let second = worker(vec![(9, vec![b(0, 1), b(1, 1)])]);
        let bars = dedup.join(vec![first, second]);
        let trades: Vec<u64> = bars.iter().map(|b| b.bar.trades).collect();
        assert_eq!(trades, [1, 2, 1, 1], "one period: taken as flushed, without looking at keys");
        let mut repeated = Flushed::default();
        repeated.push(vec![a(1)], 4, false);
        repeated.push(vec![a(5)], 4, true);
        let bars = dedup.join(vec![repeated]);
        assert_eq!(bars.iter().map(|b| b.bar.trades).collect::<Vec<_>>(), [5], "a flush with repeats is folded");
    }

    proptest::proptest! {
        /// Whatever the order of flushes, a commit holds each key's last
        /// flush once, in the order keys were first flushed since the last commit.
        #[test]
        fn a_commit_holds_each_key_once_at_its_last_flush(
            commits in proptest::collection::vec(
                proptest::collection::vec((0..3u8, 0..2usize, 0..6i64, 1..50u64), 0..40), 1..4),
        ) {
            let intervals = Interval::parse_list("1s,1m").expect("intervals");
            let mut dedup = Dedup::default();
            for flushes in commits {
                let mut expected: Vec<SpeedBar> = Vec::new();
                let mut flushed = Vec::new();
                for (i, &(symbol, interval, start, trades)) in flushes.iter().enumerate() {
                    let written = bar(&format!("S{symbol}"), intervals[interval], start * 60_000_000_000, trades);
                    let speed = SpeedBar { bar: written.clone(), is_final: i % 3 == 0 };
                    let key = |b: &SpeedBar| (b.bar.interval, b.bar.symbol.clone(), b.bar.start);
                    match expected.iter_mut().find(|e| key(e) == key(&speed)) {
                        Some(earlier) => *earlier = speed,
                        None => expected.push(speed),
                    }
                    flushed.push((i as u32, vec![(written, i % 3 == 0)]));
                }
                proptest::prop_assert_eq!(dedup.join(vec![worker(flushed)]), expected);
            }
        }
    }
}
