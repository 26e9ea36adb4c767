//! The commit: what the sink worker gathers between two writes, and how it
//! turns into one [`SpeedCommit`] whose offsets match its bars (DESIGN.md,
//! contract 4).
//!
//! Every window operator *flushes* the bars that changed whenever its
//! frontier moves, and at every *checkpoint* time `c` it passes it flushes
//! its exact state there: its input at timely times before `c`, its
//! watermark, and per partition the lowest offset an open window holds.
//! Sources report, at time `t`, the next offset of each partition after
//! everything they sent at times up to `t`. A commit's offsets come from the
//! latest checkpoint every worker has flushed: `next` from the reports before
//! it, `replay_from` from what the workers' open windows held there, and the
//! watermark of that cut. A restart rebuilds exactly that state. Bars are
//! whole-state upserts, so bars flushed after the cut (holding trades past
//! `next`) are simply rewritten when those trades are read again.

use crate::commit::CommitSender;
use crate::dataflow::Event;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tickflow_shared::codec::Reject;
use tickflow_shared::interval::Interval;
use tickflow_shared::store::{LateTrade, PartitionOffset, SpeedBar, SpeedCommit};
use tickflow_shared::watermark::Partition;
use tickflow_shared::{Bar, Symbol};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// A window operator's state after its input before time `at`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Flush {
    /// The global index of the worker.
    pub worker: usize,
    /// The timely time of the flush.
    pub at: u64,
    /// Whether it is a checkpoint: `held` is complete and the state is exactly that before `at`.
    pub checkpoint: bool,
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
    /// The bars to write, each key once (its last flush), in the order first flushed.
    bars: Vec<SpeedBar>,
    /// Where each key's bar is in `bars`: per series (interval, symbol), its
    /// `(start, slot)`s sorted by start. There are few series and each is
    /// mostly appended to, so a lookup stays in cache; one hash table of
    /// every key of a commit (300k of them while catching up) missed it on
    /// nearly every bar.
    series: FxHashMap<(Interval, Symbol), Vec<(i64, u32)>>,
    /// Per worker, the checkpoints not yet committed: `at → (watermark, held)`.
    checkpoints: BTreeMap<usize, BTreeMap<u64, Checkpoint>>,
    /// The cut of the last commit.
    committed: u64,
    /// `(partition, until) → (from, next)`, as the sources reported: the
    /// offsets before `next` went at times up to `from`, the later ones at
    /// `until` or after.
    reports: BTreeMap<(Partition, u64), (u64, u64)>,
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
            bars: Vec::new(),
            series: FxHashMap::default(),
            checkpoints: BTreeMap::new(),
            committed: 0,
            reports: BTreeMap::new(),
            next: BTreeMap::new(),
            late: Vec::new(),
            rejects: Vec::new(),
        }
    }

    /// Takes a source's report on `partition`: the offsets before `next`
    /// went at times up to `from`, every later one goes at `until` or after.
    /// It names the partition's prefix exactly for a cut `c` with `from < c ≤ until`.
    pub fn report(&mut self, partition: Partition, from: u64, until: u64, next: u64) {
        self.reports.insert((partition, until), (from, next));
    }

    /// The exact prefix of `partition` at cut `c`, if a report names it.
    fn prefix(&self, partition: Partition, c: u64) -> Option<u64> {
        let (&(p, _), &(from, next)) = self.reports.range((partition, c)..).next()?;
        (p == partition && from < c).then_some(next)
    }

    /// Takes a window operator's flush; later bars replace earlier ones.
    pub fn flush(&mut self, flush: Flush) {
        for (bar, is_final) in flush.bars {
            let series = self.series.entry((bar.interval, bar.symbol.clone())).or_default();
            let at = match series.last() {
                Some(&(last, _)) if last < bar.start => series.len(),
                None => 0,
                Some(_) => series.partition_point(|&(start, _)| start < bar.start),
            };
            match series.get(at) {
                Some(&(start, slot)) if start == bar.start => self.bars[slot as usize] = SpeedBar { bar, is_final },
                _ => {
                    series.insert(at, (bar.start, self.bars.len() as u32));
                    self.bars.push(SpeedBar { bar, is_final });
                }
            }
        }
        if flush.checkpoint {
            let checkpoint = Checkpoint { watermark: flush.watermark, held: flush.held };
            self.checkpoints.entry(flush.worker).or_default().insert(flush.at, checkpoint);
        }
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
        self.bars.is_empty() && self.late.is_empty() && self.rejects.is_empty() && self.cut().is_none()
    }

    /// The commit of everything gathered. Offsets are written when every
    /// worker has flushed a checkpoint newer than the last commit's.
    pub fn take(&mut self) -> SpeedCommit {
        // The next commit is likely as big: growing to it would copy every bar again.
        let capacity = self.bars.len();
        let mut commit = SpeedCommit {
            bars: std::mem::replace(&mut self.bars, Vec::with_capacity(capacity)),
            late: std::mem::take(&mut self.late),
            rejects: std::mem::take(&mut self.rejects),
            ..SpeedCommit::default()
        };
        // Emptied, not dropped: the same series come back in the next commit.
        self.series.values_mut().for_each(Vec::clear);
        let Some(cut) = self.cut() else {
            return commit;
        };
        let partitions: Vec<Partition> = self.reports.keys().map(|(p, _)| *p).collect();
        for partition in partitions {
            if let Some(next) = self.prefix(partition, cut) {
                let slot = self.next.entry(partition).or_insert(next);
                *slot = (*slot).max(next);
            }
        }
        // Later cuts are later: a report that ends before this one is done with.
        self.reports.retain(|&(_, until), _| until >= cut);
        let mut held: BTreeMap<Partition, u64> = BTreeMap::new();
        for checkpoints in self.checkpoints.values_mut() {
            let Some(checkpoint) = checkpoints.get(&cut) else { continue };
            commit.watermark = commit.watermark.max(checkpoint.watermark);
            for &(partition, offset) in &checkpoint.held {
                let slot = held.entry(partition).or_insert(offset);
                *slot = (*slot).min(offset);
            }
            checkpoints.retain(|at, _| *at > cut);
        }
        self.committed = cut;
        commit.offsets = self
            .next
            .iter()
            .map(|(&partition, &next)| PartitionOffset {
                topic: self.topic.clone(),
                partition,
                next_offset: next as i64,
                replay_from: held.get(&partition).map_or(next, |&h| h.min(next)) as i64,
                end_offset: None,
            })
            .collect();
        commit
    }

    /// The newest checkpoint every worker has flushed, newer than the last
    /// commit's, at which every reported partition's prefix is known.
    fn cut(&self) -> Option<u64> {
        if self.checkpoints.len() < self.workers {
            return None;
        }
        let mut workers = self.checkpoints.values();
        let first = workers.next()?;
        let others: Vec<_> = workers.collect();
        let partitions: Vec<Partition> = self.reports.keys().map(|(p, _)| *p).collect();
        first.keys().rev().take_while(|at| **at > self.committed).copied().find(|&at| {
            others.iter().all(|checkpoints| checkpoints.contains_key(&at))
                && partitions.iter().all(|&p| self.prefix(p, at).is_some())
        })
    }
}

