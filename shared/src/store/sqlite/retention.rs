//! Retention in SQLite: bounded deletes, each its own job on the write
//! thread, so speed commits go on between them.

use super::SqliteStore;
use crate::store::retention::{BATCH, cutoffs};
use crate::store::serving::distinct;
use crate::store::{Retained, Retention, StoreError};
use crate::time::now_ns;
use rusqlite::{Connection, OptionalExtension, params};

impl SqliteStore {
    /// Applies `policy`; see [`crate::store::retention`].
    pub(super) async fn retain(&self, policy: Retention) -> Result<Retained, StoreError> {
        let boundary = self
            .read(|conn| {
                let boundary = conn.query_row("SELECT boundary FROM batch_boundary WHERE id = 1", [], |r| r.get(0));
                Ok(boundary.optional()?.flatten())
            })
            .await?;
        let (speed, late, rejects) = cutoffs(&policy, now_ns(), boundary);
        let mut retained = Retained::default();
        if let Some(cut) = speed {
            for (interval, symbol) in self.read(speed_keys).await? {
                retained.speed_bars += self
                    .repeat(move |conn| {
                        conn.execute(
                            r#"DELETE FROM speed_bars WHERE ("interval", symbol, start) IN (
                                SELECT "interval", symbol, start FROM speed_bars
                                WHERE "interval" = ?1 AND symbol = ?2 AND start < ?3 LIMIT ?4)"#,
                            params![interval, symbol, cut, BATCH],
                        )
                    })
                    .await?;
            }
        }
        for (table, cut, count) in
            [("late_trades", late, &mut retained.late_trades), ("rejects", rejects, &mut retained.rejects)]
        {
            let sql = format!(
                r#"DELETE FROM {table} WHERE (source, "position") IN (
                    SELECT source, "position" FROM {table} WHERE seen_at < ?1 LIMIT ?2)"#
            );
            *count = self.repeat(move |conn| conn.execute(&sql, params![cut, BATCH])).await?;
        }
        Ok(retained)
    }

    /// Runs a bounded delete on the write thread until it deletes fewer
    /// than [`BATCH`] rows; returns how many it deleted in all.
    async fn repeat(
        &self,
        delete: impl Fn(&mut Connection) -> rusqlite::Result<usize> + Clone + Send + 'static,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let once = delete.clone();
            let deleted = self.write(move |conn| Ok(once(conn)?)).await?;
            total += deleted as u64;
            if (deleted as i64) < BATCH {
                return Ok(total);
            }
        }
    }
}

/// Every `(interval, symbol)` of the speed view, by loose index scans.
fn speed_keys(conn: &mut Connection) -> Result<Vec<(String, String)>, StoreError> {
    let labels = conn
        .prepare_cached(&distinct("speed_bars", r#""interval""#, ""))?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys = Vec::new();
    let mut scan = conn.prepare_cached(&distinct("speed_bars", "symbol", r#""interval" = ?1 AND "#))?;
    for label in labels {
        for symbol in scan.query_map([&label], |r| r.get::<_, String>(0))? {
            keys.push((label.clone(), symbol?));
        }
    }
    Ok(keys)
}
