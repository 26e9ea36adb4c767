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
use crate::dedup::{Dedup, Flushed};
use crate::emit::{Alarm, EmitClock};
use std::collections::BTreeMap;
use tickflow_shared::Bar;
use tickflow_shared::codec::Reject;
use tickflow_shared::store::{LateTrade, PartitionOffset, SpeedCommit};
use tickflow_shared::watermark::Partition;
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
    /// The emit tick ([`crate::emit`]) whose phase's changed provisional bars it
    /// holds; `None` if it holds only bars that became final.
    pub tick: Option<u64>,
    /// The watermark its bars were finalised at, if any.
    pub watermark: Option<i64>,
    /// Bars that changed or became final.
    pub bars: Vec<(Bar, bool)>,
    /// The worker's emit period they belong to ([`Windows::period`]).
    ///
    /// [`Windows::period`]: crate::windows::Windows::period
    pub period: u32,
    /// Whether a bar in `bars` was flushed before in the same period.
    pub repeats: bool,
    /// Per partition, the lowest offset an open window holds.
    pub held: Vec<(Partition, u64)>,
}

/// Gathers flushes, offset reports, late trades and rejects between writes.
#[derive(Debug)]
pub struct Pending {
    topic: String,
    workers: usize,
    /// Per worker, the bars of every flush since the last commit, as
    /// flushed: moved, not copied, so the sink worker does nothing per bar.
    flushed: Vec<Flushed>,
    /// Per worker, the checkpoints not yet committed: `at → (watermark, held)`.
    checkpoints: BTreeMap<usize, BTreeMap<u64, Checkpoint>>,
    /// The cut of the last commit.
    committed: u64,
    /// Per worker, the last emit tick it flushed.
    ticks: Vec<u64>,
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
            flushed: (0..workers).map(|_| Flushed::default()).collect(),
            checkpoints: BTreeMap::new(),
            committed: 0,
            ticks: vec![0; workers],
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
        if let (Some(tick), Some(last)) = (flush.tick, self.ticks.get_mut(flush.worker)) {
            *last = (*last).max(tick);
        }
        if self.flushed.len() <= flush.worker {
            self.flushed.resize_with(flush.worker + 1, Flushed::default);
        }
        self.flushed[flush.worker].push(flush.bars, flush.period, flush.repeats);
        if flush.checkpoint {
            let checkpoint = Checkpoint { watermark: flush.watermark, held: flush.held };
            self.checkpoints.entry(flush.worker).or_default().insert(flush.at, checkpoint);
        }
    }

    /// Whether every worker has flushed emit tick `tick`.
    pub fn ticked(&self, tick: u64) -> bool {
        self.ticks.iter().all(|&last| last >= tick)
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
        self.flushed.iter().all(Flushed::is_empty)
            && self.late.is_empty()
            && self.rejects.is_empty()
            && self.cut().is_none()
    }

    /// The commit of everything gathered. Offsets are written when every
    /// worker has flushed a checkpoint newer than the last commit's.
    pub fn take(&mut self) -> Gathered {
        let mut gathered = Gathered {
            flushed: self.flushed.iter_mut().map(std::mem::take).collect(),
            commit: SpeedCommit {
                late: std::mem::take(&mut self.late),
                rejects: std::mem::take(&mut self.rejects),
                ..SpeedCommit::default()
            },
        };
        let Some(cut) = self.cut() else {
            return gathered;
        };
        let commit = &mut gathered.commit;
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
        gathered
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

/// What the sink hands the committer: a commit whose bars are still as flushed.
#[derive(Debug, Default)]
pub struct Gathered {
    /// The commit, without its bars.
    pub commit: SpeedCommit,
    /// Per worker, the bars of every flush, in order; [`Dedup`] folds them into `commit.bars`.
    pub flushed: Vec<Flushed>,
}

impl Gathered {
    /// Makes `commit` this one, its bars each key once at its last flush.
    /// The bars go into `commit`'s own vector, cleared first: a commit while
    /// catching up holds ~50 MB of bars, which a fresh vector would take
    /// from the kernel page by page and give back at each commit.
    pub fn fill(self, dedup: &mut Dedup, commit: &mut SpeedCommit) {
        let mut bars = std::mem::take(&mut commit.bars);
        bars.clear();
        dedup.join(self.flushed, &mut bars);
        *commit = SpeedCommit { bars, ..self.commit };
    }
}

/// A worker's exact state at a checkpoint, as far as a restart needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Checkpoint {
    watermark: Option<i64>,
    held: Vec<(Partition, u64)>,
}

