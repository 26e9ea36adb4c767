//! A deterministic equity market simulator.
//!
//! A simulation is three independent models, each drawing from its own random
//! stream of one seed:
//!
//! - **when** ([`EventTimes`]): trades are spread evenly over the trading
//!   sessions (weekdays, from [`SimConfig::start`]) and, within a session,
//!   follow a U-shaped intensity ([`intensity`]): busy at the open and the
//!   close, quiet at noon. Times are whole milliseconds, so busy symbols
//!   share them.
//! - **what** ([`Market`]): a universe of ticker-like symbols with Zipf-like
//!   activity, each priced by a geometric Brownian motion in trading time,
//!   on a one-cent grid, with round-lot, odd-lot and block sizes.
//! - **arrival** ([`Trades`]): with [`SimConfig::disorder_ms`] = D, trades
//!   arrive in the order of `ts + U[0, D)`, so no trade arrives more than D
//!   after one stamped later. The first two models do not see it: the same
//!   seed gives the same trades for any D, only their order changes.
//!
//! [`generate`] writes such a stream as a day-partitioned data set; [`Trades`]
//! is the same stream as an iterator and [`Market::next_trade`] the model for
//! a live producer that picks its own times.
//!
//! The random generator (xoshiro256** with Box–Muller normals) is part of
//! this crate, so a seed means the same data set across dependency upgrades.
//! The transcendental functions (`ln`, `exp`, `cos`) come from the platform's
//! math library; every mainstream 64-bit target rounds them identically for
//! the arguments used here, but that is a property of the platform, not a
//! promise of the language.

mod clock;
mod feed;
mod market;
mod rng;
mod write;

pub use clock::{EventTimes, intensity, session_opens};
pub use feed::{DEFAULT_RATE, FeedError, feed};
pub use market::Market;
pub use write::{Format, GenerateSummary, MAX_PART_ROWS, generate};

use rng::{Rng, Stream};
use std::collections::BinaryHeap;
use std::path::PathBuf;
use tickflow_shared::Tick;
use tickflow_shared::codec::CodecError;
use tickflow_shared::time::{MAX_EVENT_TIME, MIN_EVENT_TIME, NANOS_PER_DAY, NANOS_PER_MILLI, NANOS_PER_SECOND};

/// What to simulate. Every field has a default, so `{}` is a valid
/// configuration: 500 symbols, one 6.5-hour session from Monday
/// 2026-01-05 09:30 New York time, trades in order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Number of instruments, 1 to 100,000.
    pub symbols: usize,
    /// Names of the most active instruments, in order of activity (at most
    /// `symbols`, each a valid symbol, no repeats); the others get drawn
    /// ticker-like names. Empty by default: every name is drawn.
    pub names: Vec<String>,
    /// Seed of every random draw: the same seed and settings give the same
    /// trades, bit for bit.
    pub seed: u64,
    /// Open of the first trading session, nanoseconds since the Unix epoch.
    /// Later sessions open at the same UTC time of day on the following
    /// weekdays; a start on a weekend moves to the next Monday.
    pub start: i64,
    /// Number of trading sessions (weekdays), at least 1.
    pub days: u32,
    /// Length of each session in seconds, 1 to 86,400.
    pub session_seconds: u32,
    /// Bound on arrival disorder in milliseconds (at most one day): each
    /// trade is delayed by a uniform `[0, disorder_ms)` before arrival order
    /// is taken. 0 means trades arrive in event-time order.
    pub disorder_ms: u64,
}

impl SimConfig {
    /// Default number of instruments.
    pub const fn default_symbols() -> usize {
        500
    }

    /// Default names: none given, all drawn.
    pub const fn default_names() -> Vec<String> {
        Vec::new()
    }

    /// Default seed.
    pub const fn default_seed() -> u64 {
        42
    }

    /// Default first open: 2026-01-05T14:30:00Z, a Monday, 09:30 in New York.
    pub const fn default_start() -> i64 {
        tickflow_shared::time::days_from_civil(2026, 1, 5) * NANOS_PER_DAY + (14 * 3600 + 30 * 60) * NANOS_PER_SECOND
    }

    /// Default number of sessions.
    pub const fn default_days() -> u32 {
        1
    }

    /// Default session length: 6.5 hours, the NYSE regular session.
    pub const fn default_session_seconds() -> u32 {
        23_400
    }

    /// Default disorder: none.
    pub const fn default_disorder_ms() -> u64 {
        0
    }

