//! The speed role in SQLite: one `BEGIN IMMEDIATE` transaction per commit on
//! the write connection, bars upserted 64 rows per statement, money as
//! integers of 10^-8; and the reads of what the speed layer committed.
//!
//! SQLite has one writer at a time, so the commit may number its bars first;
//! a read is one deferred transaction on a read connection, a snapshot.

use super::SqliteStore;
use super::read::symbol;
use crate::bar::Bar;
use crate::codec::Reject;
use crate::fixed::{Price, Size, Volume};
use crate::interval::Interval;
use crate::store::common::{Labels, now_micros, to_i64, to_u64};
use crate::store::serving::OFFSET_COLUMNS;
use crate::store::speed::{
    LateTrade, PartitionOffset, SpeedBar, SpeedChange, SpeedChanges, SpeedCommit, SpeedStatus, prepare,
};
use crate::store::{SpeedStore, StoreError};
use crate::tick::{Symbol, Tick};
use crate::time::format_rfc3339;
use rusqlite::types::Value;
use rusqlite::{Connection, Row, Statement, Transaction, TransactionBehavior, params, params_from_iter};

/// Bars per `INSERT`: one statement run instead of 64.
const ROWS: usize = 64;
const COLUMNS: usize = 15;
const BAR_COLUMNS: &str =
    r#"symbol, "interval", start, open, high, low, close, volume, vwap, trades, first_ts_ns, last_ts_ns, "final""#;

fn upsert_sql(rows: usize) -> String {
    let row = format!("({})", ["?"; COLUMNS].join(","));
    format!(
        r#"INSERT INTO speed_bars ({BAR_COLUMNS}, updated_at, change_seq) VALUES {}
           ON CONFLICT ("interval", symbol, start) DO UPDATE SET open = excluded.open, high = excluded.high,
               low = excluded.low, close = excluded.close, volume = excluded.volume, vwap = excluded.vwap,
               trades = excluded.trades, first_ts_ns = excluded.first_ts_ns, last_ts_ns = excluded.last_ts_ns,
               "final" = excluded."final", updated_at = excluded.updated_at, change_seq = excluded.change_seq"#,
        vec![row; rows].join(",")
    )
}

#[async_trait::async_trait]
impl SpeedStore for SqliteStore {
    async fn commit_speed(&self, commit: &mut SpeedCommit) -> Result<(), StoreError> {
        // The writer thread takes the buffers and hands them back, so the
        // caller keeps their capacity for the next commit.
        let taken = std::mem::take(commit);
        let (result, taken) = self
            .write(move |conn| {
                let mut taken = taken;
                Ok((self::commit(conn, &mut taken), taken))
            })
            .await?;
        *commit = taken;
        result
    }

    async fn speed_offsets(&self, topic: &str) -> Result<Vec<PartitionOffset>, StoreError> {
        let topic = topic.to_owned();
        self.read(move |conn| offsets(conn, &topic)).await
    }

    async fn late_positions(&self, source: &str, from: u64) -> Result<Vec<u64>, StoreError> {
        let source = source.to_owned();
        self.read(move |conn| late_positions(conn, &source, from)).await
    }
}

fn commit(conn: &mut Connection, commit: &mut SpeedCommit) -> Result<(), StoreError> {
    prepare(commit)?;
    let now = now_micros();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let count = to_i64(commit.bars.len() as u64, "bars")?;
    let base: i64 = tx.query_row(
        "UPDATE speed_status SET change_seq = change_seq + ?1,
             watermark_ns = COALESCE(MAX(watermark_ns, ?2), watermark_ns, ?2), updated_at = ?3
         WHERE id = 1 RETURNING change_seq - ?1",
        params![count, commit.watermark, now],
        |row| row.get(0),
    )?;
    let mut label = None;
    for (chunk, first) in commit.bars.chunks(ROWS).zip((base + 1..).step_by(ROWS)) {
        let mut statement = tx.prepare_cached(&upsert_sql(chunk.len()))?;
        for (row, (speed, seq)) in chunk.iter().zip(first..).enumerate() {
            bind_bar(&mut statement, row * COLUMNS, speed, &mut label)?;
            statement.raw_bind_parameter(row * COLUMNS + 14, now)?;
            statement.raw_bind_parameter(row * COLUMNS + 15, seq)?;
        }
        statement.raw_execute()?;
    }
    {
        let mut upsert = tx.prepare_cached(
            r#"INSERT INTO speed_offsets (topic, "partition", next_offset, replay_from, end_offset, updated_at)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6)
               ON CONFLICT (topic, "partition") DO UPDATE SET next_offset = excluded.next_offset,
                   replay_from = excluded.replay_from, end_offset = excluded.end_offset,
                   updated_at = excluded.updated_at"#,
        )?;
        for o in &commit.offsets {
            upsert.execute(params![o.topic, o.partition, o.next_offset, o.replay_from, o.end_offset, now])?;
        }
    }
    insert_late(&tx, &commit.late, now)?;
    insert_rejects(&tx, &commit.rejects, "speed", now)?;
    tx.commit()?;
    Ok(())
}

