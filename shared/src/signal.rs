//! Signals and fills: what a strategy decides and what the paper ledger does.
//!
//! A [`Signal`] is decided at the close of one final bar; the order it causes
//! is a [`Fill`] at the **next** bar's open (contract 8). Both carry exact
//! fixed-point money, so the backtest and the live bot give byte-identical
//! records from the same bars. The live bot stores a signal keyed by
//! `(strategy, symbol, interval, start)`: [`Signal::key`].
//!
//! Strategy and indicator names are [`SmolStr`]s: kept inline up to 23
//! bytes, so a backtest's hundreds of thousands of signals and fills do not
//! allocate for them.

use crate::fixed::{Price, SCALE};
use crate::interval::Interval;
use crate::tick::Symbol;
pub use smol_str::SmolStr;
use std::fmt;

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Open (or add to) a long position.
    Buy,
    /// Close the long position.
    Sell,
}

impl Side {
    /// `buy` or `sell`, as in CSV files, tables and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    /// Parses `buy` or `sell`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "buy" => Some(Side::Buy),
            "sell" => Some(Side::Sell),
            _ => None,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decision of one strategy at the close of one final bar.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Signal {
    /// The strategy's name (`sma-cross`, …).
    pub strategy: SmolStr,
    /// The instrument.
    pub symbol: Symbol,
    /// The bars' interval.
    pub interval: Interval,
    /// Start of the deciding bar, nanoseconds since the epoch.
    pub start: i64,
    /// What to do.
    pub side: Side,
    /// The deciding bar's close.
    pub close: Price,
    /// The indicator values that decided it, by name (`sma_10`, `rsi_14`, …).
    pub values: Vec<(SmolStr, f64)>,
    /// Why, in words (`sma_10 crossed above sma_30`).
    pub reason: String,
}

impl Signal {
    /// The key a signal is stored under: one signal per strategy, symbol,
    /// interval and bar.
    pub fn key(&self) -> (&str, &Symbol, Interval, i64) {
        (self.strategy.as_str(), &self.symbol, self.interval, self.start)
    }
}

/// An executed paper order: a signal filled at the next bar's open.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Fill {
    /// The strategy whose signal caused it.
    pub strategy: SmolStr,
    /// The instrument.
    pub symbol: Symbol,
    /// Bought or sold.
    pub side: Side,
    /// When: the start of the bar whose open filled it, nanoseconds.
    pub time: i64,
    /// The fill price: the bar's open moved against us by the slippage.
    pub price: Price,
    /// Quantity in units of 10^-8 (like [`crate::Size`]).
    pub quantity: i64,
    /// The fee paid, in units of 10^-8 of the quote currency.
    pub fee: i64,
}

/// Costs of one fill, in basis points of the notional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Costs {
    /// Fee in basis points of `price × quantity` (default 1).
    pub fee_bps: i64,
    /// Slippage in basis points, always against the trader (default 0).
    pub slippage_bps: i64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs { fee_bps: 1, slippage_bps: 0 }
    }
}

impl Costs {
    /// The price a market order at `open` gets: higher for a buy, lower for a
    /// sell, rounded half away from zero to 10^-8.
    pub fn fill_price(self, side: Side, open: Price) -> Price {
        let signed = match side {
            Side::Buy => self.slippage_bps,
            Side::Sell => -self.slippage_bps,
        };
        let moved = crate::fixed::div_round(i128::from(open.0) * i128::from(10_000 + signed), 10_000);
        Price(i64::try_from(moved).unwrap_or(i64::MAX))
    }

    /// The fee for `quantity` (10^-8 units) at `price`, in 10^-8 of the quote
    /// currency, rounded half away from zero.
    pub fn fee(self, price: Price, quantity: i64) -> i64 {
        let scaled = i128::from(price.0) * i128::from(quantity) * i128::from(self.fee_bps);
        let fee = crate::fixed::div_round(scaled, i128::from(SCALE) * 10_000);
        i64::try_from(fee).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slippage_is_against_the_trader_and_fees_are_exact() {
        let costs = Costs { fee_bps: 1, slippage_bps: 5 };
        let open = Price::parse("100").unwrap();
        assert_eq!(costs.fill_price(Side::Buy, open), Price::parse("100.05").unwrap());
        assert_eq!(costs.fill_price(Side::Sell, open), Price::parse("99.95").unwrap());
        // 100 shares at 100.05: notional 10,005, one basis point is 1.0005.
        let quantity = 100 * SCALE;
        assert_eq!(costs.fee(Price::parse("100.05").unwrap(), quantity), 100_050_000);
        assert_eq!(Side::parse(Side::Sell.as_str()), Some(Side::Sell));
    }
}
