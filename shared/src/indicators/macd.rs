//! Moving average convergence/divergence.

use super::ema::EmaCore;
use super::{CloseIndicator, Indicator, IndicatorError, check_period};
use crate::bar::Bar;
use crate::fixed::Price;

/// The three lines of a [`Macd`] after one bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MacdValue {
    /// `fast EMA − slow EMA` of the closes.
    pub line: f64,
    /// The EMA of the MACD line over the signal period.
    pub signal: f64,
    /// `line − signal`.
    pub histogram: f64,
}

/// MACD (TA-Lib's `MACD`; 12, 26, 9 by [`Default`]).
///
/// `line = EMA_fast − EMA_slow`, `signal = EMA_signal(line)`, `histogram =
/// line − signal`, each EMA with `k = 2 / (n + 1)` and seeded by the plain mean
/// of its first `n` inputs. As in TA-Lib, the two price EMAs are seeded so that
/// they start on the same bar: the slow one with closes `0 … slow − 1`, the
/// fast one with closes `slow − fast … slow − 1` (so the fast EMA here is *not*
/// a standalone [`Ema`](super::Ema) of the fast period, which would start
/// earlier). The MACD line starts at bar `slow − 1`, the signal EMA is seeded
/// with its first `signal` values, and the first value comes at bar
/// `slow + signal − 2`: warm-up 33 for 12, 26, 9. If `fast > slow` the two are
/// swapped, as TA-Lib does. Computed in `f64` with TA-Lib's operations in
/// TA-Lib's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Macd {
    fast_period: usize,
    slow_period: usize,
    signal_period: usize,
    seen: usize,
    fast: EmaCore,
    slow: EmaCore,
    signal: EmaCore,
    value: Option<MacdValue>,
}

impl Macd {
    /// A MACD with the given EMA periods (fast and slow 2 to
    /// [`MAX_PERIOD`](super::MAX_PERIOD), signal 1 to that).
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, IndicatorError> {
        let fast = check_period("MACD fast", fast, 2)?;
        let slow = check_period("MACD slow", slow, 2)?;
        let signal = check_period("MACD signal", signal, 1)?;
        let (fast, slow) = if slow < fast { (slow, fast) } else { (fast, slow) };
        Ok(Self {
            fast_period: fast,
            slow_period: slow,
            signal_period: signal,
            seen: 0,
            fast: EmaCore::new(fast),
            slow: EmaCore::new(slow),
            signal: EmaCore::new(signal),
            value: None,
        })
    }

    /// The periods `(fast, slow, signal)`, fast ≤ slow.
    pub fn periods(&self) -> (usize, usize, usize) {
        (self.fast_period, self.slow_period, self.signal_period)
    }
}

impl Default for Macd {
    /// MACD(12, 26, 9), the standard parameters and TA-Lib's defaults.
    fn default() -> Self {
        Self {
            fast_period: 12,
            slow_period: 26,
            signal_period: 9,
            seen: 0,
            fast: EmaCore::new(12),
            slow: EmaCore::new(26),
            signal: EmaCore::new(9),
            value: None,
        }
    }
}

impl Indicator for Macd {
    type Output = MacdValue;

    fn update(&mut self, bar: &Bar) -> Option<MacdValue> {
        self.update_close(bar.close)
    }

    fn value(&self) -> Option<MacdValue> {
        self.value
    }

    fn reset(&mut self) {
        self.seen = 0;
        self.fast.reset();
        self.slow.reset();
        self.signal.reset();
        self.value = None;
    }

    fn warm_up(&self) -> usize {
        self.slow_period + self.signal_period - 2
    }
}

impl CloseIndicator for Macd {
    fn update_close(&mut self, close: Price) -> Option<MacdValue> {
        let x = close.to_f64();
        let index = self.seen;
        self.seen += 1;
        let slow = self.slow.update(x);
        // The fast EMA's seed window ends where the slow one's does.
        let fast = if index >= self.slow_period - self.fast_period { self.fast.update(x) } else { None };
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return None;
        };
        let line = fast - slow;
        let signal = self.signal.update(line)?;
        self.value = Some(MacdValue { line, signal, histogram: line - signal });
        self.value
    }
}