/// A worker's exact state at a checkpoint, as far as a restart needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Checkpoint {
    watermark: Option<i64>,
    held: Vec<(Partition, u64)>,
}

/// The sink operator: gathers every worker's flushes, reports, late trades
/// and rejects on worker 0 and hands a commit to the committer at most every
/// `emit_interval`, and at once when the input ends. Whatever waits is sent
/// once the interval has passed, also when nothing more arrives.
pub fn commit(
    flushed: Stream<'_, u64, Vec<Event>>,
    topic: &str,
    workers: usize,
    emit_interval: Duration,
    sender: CommitSender,
) {
    let scope = flushed.scope();
    let mut builder = OperatorBuilder::new("Commit".to_owned(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let mut input = builder.new_input(flushed, Exchange::new(|_: &Event| 0));
    let topic = topic.to_owned();
    builder.build(move |_capabilities| {
        let mut pending = Pending::new(&topic, workers);
        let mut last = Instant::now();
        move |frontiers| {
            input.for_each_time(|_, data| {
                for event in data.flat_map(|batch| batch.drain(..)) {
                    gather(&mut pending, event, &topic);
                }
            });
            if pending.is_empty() {
                return;
            }
            let waited = last.elapsed();
            if frontiers[0].is_empty() || waited >= emit_interval {
                last = Instant::now();
                sender.send(pending.take());
            } else {
                activator.activate_after(emit_interval - waited);
            }
        }
    });
}

fn gather(pending: &mut Pending, event: Event, topic: &str) {
    match event {
        Event::Flush(flush) => pending.flush(flush),
        Event::Offsets { from, until, partition, next } => pending.report(partition, from, until, next),
        Event::Reject(reject) => pending.reject(reject),
        Event::Late { tick, partition, offset, reason } => {
            pending.late(LateTrade { tick, source: format!("{topic}/{partition}"), position: offset, reason })
        }
        Event::Trade { .. } => {}
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
        Flush { worker, at, checkpoint: true, watermark: Some(watermark), bars, held }
    }

    #[test]
    fn offsets_come_from_the_report_that_spans_the_newest_common_checkpoint() {
        let mut pending = Pending::new("ticks", 2);
        // Partition 0's capability went 0 → 2 → 5 → 9: offsets < 10 went at 0,
        // [10, 30) at 2, [30, 50) at 5, the rest at 9 or later.
        pending.report(0, 0, 2, 10);
        pending.report(0, 2, 5, 30);
        pending.report(0, 5, 9, 50);
        pending.flush(flush(0, 4, 300, vec![(bar("A", 1), false)], vec![(0, 7)]));
        let first = pending.take();
        assert_eq!(first.bars.len(), 1);
        assert!(first.offsets.is_empty(), "worker 1 has not flushed: no offsets yet");
        pending.flush(flush(0, 6, 500, vec![], vec![(0, 9)]));
        pending.flush(flush(1, 4, 300, vec![], vec![(0, 20)]));
        let second = pending.take();
        assert_eq!(second.offsets.len(), 1);
        assert_eq!(second.offsets[0].next_offset, 30, "the offsets sent before 4 (at 0 and 2)");
        assert_eq!(second.offsets[0].replay_from, 7, "what the open windows held at 4, not later");
        assert_eq!(second.watermark, Some(300));
        pending.flush(flush(1, 6, 500, vec![], vec![]));
        let third = pending.take();
        assert_eq!(third.offsets[0].next_offset, 50, "sent before 6 (at 5)");
        assert_eq!(third.offsets[0].replay_from, 9);
        assert!(pending.take().offsets.is_empty(), "no newer common checkpoint");
    }

    #[test]
    fn the_cut_is_the_newest_checkpoint_all_workers_share() {
        let mut pending = Pending::new("ticks", 2);
        pending.report(0, 0, 10, 10);
        pending.report(0, 10, 20, 20);
        pending.report(0, 20, 30, 30);
        for (worker, at) in [(0, 10), (0, 30), (1, 10), (1, 20)] {
            pending.flush(flush(worker, at, at as i64, vec![], vec![]));
        }
        let commit = pending.take();
        assert_eq!((commit.offsets[0].next_offset, commit.watermark), (10, Some(10)), "cut at 10, the one both have");
        pending.flush(flush(1, 30, 30, vec![], vec![]));
        assert_eq!(pending.take().offsets[0].next_offset, 30, "then at 30");
    }

    #[test]
    fn no_cut_where_a_partition_prefix_is_unknown() {
        let mut pending = Pending::new("ticks", 1);
        pending.report(0, 0, 10, 10);
        pending.report(1, 5, 10, 70);
        pending.flush(flush(0, 5, 5, vec![], vec![]));
        assert!(pending.take().offsets.is_empty(), "partition 1 went at 5: its prefix at 5 is not known");
        pending.flush(flush(0, 10, 10, vec![], vec![]));
        let offsets = pending.take().offsets;
        assert_eq!(offsets.iter().map(|o| (o.partition, o.next_offset)).collect::<Vec<_>>(), [(0, 10), (1, 70)]);
    }

    #[test]
    fn a_flush_that_is_no_checkpoint_moves_no_offset() {
        let mut pending = Pending::new("ticks", 1);
        pending.report(0, 0, 9, 10);
        pending.flush(Flush { checkpoint: false, ..flush(0, 4, 300, vec![(bar("A", 1), false)], vec![]) });
        let commit = pending.take();
        assert_eq!((commit.bars.len(), commit.offsets.len()), (1, 0));
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

    proptest::proptest! {
        /// Whatever the order of flushes, a commit holds each key's last
        /// flush once, in the order keys were first flushed since the last commit.
        #[test]
        fn a_commit_holds_each_key_once_at_its_last_flush(
            periods in proptest::collection::vec(
                proptest::collection::vec((0..3u8, 0..2usize, 0..6i64, 1..50u64), 0..40), 1..4),
        ) {
            let intervals = Interval::parse_list("1s,1m").expect("intervals");
            let mut pending = Pending::new("ticks", 1);
            for flushes in periods {
                let mut expected: Vec<SpeedBar> = Vec::new();
                for (i, &(symbol, interval, start, trades)) in flushes.iter().enumerate() {
                    let mut written = bar(&format!("S{symbol}"), trades);
                    (written.interval, written.start) = (intervals[interval], start * 60_000_000_000);
                    let speed = SpeedBar { bar: written.clone(), is_final: i % 3 == 0 };
                    let key = |b: &SpeedBar| (b.bar.interval, b.bar.symbol.clone(), b.bar.start);
                    match expected.iter_mut().find(|e| key(e) == key(&speed)) {
                        Some(earlier) => *earlier = speed,
                        None => expected.push(speed),
                    }
                    pending.flush(Flush { checkpoint: false, ..flush(0, i as u64, 0, vec![(written, i % 3 == 0)], vec![]) });
                }
                proptest::prop_assert_eq!(pending.take().bars, expected);
            }
        }
    }

    #[test]
    fn replay_from_never_exceeds_next() {
        let mut pending = Pending::new("ticks", 1);
        pending.report(2, 0, 1, 5);
        pending.flush(flush(0, 1, 0, vec![], vec![(2, 9)]));
        let commit = pending.take();
        assert_eq!((commit.offsets[0].next_offset, commit.offsets[0].replay_from), (5, 5));
    }
}
