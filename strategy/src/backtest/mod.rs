//! The backtest: one strategy over many symbols' bars from history, with the
//! paper ledger, an equity curve and the figures of the run.
//!
//! [`run`] takes bars ordered by `(symbol, start)`, the order both the
//! stores and the batch layer give them in, and feeds each symbol's bars to
//! a fresh [`Strategy`](crate::Strategy) and [`Book`] exactly as the live bot
//! does, one bar at a time: fill the order queued on the bar before at this
//! bar's open, then let the strategy decide at its close. A symbol's run is
//! independent of every other's, so symbols run in parallel
//! ([`Config::threads`]) and the outcome does not depend on how many threads.
//!
//! The run itself reads [`CompactBars`]: per bar only the start, open and
//! close (24 bytes; a [`Bar`] has 128), cut into symbols and checked for
//! order as they are built, so the pass over the bars is neither bound by
//! memory bandwidth nor preceded by a pass that checks them.
//! [`run_compact`] takes them as they are; [`run`] builds them from bars.
//! Each thread calls its strategy by its concrete type (no virtual call per
//! bar), and the records of the first symbol size the output vectors.
//!
//! The account's equity at every distinct bar close time is cash plus every
//! open position at its symbol's last close. Each book adds the change of its
//! value at each of its bars to a dense [`timeline`] (one slot per interval
//! step), and a prefix sum over the slots that hold a bar gives the curve:
//! one pass over the bars, no sort, exact integers.
//!
//! [`files`] writes the CSV files and `summary.json`, [`report`] the HTML page;
//! [`summary`] defines the figures.

pub mod compact;
pub mod files;
pub mod report;
pub mod summary;
pub mod timeline;

use crate::builtin::{BarClose, CloseStrategy, WithStrategy};
use crate::ledger::{Book, RoundTrip, Totals, totals};
use crate::{Spec, StrategyError};
pub use compact::{CompactBar, CompactBars, SymbolRun};
use std::sync::atomic::{AtomicU64, Ordering};
use tickflow_shared::signal::{Costs, Fill, Signal};
use tickflow_shared::{Bar, Interval, Size};
use timeline::Timeline;

/// What a backtest runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The strategy and its parameters.
    pub spec: Spec,
    /// The bars' interval.
    pub interval: Interval,
    /// Bought at each entry.
    pub quantity: Size,
    /// Fees and slippage.
    pub costs: Costs,
    /// Starting cash, units of 10^-8 of the quote currency.
    pub capital: i128,
    /// Threads the symbols are spread over (at least 1).
    pub threads: usize,
}

/// The account's equity after the bars that close at `time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EquityPoint {
    /// A bar close time (bar start plus the interval), ns.
    pub time: i64,
    /// Cash plus positions at their last close, units of 10^-8.
    pub equity: i128,
}

/// Everything a backtest produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Every signal, by symbol, then bar start.
    pub signals: Vec<Signal>,
    /// Every fill, by symbol, then time.
    pub fills: Vec<Fill>,
    /// Every closed round trip, by symbol, then exit time.
    pub trades: Vec<RoundTrip>,
    /// The account's equity at every distinct bar close time, in time order.
    pub equity: Vec<EquityPoint>,
    /// The account at the end.
    pub totals: Totals,
    /// Bars fed.
    pub bars: u64,
    /// Bars at whose close a position was open.
    pub held_bars: u64,
    /// Symbols with at least one bar.
    pub symbols: usize,
}

/// One thread's share: its symbols' records, books and timeline.
#[derive(Default)]
struct Part {
    signals: Vec<Signal>,
    fills: Vec<Fill>,
    trades: Vec<RoundTrip>,
    books: Vec<Book>,
    timeline: Timeline,
    bars: u64,
    held_bars: u64,
}

/// Runs `config` over `bars`, ordered by `(symbol, start)`; calls `progress`
/// with the number of bars done now and then (from the calling thread).
///
/// The same as [`run_compact`] over [`CompactBars::from_bars`].
pub fn run(config: &Config, bars: &[Bar], progress: &(dyn Fn(u64) + Sync)) -> Result<Outcome, StrategyError> {
    run_compact(config, &CompactBars::from_bars(config.interval, bars)?, progress)
}

