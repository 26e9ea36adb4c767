//! The batch role in PostgreSQL: a publish is one transaction that deletes
//! the days and streams their new bars in by a binary `COPY`; the manifest
//! and runs read back.

use super::copy::{BinaryRows, COLUMNS};
use super::{PgTime, PostgresStore};
use crate::bar::Bar;
use crate::interval::Interval;
use crate::store::common::{distinct_intervals, now_micros, to_i64, to_u64};
use crate::store::{BatchPublish, BatchRun, BatchStore, FileManifest, Retained, Retention, StoreError};
use crate::tick::Symbol;
use crate::time::{NANOS_PER_DAY, day_of, format_rfc3339};
use bytes::Bytes;
use futures_util::SinkExt;
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::{Client, Row, Transaction};

#[async_trait::async_trait]
impl BatchStore for PostgresStore {
    async fn publish_batch(&self, publish: BatchPublish) -> Result<BatchRun, StoreError> {
        self::publish(&mut *self.writer().await?, publish).await
    }

    async fn batch_manifest(&self) -> Result<Vec<FileManifest>, StoreError> {
        manifest(&self.reader().await?.client).await
    }

    async fn apply_retention(&self, policy: &Retention) -> Result<Retained, StoreError> {
        self.retain(*policy).await
    }
}

/// Hand the `COPY` its bytes in pieces of about this size.
const COPY_CHUNK: usize = 1 << 20;

