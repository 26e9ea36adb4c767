//! What the signal bot writes and what readers ask of it: signals, paper
//! fills, positions and the bot's progress (DESIGN.md, contract 8).
//!
//! A [`SignalCommit`] is one transaction: the signals and fills of the bars
//! a bot consumed, its positions after them, and, per symbol, the start of
//! the last bar it consumed ([`BotCursor`]). A bot that restarts reads its
//! cursors back, warms up on the bars up to them and goes on after them, so
//! a crash at any point neither loses nor repeats a signal. A signal already
//! stored under its key (strategy, symbol, interval, start) is kept as it
//! is: a revised bar never rewrites a signal given.
//!
//! Every stored signal gets the next number of one signal sequence, in
//! commit order, so the server can push new signals and the bot's Kafka
//! outbox can publish those after the last one it marked published.

use super::StoreError;
use crate::fixed::Price;
use crate::interval::Interval;
use crate::signal::{Fill, Signal};
use crate::tick::Symbol;

/// Where a bot is in one symbol's series of final bars.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BotCursor {
    /// The instrument.
    pub symbol: Symbol,
    /// Start of the last bar the bot consumed (ns): the next one starts later.
    pub last_start: i64,
}

/// A paper position of one strategy in one symbol, as the ledger left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The strategy.
    pub strategy: String,
    /// The instrument.
    pub symbol: Symbol,
    /// Units held, in 10^-8 (0 when flat).
    pub quantity: i64,
    /// The average entry price of what is held (0 when flat).
    pub entry_price: Price,
    /// The last close seen: unrealised PnL is `quantity × (last_price − entry_price)`.
    pub last_price: Price,
    /// Profit of the closed round trips after both their fees, in 10^-8 of
    /// the quote currency.
    pub realized_pnl: i64,
    /// Every fee paid, the open position's entry fee included, in 10^-8 of
    /// the quote currency.
    pub fees: i64,
    /// Start of the bar this state is as of (ns).
    pub time: i64,
}

impl Position {
    /// Unrealised PnL at the last close before fees (the open position's
    /// entry fee is in [`Position::fees`]), in 10^-8 of the quote currency,
    /// rounded half away from zero.
    pub fn unrealized_pnl(&self) -> i64 {
        let moved = i128::from(self.last_price.0) - i128::from(self.entry_price.0);
        let pnl = crate::fixed::div_round(moved * i128::from(self.quantity), i128::from(crate::fixed::SCALE));
        i64::try_from(pnl).unwrap_or(if pnl < 0 { i64::MIN } else { i64::MAX })
    }
}

/// Everything one bot step writes, in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalCommit {
    /// The strategy (the bot's name); every signal, fill and position must carry it.
    pub strategy: String,
    /// The bars' interval; every signal must be of it.
    pub interval: Interval,
    /// New signals; one already stored under its key is kept.
    pub signals: Vec<Signal>,
    /// New paper fills; one already stored at its `(strategy, symbol, time)` is kept.
    pub fills: Vec<Fill>,
    /// Positions after this step; each replaces the stored one of its symbol.
    pub positions: Vec<Position>,
    /// Progress per symbol; a cursor only moves forward.
    pub progress: Vec<BotCursor>,
}

impl SignalCommit {
    /// An empty commit of `strategy` on `interval` bars.
    pub fn new(strategy: impl Into<String>, interval: Interval) -> Self {
        SignalCommit {
            strategy: strategy.into(),
            interval,
            signals: Vec::new(),
            fills: Vec::new(),
            positions: Vec::new(),
            progress: Vec::new(),
        }
    }

    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty() && self.fills.is_empty() && self.positions.is_empty() && self.progress.is_empty()
    }

    /// Checks that every record belongs to this commit's strategy and
    /// interval and that every indicator value is a finite number.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let foreign = |what: &str, strategy: &str| {
            StoreError::Range(format!(
                "a {what} of strategy {strategy:?} in a commit of strategy {:?}; commit each strategy's records \
                 on their own",
                self.strategy
            ))
        };
        if self.strategy.is_empty() {
            return Err(StoreError::Range("a signal commit names no strategy".into()));
        }
        for signal in &self.signals {
            if signal.strategy != self.strategy {
                return Err(foreign("signal", &signal.strategy));
            }
            if signal.interval != self.interval {
                return Err(StoreError::Range(format!(
                    "a signal of {} bars in a commit of {} bars",
                    signal.interval, self.interval
                )));
            }
            if let Some((name, value)) = signal.values.iter().find(|(_, v)| !v.is_finite()) {
                return Err(StoreError::Range(format!(
                    "signal {} {} at {}: indicator {name} is {value}, not a finite number",
                    signal.strategy,
                    signal.symbol,
                    crate::time::format_rfc3339(signal.start)
                )));
            }
        }
        if let Some(fill) = self.fills.iter().find(|f| f.strategy != self.strategy) {
            return Err(foreign("fill", &fill.strategy));
        }
        if let Some(position) = self.positions.iter().find(|p| p.strategy != self.strategy) {
            return Err(foreign("position", &position.strategy));
        }
        Ok(())
    }
}

