//! Trades that no bar takes, and why.

use std::fmt;
use std::time::Duration;
use tickflow_shared::time::{MAX_EVENT_TIME, MIN_EVENT_TIME, format_rfc3339};

/// A trade that was not applied to any bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Late {
    /// The trade's event time.
    pub ts: i64,
    /// Why it was refused.
    pub reason: LateReason,
}

/// Why a trade was refused; see [`Late`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LateReason {
    /// Its window of the finest interval ended at `window_end`, more than the
    /// allowed lateness before the `watermark`; that window is gone.
    Expired {
        /// End of the trade's window of the finest interval.
        window_end: i64,
        /// The watermark when the trade arrived.
        watermark: i64,
        /// The allowed lateness, in nanoseconds.
        allowed_lateness: i64,
    },
    /// Its event time is outside 1970-01-01 .. 2200-01-01 (sources validate
    /// trades first, so this means a caller skipped that).
    OutOfRange,
}

/// The whole sentence, e.g. `trade at 2023-12-09T00:00:00.300Z is too late:
/// its window ended at ...`; [`LateReason`]'s display is the part after the colon.
impl fmt::Display for Late {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            LateReason::Expired { .. } => {
                write!(f, "trade at {} is too late: {}", format_rfc3339(self.ts), self.reason)
            }
            LateReason::OutOfRange => write!(f, "trade at {} ns since the epoch: {}", self.ts, self.reason),
        }
    }
}

/// A sentence fragment for the late-trade table, e.g. `its window ended at
/// 2023-12-09T00:00:01Z, more than the allowed lateness 60s before the watermark
/// 2023-12-09T00:01:01Z`.
impl fmt::Display for LateReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LateReason::Expired { window_end, watermark, allowed_lateness } => write!(
                f,
                "its window ended at {}, more than the allowed lateness {:?} before the watermark {}",
                format_rfc3339(window_end),
                Duration::from_nanos(allowed_lateness.max(0) as u64),
                format_rfc3339(watermark),
            ),
            LateReason::OutOfRange => f.write_str("its event time is outside 1970-01-01 .. 2200-01-01"),
        }
    }
}

impl std::error::Error for Late {}

/// Whether `ts` is a valid event time (windows never straddle the ends of that range).
pub(super) fn in_range(ts: i64) -> Result<(), Late> {
    if (MIN_EVENT_TIME..MAX_EVENT_TIME).contains(&ts) {
        Ok(())
    } else {
        Err(Late { ts, reason: LateReason::OutOfRange })
    }
}
