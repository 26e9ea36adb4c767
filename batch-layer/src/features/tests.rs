//! Properties of the feature columns: point-in-time correctness, and nulls
//! exactly where a window is not full or a label runs past the data.

use super::columns::{Columns, FEATURE_COLUMNS, compute};
use proptest::prelude::*;
use tickflow_shared::bar::BarAcc;
use tickflow_shared::fixed::{Price, Size};
use tickflow_shared::{Bar, Interval, Symbol};

const HORIZONS: [u32; 3] = [1, 5, 20];

/// A bar of the `i`-th day from a few trades `(price, size)` in units of 10^-8.
fn bar(i: usize, trades: &[(i64, i64)]) -> Bar {
    let interval: Interval = "1d".parse().expect("interval");
    let start = i as i64 * interval.nanos();
    let mut acc = BarAcc::default();
    for (seq, &(price, size)) in trades.iter().enumerate() {
        acc.push(start + seq as i64, seq as u64, Price(price), Size(size));
    }
    acc.finish(Symbol::new("SPY").expect("symbol"), interval, start).expect("a bar with trades")
}

fn trades() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((1_000_000_000i64..20_000_000_000, 1i64..1_000_000_000_000), 1..4)
}

/// Row `t`'s features (every column but the labels).
fn features_at(columns: &Columns, t: usize) -> Vec<Option<u64>> {
    let mut row =
        vec![Some(columns.close[t].to_bits()), Some(columns.vwap[t].to_bits()), Some(columns.volume[t].to_bits())];
    row.extend(columns.features.iter().map(|f| f[t].map(f64::to_bits)));
    row
}

proptest! {
    /// Changing any bar after `t` never changes a feature at or before `t`,
    /// nor a label that ends at or before `t`.
    #[test]
    fn no_feature_sees_a_later_bar(
        series in prop::collection::vec(trades(), 1..60),
        cut in 0usize..60,
        replaced in prop::collection::vec(trades(), 0..40),
    ) {
        let bars: Vec<Bar> = series.iter().enumerate().map(|(i, t)| bar(i, t)).collect();
        let cut = cut % bars.len();
        let mut changed: Vec<Bar> = bars[..=cut].to_vec();
        changed.extend(replaced.iter().enumerate().map(|(i, t)| bar(cut + 1 + i, t)));
        let (a, b) = (compute(&bars, &HORIZONS), compute(&changed, &HORIZONS));
        for t in 0..=cut {
            prop_assert_eq!(features_at(&a, t), features_at(&b, t), "row {}", t);
            for (k, &h) in HORIZONS.iter().enumerate() {
                if t + h as usize <= cut {
                    prop_assert_eq!(a.labels[k].0[t].map(f64::to_bits), b.labels[k].0[t].map(f64::to_bits));
                    prop_assert_eq!(a.labels[k].1[t], b.labels[k].1[t]);
                }
            }
        }
    }

    /// A feature is null exactly while its window is not full (and a label
    /// exactly where it runs past the data), never because of the values,
    /// except a z-score of a window of equal volumes.
    #[test]
    fn nulls_only_where_windows_are_not_full(series in prop::collection::vec(trades(), 1..50)) {
        let bars: Vec<Bar> = series.iter().enumerate().map(|(i, t)| bar(i, t)).collect();
        let columns = compute(&bars, &HORIZONS);
        // First non-null row of ret_1, ret_5, ret_20, vol_20, range, vwap_dev, volume_z_20, rsi_14, sma_ratio_20, atr_14_pct.
        let first: [usize; FEATURE_COLUMNS] = [1, 5, 20, 20, 0, 0, 19, 14, 19, 14];
        for (k, column) in columns.features.iter().enumerate() {
            for (t, value) in column.iter().enumerate() {
                let flat_volumes = k == 6 && t >= 19 && bars[t - 19..=t].iter().all(|b| b.volume == bars[t].volume);
                prop_assert_eq!(value.is_some(), t >= first[k] && !flat_volumes, "column {} row {}", k, t);
            }
        }
        for (k, &h) in HORIZONS.iter().enumerate() {
            for t in 0..bars.len() {
                prop_assert_eq!(columns.labels[k].0[t].is_some(), t + (h as usize) < bars.len());
            }
        }
    }
}
