//! How bars leave the system: CSV rows and JSON objects with the same fields.
//!
//! Prices and volume are printed as exact decimals with trailing zeros
//! trimmed; `vwap` is already rounded to 8 decimals; `start` is RFC 3339 UTC.
//! In JSON the numbers are written as the same exact decimal text, so no
//! float ever rounds a price on the way out. Signals and paper positions
//! leave the same way (JSON on the API, the live stream and Kafka).

use crate::signal::Signal;
use crate::store::{Position, ViewBar};
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

/// Appends a JSON string literal.
fn write_json_str(out: &mut String, text: &str) {
    // A `String` always serializes.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// Appends a signal as one JSON object: `strategy`, `symbol`, `interval`,
/// `start` (RFC 3339), `side`, `close` (exact), `values` (an object of the
/// indicator values in the signal's order) and `reason`.
pub fn write_json_signal(out: &mut String, signal: &Signal) {
    out.push_str(r#"{"strategy":"#);
    write_json_str(out, &signal.strategy);
    let _ = write!(out, r#","symbol":"{}","interval":"{}","start":""#, signal.symbol, signal.interval);
    write_rfc3339(out, signal.start);
    let _ = write!(out, r#"","side":"{}","close":{},"values":{{"#, signal.side, signal.close);
    for (i, (name, value)) in signal.values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, name);
        out.push(':');
        // serde_json writes the shortest text that reads back as the same number; a
        // value that is not finite (which a stored signal never has) is `null`.
        out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".into()));
    }
    out.push_str(r#"},"reason":"#);
    write_json_str(out, &signal.reason);
    out.push('}');
}

/// Appends a paper position as one JSON object, money exact: `strategy`,
/// `symbol`, `quantity`, `entry_price`, `last_price`, `realized_pnl`,
/// `unrealized_pnl`, `fees`, `time`.
pub fn write_json_position(out: &mut String, position: &Position) {
    out.push_str(r#"{"strategy":"#);
    write_json_str(out, &position.strategy);
    let _ = write!(out, r#","symbol":"{}","quantity":"#, position.symbol);
    let _ = crate::fixed::write_scaled(out, i128::from(position.quantity));
    let _ = write!(out, r#","entry_price":{},"last_price":{}"#, position.entry_price, position.last_price);
    for (name, units) in [
        ("realized_pnl", position.realized_pnl),
        ("unrealized_pnl", position.unrealized_pnl()),
        ("fees", position.fees),
    ] {
        let _ = write!(out, r#","{name}":"#);
        let _ = crate::fixed::write_scaled(out, i128::from(units));
    }
    out.push_str(r#","time":""#);
    write_rfc3339(out, position.time);
    out.push_str(r#""}"#);
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

    #[test]
    fn signal_json_is_valid_and_exact() {
        let signal = Signal {
            strategy: "sma-cross".into(),
            symbol: Symbol::new("AAPL").expect("symbol"),
            interval: "1m".parse().expect("interval"),
            start: 1_381_152_600_000_000_000,
            side: crate::signal::Side::Buy,
            close: Price(16_741_000_001),
            values: vec![("sma_10".into(), 167.41000000000003), ("sma_30".into(), 1e-7)],
            reason: "sma_10 crossed \"above\"".into(),
        };
        let mut text = String::new();
        write_json_signal(&mut text, &signal);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["start"], "2013-10-07T13:30:00Z");
        assert_eq!(value["values"]["sma_10"].as_f64(), Some(167.41000000000003));
        assert_eq!(value["reason"], "sma_10 crossed \"above\"");
        assert!(text.contains(r#""close":167.41000001,"#), "{text}");
        assert!(text.find("sma_10") < text.find("sma_30"), "values keep their order: {text}");
    }
}
