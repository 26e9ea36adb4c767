//! The SQLite engine: one file, WAL mode, money as integers of 10^-8.
//!
//! A publish is one `BEGIN IMMEDIATE` transaction on the write connection; a
//! read is one deferred transaction on a separate read connection, which in
//! WAL mode is a snapshot that a concurrent publish does not disturb.

use super::common::{self, Bound, Part, distinct_intervals, interval_of, now_micros, parts, to_i64, to_u64};
use super::sqlite_insert::BarInserter;
use super::{BarQuery, Bars, BatchPublish, BatchRun, FileManifest, StoreError, View, ViewBar, ViewStore, migrations};
use super::{LateTrade, PartitionOffset, SpeedChanges, SpeedCommit, SpeedStatus, StoreStats};
use super::{sqlite_serving, sqlite_speed};
use crate::bar::Bar;
use crate::codec::Reject;
use crate::fixed::{Price, Volume};
use crate::interval::Interval;
use crate::tick::Symbol;
use crate::time::{NANOS_PER_DAY, day_of, format_rfc3339};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// A view store in one SQLite file.
pub struct SqliteStore {
    write: Mutex<Connection>,
    read: Mutex<Connection>,
}

fn connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Large pages take effect only for a new file, before WAL is switched on.
    conn.pragma_update(None, "page_size", 16_384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // 64 MiB of page cache: a publish appends many rows in one transaction.
    conn.pragma_update(None, "cache_size", -65_536)?;
    Ok(conn)
}

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves no half-done transaction behind
    // (rusqlite rolls back on drop), so the connection is still usable.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SqliteStore {
    /// Opens the store at `path`, creating its directory and file and
    /// applying missing migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
        }
        let mut write = connection(path)?;
        migrations::run_sqlite(&mut write)?;
        let read = connection(path)?;
        Ok(Self { write: Mutex::new(write), read: Mutex::new(read) })
    }

    fn publish(&self, publish: BatchPublish<'_>) -> Result<BatchRun, StoreError> {
        let mut conn = lock(&self.write);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) + 1 FROM batch_runs", [], |r| r.get(0))?;
        let published_at = now_micros();

        let intervals = tx
            .prepare(&distinct_intervals())?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        {
            let mut delete =
                tx.prepare_cached(r#"DELETE FROM batch_bars WHERE "interval" = ?1 AND start >= ?2 AND start < ?3"#)?;
            for day in &publish.days {
                for interval in &intervals {
                    delete.execute(params![interval, day.day * NANOS_PER_DAY, (day.day + 1) * NANOS_PER_DAY])?;
                }
            }
        }

        let mut bars_per_day: HashMap<i64, u64> = publish.days.iter().map(|d| (d.day, 0)).collect();
        let mut bars = 0u64;
        {
            let mut insert = BarInserter::new(&tx, version);
            for bar in publish.bars {
                match bars_per_day.get_mut(&day_of(bar.start)) {
                    Some(count) => *count += 1,
                    None => return Err(outside(&bar)),
                }
                insert.push(bar)?;
                bars += 1;
            }
            insert.flush()?;
        }

        let mut trades = 0u64;
        for day in &publish.days {
            trades += day.trades;
            if day.trades == 0 {
                tx.execute("DELETE FROM batch_days WHERE day = ?1", [day.day])?;
            } else {
                tx.execute(
                    "INSERT INTO batch_days (day, version, trades, bars, published_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (day) DO UPDATE SET version = excluded.version, trades = excluded.trades,
                         bars = excluded.bars, published_at = excluded.published_at",
                    params![
                        day.day,
                        version,
                        to_i64(day.trades, "trades")?,
                        to_i64(bars_per_day.get(&day.day).copied().unwrap_or(0), "bars")?,
                        published_at
                    ],
                )?;
            }
        }

        for path in publish.forget_files.iter().chain(publish.files.iter().map(|f| &f.path)) {
            tx.execute("DELETE FROM batch_file_days WHERE path = ?1", [path])?;
            tx.execute("DELETE FROM batch_files WHERE path = ?1", [path])?;
        }
        for file in &publish.files {
            tx.execute(
                "INSERT INTO batch_files (path, bytes, modified_ns, version) VALUES (?1, ?2, ?3, ?4)",
                params![file.path, to_i64(file.bytes, "file size")?, file.modified_ns, version],
            )?;
            let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO batch_file_days (path, day) VALUES (?1, ?2)")?;
            for day in &file.days {
                insert.execute(params![file.path, day])?;
            }
        }

        {
            let mut insert = tx.prepare_cached(
                r#"INSERT INTO rejects (source, "position", layer, reason, raw, seen_at)
                   VALUES (?1, ?2, 'batch', ?3, ?4, ?5) ON CONFLICT DO NOTHING"#,
            )?;
            for reject in &publish.rejects {
                insert.execute(params![
                    reject.source,
                    to_i64(reject.position, "reject position")?,
                    reject.reason,
                    reject.raw,
                    published_at
                ])?;
            }
        }

        let boundary: Option<i64> =
            tx.query_row("SELECT (MAX(day) + 1) * ?1 FROM batch_days", [NANOS_PER_DAY], |r| r.get(0))?;
        tx.execute("UPDATE batch_boundary SET boundary = ?1, version = ?2 WHERE id = 1", params![boundary, version])?;
        let run = BatchRun {
            version,
            started_at: publish.started_at,
            published_at,
            boundary,
            days: publish.days.len() as u64,
            trades,
            bars,
            rejects: publish.rejects.len() as u64,
        };
        tx.execute(
            "INSERT INTO batch_runs (version, started_at, published_at, boundary, days, trades, bars, rejects)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run.version,
                run.started_at,
                run.published_at,
                run.boundary,
                to_i64(run.days, "days")?,
                to_i64(run.trades, "trades")?,
                to_i64(run.bars, "bars")?,
                to_i64(run.rejects, "rejects")?
            ],
        )?;
        tx.commit()?;
        Ok(run)
    }

    fn read_bars(&self, query: &BarQuery) -> Result<Bars, StoreError> {
        let mut conn = lock(&self.read);
        let tx = conn.transaction()?;
        let boundary = boundary(&tx)?;
        let (sql, values) = bars_sql(query, &parts(query, boundary));
        let mut stmt = tx.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(values))?;
        let mut bars = Vec::new();
        let mut last = None;
        while let Some(row) = rows.next()? {
            bars.push(view_bar(row, &mut last)?);
        }
        drop(rows);
        drop(stmt);
        tx.commit()?;
        Ok(Bars { boundary, bars })
    }
}

