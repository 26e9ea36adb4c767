//! What the store keeps: speed bars the batch view superseded long enough
//! ago, late trades and rejects are dropped after their own ages (issue 22).
//!
//! The batch layer applies the policy after each publish
//! ([`BatchStore::apply_retention`](super::BatchStore::apply_retention)).
//! On TimescaleDB whole daily chunks of `speed_bars` go by `drop_chunks`;
//! what is left (and everything on plain PostgreSQL and SQLite) goes by
//! deletes of at most [`BATCH`] rows, each its own transaction, so no lock
//! is held long. Late trades and rejects are keyed by where they were read,
//! not by time, so they stay plain tables and go by bounded deletes too.

use std::time::Duration;

/// Rows one delete removes at most.
pub const BATCH: i64 = 10_000;

/// How long each kind of row is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retention {
    /// Speed bars that start this long before the batch boundary are dropped
    /// (the batch view has served them since).
    pub speed_after_boundary: Duration,
    /// Late trades recorded this long ago are dropped.
    pub late_trades: Duration,
    /// Rejects recorded this long ago are dropped.
    pub rejects: Duration,
}

impl Retention {
    /// Seven days of superseded speed bars, thirty of late trades and rejects.
    pub const DEFAULT: Retention = Retention {
        speed_after_boundary: Duration::from_secs(7 * 86_400),
        late_trades: Duration::from_secs(30 * 86_400),
        rejects: Duration::from_secs(30 * 86_400),
    };
}

impl Default for Retention {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What one application of the policy dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retained {
    /// Speed bars deleted row by row.
    pub speed_bars: u64,
    /// Whole chunks of speed bars dropped (TimescaleDB).
    pub speed_chunks: u64,
    /// Late trades deleted.
    pub late_trades: u64,
    /// Rejects deleted.
    pub rejects: u64,
}

/// The cut-offs (ns since the epoch) of `policy` at `now` with the batch
/// boundary `boundary`: speed bars that start before the first, late trades
/// and rejects seen before the others. No boundary, no speed cut-off.
pub(crate) fn cutoffs(policy: &Retention, now: i64, boundary: Option<i64>) -> (Option<i64>, i64, i64) {
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    (
        boundary.map(|b| b.saturating_sub(nanos(policy.speed_after_boundary))),
        now.saturating_sub(nanos(policy.late_trades)),
        now.saturating_sub(nanos(policy.rejects)),
    )
}
