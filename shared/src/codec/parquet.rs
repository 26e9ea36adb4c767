//! Tick Parquet: reading by row group, writing with exact decimals.
//!
//! tickflow writes `timestamp` (TIMESTAMP(NANOS, UTC)), `symbol` (dictionary
//! of UTF-8), `price` and `volume` (DECIMAL(18, 8), stored as INT64) and `seq`
//! (UINT64). It reads those and what other tools write: timestamps as
//! TIMESTAMP of any unit, INT64 epoch milliseconds or RFC 3339 text; money as
//! DECIMAL, integers, text or doubles (a double is read as the shortest decimal
//! that prints it, so `167.41` stays `167.41`).

use super::{BATCH_ROWS, CodecError, Reject, TickBatch, TickColumns, TickSink, TimeRange};
use crate::fixed::{DECIMALS, Price, SCALE, Size, parse_scaled};
use crate::tick::{Symbol, invalid_symbol, validate};
use crate::time::{NANOS_PER_MILLI, parse_timestamp};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::statistics::Statistics;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::Path;

pub use super::parquet_write::{ParquetTickWriter, tick_schema};

pub(super) fn pq_error(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> CodecError + '_ {
    move |source| CodecError::Parquet { path: path.display().to_string(), source }
}

/// Runs a call into the Parquet library on `path`, turning a panic into
/// [`CodecError::Corrupt`]: its decoders panic on some corrupt bytes (an
/// overflowing shift in the run-length decoder) instead of returning an
/// error, and a panicking reader would take down the worker that reads.
fn decoding<T>(path: &Path, call: impl FnOnce() -> T) -> Result<T, CodecError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        CodecError::Corrupt { path: path.display().to_string(), message }
    })
}

/// Opens `path` and reads its footer.
fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, CodecError> {
    let file = File::open(path).map_err(|e| CodecError::io(path, e))?;
    decoding(path, || ParquetRecordBatchReaderBuilder::try_new(file))?.map_err(pq_error(path))
}

/// Every row group of a file: where it is and its size.
pub fn row_groups(path: &Path) -> Result<Vec<RowGroup>, CodecError> {
    let builder = open(path)?;
    let mut first_row = 0u64;
    Ok(builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .map(|(index, group)| {
            let rows = group.num_rows().max(0) as u64;
            let entry = RowGroup { index, first_row, rows, bytes: group.compressed_size().max(0) as u64 };
            first_row += rows;
            entry
        })
        .collect())
}

/// Where one row group of a Parquet file is, and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowGroup {
    /// Its index in the file.
    pub index: usize,
    /// Rows of the file before it.
    pub first_row: u64,
    /// Its rows.
    pub rows: u64,
    /// Its compressed bytes.
    pub bytes: u64,
}

/// The range of event times in row group `index` from its statistics:
/// `Some(None)` for a group without a timestamp, `None` when the file's
/// timestamp column or its statistics cannot say (text, unsigned, missing).
pub(super) fn row_group_time_range(path: &Path, index: usize) -> Result<Option<TimeRange>, CodecError> {
    let builder = open(path)?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let Ok(columns) = TickColumns::find(&names, "schema") else { return Ok(Some(None)) };
    let field = &builder.schema().fields()[columns.timestamp];
    // Unsigned columns are left out: their statistics may compare as signed.
    let signed = matches!(field.data_type(), DataType::Timestamp(..) | DataType::Int64 | DataType::Int32);
    let Some(factor) = nanos_per_value(field.data_type()).filter(|_| signed) else { return Ok(None) };
    let metadata = builder.metadata();
    let Some(group) = metadata.row_groups().get(index) else { return Ok(None) };
    let leaf = group.columns().iter().position(|c| c.column_path().parts() == [field.name().as_str()]);
    let Some(stats) = leaf.and_then(|leaf| group.column(leaf).statistics()) else { return Ok(None) };
    let (lo, hi) = match stats {
        Statistics::Int64(s) => (s.min_opt().copied(), s.max_opt().copied()),
        Statistics::Int32(s) => (s.min_opt().map(|&v| i64::from(v)), s.max_opt().map(|&v| i64::from(v))),
        _ => return Ok(None),
    };
    Ok(match (lo, hi) {
        (Some(lo), Some(hi)) => Some(Some((lo.saturating_mul(factor), hi.saturating_mul(factor)))),
        _ if stats.null_count_opt() == Some(group.num_rows().max(0) as u64) => Some(None),
        _ => None,
    })
}