/// The publish transaction: deletes the days' bars, copies the new ones in
/// (straight into `batch_bars`, or the day's chunk of the hypertable), and
/// moves the boundary. Readers see the old days until it commits; if
/// anything fails, dropping the transaction rolls it all back.
async fn publish(client: &mut Client, mut publish: BatchPublish) -> Result<BatchRun, StoreError> {
    let bars = std::mem::replace(&mut publish.bars, Box::new(std::iter::empty()));
    let days = publish.days;
    let tx = client.transaction().await?;
    // The row lock serialises publishers: versions follow commit order.
    tx.query_one("SELECT version FROM batch_boundary WHERE id = 1 FOR UPDATE", &[]).await?;
    let version: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) + 1 FROM batch_runs", &[]).await?.try_get(0)?;
    let published_at = now_micros();

    let intervals: Vec<String> =
        tx.query(&distinct_intervals(), &[]).await?.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
    let delete =
        tx.prepare(r#"DELETE FROM batch_bars WHERE "interval" = ANY($1) AND start >= $2 AND start < $3"#).await?;
    for day in &days {
        tx.execute(&delete, &[&intervals, &PgTime(day.day * NANOS_PER_DAY), &PgTime((day.day + 1) * NANOS_PER_DAY)])
            .await?;
    }
    let mut bars_per_day: HashMap<i64, u64> = days.iter().map(|d| (d.day, 0)).collect();
    let mut symbols = BTreeSet::new();
    let copied = copy(&tx, version, bars, &mut bars_per_day, &mut symbols).await?;
    let names: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
    tx.execute("INSERT INTO bar_symbols SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", &[&names]).await?;

    write_days(&tx, &days, &bars_per_day, version, published_at).await?;
    write_files(&tx, &publish.files, &publish.forget_files, version).await?;
    super::speed::write_rejects(&tx, &publish.rejects, "batch", published_at).await?;

    let newest: Option<i64> = tx.query_one("SELECT MAX(day) FROM batch_days", &[]).await?.try_get(0)?;
    let boundary = newest.map(|day| (day + 1) * NANOS_PER_DAY);
    tx.execute(
        "UPDATE batch_boundary SET boundary = $1, version = $2 WHERE id = 1",
        &[&boundary.map(PgTime), &version],
    )
    .await?;
    let run = BatchRun {
        version,
        started_at: publish.started_at,
        published_at,
        boundary,
        days: days.len() as u64,
        trades: days.iter().map(|d| d.trades).sum(),
        bars: copied,
        rejects: publish.rejects.len() as u64,
    };
    tx.execute(
        "INSERT INTO batch_runs (version, started_at, published_at, boundary, days, trades, bars, rejects)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &run.version,
            &PgTime(run.started_at),
            &PgTime(run.published_at),
            &boundary.map(PgTime),
            &to_i64(run.days, "days")?,
            &to_i64(run.trades, "trades")?,
            &to_i64(run.bars, "bars")?,
            &to_i64(run.rejects, "rejects")?,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(run)
}

/// Streams every bar into `batch_bars` as `version` by a binary `COPY`,
/// encoding the next piece while the server stores the last; returns how
/// many bars it copied.
async fn copy(
    tx: &Transaction<'_>,
    version: i64,
    bars: Box<dyn Iterator<Item = Bar> + Send>,
    bars_per_day: &mut HashMap<i64, u64>,
    symbols: &mut BTreeSet<Symbol>,
) -> Result<u64, StoreError> {
    let sink = tx.copy_in::<_, Bytes>(&format!("COPY batch_bars ({COLUMNS}) FROM STDIN (FORMAT binary)")).await?;
    let mut sink = std::pin::pin!(sink);
    let mut rows = BinaryRows::new(version, COPY_CHUNK + 4096);
    let mut label: Option<(Interval, String)> = None;
    let mut count = 0u64;
    for bar in bars {
        match bars_per_day.get_mut(&day_of(bar.start)) {
            Some(n) => *n += 1,
            None => {
                // Dropping the sink fails the `COPY`; dropping the transaction rolls it back.
                return Err(StoreError::Range(format!(
                    "the {} {} bar at {} is not in any day this publish replaces",
                    bar.symbol,
                    bar.interval,
                    format_rfc3339(bar.start)
                )));
            }
        }
        let label = match &label {
            Some((interval, text)) if *interval == bar.interval => text,
            _ => &label.insert((bar.interval, bar.interval.to_string())).1,
        };
        // Bars come in key order, symbol first: the set's largest is this one but once a symbol.
        if symbols.last() != Some(&bar.symbol) {
            symbols.insert(bar.symbol.clone());
        }
        rows.push(&bar, label)?;
        count += 1;
        if rows.len() >= COPY_CHUNK {
            sink.send(rows.take()).await?;
        }
    }
    sink.send(rows.finish()).await?;
    let copied = sink.as_mut().finish().await?;
    if copied != count {
        return Err(StoreError::Corrupt(format!("sent {count} bars to COPY but it stored {copied}")));
    }
    Ok(count)
}

async fn write_days(
    tx: &Transaction<'_>,
    days: &[crate::store::DaySummary],
    bars_per_day: &HashMap<i64, u64>,
    version: i64,
    published_at: i64,
) -> Result<(), StoreError> {
    let empty: Vec<i64> = days.iter().filter(|d| d.trades == 0).map(|d| d.day).collect();
    tx.execute("DELETE FROM batch_days WHERE day = ANY($1)", &[&empty]).await?;
    let kept: Vec<_> = days.iter().filter(|d| d.trades > 0).collect();
    let day: Vec<i64> = kept.iter().map(|d| d.day).collect();
    let trades = kept.iter().map(|d| to_i64(d.trades, "trades")).collect::<Result<Vec<_>, _>>()?;
    let bars = kept
        .iter()
        .map(|d| to_i64(bars_per_day.get(&d.day).copied().unwrap_or(0), "bars"))
        .collect::<Result<Vec<_>, _>>()?;
    tx.execute(
        "INSERT INTO batch_days (day, version, trades, bars, published_at)
         SELECT d, $2, t, b, $3 FROM unnest($1::bigint[], $4::bigint[], $5::bigint[]) AS u(d, t, b)
         ON CONFLICT (day) DO UPDATE SET version = excluded.version, trades = excluded.trades,
             bars = excluded.bars, published_at = excluded.published_at",
        &[&day, &version, &PgTime(published_at), &trades, &bars],
    )
    .await?;
    Ok(())
}

async fn write_files(
    tx: &Transaction<'_>,
    files: &[crate::store::FileManifest],
    forget: &[String],
    version: i64,
) -> Result<(), StoreError> {
    let gone: Vec<&str> = forget.iter().map(String::as_str).chain(files.iter().map(|f| f.path.as_str())).collect();
    tx.execute("DELETE FROM batch_file_days WHERE path = ANY($1)", &[&gone]).await?;
    tx.execute("DELETE FROM batch_files WHERE path = ANY($1)", &[&gone]).await?;
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let bytes = files.iter().map(|f| to_i64(f.bytes, "file size")).collect::<Result<Vec<_>, _>>()?;
    let modified: Vec<i64> = files.iter().map(|f| f.modified_ns).collect();
    tx.execute(
        "INSERT INTO batch_files (path, bytes, modified_ns, version)
         SELECT p, b, m, $4 FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(p, b, m)",
        &[&paths, &bytes, &modified, &version],
    )
    .await?;
    let (day_paths, days): (Vec<&str>, Vec<i64>) =
        files.iter().flat_map(|f| f.days.iter().map(move |d| (f.path.as_str(), *d))).unzip();
    tx.execute(
        "INSERT INTO batch_file_days (path, day) SELECT * FROM unnest($1::text[], $2::bigint[])
         ON CONFLICT DO NOTHING",
        &[&day_paths, &days],
    )
    .await?;
    Ok(())
}

async fn manifest(client: &Client) -> Result<Vec<FileManifest>, StoreError> {
    let mut files = client
        .query("SELECT path, bytes, modified_ns FROM batch_files ORDER BY path", &[])
        .await?
        .iter()
        .map(|r| {
            Ok(FileManifest {
                path: r.try_get(0)?,
                bytes: to_u64(r.try_get(1)?, "file size")?,
                modified_ns: r.try_get(2)?,
                days: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let index: HashMap<String, usize> = files.iter().enumerate().map(|(i, f)| (f.path.clone(), i)).collect();
    for row in client.query("SELECT path, day FROM batch_file_days ORDER BY path, day", &[]).await? {
        let path: &str = row.try_get(0)?;
        if let Some(&i) = index.get(path) {
            files[i].days.push(row.try_get(1)?);
        }
    }
    Ok(files)
}

pub(super) async fn runs(client: &Client, limit: usize) -> Result<Vec<BatchRun>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT version, started_at, published_at, boundary, days, trades, bars, rejects
             FROM batch_runs ORDER BY version DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    rows.iter().map(run).collect()
}

fn run(r: &Row) -> Result<BatchRun, StoreError> {
    Ok(BatchRun {
        version: r.try_get(0)?,
        started_at: r.try_get::<_, PgTime>(1)?.0,
        published_at: r.try_get::<_, PgTime>(2)?.0,
        boundary: r.try_get::<_, Option<PgTime>>(3)?.map(|t| t.0),
        days: to_u64(r.try_get(4)?, "days")?,
        trades: to_u64(r.try_get(5)?, "trades")?,
        bars: to_u64(r.try_get(6)?, "bars")?,
        rejects: to_u64(r.try_get(7)?, "rejects")?,
    })
}
