//! The indicators against TA-Lib's values on the real trades' 1m bars.
//!
//! `shared/tests/fixtures/talib/bars-1m.csv` holds, for each symbol of both
//! real days, its 1m bars (exact decimal prices) and TA-Lib's outputs for
//! them; `make_fixtures.py` beside it made the file and its README says how.
//! Every indicator is fed the same bars, one series per symbol, and must be
//! `None` exactly where TA-Lib gives NaN and within 1e-9 relative elsewhere.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::*;
use crate::fixed::Size;
use crate::{Interval, Symbol, Volume};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/talib/bars-1m.csv");

/// The relative tolerance of the contract.
const RELATIVE: f64 = 1e-9;

/// One row of the fixture: the bar and TA-Lib's values by column name.
struct Row<'a> {
    bar: Bar,
    fields: HashMap<&'a str, &'a str>,
}

fn parse_fixture(text: &str) -> Vec<Row<'_>> {
    let mut lines = text.lines().filter(|line| !line.starts_with('#'));
    let names: Vec<&str> = lines.next().expect("header").split(',').collect();
    let interval = Interval::from_seconds(60).expect("1m");
    lines
        .map(|line| {
            let fields: HashMap<&str, &str> = names.iter().copied().zip(line.split(',')).collect();
            assert_eq!(fields.len(), names.len(), "row {line:?}");
            let price = |name: &str| Price::parse(fields[name]).unwrap_or_else(|e| panic!("{name} {e}: {line:?}"));
            let start = fields["start_ms"].parse::<i64>().expect("start_ms") * 1_000_000;
            let bar = Bar {
                symbol: Symbol::new(fields["symbol"]).expect("symbol"),
                interval,
                start,
                open: price("open"),
                high: price("high"),
                low: price("low"),
                close: price("close"),
                volume: Volume(i128::from(Size::parse(fields["volume"]).expect("volume").units())),
                vwap: price("vwap"),
                trades: fields["trades"].parse().expect("trades"),
                first_ts: start,
                last_ts: start,
            };
            Row { bar, fields }
        })
        .collect()
}

/// The comparison of one column: rows compared, the largest relative error
/// seen, and the first disagreements.
#[derive(Default)]
struct Column {
    compared: usize,
    not_warm: usize,
    exact: usize,
    worst: f64,
    failures: Vec<String>,
}

struct Checker {
    columns: HashMap<&'static str, Column>,
}

impl Checker {
    /// Checks `actual` against TA-Lib's `column` of `row`. `scale` is the
    /// magnitude of the quantities the value is computed from; the tolerance
    /// is `1e-9 · max(|expected|, scale)`. For most columns it is the value's
    /// own magnitude or less, so the test is 1e-9 relative. MACD's three lines
    /// are differences of two EMAs of the price: both carry rounding errors
    /// of a few units in the last place of the price (TA-Lib's as well as
    /// ours), which no longer shrink when the difference nears 0, so there the
    /// floor is 1e-9 of the close, the relative tolerance applied to the
    /// operands. RSI's floor is 1e-9 of its range, 100.
    fn check(&mut self, row: &Row<'_>, index: usize, column: &'static str, actual: Option<f64>, scale: f64) {
        let entry = self.columns.entry(column).or_default();
        let raw = row.fields[column];
        let at = format!("{} bar {index} ({}) {column}", row.bar.symbol.as_str(), row.fields["start_ms"]);
        match (raw.is_empty(), actual) {
            (true, None) => entry.not_warm += 1,
            (true, Some(value)) => entry.failures.push(format!("{at}: TA-Lib has NaN, we have {value:?}")),
            (false, None) => entry.failures.push(format!("{at}: TA-Lib has {raw}, we have None")),
            (false, Some(value)) => {
                let expected: f64 = raw.parse().expect("a float");
                let error = (value - expected).abs();
                let bound = expected.abs().max(scale);
                entry.compared += 1;
                entry.exact += usize::from(error == 0.0);
                if bound > 0.0 {
                    entry.worst = entry.worst.max(error / bound);
                }
                if error > RELATIVE * bound {
                    entry.failures.push(format!("{at}: TA-Lib has {raw}, we have {value:?}"));
                }
            }
        }
    }
}

/// The indicators of one symbol's series, as the fixture's columns name them.
struct Set {
    sma10: Sma,
    sma30: Sma,
    ema10: Ema,
    rsi14: Rsi,
    atr14: Atr,
    macd: Macd,
    bands: Bollinger,
    vwap: VwapDeviation,
}

impl Set {
    fn new() -> Self {
        Self {
            sma10: Sma::new(10).expect("sma"),
            sma30: Sma::new(30).expect("sma"),
            ema10: Ema::new(10).expect("ema"),
            rsi14: Rsi::new(14).expect("rsi"),
            atr14: Atr::new(14).expect("atr"),
            macd: Macd::new(12, 26, 9).expect("macd"),
            bands: Bollinger::new(20, 2.0).expect("bbands"),
            vwap: VwapDeviation::new(),
        }
    }
}

#[test]
fn indicators_equal_talib_on_real_1m_bars() {
    let text = std::fs::read_to_string(FIXTURE).unwrap_or_else(|e| panic!("{FIXTURE}: {e}"));
    let rows = parse_fixture(&text);
    assert!(rows.len() > 4_000, "the fixture has {} rows", rows.len());
    let mut checker = Checker { columns: HashMap::new() };
    let mut set = Set::new();
    let mut index = 0;
    for (i, row) in rows.iter().enumerate() {
        if i > 0 && rows[i - 1].bar.symbol != row.bar.symbol {
            set = Set::new();
            index = 0;
        }
        let bar = &row.bar;
        let close = bar.close.to_f64();
        let macd = set.macd.update(bar);
        let bands = set.bands.update(bar);
        checker.check(row, index, "sma10", set.sma10.update(bar), close);
        checker.check(row, index, "sma30", set.sma30.update(bar), close);
        checker.check(row, index, "ema10", set.ema10.update(bar), close);
        checker.check(row, index, "rsi14", set.rsi14.update(bar), 100.0);
        checker.check(row, index, "atr14", set.atr14.update(bar), 0.0);
        checker.check(row, index, "macd", macd.map(|m| m.line), close);
        checker.check(row, index, "macd_signal", macd.map(|m| m.signal), close);
        checker.check(row, index, "macd_hist", macd.map(|m| m.histogram), close);
        checker.check(row, index, "bb_upper", bands.map(|b| b.upper), close);
        checker.check(row, index, "bb_middle", bands.map(|b| b.middle), close);
        checker.check(row, index, "bb_lower", bands.map(|b| b.lower), close);
        checker.check(row, index, "vwap_dev", set.vwap.update(bar), 0.0);
        index += 1;
    }
    let mut report = String::new();
    let mut failures = Vec::new();
    let mut names: Vec<_> = checker.columns.keys().copied().collect();
    names.sort_unstable();
    for name in names {
        let column = &checker.columns[name];
        let _ = writeln!(
            report,
            "{name:>12}: {} compared ({} bit-identical), {} not warm, worst relative error {:.2e}",
            column.compared, column.exact, column.not_warm, column.worst
        );
        assert!(column.compared > 4_000, "{name}: only {} values compared", column.compared);
        failures.extend(column.failures.iter().take(5).cloned());
    }
    eprint!("{report}");
    assert!(failures.is_empty(), "disagreements with TA-Lib:\n{}", failures.join("\n"));
}