/// The sink operator: gathers every worker's flushes, reports, late trades
/// and rejects on worker 0 and hands a commit to the committer once per emit
/// tick, as soon as every worker has flushed that tick or its grace has
/// passed ([`crate::emit`]), and at once when the input ends. Whatever waits
/// is sent in the next tick, also when nothing more arrives.
pub fn commit(
    flushed: Stream<'_, u64, Vec<Event>>,
    topic: &str,
    workers: usize,
    clock: EmitClock,
    sender: CommitSender,
) {
    let scope = flushed.scope();
    let mut builder = OperatorBuilder::new("Commit".to_owned(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let mut input = builder.new_input(flushed, Exchange::new(|_: &Event| 0));
    let topic = topic.to_owned();
    builder.build(move |_capabilities| {
        let mut pending = Pending::new(&topic, workers);
        let mut committed = 0;
        let mut alarm = Alarm::default();
        move |frontiers| {
            input.for_each_time(|_, data| {
                for event in data.flat_map(|batch| batch.drain(..)) {
                    gather(&mut pending, event, &topic);
                }
            });
            if pending.is_empty() {
                return;
            }
            let (tick, into) = clock.now();
            let ready = tick > committed && (pending.ticked(tick) || into >= clock.grace());
            if frontiers[0].is_empty() || ready {
                committed = tick;
                sender.send(pending.take());
            } else if tick > committed {
                alarm.set(&activator, clock.grace() - into);
            } else {
                alarm.set(&activator, clock.until_next());
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
    use tickflow_shared::interval::Interval;
    use tickflow_shared::{BarAcc, Price, Size, Symbol};

    /// What the committer writes of the next commit.
    fn take(pending: &mut Pending) -> SpeedCommit {
        let mut commit = SpeedCommit::default();
        pending.take().fill(&mut Dedup::default(), &mut commit);
        commit
    }

    fn bar(symbol: &str, trades: u64) -> Bar {
        let mut acc = BarAcc::default();
        for i in 0..trades {
            acc.push(i as i64, i, Price(100), Size(1));
        }
        let minute = Interval::parse_list("1m").expect("interval")[0];
        acc.finish(Symbol::new(symbol).expect("symbol"), minute, 0).expect("a bar")
    }

    fn flush(worker: usize, at: u64, watermark: i64, bars: Vec<(Bar, bool)>, held: Vec<(Partition, u64)>) -> Flush {
        Flush {
            worker,
            at,
            checkpoint: true,
            tick: None,
            watermark: Some(watermark),
            bars,
            period: 1,
            repeats: false,
            held,
        }
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
        let first = take(&mut pending);
        assert_eq!(first.bars.len(), 1);
        assert!(first.offsets.is_empty(), "worker 1 has not flushed: no offsets yet");
        pending.flush(flush(0, 6, 500, vec![], vec![(0, 9)]));
        pending.flush(flush(1, 4, 300, vec![], vec![(0, 20)]));
        let second = take(&mut pending);
        assert_eq!(second.offsets.len(), 1);
        assert_eq!(second.offsets[0].next_offset, 30, "the offsets sent before 4 (at 0 and 2)");
        assert_eq!(second.offsets[0].replay_from, 7, "what the open windows held at 4, not later");
        assert_eq!(second.watermark, Some(300));
        pending.flush(flush(1, 6, 500, vec![], vec![]));
        let third = take(&mut pending);
        assert_eq!(third.offsets[0].next_offset, 50, "sent before 6 (at 5)");
        assert_eq!(third.offsets[0].replay_from, 9);
        assert!(take(&mut pending).offsets.is_empty(), "no newer common checkpoint");
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
        let commit = take(&mut pending);
        assert_eq!((commit.offsets[0].next_offset, commit.watermark), (10, Some(10)), "cut at 10, the one both have");
        pending.flush(flush(1, 30, 30, vec![], vec![]));
        assert_eq!(take(&mut pending).offsets[0].next_offset, 30, "then at 30");
    }

    #[test]
    fn no_cut_where_a_partition_prefix_is_unknown() {
        let mut pending = Pending::new("ticks", 1);
        pending.report(0, 0, 10, 10);
        pending.report(1, 5, 10, 70);
        pending.flush(flush(0, 5, 5, vec![], vec![]));
        assert!(take(&mut pending).offsets.is_empty(), "partition 1 went at 5: its prefix at 5 is not known");
        pending.flush(flush(0, 10, 10, vec![], vec![]));
        let offsets = take(&mut pending).offsets;
        assert_eq!(offsets.iter().map(|o| (o.partition, o.next_offset)).collect::<Vec<_>>(), [(0, 10), (1, 70)]);
    }

    #[test]
    fn a_flush_that_is_no_checkpoint_moves_no_offset() {
        let mut pending = Pending::new("ticks", 1);
        pending.report(0, 0, 9, 10);
        pending.flush(Flush { checkpoint: false, ..flush(0, 4, 300, vec![(bar("A", 1), false)], vec![]) });
        let commit = take(&mut pending);
        assert_eq!((commit.bars.len(), commit.offsets.len()), (1, 0));
    }

    #[test]
    fn a_tick_is_flushed_once_every_worker_has_flushed_it() {
        let mut pending = Pending::new("ticks", 2);
        assert!(!pending.ticked(7));
        let at_tick = |worker, tick| Flush { worker, at: 1, tick: Some(tick), ..Flush::default() };
        pending.flush(at_tick(0, 7));
        assert!(!pending.ticked(7), "worker 1 has not flushed tick 7");
        pending.flush(Flush { worker: 1, at: 2, ..Flush::default() });
        assert!(!pending.ticked(7), "a flush of final bars only is no tick");
        pending.flush(at_tick(1, 8));
        assert!(pending.ticked(7) && !pending.ticked(8), "both have flushed 7, only worker 1 has flushed 8");
        pending.flush(at_tick(0, 6));
        assert!(pending.ticked(7), "an older tick arriving late changes nothing");
    }

    #[test]
    fn replay_from_never_exceeds_next() {
        let mut pending = Pending::new("ticks", 1);
        pending.report(2, 0, 1, 5);
        pending.flush(flush(0, 1, 0, vec![], vec![(2, 9)]));
        let commit = take(&mut pending);
        assert_eq!((commit.offsets[0].next_offset, commit.offsets[0].replay_from), (5, 5));
    }
}
