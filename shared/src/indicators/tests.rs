//! Warm-up indices, resets, hand-worked values and properties of the
//! indicators (TA-Lib's values are checked in `talib_tests`).

use proptest::prelude::*;

use super::*;
use crate::fixed::SCALE;
use crate::{Interval, Symbol, Volume};

/// A 1m bar with the given prices in units of 10^-8.
fn bar(index: usize, open: i64, high: i64, low: i64, close: i64, vwap: i64) -> Bar {
    Bar {
        symbol: Symbol::new("X").expect("symbol"),
        interval: Interval::from_seconds(60).expect("1m"),
        start: index as i64 * 60_000_000_000,
        open: Price(open),
        high: Price(high),
        low: Price(low),
        close: Price(close),
        volume: Volume(100 * SCALE as i128),
        vwap: Price(vwap),
        trades: 1,
        first_ts: 0,
        last_ts: 0,
    }
}

/// A wavy series of 80 bars around 100 with ranges around each close.
fn series() -> Vec<Bar> {
    (0..80)
        .map(|i| {
            let close = 100 * SCALE + ((i * 37 % 23) as i64 - 11) * SCALE / 10;
            bar(i, close - SCALE / 20, close + SCALE / 10, close - SCALE / 5, close, close + SCALE / 50)
        })
        .collect()
}

/// The indices of the bars after which `indicator` has a value.
fn valued<I: Indicator>(indicator: &mut I, bars: &[Bar]) -> Vec<usize> {
    bars.iter().enumerate().filter_map(|(i, bar)| indicator.update(bar).map(|_| i)).collect()
}

/// Checks that the first value comes at `warm_up()`, which is `expected`, and
/// that every bar after it has one too.
fn assert_warm_up<I: Indicator>(mut indicator: I, expected: usize) {
    assert_eq!(indicator.warm_up(), expected);
    let bars = series();
    let valued = valued(&mut indicator, &bars);
    assert_eq!(valued, (expected..bars.len()).collect::<Vec<_>>());
}

#[test]
fn warm_up_is_talibs_lookback() {
    assert_warm_up(Sma::new(1).expect("sma"), 0);
    assert_warm_up(Sma::new(10).expect("sma"), 9);
    assert_warm_up(Sma::new(30).expect("sma"), 29);
    assert_warm_up(Ema::new(1).expect("ema"), 0);
    assert_warm_up(Ema::new(10).expect("ema"), 9);
    assert_warm_up(Rsi::new(2).expect("rsi"), 2);
    assert_warm_up(Rsi::default(), 14);
    assert_warm_up(Atr::new(1).expect("atr"), 1);
    assert_warm_up(Atr::default(), 14);
    assert_warm_up(Macd::default(), 33);
    assert_warm_up(Macd::new(5, 3, 4).expect("macd"), 7);
    assert_warm_up(Macd::new(3, 3, 1).expect("macd"), 2);
    assert_warm_up(Bollinger::default(), 19);
    assert_warm_up(Bollinger::new(2, 1.0).expect("bbands"), 1);
    assert_warm_up(VwapDeviation::new(), 0);
}

/// Feeds the series, resets, feeds it again: the second pass must equal a
/// fresh indicator's, and `value` must repeat what `update` returned.
fn assert_resets<I>(mut indicator: I)
where
    I: Indicator + Clone,
    I::Output: PartialEq + std::fmt::Debug,
{
    let fresh = indicator.clone();
    let bars = series();
    let first: Vec<_> = bars.iter().map(|b| indicator.update(b)).collect();
    assert!(indicator.is_ready());
    indicator.reset();
    assert!(!indicator.is_ready());
    assert_eq!(indicator.value(), None);
    let mut again = fresh.clone();
    for (bar, expected) in bars.iter().zip(&first) {
        assert_eq!(indicator.update(bar), *expected);
        assert_eq!(indicator.value(), *expected);
        again.update(bar);
    }
    assert_eq!(again.value(), indicator.value());
}

