//! The serving layer's reads in SQLite: symbols by loose index scans within
//! each interval (the bar tables are keyed interval first), the newest bars
//! by one probe per symbol, interval and part, counts in one statement.

use super::read::{boundary, select, symbol, view_bar};
use crate::interval::Interval;
use crate::store::common::{Labels, to_u64};
use crate::store::serving::{COUNTS, PARTITIONS, distinct, latest_parts, newest};
use crate::store::{Bars, PartitionProgress, StoreError, StoreStats};
use crate::tick::Symbol;
use rusqlite::{Connection, params};

pub(super) fn symbols(conn: &mut Connection) -> Result<Vec<Symbol>, StoreError> {
    let tx = conn.transaction()?;
    let mut names = Vec::new();
    for table in ["batch_bars", "speed_bars"] {
        let labels = tx
            .prepare_cached(&distinct(table, r#""interval""#, ""))?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut scan = tx.prepare_cached(&distinct(table, "symbol", r#""interval" = ?1 AND "#))?;
        for label in labels {
            for name in scan.query_map([label], |r| r.get::<_, String>(0))? {
                names.push(name?);
            }
        }
    }
    tx.commit()?;
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(symbol).collect()
}

pub(super) fn latest(conn: &mut Connection, symbols: &[Symbol], intervals: &[Interval]) -> Result<Bars, StoreError> {
    let tx = conn.transaction()?;
    let boundary = boundary(&tx)?;
    let mut bars = Vec::new();
    let mut labels = Labels::default();
    for part in latest_parts(boundary) {
        let sql = format!(
            r#"{} symbol = ?1 AND "interval" = ?2 AND start >= ?3 AND start < ?4 ORDER BY start DESC LIMIT 1"#,
            select(part.view)
        );
        let mut probe = tx.prepare_cached(&sql)?;
        let (lo, hi) = (part.lo.unwrap_or(i64::MIN), part.hi.unwrap_or(i64::MAX));
        for symbol in symbols {
            for interval in intervals {
                let mut rows = probe.query(params![symbol.as_str(), interval.to_string(), lo, hi])?;
                if let Some(row) = rows.next()? {
                    bars.push(view_bar(row, &mut labels)?);
                }
            }
        }
    }
    tx.commit()?;
    Ok(Bars { boundary, bars: newest(bars) })
}

pub(super) fn stats(conn: &mut Connection) -> Result<StoreStats, StoreError> {
    let tx = conn.transaction()?;
    let (boundary, counts) = tx.query_row(COUNTS, [], |r| {
        Ok((r.get::<_, Option<i64>>(0)?, [r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
    })?;
    let partitions = tx
        .prepare_cached(PARTITIONS)?
        .query_map([], |row| Ok(PartitionProgress { offset: super::speed::offset(row)?, updated_at: row.get(5)? }))?
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit()?;
    Ok(StoreStats {
        boundary,
        batch_bars: to_u64(counts[0], "batch bars")?,
        speed_bars: to_u64(counts[1], "speed bars")?,
        late_trades: to_u64(counts[2], "late trades")?,
        rejects: to_u64(counts[3], "rejects")?,
        partitions,
    })
}
