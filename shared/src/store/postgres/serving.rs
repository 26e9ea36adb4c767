//! The serving layer's reads in PostgreSQL: symbols by loose index scans,
//! the newest bars by one `LATERAL` probe per part, counts in one statement.

use super::read::{boundary, select, snapshot, symbol, view_bar};
use super::timescale::is_hypertable;
use super::{PgTime, Reader};
use crate::interval::Interval;
use crate::store::common::Labels;
use crate::store::common::to_u64;
use crate::store::serving::{COUNTS, PARTITIONS, latest_parts, newest};
use crate::store::{Bars, PartitionProgress, StoreError, StoreStats, View};
use crate::tick::Symbol;
use crate::time::NANOS_PER_DAY;
use std::collections::HashSet;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};

pub(super) async fn symbols(client: &Client) -> Result<Vec<Symbol>, StoreError> {
    client
        .query("SELECT symbol FROM bar_symbols ORDER BY symbol", &[])
        .await?
        .iter()
        .map(|row| symbol(row, 0))
        .collect()
}

/// The newest bar of each pair, part by part. A probe of a hypertable walks
/// its chunks back from the newest, and with a year of daily chunks that
/// walk dominates: so there the batch part is searched in its last day
/// first, and before it only for the pairs that had no bar that day. A
/// plain table is probed whole: bounded by a day, its probe can take the
/// `("interval", start)` index and filter a day of every symbol's bars.
pub(super) async fn latest(
    reader: &mut Reader,
    symbols: &[Symbol],
    intervals: &[Interval],
) -> Result<Bars, StoreError> {
    let chunked = match reader.chunked {
        Some(chunked) => chunked,
        None => *reader.chunked.insert(is_hypertable(&reader.client, "batch_bars").await?),
    };
    let tx = snapshot(&mut reader.client).await?;
    let boundary = boundary(&tx).await?;
    let mut bars = Vec::new();
    let mut decoded = Labels::default();
    for part in latest_parts(boundary) {
        let mut pairs: Vec<(&Symbol, Interval)> =
            symbols.iter().flat_map(|symbol| intervals.iter().map(move |interval| (symbol, *interval))).collect();
        let windows = match (part.view, part.hi) {
            (View::Batch, Some(hi)) if chunked => {
                vec![(Some(hi - NANOS_PER_DAY), Some(hi)), (part.lo, Some(hi - NANOS_PER_DAY))]
            }
            _ => vec![(part.lo, part.hi)],
        };
        for (lo, hi) in windows {
            if pairs.is_empty() {
                break;
            }
            let mut found = HashSet::new();
            for row in newest_in(&tx, part.view, &pairs, lo, hi).await? {
                let bar = view_bar(&row, &mut decoded)?;
                found.insert((bar.bar.symbol.clone(), bar.bar.interval));
                bars.push(bar);
            }
            pairs.retain(|(symbol, interval)| !found.contains(&((*symbol).clone(), *interval)));
        }
    }
    tx.commit().await?;
    Ok(Bars { boundary, bars: newest(bars) })
}

/// The newest bar in `[lo, hi)` of `view` of each `(symbol, interval)` pair that has one.
async fn newest_in(
    tx: &Transaction<'_>,
    view: View,
    pairs: &[(&Symbol, Interval)],
    lo: Option<i64>,
    hi: Option<i64>,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let names: Vec<&str> = pairs.iter().map(|(symbol, _)| symbol.as_str()).collect();
    let labels: Vec<String> = pairs.iter().map(|(_, interval)| interval.to_string()).collect();
    let (lo, hi) = (lo.map(PgTime), hi.map(PgTime));
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&names, &labels];
    let mut sql = format!(
        r#"SELECT t.* FROM unnest($1::text[], $2::text[]) AS p(name, label)
           CROSS JOIN LATERAL ({} symbol = p.name AND "interval" = p.label"#,
        select(view)
    );
    for (bound, op) in [(&lo, ">="), (&hi, "<")] {
        if let Some(bound) = bound {
            params.push(bound);
            sql.push_str(&format!(" AND start {op} ${}", params.len()));
        }
    }
    sql.push_str(" ORDER BY start DESC LIMIT 1) AS t");
    Ok(tx.query(&sql, &params).await?)
}

pub(super) async fn stats(client: &mut Client) -> Result<StoreStats, StoreError> {
    let tx = snapshot(client).await?;
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
