//! The batch role in SQLite: a publish is one `BEGIN IMMEDIATE` transaction
//! on the write connection that deletes the replaced days, appends their
//! bars 64 rows per statement ([`super::insert`]), records the days, files,
//! rejects and run, and moves the boundary.

use super::SqliteStore;
use super::insert::BarInserter;
use crate::bar::Bar;
use crate::store::common::{distinct_intervals, now_micros, to_i64, to_u64};
use crate::store::serving::distinct;
use crate::store::{BatchPublish, BatchRun, BatchStore, DaySummary, FileManifest, Retained, Retention, StoreError};
use crate::time::{NANOS_PER_DAY, day_of, format_rfc3339};
use rusqlite::{Connection, TransactionBehavior, params};
use std::collections::HashMap;

#[async_trait::async_trait]
impl BatchStore for SqliteStore {
    async fn publish_batch(&self, publish: BatchPublish) -> Result<BatchRun, StoreError> {
        self.write(move |conn| self::publish(conn, publish)).await
    }

    async fn batch_manifest(&self) -> Result<Vec<FileManifest>, StoreError> {
        self.read(manifest).await
    }

    async fn apply_retention(&self, policy: &Retention) -> Result<Retained, StoreError> {
        self.retain(*policy).await
    }
}

fn publish(conn: &mut Connection, publish: BatchPublish) -> Result<BatchRun, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) + 1 FROM batch_runs", [], |r| r.get(0))?;
    let published_at = now_micros();

    delete_days(&tx, &publish.days)?;

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

    super::speed::insert_rejects(&tx, &publish.rejects, "batch", published_at)?;

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

/// Deletes the bars of `days`, one key range per interval and symbol: the
/// key is `("interval", symbol, start)`, so a range of starts alone would
/// scan every bar of the interval, a cost that grows with the history held.
fn delete_days(tx: &Connection, days: &[DaySummary]) -> Result<(), StoreError> {
    let intervals =
        tx.prepare(&distinct_intervals())?.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    let mut symbols = tx.prepare_cached(&distinct("batch_bars", "symbol", r#""interval" = ?1 AND "#))?;
    let mut delete = tx.prepare_cached(
        r#"DELETE FROM batch_bars WHERE "interval" = ?1 AND symbol = ?2 AND start >= ?3 AND start < ?4"#,
    )?;
    for interval in &intervals {
        let names = symbols.query_map([interval], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        for day in days {
            for name in &names {
                delete.execute(params![interval, name, day.day * NANOS_PER_DAY, (day.day + 1) * NANOS_PER_DAY])?;
            }
        }
    }
    Ok(())
}

fn outside(bar: &Bar) -> StoreError {
    StoreError::Range(format!(
        "the {} {} bar at {} is not in any day this publish replaces",
        bar.symbol,
        bar.interval,
        format_rfc3339(bar.start)
    ))
}

fn manifest(conn: &mut Connection) -> Result<Vec<FileManifest>, StoreError> {
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
