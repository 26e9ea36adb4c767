//! The paper ledger: signals become fills at the next bar's open, and money
//! is counted in exact integers.
//!
//! A signal at bar *t* queues a market order ([`Book::order`]); the symbol's
//! next bar fills it at its **open**, moved against the trader by the
//! slippage, and pays the fee on the fill's notional ([`Costs`]). A signal
//! on a symbol's last bar is never filled. Every entry buys the fixed
//! quantity; a sell closes the whole position (the strategies are long
//! only), which makes a [`RoundTrip`].
//!
//! Money is in units of 10^-8 of the quote currency, in `i128`, as
//! everywhere else: a notional is `price × quantity / 10^8`, rounded half
//! away from zero only when the quantity is fractional. The identity the
//! tests hold: `equity = capital + realised + unrealised` at every bar, where
//! `realised` sums the closed round trips after both fees and `unrealised`
//! is the open position at the last close less what it cost (price and entry
//! fee).

mod account;
#[cfg(test)]
mod tests;

pub use account::{Account, Totals, totals};

use tickflow_shared::fixed::{SCALE, div_round};
use tickflow_shared::signal::{Costs, Fill, Side, SmolStr};
use tickflow_shared::{Bar, Price, Size, Symbol};

/// `price × quantity` in units of 10^-8 of the quote currency.
///
/// A whole quantity (the usual case) is a multiplication; only a fractional
/// one needs the `i128` division, rounded half away from zero.
#[inline]
pub fn notional(price: Price, quantity: i64) -> i128 {
    if quantity % SCALE == 0 {
        i128::from(price.units()) * i128::from(quantity / SCALE)
    } else {
        div_round(i128::from(price.units()) * i128::from(quantity), i128::from(SCALE))
    }
}

/// A closed position: one entry and its exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundTrip {
    /// The instrument.
    pub symbol: Symbol,
    /// When the entry filled (start of its bar, ns).
    pub entry_time: i64,
    /// The entry's fill price.
    pub entry_price: Price,
    /// When the exit filled (start of its bar, ns).
    pub exit_time: i64,
    /// The exit's fill price.
    pub exit_price: Price,
    /// Quantity in units of 10^-8.
    pub quantity: i64,
    /// Profit after both fees, in units of 10^-8 of the quote currency.
    pub pnl: i128,
}

/// What one bar did to a book: the fill of the order queued on the bar
/// before, and the round trip a sell closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    /// The fill.
    pub fill: Fill,
    /// The round trip, when the fill closed a position.
    pub round_trip: Option<RoundTrip>,
}

/// The open position of a book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it filled (start of its bar, ns).
    pub time: i64,
    /// Its fill price.
    pub price: Price,
    /// Quantity held, units of 10^-8.
    pub quantity: i64,
    /// The fee paid for it.
    pub fee: i64,
}

/// One symbol's paper account under one strategy.
///
/// Feed it the symbol's final bars in order ([`Book::on_bar`]) and the
/// strategy's signals between them ([`Book::order`]).
#[derive(Clone, Debug)]
pub struct Book {
    symbol: Symbol,
    strategy: SmolStr,
    quantity: i64,
    costs: Costs,
    pending: Option<Side>,
    entry: Option<Entry>,
    cash: i128,
    realised: i128,
    fees: i128,
    mark: Option<Price>,
}

impl Book {
    /// An empty book: no position, no cash moved. Each entry buys `quantity`.
    pub fn new(symbol: Symbol, strategy: &str, quantity: Size, costs: Costs) -> Self {
        Self {
            symbol,
            strategy: strategy.into(),
            quantity: quantity.units(),
            costs,
            pending: None,
            entry: None,
            cash: 0,
            realised: 0,
            fees: 0,
            mark: None,
        }
    }

    /// Queues a market order for the next bar's open: a buy opens the fixed
    /// quantity when flat, a sell closes the position when long; otherwise
    /// the order does nothing when it comes to fill.
    pub fn order(&mut self, side: Side) {
        self.pending = Some(side);
    }

    /// Feeds the symbol's next final bar: fills the queued order at its open,
    /// then marks the position at its close.
    #[inline]
    pub fn on_bar(&mut self, bar: &Bar) -> Option<Executed> {
        self.on_prices(bar.start, bar.open, bar.close)
    }

    /// [`Book::on_bar`] with the parts of the bar the ledger reads: its
    /// start, open and close.
    #[inline]
    pub fn on_prices(&mut self, start: i64, open: Price, close: Price) -> Option<Executed> {
        let executed = match self.pending.take() {
            Some(side) => self.fill(side, start, open),
            None => None,
        };
        self.mark = Some(close);
        executed
    }

    fn fill(&mut self, side: Side, start: i64, open: Price) -> Option<Executed> {
        let price = self.costs.fill_price(side, open);
        let (quantity, round_trip) = match (side, self.entry) {
            (Side::Buy, None) => (self.quantity, None),
            (Side::Sell, Some(entry)) => (entry.quantity, Some(entry)),
            _ => return None,
        };
        let fee = self.costs.fee(price, quantity);
        let value = notional(price, quantity);
        self.fees += i128::from(fee);
        let round_trip = match round_trip {
            None => {
                self.cash -= value + i128::from(fee);
                self.entry = Some(Entry { time: start, price, quantity, fee });
                None
            }
            Some(entry) => {
                self.cash += value - i128::from(fee);
                self.entry = None;
                let pnl = value - notional(entry.price, quantity) - i128::from(entry.fee) - i128::from(fee);
                self.realised += pnl;
                Some(RoundTrip {
                    symbol: self.symbol.clone(),
                    entry_time: entry.time,
                    entry_price: entry.price,
                    exit_time: start,
                    exit_price: price,
                    quantity,
                    pnl,
                })
            }
        };
        let fill = Fill {
            strategy: self.strategy.clone(),
            symbol: self.symbol.clone(),
            side,
            time: start,
            price,
            quantity,
            fee,
        };
        Some(Executed { fill, round_trip })
    }

    /// The instrument.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// The open position, if any.
    pub fn entry(&self) -> Option<Entry> {
        self.entry
    }

    /// The order waiting for the next bar, if any.
    pub fn pending(&self) -> Option<Side> {
        self.pending
    }

    /// The last close seen.
    pub fn mark(&self) -> Option<Price> {
        self.mark
    }

    /// Cash moved by this book's fills (negative after a buy), units of 10^-8.
    pub fn cash(&self) -> i128 {
        self.cash
    }

    /// Fees paid, units of 10^-8.
    pub fn fees(&self) -> i128 {
        self.fees
    }

    /// Profit of the closed round trips, after both fees.
    pub fn realised(&self) -> i128 {
        self.realised
    }

    /// The open position at the last close less what it cost (its price and
    /// entry fee); zero when flat.
    pub fn unrealised(&self) -> i128 {
        match (self.entry, self.mark) {
            (Some(entry), Some(mark)) => {
                notional(mark, entry.quantity) - notional(entry.price, entry.quantity) - i128::from(entry.fee)
            }
            _ => 0,
        }
    }

    /// What the book adds to the account's equity: its cash plus its position
    /// at the last close (`realised + unrealised`).
    #[inline]
    pub fn value(&self) -> i128 {
        match (self.entry, self.mark) {
            (Some(entry), Some(mark)) => self.cash + notional(mark, entry.quantity),
            _ => self.cash,
        }
    }
}
