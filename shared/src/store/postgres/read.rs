//! The read role in PostgreSQL: each read one `REPEATABLE READ READ ONLY`
//! transaction on a pooled connection, so it sees the boundary and both
//! views of one commit.

use super::numeric::{PgNumeric, units};
use super::{PgTime, PostgresStore, Reader, prepared, serving, speed_read};
use crate::bar::Bar;
use crate::codec::Reject;
use crate::fixed::{Price, Volume};
use crate::interval::Interval;
use crate::store::common::{self, BATCH_DAY_FILES, BATCH_DAYS, Bound, Labels, Part, parts, to_u64, with_files};
use crate::store::{
    BarQuery, Bars, BatchDay, DayFile, LateTrade, ReadStore, SpeedChanges, StoreError, StoreStats, View, ViewBar,
};
use crate::tick::Symbol;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, IsolationLevel, Row, Statement, Transaction};

#[async_trait::async_trait]
impl ReadStore for PostgresStore {
    async fn bars(&self, query: &BarQuery) -> Result<Bars, StoreError> {
        bars(&mut *self.reader().await?, query, false).await
    }

    async fn newest_bars(&self, query: &BarQuery) -> Result<Bars, StoreError> {
        bars(&mut *self.reader().await?, query, true).await
    }

    async fn latest(&self, symbols: &[Symbol], intervals: &[Interval]) -> Result<Bars, StoreError> {
        serving::latest(&mut *self.reader().await?, symbols, intervals).await
    }

    async fn symbols(&self) -> Result<Vec<Symbol>, StoreError> {
        serving::symbols(&self.reader().await?.client).await
    }

    async fn speed_changes(
        &self,
        interval: Interval,
        symbols: Option<&[Symbol]>,
        since: i64,
        limit: usize,
    ) -> Result<SpeedChanges, StoreError> {
        speed_read::changes(&mut self.reader().await?.client, interval, symbols, since, limit).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        serving::stats(&mut self.reader().await?.client).await
    }

    async fn rejects(&self, limit: usize) -> Result<Vec<Reject>, StoreError> {
        rejects(&self.reader().await?.client, limit).await
    }

    async fn late_trades(&self, limit: usize) -> Result<Vec<LateTrade>, StoreError> {
        speed_read::late(&self.reader().await?.client, limit).await
    }

    async fn batch_days(&self, from: i64, to: i64) -> Result<Vec<BatchDay>, StoreError> {
        batch_days(&mut self.reader().await?.client, from, to).await
    }
}

