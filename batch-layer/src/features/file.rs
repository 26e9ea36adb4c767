//! One quarter's data file: the Arrow schema, and a writer that appends
//! symbols' rows to a temporary Parquet file and counts nulls on the way.
//!
//! The bytes depend only on the rows and the order they are appended in:
//! no wall-clock, no host, no random seed goes into the file, so the same
//! rows give the same file (the writer's `created_by` is the Parquet crate's
//! version, fixed by the lock file).

use super::FeatureError;
use super::columns::{Columns, FEATURE_COLUMNS, FEATURES};
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The column names of an export with these horizons, in order.
pub fn column_names(horizons: &[u32]) -> Vec<String> {
    let mut names: Vec<String> =
        ["symbol", "ts", "as_of", "close", "vwap", "volume", "trades"].iter().map(|s| (*s).to_owned()).collect();
    names.extend(FEATURES[..FEATURE_COLUMNS].iter().map(|d| d.name.to_owned()));
    for h in horizons {
        names.push(format!("fwd_ret_{h}"));
        names.push(format!("fwd_end_{h}"));
    }
    names
}

/// The Arrow schema of an export with these horizons.
pub fn schema(horizons: &[u32]) -> SchemaRef {
    let time = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let fields = column_names(horizons)
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let (kind, nullable) = match name.as_str() {
                "symbol" => (DataType::Utf8, false),
                "ts" | "as_of" => (time(), false),
                "trades" => (DataType::Int64, false),
                "close" | "vwap" | "volume" => (DataType::Float64, false),
                _ if name.starts_with("fwd_end_") => (time(), true),
                _ => (DataType::Float64, i >= 7),
            };
            Field::new(name, kind, nullable)
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

/// A quarter's data file being written under a temporary name.
pub struct QuarterFile {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    temp: PathBuf,
    rows: u64,
    nulls: Vec<u64>,
}

impl QuarterFile {
    /// Rows per row group.
    const ROW_GROUP_ROWS: usize = 1 << 20;

    /// Creates the temporary file `temp` (its directory too).
    pub fn create(temp: PathBuf, horizons: &[u32]) -> Result<Self, FeatureError> {
        if let Some(dir) = temp.parent() {
            std::fs::create_dir_all(dir).map_err(|e| FeatureError::io(dir, e))?;
        }
        let file = File::create(&temp).map_err(|e| FeatureError::io(&temp, e))?;
        let level = ZstdLevel::try_new(3).map_err(|e| FeatureError::encode(&temp, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_max_row_group_row_count(Some(Self::ROW_GROUP_ROWS))
            .build();
        let schema = schema(horizons);
        let writer =
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| FeatureError::encode(&temp, e))?;
        let nulls = vec![0; schema.fields().len()];
        Ok(Self { writer, schema, temp, rows: 0, nulls })
    }

    /// Appends rows `range` of one symbol's columns.
    pub fn append(&mut self, symbol: &str, columns: &Columns, range: Range<usize>) -> Result<(), FeatureError> {
        let r = range.clone();
        let floats = |v: &[f64]| Arc::new(Float64Array::from(v[r.clone()].to_vec())) as ArrayRef;
        let times = |v: &[i64]| {
            Arc::new(TimestampMillisecondArray::from(v[r.clone()].to_vec()).with_timezone("UTC")) as ArrayRef
        };
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![symbol; r.len()])),
            times(&columns.ts),
            times(&columns.as_of),
            floats(&columns.close),
            floats(&columns.vwap),
            floats(&columns.volume),
            Arc::new(Int64Array::from(columns.trades[r.clone()].to_vec())),
        ];
        for feature in &columns.features {
            arrays.push(Arc::new(Float64Array::from(feature[r.clone()].to_vec())));
        }
        for (ret, end) in &columns.labels {
            arrays.push(Arc::new(Float64Array::from(ret[r.clone()].to_vec())));
            arrays.push(Arc::new(TimestampMillisecondArray::from(end[r.clone()].to_vec()).with_timezone("UTC")));
        }
        for (count, array) in self.nulls.iter_mut().zip(&arrays) {
            *count += array.null_count() as u64;
        }
        self.rows += r.len() as u64;
        let batch =
            RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| FeatureError::encode(&self.temp, e))?;
        self.writer.write(&batch).map_err(|e| FeatureError::encode(&self.temp, e))
    }

    /// Closes and syncs the file; returns its temporary path, rows and nulls per column.
    pub fn finish(self) -> Result<Written, FeatureError> {
        let file = self.writer.into_inner().map_err(|e| FeatureError::encode(&self.temp, e))?;
        file.sync_all().map_err(|e| FeatureError::io(&self.temp, e))?;
        Ok(Written { temp: self.temp, rows: self.rows, nulls: self.nulls })
    }
}

/// A finished data file under its temporary name.
#[derive(Debug)]
pub struct Written {
    /// The temporary path.
    pub temp: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// Nulls per column, in column order.
    pub nulls: Vec<u64>,
}

/// The SHA-256 of a file's bytes, in lowercase hex.
pub fn sha256_of(path: &Path) -> Result<String, FeatureError> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = File::open(path).map_err(|e| FeatureError::io(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| FeatureError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
