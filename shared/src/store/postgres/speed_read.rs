//! Reads of what the speed layer committed, for readers: its status, late
//! trades and the bars changed since a change number.

use super::PgTime;
use super::numeric::{PgNumeric, units};
use super::read::{snapshot, symbol};
use crate::bar::Bar;
use crate::fixed::{Price, Size, Volume};
use crate::interval::Interval;
use crate::store::StoreError;
use crate::store::common::to_u64;
use crate::store::serving::OFFSET_COLUMNS;
use crate::store::speed::{LateTrade, PartitionOffset, SpeedBar, SpeedChange, SpeedChanges, SpeedStatus};
use crate::tick::{Symbol, Tick};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

/// A position from the first five columns of `row` ([`OFFSET_COLUMNS`]' order).
pub(super) fn offset(row: &Row) -> Result<PartitionOffset, StoreError> {
    Ok(PartitionOffset {
        topic: row.try_get(0)?,
        partition: row.try_get(1)?,
        next_offset: row.try_get(2)?,
        replay_from: row.try_get(3)?,
        end_offset: row.try_get(4)?,
    })
}

pub(super) async fn status(client: &mut Client) -> Result<SpeedStatus, StoreError> {
    let tx = snapshot(client).await?;
    let row = tx.query_one("SELECT watermark_ns, updated_at, change_seq FROM speed_status WHERE id = 1", &[]).await?;
    let offsets = tx.query(&format!(r#"{OFFSET_COLUMNS} ORDER BY topic, "partition""#), &[]).await?;
    tx.commit().await?;
    Ok(SpeedStatus {
        watermark: row.try_get(0)?,
        updated_at: row.try_get::<_, Option<PgTime>>(1)?.map(|t| t.0),
        change_seq: row.try_get(2)?,
        offsets: offsets.iter().map(offset).collect::<Result<_, _>>()?,
    })
}

pub(super) async fn late(client: &Client, limit: usize) -> Result<Vec<LateTrade>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            r#"SELECT source, "position", symbol, ts_ns, price, size, seq, reason FROM late_trades
               ORDER BY seen_at DESC, source DESC, "position" DESC LIMIT $1"#,
            &[&limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(LateTrade {
                source: row.try_get(0)?,
                position: to_u64(row.try_get(1)?, "late trade position")?,
                tick: Tick {
                    symbol: symbol(row, 2)?,
                    ts: row.try_get(3)?,
                    price: Price(units(row, 4)?),
                    size: Size(units(row, 5)?),
                    seq: to_u64(row.try_get(6)?, "late trade seq")?,
                },
                reason: row.try_get(7)?,
            })
        })
        .collect()
}

pub(super) async fn changes(
    client: &mut Client,
    interval: Interval,
    symbols: Option<&[Symbol]>,
    since: i64,
    limit: usize,
) -> Result<SpeedChanges, StoreError> {
    let label = interval.to_string();
    let count = i64::try_from(limit).unwrap_or(i64::MAX);
    let names: Vec<&str> = symbols.unwrap_or_default().iter().map(Symbol::as_str).collect();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&label, &since, &count];
    let mut sql = String::from(
        r#"SELECT change_seq, symbol, start, open, high, low, close, volume, vwap, trades, first_ts_ns, last_ts_ns,
               "final" FROM speed_bars WHERE "interval" = $1 AND change_seq > $2"#,
    );
    if symbols.is_some() {
        sql.push_str(" AND symbol = ANY($4)");
        params.push(&names);
    }
    sql.push_str(" ORDER BY change_seq LIMIT $3");

    let tx = snapshot(client).await?;
    let head: i64 = tx.query_one("SELECT change_seq FROM speed_status WHERE id = 1", &[]).await?.try_get(0)?;
    let rows = tx.query(&sql, &params).await?;
    tx.commit().await?;
    let changes = rows
        .iter()
        .map(|row| {
            let bar = Bar {
                symbol: symbol(row, 1)?,
                interval,
                start: row.try_get::<_, PgTime>(2)?.0,
                open: Price(units(row, 3)?),
                high: Price(units(row, 4)?),
                low: Price(units(row, 5)?),
                close: Price(units(row, 6)?),
                volume: Volume(row.try_get::<_, PgNumeric>(7)?.0),
                vwap: Price(units(row, 8)?),
                trades: to_u64(row.try_get(9)?, "trades")?,
                first_ts: row.try_get(10)?,
                last_ts: row.try_get(11)?,
            };
            Ok(SpeedChange { seq: row.try_get(0)?, bar: SpeedBar { bar, is_final: row.try_get(12)? } })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(SpeedChanges::new(changes, head, since, limit))
}
