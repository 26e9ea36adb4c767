//! The built-in strategies, built by name from named parameters.
//!
//! [`Spec`] is a strategy's validated parameters (the build-time config);
//! [`Spec::build`] makes the per-symbol state that is fed bars. Every
//! strategy here is long only and follows the same two rules: a buy while
//! long and a sell while flat are not signals, and *t−1* is the symbol's
//! previous bar (bars exist only where trades happened).
//!
//! Every built-in strategy reads only the close of a bar (and the bar's
//! symbol, interval and start for its signal): [`BarClose`]. Its rule lives
//! in [`CloseStrategy::on_close`], and [`Strategy::on_bar`] is that rule fed
//! a bar's close, so the backtest, which runs on compact bars and reaches the
//! concrete type through [`Spec::with_strategy`] (no virtual call per bar),
//! runs the very code the live bot runs.

mod bands;
mod cross;
mod oscillators;
#[cfg(test)]
pub(crate) mod tests;

use crate::{Params, Strategy, StrategyError};
use std::cmp::Ordering;
use tickflow_shared::signal::{Side, Signal, SmolStr};
use tickflow_shared::{Bar, Interval, Price, Symbol};

/// The names of the built-in strategies.
pub const STRATEGIES: [&str; 5] = ["sma-cross", "ema-cross", "rsi", "macd", "bollinger"];

/// Every built-in strategy's rule, as `--help` and the README state it.
pub const RULES: &str = "\
Strategies (all long only: a buy while long and a sell while flat are not signals; t-1 is the
symbol's previous bar; a signal at bar t fills at bar t+1's open, and none when there is no t+1):

  sma-cross  fast=10 slow=30
      buy at the close of bar t when SMA_fast(t) > SMA_slow(t) and SMA_fast(t-1) <= SMA_slow(t-1);
      sell when SMA_fast(t) < SMA_slow(t) and SMA_fast(t-1) >= SMA_slow(t-1). The averages are
      compared exactly, as fixed-point sums (SMA_fast > SMA_slow <=> slow*sum_fast > fast*sum_slow),
      so a tie is a tie. No signal before both averages exist at t and t-1 (from bar index slow).
  ema-cross  fast=12 slow=26
      the sma-cross rule on EMA_fast and EMA_slow (TA-Lib's EMA, seeded by the SMA of the first n
      closes), compared as the f64 values TA-Lib defines. First signal possible at bar index slow.
  rsi        period=14 oversold=30 overbought=70
      buy when RSI(t) > oversold and RSI(t-1) <= oversold (crossing up through oversold); sell when
      RSI(t) < overbought and RSI(t-1) >= overbought (crossing down through overbought). RSI is
      TA-Lib's (Wilder smoothing); first signal possible at bar index period+1.
  macd       fast=12 slow=26 signal=9
      buy when MACD(t) > signal(t) and MACD(t-1) <= signal(t-1); sell when MACD(t) < signal(t) and
      MACD(t-1) >= signal(t-1). TA-Lib's MACD; first signal possible at bar index slow+signal-1.
  bollinger  period=20 k=2
      buy when close(t) < lower(t) = SMA - k*sigma (population sigma of the last period closes);
      sell when close(t) > middle(t) = SMA, compared exactly (period*close > sum of closes).
      First signal possible at bar index period-1.
";

/// A built-in strategy with its parameters checked: builds the state fed
/// with one symbol's bars.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Spec {
    /// `sma-cross`: simple moving averages crossing, compared exactly.
    SmaCross {
        /// Period of the fast average (default 10).
        fast: usize,
        /// Period of the slow average (default 30), above `fast`.
        slow: usize,
    },
    /// `ema-cross`: exponential moving averages crossing.
    EmaCross {
        /// Period of the fast average (default 12).
        fast: usize,
        /// Period of the slow average (default 26), above `fast`.
        slow: usize,
    },
    /// `rsi`: RSI crossing up through `oversold`, down through `overbought`.
    Rsi {
        /// RSI period (default 14).
        period: usize,
        /// Buy level (default 30).
        oversold: f64,
        /// Sell level (default 70), above `oversold`.
        overbought: f64,
    },
    /// `macd`: the MACD line crossing its signal line.
    Macd {
        /// Fast EMA period (default 12).
        fast: usize,
        /// Slow EMA period (default 26), above `fast`.
        slow: usize,
        /// Signal EMA period (default 9).
        signal: usize,
    },
    /// `bollinger`: buy below the lower band, sell above the middle.
    Bollinger {
        /// Window of the bands (default 20).
        period: usize,
        /// Width of the bands in population standard deviations (default 2).
        k: f64,
    },
}