fn outside(bar: &Bar) -> StoreError {
    StoreError::Range(format!(
        "the {} {} bar at {} is not in any day this publish replaces",
        bar.symbol,
        bar.interval,
        format_rfc3339(bar.start)
    ))
}

/// The boundary in the snapshot of `conn`'s open transaction.
pub(super) fn boundary(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn.query_row("SELECT boundary FROM batch_boundary WHERE id = 1", [], |r| r.get(0)).optional()?.flatten())
}

/// The columns [`view_bar`] reads, from `view`'s table, up to a `WHERE`.
pub(super) fn select(view: View) -> String {
    let (table, tag) = match view {
        View::Batch => ("batch_bars", 0),
        View::Speed => ("speed_bars", 1),
    };
    format!(
        r#"SELECT symbol, "interval", start, open, high, low, close, volume, vwap, trades, first_ts_ns,
           last_ts_ns, {tag} FROM {table} WHERE"#
    )
}

/// A bar and its view from the columns of [`select`].
pub(super) fn view_bar(row: &rusqlite::Row<'_>, last: &mut Option<(String, Interval)>) -> Result<ViewBar, StoreError> {
    let symbol: String = row.get(0)?;
    let label: String = row.get(1)?;
    let view = if row.get::<_, i64>(12)? == 0 { View::Batch } else { View::Speed };
    let bar = Bar {
        symbol: Symbol::new(&symbol).map_err(|e| StoreError::Corrupt(format!("symbol {symbol:?}: {e}")))?,
        interval: interval_of(&label, last)?,
        start: row.get(2)?,
        open: Price(row.get(3)?),
        high: Price(row.get(4)?),
        low: Price(row.get(5)?),
        close: Price(row.get(6)?),
        volume: Volume(i128::from(row.get::<_, i64>(7)?)),
        vwap: Price(row.get(8)?),
        trades: to_u64(row.get(9)?, "trades")?,
        first_ts: row.get(10)?,
        last_ts: row.get(11)?,
    };
    Ok(ViewBar { bar, view })
}

/// The SQL and parameters of one snapshot read, in SQLite's dialect.
fn bars_sql(query: &BarQuery, parts: &[Part]) -> (String, Vec<Value>) {
    let (sql, values) = common::bars_sql(query, parts, select, |n| format!("?{n}"));
    let values = values
        .into_iter()
        .map(|value| match value {
            Bound::Text(text) => Value::Text(text),
            Bound::Time(n) | Bound::Count(n) => Value::Integer(n),
        })
        .collect();
    (sql, values)
}

