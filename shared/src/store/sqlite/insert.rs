//! Bulk insert of bars into SQLite: many rows per statement, bound in place.
//!
//! One `INSERT` of 64 rows runs the statement machinery once where 64 single
//! inserts would run it 64 times; with bars arriving in key order the B-tree
//! work is an append, so this is most of what a publish costs.

use crate::bar::Bar;
use crate::interval::Interval;
use crate::store::StoreError;
use crate::store::common::to_i64;
use crate::time::format_rfc3339;
use rusqlite::Transaction;

const ROWS: usize = 64;
const COLUMNS: usize = 13;

fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; COLUMNS].join(","));
    format!(
        r#"INSERT INTO batch_bars (symbol, "interval", start, open, high, low, close, volume, vwap,
           trades, first_ts_ns, last_ts_ns, version) VALUES {}"#,
        vec![row; rows].join(",")
    )
}

/// Buffers bars and writes them `ROWS` at a time.
pub(super) struct BarInserter<'t> {
    tx: &'t Transaction<'t>,
    version: i64,
    pending: Vec<Bar>,
    labels: Vec<(Interval, String)>,
}

impl<'t> BarInserter<'t> {
    pub(super) fn new(tx: &'t Transaction<'t>, version: i64) -> Self {
        Self { tx, version, pending: Vec::with_capacity(ROWS), labels: Vec::new() }
    }

    /// Adds one bar, writing a full batch when there is one.
    pub(super) fn push(&mut self, bar: Bar) -> Result<(), StoreError> {
        self.pending.push(bar);
        if self.pending.len() == ROWS { self.flush() } else { Ok(()) }
    }

    /// Writes what is buffered.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut statement = self.tx.prepare_cached(&insert_sql(self.pending.len()))?;
        for (row, bar) in self.pending.iter().enumerate() {
            let label = match self.labels.iter().find(|(interval, _)| *interval == bar.interval) {
                Some((_, label)) => label,
                None => {
                    self.labels.push((bar.interval, bar.interval.to_string()));
                    &self.labels[self.labels.len() - 1].1
                }
            };
            let volume = i64::try_from(bar.volume.0).map_err(|_| {
                StoreError::Range(format!(
                    "volume {} of the {} {} bar at {} does not fit SQLite's 64-bit integer of 10^-8 units",
                    bar.volume,
                    bar.symbol,
                    bar.interval,
                    format_rfc3339(bar.start)
                ))
            })?;
            let at = row * COLUMNS;
            statement.raw_bind_parameter(at + 1, bar.symbol.as_str())?;
            statement.raw_bind_parameter(at + 2, label.as_str())?;
            let integers = [
                bar.start,
                bar.open.0,
                bar.high.0,
                bar.low.0,
                bar.close.0,
                volume,
                bar.vwap.0,
                to_i64(bar.trades, "trades")?,
                bar.first_ts,
                bar.last_ts,
                self.version,
            ];
            for (column, value) in integers.into_iter().enumerate() {
                statement.raw_bind_parameter(at + 3 + column, value)?;
            }
        }
        statement.raw_execute()?;
        self.pending.clear();
        Ok(())
    }
}