/// Reads rows `rows` (counted from the group's first) of one row group into `sink`.
pub fn read_row_group(
    path: &Path,
    index: usize,
    first_row: u64,
    rows: Range<u64>,
    sink: &mut dyn TickSink,
) -> Result<(), CodecError> {
    let source = path.display().to_string();
    let builder = open(path)?;
    let names: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    let columns = match TickColumns::find(&names, "schema") {
        Ok(columns) => columns,
        Err(reason) => {
            if index == 0 && rows.start == 0 {
                sink.reject(Reject::new(&source, 0, reason, b""));
            }
            return Ok(());
        }
    };
    let mut wanted = vec![columns.timestamp, columns.symbol, columns.price, columns.volume];
    wanted.extend(columns.seq);
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
    let projected: Vec<usize> = {
        let mut sorted = wanted.clone();
        sorted.sort_unstable();
        wanted.iter().map(|w| sorted.iter().position(|s| s == w).unwrap_or(0)).collect()
    };
    let mut reader = builder
        .with_projection(mask)
        .with_row_groups(vec![index])
        .with_offset(usize::try_from(rows.start).unwrap_or(usize::MAX))
        .with_limit(usize::try_from(rows.end - rows.start).unwrap_or(usize::MAX))
        .with_batch_size(BATCH_ROWS * 8)
        .build()
        .map_err(pq_error(path))?;
    let mut decoder = Decoder { source, batch: TickBatch::default(), dictionary: FxHashMap::default() };
    let mut row = first_row + rows.start;
    while let Some(record) = decoding(path, || reader.next())? {
        let record = record.map_err(|source| CodecError::Arrow { path: path.display().to_string(), source })?;
        let col = |i: usize| record.column(projected[i]).clone();
        let seq = columns.seq.map(|_| col(4));
        decoder.decode(&[col(0), col(1), col(2), col(3)], seq.as_ref(), row, sink);
        row += record.num_rows() as u64;
    }
    Ok(())
}

/// Converts Arrow columns into tick batches, remembering symbols across batches.
struct Decoder {
    source: String,
    batch: TickBatch,
    dictionary: FxHashMap<String, u32>,
}

impl Decoder {
    fn decode(&mut self, cols: &[ArrayRef; 4], seq: Option<&ArrayRef>, first_row: u64, sink: &mut dyn TickSink) {
        let rows = cols[0].len();
        let mut errors = BTreeMap::new();
        let ts = timestamps(&cols[0], &mut errors);
        let symbols = self.symbols(&cols[1], &mut errors);
        let price = scaled(&cols[2], "price", &mut errors);
        let size = scaled(&cols[3], "volume", &mut errors);
        let seqs = seq.map(|s| sequence(s, &mut errors));
        for i in 0..rows {
            let position = first_row + i as u64 + 1;
            if let Some(reason) = errors.get(&i) {
                sink.reject(Reject::new(&self.source, position, reason.clone(), b""));
                continue;
            }
            if let Err(e) = validate(ts[i], Price(price[i]), Size(size[i])) {
                sink.reject(Reject::new(&self.source, position, e.to_string(), b""));
                continue;
            }
            let seq = seqs.as_ref().map_or(position - 1, |s| s[i]);
            self.batch.push(symbols[i], ts[i], Price(price[i]), Size(size[i]), seq);
            if self.batch.len() >= BATCH_ROWS {
                sink.ticks(&self.batch);
                self.batch.clear_rows();
            }
        }
        if !self.batch.is_empty() {
            sink.ticks(&self.batch);
            self.batch.clear_rows();
        }
    }

