//! The paper account of a whole run: one book per symbol.

use super::{Book, Executed};
use std::collections::BTreeMap;
use tickflow_shared::signal::{Costs, Signal};
use tickflow_shared::{Bar, Size, Symbol};

/// Every symbol's [`Book`] under one strategy, and the starting capital.
///
/// What the live bot keeps: feed it every final bar ([`Account::on_bar`])
/// and every signal ([`Account::on_signal`]), in the order the strategy saw
/// the bars.
#[derive(Clone, Debug)]
pub struct Account {
    strategy: String,
    quantity: Size,
    costs: Costs,
    capital: i128,
    books: BTreeMap<Symbol, Book>,
}

/// The account's totals over every symbol, units of 10^-8 of the quote currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Starting capital plus every book's cash.
    pub cash: i128,
    /// Profit of the closed round trips, after fees.
    pub realised: i128,
    /// Open positions at their last close, less what they cost.
    pub unrealised: i128,
    /// Fees paid.
    pub fees: i128,
    /// `capital + realised + unrealised`: cash plus the positions at their last close.
    pub equity: i128,
    /// Symbols with an open position.
    pub open_positions: usize,
}

impl Account {
    /// An account with `capital` (units of 10^-8) and no position; every
    /// entry buys `quantity`.
    pub fn new(strategy: &str, capital: i128, quantity: Size, costs: Costs) -> Self {
        Self { strategy: strategy.to_owned(), quantity, costs, capital, books: BTreeMap::new() }
    }

    fn book(&mut self, symbol: &Symbol) -> &mut Book {
        self.books
            .entry(symbol.clone())
            .or_insert_with(|| Book::new(symbol.clone(), &self.strategy, self.quantity, self.costs))
    }

    /// Feeds a final bar: fills the order its symbol's last signal queued.
    pub fn on_bar(&mut self, bar: &Bar) -> Option<Executed> {
        self.book(&bar.symbol).on_bar(bar)
    }

    /// Queues the order of a signal, for its symbol's next bar.
    pub fn on_signal(&mut self, signal: &Signal) {
        self.book(&signal.symbol).order(signal.side);
    }

    /// One symbol's book, if it has seen a bar or a signal.
    pub fn get(&self, symbol: &Symbol) -> Option<&Book> {
        self.books.get(symbol)
    }

    /// Every book, by symbol.
    pub fn books(&self) -> impl Iterator<Item = &Book> {
        self.books.values()
    }

    /// The starting capital.
    pub fn capital(&self) -> i128 {
        self.capital
    }

    /// The totals over every symbol.
    pub fn totals(&self) -> Totals {
        totals(self.capital, self.books.values())
    }
}

/// The totals of `books` on `capital`.
pub fn totals<'a>(capital: i128, books: impl IntoIterator<Item = &'a Book>) -> Totals {
    let mut t = Totals { cash: capital, ..Totals::default() };
    for book in books {
        t.cash += book.cash();
        t.realised += book.realised();
        t.unrealised += book.unrealised();
        t.fees += book.fees();
        t.open_positions += usize::from(book.entry().is_some());
    }
    t.equity = capital + t.realised + t.unrealised;
    t
}
