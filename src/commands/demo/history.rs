//! Simulated history in the archive, so that the first start of the demo
//! already has a sealed day for the batch layer: the chart shows batch bars
//! before the boundary and speed bars after it from the first minute.
//!
//! The history is the last hour of the weekday before: an hour of a million
//! trades holds about as many trades per second as the live simulator sends,
//! so both sides of the boundary look alike, and it is quick to generate.
//! The live market is the same model ([`market`]): same symbols, same start
//! prices, same volatility per hour.

use std::path::Path;
use tickflow_ingest::archive::files;
use tickflow_ingest::simulator::{Format, GenerateSummary, SimConfig, generate};
use tickflow_shared::time::{NANOS_PER_DAY, NANOS_PER_SECOND, day_of};

/// The day of history for a start on `today` (days since the epoch): the
/// last weekday before it, since the simulator trades on weekdays only.
pub fn day_before(today: i64) -> i64 {
    // Day 0 (1970-01-01) was a Thursday; 5 and 6 are Saturday and Sunday.
    (1..=3).map(|back| today - back).find(|day| (day + 3).rem_euclid(7) < 5).unwrap_or(today - 1)
}

/// What [`ensure`] found or wrote.
pub enum History {
    /// The day was in the archive already (an earlier run wrote it).
    Present,
    /// The day was generated and sealed.
    Generated(GenerateSummary),
}

/// Seconds of trading in the day of history, and in a live "day" of the
/// price model (its daily volatility plays out over this long).
const SESSION_SECONDS: u32 = 3600;

/// The simulated market of `names` (most active first): its session is the
/// last hour of `day`.
pub fn market(names: &[String], seed: u64, day: i64) -> SimConfig {
    SimConfig {
        symbols: names.len(),
        names: names.to_vec(),
        seed,
        start: (day + 1) * NANOS_PER_DAY - i64::from(SESSION_SECONDS) * NANOS_PER_SECOND,
        days: 1,
        session_seconds: SESSION_SECONDS,
        ..SimConfig::default()
    }
}

/// Writes `trades` trades of `market` into `archive` and seals their day,
/// unless the archive holds that day already.
pub fn ensure(archive: &Path, market: &SimConfig, trades: u64) -> anyhow::Result<History> {
    let day = day_of(market.start);
    if files::is_sealed(archive, day) || has_data(&files::day_dir(archive, day)) {
        return Ok(History::Present);
    }
    Ok(History::Generated(generate(archive, trades, market, Format::Parquet)?))
}

/// Whether a day directory holds a visible file (hidden ones are unfinished).
fn has_data(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| entry.file_name().to_str().is_some_and(|name| !name.starts_with('.')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::time::{days_from_civil, format_day};

    #[test]
    fn history_is_the_last_weekday() {
        let day = |d| days_from_civil(2026, 1, d);
        // 2026-01-05 is a Monday.
        for (today, history) in [(5, 2), (6, 5), (10, 9), (11, 9), (12, 9)] {
            assert_eq!(format_day(day_before(day(today))), format_day(day(history)), "today 2026-01-{today}");
        }
    }

    #[test]
    fn generated_once_then_present() {
        let dir = tempfile::tempdir().expect("tempdir");
        let day = days_from_civil(2026, 1, 9);
        let market = market(&["AAPL", "MSFT"].map(String::from), 1, day);
        let History::Generated(summary) = ensure(dir.path(), &market, 5_000).expect("history") else {
            panic!("an empty archive has no history");
        };
        assert_eq!((summary.ticks, summary.days, summary.symbols), (5_000, 1, 2));
        assert!(files::is_sealed(dir.path(), day));
        let written = std::fs::metadata(&summary.files[0]).and_then(|m| m.modified()).expect("mtime");
        assert!(matches!(ensure(dir.path(), &market, 5_000).expect("history"), History::Present));
        assert_eq!(std::fs::metadata(&summary.files[0]).and_then(|m| m.modified()).expect("mtime"), written);
    }
}
