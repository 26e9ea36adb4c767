//! The backtest over hand-built bars: fills, the last bar, the curve, threads.

use super::{Config, files, run, summary::Summary};
use crate::builtin::tests::bars;
use crate::{Params, Spec};
use tickflow_shared::signal::Costs;
use tickflow_shared::{Bar, Interval, Price, Size, Symbol};

fn config(threads: usize) -> Config {
    Config {
        spec: Spec::new("sma-cross", &Params::parse(["fast=2", "slow=3"]).expect("params")).expect("spec"),
        interval: Interval::from_seconds(60).expect("1m"),
        quantity: Size::parse("10").expect("quantity"),
        costs: Costs { fee_bps: 1, slippage_bps: 0 },
        capital: 100_000 * 100_000_000,
        threads,
    }
}

/// `symbol`'s bars with `closes`, each opening at the close before it.
fn series(symbol: &str, closes: &[&str]) -> Vec<Bar> {
    let mut out = bars(closes);
    let mut open = out[0].close;
    for bar in &mut out {
        bar.symbol = Symbol::new(symbol).expect("symbol");
        bar.open = open;
        open = bar.close;
    }
    out
}

#[test]
fn a_signal_fills_at_the_next_open_and_none_on_the_last_bar() {
    // AAA: buy at 4 (fills at 5's open, 11), sell at 7 (fills at 8's open, 9).
    // BBB: its buy comes on its last bar, so it never fills.
    let mut input = series("AAA", &["10", "10", "10", "10", "11", "12", "10", "9", "9"]);
    input.extend(series("BBB", &["10", "10", "10", "10", "11"]));
    let outcome = run(&config(1), &input, &|_| {}).expect("ran");
    assert_eq!(outcome.signals.len(), 3);
    assert_eq!(outcome.fills.len(), 2);
    let (buy, sell) = (&outcome.fills[0], &outcome.fills[1]);
    assert_eq!((buy.time, buy.price), (5 * 60_000_000_000, Price::parse("11").expect("p")));
    assert_eq!((sell.time, sell.price), (8 * 60_000_000_000, Price::parse("9").expect("p")));
    // 10 × (9 − 11) − 0.011 − 0.009
    assert_eq!(outcome.trades[0].pnl, -2_002_000_000);
    assert_eq!(outcome.totals.equity, config(1).capital - 2_002_000_000);
    // One point per distinct bar close time (0..9 minutes, both symbols share 0..5).
    assert_eq!(outcome.equity.len(), 9);
    assert_eq!(outcome.equity.last().map(|p| p.equity), Some(outcome.totals.equity));
    assert_eq!(outcome.equity[0].time, 60_000_000_000);
    // Held at the close of bars 5, 6 and 7.
    assert_eq!(outcome.held_bars, 3);
    let summary = Summary::of(&config(1), &outcome);
    assert_eq!((summary.trades, summary.win_rate, summary.profit_factor), (1, Some(0.0), Some(0.0)));
    assert!(files::signals(&outcome).starts_with("strategy,symbol,interval,start,side,close,reason\n"));
    assert!(files::fills(&outcome).contains("sma-cross,AAA,buy,1970-01-01T00:05:00Z,11,10,0.011\n"));
    assert!(files::trades(&outcome).contains("AAA,1970-01-01T00:05:00Z,11,1970-01-01T00:08:00Z,9,10,-20.02\n"));
}

#[test]
fn threads_do_not_change_the_outcome() {
    let closes: Vec<String> =
        (0..300).map(|i| format!("{:.2}", 100.0 + 5.0 * (f64::from(i) / 7.0).sin() + f64::from(i % 5))).collect();
    let closes: Vec<&str> = closes.iter().map(String::as_str).collect();
    let mut input = Vec::new();
    for (n, symbol) in ["AAA", "BBB", "CCC", "DDD", "EEE"].iter().enumerate() {
        let mut bars = series(symbol, &closes[n * 10..]);
        bars.iter_mut().for_each(|b| b.start += n as i64 * 120_000_000_000);
        input.extend(bars);
    }
    let one = run(&config(1), &input, &|_| {}).expect("ran");
    let three = run(&config(3), &input, &|_| {}).expect("ran");
    assert!(one.fills.len() > 20);
    assert_eq!(files::fills(&one), files::fills(&three));
    assert_eq!(files::equity(&config(1), &one), files::equity(&config(3), &three));
    assert_eq!(one.totals, three.totals);
}

#[test]
fn bars_out_of_order_are_refused() {
    let mut input = series("AAA", &["10", "11", "12"]);
    input.swap(0, 1);
    let error = run(&config(1), &input, &|_| {}).expect_err("out of order");
    assert!(error.to_string().contains("not in start order"), "{error}");
}
