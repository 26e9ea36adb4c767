//! The commit: what the sink worker gathers between two writes, and how it
//! turns into one [`SpeedCommit`] whose offsets match its bars (DESIGN.md,
//! contract 4).
//!
//! Every window operator *flushes* at its frontier `s`: the bars that
//! changed, its watermark, and per partition the lowest offset still held by
//! an open window; its state then reflects exactly its input at timely times
//! before `s`. Sources report, at time `t`, the next offset of each partition
//! after everything they sent at times up to `t`. A commit takes every
//! worker's latest flush and the offsets reported before the earliest of
//! them, so every trade before `next` is in the stored bars, and everything
//! any open window holds is at or after `replay_from`. Bars are whole-state
//! upserts, so a bar that already holds a few trades past `next` is simply
//! rewritten when those trades are read again after a restart.

use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use tickflow_shared::codec::Reject;
use tickflow_shared::interval::Interval;
use tickflow_shared::store::{LateTrade, PartitionOffset, SpeedBar, SpeedCommit};
use tickflow_shared::watermark::Partition;
use tickflow_shared::{Bar, Symbol};

/// A window operator's state after its input before time `at`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flush {
    /// The global index of the worker.
    pub worker: usize,
    /// The timely time of the flush.
    pub at: u64,
    /// The watermark its bars were finalised at, if any.
    pub watermark: Option<i64>,
    /// Bars that changed or became final.
    pub bars: Vec<(Bar, bool)>,
    /// Per partition, the lowest offset an open window holds.
    pub held: Vec<(Partition, u64)>,
}

/// Gathers flushes, offset reports, late trades and rejects between writes.
#[derive(Debug)]
pub struct Pending {
    topic: String,
    workers: usize,
    bars: FxHashMap<(Interval, Symbol, i64), SpeedBar>,
    latest: BTreeMap<usize, Flush>,
    /// `(time, partition) → next offset`, as the sources reported.
    reports: BTreeMap<(u64, Partition), u64>,
    next: BTreeMap<Partition, u64>,
    late: Vec<LateTrade>,
    rejects: Vec<Reject>,
}

impl Pending {
    /// Nothing gathered yet, for a job of `workers` window operators.
    pub fn new(topic: &str, workers: usize) -> Self {
        Self {
            topic: topic.to_owned(),
            workers,
            bars: FxHashMap::default(),
            latest: BTreeMap::new(),
            reports: BTreeMap::new(),
            next: BTreeMap::new(),
            late: Vec::new(),
            rejects: Vec::new(),
        }
    }

    /// Takes a source's report: at `time`, `partition` is read up to `next`.
    pub fn report(&mut self, time: u64, partition: Partition, next: u64) {
        let slot = self.reports.entry((time, partition)).or_insert(next);
        *slot = (*slot).max(next);
    }

    /// Takes a window operator's flush; later bars replace earlier ones.
    pub fn flush(&mut self, mut flush: Flush) {
        for (bar, is_final) in flush.bars.drain(..) {
            self.bars.insert((bar.interval, bar.symbol.clone(), bar.start), SpeedBar { bar, is_final });
        }
        self.latest.insert(flush.worker, flush);
    }

    /// Takes a trade refused as late.
    pub fn late(&mut self, late: LateTrade) {
        self.late.push(late);
    }

    /// Takes a message that was not a trade.
    pub fn reject(&mut self, reject: Reject) {
        self.rejects.push(reject);
    }

