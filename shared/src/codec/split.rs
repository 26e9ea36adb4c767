//! Cutting files into independently readable splits.

use super::{CodecError, Reject, TickBatch, TickSink, TimeRange};
use std::path::{Path, PathBuf};

/// Target bytes per plain-CSV split.
const CSV_SPLIT_BYTES: u64 = 8 << 20;

/// Most rows per Parquet split: a row group larger than this (pyarrow writes
/// 1M rows per group by default) is read as slices of it, as many trades as
/// an 8 MiB CSV split holds. A split's bars travel to their owners only
/// after the whole split is read, so its size bounds the memory in flight.
const PARQUET_SPLIT_ROWS: u64 = 1 << 18;

/// The file formats tickflow reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// Uncompressed CSV.
    Csv,
    /// Zstandard-compressed CSV.
    CsvZstd,
    /// Gzip-compressed CSV.
    CsvGzip,
    /// Apache Parquet.
    Parquet,
}

/// The format of a file by its name, or `None` for files that hold no trades.
pub fn data_format(path: &Path) -> Option<DataFormat> {
    let name = path.file_name()?.to_str()?;
    if name.starts_with('.') || name.starts_with('_') {
        return None;
    }
    if name.ends_with(".csv") {
        Some(DataFormat::Csv)
    } else if name.ends_with(".csv.zst") {
        Some(DataFormat::CsvZstd)
    } else if name.ends_with(".csv.gz") {
        Some(DataFormat::CsvGzip)
    } else if name.ends_with(".parquet") {
        Some(DataFormat::Parquet)
    } else {
        None
    }
}

/// Which part of a file a split covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitKind {
    /// The whole file, read as a stream.
    Whole,
    /// Rows of a plain CSV file that start in `[start, end)` bytes.
    Bytes {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// Rows `[skip, skip + rows)` of one Parquet row group, whose first row
    /// is `first_row` of the file.
    RowGroup {
        /// Row group index.
        index: usize,
        /// Rows before this group in the file.
        first_row: u64,
        /// Rows of the group before the split.
        skip: u64,
        /// Rows of the split.
        rows: u64,
    },
}

/// A piece of one file that one worker reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: DataFormat,
    /// The part of it.
    pub kind: SplitKind,
    /// Approximate bytes, for balancing work.
    pub bytes: u64,
}

/// Cuts one file into splits.
pub fn plan_splits(path: &Path) -> Result<Vec<Split>, CodecError> {
    plan_splits_sized(path, CSV_SPLIT_BYTES)
}

/// Cuts one file into splits, plain CSV into pieces of about `csv_split_bytes`.
pub fn plan_splits_sized(path: &Path, csv_split_bytes: u64) -> Result<Vec<Split>, CodecError> {
    let format = data_format(path).ok_or_else(|| CodecError::UnknownFormat { path: path.display().to_string() })?;
    let bytes = std::fs::metadata(path).map_err(|e| CodecError::io(path, e))?.len();
    let split = |kind, bytes| Split { path: path.to_owned(), format, kind, bytes };
    Ok(match format {
        DataFormat::Csv => {
            let pieces = bytes.div_ceil(csv_split_bytes.max(1)).max(1);
            let step = bytes.div_ceil(pieces).max(1);
            (0..pieces)
                .map(|i| {
                    let (start, end) = (i * step, ((i + 1) * step).min(bytes));
                    split(SplitKind::Bytes { start, end }, end - start)
                })
                .collect()
        }
        DataFormat::CsvZstd | DataFormat::CsvGzip => vec![split(SplitKind::Whole, bytes)],
        DataFormat::Parquet => super::parquet::row_groups(path)?
            .into_iter()
            .flat_map(|group| {
                let pieces = group.rows.div_ceil(PARQUET_SPLIT_ROWS).max(1);
                let step = group.rows.div_ceil(pieces).max(1);
                (0..pieces).map(move |i| {
                    let (skip, rows) = (i * step, step.min(group.rows.saturating_sub(i * step)));
                    let kind = SplitKind::RowGroup { index: group.index, first_row: group.first_row, skip, rows };
                    split(kind, group.bytes * rows / group.rows.max(1))
                })
            })
            .collect(),
    })
}

/// Reads one split into `sink`. Bad rows become rejects; only a file that
/// cannot be read at all is an error.
pub fn read_split(split: &Split, sink: &mut dyn TickSink) -> Result<(), CodecError> {
    match (&split.format, &split.kind) {
        (DataFormat::Parquet, SplitKind::RowGroup { index, first_row, skip, rows }) => {
            super::parquet::read_row_group(&split.path, *index, *first_row, *skip..*skip + *rows, sink)
        }
        (_, SplitKind::Bytes { start, end }) => super::csv::read_range(&split.path, *start, *end, sink),
        (format, _) => super::csv::read_stream(&split.path, *format, sink),
    }
}

/// A range that holds the event time of every valid trade of `split`, found
/// with as little reading as the format allows: a Parquet row group's
/// statistics, a plain CSV split's timestamp column; a full read otherwise.
/// It may be wider than the trades' own (rows rejected for another reason
/// count), never narrower; `None` when no row has a timestamp.
pub fn time_range(split: &Split) -> Result<TimeRange, CodecError> {
    match (&split.format, &split.kind) {
        (DataFormat::Parquet, SplitKind::RowGroup { index, .. }) => {
            if let Some(range) = super::parquet::row_group_time_range(&split.path, *index)? {
                return Ok(range);
            }
        }
        (_, SplitKind::Bytes { start, end }) => return super::csv_bounds::time_range(&split.path, *start, *end),
        _ => {}
    }
    let mut bounds = Bounds::default();
    read_split(split, &mut bounds)?;
    Ok(bounds.0)
}

/// Widens `range` to hold `ts`.
pub(super) fn widen(range: &mut TimeRange, ts: i64) {
    let (lo, hi) = range.unwrap_or((ts, ts));
    *range = Some((lo.min(ts), hi.max(ts)));
}

/// A sink that keeps only the range of event times.
#[derive(Default)]
struct Bounds(TimeRange);

impl TickSink for Bounds {
    fn ticks(&mut self, batch: &TickBatch) {
        for &ts in &batch.ts {
            widen(&mut self.0, ts);
        }
    }

    fn reject(&mut self, _: Reject) {}
}
