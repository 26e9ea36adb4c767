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
//! The account's equity at every distinct bar close time is cash plus every
//! open position at its symbol's last close. Each book adds the change of its
//! value at each of its bars to a dense [`timeline`] (one slot per interval
//! step), and a prefix sum over the slots that hold a bar gives the curve:
//! one pass over the bars, no sort, exact integers.
//!
//! [`files`] writes the CSV files and `summary.json`, [`report`] the HTML page;
//! [`summary`] defines the figures.

pub mod files;
pub mod report;
pub mod summary;
pub mod timeline;

use crate::ledger::{Book, RoundTrip, Totals, totals};
use crate::{Spec, StrategyError};
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
pub fn run(config: &Config, bars: &[Bar], progress: &(dyn Fn(u64) + Sync)) -> Result<Outcome, StrategyError> {
    let runs = symbol_runs(config.interval, bars)?;
    let threads = config.threads.clamp(1, runs.len().max(1));
    let chunk = bars.len().div_ceil(threads).max(1);
    // Cut the symbols into `threads` groups of about equal bars.
    let mut groups: Vec<&[std::ops::Range<usize>]> = Vec::with_capacity(threads);
    let mut first = 0;
    for i in 0..runs.len() {
        if runs[i].end >= (groups.len() + 1) * chunk || i + 1 == runs.len() {
            groups.push(&runs[first..=i]);
            first = i + 1;
        }
    }
    let done = std::sync::atomic::AtomicU64::new(0);
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let (finished, wait) = std::sync::mpsc::channel();
        let workers: Vec<_> = groups
            .iter()
            .map(|group| {
                let (finished, done) = (finished.clone(), &done);
                scope.spawn(move || {
                    let part = run_part(config, bars, group, done);
                    let _ = finished.send(());
                    part
                })
            })
            .collect();
        for _ in 0..workers.len() {
            while wait.recv_timeout(std::time::Duration::from_millis(500)).is_err() {
                progress(done.load(std::sync::atomic::Ordering::Relaxed));
            }
        }
        let joined = workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        joined.collect()
    });
    progress(bars.len() as u64);
    Ok(merge(config, parts, runs.len()))
}

/// The index range of each symbol's bars; checks the order.
fn symbol_runs(interval: Interval, bars: &[Bar]) -> Result<Vec<std::ops::Range<usize>>, StrategyError> {
    let mut runs = Vec::new();
    let mut first = 0;
    for i in 0..bars.len() {
        let bar = &bars[i];
        if bar.interval != interval {
            return Err(StrategyError::Bars(format!(
                "bar {} {} has interval {}, not {interval}",
                bar.symbol, bar.start, bar.interval
            )));
        }
        if i + 1 < bars.len() {
            let next = &bars[i + 1];
            if next.symbol == bar.symbol {
                if next.start <= bar.start {
                    return Err(StrategyError::Bars(format!(
                        "bars of {} are not in start order at {}",
                        bar.symbol, next.start
                    )));
                }
                continue;
            }
        }
        runs.push(first..i + 1);
        first = i + 1;
    }
    Ok(runs)
}

/// Runs the symbols of `group`, one after the other.
fn run_part(
    config: &Config,
    bars: &[Bar],
    group: &[std::ops::Range<usize>],
    done: &std::sync::atomic::AtomicU64,
) -> Part {
    let mut part = Part { timeline: Timeline::new(config.interval.nanos()), ..Part::default() };
    for range in group {
        run_symbol(config, &bars[range.clone()], &mut part);
        done.fetch_add(range.len() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    part
}

/// Feeds one symbol's bars to a fresh strategy and book.
fn run_symbol(config: &Config, bars: &[Bar], part: &mut Part) {
    let Some(first) = bars.first() else { return };
    let mut strategy = config.spec.build();
    let mut book = Book::new(first.symbol.clone(), config.spec.name(), config.quantity, config.costs);
    let mut slots = part.timeline.cursor(first.start);
    let mut value = 0;
    let mut held = 0;
    for bar in bars {
        if let Some(executed) = book.on_bar(bar) {
            part.fills.push(executed.fill);
            part.trades.extend(executed.round_trip);
        }
        if let Some(signal) = strategy.on_bar(bar) {
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
        outcome.signals.extend(part.signals);
        outcome.fills.extend(part.fills);
        outcome.trades.extend(part.trades);
        outcome.bars += part.bars;
        outcome.held_bars += part.held_bars;
        books.extend(part.books);
        timeline.absorb(part.timeline);
    }
    outcome.totals = totals(config.capital, &books);
    outcome.equity = timeline.curve(config.capital);
    outcome
}

#[cfg(test)]
mod tests;
