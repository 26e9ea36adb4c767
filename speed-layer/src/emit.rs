//! The emit schedule that every window operator and the sink share: ticks of
//! `emit_interval` of wall-clock time since the Unix epoch.
//!
//! At the start of each tick every window operator flushes the provisional
//! bars that changed since its last tick (final bars go out at once, whenever
//! the frontier moves), and the sink commits as soon as every worker's flush
//! of that tick has arrived, or [`grace`](EmitClock::grace) into the tick if
//! one has not (a worker busy with a long batch, or clocks of a cluster apart
//! by more than that). So a provisional bar is written at most once per tick,
//! and a commit carries the bars as they were a moment before it. Because
//! the ticks come from the system clock, the workers of a cluster share them
//! without talking.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use timely::scheduling::Activator;

/// Wall-clock ticks of one emit interval; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmitClock {
    every_ns: u128,
}

impl EmitClock {
    /// Ticks of `every` (at least 1 ms).
    pub fn new(every: Duration) -> Self {
        Self { every_ns: every.as_nanos().max(1_000_000) }
    }

    /// The current tick: whole intervals since the Unix epoch.
    pub fn tick(&self) -> u64 {
        self.now().0
    }

    /// The current tick and how long it has run, from one reading of the clock.
    pub fn now(&self) -> (u64, Duration) {
        self.at(since_epoch())
    }

    /// How long until the next tick starts.
    pub fn until_next(&self) -> Duration {
        self.every() - self.now().1
    }

    /// How long into a tick the sink waits for workers that have not flushed it.
    pub fn grace(&self) -> Duration {
        self.every() / 8
    }

    fn every(&self) -> Duration {
        nanos(self.every_ns)
    }

    /// The tick at `ns` since the epoch, and how long it has run.
    fn at(&self, ns: u128) -> (u64, Duration) {
        (u64::try_from(ns / self.every_ns).unwrap_or(u64::MAX), nanos(ns % self.every_ns))
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
    fn ticks_are_whole_intervals_since_the_epoch() {
        let clock = EmitClock::new(Duration::from_millis(250));
        assert_eq!(clock.at(0), (0, Duration::ZERO));
        assert_eq!(clock.at(249_999_999), (0, Duration::from_nanos(249_999_999)));
        assert_eq!(clock.at(1_000_000_000), (4, Duration::ZERO), "four ticks a second");
        assert_eq!(clock.at(1_100_000_000), (4, Duration::from_millis(100)));
        assert_eq!(clock.grace(), Duration::from_micros(31_250));
        assert!(clock.until_next() <= Duration::from_millis(250));
        assert_eq!(EmitClock::new(Duration::ZERO).every(), Duration::from_millis(1), "at least 1 ms");
    }
}
