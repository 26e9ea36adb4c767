//! The feature export's oracle: every column recomputed from the trades by
//! the most direct code, sharing nothing with tickflow (not its bars, not its
//! indicators), and an Arrow reader for the exported files.

use crate::reference::Trade;
use arrow::array::{Array, Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use std::collections::BTreeMap;
use std::path::Path;

/// A table read back: every column by name, numbers as `f64` or `i64`.
#[derive(Debug, Default, PartialEq)]
pub struct Table {
    pub symbol: Vec<String>,
    pub floats: BTreeMap<String, Vec<Option<f64>>>,
    pub ints: BTreeMap<String, Vec<Option<i64>>>,
}

/// Reads a Parquet file with Arrow.
pub fn read(path: &Path) -> Table {
    let file = std::fs::File::open(path).expect("data file");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut table = Table::default();
    for batch in reader {
        let batch = batch.expect("batch");
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let any = column.as_any();
            let name = field.name().clone();
            if let Some(a) = any.downcast_ref::<StringArray>() {
                table.symbol.extend(a.iter().map(|s| s.expect("symbol").to_owned()));
            } else if let Some(a) = any.downcast_ref::<Float64Array>() {
                table.floats.entry(name).or_default().extend(a.iter());
            } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                table.ints.entry(name).or_default().extend(a.iter());
            } else if let Some(a) = any.downcast_ref::<TimestampMillisecondArray>() {
                table.ints.entry(name).or_default().extend(a.iter());
            } else {
                panic!("column {name} has an unexpected type {}", field.data_type());
            }
        }
    }
    table
}

/// A bar as the oracle folds it: prices and sizes in units of 10^-8.
struct NaiveBar {
    start_ms: i64,
    high: i64,
    low: i64,
    close: i64,
    volume: i128,
    vwap: i64,
    trades: i64,
}

fn naive_bars(trades: &[Trade], width_ms: i64) -> BTreeMap<String, Vec<NaiveBar>> {
    let mut sorted: Vec<&Trade> = trades.iter().collect();
    sorted.sort_by(|a, b| (&a.symbol, a.ts_ms, a.line).cmp(&(&b.symbol, b.ts_ms, b.line)));
    let mut groups: BTreeMap<(String, i64), Vec<&Trade>> = BTreeMap::new();
    for t in sorted {
        groups.entry((t.symbol.clone(), t.ts_ms.div_euclid(width_ms) * width_ms)).or_default().push(t);
    }
    let mut out: BTreeMap<String, Vec<NaiveBar>> = BTreeMap::new();
    for ((symbol, start_ms), group) in groups {
        let volume: i128 = group.iter().map(|t| t.size as i128).sum();
        let notional: i128 = group.iter().map(|t| t.price as i128 * t.size as i128).sum();
        let (q, r) = (notional / volume, notional % volume);
        out.entry(symbol).or_default().push(NaiveBar {
            start_ms,
            high: group.iter().map(|t| t.price).max().expect("trades"),
            low: group.iter().map(|t| t.price).min().expect("trades"),
            close: group[group.len() - 1].price,
            volume,
            vwap: (if r * 2 >= volume { q + 1 } else { q }) as i64,
            trades: group.len() as i64,
        });
    }
    out
}

fn sample_std(xs: &[f64]) -> f64 {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// Wilder's average of `xs` (period `n`): the plain mean of the first `n`,
/// then `(prev · (n − 1) + x) / n`; `None` before the `n`-th value.
fn wilder(xs: &[f64], n: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; xs.len()];
    if xs.len() < n {
        return out;
    }
    let mut avg = xs[..n].iter().sum::<f64>() / n as f64;
    out[n - 1] = Some(avg);
    for i in n..xs.len() {
        avg = (avg * (n - 1) as f64 + xs[i]) / n as f64;
        out[i] = Some(avg);
    }
    out
}

