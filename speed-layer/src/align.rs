//! Event-time alignment of one worker's partitions while they catch up.
//!
//! Read at full speed, a partition with fewer trades per second of event
//! time gets ahead in event time, while the watermark (their minimum) waits
//! for the slowest: every bar of the partitions ahead is written provisional
//! first and final later. Like Flink's watermark alignment, a partition with
//! a backlog whose newest event time is more than `bound` past that of the
//! slowest partition with a backlog is paused, and resumed once that one is
//! within half the bound. Partitions read to their end (live input) are
//! never held back, and the slowest partition is never paused. Workers do
//! not wait for each other: pausing a worker's every partition left its
//! core idle (1m bars only: 3.6M → 2.8M trades/s per core).

use std::collections::BTreeSet;
use std::time::Duration;
use tickflow_shared::input::Input;
use tickflow_shared::watermark::Partition;

/// The partitions one worker holds back; see the [module docs](self).
#[derive(Debug)]
pub struct Alignment {
    bound: i64,
    paused: BTreeSet<Partition>,
}

impl Alignment {
    /// Holds back the partitions that get more than `bound` of event time
    /// ahead of the slowest.
    pub fn new(bound: Duration) -> Self {
        Self { bound: i64::try_from(bound.as_nanos()).unwrap_or(i64::MAX).max(1), paused: BTreeSet::new() }
    }

    /// Pauses and resumes partitions of `input` given the newest event time
    /// of every partition that has a backlog; any other partition it held
    /// back is resumed.
    pub fn update(&mut self, backlogged: &[(Partition, i64)], input: &mut dyn Input) {
        let slowest = backlogged.iter().map(|&(_, ts)| ts).min().unwrap_or(i64::MAX);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::input::{InputError, Polled, Record};

    /// An input that only records what was paused.
    #[derive(Default)]
    struct Paused(BTreeSet<Partition>);

    impl Input for Paused {
        fn poll(&mut self, _: &mut Vec<Record>, _: usize, _: &mut Vec<Partition>) -> Result<Polled, InputError> {
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

    #[test]
    fn a_partition_ahead_waits_until_the_slowest_is_within_half_the_bound() {
        let (mut align, mut input) = (Alignment::new(Duration::from_secs(10)), Paused::default());
        align.update(&[(0, 100 * S), (1, 105 * S), (2, 111 * S)], &mut input);
        assert_eq!(input.0, BTreeSet::from([2]), "only the one more than 10 s ahead");
        align.update(&[(0, 103 * S), (1, 106 * S), (2, 111 * S)], &mut input);
        assert!(align.is_paused(2), "8 s ahead: still more than half the bound");
        align.update(&[(0, 106 * S), (1, 107 * S), (2, 111 * S)], &mut input);
        assert!(input.0.is_empty(), "5 s ahead: resumed");
    }

    #[test]
    fn a_partition_held_back_resumes_when_the_others_have_no_backlog() {
        let (mut align, mut input) = (Alignment::new(Duration::from_secs(1)), Paused::default());
        align.update(&[(0, 0), (1, 5 * S)], &mut input);
        assert_eq!(input.0, BTreeSet::from([1]));
        align.update(&[(1, 5 * S)], &mut input);
        assert!(input.0.is_empty(), "partition 0 is live: 1 is the slowest with a backlog");
        align.update(&[], &mut input);
        assert!(input.0.is_empty());
    }
}
