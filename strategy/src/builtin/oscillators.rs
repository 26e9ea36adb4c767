//! Oscillators: `rsi` crossing its levels, `macd` crossing its signal line.

use super::{BarClose, CloseStrategy, Long, crossing};
use crate::Strategy;
use std::cmp::Ordering;
use tickflow_shared::Bar;
use tickflow_shared::indicators::{CloseIndicator, Indicator, Macd, Rsi};
use tickflow_shared::signal::{Side, Signal};

/// `rsi`: buy crossing up through `oversold`, sell crossing down through `overbought`.
#[derive(Clone, Debug)]
pub(super) struct RsiLevels {
    rsi: Rsi,
    oversold: f64,
    overbought: f64,
    prev: Option<f64>,
    long: Long,
}

impl RsiLevels {
    /// Parameters already checked: `period >= 2`, `0 <= oversold < overbought <= 100`.
    pub(super) fn new(period: usize, oversold: f64, overbought: f64) -> Self {
        let name = format!("rsi_{period}");
        Self {
            rsi: Rsi::new(period).unwrap_or_else(|_| unreachable!("checked by Spec")),
            oversold,
            overbought,
            prev: None,
            long: Long::new(
                "rsi",
                &[&name],
                format!("{name} crossed above oversold {oversold}"),
                format!("{name} crossed below overbought {overbought}"),
            ),
        }
    }
}

impl CloseStrategy for RsiLevels {
    fn on_close(&mut self, bar: BarClose<'_>) -> Option<Signal> {
        let now = self.rsi.update_close(bar.close)?;
        let prev = self.prev.replace(now)?;
        let through = |level: f64| crossing(prev.partial_cmp(&level)?, now.partial_cmp(&level)?);
        let side = if through(self.oversold) == Some(Side::Buy) {
            Side::Buy
        } else if through(self.overbought) == Some(Side::Sell) {
            Side::Sell
        } else {
            return None;
        };
        self.long.signal(side, bar, || [now])
    }
}

impl Strategy for RsiLevels {
    fn name(&self) -> &'static str {
        "rsi"
    }

    fn on_bar(&mut self, bar: &Bar) -> Option<Signal> {
        self.on_close(BarClose::of(bar))
    }

    fn warm_up(&self) -> usize {
        self.rsi.period() + 1
    }

    fn is_long(&self) -> bool {
        self.long.long
    }
}

/// `macd`: the MACD line crossing its signal line.
#[derive(Clone, Debug)]
pub(super) struct MacdCross {
    macd: Macd,
    prev: Option<Ordering>,
    long: Long,
}

impl MacdCross {
    /// Periods already checked: `2 <= fast < slow`, `signal >= 1`.
    pub(super) fn new(fast: usize, slow: usize, signal: usize) -> Self {
        Self {
            macd: Macd::new(fast, slow, signal).unwrap_or_else(|_| unreachable!("checked by Spec")),
            prev: None,
            long: Long::new(
                "macd",
                &["macd", "macd_signal", "macd_histogram"],
                "macd crossed above its signal line".to_owned(),
                "macd crossed below its signal line".to_owned(),
            ),
        }
    }
}

impl CloseStrategy for MacdCross {
    fn on_close(&mut self, bar: BarClose<'_>) -> Option<Signal> {
        let value = self.macd.update_close(bar.close)?;
        let now = value.line.partial_cmp(&value.signal)?;
        let side = crossing(self.prev.replace(now)?, now)?;
        self.long.signal(side, bar, || [value.line, value.signal, value.histogram])
    }
}

impl Strategy for MacdCross {
    fn name(&self) -> &'static str {
        "macd"
    }

    fn on_bar(&mut self, bar: &Bar) -> Option<Signal> {
        self.on_close(BarClose::of(bar))
    }

    fn warm_up(&self) -> usize {
        self.macd.warm_up() + 1
    }

    fn is_long(&self) -> bool {
        self.long.long
    }
}