#[test]
fn reset_starts_over() {
    assert_resets(Sma::new(7).expect("sma"));
    assert_resets(Ema::new(7).expect("ema"));
    assert_resets(Rsi::default());
    assert_resets(Atr::default());
    assert_resets(Macd::default());
    assert_resets(Bollinger::default());
    assert_resets(VwapDeviation::new());
}

#[test]
fn a_bar_feeds_its_close() {
    fn same<I: CloseIndicator + Clone>(indicator: I)
    where
        I::Output: PartialEq + std::fmt::Debug,
    {
        let (mut by_bar, mut by_close) = (indicator.clone(), indicator);
        for bar in series() {
            assert_eq!(by_bar.update(&bar), by_close.update_close(bar.close));
        }
    }
    same(Sma::new(5).expect("sma"));
    same(Ema::new(5).expect("ema"));
    same(Rsi::default());
    same(Macd::default());
    same(Bollinger::default());
    let mut by_bar = Atr::default();
    let mut by_hlc = Atr::default();
    for bar in series() {
        assert_eq!(by_bar.update(&bar), by_hlc.update_hlc(bar.high, bar.low, bar.close));
    }
}

#[test]
fn parameters_are_checked() {
    assert_eq!(Sma::new(0), Err(IndicatorError::Period { indicator: "SMA", period: 0, min: 1 }),);
    assert!(Sma::new(MAX_PERIOD + 1).is_err());
    assert!(Ema::new(0).is_err());
    assert!(Rsi::new(1).is_err());
    assert!(Atr::new(0).is_err());
    assert!(Macd::new(1, 26, 9).is_err());
    assert!(Macd::new(12, 26, 0).is_err());
    assert!(Bollinger::new(1, 2.0).is_err());
    assert!(Bollinger::new(20, f64::NAN).is_err());
    assert!(Window::new(0).is_err());
    assert_eq!(Rsi::new(1).map(|_| ()).unwrap_err().to_string(), "RSI period 1 is outside 2..=100000");
    assert_eq!(Macd::new(26, 12, 9).expect("macd").periods(), (12, 26, 9));
    assert_eq!(Macd::default(), Macd::new(12, 26, 9).expect("macd"));
    assert_eq!(Rsi::default(), Rsi::new(14).expect("rsi"));
    assert_eq!(Atr::default(), Atr::new(14).expect("atr"));
    assert_eq!(Bollinger::default(), Bollinger::new(20, 2.0).expect("bbands"));
}

#[test]
fn ema_is_seeded_with_the_sma() {
    let mut ema = Ema::new(3).expect("ema");
    assert_eq!(ema.k(), 0.5);
    assert_eq!(ema.update_close(Price(2 * SCALE)), None);
    assert_eq!(ema.update_close(Price(4 * SCALE)), None);
    assert_eq!(ema.update_close(Price(9 * SCALE)), Some(5.0));
    assert_eq!(ema.update_close(Price(7 * SCALE)), Some(6.0));
}

#[test]
fn rsi_follows_wilder() {
    let mut rsi = Rsi::new(2).expect("rsi");
    let closes = [10, 12, 11, 11, 14];
    let values: Vec<_> = closes.iter().map(|c| rsi.update_close(Price(c * SCALE))).collect();
    // Changes +2, −1 → G = 1, L = 0.5; then 0 → G = 0.5, L = 0.25; then +3 → G = 1.75, L = 0.125.
    let expected = [None, None, Some(100.0 / 1.5), Some(100.0 / 1.5), Some(100.0 * 1.75 / 1.875)];
    assert_all_near(&values, &expected);
    let mut flat = Rsi::new(3).expect("rsi");
    let values: Vec<_> = (0..5).map(|_| flat.update_close(Price(SCALE))).collect();
    assert_eq!(values, [None, None, None, Some(0.0), Some(0.0)], "TA-Lib's RSI of a flat series is 0");
}