/// Which signals or fills to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalQuery {
    /// One symbol, or all.
    pub symbol: Option<Symbol>,
    /// One strategy, or all.
    pub strategy: Option<String>,
    /// First time included (ns): a signal's bar start, a fill's time.
    pub from: Option<i64>,
    /// First time excluded (ns).
    pub to: Option<i64>,
    /// At most this many (the earliest), if set.
    pub limit: Option<usize>,
}

/// A stored signal and its number in the signal sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalChange {
    /// Its number: later commits have larger ones.
    pub seq: i64,
    /// The signal.
    pub signal: Signal,
}

/// The answer to "which signals were stored since `since`?".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignalChanges {
    /// Signals numbered after `since`, in number order, at most `limit`.
    pub signals: Vec<SignalChange>,
    /// The newest number in the store at the read (of any strategy).
    pub head: i64,
    /// What to pass as `since` next: the last number returned when the
    /// answer was cut at `limit`, else `head`.
    pub next: i64,
}

impl SignalChanges {
    /// Builds the answer to a read from `since` of at most `limit` rows.
    pub(crate) fn new(signals: Vec<SignalChange>, head: i64, since: i64, limit: usize) -> Self {
        let next = if signals.len() < limit { head } else { signals.last().map_or(since, |last| last.seq) };
        Self { signals, head, next }
    }
}

/// Indicator values as the JSON text both engines store: an array of
/// `[name, value]` pairs, in the signal's order.
pub(crate) fn values_json<N: serde::Serialize>(values: &[(N, f64)]) -> Result<String, StoreError> {
    serde_json::to_string(values).map_err(|e| StoreError::Range(format!("indicator values: {e}")))
}

/// Indicator values from their stored JSON text.
pub(crate) fn values_from_json(text: &str) -> Result<Vec<(String, f64)>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("indicator values {text:?}: {e}")))
}

/// The `WHERE` conditions of a [`SignalQuery`] over `time_column`, with the
/// engine's placeholder for the n-th value, followed by its order and
/// limit; and the values in placeholder order.
pub(crate) fn query_sql(
    query: &SignalQuery,
    time_column: &str,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<QueryValue>) {
    let mut conditions = vec!["TRUE".to_owned()];
    let mut values = Vec::new();
    let push = |values: &mut Vec<QueryValue>, value| {
        values.push(value);
        placeholder(values.len())
    };
    if let Some(symbol) = &query.symbol {
        let at = push(&mut values, QueryValue::Text(symbol.as_str().to_owned()));
        conditions.push(format!("symbol = {at}"));
    }
    if let Some(strategy) = &query.strategy {
        let at = push(&mut values, QueryValue::Text(strategy.clone()));
        conditions.push(format!("strategy = {at}"));
    }
    if let Some(from) = query.from {
        let at = push(&mut values, QueryValue::Time(from));
        conditions.push(format!("{time_column} >= {at}"));
    }
    if let Some(to) = query.to {
        let at = push(&mut values, QueryValue::Time(to));
        conditions.push(format!("{time_column} < {at}"));
    }
    let mut sql = conditions.join(" AND ");
    sql.push_str(&format!(" ORDER BY {time_column}, symbol, strategy"));
    if let Some(limit) = query.limit {
        let at = push(&mut values, QueryValue::Count(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT {at}"));
    }
    (sql, values)
}

/// A value bound to a signal or fill query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum QueryValue {
    /// A symbol or strategy.
    Text(String),
    /// A time (ns).
    Time(i64),
    /// The row limit.
    Count(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_exactly_in_order() {
        let values = vec![("sma_10".to_owned(), 101.234_567_890_123_45), ("a".to_owned(), -1e-300)];
        let text = values_json(&values).expect("json");
        assert_eq!(values_from_json(&text).expect("parse"), values);
    }

    #[test]
    fn unrealized_pnl_is_exact() {
        let position = Position {
            strategy: "s".into(),
            symbol: Symbol::new("A").expect("symbol"),
            quantity: 3 * crate::fixed::SCALE,
            entry_price: Price::parse("10.5").expect("price"),
            last_price: Price::parse("10").expect("price"),
            realized_pnl: 0,
            fees: 0,
            time: 0,
        };
        assert_eq!(position.unrealized_pnl(), -150_000_000);
    }
}
