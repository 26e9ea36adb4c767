//! The signal role in SQLite: a bot step is one `BEGIN IMMEDIATE`
//! transaction on the write connection; reads are snapshots on the read
//! connections. Money is integers of 10^-8, times integer nanoseconds.

use super::SqliteStore;
use super::read::symbol;
use crate::fixed::Price;
use crate::interval::Interval;
use crate::signal::{Fill, Side, Signal};
use crate::store::common::{Labels, now_micros, to_i64};
use crate::store::signals::{QueryValue, query_sql, values_from_json, values_json};
use crate::store::{
    BotCursor, Position, SignalChange, SignalChanges, SignalCommit, SignalQuery, SignalStore, StoreError,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

#[async_trait::async_trait]
impl SignalStore for SqliteStore {
    async fn commit_signals(&self, commit: &SignalCommit) -> Result<(), StoreError> {
        commit.check()?;
        let commit = commit.clone();
        self.write(move |conn| self::commit(conn, &commit)).await
    }

    async fn bot_progress(&self, strategy: &str, interval: Interval) -> Result<Vec<BotCursor>, StoreError> {
        let strategy = strategy.to_owned();
        self.read(move |conn| progress(conn, &strategy, interval)).await
    }

    async fn signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        let query = query.clone();
        self.read(move |conn| signals(conn, &query)).await
    }

    async fn fills(&self, query: &SignalQuery) -> Result<Vec<Fill>, StoreError> {
        let query = query.clone();
        self.read(move |conn| fills(conn, &query)).await
    }

    async fn positions(&self, strategy: Option<&str>) -> Result<Vec<Position>, StoreError> {
        let strategy = strategy.map(str::to_owned);
        self.read(move |conn| positions(conn, strategy.as_deref())).await
    }

    async fn signal_changes(
        &self,
        strategy: Option<&str>,
        since: i64,
        limit: usize,
    ) -> Result<SignalChanges, StoreError> {
        let strategy = strategy.map(str::to_owned);
        self.read(move |conn| changes(conn, strategy.as_deref(), since, limit)).await
    }

    async fn published(&self, strategy: &str, topic: &str) -> Result<i64, StoreError> {
        let (strategy, topic) = (strategy.to_owned(), topic.to_owned());
        self.read(move |conn| {
            let seq = conn
                .query_row(
                    "SELECT published_seq FROM bot_outbox WHERE strategy = ?1 AND topic = ?2",
                    params![strategy, topic],
                    |row| row.get(0),
                )
                .optional()?;
            Ok(seq.unwrap_or(0))
        })
        .await
    }

    async fn mark_published(&self, strategy: &str, topic: &str, seq: i64) -> Result<(), StoreError> {
        let (strategy, topic) = (strategy.to_owned(), topic.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO bot_outbox (strategy, topic, published_seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT (strategy, topic) DO UPDATE
                 SET published_seq = MAX(published_seq, excluded.published_seq)",
                params![strategy, topic, seq],
            )?;
            Ok(())
        })
        .await
    }
}

fn commit(conn: &mut Connection, commit: &SignalCommit) -> Result<(), StoreError> {
    let now = now_micros();
    let label = commit.interval.to_string();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut next: i64 = tx.query_row("SELECT signal_seq FROM bot_status WHERE id = 1", [], |row| row.get(0))?;
        let mut insert = tx.prepare_cached(
            r#"INSERT INTO bot_signals (strategy, symbol, "interval", start, side, close, "values", reason, seq,
                   created_at)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING"#,
        )?;
        for signal in &commit.signals {
            let values = values_json(&signal.values)?;
            let inserted = insert.execute(params![
                signal.strategy.as_str(),
                signal.symbol.as_str(),
                label,
                signal.start,
                signal.side.as_str(),
                signal.close.0,
                values,
                signal.reason,
                next + 1,
                now
            ])?;
            next += to_i64(inserted as u64, "signals")?;
        }
        tx.execute("UPDATE bot_status SET signal_seq = ?1 WHERE id = 1", [next])?;

        let mut insert = tx.prepare_cached(
            "INSERT INTO bot_fills (strategy, symbol, time, side, price, quantity, fee)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        )?;
        for fill in &commit.fills {
            insert.execute(params![
                fill.strategy.as_str(),
                fill.symbol.as_str(),
                fill.time,
                fill.side.as_str(),
                fill.price.0,
                fill.quantity,
                fill.fee
            ])?;
        }
        let mut upsert = tx.prepare_cached(
            "INSERT INTO bot_positions (strategy, symbol, quantity, entry_price, last_price, realized_pnl, fees, time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (strategy, symbol) DO UPDATE SET quantity = excluded.quantity,
                 entry_price = excluded.entry_price, last_price = excluded.last_price,
                 realized_pnl = excluded.realized_pnl, fees = excluded.fees, time = excluded.time",
        )?;
        for p in &commit.positions {
            upsert.execute(params![
                p.strategy,
                p.symbol.as_str(),
                p.quantity,
                p.entry_price.0,
                p.last_price.0,
                p.realized_pnl,
                p.fees,
                p.time
            ])?;
        }
        let mut upsert = tx.prepare_cached(
            r#"INSERT INTO bot_progress (strategy, "interval", symbol, last_start, updated_at)
               VALUES (?1, ?2, ?3, ?4, ?5)
               ON CONFLICT (strategy, "interval", symbol) DO UPDATE
               SET last_start = MAX(last_start, excluded.last_start), updated_at = excluded.updated_at"#,
        )?;
        for cursor in &commit.progress {
            upsert.execute(params![commit.strategy, label, cursor.symbol.as_str(), cursor.last_start, now])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn side(text: String) -> Result<Side, StoreError> {
    Side::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("side {text:?} is neither buy nor sell")))
}

