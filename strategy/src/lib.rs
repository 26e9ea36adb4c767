//! Trading strategies and the paper ledger, one code for the live bot and the
//! backtest (DESIGN.md, contract 8).
//!
//! A [`Strategy`] is the state of one strategy on one symbol's series: it is
//! fed that symbol's **final** bars one at a time in `start` order and
//! answers each with at most one [`Signal`], decided at the bar's close. It
//! never sees a bar before it is final nor the next bar before deciding, so
//! the same bars give the same signals whether they come from a store, an
//! archive or live. Strategies are deterministic and `Send`: the bot keeps
//! one per symbol and may move it between threads.
//!
//! The built-in strategies ([`builtin`]) are built by name from named
//! parameters ([`by_name`], [`Spec`], [`Params`]): `sma-cross`, `ema-cross`,
//! `rsi`, `macd` and `bollinger`, each long only, with its rule stated
//! exactly in [`RULES`]. `sma-cross` compares its averages as exact
//! fixed-point sums, so a tie is a tie on every machine.
//!
//! The paper [`ledger`] turns signals into fills at the **next** bar's open
//! (never the deciding bar's close), with a fixed quantity, fees and slippage
//! in basis points, and keeps cash, positions and realised and unrealised
//! profit in exact integers. A [`ledger::Book`] is one symbol's account (the
//! backtest's hot loop), an [`ledger::Account`] all symbols of a run (what
//! the bot keeps).
//!
//! Feeding one symbol looks the same live and in the backtest:
//!
//! ```
//! use tickflow_shared::signal::Costs;
//! use tickflow_strategy::{Params, by_name, ledger::Book};
//! # use tickflow_shared::{Bar, Interval, Price, Size, Symbol, Volume};
//! # fn bar(i: i64, close: &str) -> Bar {
//! #     let p = Price::parse(close).unwrap();
//! #     Bar { symbol: Symbol::new("SPY").unwrap(), interval: Interval::from_seconds(60).unwrap(),
//! #           start: i * 60_000_000_000, open: p, high: p, low: p, close: p, volume: Volume(1),
//! #           vwap: p, trades: 1, first_ts: i * 60_000_000_000, last_ts: i * 60_000_000_000 }
//! # }
//!
//! let params = Params::parse(["fast=2", "slow=3"])?;
//! let mut strategy = by_name("sma-cross", &params)?;
//! let mut book = Book::new(Symbol::new("SPY")?, "sma-cross", Size::parse("100")?, Costs::default());
//! let closes = ["10", "9", "8", "9", "12", "13"];
//! let mut fills = Vec::new();
//! for (i, close) in closes.iter().enumerate() {
//!     let bar = bar(i as i64, close);
//!     fills.extend(book.on_bar(&bar));        // the last bar's signal fills at this open
//!     if let Some(signal) = strategy.on_bar(&bar) {
//!         book.order(signal.side);             // fills at the next bar's open
//!     }
//! }
//! assert_eq!(fills.len(), 1); // bought at the open after the cross
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Start with [`Strategy`], then [`ledger`]; the backtest over many symbols
//! is [`backtest`], the live runner of `tickflow bot` is [`live`].

pub mod backtest;
pub mod builtin;
pub mod ledger;
pub mod live;
mod params;

pub use builtin::{RULES, STRATEGIES, Spec, by_name};
pub use params::Params;

use tickflow_shared::Bar;
pub use tickflow_shared::signal::{Costs, Fill, Side, Signal};

/// One strategy's state on one symbol's series of final bars.
///
/// Feed every final bar of one symbol exactly once, in `start` order; the
/// answer to a bar is the signal decided at its close, if any. Two
/// strategies built from the same [`Spec`] and fed the same bars give the
/// same signals, bit for bit.
pub trait Strategy: Send {
    /// The strategy's name, as [`by_name`] knows it (`sma-cross`).
    fn name(&self) -> &'static str;

    /// Feeds the next final bar; returns the signal decided at its close.
    fn on_bar(&mut self, bar: &Bar) -> Option<Signal>;

    /// Bars fed before the first one that can give a signal: a live runner
    /// warms a strategy up from at least this many stored bars.
    fn warm_up(&self) -> usize;

    /// Whether the strategy holds (believes it holds) a long position: it has
    /// given a buy not yet followed by a sell.
    fn is_long(&self) -> bool;
}

/// Why a strategy could not be built, or a backtest could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StrategyError {
    /// No strategy has this name.
    #[error("unknown strategy {0:?}; the strategies are {list}", list = STRATEGIES.join(", "))]
    Unknown(String),
    /// A parameter the strategy does not have.
    #[error("strategy {strategy} has no parameter {name:?}; its parameters are {known}")]
    UnknownParam {
        /// The strategy.
        strategy: &'static str,
        /// The parameter given.
        name: String,
        /// Its parameters with their defaults, `fast=10, slow=30`.
        known: String,
    },
    /// A parameter whose value is not what the strategy needs.
    #[error("strategy {strategy}: parameter {name}={value:?} {problem}")]
    BadParam {
        /// The strategy.
        strategy: &'static str,
        /// The parameter.
        name: String,
        /// Its value as given.
        value: String,
        /// What is wrong, and what to write instead.
        problem: String,
    },
    /// A `name=value` pair without `=`.
    #[error("parameter {0:?} is not name=value; write it like fast=10")]
    Syntax(String),
    /// Bars a backtest cannot run on (out of order, of another interval).
    #[error("backtest input: {0}")]
    Bars(String),
    /// Writing a backtest's files failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// What the system said.
        message: String,
    },
}