/// Binds one bar's 13 columns after parameter `at`.
fn bind_bar(
    statement: &mut Statement<'_>,
    at: usize,
    speed: &SpeedBar,
    label: &mut Option<(Interval, String)>,
) -> Result<(), StoreError> {
    let bar = &speed.bar;
    let label = match label {
        Some((interval, text)) if *interval == bar.interval => text,
        _ => &label.insert((bar.interval, bar.interval.to_string())).1,
    };
    let volume = i64::try_from(bar.volume.0).map_err(|_| {
        StoreError::Range(format!(
            "speed bar {} {} at {}: volume {} is beyond SQLite's 64-bit integer of 10^-8 units",
            bar.symbol,
            bar.interval,
            format_rfc3339(bar.start),
            bar.volume
        ))
    })?;
    statement.raw_bind_parameter(at + 1, bar.symbol.as_str())?;
    statement.raw_bind_parameter(at + 2, label.as_str())?;
    let numbers =
        [bar.start, bar.open.0, bar.high.0, bar.low.0, bar.close.0, volume, bar.vwap.0, to_i64(bar.trades, "trades")?];
    for (i, number) in numbers.into_iter().chain([bar.first_ts, bar.last_ts, i64::from(speed.is_final)]).enumerate() {
        statement.raw_bind_parameter(at + 3 + i, number)?;
    }
    Ok(())
}

fn insert_late(tx: &Transaction<'_>, late: &[LateTrade], seen_at: i64) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        r#"INSERT INTO late_trades (source, "position", symbol, ts_ns, price, size, seq, reason, seen_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING"#,
    )?;
    for trade in late {
        let tick = &trade.tick;
        insert.execute(params![
            trade.source,
            to_i64(trade.position, "late trade position")?,
            tick.symbol.as_str(),
            tick.ts,
            tick.price.0,
            tick.size.0,
            to_i64(tick.seq, "late trade seq")?,
            trade.reason,
            seen_at
        ])?;
    }
    Ok(())
}

/// Records rejects of `layer`, keeping any already stored at the same position.
pub(super) fn insert_rejects(
    tx: &Transaction<'_>,
    rejects: &[Reject],
    layer: &str,
    seen_at: i64,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        r#"INSERT INTO rejects (source, "position", layer, reason, raw, seen_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING"#,
    )?;
    for reject in rejects {
        let position = to_i64(reject.position, "reject position")?;
        insert.execute(params![reject.source, position, layer, reject.reason, reject.raw, seen_at])?;
    }
    Ok(())
}

/// A position from the first five columns of `row` ([`OFFSET_COLUMNS`]' order).
pub(super) fn offset(row: &Row<'_>) -> rusqlite::Result<PartitionOffset> {
    Ok(PartitionOffset {
        topic: row.get(0)?,
        partition: row.get(1)?,
        next_offset: row.get(2)?,
        replay_from: row.get(3)?,
        end_offset: row.get(4)?,
    })
}

fn offsets(conn: &mut Connection, topic: &str) -> Result<Vec<PartitionOffset>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(r#"{OFFSET_COLUMNS} WHERE topic = ?1 ORDER BY "partition""#))?;
    Ok(statement.query_map([topic], offset)?.collect::<Result<_, _>>()?)
}

