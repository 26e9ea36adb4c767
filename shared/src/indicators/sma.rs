//! Simple moving average, with an exact window sum.

use std::collections::VecDeque;

use super::{CloseIndicator, Indicator, IndicatorError, check_period};
use crate::bar::Bar;
use crate::fixed::{Price, SCALE};

/// Simple moving average of the last `n` closes (TA-Lib's `SMA`).
///
/// `SMA_t = (c_{t−n+1} + … + c_t) / n`. Warm-up `n − 1`: the bar with index
/// `n − 1` is the first with a value.
///
/// The window's sum is kept exactly, as an `i128` of units of 10^-8
/// ([`Sma::sum`]), so two averages compare without rounding: the fast one is
/// above the slow one exactly when `slow.period() · fast.sum() >
/// fast.period() · slow.sum()`. The `f64` value is that exact sum divided by
/// `n · 10^8` with one rounding, which is the exact mean rounded to the
/// nearest `f64` while the sum stays below 2^53 units (a window of prices
/// adding up to 90 million). TA-Lib keeps a running `f64` sum instead, which
/// drifts by a few units in the last place; the fixtures test allows for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sma {
    period: usize,
    window: VecDeque<i64>,
    sum: i128,
}

impl Sma {
    /// An SMA over `period` closes (1 to [`MAX_PERIOD`](super::MAX_PERIOD)).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        Ok(Self::of(check_period("SMA", period, 1)?))
    }

    /// An SMA over a period already checked.
    pub(super) fn of(period: usize) -> Self {
        Self { period, window: VecDeque::with_capacity(period + 1), sum: 0 }
    }

    /// The number of closes averaged, `n`.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The exact sum of the last `n` closes in units of 10^-8 (the average
    /// times `n`), once warmed up.
    pub fn sum(&self) -> Option<i128> {
        (self.window.len() == self.period).then_some(self.sum)
    }
}

impl Indicator for Sma {
    type Output = f64;

    fn update(&mut self, bar: &Bar) -> Option<f64> {
        self.update_close(bar.close)
    }

    fn value(&self) -> Option<f64> {
        self.sum().map(|sum| sum as f64 / (self.period as f64 * SCALE as f64))
    }

    fn reset(&mut self) {
        self.window.clear();
        self.sum = 0;
    }

    fn warm_up(&self) -> usize {
        self.period - 1
    }
}

impl CloseIndicator for Sma {
    fn update_close(&mut self, close: Price) -> Option<f64> {
        self.window.push_back(close.units());
        self.sum += i128::from(close.units());
        if self.window.len() > self.period
            && let Some(oldest) = self.window.pop_front()
        {
            self.sum -= i128::from(oldest);
        }
        self.value()
    }
}
