//! Technical indicators: incremental state fed one final bar at a time.
//!
//! Each indicator is a small struct behind one trait, [`Indicator`]: `update`
//! with the next final bar of one symbol's series, read `value`, `reset` to
//! start over. The signal bot, the backtest and the feature export all use
//! these types, so a feature and a signal computed from the same bars never
//! disagree.
//!
//! # TA-Lib's conventions
//!
//! TA-Lib is the reference traders check against, so every indicator follows
//! its definition (compatibility `TA_COMPATIBILITY_DEFAULT`, unstable period 0):
//! the same seeds (an EMA starts from the SMA of its first `n` inputs; RSI and
//! ATR use Wilder's smoothing seeded by a plain average), the same warm-up
//! ("lookback"), and for the recursive ones the floating-point operations of
//! TA-Lib's C source (`ta_EMA.c`, `ta_RSI.c`, …) in the same order. Values
//! agree with TA-Lib's to a few units in the last place, bit for bit with a
//! build that compiles that source as written (TA-Lib 0.8's binaries multiply
//! by `1/n` instead of dividing in places, and pick an FMA build on processors
//! that have one, which moves the last bits). An indicator yields `None` until
//! it is warmed up: the bar with 0-based index
//! [`Indicator::warm_up`] is the first to yield a value, exactly where TA-Lib's
//! output stops being NaN. `shared/tests/fixtures/talib/` holds TA-Lib's
//! values on the real trades' 1m bars, and the tests compare against them.
//!
//! # Exact where it is cheap
//!
//! Closes are fixed-point [`Price`]s. [`Sma`] keeps the exact `i128` sum of its
//! window, so a strategy can compare two averages without rounding
//! (`slow · Σfast > fast · Σslow`), and its `f64` value is the exact mean
//! rounded once. [`VwapDeviation`] is rounded once from exact integers too. The
//! recursive indicators ([`Ema`], [`Rsi`], [`Atr`], [`Macd`]) are defined by
//! TA-Lib in `f64`, so they are computed in `f64`, TA-Lib's way.
//!
//! [`Window`] is the rolling window (sum, mean, population and sample standard
//! deviation, z-score of the last `n` values) under [`Bollinger`] and the
//! feature export.
//!
//! Start with [`Indicator`] and [`Sma`].

mod atr;
mod bollinger;
mod ema;
mod macd;
mod rsi;
mod sma;
mod vwap;
mod window;

#[cfg(test)]
mod talib_tests;
#[cfg(test)]
mod tests;

pub use atr::Atr;
pub use bollinger::{Bands, Bollinger};
pub use ema::Ema;
pub use macd::{Macd, MacdValue};
pub use rsi::Rsi;
pub use sma::Sma;
pub use vwap::VwapDeviation;
pub use window::Window;

use crate::bar::Bar;
use crate::fixed::Price;

/// The largest period any indicator accepts (TA-Lib's limit too).
pub const MAX_PERIOD: usize = 100_000;

/// An incremental indicator over one symbol's series of final bars.
///
/// Feed the bars in `start` order, one at a time, each exactly once. The
/// value after a bar depends only on that bar and the ones fed before it.
///
/// ```
/// use tickflow_shared::Price;
/// use tickflow_shared::indicators::{CloseIndicator, Indicator, Sma};
///
/// let mut sma = Sma::new(3)?;
/// assert_eq!(sma.warm_up(), 2); // the bar with index 2 is the first with a value
/// assert_eq!(sma.update_close(Price::parse("10")?), None);
/// assert_eq!(sma.update_close(Price::parse("11")?), None);
/// assert_eq!(sma.update_close(Price::parse("12.5")?), Some(11.166666666666666));
/// assert_eq!(sma.sum(), Some(3_350_000_000)); // exact, in units of 10^-8
/// sma.reset();
/// assert_eq!(sma.value(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Indicator {
    /// What the indicator yields once warmed up.
    type Output: Copy;

    /// Feeds the next final bar and returns the value after it, `None` while
    /// warming up.
    fn update(&mut self, bar: &Bar) -> Option<Self::Output>;

    /// The value after the last bar fed, `None` while warming up.
    fn value(&self) -> Option<Self::Output>;

    /// Forgets every bar fed: the indicator is as new.
    fn reset(&mut self);

    /// TA-Lib's lookback: the number of bars fed before the first value, so
    /// the bar with 0-based index `warm_up()` is the first to yield `Some`.
    fn warm_up(&self) -> usize;

    /// Whether the indicator has a value.
    fn is_ready(&self) -> bool {
        self.value().is_some()
    }
}

/// An indicator of closes only, which can also be fed a plain close.
///
/// [`Indicator::update`] with a bar is the same as `update_close(bar.close)`.
pub trait CloseIndicator: Indicator {
    /// Feeds the next close and returns the value after it, `None` while
    /// warming up.
    fn update_close(&mut self, close: Price) -> Option<Self::Output>;
}

/// Why an indicator could not be built from its parameters.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum IndicatorError {
    /// A period outside what the indicator accepts.
    #[error("{indicator} period {period} is outside {min}..={MAX_PERIOD}")]
    Period {
        /// The indicator, as TA-Lib names it.
        indicator: &'static str,
        /// The period asked for.
        period: usize,
        /// The smallest period the indicator accepts.
        min: usize,
    },
    /// A multiplier that is not a finite number.
    #[error("{indicator} multiplier {value} is not a finite number")]
    Multiplier {
        /// The indicator, as TA-Lib names it.
        indicator: &'static str,
        /// The multiplier asked for.
        value: f64,
    },
}

/// `period` if it lies in `min..=MAX_PERIOD`.
fn check_period(indicator: &'static str, period: usize, min: usize) -> Result<usize, IndicatorError> {
    if (min..=MAX_PERIOD).contains(&period) {
        Ok(period)
    } else {
        Err(IndicatorError::Period { indicator, period, min })
    }
}

/// TA-Lib's `TA_IS_ZERO`: `|v| < 1e-14` (`TA_EPSILON`).
fn is_zero(v: f64) -> bool {
    -1e-14 < v && v < 1e-14
}
