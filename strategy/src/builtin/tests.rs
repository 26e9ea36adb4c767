//! Hand-built bar sequences that pin each strategy's rule, boundaries included.

use crate::{Params, Spec, StrategyError, by_name};
use tickflow_shared::signal::Side;
use tickflow_shared::{Bar, Interval, Price, Symbol, Volume};

/// Bars of `SPY` one minute apart whose open, high, low and close are `closes`.
pub(crate) fn bars(closes: &[&str]) -> Vec<Bar> {
    closes
        .iter()
        .enumerate()
        .map(|(i, close)| {
            let price = Price::parse(close).expect("price");
            let start = i as i64 * 60_000_000_000;
            Bar {
                symbol: Symbol::new("SPY").expect("symbol"),
                interval: Interval::from_seconds(60).expect("1m"),
                start,
                open: price,
                high: price,
                low: price,
                close: price,
                volume: Volume(100_000_000),
                vwap: price,
                trades: 1,
                first_ts: start,
                last_ts: start,
            }
        })
        .collect()
}

/// The `(bar index, side)` of every signal `name` with `params` gives on `closes`.
fn signals(name: &str, params: &[&str], closes: &[&str]) -> Vec<(usize, Side)> {
    let mut strategy = by_name(name, &Params::parse(params).expect("params")).expect("strategy");
    let bars = bars(closes);
    let mut out = Vec::new();
    for (i, bar) in bars.iter().enumerate() {
        if let Some(signal) = strategy.on_bar(bar) {
            assert_eq!((signal.start, signal.close, signal.strategy.as_str()), (bar.start, bar.close, name));
            out.push((i, signal.side));
        }
    }
    out
}

#[test]
fn sma_cross_buys_from_a_tie_and_sells_through_a_tie() {
    // SMA2 vs SMA3: equal at 2 and 3 (no signal: not a cross), above at 4
    // (buy: SMA_fast(t−1) <= SMA_slow(t−1) includes the tie) and 5, equal at
    // 6 (10 + 12 = 2 · 11), below at 7 (sell from the tie).
    let closes = ["10", "10", "10", "10", "11", "12", "10", "9"];
    assert_eq!(signals("sma-cross", &["fast=2", "slow=3"], &closes), [(4, Side::Buy), (7, Side::Sell)]);
}

#[test]
fn sma_cross_waits_for_both_averages_at_t_and_t_minus_1() {
    // At index 2 the fast average is above the slow one, but there is no
    // t−1 with both averages: that is no cross. Later it stays above.
    assert_eq!(signals("sma-cross", &["fast=2", "slow=3"], &["10", "9", "12", "13", "14"]), []);
    let strategy = by_name("sma-cross", &Params::parse(["fast=2", "slow=3"]).expect("params")).expect("built");
    assert_eq!(strategy.warm_up(), 3);
}

#[test]
fn sma_cross_gives_no_sell_while_flat_and_no_buy_while_long() {
    // Above from the start, then a cross down while flat: no signal.
    assert_eq!(signals("sma-cross", &["fast=2", "slow=3"], &["10", "11", "12", "13", "9"]), []);
    // Buy at 4; back to a tie at 6 and above again at 7 while long: no second buy.
    let closes = ["10", "10", "10", "10", "11", "12", "10", "15"];
    assert_eq!(signals("sma-cross", &["fast=2", "slow=3"], &closes), [(4, Side::Buy)]);
}

#[test]
fn sma_cross_compares_sums_exactly() {
    // Below at 2; SMA2 = SMA3 exactly at 3 (c₂ + c₃ = 2 · c₁) with prices of
    // eight decimals: a tie, so the move up at 4 is a cross.
    let closes = ["0.2", "0.15000001", "0.10000001", "0.20000001", "0.3"];
    assert_eq!(signals("sma-cross", &["fast=2", "slow=3"], &closes), [(4, Side::Buy)]);
}

#[test]
fn ema_cross_follows_the_same_rule_on_emas() {
    // EMA2 and EMA3 are 10 up to index 3 (a tie), 10.67 > 10.5 at 4 (buy),
    // 9.56 < 9.75 at 5 (sell).
    let closes = ["10", "10", "10", "10", "11", "9"];
    assert_eq!(signals("ema-cross", &["fast=2", "slow=3"], &closes), [(4, Side::Buy), (5, Side::Sell)]);
    // Warm-up: the slow EMA's first value is at index 2, the first cross at index 3.
    assert_eq!(signals("ema-cross", &["fast=2", "slow=3"], &["10", "12", "9", "12"]), [(3, Side::Buy)]);
}

