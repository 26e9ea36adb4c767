//! Tick CSV: header-driven reading (plain, `.zst`, `.gz`) and writing.
//!
//! The header names the columns `timestamp`, `symbol`, `price`, `volume` (any
//! order, any case, extra columns ignored, an optional `seq`). A row's `seq`,
//! when the file has none, is the byte offset where the row starts: it orders
//! rows exactly as their line numbers do and needs no counting across splits.
//! Line numbers are counted only when a row is rejected.

use super::csv_row::{FAST_FIELDS, Header, RowReader};
use super::split::DataFormat;
use super::{CodecError, Reject, TickSink};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub use super::csv_write::CsvTickWriter;

pub(super) const CHUNK_BYTES: usize = 4 << 20;

/// Reads the header line from the start of `reader`; returns it and its length with the newline.
pub(super) fn read_header(reader: &mut impl Read, path: &Path) -> Result<(Vec<u8>, u64), CodecError> {
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
    let Some(first) = seek_first_row(&mut file, path, start, end, header_len)? else { return Ok(()) };
    let mut reader = RowReader::new(path, header, sink);
    let mut lines = LineNumbers::Lazy { path, first };
    scan(&mut file, first, end, &mut reader, &mut lines, path)?;
    reader.flush();
    Ok(())
}

/// Seeks `file` to the first row that starts in bytes `[start, end)`, after
/// the header of `header_len` bytes, and returns where it starts; `None`
/// when no row starts there.
pub(super) fn seek_first_row(
    file: &mut File,
    path: &Path,
    start: u64,
    end: u64,
    header_len: u64,
) -> Result<Option<u64>, CodecError> {
    let mut first = start.max(header_len);
    if first > header_len {
        first = next_line_start(file, first, path)?;
    }
    if first >= end {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(first)).map_err(|e| CodecError::io(path, e))?;
    Ok(Some(first))
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