#[async_trait::async_trait]
impl ViewStore for SqliteStore {
    async fn publish_batch(&self, publish: BatchPublish<'_>) -> Result<BatchRun, StoreError> {
        self.publish(publish)
    }

    async fn bars(&self, query: &BarQuery) -> Result<Bars, StoreError> {
        self.read_bars(query)
    }

    async fn batch_manifest(&self) -> Result<Vec<FileManifest>, StoreError> {
        let conn = lock(&self.read);
        let mut files: Vec<FileManifest> = conn
            .prepare("SELECT path, bytes, modified_ns FROM batch_files ORDER BY path")?
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?
            .map(|row| {
                let (path, bytes, modified_ns) = row?;
                Ok(FileManifest { path, bytes: to_u64(bytes, "file size")?, modified_ns, days: Vec::new() })
            })
            .collect::<Result<_, StoreError>>()?;
        let index: HashMap<String, usize> = files.iter().enumerate().map(|(i, f)| (f.path.clone(), i)).collect();
        let mut stmt = conn.prepare("SELECT path, day FROM batch_file_days ORDER BY path, day")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let path: String = row.get(0)?;
            if let Some(&i) = index.get(&path) {
                files[i].days.push(row.get(1)?);
            }
        }
        Ok(files)
    }

    async fn batch_runs(&self, limit: usize) -> Result<Vec<BatchRun>, StoreError> {
        let conn = lock(&self.read);
        let mut stmt = conn.prepare(
            "SELECT version, started_at, published_at, boundary, days, trades, bars, rejects
             FROM batch_runs ORDER BY version DESC LIMIT ?1",
        )?;
        let mut rows = stmt.query([i64::try_from(limit).unwrap_or(i64::MAX)])?;
        let mut runs = Vec::new();
        while let Some(r) = rows.next()? {
            runs.push(BatchRun {
                version: r.get(0)?,
                started_at: r.get(1)?,
                published_at: r.get(2)?,
                boundary: r.get(3)?,
                days: to_u64(r.get(4)?, "days")?,
                trades: to_u64(r.get(5)?, "trades")?,
                bars: to_u64(r.get(6)?, "bars")?,
                rejects: to_u64(r.get(7)?, "rejects")?,
            });
        }
        Ok(runs)
    }

    async fn rejects(&self, limit: usize) -> Result<Vec<Reject>, StoreError> {
        let conn = lock(&self.read);
        let mut stmt = conn.prepare(
            r#"SELECT source, "position", reason, raw FROM rejects
               ORDER BY seen_at DESC, source DESC, "position" DESC LIMIT ?1"#,
        )?;
        let mut rows = stmt.query([i64::try_from(limit).unwrap_or(i64::MAX)])?;
        let mut rejects = Vec::new();
        while let Some(r) = rows.next()? {
            rejects.push(Reject {
                source: r.get(0)?,
                position: to_u64(r.get(1)?, "reject position")?,
                reason: r.get(2)?,
                raw: r.get(3)?,
            });
        }
        Ok(rejects)
    }

    async fn commit_speed(&self, commit: &mut SpeedCommit) -> Result<(), StoreError> {
        sqlite_speed::commit(&mut lock(&self.write), commit)
    }

    async fn speed_offsets(&self, topic: &str) -> Result<Vec<PartitionOffset>, StoreError> {
        sqlite_speed::offsets(&lock(&self.read), topic)
    }

    async fn speed_status(&self) -> Result<SpeedStatus, StoreError> {
        sqlite_speed::status(&mut lock(&self.read))
    }

    async fn late_trades(&self, limit: usize) -> Result<Vec<LateTrade>, StoreError> {
        sqlite_speed::late(&lock(&self.read), limit)
    }

    async fn late_positions(&self, source: &str, from: u64) -> Result<Vec<u64>, StoreError> {
        sqlite_speed::late_positions(&lock(&self.read), source, from)
    }

    async fn speed_changes(
        &self,
        interval: Interval,
        symbols: Option<&[Symbol]>,
        since: i64,
        limit: usize,
    ) -> Result<SpeedChanges, StoreError> {
        sqlite_speed::changes(&mut lock(&self.read), interval, symbols, since, limit)
    }

    async fn symbols(&self) -> Result<Vec<Symbol>, StoreError> {
        sqlite_serving::symbols(&mut lock(&self.read))
    }

    async fn latest(&self, symbols: &[Symbol], intervals: &[Interval]) -> Result<Bars, StoreError> {
        sqlite_serving::latest(&mut lock(&self.read), symbols, intervals)
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        sqlite_serving::stats(&mut lock(&self.read))
    }
}

#[cfg(test)]
#[path = "sqlite_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "sqlite_speed_tests.rs"]
mod speed_tests;
