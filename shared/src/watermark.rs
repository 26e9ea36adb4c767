//! Event-time progress across the partitions one worker reads.
//!
//! [`Watermarks`] follows Flink's bounded-out-of-orderness strategy with
//! idleness. Each partition contributes `highest event time seen −
//! max_out_of_orderness`; the watermark is the minimum over the *active*
//! partitions. A watermark `W` is a promise about the future: no trade with
//! `ts < W` is expected any more, so a window `[start, end)` is complete once
//! `end ≤ W`.
//!
//! A partition that delivered nothing for `idle_timeout` is *idle* and stops
//! holding the watermark back; the next trade makes it active again. A
//! partition that is owned but never delivered anything counts as silent since
//! it was added (at [`Watermarks::new`] or [`Watermarks::assign`]): it holds
//! the watermark back (at `None` if no partition has data) until it turns idle
//! `idle_timeout` later, as in Flink. When every partition is idle the
//! watermark stays where it is: silence is not evidence that time has passed.
//!
//! The watermark never goes backwards. A partition that resumes behind it
//! (after being idle, or newly assigned) holds it where it is until it catches
//! up; its trades behind the watermark are late for the caller to judge.
//!
//! Time is passed in, never read: `now` is the caller's monotonic clock as a
//! [`Duration`] from any fixed origin (`origin.elapsed()` of an
//! [`std::time::Instant`]), so every rule here is testable without sleeping.

use std::time::Duration;

/// A partition of the input topic (Kafka numbers them with `i32`).
pub type Partition = i32;

/// How the watermark is derived; built into [`Watermarks`] by [`Watermarks::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatermarkConfig {
    /// How far behind the highest event time seen in a partition a trade may
    /// still arrive without being late. Default 2 s.
    pub max_out_of_orderness: Duration,
    /// How long a partition may deliver nothing before it stops holding the
    /// watermark back, on the caller's clock. Default 10 s.
    pub idle_timeout: Duration,
}

impl WatermarkConfig {
    /// The default `max_out_of_orderness`: 2 s.
    pub const fn default_max_out_of_orderness() -> Duration {
        Duration::from_secs(2)
    }

    /// The default `idle_timeout`: 10 s.
    pub const fn default_idle_timeout() -> Duration {
        Duration::from_secs(10)
    }
}

impl Default for WatermarkConfig {
    fn default() -> Self {
        Self { max_out_of_orderness: Self::default_max_out_of_orderness(), idle_timeout: Self::default_idle_timeout() }
    }
}

/// What is known about one partition, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition.
    pub partition: Partition,
    /// The highest event time seen, `None` before its first trade.
    pub max_ts: Option<i64>,
    /// When it last delivered a trade (or was added, if it never did), on the caller's clock.
    pub last_active: Duration,
    /// Whether it is idle at the `now` asked about.
    pub idle: bool,
}

#[derive(Clone, Copy, Debug)]
struct State {
    partition: Partition,
    max_ts: Option<i64>,
    last_active: Duration,
    /// The reader is behind the end of the partition's log.
    backlog: bool,
}

/// The watermark of a set of partitions; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Watermarks {
    out_of_orderness: i64,
    idle_timeout: Duration,
    partitions: Vec<State>,
    /// Index of the partition observed last: consecutive trades mostly share one.
    last: usize,
    current: Option<i64>,
}

impl Watermarks {
    /// Tracks the `owned` partitions from `now`; each holds the watermark back
    /// until it delivers data or has been silent for `idle_timeout`.
    pub fn new(owned: impl IntoIterator<Item = Partition>, config: WatermarkConfig, now: Duration) -> Self {
        let mut watermarks = Self {
            out_of_orderness: i64::try_from(config.max_out_of_orderness.as_nanos()).unwrap_or(i64::MAX),
            idle_timeout: config.idle_timeout,
            partitions: Vec::new(),
            last: 0,
            current: None,
        };
        for partition in owned {
            watermarks.assign(partition, now);
        }
        watermarks
    }

    /// Adds an owned partition (after a rebalance); like one given to [`new`](Self::new),
    /// it counts as silent since `now`. A partition already tracked is left as it is.
    pub fn assign(&mut self, partition: Partition, now: Duration) {
        if self.index(partition).is_none() {
            self.partitions.push(State { partition, max_ts: None, last_active: now, backlog: false });
        }
    }