    /// Whether a write would carry anything.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty() && self.late.is_empty() && self.rejects.is_empty() && self.reports.is_empty()
    }

    /// The commit of everything gathered, leaving what is not yet covered by
    /// every worker's flush for the next one. Offsets are written only once
    /// every worker has flushed.
    pub fn take(&mut self) -> SpeedCommit {
        let mut commit = SpeedCommit {
            bars: self.bars.drain().map(|(_, bar)| bar).collect(),
            late: std::mem::take(&mut self.late),
            rejects: std::mem::take(&mut self.rejects),
            ..SpeedCommit::default()
        };
        if self.latest.len() < self.workers {
            return commit;
        }
        let cut = self.latest.values().map(|f| f.at).min().unwrap_or_default();
        let covered: Vec<(u64, Partition)> = self.reports.range(..(cut, Partition::MIN)).map(|(k, _)| *k).collect();
        for key in covered {
            if let Some(next) = self.reports.remove(&key) {
                let slot = self.next.entry(key.1).or_insert(next);
                *slot = (*slot).max(next);
            }
        }
        let mut held: BTreeMap<Partition, u64> = BTreeMap::new();
        for (partition, offset) in self.latest.values().flat_map(|f| f.held.iter().copied()) {
            let slot = held.entry(partition).or_insert(offset);
            *slot = (*slot).min(offset);
        }
        commit.offsets = self
            .next
            .iter()
            .map(|(&partition, &next)| PartitionOffset {
                topic: self.topic.clone(),
                partition,
                next_offset: next as i64,
                replay_from: held.get(&partition).map_or(next, |&h| h.min(next)) as i64,
            })
            .collect();
        commit.watermark = self.latest.values().filter_map(|f| f.watermark).max();
        commit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::{BarAcc, Price, Size};

    fn bar(symbol: &str, trades: u64) -> Bar {
        let mut acc = BarAcc::default();
        for i in 0..trades {
            acc.push(i as i64, i, Price(100), Size(1));
        }
        let minute = Interval::parse_list("1m").expect("interval")[0];
        acc.finish(Symbol::new(symbol).expect("symbol"), minute, 0).expect("a bar")
    }

    fn flush(worker: usize, at: u64, watermark: i64, bars: Vec<(Bar, bool)>, held: Vec<(Partition, u64)>) -> Flush {
        Flush { worker, at, watermark: Some(watermark), bars, held }
    }

    #[test]
    fn offsets_wait_for_every_worker_and_stop_at_the_earliest_flush() {
        let mut pending = Pending::new("ticks", 2);
        pending.report(1, 0, 10);
        pending.report(3, 0, 30);
        pending.report(5, 0, 50);
        pending.flush(flush(0, 4, 300, vec![(bar("A", 1), false)], vec![(0, 7)]));
        let first = pending.take();
        assert_eq!(first.bars.len(), 1);
        assert!(first.offsets.is_empty(), "worker 1 has not flushed: no offsets yet");
        pending.flush(flush(1, 6, 500, vec![], vec![(0, 20)]));
        let second = pending.take();
        assert_eq!(second.offsets.len(), 1);
        assert_eq!(second.offsets[0].next_offset, 30, "reports before the earliest flush (4) only");
        assert_eq!(second.offsets[0].replay_from, 7, "the lowest offset any open window holds");
        assert_eq!(second.watermark, Some(500));
        pending.flush(flush(0, 7, 600, vec![], vec![]));
        let third = pending.take();
        assert_eq!(third.offsets[0].next_offset, 50);
        assert_eq!(third.offsets[0].replay_from, 20);
    }

    #[test]
    fn a_later_flush_of_a_bar_replaces_the_earlier() {
        let mut pending = Pending::new("ticks", 1);
        pending.flush(flush(0, 1, 0, vec![(bar("A", 1), false)], vec![]));
        pending.flush(flush(0, 2, 0, vec![(bar("A", 3), true)], vec![]));
        let commit = pending.take();
        assert_eq!(commit.bars.len(), 1);
        assert_eq!((commit.bars[0].bar.trades, commit.bars[0].is_final), (3, true));
        assert!(pending.is_empty());
    }

    #[test]
    fn replay_from_never_exceeds_next() {
        let mut pending = Pending::new("ticks", 1);
        pending.report(0, 2, 5);
        pending.flush(flush(0, 1, 0, vec![], vec![(2, 9)]));
        let commit = pending.take();
        assert_eq!((commit.offsets[0].next_offset, commit.offsets[0].replay_from), (5, 5));
    }
}
