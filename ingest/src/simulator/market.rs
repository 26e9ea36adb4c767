//! What trades: the instruments, and the next trade at a given time.

use super::rng::{Rng, Stream};
use super::{SimConfig, SimError};
use std::collections::HashSet;
use tickflow_shared::Tick;
use tickflow_shared::fixed::{Price, SCALE, Size};
use tickflow_shared::tick::Symbol;
use tickflow_shared::time::NANOS_PER_SECOND;

/// Start prices are log-uniform between these (dollars).
const START_PRICE: (f64, f64) = (5.0, 500.0);
/// Daily volatilities (standard deviation of a session's log return) are
/// log-uniform between these.
const DAILY_VOLATILITY: (f64, f64) = (0.008, 0.04);
/// Zipf exponent of the activity weights: the symbol of rank `r` trades in
/// proportion to `r^-ZIPF`.
const ZIPF: f64 = 1.0;
/// The longest stretch between two trades of a symbol that moves its price:
/// a symbol's clock runs in trading time, so a night or a weekend counts as
/// this much, a modest overnight gap.
const MAX_STEP_NS: i64 = 30 * 60 * NANOS_PER_SECOND;
/// Units of [`Price`] per cent.
const UNITS_PER_CENT: i64 = SCALE / 100;
/// The highest price emitted, in cents ($10 million): far above any path a
/// start price of at most $500 takes, it only keeps the fixed-point product
/// from overflowing.
const MAX_CENTS: f64 = 1e9;

/// One instrument's state.
#[derive(Clone, Debug)]
struct Instrument {
    symbol: Symbol,
    /// Natural logarithm of the (unrounded) price in dollars.
    log_price: f64,
    /// Volatility per square root of a nanosecond of trading time.
    sigma: f64,
    /// Event time of the last trade, if any.
    last_ts: Option<i64>,
}

/// A simulated market: a fixed universe of instruments, each priced by a
/// geometric Brownian motion in trading time, and a draw of which one trades
/// next and how much.
///
/// Everything is a function of the configuration's seed and the sequence of
/// times passed to [`Market::next_trade`].
///
/// ```
/// use tickflow_ingest::simulator::{Market, SimConfig};
///
/// let config = SimConfig::default();
/// let mut market = Market::new(&config)?;
/// let first = market.next_trade(config.start);
/// let second = market.next_trade(config.start + 1_000_000);
/// assert!(first.price.0 > 0 && first.size.0 > 0);
/// assert_eq!((first.seq, second.seq), (0, 1));
/// # Ok::<(), tickflow_ingest::simulator::SimError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Market {
    instruments: Vec<Instrument>,
    /// Cumulative activity weights in units of 2^-53; the last is 2^53.
    cumulative: Vec<u64>,
    rng: Rng,
    trades: u64,
}

impl Market {
    /// Builds the universe of `config.symbols` instruments from `config.seed`.
    pub fn new(config: &SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let mut rng = Rng::new(config.seed, Stream::Universe);
        let session_ns = config.session_seconds as f64 * NANOS_PER_SECOND as f64;
        let mut names = HashSet::with_capacity(config.symbols);
        let mut instruments = Vec::with_capacity(config.symbols);
        while instruments.len() < config.symbols {
            let name = config.names.get(instruments.len()).cloned().unwrap_or_else(|| ticker(&mut rng));
            if !names.insert(name.clone()) {
                continue;
            }
            let symbol = Symbol::new(&name).map_err(|e| SimError::Config(format!("symbol {name:?}: {e}")))?;
            let price = log_uniform(&mut rng, START_PRICE);
            let cents = (price * 100.0).round();
            let daily = log_uniform(&mut rng, DAILY_VOLATILITY);
            instruments.push(Instrument {
                symbol,
                log_price: (cents / 100.0).ln(),
                sigma: daily / session_ns.sqrt(),
                last_ts: None,
            });
        }
        let weights: Vec<f64> = (1..=instruments.len()).map(|rank| (rank as f64).powf(-ZIPF)).collect();
        let total: f64 = weights.iter().sum();
        let one = (1u64 << 53) as f64;
        let mut sum = 0.0;
        let mut cumulative: Vec<u64> = weights
            .iter()
            .map(|w| {
                sum += w;
                (sum / total * one) as u64
            })
            .collect();
        if let Some(last) = cumulative.last_mut() {
            *last = 1 << 53;
        }
        Ok(Self { instruments, cumulative, rng: Rng::new(config.seed, Stream::Market), trades: 0 })
    }

    /// The instruments' symbols; index 0 trades most, activity falls with the index.
    pub fn symbols(&self) -> impl ExactSizeIterator<Item = &Symbol> {
        self.instruments.iter().map(|i| &i.symbol)
    }

    /// Trades produced so far.
    pub fn trades(&self) -> u64 {
        self.trades
    }

    /// Instruments that have traded at least once.
    pub fn traded_symbols(&self) -> usize {
        self.instruments.iter().filter(|i| i.last_ts.is_some()).count()
    }

