//! Reading and writing trades: CSV (plain, `.zst`, `.gz`) and Parquet.
//!
//! Readers are columnar: they hand a [`TickSink`] batches of a few thousand
//! valid trades ([`TickBatch`]) and one [`Reject`] per bad row, and go on. A
//! batch names symbols by index into a dictionary that only grows while one
//! split is read, so a consumer maps each symbol once, not once per trade.
//!
//! Work is cut into [`Split`]s: byte ranges of a plain CSV file, row groups of
//! a Parquet file, whole compressed files. Splits of one file can be read by
//! different workers at once.
//!
//! Start reading at [`plan_splits`] and [`read_split`].

pub mod csv;
mod csv_bounds;
mod csv_row;
mod csv_write;
pub mod parquet;
mod parquet_write;
mod split;
#[cfg(test)]
mod tests;

pub use split::{DataFormat, Split, SplitKind, data_format, plan_splits, plan_splits_sized, read_split, time_range};

/// The smallest and largest event time of some trades, `None` for none.
pub type TimeRange = Option<(i64, i64)>;

use crate::fixed::{Price, Size};
use crate::tick::Symbol;
use std::fmt;

/// The file whose presence says a `date=YYYY-MM-DD` archive directory is
/// complete: the simulator and the archiver write it, the batch layer reads
/// only days that carry it.
pub const SEALED_MARKER: &str = "_SEALED";

/// Rows per batch handed to a [`TickSink`].
pub const BATCH_ROWS: usize = 8192;

/// Valid trades in columns; `symbol[i]` indexes `symbols`.
#[derive(Default, Debug, Clone)]
pub struct TickBatch {
    /// The reader's symbol dictionary; it only grows while one split is read.
    pub symbols: Vec<Symbol>,
    /// Per row: index into `symbols`.
    pub symbol: Vec<u32>,
    /// Per row: event time, nanoseconds since the epoch.
    pub ts: Vec<i64>,
    /// Per row: price.
    pub price: Vec<Price>,
    /// Per row: size.
    pub size: Vec<Size>,
    /// Per row: position in the source.
    pub seq: Vec<u64>,
}

impl TickBatch {
    /// Number of trades.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether the batch holds no trade.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Drops the rows and keeps the dictionary.
    pub fn clear_rows(&mut self) {
        self.symbol.clear();
        self.ts.clear();
        self.price.clear();
        self.size.clear();
        self.seq.clear();
    }

    /// Appends one row.
    #[inline]
    pub fn push(&mut self, symbol: u32, ts: i64, price: Price, size: Size, seq: u64) {
        self.symbol.push(symbol);
        self.ts.push(ts);
        self.price.push(price);
        self.size.push(size);
        self.seq.push(seq);
    }

    /// The rows as owned [`crate::Tick`]s (for tests and slow paths).
    pub fn ticks(&self) -> impl Iterator<Item = crate::Tick> + '_ {
        (0..self.len()).map(|i| crate::Tick {
            symbol: self.symbols[self.symbol[i] as usize].clone(),
            ts: self.ts[i],
            price: self.price[i],
            size: self.size[i],
            seq: self.seq[i],
        })
    }
}

/// A row that was not a valid trade, with where it was and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reject {
    /// The file (or topic and partition) it came from.
    pub source: String,
    /// Line of a CSV file, row of a Parquet file (both from 1), or Kafka offset.
    pub position: u64,
    /// What was wrong, as a sentence fragment: `price "-1" must be positive`.
    pub reason: String,
    /// The raw row, cut to 256 bytes.
    pub raw: String,
}

impl Reject {
    /// Longest raw text kept.
    pub const MAX_RAW: usize = 256;

    /// A reject with the raw bytes cut to [`Self::MAX_RAW`].
    pub fn new(source: &str, position: u64, reason: String, raw: &[u8]) -> Self {
        let raw = &raw[..raw.len().min(Self::MAX_RAW)];
        Self { source: source.to_owned(), position, reason, raw: String::from_utf8_lossy(raw).into_owned() }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.position, self.reason)
    }
}

/// Where the tick columns are among a file's column names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TickColumns {
    pub(crate) timestamp: usize,
    pub(crate) symbol: usize,
    pub(crate) price: usize,
    pub(crate) volume: usize,
    pub(crate) seq: Option<usize>,
}

impl TickColumns {
    /// Finds the columns by name (trimmed, any case); `what` names the list
    /// in the error ("header", "schema").
    pub(crate) fn find(names: &[String], what: &str) -> Result<TickColumns, String> {
        let names: Vec<String> = names.iter().map(|n| n.trim().to_ascii_lowercase()).collect();
        let find = |name: &str| names.iter().position(|n| n == name);
        let need = |name: &str| {
            find(name).ok_or_else(|| {
                format!(
                    "{what} lacks column `{name}` (found: {}); tick data needs timestamp, symbol, price and volume in any order",
                    names.join(", ")
                )
            })
        };
        Ok(TickColumns {
            timestamp: need("timestamp")?,
            symbol: need("symbol")?,
            price: need("price")?,
            volume: need("volume")?,
            seq: find("seq"),
        })
    }
}

/// Receives what a reader reads.
pub trait TickSink {
    /// A batch of valid trades.
    fn ticks(&mut self, batch: &TickBatch);
    /// One invalid row.
    fn reject(&mut self, reject: Reject);
}

/// A sink that keeps everything in memory, for tests and small inputs.
#[derive(Default, Debug)]
pub struct Collect {
    /// The valid trades, in read order.
    pub ticks: Vec<crate::Tick>,
    /// The rejects, in read order.
    pub rejects: Vec<Reject>,
}

impl TickSink for Collect {
    fn ticks(&mut self, batch: &TickBatch) {
        self.ticks.extend(batch.ticks());
    }

    fn reject(&mut self, reject: Reject) {
        self.rejects.push(reject);
    }
}

/// Errors that stop a whole file (a bad row never does).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Parquet library failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: String,
        /// The Parquet error.
        source: ::parquet::errors::ParquetError,
    },
    /// The Arrow library failed.
    #[error("{path}: {source}")]
    Arrow {
        /// The file.
        path: String,
        /// The Arrow error.
        source: arrow::error::ArrowError,
    },
    /// The Parquet decoder gave up on corrupt bytes by panicking instead of
    /// returning an error; the panic was caught.
    #[error("{path}: the Parquet data is corrupt: the decoder failed with {message:?}")]
    Corrupt {
        /// The file.
        path: String,
        /// The decoder's panic message.
        message: String,
    },
    /// The file is not a format tickflow reads.
    #[error("{path}: unknown file type; tickflow reads .csv, .csv.zst, .csv.gz and .parquet")]
    UnknownFormat {
        /// The file.
        path: String,
    },
}

impl CodecError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}
