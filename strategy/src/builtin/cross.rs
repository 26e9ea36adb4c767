//! Moving averages crossing: `sma-cross` (exact) and `ema-cross`.

use super::{BarClose, CloseStrategy, Long, crossing};
use crate::Strategy;
use std::cmp::Ordering;
use tickflow_shared::Bar;
use tickflow_shared::indicators::{CloseIndicator, Ema, Indicator, Sma};
use tickflow_shared::signal::Signal;

/// `sma-cross`: the fast SMA crossing the slow one, compared exactly.
#[derive(Clone, Debug)]
pub(super) struct SmaCross {
    fast: Sma,
    slow: Sma,
    prev: Option<Ordering>,
    long: Long,
}

impl SmaCross {
    /// Periods already checked: `1 <= fast < slow <= MAX_PERIOD`.
    pub(super) fn new(fast: usize, slow: usize) -> Self {
        let (f, s) = (format!("sma_{fast}"), format!("sma_{slow}"));
        Self {
            fast: Sma::new(fast).unwrap_or_else(|_| unreachable!("checked by Spec")),
            slow: Sma::new(slow).unwrap_or_else(|_| unreachable!("checked by Spec")),
            prev: None,
            long: Long::new("sma-cross", &[&f, &s], format!("{f} crossed above {s}"), format!("{f} crossed below {s}")),
        }
    }
}

impl CloseStrategy for SmaCross {
    fn on_close(&mut self, bar: BarClose<'_>) -> Option<Signal> {
        self.fast.update_close(bar.close);
        self.slow.update_close(bar.close);
        let (sum_fast, sum_slow) = (self.fast.sum()?, self.slow.sum()?);
        // SMA_fast ⋚ SMA_slow  ⟺  slow · Σfast ⋚ fast · Σslow, in exact integers.
        let now = (self.slow.period() as i128 * sum_fast).cmp(&(self.fast.period() as i128 * sum_slow));
        let side = crossing(self.prev.replace(now)?, now)?;
        let value = |sma: &Sma| sma.value().unwrap_or(f64::NAN);
        self.long.signal(side, bar, || [value(&self.fast), value(&self.slow)])
    }
}

impl Strategy for SmaCross {
    fn name(&self) -> &'static str {
        "sma-cross"
    }

    fn on_bar(&mut self, bar: &Bar) -> Option<Signal> {
        self.on_close(BarClose::of(bar))
    }

    fn warm_up(&self) -> usize {
        self.slow.period()
    }

    fn is_long(&self) -> bool {
        self.long.long
    }
}

/// `ema-cross`: the fast EMA crossing the slow one.
#[derive(Clone, Debug)]
pub(super) struct EmaCross {
    fast: Ema,
    slow: Ema,
    prev: Option<Ordering>,
    long: Long,
}

impl EmaCross {
    /// Periods already checked: `1 <= fast < slow <= MAX_PERIOD`.
    pub(super) fn new(fast: usize, slow: usize) -> Self {
        let (f, s) = (format!("ema_{fast}"), format!("ema_{slow}"));
        Self {
            fast: Ema::new(fast).unwrap_or_else(|_| unreachable!("checked by Spec")),
            slow: Ema::new(slow).unwrap_or_else(|_| unreachable!("checked by Spec")),
            prev: None,
            long: Long::new("ema-cross", &[&f, &s], format!("{f} crossed above {s}"), format!("{f} crossed below {s}")),
        }
    }
}

impl CloseStrategy for EmaCross {
    fn on_close(&mut self, bar: BarClose<'_>) -> Option<Signal> {
        let (fast, slow) = (self.fast.update_close(bar.close), self.slow.update_close(bar.close));
        let (fast, slow) = (fast?, slow?);
        let now = fast.partial_cmp(&slow)?;
        let side = crossing(self.prev.replace(now)?, now)?;
        self.long.signal(side, bar, || [fast, slow])
    }
}

impl Strategy for EmaCross {
    fn name(&self) -> &'static str {
        "ema-cross"
    }

    fn on_bar(&mut self, bar: &Bar) -> Option<Signal> {
        self.on_close(BarClose::of(bar))
    }

    fn warm_up(&self) -> usize {
        self.slow.period()
    }

    fn is_long(&self) -> bool {
        self.long.long
    }
}
