//! Turning CSV lines into tick batches: the header, the field splitter and
//! the row parser with its symbol dictionary.

use super::{BATCH_ROWS, Reject, TickBatch, TickColumns, TickSink};
use crate::fixed::{Price, Size, parse_scaled};
use crate::tick::{Symbol, invalid_symbol, validate};
use crate::time::parse_timestamp;
use rustc_hash::FxHashMap;
use std::path::Path;

/// Where the needed columns are in a row, and how many fields a row has.
#[derive(Clone, Debug)]
pub(super) struct Header {
    columns: TickColumns,
    fields: usize,
}

impl Header {
    pub(super) fn parse(line: &[u8]) -> Result<Header, String> {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let names: Vec<String> =
            split_fields(line).iter().map(|f| String::from_utf8_lossy(f).trim().trim_matches('"').to_owned()).collect();
        Ok(Header { columns: TickColumns::find(&names, "header")?, fields: names.len() })
    }

    /// The index of the timestamp column.
    pub(super) fn timestamp_column(&self) -> usize {
        self.columns.timestamp
    }
}

/// Splits a line into fields, honouring RFC 4180 quotes.
pub(super) fn split_fields(line: &[u8]) -> Vec<Vec<u8>> {
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        match (quoted, b) {
            (true, b'"') if line.get(i + 1) == Some(&b'"') => {
                field.push(b'"');
                i += 1;
            }
            (_, b'"') => quoted = !quoted,
            (false, b',') => fields.push(std::mem::take(&mut field)),
            _ => field.push(b),
        }
        i += 1;
    }
    fields.push(field);
    fields
}

/// Turns lines into batched ticks and rejects.
pub(super) struct RowReader<'s> {
    source: String,
    header: Header,
    dictionary: FxHashMap<Box<[u8]>, u32>,
    short: FxHashMap<u64, u32>,
    batch: TickBatch,
    sink: &'s mut dyn TickSink,
}

/// Rows with at most this many fields are split without allocating.
pub(super) const FAST_FIELDS: usize = 16;

/// A symbol of at most 8 bytes packed into an integer key (symbols hold no NUL byte).
#[inline]
fn short_key(sym: &[u8]) -> Option<u64> {
    (sym.len() <= 8 && !sym.contains(&0)).then(|| {
        let mut key = [0u8; 8];
        key[..sym.len()].copy_from_slice(sym);
        u64::from_le_bytes(key)
    })
}

impl<'s> RowReader<'s> {
    pub(super) fn new(path: &Path, header: Header, sink: &'s mut dyn TickSink) -> Self {
        Self {
            source: path.display().to_string(),
            header,
            dictionary: FxHashMap::default(),
            short: FxHashMap::default(),
            batch: TickBatch::default(),
            sink,
        }
    }

    /// Parses one line (without its newline) that starts at byte `offset`,
    /// finding its commas first; the scan finds them itself and calls [`Self::row_at`].
    pub(super) fn row(&mut self, line: &[u8], offset: u64) -> Result<(), String> {
        let mut commas = [0usize; FAST_FIELDS];
        let (mut count, mut quoted) = (0usize, false);
        for (i, &b) in line.iter().enumerate() {
            if b == b',' {
                if count < FAST_FIELDS {
                    commas[count] = i;
                }
                count += 1;
            }
            quoted |= b == b'"';
        }
        self.row_at(line, &commas, count, quoted, offset)
    }

    /// Parses one line whose commas are known (positions from the line start);
    /// lines with quotes or many fields take the general splitter.
    /// Returns the reason when the row is not a valid trade.
    #[inline]
    pub(super) fn row_at(
        &mut self,
        line: &[u8],
        commas: &[usize; FAST_FIELDS],
        count: usize,
        quoted: bool,
        offset: u64,
    ) -> Result<(), String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if quoted || count >= FAST_FIELDS {
            return self.quoted(line, offset);
        }
        let h = &self.header;
        if count + 1 != h.fields {
            return Err(field_count(count + 1, h.fields));
        }
        let field = |i: usize| {
            let start = if i == 0 { 0 } else { commas[i - 1] + 1 };
            let end = if i == count { line.len() } else { commas[i] };
            &line[start..end]
        };
        let seq = h.columns.seq.map(field);
        self.push(
            field(h.columns.timestamp),
            field(h.columns.symbol),
            field(h.columns.price),
            field(h.columns.volume),
            seq,
            offset,
        )
    }

    #[cold]
    fn quoted(&mut self, line: &[u8], offset: u64) -> Result<(), String> {
        let fields = split_fields(line);
        let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
        self.fields(&refs, offset)
    }

    fn fields(&mut self, fields: &[&[u8]], offset: u64) -> Result<(), String> {
        let h = &self.header;
        if fields.len() != h.fields {
            return Err(field_count(fields.len(), h.fields));
        }
        let seq = h.columns.seq.map(|i| fields[i]);
        self.push(
            fields[h.columns.timestamp],
            fields[h.columns.symbol],
            fields[h.columns.price],
            fields[h.columns.volume],
            seq,
            offset,
        )
    }

    #[inline]
    fn push(
        &mut self,
        ts: &[u8],
        sym: &[u8],
        price: &[u8],
        vol: &[u8],
        seq: Option<&[u8]>,
        offset: u64,
    ) -> Result<(), String> {
        let ts = parse_timestamp(ts).map_err(|e| format!("timestamp {:?} {e}", lossy(ts)))?;
        let price = Price(parse_scaled(price).map_err(|e| format!("price {:?} {e}", lossy(price)))?);
        let size = Size(parse_scaled(vol).map_err(|e| format!("volume {:?} {e}", lossy(vol)))?);
        let seq = match seq {
            None => offset,
            Some(text) => std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("seq {:?} is not a non-negative integer", lossy(text)))?,
        };
        validate(ts, price, size).map_err(|e| e.to_string())?;
        let known = match short_key(sym) {
            Some(key) => self.short.get(&key),
            None => self.dictionary.get(sym),
        };
        let symbol = match known {
            Some(&id) => id,
            None => self.intern(sym)?,
        };
        self.batch.push(symbol, ts, price, size, seq);
        if self.batch.len() >= BATCH_ROWS {
            self.flush();
        }
        Ok(())
    }

    #[cold]
    fn intern(&mut self, sym: &[u8]) -> Result<u32, String> {
        let text = std::str::from_utf8(sym).ok();
        let symbol = text.and_then(|t| Symbol::new(t).ok()).ok_or_else(|| invalid_symbol(&lossy(sym)))?;
        let id = self.batch.symbols.len() as u32;
        self.batch.symbols.push(symbol);
        match short_key(sym) {
            Some(key) => self.short.insert(key, id),
            None => self.dictionary.insert(sym.into(), id),
        };
        Ok(id)
    }

    pub(super) fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.sink.ticks(&self.batch);
            self.batch.clear_rows();
        }
    }

    pub(super) fn reject(&mut self, line: u64, reason: String, raw: &[u8]) {
        self.sink.reject(Reject::new(&self.source, line, reason, raw));
    }
}

fn field_count(found: usize, expected: usize) -> String {
    format!("row has {found} fields but the header has {expected}")
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}
