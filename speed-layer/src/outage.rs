//! Riding out an outage of the view store.
//!
//! The committer writes a commit again when it failed with a transient
//! error ([`StoreError::is_transient`]: the connection was lost, the server
//! is restarting), after waits that double from [`FIRST_WAIT`] up to
//! [`MAX_WAIT`]. Writing a commit twice is harmless: bars and offsets are
//! whole-state upserts, late trades and rejects are keyed by their position,
//! the watermark only moves forward, so a commit whose first attempt did
//! commit (the connection died after `COMMIT` was sent) changes nothing but
//! its bars' change numbers when written again. An outage is logged twice:
//! when it starts, with the reason, and when it ends, with how long it
//! lasted and how many attempts failed; never once per retry.

use std::time::{Duration, Instant};
use tickflow_shared::store::StoreError;

/// The wait after the first failed attempt.
pub const FIRST_WAIT: Duration = Duration::from_millis(100);

/// The longest wait between two attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// Waits between attempts: doubling from [`FIRST_WAIT`], capped at [`MAX_WAIT`].
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST_WAIT }
    }
}

impl Backoff {
    /// The wait before the next attempt.
    pub fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(MAX_WAIT);
        wait
    }
}

/// An outage in progress: since when, how many attempts failed, the next wait.
#[derive(Debug)]
pub struct Outage {
    started: Instant,
    failed: u64,
    backoff: Backoff,
}

impl Outage {
    /// An outage that the failed attempt `error` revealed; logs that it started.
    pub fn begin(error: &StoreError) -> Self {
        tracing::warn!(
            error = %error.with_causes(),
            max_wait_seconds = MAX_WAIT.as_secs_f64(),
            "The view store is unreachable; the speed job holds its commits and retries with backoff until \
             the store is back. Nothing is lost."
        );
        Self { started: Instant::now(), failed: 0, backoff: Backoff::default() }
    }

    /// Counts a failed attempt; returns the wait before the next.
    pub fn failed(&mut self) -> Duration {
        self.failed += 1;
        self.backoff.wait()
    }

    /// Attempts that failed so far.
    pub fn failures(&self) -> u64 {
        self.failed
    }

    /// Logs that the outage ended: a commit was written.
    pub fn end(self) {
        tracing::info!(
            down_seconds = self.started.elapsed().as_secs_f64(),
            failed_attempts = self.failed,
            "The view store is reachable again; speed commits resumed."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..9).map(|_| backoff.wait().as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }
}