    /// Checks the ranges documented on each field.
    pub fn validate(&self) -> Result<(), SimError> {
        let fail = |what: String| Err(SimError::Config(what));
        if !(1..=100_000).contains(&self.symbols) {
            return fail(format!("symbols = {} must be between 1 and 100000", self.symbols));
        }
        if self.names.len() > self.symbols {
            return fail(format!(
                "{} names given for {} symbols; give at most one per symbol",
                self.names.len(),
                self.symbols
            ));
        }
        if let Some(name) = self.names.iter().enumerate().find_map(|(i, n)| self.names[..i].contains(n).then_some(n)) {
            return fail(format!("name {name:?} is given twice; each symbol needs its own name"));
        }
        if self.days == 0 {
            return fail("days must be at least 1".to_owned());
        }
        if !(1..=86_400).contains(&self.session_seconds) {
            return fail(format!("session_seconds = {} must be between 1 and 86400", self.session_seconds));
        }
        if self.disorder_ms > (NANOS_PER_DAY / NANOS_PER_MILLI) as u64 {
            return fail(format!("disorder_ms = {} must be at most one day (86400000)", self.disorder_ms));
        }
        // Weekends stretch `days` sessions over at most 7/5 as many calendar
        // days, plus one more for the session that runs past midnight.
        let last_end = i128::from(self.start) + (i128::from(self.days) * 7 / 5 + 4) * i128::from(NANOS_PER_DAY);
        if self.start < MIN_EVENT_TIME || last_end >= i128::from(MAX_EVENT_TIME) {
            return fail(format!("start = {} with days = {} leaves the years 1970 to 2199", self.start, self.days));
        }
        Ok(())
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            symbols: Self::default_symbols(),
            names: Self::default_names(),
            seed: Self::default_seed(),
            start: Self::default_start(),
            days: Self::default_days(),
            session_seconds: Self::default_session_seconds(),
            disorder_ms: Self::default_disorder_ms(),
        }
    }
}

/// Why a simulation could not run or its output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration is out of range.
    #[error("simulator configuration: {0}")]
    Config(String),
    /// Writing a trade file failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A file-system operation on the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A trade waiting in the reorder buffer, ordered by arrival key then by
/// event order (a stable sort).
#[derive(Debug)]
struct Delayed {
    key: i64,
    index: u64,
    tick: Tick,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        (self.key, self.index) == (other.key, other.index)
    }
}

impl Eq for Delayed {}

impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Delayed {
    /// Reversed, so that [`BinaryHeap`] pops the earliest arrival.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.key, other.index).cmp(&(self.key, self.index))
    }
}

/// The trades of a simulation in arrival order: [`EventTimes`] feeds
/// [`Market::next_trade`], and a reorder buffer holding only the trades of
/// the last `disorder_ms` applies the arrival delays.
///
/// Each trade's `seq` is its position in this stream.
#[derive(Debug)]
pub struct Trades {
    times: EventTimes,
    market: Market,
    /// Arrival delays: the stream and the bound in nanoseconds (0: none).
    delay: Rng,
    disorder_ns: i64,
    buffer: BinaryHeap<Delayed>,
    last_event: i64,
    arrived: u64,
}

impl Trades {
    /// The `ticks` trades that `config` describes.
    pub fn new(config: &SimConfig, ticks: u64) -> Result<Self, SimError> {
        let market = Market::new(config)?;
        Ok(Self {
            times: EventTimes::new(config, ticks),
            market,
            delay: Rng::new(config.seed, Stream::Disorder),
            disorder_ns: config.disorder_ms as i64 * NANOS_PER_MILLI,
            buffer: BinaryHeap::new(),
            last_event: i64::MIN,
            arrived: 0,
        })
    }

    /// The market behind the stream.
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// A lower bound on the event time of every trade not yet returned
    /// (`i64::MAX` once the stream is exhausted): a consumer can close
    /// anything that ends at or before it.
    pub fn low_watermark(&self) -> i64 {
        // A buffered trade's key is above the last event time drawn, and its
        // time above its key minus the bound.
        let buffered = if self.buffer.is_empty() { i64::MAX } else { self.last_event - self.disorder_ns };
        self.times.peek().unwrap_or(i64::MAX).min(buffered)
    }

    fn arrive(&mut self, mut tick: Tick) -> Tick {
        tick.seq = self.arrived;
        self.arrived += 1;
        tick
    }
}

impl Iterator for Trades {
    type Item = Tick;