    /// Per row: the symbol's id in the reader dictionary.
    fn symbols(&mut self, array: &ArrayRef, errors: &mut BTreeMap<usize, String>) -> Vec<u32> {
        let (keys, values): (Vec<usize>, ArrayRef) = match array.as_any_dictionary_opt() {
            Some(dict) => (dict.normalized_keys(), dict.values().clone()),
            None => ((0..array.len()).collect(), array.clone()),
        };
        let values = match arrow::compute::cast(&values, &DataType::Utf8) {
            Ok(values) => values,
            Err(_) => {
                (0..array.len())
                    .for_each(|i| note(errors, i, format!("symbol column has type {}, not text", array.data_type())));
                return vec![0; array.len()];
            }
        };
        let values = values.as_string::<i32>();
        let ids: Vec<Option<u32>> =
            (0..values.len()).map(|v| if values.is_null(v) { None } else { self.intern(values.value(v)) }).collect();
        keys.iter()
            .enumerate()
            .map(|(row, &key)| match ids.get(key).copied().flatten() {
                Some(id) if !array.is_null(row) => id,
                _ => {
                    let reason = if array.is_null(row) {
                        "symbol is missing".to_owned()
                    } else {
                        invalid_symbol(values.value(key))
                    };
                    note(errors, row, reason);
                    0
                }
            })
            .collect()
    }

    fn intern(&mut self, text: &str) -> Option<u32> {
        if let Some(&id) = self.dictionary.get(text) {
            return Some(id);
        }
        let symbol = Symbol::new(text).ok()?;
        let id = self.batch.symbols.len() as u32;
        self.batch.symbols.push(symbol);
        self.dictionary.insert(text.to_owned(), id);
        Some(id)
    }
}

fn note(errors: &mut BTreeMap<usize, String>, row: usize, reason: String) {
    errors.entry(row).or_insert(reason);
}

fn missing(array: &dyn Array, name: &str, errors: &mut BTreeMap<usize, String>) {
    if array.null_count() > 0 {
        (0..array.len()).filter(|&i| array.is_null(i)).for_each(|i| note(errors, i, format!("{name} is missing")));
    }
}

/// Event times in nanoseconds.
fn timestamps(array: &ArrayRef, errors: &mut BTreeMap<usize, String>) -> Vec<i64> {
    missing(array.as_ref(), "timestamp", errors);
    match nanos_per_value(array.data_type()) {
        Some(factor) => match arrow::compute::cast(array, &DataType::Int64) {
            Ok(a) => a
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .iter()
                .map(|t| t.saturating_mul(factor))
                .collect(),
            Err(e) => fail_all(array.len(), &format!("timestamp cannot be read: {e}"), errors),
        },
        None => match arrow::compute::cast(array, &DataType::Utf8) {
            Ok(text) => {
                let text = text.as_string::<i32>();
                (0..text.len())
                    .map(|i| match parse_timestamp(text.value(i).as_bytes()) {
                        Ok(ts) => ts,
                        Err(e) => {
                            note(errors, i, format!("timestamp {:?} {e}", text.value(i)));
                            0
                        }
                    })
                    .collect()
            }
            Err(_) => fail_all(array.len(), &format!("timestamp column has type {}", array.data_type()), errors),
        },
    }
}