async fn batch_days(client: &mut Client, from: i64, to: i64) -> Result<Vec<BatchDay>, StoreError> {
    let tx = snapshot(client).await?;
    let days = tx.query(BATCH_DAYS, &[&from, &to]).await?;
    let files = tx.query(BATCH_DAY_FILES, &[&from, &to]).await?;
    tx.commit().await?;
    let days = days
        .iter()
        .map(|r| {
            Ok(BatchDay {
                day: r.try_get(0)?,
                version: r.try_get(1)?,
                trades: to_u64(r.try_get(2)?, "trades")?,
                bars: to_u64(r.try_get(3)?, "bars")?,
                published_at: r.try_get::<_, PgTime>(4)?.0,
                files: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let files = files
        .iter()
        .map(|r| {
            let file = DayFile {
                path: r.try_get(1)?,
                bytes: to_u64(r.try_get(2)?, "file size")?,
                modified_ns: r.try_get(3)?,
                version: r.try_get(4)?,
            };
            Ok((r.try_get(0)?, file))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(with_files(days, files))
}

/// The bars of `query` in one snapshot; with `newest`, its limit keeps the last ones.
///
/// Usually one round trip: the transaction's four statements go out
/// together, the bars read over the parts of the boundary this connection
/// saw last, and the snapshot's own boundary read beside them confirms the
/// guess. A publish in between (or a first read) misses it, and the read is
/// made again the careful way, the parts from the boundary of its snapshot.
async fn bars(reader: &mut Reader, query: &BarQuery, newest: bool) -> Result<Bars, StoreError> {
    let Reader { client, statements, boundary: seen, .. } = reader;
    let boundary_read = prepared(statements, client, BOUNDARY).await?;
    let guessed = match *seen {
        Some(guess) => {
            let (sql, values) = bars_sql(query, &parts(query, guess), newest);
            let bars_read = prepared(statements, client, &sql).await?;
            let (boundary, rows) = pipelined(client, &boundary_read, &bars_read, &values).await?;
            (boundary == guess).then_some((boundary, rows))
        }
        None => None,
    };
    let (boundary, rows) = match guessed {
        Some(read) => read,
        None => {
            let tx = snapshot(client).await?;
            let boundary = read_boundary(tx.query_opt(&boundary_read, &[]).await?)?;
            let (sql, values) = bars_sql(query, &parts(query, boundary), newest);
            let rows = tx.query(&prepared(statements, &tx, &sql).await?, &params(&values)).await?;
            tx.commit().await?;
            (boundary, rows)
        }
    };
    *seen = Some(boundary);
    let mut labels = Labels::default();
    let mut bars = rows.iter().map(|row| view_bar(row, &mut labels)).collect::<Result<Vec<_>, StoreError>>()?;
    if newest {
        bars.reverse();
    }
    Ok(Bars { boundary, bars })
}

/// One snapshot's boundary and the rows of `bars_read` bound to `values`,
/// in one round trip. Every statement is sent before any answer is awaited,
/// `COMMIT` included, so the transaction ends (or, after an error, rolls
/// back) even if the caller stops waiting.
async fn pipelined(
    client: &Client,
    boundary_read: &Statement,
    bars_read: &Statement,
    values: &[Param],
) -> Result<(Option<i64>, Vec<Row>), StoreError> {
    let params = params(values);
    let (begin, boundary, rows, commit) = futures_util::future::join4(
        client.batch_execute("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        client.query_opt(boundary_read, &[]),
        client.query(bars_read, &params),
        client.batch_execute("COMMIT"),
    )
    .await;
    begin?;
    let (boundary, rows) = (boundary?, rows?);
    commit?;
    Ok((read_boundary(boundary)?, rows))
}

fn params(values: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect()
}

fn read_boundary(row: Option<Row>) -> Result<Option<i64>, StoreError> {
    Ok(row.map(|r| r.try_get::<_, Option<PgTime>>(0)).transpose()?.flatten().map(|t| t.0))
}

/// A `REPEATABLE READ READ ONLY` transaction on `client`: one snapshot, so
/// every statement in it sees the same commit.
pub(super) async fn snapshot(client: &mut Client) -> Result<Transaction<'_>, StoreError> {
    Ok(client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?)
}

const BOUNDARY: &str = "SELECT boundary FROM batch_boundary WHERE id = 1";

/// The boundary in the snapshot of `tx`.
pub(super) async fn boundary(tx: &Transaction<'_>) -> Result<Option<i64>, StoreError> {
    read_boundary(tx.query_opt(BOUNDARY, &[]).await?)
}

/// The symbol in `column` of `row`, checked.
pub(super) fn symbol(row: &Row, column: usize) -> Result<Symbol, StoreError> {
    common::symbol(row.try_get(column)?)
}

/// A bar and its view from the columns of [`select`].
pub(super) fn view_bar(row: &Row, labels: &mut Labels) -> Result<ViewBar, StoreError> {
    let symbol: &str = row.try_get(0)?;
    let label: &str = row.try_get(1)?;
    let price = |i: usize| units(row, i).map(Price);
    let bar = Bar {
        symbol: labels.symbol(symbol)?,
        interval: labels.interval(label)?,
        start: row.try_get::<_, PgTime>(2)?.0,
        open: price(3)?,
        high: price(4)?,
        low: price(5)?,
        close: price(6)?,
        volume: Volume(row.try_get::<_, PgNumeric>(7)?.0),
        vwap: price(8)?,
        trades: to_u64(row.try_get(9)?, "trades")?,
        first_ts: row.try_get(10)?,
        last_ts: row.try_get(11)?,
    };
    let view = if row.try_get::<_, bool>(12)? { View::Speed } else { View::Batch };
    Ok(ViewBar { bar, view })
}

/// The columns [`view_bar`] reads, from `view`'s table, up to a `WHERE`.
pub(super) fn select(view: View) -> String {
    let (table, speed) = match view {
        View::Batch => ("batch_bars", "FALSE"),
        View::Speed => ("speed_bars", "TRUE"),
    };
    format!(
        r#"SELECT symbol, "interval", start, open, high, low, close, volume, vwap, trades, first_ts_ns,
           last_ts_ns, {speed} AS speed FROM {table} WHERE"#
    )
}

type Param = Box<dyn ToSql + Sync + Send>;

/// The SQL and parameters of one snapshot read, in PostgreSQL's dialect.
fn bars_sql(query: &BarQuery, parts: &[Part], newest: bool) -> (String, Vec<Param>) {
    let (sql, values) = common::bars_sql(query, parts, newest, select, |n| format!("${n}"));
    let values = values
        .into_iter()
        .map(|value| -> Param {
            match value {
                Bound::Text(text) => Box::new(text),
                Bound::Time(ts) => Box::new(PgTime(ts)),
                Bound::Count(count) => Box::new(count),
            }
        })
        .collect();
    (sql, values)
}

async fn rejects(client: &Client, limit: usize) -> Result<Vec<Reject>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            r#"SELECT source, "position", reason, raw FROM rejects
               ORDER BY seen_at DESC, source DESC, "position" DESC LIMIT $1"#,
            &[&limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Reject {
                source: r.try_get(0)?,
                position: to_u64(r.try_get(1)?, "reject position")?,
                reason: r.try_get(2)?,
                raw: r.try_get(3)?,
            })
        })
        .collect()
}
