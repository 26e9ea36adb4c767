//! Exponential moving average, seeded by a simple one.

use super::{CloseIndicator, Indicator, IndicatorError, check_period};
use crate::bar::Bar;
use crate::fixed::Price;

/// TA-Lib's EMA recursion over `f64` inputs, shared by [`Ema`] and
/// [`Macd`](super::Macd).
///
/// The first `n` inputs are summed from `0.0` in order and divided by `n` (the
/// seed, and the first value); after that `ema = (x − ema) · k + ema` with
/// `k = 2 / (n + 1)`: the operations of `TA_EMA`, in its order.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct EmaCore {
    period: usize,
    k: f64,
    seen: usize,
    seed_sum: f64,
    value: Option<f64>,
}

impl EmaCore {
    /// The recursion for a period already checked to be at least 1.
    pub(super) fn new(period: usize) -> Self {
        Self { period, k: 2.0 / (period + 1) as f64, seen: 0, seed_sum: 0.0, value: None }
    }

    pub(super) fn update(&mut self, x: f64) -> Option<f64> {
        match self.value {
            Some(prev) => self.value = Some((x - prev) * self.k + prev),
            None => {
                self.seed_sum += x;
                self.seen += 1;
                if self.seen == self.period {
                    self.value = Some(self.seed_sum / self.period as f64);
                }
            }
        }
        self.value
    }

    pub(super) fn value(&self) -> Option<f64> {
        self.value
    }

    pub(super) fn reset(&mut self) {
        *self = Self::new(self.period);
    }
}

/// Exponential moving average of closes (TA-Lib's `EMA`, classic seed).
///
/// `EMA_{n−1} = (c_0 + … + c_{n−1}) / n` (the SMA of the first `n` closes),
/// then `EMA_t = (c_t − EMA_{t−1}) · k + EMA_{t−1}` with `k = 2 / (n + 1)`.
/// Warm-up `n − 1`: the bar with index `n − 1` is the first with a value.
/// Computed in `f64` with TA-Lib's operations in TA-Lib's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Ema {
    core: EmaCore,
}

impl Ema {
    /// An EMA over `period` closes (1 to [`MAX_PERIOD`](super::MAX_PERIOD)).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        let period = check_period("EMA", period, 1)?;
        Ok(Self { core: EmaCore::new(period) })
    }

    /// The period `n`.
    pub fn period(&self) -> usize {
        self.core.period
    }

    /// The smoothing factor `k = 2 / (n + 1)`.
    pub fn k(&self) -> f64 {
        self.core.k
    }
}

impl Indicator for Ema {
    type Output = f64;

    fn update(&mut self, bar: &Bar) -> Option<f64> {
        self.update_close(bar.close)
    }

    fn value(&self) -> Option<f64> {
        self.core.value()
    }

    fn reset(&mut self) {
        self.core.reset();
    }

    fn warm_up(&self) -> usize {
        self.core.period - 1
    }
}

impl CloseIndicator for Ema {
    fn update_close(&mut self, close: Price) -> Option<f64> {
        self.core.update(close.to_f64())
    }
}