#[test]
fn rsi_crosses_its_levels_strictly() {
    // RSI(2): 50 at 2 (first value), 75 at 3 (up through 50 from the level:
    // buy), 75 at 4, 25 at 5 (down through 75 from the level: sell), exactly
    // 50 at 6 (reaching the level is no cross), 83 at 7 (buy).
    let closes = ["10", "11", "10", "11", "11", "10", "10.375", "11.375"];
    let params = ["period=2", "oversold=50", "overbought=75"];
    assert_eq!(signals("rsi", &params, &closes), [(3, Side::Buy), (5, Side::Sell), (7, Side::Buy)]);
    // Warm-up: nothing before the second RSI value (index period + 1).
    assert_eq!(signals("rsi", &params, &["10", "9", "12"]), []);
}

#[test]
fn macd_crosses_its_signal_line() {
    // Constant closes: line = signal = 0 exactly (a tie); a jump up puts the
    // line above its signal (buy), a drop below (sell).
    let closes = ["10", "10", "10", "10", "10", "11", "11", "9"];
    assert_eq!(signals("macd", &["fast=2", "slow=3", "signal=2"], &closes), [(5, Side::Buy), (7, Side::Sell)]);
    // Warm-up: the first MACD value is at index slow + signal − 2 = 3, so no
    // signal at 3 even though the line is above its signal there.
    assert_eq!(signals("macd", &["fast=2", "slow=3", "signal=2"], &["10", "10", "10", "11"]), []);
}

#[test]
fn bollinger_buys_below_the_lower_band_and_sells_above_the_middle() {
    // Period 3, k = 1: at 2 the close equals the lower band (10 = 10 − 0): no
    // buy; at 3 it is below (buy); at 4 it equals the middle exactly (no
    // sell); at 5 it is above (sell).
    let closes = ["10", "10", "10", "7", "8.5", "9"];
    assert_eq!(signals("bollinger", &["period=3", "k=1"], &closes), [(3, Side::Buy), (5, Side::Sell)]);
    // Warm-up: no bands before index period − 1.
    assert_eq!(signals("bollinger", &["period=3", "k=1"], &["10", "1"]), []);
}

#[test]
fn the_same_bars_give_the_same_signals() {
    let closes: Vec<String> = (0..400)
        .map(|i| format!("{:.2}", 100.0 + 30.0 * (f64::from(i) / 10.0).sin() + f64::from(i * 37 % 23 - 11) / 8.0))
        .collect();
    let closes: Vec<&str> = closes.iter().map(String::as_str).collect();
    for name in crate::STRATEGIES {
        let first = signals(name, &[], &closes);
        assert_eq!(first, signals(name, &[], &closes), "{name}");
        assert!(!first.is_empty(), "{name} gives signals on a zig-zag");
    }
}

#[test]
fn parameters_are_checked_with_their_names() {
    let spec = Spec::new("sma-cross", &Params::new()).expect("defaults");
    assert_eq!(spec, Spec::SmaCross { fast: 10, slow: 30 });
    assert_eq!(spec.params(), [("fast", "10".to_owned()), ("slow", "30".to_owned())]);
    let err = |name: &str, params: &[&str]| {
        Spec::new(name, &Params::parse(params).expect("params")).expect_err("invalid").to_string()
    };
    assert_eq!(
        err("sma-cross", &["period=3"]),
        "strategy sma-cross has no parameter \"period\"; its parameters are fast=10, slow=30"
    );
    assert!(err("sma-cross", &["fast=30"]).contains("must be below slow (30)"));
    assert!(err("rsi", &["oversold=80"]).contains("must be below overbought"));
    assert!(err("bollinger", &["k=x"]).contains("is not a number"));
    assert!(err("macd", &["signal=0"]).contains("is not a whole number of bars"));
    assert!(matches!(Spec::new("turtle", &Params::new()), Err(StrategyError::Unknown(_))));
}
