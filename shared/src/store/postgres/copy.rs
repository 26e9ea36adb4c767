//! Bars in the binary format of `COPY … FROM STDIN (FORMAT binary)`, what a
//! publish streams straight into `batch_bars`.
//!
//! In the text format the server parsed six decimals and a timestamp per
//! bar; in binary a `NUMERIC` arrives as its base-10000 digits and a
//! `TIMESTAMPTZ` as an integer, both worked out here without allocating.

use super::PgTime;
use super::numeric::Digits;
use crate::bar::Bar;
use crate::store::StoreError;
use crate::store::common::to_i64;
use bytes::{BufMut, Bytes, BytesMut};

/// The columns of a row, in the order [`BinaryRows::push`] writes them.
pub(super) const COLUMNS: &str = r#"symbol, "interval", start, open, high, low, close, volume, vwap, trades,
    first_ts_ns, last_ts_ns, version"#;

/// Fields per row.
const FIELDS: i16 = 13;

/// The signature, then 32 bits of flags and of header-extension length, all zero.
const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// A field count of -1 ends the data.
const TRAILER: i16 = -1;

/// Rows of one version of the batch view, encoded in a buffer the caller
/// hands to the `COPY` whenever it has grown enough.
pub(super) struct BinaryRows {
    buf: BytesMut,
    /// What the buffer holds again after a take.
    capacity: usize,
    version: i64,
}

impl BinaryRows {
    /// An empty stream of rows of `version`, starting with the header,
    /// in a buffer of `capacity` bytes.
    pub(super) fn new(version: i64, capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(capacity);
        buf.put_slice(HEADER);
        Self { buf, capacity, version }
    }

    /// Appends `bar`, whose interval is written as `label`.
    pub(super) fn push(&mut self, bar: &Bar, label: &str) -> Result<(), StoreError> {
        let trades = to_i64(bar.trades, "trades")?;
        let buf = &mut self.buf;
        buf.put_i16(FIELDS);
        text(buf, bar.symbol.as_str());
        text(buf, label);
        bigint(buf, PgTime(bar.start).micros());
        for price in [bar.open, bar.high, bar.low, bar.close] {
            numeric(buf, i128::from(price.0));
        }
        numeric(buf, bar.volume.0);
        numeric(buf, i128::from(bar.vwap.0));
        for value in [trades, bar.first_ts, bar.last_ts, self.version] {
            bigint(buf, value);
        }
        Ok(())
    }

    /// Bytes encoded and not yet taken.
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    /// The bytes encoded since the last take.
    pub(super) fn take(&mut self) -> Bytes {
        let taken = self.buf.split().freeze();
        self.buf.reserve(self.capacity);
        taken
    }

    /// The rest of the bytes, with the trailer.
    pub(super) fn finish(mut self) -> Bytes {
        self.buf.put_i16(TRAILER);
        self.take()
    }
}

fn text(buf: &mut BytesMut, value: &str) {
    // Symbols and interval labels are a few bytes.
    buf.put_i32(value.len() as i32);
    buf.put_slice(value.as_bytes());
}

fn bigint(buf: &mut BytesMut, value: i64) {
    buf.put_i32(8);
    buf.put_i64(value);
}

fn numeric(buf: &mut BytesMut, units: i128) {
    let digits = Digits::of(units);
    // At most 28 bytes.
    buf.put_i32(digits.len() as i32);
    digits.put(buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Price, Volume};
    use crate::interval::Interval;
    use crate::tick::Symbol;

    #[test]
    fn writes_header_rows_and_trailer() {
        let bar = Bar {
            symbol: Symbol::new("AB").expect("symbol"),
            interval: "1m".parse::<Interval>().expect("interval"),
            start: 946_684_800_000_000_000 + 60_000_000_000,
            open: Price(1_250_000_000),
            high: Price(1_250_000_000),
            low: Price(1_250_000_000),
            close: Price(1_250_000_000),
            volume: Volume(100_000_000),
            vwap: Price(1_250_000_000),
            trades: 3,
            first_ts: 5,
            last_ts: 6,
        };
        let mut rows = BinaryRows::new(9, 0);
        rows.push(&bar, "1m").expect("push");
        let bytes = rows.finish();
        let mut expected = HEADER.to_vec();
        expected.extend(13i16.to_be_bytes());
        expected.extend([0, 0, 0, 2, b'A', b'B', 0, 0, 0, 2, b'1', b'm']);
        expected.extend(8i32.to_be_bytes().into_iter().chain(60_000_000i64.to_be_bytes()));
        // 12.5 four times: digits [12, 5000], weight 0, scale 8.
        let words = |words: &[u16]| words.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        let twelve_and_a_half = [12i32.to_be_bytes().to_vec(), words(&[2, 0, 0, 8, 12, 5000])].concat();
        for _ in 0..4 {
            expected.extend(&twelve_and_a_half);
        }
        // 1: one digit 1 at weight 0.
        expected.extend([10i32.to_be_bytes().to_vec(), words(&[1, 0, 0, 8, 1])].concat());
        expected.extend(&twelve_and_a_half);
        for value in [3i64, 5, 6, 9] {
            expected.extend(8i32.to_be_bytes().into_iter().chain(value.to_be_bytes()));
        }
        expected.extend((-1i16).to_be_bytes());
        assert_eq!(bytes.to_vec(), expected);
    }
}
