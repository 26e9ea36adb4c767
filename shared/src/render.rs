//! How bars leave the system: CSV rows and JSON objects with the same fields.
//!
//! Prices and volume are printed as exact decimals with trailing zeros
//! trimmed; `vwap` is already rounded to 8 decimals; `start` is RFC 3339 UTC.
//! In JSON the numbers are written as the same exact decimal text, so no
//! float ever rounds a price on the way out.

use crate::store::ViewBar;
use crate::time::write_rfc3339;
use serde::Serialize;
use serde_json::value::RawValue;
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

/// A bar as a JSON object: the fields of the CSV row, numbers exact.
#[derive(Serialize)]
pub struct JsonBar {
    /// The instrument.
    pub symbol: String,
    /// The interval label.
    pub interval: String,
    /// Window start, RFC 3339 UTC.
    pub start: String,
    /// Opening price.
    pub open: Box<RawValue>,
    /// Highest price.
    pub high: Box<RawValue>,
    /// Lowest price.
    pub low: Box<RawValue>,
    /// Closing price.
    pub close: Box<RawValue>,
    /// Traded volume.
    pub volume: Box<RawValue>,
    /// Volume-weighted average price.
    pub vwap: Box<RawValue>,
    /// Number of trades.
    pub trades: u64,
    /// `batch` or `speed`.
    pub view: String,
}

fn number(value: impl std::fmt::Display) -> Box<RawValue> {
    RawValue::from_string(value.to_string()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

impl From<&ViewBar> for JsonBar {
    fn from(row: &ViewBar) -> Self {
        let bar = &row.bar;
        Self {
            symbol: bar.symbol.to_string(),
            interval: bar.interval.to_string(),
            start: crate::time::format_rfc3339(bar.start),
            open: number(bar.open),
            high: number(bar.high),
            low: number(bar.low),
            close: number(bar.close),
            volume: number(bar.volume),
            vwap: number(bar.vwap),
            trades: bar.trades,
            view: row.view.to_string(),
        }
    }
}
