//! The serving layer's reads in PostgreSQL: symbols by loose index scans,
//! the newest bars by one `LATERAL` probe per part, counts in one statement.

use super::PgTime;
use super::read::{boundary, select, symbol, view_bar};
use crate::interval::Interval;
use crate::store::common::Labels;
use crate::store::common::to_u64;
use crate::store::serving::{COUNTS, PARTITIONS, latest_parts, newest};
use crate::store::{Bars, PartitionProgress, StoreError, StoreStats};
use crate::tick::Symbol;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, IsolationLevel};

pub(super) async fn symbols(client: &Client) -> Result<Vec<Symbol>, StoreError> {
    client
        .query("SELECT symbol FROM bar_symbols ORDER BY symbol", &[])
        .await?
        .iter()
        .map(|row| symbol(row, 0))
        .collect()
}

pub(super) async fn latest(
    client: &mut Client,
    symbols: &[Symbol],
    intervals: &[Interval],
) -> Result<Bars, StoreError> {
    let names: Vec<&str> = symbols.iter().map(Symbol::as_str).collect();
    let labels: Vec<String> = intervals.iter().map(ToString::to_string).collect();
    let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    let boundary = boundary(&tx).await?;
    let mut bars = Vec::new();
    let mut decoded = Labels::default();
    for part in latest_parts(boundary) {
        let (lo, hi) = (part.lo.map(PgTime), part.hi.map(PgTime));
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&names, &labels];
        let mut sql = format!(
            r#"SELECT t.* FROM unnest($1::text[]) AS s(name) CROSS JOIN unnest($2::text[]) AS i(label)
               CROSS JOIN LATERAL ({} symbol = s.name AND "interval" = i.label"#,
            select(part.view)
        );
        for (bound, op) in [(&lo, ">="), (&hi, "<")] {
            if let Some(bound) = bound {
                params.push(bound);
                sql.push_str(&format!(" AND start {op} ${}", params.len()));
            }
        }
        sql.push_str(" ORDER BY start DESC LIMIT 1) AS t");
        for row in tx.query(&sql, &params).await? {
            bars.push(view_bar(&row, &mut decoded)?);
        }
    }
    tx.commit().await?;
    Ok(Bars { boundary, bars: newest(bars) })
}

pub(super) async fn stats(client: &mut Client) -> Result<StoreStats, StoreError> {
    let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    let counts = tx.query_one(COUNTS, &[]).await?;
    let partitions = tx.query(PARTITIONS, &[]).await?;
    tx.commit().await?;
    Ok(StoreStats {
        boundary: counts.try_get::<_, Option<PgTime>>(0)?.map(|t| t.0),
        batch_bars: to_u64(counts.try_get(1)?, "batch bars")?,
        speed_bars: to_u64(counts.try_get(2)?, "speed bars")?,
        late_trades: to_u64(counts.try_get(3)?, "late trades")?,
        rejects: to_u64(counts.try_get(4)?, "rejects")?,
        partitions: partitions
            .iter()
            .map(|row| {
                Ok(PartitionProgress {
                    offset: super::speed_read::offset(row)?,
                    updated_at: row.try_get::<_, PgTime>(5)?.0,
                })
            })
            .collect::<Result<_, StoreError>>()?,
    })
}