/// Nanoseconds per value of a numeric timestamp column: its unit for a
/// TIMESTAMP, milliseconds for a plain integer; `None` for other types.
fn nanos_per_value(data_type: &DataType) -> Option<i64> {
    match data_type {
        DataType::Timestamp(TimeUnit::Second, _) => Some(1_000_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Some(1_000_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Some(1_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(1),
        DataType::Int64 | DataType::Int32 | DataType::UInt64 | DataType::UInt32 => Some(NANOS_PER_MILLI),
        _ => None,
    }
}

fn fail_all<T: Default + Clone>(rows: usize, reason: &str, errors: &mut BTreeMap<usize, String>) -> Vec<T> {
    (0..rows).for_each(|i| note(errors, i, reason.to_owned()));
    vec![T::default(); rows]
}

/// Money in units of 10^-8.
fn scaled(array: &ArrayRef, name: &str, errors: &mut BTreeMap<usize, String>) -> Vec<i64> {
    missing(array.as_ref(), name, errors);
    let mut convert = |i: usize, value: Result<i64, String>| {
        value.unwrap_or_else(|reason| {
            note(errors, i, format!("{name} {reason}"));
            0
        })
    };
    match array.data_type() {
        DataType::Decimal128(_, scale) => {
            let scale = i32::from(*scale);
            let values = array.as_primitive::<arrow::datatypes::Decimal128Type>().values();
            if scale == DECIMALS as i32 {
                return values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| convert(i, i64::try_from(*v).map_err(|_| "is out of range".to_owned())))
                    .collect();
            }
            values.iter().enumerate().map(|(i, v)| convert(i, rescale(*v, scale))).collect()
        }
        DataType::Int64 | DataType::Int32 | DataType::UInt32 | DataType::UInt64 => {
            match arrow::compute::cast(array, &DataType::Int64) {
                Ok(a) => a
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .iter()
                    .enumerate()
                    .map(|(i, v)| convert(i, v.checked_mul(SCALE).ok_or_else(|| "is out of range".to_owned())))
                    .collect(),
                Err(e) => fail_all(array.len(), &format!("{name} cannot be read: {e}"), errors),
            }
        }
        DataType::Float64 | DataType::Float32 => match arrow::compute::cast(array, &DataType::Float64) {
            Ok(a) => a
                .as_primitive::<arrow::datatypes::Float64Type>()
                .values()
                .iter()
                .enumerate()
                .map(|(i, &f)| convert(i, units_of_double(f)))
                .collect(),
            Err(e) => fail_all(array.len(), &format!("{name} cannot be read: {e}"), errors),
        },
        _ => match arrow::compute::cast(array, &DataType::Utf8) {
            Ok(text) => {
                let text = text.as_string::<i32>();
                (0..text.len())
                    .map(|i| {
                        convert(
                            i,
                            parse_scaled(text.value(i).as_bytes()).map_err(|e| format!("{:?} {e}", text.value(i))),
                        )
                    })
                    .collect()
            }
            Err(_) => fail_all(array.len(), &format!("{name} column has type {}", array.data_type()), errors),
        },
    }
}

/// A double as units of 10^-8: the shortest decimal that round-trips to
/// it (what `f64`'s `Display` prints), exactly, or an error if that has
/// more than 8 decimals.
///
/// Below 2^52 / 10^8 (about 45 million) neighbouring doubles are less than
/// 10^-8 apart, so at most one multiple of 10^-8 rounds to a given double:
/// if `round(f · 10^8) / 10^8` (a correctly rounded division of two exact
/// doubles) is `f` again, it is that multiple and the shortest decimal's
/// value. Anything else takes the printed decimal.
pub(super) fn units_of_double(f: f64) -> Result<i64, String> {
    const EXACT_BELOW: f64 = 45_035_996.0;
    if f.abs() < EXACT_BELOW {
        let units = (f * SCALE as f64).round();
        if units / SCALE as f64 == f {
            return Ok(units as i64);
        }
    }
    parse_scaled(f.to_string().as_bytes()).map_err(|e| format!("{f} {e}"))
}

/// A decimal of `scale` places as units of 10^-8, exactly or not at all.
fn rescale(value: i128, scale: i32) -> Result<i64, String> {
    let shift = DECIMALS as i32 - scale;
    let units = if shift >= 0 {
        value.checked_mul(10i128.pow(shift as u32))
    } else {
        let divisor = 10i128.checked_pow((-shift) as u32).unwrap_or(i128::MAX);
        if value % divisor != 0 {
            return Err("has more than 8 decimal places".to_owned());
        }
        Some(value / divisor)
    };
    units.and_then(|u| i64::try_from(u).ok()).ok_or_else(|| "is out of range".to_owned())
}

fn sequence(array: &ArrayRef, errors: &mut BTreeMap<usize, String>) -> Vec<u64> {
    missing(array.as_ref(), "seq", errors);
    match arrow::compute::cast(array, &DataType::UInt64) {
        Ok(a) => a.as_primitive::<arrow::datatypes::UInt64Type>().values().to_vec(),
        Err(e) => fail_all(array.len(), &format!("seq cannot be read as an unsigned integer: {e}"), errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_decoder_is_an_error_that_names_the_file() {
        let result: Result<(), CodecError> = decoding(Path::new("day.parquet"), || panic!("shift overflow"));
        let error = result.expect_err("the panic is caught");
        assert_eq!(
            error.to_string(),
            r#"day.parquet: the Parquet data is corrupt: the decoder failed with "shift overflow""#
        );
    }
}