    /// The next trade, at event time `ts`: picks the symbol by activity
    /// weight, moves its price by the elapsed trading time since its last
    /// trade (at most 30 minutes; a `ts` earlier than that trade moves
    /// nothing) and draws a size. `seq` is the count of trades before it.
    ///
    /// Call it with non-decreasing times for a meaningful price path.
    pub fn next_trade(&mut self, ts: i64) -> Tick {
        let pick = self.rng.next_u64() >> 11;
        let index = self.cumulative.partition_point(|&c| c <= pick).min(self.instruments.len() - 1);
        let z = self.rng.normal();
        let size = trade_size(&mut self.rng);
        let instrument = &mut self.instruments[index];
        let elapsed = instrument.last_ts.map_or(0, |last| (ts - last).clamp(0, MAX_STEP_NS));
        let step = instrument.sigma * (elapsed as f64).sqrt();
        instrument.log_price += step * z - 0.5 * step * step;
        instrument.last_ts = Some(ts);
        let cents = (instrument.log_price.exp() * 100.0).round().clamp(1.0, MAX_CENTS) as i64;
        let seq = self.trades;
        self.trades += 1;
        Tick {
            symbol: instrument.symbol.clone(),
            ts,
            price: Price(cents * UNITS_PER_CENT),
            size: Size(size * SCALE),
            seq,
        }
    }
}

/// A log-uniform draw in `[low, high)`.
fn log_uniform(rng: &mut Rng, (low, high): (f64, f64)) -> f64 {
    low * (high / low).powf(rng.unit())
}

/// A ticker: 1 to 5 uppercase letters, mostly 3 or 4.
fn ticker(rng: &mut Rng) -> String {
    // Per mille of names of each length 1..=5.
    const LENGTHS: [u64; 5] = [10, 60, 380, 450, 100];
    let mut pick = rng.below(1000);
    let mut len = LENGTHS.len();
    for (i, share) in LENGTHS.iter().enumerate() {
        if pick < *share {
            len = i + 1;
            break;
        }
        pick -= share;
    }
    (0..len).map(|_| char::from(b'A' + rng.below(26) as u8)).collect()
}

/// Shares in one trade: half are a round lot of 100, 30% odd lots (1 to 99,
/// mostly small), most of the rest multiples of 100 up to 5,000, and 0.5%
/// blocks of 10,000 to 100,000.
fn trade_size(rng: &mut Rng) -> i64 {
    let kind = rng.below(10_000);
    let u = rng.unit();
    if kind < 5_000 {
        100
    } else if kind < 8_000 {
        1 + (99.0 * u * u) as i64
    } else if kind < 9_950 {
        100 * (2.0 * 25f64.powf(u)) as i64
    } else {
        100 * (100.0 * 10f64.powf(u)) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::time::NANOS_PER_MILLI;

    fn market(symbols: usize) -> Market {
        Market::new(&SimConfig { symbols, ..SimConfig::default() }).expect("valid config")
    }

    #[test]
    fn names_look_like_tickers() {
        let m = market(2000);
        let names: HashSet<&str> = m.symbols().map(Symbol::as_str).collect();
        assert_eq!(names.len(), 2000);
        assert!(names.iter().all(|n| (1..=5).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_uppercase())));
        let short = names.iter().filter(|n| n.len() <= 4).count();
        assert!(short > 1500, "{short} names of up to 4 letters");
    }

    #[test]
    fn given_names_go_to_the_most_active() {
        let names = ["AAPL", "MSFT", "NVDA"].map(String::from).to_vec();
        let m = Market::new(&SimConfig { symbols: 5, names: names.clone(), ..SimConfig::default() }).expect("config");
        let symbols: Vec<&str> = m.symbols().map(Symbol::as_str).collect();
        assert_eq!(symbols[..3], ["AAPL", "MSFT", "NVDA"]);
        assert_eq!(symbols.len(), 5);
        for bad in [vec!["AAPL".to_owned(); 2], vec!["a b".to_owned()], vec!["A".to_owned(); 6]] {
            assert!(Market::new(&SimConfig { symbols: 5, names: bad, ..SimConfig::default() }).is_err());
        }
    }

    #[test]
    fn activity_is_skewed() {
        let mut m = market(500);
        let mut counts = std::collections::HashMap::new();
        for i in 0..100_000 {
            *counts.entry(m.next_trade(i * NANOS_PER_MILLI).symbol).or_insert(0u32) += 1;
        }
        let mut sorted: Vec<u32> = counts.into_values().collect();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        let top10: u32 = sorted.iter().take(10).sum();
        assert!(top10 > 30_000, "top 10 symbols have {top10} of 100,000 trades");
        assert!(sorted[0] > 100 * sorted[sorted.len() - 1].max(1));
    }

    #[test]
    fn sizes_are_realistic() {
        let mut rng = Rng::new(1, Stream::Market);
        let sizes: Vec<i64> = (0..100_000).map(|_| trade_size(&mut rng)).collect();
        let share = |f: &dyn Fn(i64) -> bool| sizes.iter().filter(|&&s| f(s)).count() as f64 / 1e5;
        assert!((0.45..0.55).contains(&share(&|s| s == 100)));
        assert!((0.25..0.35).contains(&share(&|s| s < 100)));
        assert!((0.002..0.01).contains(&share(&|s| s >= 10_000)));
        assert!(sizes.iter().all(|&s| (1..=100_000).contains(&s) && (s < 100 || s % 100 == 0)));
    }

    #[test]
    fn prices_stay_positive_on_the_cent() {
        let mut m = market(3);
        // A year of trading days' worth of steps, each the longest move.
        for i in 0..50_000 {
            let t = m.next_trade(i * MAX_STEP_NS);
            assert!(t.price.0 >= UNITS_PER_CENT && t.price.0 % UNITS_PER_CENT == 0, "{:?}", t.price);
            assert!(t.size.0 > 0);
            assert_eq!(t.seq, i as u64);
        }
    }
}