    /// Stops tracking a partition (revoked in a rebalance); the watermark does not move back.
    pub fn revoke(&mut self, partition: Partition) {
        self.partitions.retain(|p| p.partition != partition);
        self.last = 0;
    }

    /// Records a trade (or the highest event time of a batch) from `partition`
    /// at `now`; an unknown partition is assigned first.
    #[inline]
    pub fn observe(&mut self, partition: Partition, ts: i64, now: Duration) {
        let index = match self.partitions.get(self.last) {
            Some(p) if p.partition == partition => self.last,
            _ => self.locate(partition, now),
        };
        let state = &mut self.partitions[index];
        state.max_ts = Some(state.max_ts.map_or(ts, |max| max.max(ts)));
        state.last_active = now;
    }

    #[cold]
    fn locate(&mut self, partition: Partition, now: Duration) -> usize {
        self.assign(partition, now);
        self.last = self.index(partition).unwrap_or(0);
        self.last
    }

    /// Says whether the reader of `partition` is behind the end of its log
    /// (it read records and has not reached the end, or it is paused): such
    /// a partition never turns idle. When the backlog clears at `now`, the
    /// partition's silence counts from `now`. An unknown partition is assigned first.
    pub fn set_backlog(&mut self, partition: Partition, backlog: bool, now: Duration) {
        let index = self.locate(partition, now);
        let state = &mut self.partitions[index];
        if state.backlog && !backlog {
            state.last_active = state.last_active.max(now);
        }
        state.backlog = backlog;
    }

    /// Says that the input could not be read at `now` (its broker was
    /// unreachable): what no partition delivered meanwhile is the input's
    /// silence, not the market's, so every partition's silence counts from
    /// `now`. Without it, an outage longer than `idle_timeout` turns every
    /// partition idle, and the first to deliver its backlog afterwards moves
    /// the watermark past the backlogs of the others, whose trades turn late.
    pub fn unavailable(&mut self, now: Duration) {
        for state in &mut self.partitions {
            state.last_active = state.last_active.max(now);
        }
    }

    fn index(&self, partition: Partition) -> Option<usize> {
        self.partitions.iter().position(|p| p.partition == partition)
    }

    fn is_idle(&self, state: &State, now: Duration) -> bool {
        !state.backlog && now.saturating_sub(state.last_active) >= self.idle_timeout
    }

    /// The watermark at `now`: the minimum over active partitions of `max_ts −
    /// max_out_of_orderness`, never below an earlier answer. `None` until it
    /// is first known (some partition has data and every active one does).
    pub fn watermark(&mut self, now: Duration) -> Option<i64> {
        let mut candidate: Option<i64> = None;
        for state in &self.partitions {
            if self.is_idle(state, now) {
                continue;
            }
            match state.max_ts {
                // An active partition without data yet: nothing may be promised.
                None => return self.current,
                Some(max) => {
                    let mark = max.saturating_sub(self.out_of_orderness);
                    candidate = Some(candidate.map_or(mark, |c| c.min(mark)));
                }
            }
        }
        if let Some(candidate) = candidate {
            self.current = Some(self.current.map_or(candidate, |c| c.max(candidate)));
        }
        self.current
    }

