//! How bars leave the system: CSV rows and JSON objects with the same fields.
//!
//! Prices and volume are printed as exact decimals with trailing zeros
//! trimmed; `vwap` is already rounded to 8 decimals; `start` is RFC 3339 UTC.
//! In JSON the numbers are written as the same exact decimal text, so no
//! float ever rounds a price on the way out.

use crate::store::ViewBar;
use crate::time::write_rfc3339;
use std::fmt::Write as _;

/// The CSV header of a bar row.
pub const CSV_HEADER: &str = "symbol,interval,start,open,high,low,close,volume,vwap,trades,view";

/// Appends one CSV row (with its newline) for a bar.
pub fn write_csv_row(out: &mut String, row: &ViewBar) {
    let bar = &row.bar;
    let _ = write!(out, "{},{},", bar.symbol, bar.interval);
    write_rfc3339(out, bar.start);
    let _ = writeln!(
        out,
        ",{},{},{},{},{},{},{},{}",
        bar.open, bar.high, bar.low, bar.close, bar.volume, bar.vwap, bar.trades, row.view
    );
}

/// Appends a bar's members as JSON, without the braces: the columns of the
/// CSV row, money as exact decimal numbers, `start` as RFC 3339 text.
/// Symbols and interval labels hold no character JSON must escape.
pub fn write_json_fields(out: &mut String, row: &ViewBar) {
    let bar = &row.bar;
    let _ = write!(out, r#""symbol":"{}","interval":"{}","start":""#, bar.symbol, bar.interval);
    write_rfc3339(out, bar.start);
    let _ = write!(
        out,
        r#"","open":{},"high":{},"low":{},"close":{},"volume":{},"vwap":{},"trades":{},"view":"{}""#,
        bar.open, bar.high, bar.low, bar.close, bar.volume, bar.vwap, bar.trades, row.view
    );
}

/// Appends a bar as one JSON object; see [`write_json_fields`].
pub fn write_json_bar(out: &mut String, row: &ViewBar) {
    out.push('{');
    write_json_fields(out, row);
    out.push('}');
}

/// Appends bars as one JSON array.
pub fn write_json_bars(out: &mut String, rows: &[ViewBar]) {
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_bar(out, row);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Price, Volume};
    use crate::store::View;
    use crate::{Bar, Symbol};

    #[test]
    fn json_is_valid_and_exact() {
        let bar = Bar {
            symbol: Symbol::new("BRK.B").expect("symbol"),
            interval: "1m".parse().expect("interval"),
            start: 1_381_152_600_000_000_000,
            open: Price(16_741_000_000),
            high: Price(16_800_000_001),
            low: Price(1),
            close: Price(10_000_000_000),
            volume: Volume(i128::from(i64::MAX) * 1000),
            vwap: Price(16_750_000_000),
            trades: 42,
            first_ts: 0,
            last_ts: 0,
        };
        let row = ViewBar { bar, view: View::Speed };
        let mut text = String::new();
        write_json_bars(&mut text, &[row.clone(), row]);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value[1]["start"], "2013-10-07T13:30:00Z");
        for exact in
            [r#""high":168.00000001,"#, r#""low":0.00000001,"#, r#""close":100,"#, r#""volume":92233720368547"#]
        {
            assert!(text.contains(exact), "{exact} in {text}");
        }
        assert!(value[0]["high"].is_number());
        assert_eq!(value[0]["view"], "speed");
        let mut keys: Vec<&str> = value[0].as_object().expect("object").keys().map(String::as_str).collect();
        let mut columns: Vec<&str> = CSV_HEADER.split(',').collect();
        keys.sort_unstable();
        columns.sort_unstable();
        assert_eq!(keys, columns, "the JSON members are the CSV columns");
    }
}
