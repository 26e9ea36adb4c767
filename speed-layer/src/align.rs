//! Event-time alignment of one worker's partitions while they catch up.
//!
//! Read at full speed, a partition with fewer trades per second of event
//! time gets ahead in event time, while the watermark (their minimum) waits
//! for the slowest: every bar of the partitions ahead is written provisional
//! first and final later. Like Flink's watermark alignment, a partition with
//! a backlog whose newest event time is more than `bound` past that of the
//! slowest partition with a backlog is paused, and resumed once that one is
//! within half the bound. The workers of one process align with each other
//! too ([`Reading`]): a worker ahead of another waits for it, while its
//! window operator goes on with what the others read. Partitions read to
//! their end (live input) are never held back, and the slowest partition of
//! the process is never paused.

use crate::input::Input;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tickflow_shared::watermark::Partition;

/// Where each worker of this process is reading: the newest event time of
/// its slowest partition with a backlog, `i64::MAX` when it has none.
#[derive(Debug)]
pub struct Reading(Vec<AtomicI64>);

impl Reading {
    /// No worker of `workers` holds the others back.
    pub fn new(workers: usize) -> Self {
        Self((0..workers).map(|_| AtomicI64::new(i64::MAX)).collect())
    }

    fn set(&self, worker: usize, ts: i64) {
        if let Some(slot) = self.0.get(worker) {
            slot.store(ts, Ordering::Relaxed);
        }
    }

    fn others(&self, worker: usize) -> i64 {
        let values = self.0.iter().enumerate().filter(|(i, _)| *i != worker);
        values.map(|(_, v)| v.load(Ordering::Relaxed)).min().unwrap_or(i64::MAX)
    }
}

/// The partitions one worker holds back; see the [module docs](self).
#[derive(Debug)]
pub struct Alignment {
    bound: i64,
    paused: BTreeSet<Partition>,
    reading: Arc<Reading>,
    worker: usize,
}

impl Alignment {
    /// Holds back the partitions of local `worker` that get more than
    /// `bound` of event time ahead of the slowest in `reading`.
    pub fn new(bound: Duration, reading: Arc<Reading>, worker: usize) -> Self {
        let bound = i64::try_from(bound.as_nanos()).unwrap_or(i64::MAX).max(1);
        Self { bound, paused: BTreeSet::new(), reading, worker }
    }

    /// Publishes where this worker reads and pauses and resumes partitions
    /// of `input`, given the newest event time of every partition that has
    /// a backlog; any other partition it held back is resumed.
    pub fn update(&mut self, backlogged: &[(Partition, i64)], input: &mut dyn Input) {
        let local = backlogged.iter().map(|&(_, ts)| ts).min().unwrap_or(i64::MAX);
        self.reading.set(self.worker, local);
        let slowest = local.min(self.reading.others(self.worker));
        let resume_at = slowest.saturating_add(self.bound / 2);
        let pause_at = slowest.saturating_add(self.bound);
        let released: Vec<Partition> = (self.paused.iter().copied())
            .filter(|p| backlogged.iter().find(|(q, _)| q == p).is_none_or(|&(_, ts)| ts <= resume_at))
            .collect();
        for partition in released {
            self.paused.remove(&partition);
            input.resume(partition);
        }
        for &(partition, ts) in backlogged {
            if ts > pause_at && self.paused.insert(partition) {
                input.pause(partition);
            }
        }
    }

    /// Whether `partition` is held back.
    pub fn is_paused(&self, partition: Partition) -> bool {
        self.paused.contains(&partition)
    }

    /// This worker reads no more: it holds no other back.
    pub fn finish(&self) {
        self.reading.set(self.worker, i64::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{Polled, Record};

    /// An input that only records what was paused.
    #[derive(Default)]
    struct Paused(BTreeSet<Partition>);

    impl Input for Paused {
        fn poll(&mut self, _: &mut Vec<Record>, _: usize, _: &mut Vec<Partition>) -> Result<Polled, String> {
            Ok(Polled::default())
        }

        fn pause(&mut self, partition: Partition) {
            self.0.insert(partition);
        }

        fn resume(&mut self, partition: Partition) {
            self.0.remove(&partition);
        }
    }

    const S: i64 = 1_000_000_000;

    fn alone(bound: Duration) -> Alignment {
        Alignment::new(bound, Arc::new(Reading::new(1)), 0)
    }

    #[test]
    fn a_partition_ahead_waits_until_the_slowest_is_within_half_the_bound() {
        let (mut align, mut input) = (alone(Duration::from_secs(10)), Paused::default());
        align.update(&[(0, 100 * S), (1, 105 * S), (2, 111 * S)], &mut input);
        assert_eq!(input.0, BTreeSet::from([2]), "only the one more than 10 s ahead");
        align.update(&[(0, 103 * S), (1, 106 * S), (2, 111 * S)], &mut input);
        assert!(align.is_paused(2), "8 s ahead: still more than half the bound");
        align.update(&[(0, 106 * S), (1, 107 * S), (2, 111 * S)], &mut input);
        assert!(input.0.is_empty(), "5 s ahead: resumed");
    }

    #[test]
    fn a_partition_held_back_resumes_when_the_others_have_no_backlog() {
        let (mut align, mut input) = (alone(Duration::from_secs(1)), Paused::default());
        align.update(&[(0, 0), (1, 5 * S)], &mut input);
        assert_eq!(input.0, BTreeSet::from([1]));
        align.update(&[(1, 5 * S)], &mut input);
        assert!(input.0.is_empty(), "partition 0 is live: 1 is the slowest with a backlog");
        align.update(&[], &mut input);
        assert!(input.0.is_empty());
    }

    #[test]
    fn a_worker_ahead_waits_for_the_others_until_they_catch_up_or_finish() {
        let reading = Arc::new(Reading::new(2));
        let bound = Duration::from_secs(10);
        let (mut ahead, mut behind) = (Alignment::new(bound, reading.clone(), 0), Alignment::new(bound, reading, 1));
        let (mut input, mut other) = (Paused::default(), Paused::default());
        behind.update(&[(1, 100 * S)], &mut other);
        ahead.update(&[(0, 120 * S), (2, 124 * S)], &mut input);
        assert_eq!(input.0, BTreeSet::from([0, 2]), "both more than 10 s ahead of worker 1");
        assert!(other.0.is_empty(), "the slowest partition of the process reads on");
        behind.update(&[(1, 116 * S)], &mut other);
        ahead.update(&[(0, 120 * S), (2, 124 * S)], &mut input);
        assert_eq!(input.0, BTreeSet::from([2]), "partition 0 is within 5 s again");
        behind.finish();
        ahead.update(&[(0, 120 * S), (2, 124 * S)], &mut input);
        assert!(input.0.is_empty(), "worker 1 is done: partition 2 is within 5 s of 0");
    }
}