    /// The last watermark [`watermark`](Self::watermark) returned, without re-evaluating idleness.
    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// The tracked partitions as they are at `now`, in the order they were added.
    pub fn partitions(&self, now: Duration) -> impl Iterator<Item = PartitionInfo> + '_ {
        self.partitions.iter().map(move |state| self.info(state, now))
    }

    /// One partition as it is at `now`, if tracked.
    pub fn partition(&self, partition: Partition, now: Duration) -> Option<PartitionInfo> {
        self.partitions.iter().find(|p| p.partition == partition).map(|state| self.info(state, now))
    }

    fn info(&self, state: &State, now: Duration) -> PartitionInfo {
        PartitionInfo {
            partition: state.partition,
            max_ts: state.max_ts,
            last_active: state.last_active,
            idle: self.is_idle(state, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    fn at(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn tracker(owned: &[Partition]) -> Watermarks {
        Watermarks::new(owned.iter().copied(), WatermarkConfig::default(), at(0))
    }

    #[test]
    fn defaults_are_two_seconds_and_ten_seconds() {
        let config = WatermarkConfig::default();
        assert_eq!((config.max_out_of_orderness, config.idle_timeout), (at(2), at(10)));
    }

    #[test]
    fn no_watermark_before_any_data() {
        let mut marks = tracker(&[0, 1]);
        assert_eq!(marks.watermark(at(1)), None);
        assert_eq!(marks.watermark(at(60)), None, "all idle and no data: still nothing to promise");
        let mut empty = tracker(&[]);
        assert_eq!(empty.watermark(at(1)), None);
    }

    #[test]
    fn watermark_is_the_minimum_over_partitions_minus_the_bound() {
        let mut marks = tracker(&[0, 1]);
        marks.observe(0, 100 * S, at(1));
        assert_eq!(marks.watermark(at(1)), None, "partition 1 owned, silent, not yet idle");
        marks.observe(1, 50 * S, at(1));
        assert_eq!(marks.watermark(at(1)), Some(48 * S));
        marks.observe(1, 70 * S, at(2));
        marks.observe(1, 60 * S, at(2));
        assert_eq!(marks.watermark(at(2)), Some(68 * S), "max seen, not last seen");
        marks.observe(1, 200 * S, at(3));
        assert_eq!(marks.watermark(at(3)), Some(98 * S));
    }

    #[test]
    fn owned_partition_without_data_holds_back_until_idle() {
        let mut marks = tracker(&[0, 1]);
        marks.observe(0, 100 * S, at(5));
        assert_eq!(marks.watermark(at(9)), None);
        assert_eq!(marks.watermark(at(10)), Some(98 * S), "partition 1 silent since start for 10 s");
        assert!(marks.partition(1, at(10)).expect("tracked").idle);
    }

    #[test]
    fn idle_partition_stops_holding_back_and_resumes() {
        let mut marks = tracker(&[0, 1]);
        marks.observe(0, 100 * S, at(0));
        marks.observe(1, 10 * S, at(0));
        assert_eq!(marks.watermark(at(0)), Some(8 * S));
        // Partition 0 keeps delivering; partition 1 falls silent.
        marks.observe(0, 150 * S, at(9));
        assert_eq!(marks.watermark(at(9)), Some(8 * S));
        marks.observe(0, 160 * S, at(10));
        assert_eq!(marks.watermark(at(10)), Some(158 * S), "partition 1 idle after 10 s");
        // Partition 1 resumes ahead of the watermark: it holds it back again.
        marks.observe(1, 159 * S, at(11));
        marks.observe(0, 300 * S, at(11));
        assert_eq!(marks.watermark(at(11)), Some(158 * S), "157 s from partition 1 would be a step back");
        marks.observe(1, 170 * S, at(12));
        assert_eq!(marks.watermark(at(12)), Some(168 * S), "held back by the resumed partition");
        assert!(!marks.partition(1, at(12)).expect("tracked").idle);
    }

    #[test]
    fn a_partition_with_a_backlog_never_turns_idle_and_is_silent_from_catching_up() {
        let mut marks = tracker(&[0, 1]);
        marks.observe(0, 100 * S, at(0));
        marks.observe(1, 10 * S, at(0));
        marks.set_backlog(1, true, at(0));
        marks.observe(0, 500 * S, at(30));
        assert_eq!(marks.watermark(at(30)), Some(8 * S), "partition 1 is behind its log: it holds the watermark");
        assert!(!marks.partition(1, at(30)).expect("tracked").idle);
        marks.set_backlog(1, false, at(40));
        marks.observe(0, 500 * S, at(49));
        assert_eq!(marks.watermark(at(49)), Some(8 * S), "silent for 9 s since it caught up");
        assert_eq!(marks.watermark(at(50)), Some(498 * S), "idle 10 s after catching up");
    }

    /// Issue 21's broker restart: an outage longer than `idle_timeout` made
    /// every partition idle, the first backlog read afterwards moved the
    /// watermark past the others', and 3,404 of their trades turned late.
    #[test]
    fn an_unavailable_input_turns_no_partition_idle() {
        let mut marks = tracker(&[0, 1]);
        marks.observe(0, 100 * S, at(0));
        marks.observe(1, 100 * S, at(0));
        for second in 1..=14 {
            marks.unavailable(at(second));
        }
        // Back after 15 s: partition 0's backlog arrives first.
        marks.observe(0, 400 * S, at(15));
        assert_eq!(marks.watermark(at(15)), Some(98 * S), "partition 1 was silent for 1 s, not 15");
        marks.observe(1, 390 * S, at(15));
        assert_eq!(marks.watermark(at(15)), Some(388 * S));
        marks.observe(0, 400 * S, at(24));
        assert_eq!(marks.watermark(at(25)), Some(398 * S), "silence after the outage still counts");
    }

    #[test]
    fn resumed_partition_behind_cannot_pull_the_watermark_back() {
        let mut marks = tracker(&[0, 1]);
        marks.observe(0, 100 * S, at(9));
        assert_eq!(marks.watermark(at(10)), Some(98 * S));
        marks.observe(1, 20 * S, at(11));
        marks.observe(0, 120 * S, at(11));
        assert_eq!(marks.watermark(at(11)), Some(98 * S));
        marks.observe(1, 110 * S, at(12));
        assert_eq!(marks.watermark(at(12)), Some(108 * S));
    }

    #[test]
    fn all_idle_keeps_the_watermark() {
        let mut marks = tracker(&[0]);
        marks.observe(0, 100 * S, at(0));
        assert_eq!(marks.watermark(at(1)), Some(98 * S));
        assert_eq!(marks.watermark(at(3600)), Some(98 * S));
        assert_eq!(marks.current(), Some(98 * S));
    }

    #[test]
    fn unknown_partition_is_assigned_and_revoked_one_stops_counting() {
        let mut marks = tracker(&[0]);
        marks.observe(0, 100 * S, at(0));
        marks.observe(7, 50 * S, at(0));
        assert_eq!(marks.watermark(at(0)), Some(48 * S));
        marks.revoke(7);
        marks.observe(0, 100 * S, at(1));
        assert_eq!(marks.watermark(at(1)), Some(98 * S));
        assert_eq!(marks.partition(7, at(1)), None);
    }

    #[test]
    fn partition_info_reports_max_seen_and_idleness() {
        let mut marks = tracker(&[3, 4]);
        marks.observe(3, 42, at(2));
        marks.observe(3, 41, at(4));
        let infos: Vec<_> = marks.partitions(at(12)).collect();
        assert_eq!(
            infos,
            [
                PartitionInfo { partition: 3, max_ts: Some(42), last_active: at(4), idle: false },
                PartitionInfo { partition: 4, max_ts: None, last_active: at(0), idle: true },
            ]
        );
    }

    proptest! {
        /// Whatever is observed when, the watermark never goes back, never
        /// promises more than the most advanced partition allows, and is never
        /// above a partition that was active with data when it was computed.
        #[test]
        fn watermark_is_monotone_and_bounded(
            steps in prop::collection::vec((0i32..3, 0i64..1_000, 0u64..4, any::<bool>()), 1..80),
        ) {
            let config = WatermarkConfig { max_out_of_orderness: Duration::from_nanos(10), idle_timeout: at(5) };
            let mut marks = Watermarks::new([0, 1, 2], config, at(0));
            let (mut now, mut last, mut highest) = (at(0), None, i64::MIN);
            for (partition, ts, dt, ask) in steps {
                now += at(dt);
                marks.observe(partition, ts, now);
                highest = highest.max(ts);
                if ask {
                    let mark = marks.watermark(now);
                    prop_assert!(mark >= last, "{mark:?} < {last:?}");
                    if let Some(mark) = mark {
                        prop_assert!(mark <= highest - 10);
                    }
                    for info in marks.partitions(now) {
                        if let (false, Some(max), Some(mark)) = (info.idle, info.max_ts, mark)
                            && mark > last.unwrap_or(i64::MIN)
                        {
                            prop_assert!(mark <= max - 10, "advanced past active partition {info:?}");
                        }
                    }
                    last = mark;
                }
            }
        }
    }
}
