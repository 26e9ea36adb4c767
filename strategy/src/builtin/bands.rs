//! `bollinger`: buy below the lower band, sell above the middle one.

use super::{BarClose, CloseStrategy, Long};
use crate::Strategy;
use tickflow_shared::Bar;
use tickflow_shared::indicators::{Bollinger, CloseIndicator};
use tickflow_shared::signal::{Side, Signal};

/// `bollinger`: mean reversion to the middle band.
#[derive(Clone, Debug)]
pub(super) struct BollingerReversion {
    bands: Bollinger,
    long: Long,
}

impl BollingerReversion {
    /// Parameters already checked: `period >= 2`, `k > 0` and finite.
    pub(super) fn new(period: usize, k: f64) -> Self {
        Self {
            bands: Bollinger::new(period, k).unwrap_or_else(|_| unreachable!("checked by Spec")),
            long: Long::new(
                "bollinger",
                &["bb_upper", "bb_middle", "bb_lower"],
                format!("close below the lower band (sma_{period} - {k} sd)"),
                format!("close above the middle band (sma_{period})"),
            ),
        }
    }
}

impl CloseStrategy for BollingerReversion {
    fn on_close(&mut self, bar: BarClose<'_>) -> Option<Signal> {
        let bands = self.bands.update_close(bar.close)?;
        let sma = self.bands.sma();
        let sum = sma.sum()?;
        // close > SMA ⟺ n · close > Σ closes, in exact integers.
        let above_middle = sma.period() as i128 * i128::from(bar.close.units()) > sum;
        let side = if !self.long.long && bar.close.to_f64() < bands.lower {
            Side::Buy
        } else if self.long.long && above_middle {
            Side::Sell
        } else {
            return None;
        };
        self.long.signal(side, bar, || [bands.upper, bands.middle, bands.lower])
    }
}

impl Strategy for BollingerReversion {
    fn name(&self) -> &'static str {
        "bollinger"
    }

    fn on_bar(&mut self, bar: &Bar) -> Option<Signal> {
        self.on_close(BarClose::of(bar))
    }

    fn warm_up(&self) -> usize {
        self.bands.period() - 1
    }

    fn is_long(&self) -> bool {
        self.long.long
    }
}