/// Builds the strategy `name` with `params` (the rest at their defaults),
/// for one symbol: call it once per symbol.
///
/// ```
/// use tickflow_strategy::{Params, by_name};
/// let strategy = by_name("rsi", &Params::parse(["oversold=25"])?)?;
/// assert_eq!(strategy.name(), "rsi");
/// assert!(by_name("sma-cross", &Params::parse(["fast=40"])?).is_err()); // fast must stay below slow
/// # Ok::<(), tickflow_strategy::StrategyError>(())
/// ```
pub fn by_name(name: &str, params: &Params) -> Result<Box<dyn Strategy>, StrategyError> {
    Spec::new(name, params).map(|spec| spec.build())
}

impl Spec {
    /// Checks `params` against the strategy `name`'s parameters.
    pub fn new(name: &str, params: &Params) -> Result<Self, StrategyError> {
        let spec = match name {
            "sma-cross" => {
                let r = Reader::new("sma-cross", params, &[("fast", "10"), ("slow", "30")])?;
                let (fast, slow) = r.fast_slow()?;
                Spec::SmaCross { fast, slow }
            }
            "ema-cross" => {
                let r = Reader::new("ema-cross", params, &[("fast", "12"), ("slow", "26")])?;
                let (fast, slow) = r.fast_slow()?;
                Spec::EmaCross { fast, slow }
            }
            "rsi" => {
                let r = Reader::new("rsi", params, &[("period", "14"), ("oversold", "30"), ("overbought", "70")])?;
                let period = r.period("period", 2)?;
                let (oversold, overbought) = (r.level("oversold")?, r.level("overbought")?);
                if oversold >= overbought {
                    return Err(r.bad("oversold", "must be below overbought"));
                }
                Spec::Rsi { period, oversold, overbought }
            }
            "macd" => {
                let r = Reader::new("macd", params, &[("fast", "12"), ("slow", "26"), ("signal", "9")])?;
                let (fast, slow) = r.fast_slow()?;
                if fast < 2 {
                    return Err(r.bad("fast", "must be at least 2"));
                }
                Spec::Macd { fast, slow, signal: r.period("signal", 1)? }
            }
            "bollinger" => {
                let r = Reader::new("bollinger", params, &[("period", "20"), ("k", "2")])?;
                let k = r.float("k")?;
                if k <= 0.0 {
                    return Err(r.bad("k", "must be a positive number of standard deviations, like 2"));
                }
                Spec::Bollinger { period: r.period("period", 2)?, k }
            }
            other => return Err(StrategyError::Unknown(other.to_owned())),
        };
        Ok(spec)
    }

    /// The strategy's name.
    pub fn name(&self) -> &'static str {
        match self {
            Spec::SmaCross { .. } => "sma-cross",
            Spec::EmaCross { .. } => "ema-cross",
            Spec::Rsi { .. } => "rsi",
            Spec::Macd { .. } => "macd",
            Spec::Bollinger { .. } => "bollinger",
        }
    }

    /// Every parameter with the value in effect, in the order `--help` lists them.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        match *self {
            Spec::SmaCross { fast, slow } | Spec::EmaCross { fast, slow } => {
                vec![("fast", fast.to_string()), ("slow", slow.to_string())]
            }
            Spec::Rsi { period, oversold, overbought } => vec![
                ("period", period.to_string()),
                ("oversold", oversold.to_string()),
                ("overbought", overbought.to_string()),
            ],
            Spec::Macd { fast, slow, signal } => {
                vec![("fast", fast.to_string()), ("slow", slow.to_string()), ("signal", signal.to_string())]
            }
            Spec::Bollinger { period, k } => vec![("period", period.to_string()), ("k", k.to_string())],
        }
    }

    /// A new strategy state for one symbol, with no bar fed.
    pub fn build(&self) -> Box<dyn Strategy> {
        self.with_strategy(Boxed)
    }

    /// Hands `with` a builder of this strategy's state by its concrete type,
    /// so a hot loop calls it without a virtual call.
    pub(crate) fn with_strategy<W: WithStrategy>(&self, with: W) -> W::Output {
        match *self {
            Spec::SmaCross { fast, slow } => with.run(|| cross::SmaCross::new(fast, slow)),
            Spec::EmaCross { fast, slow } => with.run(|| cross::EmaCross::new(fast, slow)),
            Spec::Rsi { period, oversold, overbought } => {
                with.run(|| oscillators::RsiLevels::new(period, oversold, overbought))
            }
            Spec::Macd { fast, slow, signal } => with.run(|| oscillators::MacdCross::new(fast, slow, signal)),
            Spec::Bollinger { period, k } => with.run(|| bands::BollingerReversion::new(period, k)),
        }
    }
}

/// What a built-in strategy reads of a bar: its close, and for the signal
/// its symbol, interval and start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BarClose<'a> {
    /// The instrument.
    pub symbol: &'a Symbol,
    /// The bars' interval.
    pub interval: Interval,
    /// The bar's start, ns.
    pub start: i64,
    /// The bar's close.
    pub close: Price,
}

impl<'a> BarClose<'a> {
    /// The close of `bar`.
    pub fn of(bar: &'a Bar) -> Self {
        Self { symbol: &bar.symbol, interval: bar.interval, start: bar.start, close: bar.close }
    }
}

