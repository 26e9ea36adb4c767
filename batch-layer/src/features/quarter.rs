//! Calendar quarters in UTC: how an export is partitioned.

use std::fmt;
use std::path::{Path, PathBuf};
use tickflow_shared::Interval;
use tickflow_shared::time::{NANOS_PER_DAY, civil_from_days, day_of, days_from_civil};

/// A calendar quarter of a UTC year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    /// The year.
    pub year: i64,
    /// 1 to 4.
    pub quarter: u32,
}

impl Quarter {
    /// The quarter that holds an event time (ns).
    pub fn of(ts: i64) -> Self {
        let (year, month, _) = civil_from_days(day_of(ts));
        Self { year, quarter: (month - 1) / 3 + 1 }
    }

    /// Its first instant (ns).
    pub fn start(self) -> i64 {
        days_from_civil(self.year, 3 * (self.quarter - 1) + 1, 1) * NANOS_PER_DAY
    }

    /// The first instant after it (ns).
    pub fn end(self) -> i64 {
        self.next().start()
    }

    /// The quarter after it.
    pub fn next(self) -> Self {
        if self.quarter == 4 {
            Self { year: self.year + 1, quarter: 1 }
        } else {
            Self { year: self.year, quarter: self.quarter + 1 }
        }
    }

    /// Its directory under an export: `interval=1d/year=YYYY/quarter=Q`.
    pub fn dir(self, out: &Path, interval: Interval) -> PathBuf {
        out.join(format!("interval={interval}"))
            .join(format!("year={}", self.year))
            .join(format!("quarter={}", self.quarter))
    }
}

impl fmt::Display for Quarter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year, self.quarter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::time::parse_timestamp;

    fn ts(text: &str) -> i64 {
        parse_timestamp(text.as_bytes()).expect("timestamp")
    }

    #[test]
    fn quarters_split_the_year_in_utc() {
        let q = Quarter::of(ts("2013-12-31T23:59:59.999999999Z"));
        assert_eq!(q, Quarter { year: 2013, quarter: 4 });
        assert_eq!(q.start(), ts("2013-10-01T00:00:00Z"));
        assert_eq!(q.end(), ts("2014-01-01T00:00:00Z"));
        assert_eq!(Quarter::of(q.end()), Quarter { year: 2014, quarter: 1 });
        assert_eq!(Quarter::of(ts("2014-06-30T12:00:00Z")).to_string(), "2014-Q2");
        let dir = q.dir(Path::new("out"), "1d".parse().expect("interval"));
        assert_eq!(dir, Path::new("out/interval=1d/year=2013/quarter=4"));
    }
}
