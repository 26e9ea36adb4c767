//! Relative strength index with Wilder's smoothing.

use super::{CloseIndicator, Indicator, IndicatorError, check_period, is_zero};
use crate::bar::Bar;
use crate::fixed::Price;

/// Relative strength index of closes (TA-Lib's `RSI`, the classic Wilder
/// definition, not MetaStock's).
///
/// With `d_t = c_t − c_{t−1}`, gains `max(d, 0)` and losses `max(−d, 0)`: the
/// first average gain `G_n` and loss `L_n` are the plain means of the first
/// `n` gains and losses (of `d_1 … d_n`); after that Wilder smooths them,
/// `G_t = (G_{t−1} · (n − 1) + gain_t) / n`, and the same for `L`. Then
/// `RSI_t = 100 · G_t / (G_t + L_t)`, and `0` when `G_t + L_t` is zero (below
/// TA-Lib's epsilon of 1e-14: a flat series). Warm-up `n`: the bar with
/// index `n` is the first with a value (it needs `n` changes, so `n + 1`
/// closes). Computed in `f64` with TA-Lib's operations in TA-Lib's order.
/// (The zero test is that of `ta_RSI.c`; TA-Lib 0.8.1's binary tests `> 0`
/// instead, which differs only once both averages have decayed below 1e-14,
/// hundreds of unchanged closes after the last move.)
#[derive(Clone, Debug, PartialEq)]
pub struct Rsi {
    period: usize,
    prev: Option<f64>,
    changes: usize,
    gain: f64,
    loss: f64,
    value: Option<f64>,
}

impl Rsi {
    /// An RSI over `period` changes (2 to [`MAX_PERIOD`](super::MAX_PERIOD)).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        let period = check_period("RSI", period, 2)?;
        Ok(Self { period, prev: None, changes: 0, gain: 0.0, loss: 0.0, value: None })
    }

    /// The period `n`.
    pub fn period(&self) -> usize {
        self.period
    }

    fn ratio(&self) -> f64 {
        let total = self.gain + self.loss;
        if is_zero(total) { 0.0 } else { 100.0 * (self.gain / total) }
    }
}

impl Default for Rsi {
    /// RSI(14), TA-Lib's default.
    fn default() -> Self {
        Self { period: 14, prev: None, changes: 0, gain: 0.0, loss: 0.0, value: None }
    }
}

impl Indicator for Rsi {
    type Output = f64;

    fn update(&mut self, bar: &Bar) -> Option<f64> {
        self.update_close(bar.close)
    }

    fn value(&self) -> Option<f64> {
        self.value
    }

    fn reset(&mut self) {
        *self = Self { period: self.period, ..Self::default() };
    }

    fn warm_up(&self) -> usize {
        self.period
    }
}

impl CloseIndicator for Rsi {
    fn update_close(&mut self, close: Price) -> Option<f64> {
        let x = close.to_f64();
        let prev = self.prev.replace(x)?;
        let change = x - prev;
        // Once warmed up, each average is smoothed: times n − 1, plus today's, over n.
        let smoothing = self.value.is_some();
        if smoothing {
            self.loss *= (self.period - 1) as f64;
            self.gain *= (self.period - 1) as f64;
        }
        if change < 0.0 {
            self.loss -= change;
        } else {
            self.gain += change;
        }
        if !smoothing {
            self.changes += 1;
            if self.changes < self.period {
                return None;
            }
        }
        self.loss /= self.period as f64;
        self.gain /= self.period as f64;
        self.value = Some(self.ratio());
        self.value
    }
}
