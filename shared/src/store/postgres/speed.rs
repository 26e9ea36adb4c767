//! A speed commit: binary `COPY` of the bars into a session's staging table,
//! then one transaction of upserts.
//!
//! Binary `COPY` sends money as `NUMERIC` digits (no decimal text to format
//! or parse) and the staging table is a temporary one emptied at every
//! commit, so concurrent writers never see each other's rows. The
//! `speed_status` row is updated last: its row lock orders the change
//! numbers of concurrent committers by commit order and is held only for the
//! final upsert.

use super::numeric::PgNumeric;
use super::speed_read::offset;
use super::{PgTime, PostgresStore};
use crate::codec::Reject;
use crate::interval::Interval;
use crate::store::common::{now_micros, to_i64};
use crate::store::serving::OFFSET_COLUMNS;
use crate::store::speed::{LateTrade, PartitionOffset, SpeedBar, SpeedCommit, prepare};
use crate::store::{SpeedStore, StoreError};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};

#[async_trait::async_trait]
impl SpeedStore for PostgresStore {
    async fn commit_speed(&self, commit: &mut SpeedCommit) -> Result<(), StoreError> {
        self::commit(&mut *self.writer().await?, commit).await
    }

    async fn speed_offsets(&self, topic: &str) -> Result<Vec<PartitionOffset>, StoreError> {
        offsets(&self.reader().await?.client, topic).await
    }

    async fn late_positions(&self, source: &str, from: u64) -> Result<Vec<u64>, StoreError> {
        late_positions(&self.reader().await?.client, source, from).await
    }
}

const BAR_COLUMNS: &str =
    r#"symbol, "interval", start, open, high, low, close, volume, vwap, trades, first_ts_ns, last_ts_ns, "final""#;

/// Creates the session's staging table, once per write connection: the bar
/// columns of `speed_bars` (so their types are defined once, by the
/// migrations) and the order in which the commit gave them.
pub(super) async fn create_staging(client: &Client) -> Result<(), StoreError> {
    client
        .batch_execute(&format!(
            "CREATE TEMPORARY TABLE speed_bars_staging ON COMMIT DELETE ROWS AS
             SELECT {BAR_COLUMNS}, 0::BIGINT AS ord FROM speed_bars WITH NO DATA"
        ))
        .await?;
    Ok(())
}

const COPY_TYPES: [Type; 14] = [
    Type::TEXT,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::NUMERIC,
    Type::INT8,
    Type::INT8,
    Type::INT8,
    Type::BOOL,
    Type::INT8,
];

async fn commit(client: &mut Client, commit: &mut SpeedCommit) -> Result<(), StoreError> {
    prepare(commit)?;
    let now = now_micros();
    let tx = client.transaction().await?;
    stage(&tx, &commit.bars).await?;
    write_offsets(&tx, &commit.offsets, now).await?;
    write_late(&tx, &commit.late, now).await?;
    write_rejects(&tx, &commit.rejects, "speed", now).await?;

    let count = to_i64(commit.bars.len() as u64, "bars")?;
    let base: i64 = tx
        .query_one(
            "UPDATE speed_status SET change_seq = change_seq + $1, watermark_ns = GREATEST(watermark_ns, $2),
                 updated_at = $3 WHERE id = 1 RETURNING change_seq - $1",
            &[&count, &commit.watermark, &PgTime(now)],
        )
        .await?
        .try_get(0)?;
    if count > 0 {
        tx.execute(
            "INSERT INTO bar_symbols SELECT DISTINCT symbol FROM speed_bars_staging ON CONFLICT DO NOTHING",
            &[],
        )
        .await?;
        let upserted = tx
            .execute(
                &format!(
                    r#"INSERT INTO speed_bars ({BAR_COLUMNS}, updated_at, change_seq)
                       SELECT {BAR_COLUMNS}, $1::timestamptz, $2::bigint + ord FROM speed_bars_staging
                       ON CONFLICT (symbol, "interval", start) DO UPDATE SET open = excluded.open,
                           high = excluded.high, low = excluded.low, close = excluded.close,
                           volume = excluded.volume, vwap = excluded.vwap, trades = excluded.trades,
                           first_ts_ns = excluded.first_ts_ns, last_ts_ns = excluded.last_ts_ns,
                           "final" = excluded."final", updated_at = excluded.updated_at,
                           change_seq = excluded.change_seq"#
                ),
                &[&PgTime(now), &base],
            )
            .await?;
        if upserted != commit.bars.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "staged {} speed bars but upserted {upserted}",
                commit.bars.len()
            )));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Copies the bars into the staging table, numbered from 1 in the given order.
