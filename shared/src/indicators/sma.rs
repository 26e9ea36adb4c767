//! Simple moving average, with an exact window sum.

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
///
/// The window is a ring of `n` slots: a close overwrites the oldest one, so
/// an update is an add, a subtract and a store (the backtest's hot loop).
#[derive(Clone, Debug)]
pub struct Sma {
    period: usize,
    /// The last closes; `ring[next]` is the oldest once `len == period`.
    ring: Box<[i64]>,
    next: usize,
    len: usize,
    sum: i128,
}

impl Sma {
    /// An SMA over `period` closes (1 to [`MAX_PERIOD`](super::MAX_PERIOD)).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        Ok(Self::of(check_period("SMA", period, 1)?))
    }

    /// An SMA over a period already checked.
    pub(super) fn of(period: usize) -> Self {
        Self { period, ring: vec![0; period].into_boxed_slice(), next: 0, len: 0, sum: 0 }
    }

    /// The closes in the window, oldest first.
    fn window(&self) -> impl Iterator<Item = i64> + '_ {
        let (newer, older) = self.ring.split_at(self.next);
        let older = &older[older.len().min(self.period - self.len)..];
        older.iter().chain(newer.iter().take(self.len)).copied()
    }

    /// The number of closes averaged, `n`.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The exact sum of the last `n` closes in units of 10^-8 (the average
    /// times `n`), once warmed up.
    pub fn sum(&self) -> Option<i128> {
        (self.len == self.period).then_some(self.sum)
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
        self.next = 0;
        self.len = 0;
        self.sum = 0;
    }

    fn warm_up(&self) -> usize {
        self.period - 1
    }
}

impl CloseIndicator for Sma {
    #[inline]
    fn update_close(&mut self, close: Price) -> Option<f64> {
        let slot = &mut self.ring[self.next];
        if self.len == self.period {
            self.sum -= i128::from(*slot);
        } else {
            self.len += 1;
        }
        *slot = close.units();
        self.sum += i128::from(close.units());
        self.next = if self.next + 1 == self.period { 0 } else { self.next + 1 };
        self.value()
    }
}

/// Equal when the periods and the closes in the window are.
impl PartialEq for Sma {
    fn eq(&self, other: &Self) -> bool {
        self.period == other.period
            && self.sum == other.sum
            && self.len == other.len
            && self.window().eq(other.window())
    }
}

impl Eq for Sma {}
