//! Bollinger bands.

use super::{CloseIndicator, Indicator, IndicatorError, Sma, Window, check_period};
use crate::bar::Bar;
use crate::fixed::Price;

/// The three Bollinger bands after one bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    /// `middle + k · σ`.
    pub upper: f64,
    /// The simple moving average of the closes.
    pub middle: f64,
    /// `middle − k · σ`.
    pub lower: f64,
}

/// Bollinger bands of closes (TA-Lib's `BBANDS` with an SMA and equal up and
/// down multipliers; 20 closes, 2σ by [`Default`]).
///
/// `middle = SMA_n` (the [`Sma`] of the same closes, bit for bit), `σ` = the
/// *population* standard deviation of the last `n` closes
/// ([`Window::std_population`]), `upper = middle + k · σ`, `lower = middle −
/// k · σ`. Warm-up `n − 1`: the bar with index `n − 1` (19 for 20) is the first
/// with a value. TA-Lib computes `σ` from running sums of `x` and `x²`
/// (`sqrt(Σx²/n − mean²)`), which cancels: here the mean is exact and `σ` is
/// computed in two passes, so both are at least as accurate as TA-Lib's; on a
/// flat window `σ` is 0 or within a few units in the last place of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Bollinger {
    k: f64,
    sma: Sma,
    window: Window,
    value: Option<Bands>,
}

impl Bollinger {
    /// Bands over `period` closes (2 to [`MAX_PERIOD`](super::MAX_PERIOD)),
    /// `k` standard deviations away from the middle (any finite number).
    pub fn new(period: usize, k: f64) -> Result<Self, IndicatorError> {
        let period = check_period("BBANDS", period, 2)?;
        if !k.is_finite() {
            return Err(IndicatorError::Multiplier { indicator: "BBANDS", value: k });
        }
        Ok(Self::of(period, k))
    }

    /// Bands with parameters already checked.
    fn of(period: usize, k: f64) -> Self {
        Self { k, sma: Sma::of(period), window: Window::of(period), value: None }
    }

    /// The number of closes, `n`.
    pub fn period(&self) -> usize {
        self.sma.period()
    }

    /// The multiplier `k`.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// The simple moving average that is the middle band, with its exact sum.
    pub fn sma(&self) -> &Sma {
        &self.sma
    }
}

impl Default for Bollinger {
    /// Bands over 20 closes at 2 standard deviations.
    fn default() -> Self {
        Self::of(20, 2.0)
    }
}

impl Indicator for Bollinger {
    type Output = Bands;

    fn update(&mut self, bar: &Bar) -> Option<Bands> {
        self.update_close(bar.close)
    }

    fn value(&self) -> Option<Bands> {
        self.value
    }

    fn reset(&mut self) {
        self.sma.reset();
        self.window.clear();
        self.value = None;
    }

    fn warm_up(&self) -> usize {
        self.sma.period() - 1
    }
}

impl CloseIndicator for Bollinger {
    fn update_close(&mut self, close: Price) -> Option<Bands> {
        let middle = self.sma.update_close(close);
        self.window.push(close.to_f64());
        let (middle, std) = (middle?, self.window.std_population()?);
        let width = std * self.k;
        self.value = Some(Bands { upper: middle + width, middle, lower: middle - width });
        self.value
    }
}