#[test]
fn atr_uses_the_previous_close() {
    let mut atr = Atr::new(2).expect("atr");
    let bars = [
        bar(0, 10 * SCALE, 11 * SCALE, 9 * SCALE, 10 * SCALE, 10 * SCALE),
        bar(1, 10 * SCALE, 12 * SCALE, 10 * SCALE, 11 * SCALE, 11 * SCALE), // range 2
        bar(2, 15 * SCALE, 16 * SCALE, 15 * SCALE, 16 * SCALE, 16 * SCALE), // gap up: |11 − 16| = 5
        bar(3, 16 * SCALE, 16 * SCALE, 13 * SCALE, 14 * SCALE, 14 * SCALE), // range 3
    ];
    let values: Vec<_> = bars.iter().map(|b| atr.update(b)).collect();
    assert_eq!(values, [None, None, Some(3.5), Some(3.25)]);
}

#[test]
fn macd_seeds_the_fast_ema_where_the_slow_one_ends() {
    let closes: [i64; 5] = [1, 2, 4, 8, 16];
    let mut macd = Macd::new(2, 4, 1).expect("macd");
    let values: Vec<_> = closes.iter().map(|c| macd.update_close(Price(c * SCALE))).collect();
    // At bar 3: fast = (4 + 8) / 2 = 6 (not an EMA started at bar 0), slow = 15 / 4.
    let line = 6.0 - 3.75;
    assert_eq!(values[3], Some(MacdValue { line, signal: line, histogram: 0.0 }));
    let fast = (16.0 - 6.0) * (2.0 / 3.0) + 6.0;
    let slow = (16.0 - 3.75) * 0.4 + 3.75;
    assert_eq!(values[4].map(|v| v.line), Some(fast - slow));
}

#[test]
fn bands_are_the_sma_and_population_deviation() {
    let mut bands = Bollinger::new(4, 2.0).expect("bbands");
    let values: Vec<_> = [2, 4, 4, 6].iter().map(|c| bands.update_close(Price(c * SCALE))).collect();
    // Mean 4, squared deviations 4 + 0 + 0 + 4 = 8, σ = sqrt(8 / 4).
    let width = 2.0 * 2f64.sqrt();
    assert_eq!(values[3], Some(Bands { upper: 4.0 + width, middle: 4.0, lower: 4.0 - width }));
    assert_eq!(bands.sma().sum(), Some(16 * i128::from(SCALE)));
}

#[test]
fn vwap_deviation_is_close_over_vwap_minus_one() {
    let mut deviation = VwapDeviation::new();
    assert_eq!(deviation.update(&bar(0, 0, 0, 0, 101 * SCALE, 100 * SCALE)), Some(0.01));
    assert_eq!(deviation.update(&bar(1, 0, 0, 0, 99 * SCALE, 100 * SCALE)), Some(-0.01));
    assert_eq!(deviation.update(&bar(2, 0, 0, 0, 99 * SCALE, 0)), None);
}

#[test]
fn window_statistics() {
    let mut window = Window::new(4).expect("window");
    for x in [2.0, 4.0, 4.0] {
        window.push(x);
        assert_eq!((window.sum(), window.mean(), window.std_sample()), (None, None, None));
    }
    window.push(6.0);
    assert_eq!(window.len(), 4);
    assert_eq!(window.mean(), Some(4.0));
    assert_eq!(window.std_population(), Some(2f64.sqrt()));
    assert_eq!(window.std_sample(), Some((8.0f64 / 3.0).sqrt()));
    window.clear();
    assert!(window.is_empty());
    for _ in 0..4 {
        window.push(5.0);
    }
    assert_eq!((window.std_sample(), window.z_score(5.0)), (Some(0.0), None));
    let mut one = Window::new(1).expect("window");
    one.push(3.0);
    assert_eq!((one.mean(), one.std_population(), one.std_sample()), (Some(3.0), Some(0.0), None));
}