/// Every column of the export of `trades` at `width_ms`, by the definitions of issue 20.
pub fn features(trades: &[Trade], width_ms: i64, horizons: &[usize]) -> Table {
    let mut table = Table::default();
    let push_f = |table: &mut Table, name: &str, v: Option<f64>| table.floats.entry(name.into()).or_default().push(v);
    for (symbol, bars) in naive_bars(trades, width_ms) {
        let c: Vec<f64> = bars.iter().map(|b| b.close as f64 / 1e8).collect();
        let ret1: Vec<Option<f64>> = (0..bars.len()).map(|t| (t >= 1).then(|| (c[t] / c[t - 1]).ln())).collect();
        // Changes and true ranges from bar 1 on.
        let changes: Vec<f64> = (1..bars.len()).map(|t| c[t] - c[t - 1]).collect();
        let gains = wilder(&changes.iter().map(|d| d.max(0.0)).collect::<Vec<_>>(), 14);
        let losses = wilder(&changes.iter().map(|d| (-d).max(0.0)).collect::<Vec<_>>(), 14);
        let ranges: Vec<f64> = (1..bars.len())
            .map(|t| {
                let (h, l) = (bars[t].high as f64 / 1e8, bars[t].low as f64 / 1e8);
                (h - l).max((c[t - 1] - h).abs()).max((c[t - 1] - l).abs())
            })
            .collect();
        let atr = wilder(&ranges, 14);
        for (t, bar) in bars.iter().enumerate() {
            table.symbol.push(symbol.clone());
            let ints = &mut table.ints;
            ints.entry("ts".into()).or_default().push(Some(bar.start_ms));
            ints.entry("as_of".into()).or_default().push(Some(bar.start_ms + width_ms));
            ints.entry("trades".into()).or_default().push(Some(bar.trades));
            let volume = bar.volume as f64 / 1e8;
            push_f(&mut table, "close", Some(c[t]));
            push_f(&mut table, "vwap", Some(bar.vwap as f64 / 1e8));
            push_f(&mut table, "volume", Some(volume));
            for k in [1, 5, 20] {
                push_f(&mut table, &format!("ret_{k}"), (t >= k).then(|| (c[t] / c[t - k]).ln()));
            }
            let returns: Option<Vec<f64>> =
                (t >= 20).then(|| ret1[t - 19..=t].iter().map(|r| r.expect("return")).collect());
            push_f(&mut table, "vol_20", returns.map(|r| sample_std(&r)));
            push_f(&mut table, "range", Some((bar.high - bar.low) as f64 / bar.close as f64));
            push_f(&mut table, "vwap_dev", Some((bar.close - bar.vwap) as f64 / bar.vwap as f64));
            let z = (t >= 19).then(|| {
                let window: Vec<f64> = bars[t - 19..=t].iter().map(|b| b.volume as f64 / 1e8).collect();
                let (mean, std) = (window.iter().sum::<f64>() / 20.0, sample_std(&window));
                (std > 0.0).then(|| (volume - mean) / std)
            });
            push_f(&mut table, "volume_z_20", z.flatten());
            let rsi = (t >= 14).then(|| {
                let (g, l) = (gains[t - 1].expect("gain"), losses[t - 1].expect("loss"));
                if g + l == 0.0 { 0.0 } else { 100.0 * g / (g + l) }
            });
            push_f(&mut table, "rsi_14", rsi);
            let sma = (t >= 19).then(|| c[t - 19..=t].iter().sum::<f64>() / 20.0);
            push_f(&mut table, "sma_ratio_20", sma.map(|s| c[t] / s - 1.0));
            push_f(&mut table, "atr_14_pct", (t >= 14).then(|| atr[t - 1].expect("atr") / c[t]));
            for &h in horizons {
                let ahead = bars.get(t + h);
                push_f(&mut table, &format!("fwd_ret_{h}"), ahead.map(|_| (c[t + h] / c[t]).ln()));
                table.ints.entry(format!("fwd_end_{h}")).or_default().push(ahead.map(|b| b.start_ms + width_ms));
            }
        }
    }
    table
}

/// Asserts `actual` equals the oracle: integers and symbols exactly, floats
/// within 1e-12 relative (plus 1e-15 absolute, for values like `x / y − 1`
/// that are differences of nearly equal numbers), nulls in the same places.
pub fn assert_matches(actual: &Table, expected: &Table, what: &str) {
    assert_eq!(actual.symbol, expected.symbol, "{what}: symbols");
    assert_eq!(actual.ints, expected.ints, "{what}: integer and timestamp columns");
    assert_eq!(actual.floats.keys().collect::<Vec<_>>(), expected.floats.keys().collect::<Vec<_>>(), "{what}: columns");
    for (name, column) in &expected.floats {
        let got = &actual.floats[name];
        assert_eq!(got.len(), column.len(), "{what}: {name} rows");
        for (row, (a, e)) in got.iter().zip(column).enumerate() {
            match (a, e) {
                (Some(a), Some(e)) => assert!(
                    (a - e).abs() <= 1e-12 * a.abs().max(e.abs()) + 1e-15,
                    "{what}: {name} row {row} ({} {}): {a} vs naive {e}",
                    expected.symbol[row],
                    expected.ints["ts"][row].unwrap_or_default()
                ),
                _ => {
                    assert_eq!(a.is_some(), e.is_some(), "{what}: {name} row {row}: null in one only ({a:?} vs {e:?})")
                }
            }
        }
    }
}
