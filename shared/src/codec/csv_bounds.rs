//! The range of event times of a plain CSV split, from its timestamp column
//! alone: a pass that finds line ends and one field per line, a fraction of
//! the work of a full read. The replay needs it to order splits before any
//! is loaded.

use super::csv::{CHUNK_BYTES, read_header, seek_first_row};
use super::csv_row::{Header, split_fields};
use super::split::widen;
use super::{CodecError, TimeRange};
use crate::time::parse_timestamp;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The smallest and largest timestamp of the rows that start in bytes
/// `[start, end)` of a plain CSV file; rows whose timestamp does not parse
/// are skipped, other fields are not looked at.
pub(super) fn time_range(path: &Path, start: u64, end: u64) -> Result<TimeRange, CodecError> {
    let mut file = File::open(path).map_err(|e| CodecError::io(path, e))?;
    let (header_line, header_len) = read_header(&mut std::io::BufReader::new(&mut file), path)?;
    let Ok(header) = Header::parse(&header_line) else { return Ok(None) };
    let column = header.timestamp_column();
    let Some(first) = seek_first_row(&mut file, path, start, end, header_len)? else { return Ok(None) };
    let mut range = None;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let (mut filled, mut offset) = (0usize, first);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = file.read(&mut buf[filled..]).map_err(|e| CodecError::io(path, e))?;
        filled += n;
        let mut at = 0usize;
        for pos in memchr::memchr_iter(b'\n', &buf[..filled]) {
            if offset >= end {
                return Ok(range);
            }
            widen_by_line(&mut range, &buf[at..pos], column);
            offset += (pos + 1 - at) as u64;
            at = pos + 1;
        }
        if n == 0 {
            if at < filled && offset < end {
                widen_by_line(&mut range, &buf[at..filled], column);
            }
            return Ok(range);
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
}

/// Widens `range` by the line's timestamp, if it has one.
fn widen_by_line(range: &mut TimeRange, line: &[u8], column: usize) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let ts = if memchr::memchr(b'"', line).is_some() {
        split_fields(line).get(column).and_then(|field| parse_timestamp(field).ok())
    } else {
        line.split(|&b| b == b',').nth(column).and_then(|field| parse_timestamp(field).ok())
    };
    if let Some(ts) = ts {
        widen(range, ts);
    }
}