fn progress(conn: &mut Connection, strategy: &str, interval: Interval) -> Result<Vec<BotCursor>, StoreError> {
    let mut statement = conn.prepare_cached(
        r#"SELECT symbol, last_start FROM bot_progress WHERE strategy = ?1 AND "interval" = ?2 ORDER BY symbol"#,
    )?;
    let mut rows = statement.query(params![strategy, interval.to_string()])?;
    let mut cursors = Vec::new();
    while let Some(row) = rows.next()? {
        cursors.push(BotCursor { symbol: symbol(row.get(0)?)?, last_start: row.get(1)? });
    }
    Ok(cursors)
}

const SIGNAL_COLUMNS: &str = r#"strategy, symbol, "interval", start, side, close, "values", reason"#;

fn signal(row: &Row<'_>, at: usize, labels: &mut Labels) -> Result<Signal, StoreError> {
    let label: String = row.get(at + 2)?;
    let values: String = row.get(at + 6)?;
    Ok(Signal {
        strategy: row.get::<_, String>(at)?.into(),
        symbol: symbol(row.get(at + 1)?)?,
        interval: labels.interval(&label)?,
        start: row.get(at + 3)?,
        side: side(row.get(at + 4)?)?,
        close: Price(row.get(at + 5)?),
        values: values_from_json(&values)?.into_iter().map(|(name, v)| (name.into(), v)).collect(),
        reason: row.get(at + 7)?,
    })
}

/// The values of a query in SQLite's types.
fn bound(values: Vec<QueryValue>) -> Vec<Value> {
    values
        .into_iter()
        .map(|value| match value {
            QueryValue::Text(text) => Value::Text(text),
            QueryValue::Time(n) | QueryValue::Count(n) => Value::Integer(n),
        })
        .collect()
}

fn signals(conn: &mut Connection, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
    let (conditions, values) = query_sql(query, "start", |n| format!("?{n}"));
    let mut statement = conn.prepare_cached(&format!("SELECT {SIGNAL_COLUMNS} FROM bot_signals WHERE {conditions}"))?;
    let mut rows = statement.query(params_from_iter(bound(values)))?;
    let (mut signals, mut labels) = (Vec::new(), Labels::default());
    while let Some(row) = rows.next()? {
        signals.push(signal(row, 0, &mut labels)?);
    }
    Ok(signals)
}

fn fills(conn: &mut Connection, query: &SignalQuery) -> Result<Vec<Fill>, StoreError> {
    let (conditions, values) = query_sql(query, "time", |n| format!("?{n}"));
    let mut statement = conn.prepare_cached(&format!(
        "SELECT strategy, symbol, time, side, price, quantity, fee FROM bot_fills WHERE {conditions}"
    ))?;
    let mut rows = statement.query(params_from_iter(bound(values)))?;
    let mut fills = Vec::new();
    while let Some(row) = rows.next()? {
        fills.push(Fill {
            strategy: row.get::<_, String>(0)?.into(),
            symbol: symbol(row.get(1)?)?,
            time: row.get(2)?,
            side: side(row.get(3)?)?,
            price: Price(row.get(4)?),
            quantity: row.get(5)?,
            fee: row.get(6)?,
        });
    }
    Ok(fills)
}

fn positions(conn: &mut Connection, strategy: Option<&str>) -> Result<Vec<Position>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT strategy, symbol, quantity, entry_price, last_price, realized_pnl, fees, time FROM bot_positions
         WHERE ?1 IS NULL OR strategy = ?1 ORDER BY strategy, symbol",
    )?;
    let mut rows = statement.query([strategy])?;
    let mut positions = Vec::new();
    while let Some(row) = rows.next()? {
        positions.push(Position {
            strategy: row.get(0)?,
            symbol: symbol(row.get(1)?)?,
            quantity: row.get(2)?,
            entry_price: Price(row.get(3)?),
            last_price: Price(row.get(4)?),
            realized_pnl: row.get(5)?,
            fees: row.get(6)?,
            time: row.get(7)?,
        });
    }
    Ok(positions)
}

fn changes(
    conn: &mut Connection,
    strategy: Option<&str>,
    since: i64,
    limit: usize,
) -> Result<SignalChanges, StoreError> {
    let tx = conn.transaction()?;
    let head: i64 = tx.query_row("SELECT signal_seq FROM bot_status WHERE id = 1", [], |row| row.get(0))?;
    let mut signals = Vec::new();
    {
        let mut statement = tx.prepare_cached(&format!(
            "SELECT seq, {SIGNAL_COLUMNS} FROM bot_signals WHERE seq > ?1 AND (?2 IS NULL OR strategy = ?2)
             ORDER BY seq LIMIT ?3"
        ))?;
        let mut rows = statement.query(params![since, strategy, i64::try_from(limit).unwrap_or(i64::MAX)])?;
        let mut labels = Labels::default();
        while let Some(row) = rows.next()? {
            signals.push(SignalChange { seq: row.get(0)?, signal: signal(row, 1, &mut labels)? });
        }
    }
    tx.commit()?;
    Ok(SignalChanges::new(signals, head, since, limit))
}
