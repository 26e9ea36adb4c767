//! The ledger's accounting, in exact units.

use super::{Account, Book, totals};
use crate::builtin::tests::bars;
use tickflow_shared::signal::{Costs, Side};
use tickflow_shared::{Bar, Price, Size, Symbol};

fn units(text: &str) -> i128 {
    i128::from(Price::parse(text).expect("decimal").units())
}

fn bar(close: &str, open: &str, i: i64) -> Bar {
    let mut bar = bars(&[close]).remove(0);
    bar.open = Price::parse(open).expect("open");
    bar.start = i * 60_000_000_000;
    bar
}

#[test]
fn a_round_trip_fills_at_next_opens_with_slippage_and_fees() {
    let costs = Costs { fee_bps: 1, slippage_bps: 5 };
    let mut book = Book::new(Symbol::new("SPY").expect("symbol"), "sma-cross", Size::parse("100").expect("q"), costs);
    assert_eq!(book.on_bar(&bar("99", "98", 0)), None);
    book.order(Side::Buy);
    let buy = book.on_bar(&bar("101", "100", 1)).expect("filled at the open");
    assert_eq!(
        (buy.fill.side, buy.fill.time, buy.fill.price),
        (Side::Buy, 60_000_000_000, Price::parse("100.05").expect("p"))
    );
    assert_eq!(i128::from(buy.fill.fee), units("1.0005"));
    assert_eq!(buy.round_trip, None);
    assert_eq!(book.cash(), -units("10006.0005"));
    // Marked at 101: 10,100 − 10,005 − 1.0005.
    assert_eq!(book.unrealised(), units("93.9995"));
    assert_eq!(book.value(), book.realised() + book.unrealised());
    book.order(Side::Sell);
    let sell = book.on_bar(&bar("103", "102", 2)).expect("filled at the open");
    assert_eq!(sell.fill.price, Price::parse("101.949").expect("p"));
    assert_eq!(i128::from(sell.fill.fee), units("1.01949"));
    let trip = sell.round_trip.expect("a round trip");
    // 10,194.9 − 10,005 − 1.0005 − 1.01949
    assert_eq!(trip.pnl, units("187.88001"));
    assert_eq!((trip.entry_time, trip.exit_time, trip.quantity), (60_000_000_000, 120_000_000_000, 10_000_000_000));
    assert_eq!((book.realised(), book.unrealised(), book.entry()), (trip.pnl, 0, None));
    assert_eq!(book.value(), trip.pnl);
    assert_eq!(book.fees(), units("2.01999"));
}

#[test]
fn an_order_on_the_last_bar_never_fills() {
    let mut book =
        Book::new(Symbol::new("SPY").expect("symbol"), "rsi", Size::parse("1").expect("q"), Costs::default());
    book.on_bar(&bar("10", "10", 0));
    book.order(Side::Buy);
    assert_eq!(book.pending(), Some(Side::Buy));
    assert_eq!((book.entry(), book.cash(), book.fees()), (None, 0, 0));
}

#[test]
fn a_buy_while_long_and_a_sell_while_flat_do_nothing() {
    let mut book =
        Book::new(Symbol::new("SPY").expect("symbol"), "rsi", Size::parse("2").expect("q"), Costs::default());
    book.order(Side::Sell);
    assert_eq!(book.on_bar(&bar("10", "10", 0)), None);
    book.order(Side::Buy);
    assert!(book.on_bar(&bar("10", "10", 1)).is_some());
    book.order(Side::Buy);
    assert_eq!(book.on_bar(&bar("11", "11", 2)), None);
    assert_eq!(book.entry().map(|e| e.quantity), Some(200_000_000));
}

#[test]
fn the_account_adds_up_over_symbols() {
    let mut account = Account::new("sma-cross", units("100000"), Size::parse("10").expect("q"), Costs::default());
    let mut ibm = bar("180", "180", 0);
    ibm.symbol = Symbol::new("IBM").expect("symbol");
    account.on_bar(&ibm);
    account.on_bar(&bar("100", "100", 0));
    for signal_symbol in [&ibm.symbol, &Symbol::new("SPY").expect("symbol")] {
        let book = account.get(signal_symbol).expect("book");
        assert_eq!(book.pending(), None);
    }
    account.on_signal(&crate::Signal {
        strategy: "sma-cross".into(),
        symbol: ibm.symbol.clone(),
        interval: ibm.interval,
        start: 0,
        side: Side::Buy,
        close: ibm.close,
        values: Vec::new(),
        reason: String::new(),
    });
    ibm.start = 60_000_000_000;
    ibm.open = Price::parse("181").expect("p");
    ibm.close = Price::parse("185").expect("p");
    assert!(account.on_bar(&ibm).is_some());
    account.on_bar(&bar("90", "95", 1));
    let t = account.totals();
    // Bought 10 IBM at 181 (fee 0.181), marked at 185.
    assert_eq!(t.unrealised, units("39.819"));
    assert_eq!(t.realised, 0);
    assert_eq!(t.equity, units("100039.819"));
    assert_eq!(t.cash, units("100000") - units("1810.181"));
    assert_eq!(t.open_positions, 1);
    assert_eq!(t, totals(account.capital(), account.books()));
}

#[test]
fn whole_and_fractional_notionals_are_exact() {
    let price = Price::parse("101.23456789").expect("p");
    assert_eq!(super::notional(price, 3 * 100_000_000), units("303.70370367"));
    // 0.5 × 101.23456789 = 50.617283945, rounded half away from zero.
    assert_eq!(super::notional(price, 50_000_000), units("50.61728395"));
    assert_eq!(super::notional(Price::parse("-2.5").expect("p"), 100_000_001), units("-2.50000003"));
}