    fn next(&mut self) -> Option<Tick> {
        if self.disorder_ns == 0 {
            let ts = self.times.next()?;
            let tick = self.market.next_trade(ts);
            return Some(self.arrive(tick));
        }
        loop {
            // Every trade still to be drawn has a key of at least the next
            // event time, and a later index: the buffer's earliest may go.
            let next = self.times.peek();
            if self.buffer.peek().is_some_and(|top| next.is_none_or(|ts| top.key <= ts)) {
                let tick = self.buffer.pop()?.tick;
                return Some(self.arrive(tick));
            }
            let ts = self.times.next()?;
            let tick = self.market.next_trade(ts);
            let key = ts + self.delay.below(self.disorder_ns as u64) as i64;
            self.last_event = ts;
            self.buffer.push(Delayed { key, index: tick.seq, tick });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(days: u32, disorder_ms: u64) -> SimConfig {
        SimConfig { symbols: 50, seed: 9, days, disorder_ms, ..SimConfig::default() }
    }

    #[test]
    fn config_from_json() {
        let c: SimConfig = serde_json::from_str("{}").expect("empty config");
        assert_eq!(c, SimConfig::default());
        let c: SimConfig = serde_json::from_str(r#"{"symbols": 3, "disorder_ms": 250}"#).expect("config");
        assert_eq!((c.symbols, c.disorder_ms, c.days), (3, 250, 1));
        assert!(serde_json::from_str::<SimConfig>(r#"{"symbol": 3}"#).is_err());
        assert_eq!(tickflow_shared::time::format_rfc3339(c.start), "2026-01-05T14:30:00Z");
    }

    #[test]
    fn config_ranges() {
        for bad in [
            SimConfig { symbols: 0, ..SimConfig::default() },
            SimConfig { days: 0, ..SimConfig::default() },
            SimConfig { session_seconds: 86_401, ..SimConfig::default() },
            SimConfig { disorder_ms: 86_400_001, ..SimConfig::default() },
            SimConfig { start: -1, ..SimConfig::default() },
            SimConfig { days: u32::MAX, ..SimConfig::default() },
        ] {
            assert!(matches!(bad.validate(), Err(SimError::Config(_))), "{bad:?}");
        }
    }

    #[test]
    fn disorder_only_reorders() {
        let ordered: Vec<Tick> = Trades::new(&config(2, 0), 20_000).expect("config").collect();
        let disordered: Vec<Tick> = Trades::new(&config(2, 500), 20_000).expect("config").collect();
        assert!(ordered.windows(2).all(|w| w[0].ts <= w[1].ts));
        assert_ne!(ordered, disordered);
        let key = |t: &Tick| (t.ts, t.symbol.clone(), t.price, t.size);
        let mut a: Vec<_> = ordered.iter().map(key).collect();
        let mut b: Vec<_> = disordered.iter().map(key).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
        assert!(disordered.iter().enumerate().all(|(i, t)| t.seq == i as u64));
    }

    /// The first trades of the default configuration, pinned: if this test
    /// fails, every data set generated so far would come out different.
    #[test]
    fn default_stream_is_pinned() {
        let first: Vec<(String, i64, String, String)> = Trades::new(&SimConfig::default(), 1000)
            .expect("config")
            .take(3)
            .map(|t| (t.symbol.to_string(), t.ts, t.price.to_string(), t.size.to_string()))
            .collect();
        let expected = [
            ("VLG", 1_767_623_406_058_000_000, "182.59", "1100"),
            ("FOU", 1_767_623_407_204_000_000, "9.16", "100"),
            ("GOE", 1_767_623_415_261_000_000, "18.39", "300"),
        ]
        .map(|(s, ts, p, v)| (s.to_owned(), ts, p.to_owned(), v.to_owned()));
        assert_eq!(first, expected);
    }

    /// Regression: the watermark was `next event − D`, which passed trades
    /// still buffered from the end of a session once the next event lay in
    /// the following session; `generate` then closed the day early and
    /// reopened it, overwriting its first part file.
    #[test]
    fn watermark_holds_for_buffered_trades_across_sessions() {
        let config = SimConfig { symbols: 20, seed: 0, disorder_ms: 145, days: 2, ..SimConfig::default() };
        let mut trades = Trades::new(&config, 677).expect("config");
        let mut highest_mark = i64::MIN;
        loop {
            highest_mark = highest_mark.max(trades.low_watermark());
            let Some(t) = trades.next() else { break };
            assert!(t.ts >= highest_mark, "{t:?} is below an earlier watermark {highest_mark}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// No trade arrives more than D after one stamped later, and the
        /// watermark never passes a trade still to come.
        #[test]
        fn disorder_is_bounded(seed in 0u64..1000, disorder_ms in 0u64..3000, ticks in 0u64..5000) {
            let config = SimConfig { symbols: 20, seed, disorder_ms, days: 2, ..SimConfig::default() };
            let mut trades = Trades::new(&config, ticks).expect("config");
            let bound = disorder_ms as i64 * NANOS_PER_MILLI;
            let mut latest = i64::MIN;
            let mut count = 0;
            loop {
                let watermark = trades.low_watermark();
                let Some(t) = trades.next() else { break };
                proptest::prop_assert!(t.ts >= watermark);
                proptest::prop_assert!(t.ts >= latest.saturating_sub(bound));
                if disorder_ms == 0 {
                    proptest::prop_assert!(t.ts >= latest);
                }
                latest = latest.max(t.ts);
                count += 1;
            }
            proptest::prop_assert_eq!(count, ticks);
        }
    }
}
