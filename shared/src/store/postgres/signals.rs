//! The signal role in PostgreSQL: a bot step is one transaction on the
//! write connection, each table written by one statement over arrays
//! (`unnest`); reads are `REPEATABLE READ READ ONLY` snapshots.
//!
//! The step first takes the `bot_status` row (numbering its signals), so
//! the numbers of concurrent bots become visible in commit order; a signal
//! already stored under its key keeps its row, and its number is skipped.

use super::numeric::{PgNumeric, units};
use super::read::{snapshot, symbol};
use super::{PgTime, PostgresStore};
use crate::fixed::Price;
use crate::interval::Interval;
use crate::signal::{Fill, Side, Signal};
use crate::store::common::{Labels, now_micros, to_i64};
use crate::store::signals::{QueryValue, query_sql, values_from_json, values_json};
use crate::store::{
    BotCursor, Position, SignalChange, SignalChanges, SignalCommit, SignalQuery, SignalStore, StoreError,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

#[async_trait::async_trait]
impl SignalStore for PostgresStore {
    async fn commit_signals(&self, commit: &SignalCommit) -> Result<(), StoreError> {
        commit.check()?;
        self::commit(&mut *self.writer().await?, commit).await
    }

    async fn bot_progress(&self, strategy: &str, interval: Interval) -> Result<Vec<BotCursor>, StoreError> {
        let rows = self
            .reader()
            .await?
            .client
            .query(
                r#"SELECT symbol, last_start FROM bot_progress WHERE strategy = $1 AND "interval" = $2
                   ORDER BY symbol"#,
                &[&strategy, &interval.to_string()],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(BotCursor { symbol: symbol(row, 0)?, last_start: row.try_get::<_, PgTime>(1)?.0 }))
            .collect()
    }

    async fn signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        let (conditions, values) = query_sql(query, "start", |n| format!("${n}"));
        let sql = format!("SELECT {SIGNAL_COLUMNS} FROM bot_signals WHERE {conditions}");
        let rows = read(&self.reader().await?.client, &sql, values).await?;
        let mut labels = Labels::default();
        rows.iter().map(|row| signal(row, 0, &mut labels)).collect()
    }

    async fn fills(&self, query: &SignalQuery) -> Result<Vec<Fill>, StoreError> {
        let (conditions, values) = query_sql(query, "time", |n| format!("${n}"));
        let sql =
            format!("SELECT strategy, symbol, time, side, price, quantity, fee FROM bot_fills WHERE {conditions}");
        let rows = read(&self.reader().await?.client, &sql, values).await?;
        rows.iter()
            .map(|row| {
                Ok(Fill {
                    strategy: row.try_get::<_, &str>(0)?.into(),
                    symbol: symbol(row, 1)?,
                    time: row.try_get::<_, PgTime>(2)?.0,
                    side: side(row, 3)?,
                    price: Price(units(row, 4)?),
                    quantity: units(row, 5)?,
                    fee: units(row, 6)?,
                })
            })
            .collect()
    }

    async fn positions(&self, strategy: Option<&str>) -> Result<Vec<Position>, StoreError> {
        let rows = self
            .reader()
            .await?
            .client
            .query(
                "SELECT strategy, symbol, quantity, entry_price, last_price, realized_pnl, fees, time
                 FROM bot_positions WHERE $1::text IS NULL OR strategy = $1 ORDER BY strategy, symbol",
                &[&strategy],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Position {
                    strategy: row.try_get(0)?,
                    symbol: symbol(row, 1)?,
                    quantity: units(row, 2)?,
                    entry_price: Price(units(row, 3)?),
                    last_price: Price(units(row, 4)?),
                    realized_pnl: units(row, 5)?,
                    fees: units(row, 6)?,
                    time: row.try_get::<_, PgTime>(7)?.0,
                })
            })
            .collect()
    }

    async fn signal_changes(
        &self,
        strategy: Option<&str>,
        since: i64,
        limit: usize,
    ) -> Result<SignalChanges, StoreError> {
        let count = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut reader = self.reader().await?;
        let tx = snapshot(&mut reader.client).await?;
        let head: i64 = tx.query_one("SELECT signal_seq FROM bot_status WHERE id = 1", &[]).await?.try_get(0)?;
        let sql = format!(
            "SELECT seq, {SIGNAL_COLUMNS} FROM bot_signals WHERE seq > $1 AND ($2::text IS NULL OR strategy = $2)
             ORDER BY seq LIMIT $3"
        );
        let rows = tx.query(&sql, &[&since, &strategy, &count]).await?;
        tx.commit().await?;
        let mut labels = Labels::default();
        let signals = rows
            .iter()
            .map(|row| Ok(SignalChange { seq: row.try_get(0)?, signal: signal(row, 1, &mut labels)? }))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SignalChanges::new(signals, head, since, limit))
    }

    async fn published(&self, strategy: &str, topic: &str) -> Result<i64, StoreError> {
        let row = self
            .reader()
            .await?
            .client
            .query_opt("SELECT published_seq FROM bot_outbox WHERE strategy = $1 AND topic = $2", &[&strategy, &topic])
            .await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?.unwrap_or(0))
    }

    async fn mark_published(&self, strategy: &str, topic: &str, seq: i64) -> Result<(), StoreError> {
        self.writer()
            .await?
            .execute(
                "INSERT INTO bot_outbox (strategy, topic, published_seq) VALUES ($1, $2, $3)
                 ON CONFLICT (strategy, topic) DO UPDATE
                 SET published_seq = GREATEST(bot_outbox.published_seq, excluded.published_seq)",
                &[&strategy, &topic, &seq],
            )
            .await?;
        Ok(())
    }
}