async fn stage(tx: &Transaction<'_>, bars: &[SpeedBar]) -> Result<(), StoreError> {
    if bars.is_empty() {
        return Ok(());
    }
    let sink = tx.copy_in(&format!("COPY speed_bars_staging ({BAR_COLUMNS}, ord) FROM STDIN BINARY")).await?;
    let writer = BinaryCopyInWriter::new(sink, &COPY_TYPES);
    let mut writer = std::pin::pin!(writer);
    let mut label: Option<(Interval, String)> = None;
    for (ord, SpeedBar { bar, is_final }) in (1i64..).zip(bars) {
        let label = match &label {
            Some((interval, text)) if *interval == bar.interval => text,
            _ => &label.insert((bar.interval, bar.interval.to_string())).1,
        };
        let money = [bar.open, bar.high, bar.low, bar.close].map(|price| PgNumeric(i128::from(price.0)));
        let row: [&(dyn ToSql + Sync); 14] = [
            &bar.symbol.as_str(),
            label,
            &PgTime(bar.start),
            &money[0],
            &money[1],
            &money[2],
            &money[3],
            &PgNumeric(bar.volume.0),
            &PgNumeric(i128::from(bar.vwap.0)),
            &to_i64(bar.trades, "trades")?,
            &bar.first_ts,
            &bar.last_ts,
            is_final,
            &ord,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await?;
    Ok(())
}

async fn write_offsets(tx: &Transaction<'_>, offsets: &[PartitionOffset], now: i64) -> Result<(), StoreError> {
    if offsets.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = offsets.iter().map(|o| o.topic.as_str()).collect();
    let partitions: Vec<i32> = offsets.iter().map(|o| o.partition).collect();
    let next: Vec<i64> = offsets.iter().map(|o| o.next_offset).collect();
    let replay: Vec<i64> = offsets.iter().map(|o| o.replay_from).collect();
    let end: Vec<Option<i64>> = offsets.iter().map(|o| o.end_offset).collect();
    tx.execute(
        r#"INSERT INTO speed_offsets (topic, "partition", next_offset, replay_from, end_offset, updated_at)
           SELECT t, p, n, r, e, $6::timestamptz
           FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(t, p, n, r, e)
           ON CONFLICT (topic, "partition") DO UPDATE SET next_offset = excluded.next_offset,
               replay_from = excluded.replay_from, end_offset = excluded.end_offset, updated_at = excluded.updated_at"#,
        &[&topics, &partitions, &next, &replay, &end, &PgTime(now)],
    )
    .await?;
    Ok(())
}

/// PostgreSQL text cannot hold NUL.
fn text(s: &str) -> String {
    s.replace('\0', "\u{fffd}")
}

async fn write_late(tx: &Transaction<'_>, late: &[LateTrade], now: i64) -> Result<(), StoreError> {
    if late.is_empty() {
        return Ok(());
    }
    let mut sources = Vec::with_capacity(late.len());
    let mut positions = Vec::with_capacity(late.len());
    let mut symbols = Vec::with_capacity(late.len());
    let mut times = Vec::with_capacity(late.len());
    let mut prices = Vec::with_capacity(late.len());
    let mut sizes = Vec::with_capacity(late.len());
    let mut seqs = Vec::with_capacity(late.len());
    let mut reasons = Vec::with_capacity(late.len());
    for trade in late {
        sources.push(text(&trade.source));
        positions.push(to_i64(trade.position, "late trade position")?);
        symbols.push(trade.tick.symbol.as_str());
        times.push(trade.tick.ts);
        prices.push(PgNumeric(i128::from(trade.tick.price.0)));
        sizes.push(PgNumeric(i128::from(trade.tick.size.0)));
        seqs.push(to_i64(trade.tick.seq, "late trade seq")?);
        reasons.push(text(&trade.reason));
    }
    tx.execute(
        r#"INSERT INTO late_trades (source, "position", symbol, ts_ns, price, size, seq, reason, seen_at)
           SELECT *, $9::timestamptz FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::numeric[],
               $6::numeric[], $7::bigint[], $8::text[])
           ON CONFLICT DO NOTHING"#,
        &[&sources, &positions, &symbols, &times, &prices, &sizes, &seqs, &reasons, &PgTime(now)],
    )
    .await?;
    Ok(())
}

/// Records rejects of `layer`, keeping any already stored at the same position.
pub(super) async fn write_rejects(
    tx: &Transaction<'_>,
    rejects: &[Reject],
    layer: &str,
    seen_at: i64,
) -> Result<(), StoreError> {
    if rejects.is_empty() {
        return Ok(());
    }
    let (mut sources, mut positions, mut reasons, mut raws) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for reject in rejects {
        sources.push(text(&reject.source));
        positions.push(to_i64(reject.position, "reject position")?);
        reasons.push(text(&reject.reason));
        raws.push(text(&reject.raw));
    }
    tx.execute(
        r#"INSERT INTO rejects (source, "position", layer, reason, raw, seen_at)
           SELECT s, p, $5::text, r, w, $6::timestamptz FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS u(s, p, r, w)
           ON CONFLICT DO NOTHING"#,
        &[&sources, &positions, &reasons, &raws, &layer, &PgTime(seen_at)],
    )
    .await?;
    Ok(())
}

async fn offsets(client: &Client, topic: &str) -> Result<Vec<PartitionOffset>, StoreError> {
    let sql = format!(r#"{OFFSET_COLUMNS} WHERE topic = $1 ORDER BY "partition""#);
    client.query(&sql, &[&topic]).await?.iter().map(offset).collect()
}

async fn late_positions(client: &Client, source: &str, from: u64) -> Result<Vec<u64>, StoreError> {
    let from = i64::try_from(from).map_err(|_| StoreError::Range(format!("late trade position {from}")))?;
    let rows = client
        .query(
            r#"SELECT "position" FROM late_trades WHERE source = $1 AND "position" >= $2 ORDER BY "position""#,
            &[&source, &from],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let position: i64 = row.try_get(0)?;
            u64::try_from(position).map_err(|_| StoreError::Corrupt(format!("late trade position {position}")))
        })
        .collect()
}
