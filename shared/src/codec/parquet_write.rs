//! Writing ticks as Parquet in tickflow's schema.

use super::CodecError;
use super::parquet::pq_error;
use crate::fixed::DECIMALS;
use crate::tick::Tick;
use arrow::array::{
    ArrayRef, Decimal128Builder, RecordBatch, StringDictionaryBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// The Arrow schema tickflow writes.
pub fn tick_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("symbol", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        Field::new("price", DataType::Decimal128(18, DECIMALS as i8), false),
        Field::new("volume", DataType::Decimal128(18, DECIMALS as i8), false),
        Field::new("seq", DataType::UInt64, false),
    ]))
}

/// Writes ticks to a Parquet file in tickflow's schema.
pub struct ParquetTickWriter {
    writer: ArrowWriter<File>,
    path: std::path::PathBuf,
    ts: TimestampNanosecondBuilder,
    symbol: StringDictionaryBuilder<Int32Type>,
    price: Decimal128Builder,
    volume: Decimal128Builder,
    seq: UInt64Builder,
    rows: usize,
}

impl ParquetTickWriter {
    /// Rows per row group: the unit of parallel reading.
    pub const ROW_GROUP_ROWS: usize = 1 << 20;
    const FLUSH_ROWS: usize = 1 << 16;

    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, CodecError> {
        let file = File::create(path).map_err(|e| CodecError::io(path, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .set_max_row_group_row_count(Some(Self::ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(file, tick_schema(), Some(props)).map_err(pq_error(path))?;
        let decimal = || Decimal128Builder::new().with_precision_and_scale(18, DECIMALS as i8);
        Ok(Self {
            writer,
            path: path.to_owned(),
            ts: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            symbol: StringDictionaryBuilder::new(),
            price: decimal().map_err(|source| CodecError::Arrow { path: path.display().to_string(), source })?,
            volume: decimal().map_err(|source| CodecError::Arrow { path: path.display().to_string(), source })?,
            seq: UInt64Builder::new(),
            rows: 0,
        })
    }

    /// Appends one trade.
    pub fn write(&mut self, tick: &Tick) -> Result<(), CodecError> {
        self.ts.append_value(tick.ts);
        self.symbol.append_value(tick.symbol.as_str());
        self.price.append_value(i128::from(tick.price.0));
        self.volume.append_value(i128::from(tick.size.0));
        self.seq.append_value(tick.seq);
        self.rows += 1;
        if self.rows >= Self::FLUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CodecError> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrow_error = |source| CodecError::Arrow { path: self.path.display().to_string(), source };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.symbol.finish()),
            Arc::new(self.price.finish().with_precision_and_scale(18, DECIMALS as i8).map_err(arrow_error)?),
            Arc::new(self.volume.finish().with_precision_and_scale(18, DECIMALS as i8).map_err(arrow_error)?),
            Arc::new(self.seq.finish()),
        ];
        let batch = RecordBatch::try_new(tick_schema(), columns).map_err(arrow_error)?;
        self.rows = 0;
        self.writer.write(&batch).map_err(pq_error(&self.path))
    }

    /// Writes what is buffered, closes the file and syncs it.
    pub fn finish(mut self) -> Result<(), CodecError> {
        self.flush()?;
        let file = self.writer.into_inner().map_err(pq_error(&self.path))?;
        file.sync_all().map_err(|e| CodecError::io(&self.path, e))
    }
}