async fn commit(client: &mut Client, commit: &SignalCommit) -> Result<(), StoreError> {
    let now = PgTime(now_micros());
    let label = commit.interval.to_string();
    let tx = client.transaction().await?;
    let count = to_i64(commit.signals.len() as u64, "signals")?;
    let base: i64 = tx
        .query_one(
            "UPDATE bot_status SET signal_seq = signal_seq + $1 WHERE id = 1 RETURNING signal_seq - $1",
            &[&count],
        )
        .await?
        .try_get(0)?;
    if !commit.signals.is_empty() {
        let s = &commit.signals;
        let symbols: Vec<&str> = s.iter().map(|s| s.symbol.as_str()).collect();
        let starts: Vec<PgTime> = s.iter().map(|s| PgTime(s.start)).collect();
        let sides: Vec<&str> = s.iter().map(|s| s.side.as_str()).collect();
        let closes: Vec<PgNumeric> = s.iter().map(|s| PgNumeric(i128::from(s.close.0))).collect();
        let values = s.iter().map(|s| values_json(&s.values)).collect::<Result<Vec<_>, _>>()?;
        let reasons: Vec<String> = s.iter().map(|s| s.reason.replace('\0', "\u{fffd}")).collect();
        tx.execute(
            r#"INSERT INTO bot_signals (strategy, symbol, "interval", start, side, close, "values", reason, seq,
                   created_at)
               SELECT $1::text, u.symbol, $2::text, u.start, u.side, u.close, u.v::jsonb, u.reason, $3::bigint + u.ord,
                   $4::timestamptz
               FROM unnest($5::text[], $6::timestamptz[], $7::text[], $8::numeric[], $9::text[], $10::text[])
                   WITH ORDINALITY AS u(symbol, start, side, close, v, reason, ord)
               ON CONFLICT DO NOTHING"#,
            &[&commit.strategy, &label, &base, &now, &symbols, &starts, &sides, &closes, &values, &reasons],
        )
        .await?;
    }
    if !commit.fills.is_empty() {
        let f = &commit.fills;
        let symbols: Vec<&str> = f.iter().map(|f| f.symbol.as_str()).collect();
        let times: Vec<PgTime> = f.iter().map(|f| PgTime(f.time)).collect();
        let sides: Vec<&str> = f.iter().map(|f| f.side.as_str()).collect();
        let prices: Vec<PgNumeric> = f.iter().map(|f| PgNumeric(i128::from(f.price.0))).collect();
        let quantities: Vec<PgNumeric> = f.iter().map(|f| PgNumeric(i128::from(f.quantity))).collect();
        let fees: Vec<PgNumeric> = f.iter().map(|f| PgNumeric(i128::from(f.fee))).collect();
        tx.execute(
            "INSERT INTO bot_fills (strategy, symbol, time, side, price, quantity, fee)
             SELECT $1::text, * FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::numeric[], $6::numeric[],
                 $7::numeric[])
             ON CONFLICT DO NOTHING",
            &[&commit.strategy, &symbols, &times, &sides, &prices, &quantities, &fees],
        )
        .await?;
    }
    if !commit.positions.is_empty() {
        let p = &commit.positions;
        let numeric = |value: fn(&Position) -> i64| -> Vec<PgNumeric> {
            p.iter().map(|p| PgNumeric(i128::from(value(p)))).collect()
        };
        let symbols: Vec<&str> = p.iter().map(|p| p.symbol.as_str()).collect();
        let times: Vec<PgTime> = p.iter().map(|p| PgTime(p.time)).collect();
        tx.execute(
            "INSERT INTO bot_positions (strategy, symbol, quantity, entry_price, last_price, realized_pnl, fees, time)
             SELECT $1::text, * FROM unnest($2::text[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[],
                 $7::numeric[], $8::timestamptz[])
             ON CONFLICT (strategy, symbol) DO UPDATE SET quantity = excluded.quantity,
                 entry_price = excluded.entry_price, last_price = excluded.last_price,
                 realized_pnl = excluded.realized_pnl, fees = excluded.fees, time = excluded.time",
            &[
                &commit.strategy,
                &symbols,
                &numeric(|p| p.quantity),
                &numeric(|p| p.entry_price.0),
                &numeric(|p| p.last_price.0),
                &numeric(|p| p.realized_pnl),
                &numeric(|p| p.fees),
                &times,
            ],
        )
        .await?;
    }
    if !commit.progress.is_empty() {
        let symbols: Vec<&str> = commit.progress.iter().map(|c| c.symbol.as_str()).collect();
        let starts: Vec<PgTime> = commit.progress.iter().map(|c| PgTime(c.last_start)).collect();
        tx.execute(
            r#"INSERT INTO bot_progress (strategy, "interval", symbol, last_start, updated_at)
               SELECT $1::text, $2::text, *, $5::timestamptz FROM unnest($3::text[], $4::timestamptz[])
               ON CONFLICT (strategy, "interval", symbol) DO UPDATE
               SET last_start = GREATEST(bot_progress.last_start, excluded.last_start),
                   updated_at = excluded.updated_at"#,
            &[&commit.strategy, &label, &symbols, &starts, &now],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

const SIGNAL_COLUMNS: &str = r#"strategy, symbol, "interval", start, side, close, "values"::text, reason"#;

/// Runs one read of a signal or fill query.
async fn read(client: &Client, sql: &str, values: Vec<QueryValue>) -> Result<Vec<Row>, StoreError> {
    let bound: Vec<Box<dyn ToSql + Sync + Send>> = values
        .into_iter()
        .map(|value| -> Box<dyn ToSql + Sync + Send> {
            match value {
                QueryValue::Text(text) => Box::new(text),
                QueryValue::Time(ns) => Box::new(PgTime(ns)),
                QueryValue::Count(n) => Box::new(n),
            }
        })
        .collect();
    let params: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect();
    Ok(client.query(sql, &params).await?)
}

fn side(row: &Row, column: usize) -> Result<Side, StoreError> {
    let text: &str = row.try_get(column)?;
    Side::parse(text).ok_or_else(|| StoreError::Corrupt(format!("side {text:?} is neither buy nor sell")))
}

fn signal(row: &Row, at: usize, labels: &mut Labels) -> Result<Signal, StoreError> {
    let label: &str = row.try_get(at + 2)?;
    Ok(Signal {
        strategy: row.try_get::<_, &str>(at)?.into(),
        symbol: symbol(row, at + 1)?,
        interval: labels.interval(label)?,
        start: row.try_get::<_, PgTime>(at + 3)?.0,
        side: side(row, at + 4)?,
        close: Price(units(row, at + 5)?),
        values: values_from_json(row.try_get(at + 6)?)?.into_iter().map(|(name, v)| (name.into(), v)).collect(),
        reason: row.try_get(at + 7)?,
    })
}
