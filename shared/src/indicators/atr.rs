//! Average true range with Wilder's smoothing.

use super::{Indicator, IndicatorError, check_period};
use crate::bar::Bar;
use crate::fixed::Price;

/// Average true range (TA-Lib's `ATR`).
///
/// The true range of a bar is `TR_t = max(h_t − l_t, |c_{t−1} − h_t|,
/// |c_{t−1} − l_t|)`; it needs the previous close, so the first bar has none.
/// `ATR_n` is the plain mean of `TR_1 … TR_n`; after that Wilder smooths it,
/// `ATR_t = (ATR_{t−1} · (n − 1) + TR_t) / n`. Warm-up `n`: the bar with index
/// `n` is the first with a value. Computed in `f64` with TA-Lib's operations in
/// TA-Lib's order (the ranges are differences of the `f64` prices, as TA-Lib
/// sees them).
#[derive(Clone, Debug, PartialEq)]
pub struct Atr {
    period: usize,
    prev_close: Option<f64>,
    ranges: usize,
    total: f64,
    value: Option<f64>,
}

impl Atr {
    /// An ATR over `period` true ranges (1 to [`MAX_PERIOD`](super::MAX_PERIOD)).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        let period = check_period("ATR", period, 1)?;
        Ok(Self { period, prev_close: None, ranges: 0, total: 0.0, value: None })
    }

    /// The period `n`.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Feeds the next bar's high, low and close; the same as
    /// [`update`](Indicator::update) with that bar.
    pub fn update_hlc(&mut self, high: Price, low: Price, close: Price) -> Option<f64> {
        let (high, low) = (high.to_f64(), low.to_f64());
        let prev_close = self.prev_close.replace(close.to_f64())?;
        let mut range = high - low;
        let to_high = (prev_close - high).abs();
        if to_high > range {
            range = to_high;
        }
        let to_low = (prev_close - low).abs();
        if to_low > range {
            range = to_low;
        }
        match self.value {
            Some(prev) => {
                let mut atr = prev * (self.period - 1) as f64;
                atr += range;
                atr /= self.period as f64;
                self.value = Some(atr);
            }
            None => {
                self.total += range;
                self.ranges += 1;
                if self.ranges == self.period {
                    self.value = Some(self.total / self.period as f64);
                }
            }
        }
        self.value
    }
}

impl Default for Atr {
    /// ATR(14), TA-Lib's default.
    fn default() -> Self {
        Self { period: 14, prev_close: None, ranges: 0, total: 0.0, value: None }
    }
}

impl Indicator for Atr {
    type Output = f64;

    fn update(&mut self, bar: &Bar) -> Option<f64> {
        self.update_hlc(bar.high, bar.low, bar.close)
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
