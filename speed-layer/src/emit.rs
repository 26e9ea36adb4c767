//! The emit schedule that every window operator and the sink share: ticks of
//! wall-clock time since the Unix epoch, [`PHASES`] to an `emit_interval`.
//!
//! A worker's symbols are spread over the phases of an interval (by their
//! ids: [`Phase`]). At the start of each tick every window operator flushes
//! the changed provisional bars of the symbols in that tick's phase (final
//! bars go out at once, whenever the frontier moves), and the sink commits
//! as soon as every worker's flush of that tick has arrived, or
//! [`grace`](EmitClock::grace) into the tick if one has not (a worker busy
//! with a long batch, or clocks of a cluster apart by more than that). So a
//! provisional bar is written at most once per emit interval, and a commit
//! carries the bars as they were a moment before it. Because the ticks come
//! from the system clock, the workers of a cluster share them without
//! talking.
//!
//! Why phases: a trade waits up to one emit interval for its bar's next
//! flush whatever the schedule, and then for the commit that writes it. One
//! commit of every changed bar per interval (3,000 rows at 100k trades/s
//! over 500 symbols and six intervals) keeps every trade of the interval
//! waiting for the whole upsert; a commit per phase writes an eighth of them.

use crate::windows::Phase;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use timely::scheduling::Activator;

/// Ticks shorter than this are not cut into phases any further.
const SHORTEST_TICK_NS: u128 = 1_000_000;

/// Phases of one emit interval, at most: its ticks are this much shorter.
pub const PHASES: u32 = 8;

/// Wall-clock ticks, [`PHASES`] to an emit interval; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmitClock {
    tick_ns: u128,
    phases: u32,
}

impl EmitClock {
    /// Ticks of `every / PHASES`, or fewer phases where a tick would be
    /// under 1 ms (`every` itself is at least 1 ms).
    pub fn new(every: Duration) -> Self {
        let every_ns = every.as_nanos().max(SHORTEST_TICK_NS);
        let fit = u32::try_from(every_ns / SHORTEST_TICK_NS).unwrap_or(u32::MAX).clamp(1, PHASES);
        let phases = 1 << fit.ilog2();
        Self { tick_ns: every_ns / u128::from(phases), phases }
    }

    /// The current tick: whole ticks since the Unix epoch.
    pub fn tick(&self) -> u64 {
        self.now().0
    }

    /// Whose changed provisional bars are flushed at `tick`.
    pub fn phase(&self, tick: u64) -> Phase {
        Phase::new((tick % u64::from(self.phases)) as u32, self.phases)
    }

    /// The current tick and how long it has run, from one reading of the clock.
    pub fn now(&self) -> (u64, Duration) {
        self.at(since_epoch())
    }

    /// How long until the next tick starts.
    pub fn until_next(&self) -> Duration {
        self.length() - self.now().1
    }

    /// How long into a tick the sink waits for workers that have not flushed it.
    pub fn grace(&self) -> Duration {
        self.length() / 4
    }

    fn length(&self) -> Duration {
        nanos(self.tick_ns)
    }

    /// The tick at `ns` since the epoch, and how long it has run.
    fn at(&self, ns: u128) -> (u64, Duration) {
        (u64::try_from(ns / self.tick_ns).unwrap_or(u64::MAX), nanos(ns % self.tick_ns))
    }
}

/// One pending wake-up of an operator: asking again for the same or a later
/// moment does nothing, so an operator that runs at every batch does not pile
/// up timers.
#[derive(Debug, Default)]
pub struct Alarm {
    at: Option<Instant>,
}

impl Alarm {
    /// Makes sure `activator` runs `after` from now, or sooner.
    pub fn set(&mut self, activator: &Activator, after: Duration) {
        let now = Instant::now();
        let wanted = now + after;
        if self.at.is_some_and(|at| at > now && at <= wanted) {
            return;
        }
        activator.activate_after(after);
        self.at = Some(wanted);
    }
}

fn since_epoch() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn nanos(ns: u128) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_phases_of_the_interval_since_the_epoch() {
        let clock = EmitClock::new(Duration::from_millis(250));
        let tick = Duration::from_micros(31_250);
        assert_eq!(clock.at(0), (0, Duration::ZERO));
        assert_eq!(clock.at(31_249_999), (0, Duration::from_nanos(31_249_999)));
        assert_eq!(clock.at(1_000_000_000), (32, Duration::ZERO), "eight ticks per interval, four intervals a second");
        assert_eq!(clock.at(1_010_000_000), (32, Duration::from_millis(10)));
        assert_eq!(clock.grace(), tick / 4);
        assert!(clock.until_next() <= tick);
        assert_eq!(clock.phase(32), clock.phase(40), "a phase comes back once per interval");
        assert_ne!(clock.phase(32), clock.phase(33));
        assert_eq!(clock.phase(33), Phase::new(1, 8));
    }

    #[test]
    fn short_intervals_have_fewer_phases_of_at_least_a_millisecond() {
        let phases = |ms| {
            let clock = EmitClock::new(Duration::from_millis(ms));
            (clock.phases, clock.length())
        };
        assert_eq!(phases(0), (1, Duration::from_millis(1)), "at least 1 ms");
        assert_eq!(phases(3), (2, Duration::from_micros(1_500)));
        assert_eq!(phases(7), (4, Duration::from_micros(1_750)));
        assert_eq!(phases(8), (8, Duration::from_millis(1)));
        assert_eq!(phases(1_000), (8, Duration::from_millis(125)));
    }
}