/// Runs `config` over `bars`; calls `progress` with the number of bars done
/// now and then (from the calling thread).
pub fn run_compact(
    config: &Config,
    bars: &CompactBars,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Outcome, StrategyError> {
    if bars.interval() != config.interval {
        return Err(StrategyError::Bars(format!("bars of {}, not {}", bars.interval(), config.interval)));
    }
    let runs = bars.runs();
    let threads = config.threads.clamp(1, runs.len().max(1));
    let chunk = bars.len().div_ceil(threads).max(1);
    // Cut the symbols into `threads` groups of about equal bars.
    let mut groups: Vec<&[SymbolRun]> = Vec::with_capacity(threads);
    let mut first = 0;
    for i in 0..runs.len() {
        if runs[i].range.end >= (groups.len() + 1) * chunk || i + 1 == runs.len() {
            groups.push(&runs[first..=i]);
            first = i + 1;
        }
    }
    let done = AtomicU64::new(0);
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let (finished, wait) = std::sync::mpsc::channel();
        let workers: Vec<_> = groups
            .iter()
            .map(|group| {
                let (finished, done) = (finished.clone(), &done);
                scope.spawn(move || {
                    let part = config.spec.with_strategy(Symbols { config, bars, group, done });
                    let _ = finished.send(());
                    part
                })
            })
            .collect();
        for _ in 0..workers.len() {
            while wait.recv_timeout(std::time::Duration::from_millis(500)).is_err() {
                progress(done.load(Ordering::Relaxed));
            }
        }
        let joined = workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        joined.collect()
    });
    progress(bars.len() as u64);
    Ok(merge(config, parts, runs.len()))
}

/// One thread's symbols, run one after the other with the strategy's
/// concrete type.
struct Symbols<'a> {
    config: &'a Config,
    bars: &'a CompactBars,
    group: &'a [SymbolRun],
    done: &'a AtomicU64,
}

impl WithStrategy for Symbols<'_> {
    type Output = Part;

    fn run<S: CloseStrategy>(self, build: impl Fn() -> S + Sync) -> Part {
        let mut part = Part { timeline: Timeline::new(self.config.interval.nanos()), ..Part::default() };
        let total: usize = self.group.iter().map(|run| run.range.len()).sum();
        for (i, run) in self.group.iter().enumerate() {
            run_symbol(
                self.config,
                self.bars.interval(),
                run,
                &self.bars.bars()[run.range.clone()],
                build(),
                &mut part,
            );
            if i == 0 {
                // Room for the rest at the first symbol's rates and an eighth more: no growing.
                let scale = |n: usize| {
                    let rest = n * (total - run.range.len()) / run.range.len().max(1);
                    rest + rest / 8
                };
                part.signals.reserve(scale(part.signals.len()));
                part.fills.reserve(scale(part.fills.len()));
                part.trades.reserve(scale(part.trades.len()));
                part.books.reserve(self.group.len());
            }
            self.done.fetch_add(run.range.len() as u64, Ordering::Relaxed);
        }
        part
    }
}

/// Feeds one symbol's bars to a fresh strategy and book.
#[inline]
fn run_symbol<S: CloseStrategy>(
    config: &Config,
    interval: Interval,
    run: &SymbolRun,
    bars: &[CompactBar],
    mut strategy: S,
    part: &mut Part,
) {
    let Some(first) = bars.first() else { return };
    let mut book = Book::new(run.symbol.clone(), config.spec.name(), config.quantity, config.costs);
    let mut slots = part.timeline.cursor(first.start);
    let mut value = 0;
    let mut held = 0;
    for bar in bars {
        if let Some(executed) = book.on_prices(bar.start, bar.open, bar.close) {
            part.fills.push(executed.fill);
            part.trades.extend(executed.round_trip);
        }
        let close = BarClose { symbol: &run.symbol, interval, start: bar.start, close: bar.close };
        if let Some(signal) = strategy.on_close(close) {
            book.order(signal.side);
            part.signals.push(signal);
        }
        let now = book.value();
        slots.add(&mut part.timeline, bar.start, now - value);
        value = now;
        held += u64::from(book.entry().is_some());
    }
    part.bars += bars.len() as u64;
    part.held_bars += held;
    part.books.push(book);
}

/// Puts the parts together, in symbol order.
fn merge(config: &Config, parts: Vec<Part>, symbols: usize) -> Outcome {
    let mut outcome = Outcome { symbols, ..Outcome::default() };
    let mut timeline = Timeline::new(config.interval.nanos());
    let mut books = Vec::new();
    for part in parts {
        join(&mut outcome.signals, part.signals);
        join(&mut outcome.fills, part.fills);
        join(&mut outcome.trades, part.trades);
        outcome.bars += part.bars;
        outcome.held_bars += part.held_bars;
        books.extend(part.books);
        timeline.absorb(part.timeline);
    }
    outcome.totals = totals(config.capital, &books);
    outcome.equity = timeline.curve(config.capital);
    outcome
}

/// Appends `part` to `into`; takes it whole when `into` is empty (no copy).
fn join<T>(into: &mut Vec<T>, mut part: Vec<T>) {
    if into.is_empty() {
        *into = part;
    } else {
        into.append(&mut part);
    }
}

#[cfg(test)]
mod tests;
