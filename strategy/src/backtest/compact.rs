//! The bars of a backtest reduced to what the run reads.

use crate::StrategyError;
use std::ops::Range;
use tickflow_shared::{Bar, Interval, Price, Symbol};

/// One bar as the run reads it: 24 bytes instead of a [`Bar`]'s 128.
///
/// The ledger reads a bar's start, open and close, and every built-in
/// strategy its close; the rest of a bar is never looked at, so a run over
/// these streams a fifth of the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactBar {
    /// Window start, ns.
    pub start: i64,
    /// Price of the first trade.
    pub open: Price,
    /// Price of the last trade.
    pub close: Price,
}

/// One symbol's bars: a range of [`CompactBars::bars`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolRun {
    /// The instrument.
    pub symbol: Symbol,
    /// Where its bars are, in start order.
    pub range: Range<usize>,
}

/// Bars of one interval ordered by `(symbol, start)`, as [`CompactBar`]s
/// cut into symbols.
///
/// The order is checked as bars are pushed, so a run over them needs no
/// pass of its own to check it or to find where each symbol's bars are.
#[derive(Clone, Debug)]
pub struct CompactBars {
    interval: Interval,
    bars: Vec<CompactBar>,
    runs: Vec<SymbolRun>,
}

impl CompactBars {
    /// No bars yet, room for `capacity`.
    pub fn with_capacity(interval: Interval, capacity: usize) -> Self {
        Self { interval, bars: Vec::with_capacity(capacity), runs: Vec::new() }
    }

    /// `bars`, which must be ordered by `(symbol, start)` and of `interval`.
    pub fn from_bars(interval: Interval, bars: &[Bar]) -> Result<Self, StrategyError> {
        let mut out = Self::with_capacity(interval, bars.len());
        for bar in bars {
            out.push(&bar.symbol, CompactBar { start: bar.start, open: bar.open, close: bar.close })?;
            if bar.interval != interval {
                return Err(StrategyError::Bars(format!(
                    "bar {} {} has interval {}, not {interval}",
                    bar.symbol, bar.start, bar.interval
                )));
            }
        }
        Ok(out)
    }

    /// Appends `symbol`'s next bar: a later start than its bar before, or
    /// the first bar of a symbol.
    #[inline]
    pub fn push(&mut self, symbol: &Symbol, bar: CompactBar) -> Result<(), StrategyError> {
        let index = self.bars.len();
        match self.runs.last_mut() {
            Some(run) if run.symbol == *symbol => {
                if bar.start <= self.bars[index - 1].start {
                    return Err(StrategyError::Bars(format!(
                        "bars of {symbol} are not in start order at {}",
                        bar.start
                    )));
                }
                run.range.end = index + 1;
            }
            _ => self.runs.push(SymbolRun { symbol: symbol.clone(), range: index..index + 1 }),
        }
        self.bars.push(bar);
        Ok(())
    }

    /// The bars' interval.
    pub fn interval(&self) -> Interval {
        self.interval
    }

    /// Every bar, by symbol, then start.
    pub fn bars(&self) -> &[CompactBar] {
        &self.bars
    }

    /// Each symbol's bars, in the order they came.
    pub fn runs(&self) -> &[SymbolRun] {
        &self.runs
    }

    /// The number of bars.
    pub fn len(&self) -> usize {
        self.bars.len()
    }

    /// Whether there is no bar.
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }
}