/// Both `None` at the same places, and within 1e-12 relative elsewhere.
fn assert_all_near(actual: &[Option<f64>], expected: &[Option<f64>]) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        match (a, e) {
            (Some(a), Some(e)) => assert!(near(*a, *e, 1e-12, 0.0), "{actual:?} vs {expected:?}"),
            _ => assert_eq!(a, e, "{actual:?} vs {expected:?}"),
        }
    }
}

/// `|a − b| ≤ tolerance · max(|b|, floor)`.
fn near(a: f64, b: f64, tolerance: f64, floor: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(floor)
}

proptest! {
    #[test]
    fn sma_equals_a_recomputation(
        closes in prop::collection::vec(1i64..1_000_000_000_000, 1..200),
        period in 1usize..40,
    ) {
        let mut sma = Sma::new(period).expect("sma");
        for (i, close) in closes.iter().enumerate() {
            let value = sma.update_close(Price(*close));
            if i + 1 < period {
                prop_assert_eq!((value, sma.sum()), (None, None));
                continue;
            }
            let sum: i128 = closes[i + 1 - period..=i].iter().map(|c| i128::from(*c)).sum();
            prop_assert_eq!(sma.sum(), Some(sum));
            prop_assert_eq!(value, Some(sum as f64 / (period as f64 * SCALE as f64)));
        }
    }

    #[test]
    fn window_equals_a_two_pass_recomputation(
        values in prop::collection::vec(-1e6f64..1e6, 1..150),
        period in 1usize..40,
    ) {
        let mut window = Window::new(period).expect("window");
        for (i, x) in values.iter().enumerate() {
            window.push(*x);
            if i + 1 < period {
                prop_assert_eq!(window.std_population(), None);
                continue;
            }
            let last = &values[i + 1 - period..=i];
            let n = period as f64;
            let mean = last.iter().sum::<f64>() / n;
            let squares: f64 = last.iter().map(|v| (v - mean).powi(2)).sum();
            let mean_got = window.mean().expect("mean");
            prop_assert!(near(mean_got, mean, 1e-12, 1e-6), "mean {} vs {}", mean_got, mean);
            let population = window.std_population().expect("std");
            prop_assert!(near(population, (squares / n).sqrt(), 1e-12, 1e-6));
            if period > 1 {
                let sample = window.std_sample().expect("std");
                let expected = (squares / (n - 1.0)).sqrt();
                prop_assert!(near(sample, expected, 1e-12, 1e-6), "sample std {} vs {}", sample, expected);
                if let Some(z) = window.z_score(*x) {
                    prop_assert!(near(z * expected, x - mean, 1e-9, 1e-6));
                }
            }
        }
    }

    #[test]
    fn bands_agree_with_exact_integer_variance(
        closes in prop::collection::vec(1_000_000_000i64..20_000_000_000, 20..80),
    ) {
        let mut bands = Bollinger::default();
        for (i, close) in closes.iter().enumerate() {
            let Some(value) = bands.update_close(Price(*close)) else { continue };
            let last: Vec<i128> = closes[i - 19..=i].iter().map(|c| i128::from(*c)).collect();
            let sum: i128 = last.iter().sum();
            let squares: i128 = last.iter().map(|c| c * c).sum();
            // n² · variance, exactly, in units².
            let spread = 20 * squares - sum * sum;
            let std = (spread as f64).sqrt() / 20.0 / SCALE as f64;
            let middle = sum as f64 / (20.0 * SCALE as f64);
            prop_assert_eq!(value.middle, middle);
            prop_assert!(near(value.upper - value.middle, 2.0 * std, 1e-9, 1e-12 * middle));
            prop_assert!(value.lower <= value.middle && value.middle <= value.upper);
        }
    }

    #[test]
    fn rsi_stays_within_0_and_100(closes in prop::collection::vec(1i64..1_000_000_000_000, 1..100)) {
        let mut rsi = Rsi::default();
        for close in closes {
            if let Some(value) = rsi.update_close(Price(close)) {
                prop_assert!((0.0..=100.0).contains(&value));
            }
        }
    }
}
