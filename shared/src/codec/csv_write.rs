//! Writing ticks as CSV.

use super::CodecError;
use crate::fixed::write_scaled;
use crate::tick::Tick;
use crate::time::{NANOS_PER_MILLI, write_rfc3339};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes ticks as CSV with the header `timestamp,symbol,price,volume`.
///
/// Timestamps are epoch milliseconds when whole, RFC 3339 otherwise.
pub struct CsvTickWriter {
    out: BufWriter<File>,
    line: String,
    path: std::path::PathBuf,
}

impl CsvTickWriter {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, CodecError> {
        let file = File::create(path).map_err(|e| CodecError::io(path, e))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(b"timestamp,symbol,price,volume\n").map_err(|e| CodecError::io(path, e))?;
        Ok(Self { out, line: String::with_capacity(64), path: path.to_owned() })
    }

    /// Appends one trade.
    pub fn write(&mut self, tick: &Tick) -> Result<(), CodecError> {
        use std::fmt::Write as _;
        self.line.clear();
        if tick.ts % NANOS_PER_MILLI == 0 {
            let _ = write!(self.line, "{}", tick.ts / NANOS_PER_MILLI);
        } else {
            write_rfc3339(&mut self.line, tick.ts);
        }
        let _ = write!(self.line, ",{},", tick.symbol);
        let _ = write_scaled(&mut self.line, i128::from(tick.price.0));
        self.line.push(',');
        let _ = write_scaled(&mut self.line, i128::from(tick.size.0));
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes()).map_err(|e| CodecError::io(&self.path, e))
    }

    /// Flushes and syncs the file.
    pub fn finish(mut self) -> Result<(), CodecError> {
        self.out.flush().map_err(|e| CodecError::io(&self.path, e))?;
        self.out.get_ref().sync_all().map_err(|e| CodecError::io(&self.path, e))
    }
}