/// A strategy whose rule reads only closes: every built-in one.
pub(crate) trait CloseStrategy: Strategy + 'static {
    /// Feeds the next final bar's close; the signal decided at it. The same
    /// as [`Strategy::on_bar`] with that bar.
    fn on_close(&mut self, bar: BarClose<'_>) -> Option<Signal>;
}

/// Something done with a built-in strategy by its concrete type ([`Spec::with_strategy`]).
pub(crate) trait WithStrategy {
    /// What it gives.
    type Output;

    /// Does it, building one state per symbol with `build`.
    fn run<S: CloseStrategy>(self, build: impl Fn() -> S + Sync) -> Self::Output;
}

/// Boxes one state: [`Spec::build`].
struct Boxed;

impl WithStrategy for Boxed {
    type Output = Box<dyn Strategy>;

    fn run<S: CloseStrategy>(self, build: impl Fn() -> S + Sync) -> Box<dyn Strategy> {
        Box::new(build())
    }
}

/// Reads one strategy's parameters, with their defaults.
struct Reader<'a> {
    strategy: &'static str,
    params: &'a Params,
    known: &'static [(&'static str, &'static str)],
}

impl<'a> Reader<'a> {
    fn new(
        strategy: &'static str,
        params: &'a Params,
        known: &'static [(&'static str, &'static str)],
    ) -> Result<Self, StrategyError> {
        if let Some((name, _)) = params.iter().find(|(n, _)| !known.iter().any(|(k, _)| k == n)) {
            let known = known.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            return Err(StrategyError::UnknownParam { strategy, name: name.to_owned(), known });
        }
        Ok(Self { strategy, params, known })
    }

    fn raw(&self, name: &str) -> &str {
        let default = self.known.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v);
        self.params.get(name).unwrap_or(default)
    }

    fn bad(&self, name: &str, problem: &str) -> StrategyError {
        StrategyError::BadParam {
            strategy: self.strategy,
            name: name.to_owned(),
            value: self.raw(name).to_owned(),
            problem: problem.to_owned(),
        }
    }

    fn period(&self, name: &str, min: usize) -> Result<usize, StrategyError> {
        match self.raw(name).parse::<usize>() {
            Ok(n) if (min..=tickflow_shared::indicators::MAX_PERIOD).contains(&n) => Ok(n),
            _ => Err(self.bad(
                name,
                &format!("is not a whole number of bars from {min} to {}", tickflow_shared::indicators::MAX_PERIOD),
            )),
        }
    }

    fn float(&self, name: &str) -> Result<f64, StrategyError> {
        match self.raw(name).parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(self.bad(name, "is not a number")),
        }
    }

    fn level(&self, name: &str) -> Result<f64, StrategyError> {
        match self.float(name)? {
            x if (0.0..=100.0).contains(&x) => Ok(x),
            _ => Err(self.bad(name, "is not an RSI level from 0 to 100")),
        }
    }

    fn fast_slow(&self) -> Result<(usize, usize), StrategyError> {
        let (fast, slow) = (self.period("fast", 1)?, self.period("slow", 1)?);
        if fast >= slow {
            return Err(self.bad("fast", &format!("must be below slow ({slow})")));
        }
        Ok((fast, slow))
    }
}

/// Whether two consecutive comparisons make a cross: up (from `<=` to `>`)
/// is a buy, down (from `>=` to `<`) a sell.
fn crossing(prev: Ordering, now: Ordering) -> Option<Side> {
    match (prev, now) {
        (Ordering::Less | Ordering::Equal, Ordering::Greater) => Some(Side::Buy),
        (Ordering::Greater | Ordering::Equal, Ordering::Less) => Some(Side::Sell),
        _ => None,
    }
}

/// A long-only strategy's position and the words of its signals: the
/// names of its values and its reasons, made once.
#[derive(Clone, Debug)]
struct Long {
    name: &'static str,
    long: bool,
    values: Vec<SmolStr>,
    buy: String,
    sell: String,
}

impl Long {
    fn new(name: &'static str, values: &[&str], buy: String, sell: String) -> Self {
        Self { name, long: false, values: values.iter().copied().map(SmolStr::from).collect(), buy, sell }
    }

    /// The signal for `side` at `bar`, unless it would buy while long or
    /// sell while flat; `values` are those of the names given to [`Long::new`].
    fn signal<const N: usize>(
        &mut self,
        side: Side,
        bar: BarClose<'_>,
        values: impl FnOnce() -> [f64; N],
    ) -> Option<Signal> {
        if self.long == (side == Side::Buy) {
            return None;
        }
        self.long = side == Side::Buy;
        Some(Signal {
            strategy: SmolStr::new_static(self.name),
            symbol: bar.symbol.clone(),
            interval: bar.interval,
            start: bar.start,
            side,
            close: bar.close,
            values: self.values.iter().cloned().zip(values()).collect(),
            reason: if side == Side::Buy { self.buy.clone() } else { self.sell.clone() },
        })
    }
}
