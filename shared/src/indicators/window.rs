//! The rolling window of the last `n` values.

use std::collections::VecDeque;

use super::{IndicatorError, check_period};

/// The last `period` values of a series, with their sum, mean and standard
/// deviations.
///
/// Every statistic is `None` until the window holds `period` values (like
/// pandas' `rolling(period)` with its default `min_periods`). They are
/// computed from the values on demand, in two passes: the mean first, then the
/// squared deviations from it. Periods are small (20), so this costs little,
/// and it neither drifts nor cancels, as a running sum of squares would
/// (`Σx²/n − mean²` loses most digits when the deviations are small next to
/// the values, as they are for prices).
///
/// ```
/// use tickflow_shared::indicators::Window;
///
/// let mut w = Window::new(3)?;
/// for x in [1.0, 2.0, 4.0, 6.0] {
///     w.push(x);
/// }
/// assert_eq!(w.mean(), Some(4.0)); // of 2, 4, 6
/// assert_eq!(w.std_sample(), Some(2.0));
/// assert_eq!(w.z_score(8.0), Some(2.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    period: usize,
    values: VecDeque<f64>,
}

impl Window {
    /// A window over the last `period` values (1 to [`MAX_PERIOD`](super::MAX_PERIOD)).
    pub fn new(period: usize) -> Result<Self, IndicatorError> {
        Ok(Self::of(check_period("WINDOW", period, 1)?))
    }

    /// A window over a period already checked.
    pub(super) fn of(period: usize) -> Self {
        Self { period, values: VecDeque::with_capacity(period) }
    }

    /// Adds the next value, dropping the oldest once the window is full.
    pub fn push(&mut self, value: f64) {
        if self.values.len() == self.period {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.values.clear();
    }

    /// The number of values the window holds when full.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The number of values held (at most `period`).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether the window holds `period` values, so its statistics are defined.
    pub fn is_full(&self) -> bool {
        self.values.len() == self.period
    }

    /// The values held, oldest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.values.iter().copied()
    }

    /// `Σ x` over the window, added oldest first.
    pub fn sum(&self) -> Option<f64> {
        self.is_full().then(|| self.values.iter().sum())
    }

    /// `Σ x / n`.
    pub fn mean(&self) -> Option<f64> {
        self.sum().map(|sum| sum / self.period as f64)
    }

    /// `Σ (x − mean)²`, the sum of squared deviations from the mean.
    fn squared_deviations(&self) -> Option<f64> {
        let mean = self.mean()?;
        Some(self.values.iter().map(|x| (x - mean) * (x - mean)).sum())
    }

    /// Population standard deviation: `sqrt(Σ (x − mean)² / n)`, as in
    /// Bollinger bands (TA-Lib's `STDDEV`, numpy's `std`).
    pub fn std_population(&self) -> Option<f64> {
        self.squared_deviations().map(|ss| (ss / self.period as f64).sqrt())
    }

    /// Sample standard deviation: `sqrt(Σ (x − mean)² / (n − 1))`, as pandas'
    /// `rolling(n).std()`. `None` also for a period of 1.
    pub fn std_sample(&self) -> Option<f64> {
        if self.period < 2 {
            return None;
        }
        self.squared_deviations().map(|ss| (ss / (self.period - 1) as f64).sqrt())
    }

    /// `(value − mean) / std_sample`: how many sample standard deviations
    /// `value` lies from the window's mean. Pass the newest value (after
    /// pushing it) for the rolling z-score `(x − x.rolling(n).mean()) /
    /// x.rolling(n).std()`. `None` while the window is not full, and when its
    /// values are all equal (the deviation is zero).
    pub fn z_score(&self, value: f64) -> Option<f64> {
        let mean = self.mean()?;
        let std = self.std_sample()?;
        (std > 0.0).then(|| (value - mean) / std)
    }
}
