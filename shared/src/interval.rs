//! Bar intervals, aligned to the Unix epoch in UTC, and the plan that derives
//! coarser intervals from finer ones.

use crate::time::{NANOS_PER_DAY, NANOS_PER_SECOND};
use std::fmt;
use std::str::FromStr;

/// A bar length that divides one UTC day: `1s`, `1m`, `5m`, `15m`, `1h`, `1d`, ...
///
/// Because every interval divides a day, no bar straddles midnight, and a UTC
/// day is a unit the batch layer can recompute and publish on its own.
///
/// ```
/// use tickflow_shared::{Interval, IntervalPlan};
///
/// let five: Interval = "5m".parse().unwrap();
/// assert_eq!((five.seconds(), five.to_string()), (300, "5m".to_owned()));
/// // Windows are aligned to the epoch: 13:32:10 is in the bar of 13:30.
/// let ts = 1_381_152_730_000_000_000; // 2013-10-07T13:32:10Z
/// assert_eq!(five.start_of(ts), 1_381_152_600_000_000_000);
/// assert!("7m".parse::<Interval>().is_err(), "7 minutes do not divide a day");
/// // A list is a sorted set; the plan derives 1h bars from 5m ones, not from trades.
/// let intervals = Interval::parse_list("1h,5m,1h").unwrap();
/// assert_eq!(intervals, [five, "1h".parse().unwrap()]);
/// let plan = IntervalPlan::new(&intervals);
/// assert_eq!((plan.source(0), plan.source(1)), (None, Some(0)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    seconds: u32,
}

/// Why an interval text is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "interval {text:?} {problem}; use a whole number of s, m, h or d that divides one day, like 1s, 1m, 5m, 15m, 1h, 1d"
)]
pub struct IntervalError {
    text: String,
    problem: &'static str,
}

impl Interval {
    /// The default set of intervals: `1s, 1m, 5m, 15m, 1h, 1d`.
    pub const DEFAULTS: &'static str = "1s,1m,5m,15m,1h,1d";

    /// An interval of whole seconds, if it divides one day.
    pub const fn from_seconds(seconds: u32) -> Option<Self> {
        if seconds > 0 && 86_400 % seconds == 0 { Some(Self { seconds }) } else { None }
    }

    /// The length in seconds.
    pub const fn seconds(self) -> u32 {
        self.seconds
    }

    /// The length in nanoseconds.
    pub const fn nanos(self) -> i64 {
        self.seconds as i64 * NANOS_PER_SECOND
    }

    /// Start of the window that holds event time `ts`.
    pub const fn start_of(self, ts: i64) -> i64 {
        let n = self.nanos();
        ts - ts.rem_euclid(n)
    }

    /// Whether every window of `self` is a union of windows of `finer`.
    pub const fn is_multiple_of(self, finer: Interval) -> bool {
        self.seconds.is_multiple_of(finer.seconds)
    }

    /// Parses a comma-separated list (`1s,1m,1h`) into a sorted set without repeats.
    pub fn parse_list(text: &str) -> Result<Vec<Interval>, IntervalError> {
        let mut list = text.split(',').map(|s| s.trim().parse()).collect::<Result<Vec<Interval>, _>>()?;
        list.sort();
        list.dedup();
        Ok(list)
    }
}

impl FromStr for Interval {
    type Err = IntervalError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |problem| IntervalError { text: text.to_owned(), problem };
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| error("has no unit"))?;
        let (count, unit) = text.split_at(split);
        let count: u32 = count.parse().map_err(|_| error("has no count"))?;
        let unit_seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(error("has an unknown unit")),
        };
        let seconds = count.checked_mul(unit_seconds).ok_or_else(|| error("is too long"))?;
        Interval::from_seconds(seconds).ok_or_else(|| error("does not divide one day"))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        if s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interval({self})")
    }
}

/// How each configured interval is computed: from trades (a *root*) or by
/// merging the bars of the coarsest finer interval that divides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalPlan {
    intervals: Vec<Interval>,
    sources: Vec<Option<usize>>,
}

impl IntervalPlan {
    /// Plans a sorted, repeat-free set of intervals.
    pub fn new(intervals: &[Interval]) -> Self {
        let mut intervals = intervals.to_vec();
        intervals.sort();
        intervals.dedup();
        let sources =
            (0..intervals.len()).map(|i| (0..i).rev().find(|&j| intervals[i].is_multiple_of(intervals[j]))).collect();
        Self { intervals, sources }
    }

    /// All intervals, finest first.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// The index of the interval that interval `i` is merged from, if any.
    pub fn source(&self, i: usize) -> Option<usize> {
        self.sources[i]
    }

    /// Indices of the intervals computed directly from trades.
    pub fn roots(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.intervals.len()).filter(|&i| self.sources[i].is_none())
    }
}

/// Checks that `NANOS_PER_DAY` is what the interval rules assume.
const _: () = assert!(NANOS_PER_DAY == 86_400 * NANOS_PER_SECOND);

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(text: &str) -> Interval {
        text.parse().expect("valid interval")
    }

    #[test]
    fn parses_and_prints_canonically() {
        assert_eq!(iv("60s").to_string(), "1m");
        assert_eq!(iv("90s").to_string(), "90s");
        assert_eq!(iv("24h").to_string(), "1d");
        assert_eq!(iv("15m").seconds(), 900);
        for bad in ["", "1", "m", "7s", "2d", "0s", "1w", "-1m", "99999999999s"] {
            assert!(bad.parse::<Interval>().is_err(), "{bad}");
        }
        let err = "7s".parse::<Interval>().unwrap_err().to_string();
        assert!(err.contains("does not divide one day"), "{err}");
    }

    #[test]
    fn aligns_to_epoch() {
        assert_eq!(iv("1m").start_of(61 * NANOS_PER_SECOND + 5), 60 * NANOS_PER_SECOND);
        assert_eq!(iv("1m").start_of(-1), -60 * NANOS_PER_SECOND);
    }

    #[test]
    fn plans_merges_from_finer() {
        let plan = IntervalPlan::new(&Interval::parse_list(Interval::DEFAULTS).expect("defaults"));
        let sources: Vec<_> = (0..6).map(|i| plan.source(i)).collect();
        assert_eq!(sources, [None, Some(0), Some(1), Some(2), Some(3), Some(4)]);
        let plan = IntervalPlan::new(&Interval::parse_list("45s,1m,3m").expect("list"));
        assert_eq!(plan.roots().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(plan.source(2), Some(1));
    }
}
