//! The read role in SQLite: every read is one deferred transaction on a
//! read connection, a snapshot of one commit in WAL mode.

use super::SqliteStore;
use crate::bar::Bar;
use crate::codec::Reject;
use crate::fixed::{Price, Volume};
use crate::interval::Interval;
use crate::store::common::{self, BATCH_DAY_FILES, BATCH_DAYS, Bound, Labels, Part, parts, to_u64, with_files};
use crate::store::{
    BarQuery, Bars, BatchDay, DayFile, LateTrade, ReadStore, SpeedChanges, StoreError, StoreStats, View, ViewBar,
};
use crate::tick::Symbol;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

#[async_trait::async_trait]
impl ReadStore for SqliteStore {
    async fn bars(&self, query: &BarQuery) -> Result<Bars, StoreError> {
        let query = query.clone();
        self.read(move |conn| bars(conn, &query, false)).await
    }

    async fn newest_bars(&self, query: &BarQuery) -> Result<Bars, StoreError> {
        let query = query.clone();
        self.read(move |conn| bars(conn, &query, true)).await
    }

    async fn latest(&self, symbols: &[Symbol], intervals: &[Interval]) -> Result<Bars, StoreError> {
        let (symbols, intervals) = (symbols.to_vec(), intervals.to_vec());
        self.read(move |conn| super::serving::latest(conn, &symbols, &intervals)).await
    }

    async fn symbols(&self) -> Result<Vec<Symbol>, StoreError> {
        self.read(super::serving::symbols).await
    }

    async fn speed_changes(
        &self,
        interval: Interval,
        symbols: Option<&[Symbol]>,
        since: i64,
        limit: usize,
    ) -> Result<SpeedChanges, StoreError> {
        let symbols = symbols.map(<[Symbol]>::to_vec);
        self.read(move |conn| super::speed::changes(conn, interval, symbols.as_deref(), since, limit)).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.read(super::serving::stats).await
    }

    async fn rejects(&self, limit: usize) -> Result<Vec<Reject>, StoreError> {
        self.read(move |conn| rejects(conn, limit)).await
    }

    async fn late_trades(&self, limit: usize) -> Result<Vec<LateTrade>, StoreError> {
        self.read(move |conn| super::speed::late(conn, limit)).await
    }

    async fn batch_days(&self, from: i64, to: i64) -> Result<Vec<BatchDay>, StoreError> {
        self.read(move |conn| batch_days(conn, from, to)).await
    }
}

fn batch_days(conn: &mut Connection, from: i64, to: i64) -> Result<Vec<BatchDay>, StoreError> {
    let tx = conn.transaction()?;
    let mut days = Vec::new();
    {
        let mut statement = tx.prepare_cached(BATCH_DAYS)?;
        let mut rows = statement.query(params![from, to])?;
        while let Some(r) = rows.next()? {
            days.push(BatchDay {
                day: r.get(0)?,
                version: r.get(1)?,
                trades: to_u64(r.get(2)?, "trades")?,
                bars: to_u64(r.get(3)?, "bars")?,
                published_at: r.get(4)?,
                files: Vec::new(),
            });
        }
        let mut statement = tx.prepare_cached(BATCH_DAY_FILES)?;
        let mut rows = statement.query(params![from, to])?;
        let mut files = Vec::new();
        while let Some(r) = rows.next()? {
            let file = DayFile {
                path: r.get(1)?,
                bytes: to_u64(r.get(2)?, "file size")?,
                modified_ns: r.get(3)?,
                version: r.get(4)?,
            };
            files.push((r.get(0)?, file));
        }
        days = with_files(days, files);
    }
    tx.commit()?;
    Ok(days)
}

/// The bars of `query` in one snapshot; with `newest`, its limit keeps the last ones.
fn bars(conn: &mut Connection, query: &BarQuery, newest: bool) -> Result<Bars, StoreError> {
    let tx = conn.transaction()?;
    let boundary = boundary(&tx)?;
    let (sql, values) = bars_sql(query, &parts(query, boundary), newest);
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let mut bars = Vec::new();
    let mut labels = Labels::default();
    while let Some(row) = rows.next()? {
        bars.push(view_bar(row, &mut labels)?);
    }
    drop(rows);
    drop(stmt);
    tx.commit()?;
    if newest {
        bars.reverse();
    }
    Ok(Bars { boundary, bars })
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

/// A stored symbol, checked.
pub(super) fn symbol(text: String) -> Result<Symbol, StoreError> {
    common::symbol(&text)
}

/// A bar and its view from the columns of [`select`].
pub(super) fn view_bar(row: &rusqlite::Row<'_>, labels: &mut Labels) -> Result<ViewBar, StoreError> {
    let text = |i| row.get_ref(i)?.as_str().map_err(rusqlite::Error::from);
    let view = if row.get::<_, i64>(12)? == 0 { View::Batch } else { View::Speed };
    let bar = Bar {
        symbol: labels.symbol(text(0)?)?,
        interval: labels.interval(text(1)?)?,
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
fn bars_sql(query: &BarQuery, parts: &[Part], newest: bool) -> (String, Vec<Value>) {
    let (sql, values) = common::bars_sql(query, parts, newest, select, |n| format!("?{n}"));
    let values = values
        .into_iter()
        .map(|value| match value {
            Bound::Text(text) => Value::Text(text),
            Bound::Time(n) | Bound::Count(n) => Value::Integer(n),
        })
        .collect();
    (sql, values)
}

fn rejects(conn: &mut Connection, limit: usize) -> Result<Vec<Reject>, StoreError> {
    let mut stmt = conn.prepare_cached(
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
