//! The close's deviation from the bar's VWAP.

use super::Indicator;
use crate::bar::Bar;

/// How far a bar closed from its own volume-weighted average price.
///
/// `close / vwap − 1` of the bar, a fraction (`0.001` is 10 bp above the
/// VWAP), computed as `(close − vwap) / vwap` from the exact fixed-point close
/// and VWAP ([`Bar::vwap`], already rounded to 8 decimals): the difference is
/// an exact integer, so the result is rounded once and has no cancellation.
/// It looks at one bar only: warm-up 0, every bar yields a value, except one
/// whose VWAP is not positive (which no valid bar has). TA-Lib has no VWAP; the
/// fixtures check this against an exact decimal computation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VwapDeviation {
    value: Option<f64>,
}

impl VwapDeviation {
    /// The indicator, with no bar fed yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Indicator for VwapDeviation {
    type Output = f64;

    fn update(&mut self, bar: &Bar) -> Option<f64> {
        let (close, vwap) = (bar.close.units(), bar.vwap.units());
        self.value = (vwap > 0).then(|| (i128::from(close) - i128::from(vwap)) as f64 / vwap as f64);
        self.value
    }

    fn value(&self) -> Option<f64> {
        self.value
    }

    fn reset(&mut self) {
        self.value = None;
    }

    fn warm_up(&self) -> usize {
        0
    }
}
