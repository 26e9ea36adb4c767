//! Tick CSV: header-driven reading (plain, `.zst`, `.gz`) and writing.
//!
//! The header names the columns `timestamp`, `symbol`, `price`, `volume` (any
//! order, any case, extra columns ignored, an optional `seq`). A row's `seq`,
//! when the file has none, is the byte offset where the row starts: it orders
//! rows exactly as their line numbers do and needs no counting across splits.
//! Line numbers are counted only when a row is rejected.

use super::split::DataFormat;
use super::{BATCH_ROWS, CodecError, Reject, TickBatch, TickColumns, TickSink};
use crate::fixed::{Price, Size, parse_scaled, write_scaled};
use crate::tick::{Symbol, Tick, validate};
use crate::time::{NANOS_PER_MILLI, parse_timestamp, write_rfc3339};
use rustc_hash::FxHashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

const CHUNK_BYTES: usize = 4 << 20;

/// Where the needed columns are in a row, and how many fields a row has.
#[derive(Clone, Debug)]
struct Header {
    columns: TickColumns,
    fields: usize,
}

impl Header {
    fn parse(line: &[u8]) -> Result<Header, String> {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let names: Vec<String> =
            split_fields(line).iter().map(|f| String::from_utf8_lossy(f).trim().trim_matches('"').to_owned()).collect();
        Ok(Header { columns: TickColumns::find(&names, "header")?, fields: names.len() })
    }
}

/// Splits a line into fields, honouring RFC 4180 quotes.
fn split_fields(line: &[u8]) -> Vec<Vec<u8>> {
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
struct RowReader<'s> {
    source: String,
    header: Header,
    dictionary: FxHashMap<Box<[u8]>, u32>,
    short: FxHashMap<u64, u32>,
    batch: TickBatch,
    sink: &'s mut dyn TickSink,
}

/// Rows with at most this many fields are split without allocating.
const FAST_FIELDS: usize = 16;

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
    fn new(path: &Path, header: Header, sink: &'s mut dyn TickSink) -> Self {
        Self {
            source: path.display().to_string(),
            header,
            dictionary: FxHashMap::default(),
            short: FxHashMap::default(),
            batch: TickBatch::default(),
            sink,
        }
    }

    /// Parses one line (without its newline) that starts at byte `offset`.
    /// Returns the reason when the row is not a valid trade.
    #[inline]
    fn row(&mut self, line: &[u8], offset: u64) -> Result<(), String> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut bounds = [(0usize, 0usize); FAST_FIELDS];
        let mut count = 0;
        let mut start = 0;
        for (i, &b) in line.iter().enumerate() {
            if b == b',' {
                if count < FAST_FIELDS {
                    bounds[count] = (start, i);
                }
                count += 1;
                start = i + 1;
            } else if b == b'"' {
                return self.quoted(line, offset);
            }
        }
        if count < FAST_FIELDS {
            bounds[count] = (start, line.len());
        }
        count += 1;
        let h = &self.header;
        if count != h.fields {
            return Err(field_count(count, h.fields));
        }
        if count > FAST_FIELDS {
            return self.quoted(line, offset);
        }
        let field = |i: usize| &line[bounds[i].0..bounds[i].1];
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

    /// Parses one line whose commas the scan has already found (positions
    /// from the line start); lines with quotes or many fields take [`Self::row`].
    #[inline]
    fn row_at(
        &mut self,
        line: &[u8],
        commas: &[usize; FAST_FIELDS],
        count: usize,
        quoted: bool,
        offset: u64,
    ) -> Result<(), String> {
        if quoted || count >= FAST_FIELDS {
            return self.row(line, offset);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
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
        let symbol = text.and_then(|t| Symbol::new(t).ok()).ok_or_else(|| {
            format!("symbol {:?} must be 1 to 32 characters of A-Z a-z 0-9 . - _ / : = ^", lossy(sym))
        })?;
        let id = self.batch.symbols.len() as u32;
        self.batch.symbols.push(symbol);
        match short_key(sym) {
            Some(key) => self.short.insert(key, id),
            None => self.dictionary.insert(sym.into(), id),
        };
        Ok(id)
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.sink.ticks(&self.batch);
            self.batch.clear_rows();
        }
    }

    fn reject(&mut self, line: u64, reason: String, raw: &[u8]) {
        self.sink.reject(Reject::new(&self.source, line, reason, raw));
    }
}

fn field_count(found: usize, expected: usize) -> String {
    format!("row has {found} fields but the header has {expected}")
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

/// Reads the header line from the start of `reader`; returns it and its length with the newline.
fn read_header(reader: &mut impl Read, path: &Path) -> Result<(Vec<u8>, u64), CodecError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() <= 1 << 20 {
        if reader.read(&mut byte).map_err(|e| CodecError::io(path, e))? == 0 {
            break;
        }
        if byte[0] == b'\n' {
            let len = line.len() as u64 + 1;
            return Ok((line, len));
        }
        line.push(byte[0]);
    }
    let len = line.len() as u64;
    Ok((line, len))
}

