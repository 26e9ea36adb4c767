//! Each bar key once per commit: the bars the window operators flushed
//! since the last commit, folded so that a key's last flush wins.
//!
//! The committer thread does this, not the sink worker: the sink only moves
//! each flush's vector, so gathering costs the worker nothing per bar. Most
//! of the time there is nothing to fold: a symbol's bars all come from one
//! worker (trades are exchanged by symbol), and within one emit period a
//! worker flushes each key once ([`Windows::period`]). The sink commits as
//! periods end, so a worker's bars in a commit are of one period (joined as
//! they are) or of two, the second just begun (a bar of the first is dropped
//! if the second flushed its key again). Only repeats need the fold.
//!
//! [`Windows::period`]: crate::windows::Windows::period

use rustc_hash::{FxHashMap, FxHashSet};
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
    /// The keys of later periods, in [`newest_wins`](Self::newest_wins); kept for its capacity.
    later: FxHashSet<Key>,
}

/// One series' `(start, slot in the commit)`s, sorted by start.
type Starts = Vec<(i64, u32)>;

/// One worker's flushed bars since the last commit.
#[derive(Debug, Default)]
pub struct Flushed {
    /// Each flush's bars and its emit period, in flush order (so periods never decrease).
    bars: Vec<(u32, Vec<(Bar, bool)>)>,
    /// A bar was flushed twice within one period.
    repeats: bool,
}

impl Flushed {
    /// Adds the bars of one flush of emit `period`; `repeats` if one of them
    /// was flushed before in that period.
    pub fn push(&mut self, bars: Vec<(Bar, bool)>, period: u32, repeats: bool) {
        if bars.is_empty() {
            return;
        }
        self.repeats |= repeats;
        self.bars.push((period, bars));
    }

    /// Whether no bar was added.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }
}

type Key = (Symbol, Interval, i64);

fn key(bar: &Bar) -> Key {
    (bar.symbol.clone(), bar.interval, bar.start)
}

impl Dedup {
    /// Appends every worker's bars to `bars` (empty), each key once at its
    /// last flush. A worker's flushes without repeats keep a bar unless a
    /// later period flushed its key again; with repeats they are folded.
    pub fn join(&mut self, workers: Vec<Flushed>, bars: &mut Vec<SpeedBar>) {
        bars.reserve(workers.iter().flat_map(|w| &w.bars).map(|(_, b)| b.len()).sum());
        for worker in workers {
            if worker.repeats {
                self.fold(worker.bars.into_iter().map(|(_, bars)| bars).collect(), bars);
            } else {
                self.newest_wins(worker.bars, bars);
            }
        }
    }

    /// Appends flushes of one or more periods, each without repeats, keeping
    /// a key's bar of the latest period only. The keys of every period but
    /// the oldest are indexed: none for one period, which is joined as it is;
    /// few when the commit came soon after a period's end, and the oldest
    /// period's many bars only look them up.
    fn newest_wins(&mut self, mut flushes: Vec<(u32, Vec<(Bar, bool)>)>, out: &mut Vec<SpeedBar>) {
        let mut end = flushes.len();
        while end > 0 {
            let period = flushes[end - 1].0;
            let start = flushes[..end].iter().rposition(|(p, _)| *p != period).map_or(0, |i| i + 1);
            if !self.later.is_empty() {
                for (_, bars) in &mut flushes[start..end] {
                    bars.retain(|(bar, _)| !self.later.contains(&key(bar)));
                }
            }
            if start > 0 {
                let keys = flushes[start..end].iter().flat_map(|(_, bars)| bars).map(|(bar, _)| key(bar));
                self.later.extend(keys);
            }
            end = start;
        }
        self.later.clear();
        out.extend(flushes.into_iter().flat_map(|(_, bars)| bars).map(|(bar, is_final)| SpeedBar { bar, is_final }));
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

    fn join(dedup: &mut Dedup, workers: Vec<Flushed>) -> Vec<SpeedBar> {
        let mut bars = Vec::new();
        dedup.join(workers, &mut bars);
        bars
    }

    #[test]
    fn a_later_flush_of_a_bar_replaces_the_earlier() {
        let minute = Interval::parse_list("1m").expect("interval")[0];
        let mut dedup = Dedup::default();
        let flushes = vec![(1, vec![(bar("A", minute, 0, 1), false)]), (2, vec![(bar("A", minute, 0, 3), true)])];
        let bars = join(&mut dedup, vec![worker(flushes)]);
        assert_eq!(bars.len(), 1, "flushes of two periods are folded");
        assert_eq!((bars[0].bar.trades, bars[0].is_final), (3, true));
        assert!(join(&mut dedup, Vec::new()).is_empty(), "nothing is carried into the next commit");
    }

    #[test]
    fn one_period_of_each_worker_is_joined_and_repeats_are_folded() {
        let minute = Interval::parse_list("1m").expect("interval")[0];
        let mut dedup = Dedup::default();
        let a = |trades| (bar("A", minute, 0, trades), false);
        let b = |start: i64, trades| (bar("B", minute, start * 60_000_000_000, trades), true);
        let first = worker(vec![(4, vec![a(1)]), (4, vec![a(2)])]);
        let second = worker(vec![(9, vec![b(0, 1), b(1, 1)])]);
        let bars = join(&mut dedup, vec![first, second]);
        let trades: Vec<u64> = bars.iter().map(|b| b.bar.trades).collect();
        assert_eq!(trades, [1, 2, 1, 1], "one period: taken as flushed, without looking at keys");
        let mut repeated = Flushed::default();
        repeated.push(vec![a(1)], 4, false);
        repeated.push(vec![a(5)], 4, true);
        let bars = join(&mut dedup, vec![repeated]);
        assert_eq!(bars.iter().map(|b| b.bar.trades).collect::<Vec<_>>(), [5], "a flush with repeats is folded");
    }

    proptest::proptest! {
        /// Whatever the flushes and their periods, a commit holds each key's
        /// last flush once: flushes of one period are joined, of several
        /// filtered by period, and with repeats folded.
        #[test]
        fn a_commit_holds_each_key_once_at_its_last_flush(
            commits in proptest::collection::vec(
                proptest::collection::vec((0..3u8, 0..2usize, 0..6i64, 1..50u64, proptest::bool::weighted(0.2)), 0..40),
                1..4),
            repeats: bool,
        ) {
            let intervals = Interval::parse_list("1s,1m").expect("intervals");
            let mut dedup = Dedup::default();
            for flushes in commits {
                let mut expected = std::collections::BTreeMap::new();
                let mut flushed = Flushed::default();
                let (mut period, mut in_period) = (0, std::collections::BTreeSet::new());
                for (i, &(symbol, interval, start, trades, next)) in flushes.iter().enumerate() {
                    let written = bar(&format!("S{symbol}"), intervals[interval], start * 60_000_000_000, trades);
                    let again = !in_period.insert(key(&written));
                    // Without repeats a period holds a key once, as the windows guarantee.
                    if next || (again && !repeats) {
                        period += 1;
                        in_period = [key(&written)].into();
                    }
                    let is_final = i % 3 == 0;
                    flushed.push(vec![(written.clone(), is_final)], period, repeats && again && !next);
                    expected.insert(key(&written), SpeedBar { bar: written, is_final });
                }
                let mut got = join(&mut dedup, vec![flushed]);
                got.sort_by_key(|b| key(&b.bar));
                proptest::prop_assert_eq!(got, expected.into_values().collect::<Vec<_>>());
            }
        }
    }
}
