//! One symbol's live state: its strategy, its paper book and how far it got.

use crate::Strategy;
use crate::ledger::Book;
use std::collections::BTreeMap;
use tickflow_shared::Bar;
use tickflow_shared::Price;
use tickflow_shared::store::{Position, SignalCommit};

/// A symbol's strategy and book, fed every final bar once, in start order.
pub(super) struct Series {
    pub strategy: Box<dyn Strategy>,
    /// `Some` when the bot trades on paper.
    pub book: Option<Book>,
    /// Start of the last bar fed (a stored cursor, or the warm-up's end).
    pub cursor: Option<i64>,
    /// Final speed bars after the cursor, waiting for their turn, by start.
    pub pending: BTreeMap<i64, Bar>,
    /// Whether bars were fed since the last commit.
    pub moved: bool,
    /// The batch view was read up to this boundary (ns).
    pub batch_until: Option<i64>,
}

impl Series {
    /// Whether a bar starting at `start` is after what was fed.
    pub fn is_new(&self, start: i64) -> bool {
        self.cursor.is_none_or(|cursor| start > cursor)
    }

    /// Feeds one final bar: the order queued on the bar before fills at its
    /// open, then the strategy decides at its close (as the backtest does).
    /// The signal and fill go into `out`.
    pub fn feed(&mut self, bar: &Bar, out: &mut SignalCommit) {
        if let Some(executed) = self.book.as_mut().and_then(|book| book.on_bar(bar)) {
            out.fills.push(executed.fill);
        }
        if let Some(signal) = self.strategy.on_bar(bar) {
            if let Some(book) = &mut self.book {
                book.order(signal.side);
            }
            out.signals.push(signal);
        }
        self.cursor = Some(bar.start);
        self.moved = true;
    }

    /// The paper position as the book holds it now, if the bot trades on paper.
    pub fn position(&self) -> Option<Position> {
        let book = self.book.as_ref()?;
        let entry = book.entry();
        let clamp = |value: i128| i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX });
        Some(Position {
            strategy: self.strategy.name().to_owned(),
            symbol: book.symbol().clone(),
            quantity: entry.map_or(0, |e| e.quantity),
            entry_price: entry.map_or(Price(0), |e| e.price),
            last_price: book.mark().unwrap_or(Price(0)),
            realized_pnl: clamp(book.realised()),
            fees: clamp(book.fees()),
            time: self.cursor.unwrap_or(0),
        })
    }
}