/// Reads the rows that start in bytes `[start, end)` of a plain CSV file.
pub fn read_range(path: &Path, start: u64, end: u64, sink: &mut dyn TickSink) -> Result<(), CodecError> {
    let mut file = File::open(path).map_err(|e| CodecError::io(path, e))?;
    let (header_line, header_len) = read_header(&mut std::io::BufReader::new(&mut file), path)?;
    let header = match Header::parse(&header_line) {
        Ok(header) => header,
        Err(reason) => {
            if start == 0 {
                sink.reject(Reject::new(&path.display().to_string(), 1, reason, &header_line));
            }
            return Ok(());
        }
    };
    let mut reader = RowReader::new(path, header, sink);
    let mut first = start.max(header_len);
    if first > header_len {
        first = next_line_start(&mut file, first, path)?;
    }
    if first >= end {
        return Ok(());
    }
    file.seek(SeekFrom::Start(first)).map_err(|e| CodecError::io(path, e))?;
    let mut lines = LineNumbers::Lazy { path, first };
    scan(&mut file, first, end, &mut reader, &mut lines, path)?;
    reader.flush();
    Ok(())
}

/// The start of the first line that begins at or after `at` (`at - 1` is checked for a newline).
fn next_line_start(file: &mut File, at: u64, path: &Path) -> Result<u64, CodecError> {
    file.seek(SeekFrom::Start(at - 1)).map_err(|e| CodecError::io(path, e))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut pos = at - 1;
    loop {
        let n = file.read(&mut buf).map_err(|e| CodecError::io(path, e))?;
        if n == 0 {
            return Ok(pos);
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(pos + i as u64 + 1);
        }
        pos += n as u64;
    }
}

/// Reads a whole (possibly compressed) CSV file as a stream.
pub fn read_stream(path: &Path, format: DataFormat, sink: &mut dyn TickSink) -> Result<(), CodecError> {
    let file = File::open(path).map_err(|e| CodecError::io(path, e))?;
    let mut input: Box<dyn Read> = match format {
        DataFormat::CsvZstd => Box::new(zstd::Decoder::new(file).map_err(|e| CodecError::io(path, e))?),
        DataFormat::CsvGzip => Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file))),
        _ => Box::new(file),
    };
    let (header_line, header_len) = read_header(&mut input, path)?;
    let header = match Header::parse(&header_line) {
        Ok(header) => header,
        Err(reason) => {
            sink.reject(Reject::new(&path.display().to_string(), 1, reason, &header_line));
            return Ok(());
        }
    };
    let mut reader = RowReader::new(path, header, sink);
    let mut lines = LineNumbers::Known { before: 1 };
    scan(&mut input, header_len, u64::MAX, &mut reader, &mut lines, path)?;
    reader.flush();
    Ok(())
}

/// How the line number of a rejected row is found.
enum LineNumbers<'p> {
    /// Lines before the first row are known.
    Known { before: u64 },
    /// Count the newlines before byte `first` when first needed.
    Lazy { path: &'p Path, first: u64 },
}

impl LineNumbers<'_> {
    fn before(&mut self) -> u64 {
        if let LineNumbers::Lazy { path, first } = *self {
            let before = count_newlines(path, first).unwrap_or(0);
            *self = LineNumbers::Known { before };
        }
        match self {
            LineNumbers::Known { before } => *before,
            LineNumbers::Lazy { .. } => 0,
        }
    }
}

fn count_newlines(path: &Path, upto: u64) -> std::io::Result<u64> {
    let mut file = File::open(path)?.take(upto);
    let mut buf = vec![0u8; 1 << 20];
    let mut count = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

/// Reads lines from `input` (positioned at byte `offset`) until a line starts at or past `end`.
fn scan(
    input: &mut dyn Read,
    mut offset: u64,
    end: u64,
    reader: &mut RowReader<'_>,
    lines: &mut LineNumbers<'_>,
    path: &Path,
) -> Result<(), CodecError> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut filled = 0usize;
    let mut line_index = 0u64;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = input.read(&mut buf[filled..]).map_err(|e| CodecError::io(path, e))?;
        let eof = n == 0;
        filled += n;
        let mut at = 0usize;
        let mut commas = [0usize; FAST_FIELDS];
        let (mut count, mut quoted) = (0usize, false);
        for pos in memchr::memchr3_iter(b',', b'\n', b'"', &buf[..filled]) {
            match buf[pos] {
                b',' => {
                    if count < FAST_FIELDS {
                        commas[count] = pos - at;
                    }
                    count += 1;
                }
                b'"' => quoted = true,
                _ => {
                    if offset >= end {
                        return Ok(());
                    }
                    let line = &buf[at..pos];
                    line_index += 1;
                    if !line.is_empty()
                        && line != b"\r"
                        && let Err(reason) = reader.row_at(line, &commas, count, quoted, offset)
                    {
                        let number = lines.before() + line_index;
                        reader.reject(number, reason, line);
                    }
                    offset += (pos + 1 - at) as u64;
                    at = pos + 1;
                    (count, quoted) = (0, false);
                }
            }
        }
        if eof && at < filled && offset < end {
            let line = &buf[at..filled];
            line_index += 1;
            if line != b"\r"
                && let Err(reason) = reader.row(line, offset)
            {
                let number = lines.before() + line_index;
                reader.reject(number, reason, line);
            }
            at = filled;
        }
        if eof {
            return Ok(());
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
}

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