pub(super) fn status(conn: &mut Connection) -> Result<SpeedStatus, StoreError> {
    let tx = conn.transaction()?;
    let (watermark, updated_at, change_seq) =
        tx.query_row("SELECT watermark_ns, updated_at, change_seq FROM speed_status WHERE id = 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    let offsets = tx
        .prepare_cached(&format!(r#"{OFFSET_COLUMNS} ORDER BY topic, "partition""#))?
        .query_map([], offset)?
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(SpeedStatus { watermark, updated_at, change_seq, offsets })
}

pub(super) fn late(conn: &mut Connection, limit: usize) -> Result<Vec<LateTrade>, StoreError> {
    let mut statement = conn.prepare_cached(
        r#"SELECT source, "position", symbol, ts_ns, price, size, seq, reason FROM late_trades
           ORDER BY seen_at DESC, source DESC, "position" DESC LIMIT ?1"#,
    )?;
    let mut rows = statement.query([i64::try_from(limit).unwrap_or(i64::MAX)])?;
    let mut late = Vec::new();
    while let Some(row) = rows.next()? {
        let tick = Tick {
            symbol: symbol(row.get(2)?)?,
            ts: row.get(3)?,
            price: Price(row.get(4)?),
            size: Size(row.get(5)?),
            seq: to_u64(row.get(6)?, "late trade seq")?,
        };
        late.push(LateTrade {
            tick,
            source: row.get(0)?,
            position: to_u64(row.get(1)?, "late trade position")?,
            reason: row.get(7)?,
        });
    }
    Ok(late)
}

fn late_positions(conn: &mut Connection, source: &str, from: u64) -> Result<Vec<u64>, StoreError> {
    let mut statement = conn.prepare_cached(
        r#"SELECT "position" FROM late_trades WHERE source = ?1 AND "position" >= ?2 ORDER BY "position""#,
    )?;
    let rows =
        statement.query_map(params![source, to_i64(from, "late trade position")?], |row| row.get::<_, i64>(0))?;
    rows.map(|row| to_u64(row?, "late trade position")).collect()
}

pub(super) fn changes(
    conn: &mut Connection,
    interval: Interval,
    symbols: Option<&[Symbol]>,
    since: i64,
    limit: usize,
) -> Result<SpeedChanges, StoreError> {
    let mut values = vec![
        Value::Text(interval.to_string()),
        Value::Integer(since),
        Value::Integer(limit.try_into().unwrap_or(i64::MAX)),
    ];
    let mut sql =
        format!(r#"SELECT change_seq, {BAR_COLUMNS} FROM speed_bars WHERE "interval" = ?1 AND change_seq > ?2"#);
    if let Some(symbols) = symbols {
        let placeholders: Vec<String> = (4..4 + symbols.len()).map(|n| format!("?{n}")).collect();
        sql.push_str(&format!(" AND symbol IN ({})", placeholders.join(",")));
        values.extend(symbols.iter().map(|s| Value::Text(s.as_str().to_owned())));
    }
    sql.push_str(" ORDER BY change_seq LIMIT ?3");

    let tx = conn.transaction()?;
    let head: i64 = tx.query_row("SELECT change_seq FROM speed_status WHERE id = 1", [], |row| row.get(0))?;
    let mut changes = Vec::new();
    {
        let mut statement = tx.prepare(&sql)?;
        let mut rows = statement.query(params_from_iter(values))?;
        let mut labels = Labels::default();
        while let Some(row) = rows.next()? {
            changes.push(SpeedChange { seq: row.get(0)?, bar: speed_bar(row, &mut labels)? });
        }
    }
    tx.commit()?;
    Ok(SpeedChanges::new(changes, head, since, limit))
}

/// A speed bar from the columns after the first, in `BAR_COLUMNS` order.
fn speed_bar(row: &Row<'_>, labels: &mut Labels) -> Result<SpeedBar, StoreError> {
    let label: String = row.get(2)?;
    let price = |i| row.get(i).map(Price);
    let bar = Bar {
        symbol: symbol(row.get(1)?)?,
        interval: labels.interval(&label)?,
        start: row.get(3)?,
        open: price(4)?,
        high: price(5)?,
        low: price(6)?,
        close: price(7)?,
        volume: Volume(i128::from(row.get::<_, i64>(8)?)),
        vwap: price(9)?,
        trades: to_u64(row.get(10)?, "trades")?,
        first_ts: row.get(11)?,
        last_ts: row.get(12)?,
    };
    Ok(SpeedBar { bar, is_final: row.get::<_, i64>(13)? != 0 })
}
