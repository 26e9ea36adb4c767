//! Retention in PostgreSQL: whole daily chunks of `speed_bars` by
//! `drop_chunks` when it is a hypertable, then bounded deletes of what is
//! left, each its own transaction.

use super::{PgTime, PostgresStore, timescale};
use crate::store::retention::{BATCH, cutoffs};
use crate::store::serving::distinct;
use crate::store::{Retained, Retention, StoreError};
use crate::time::now_ns;

impl PostgresStore {
    /// Applies `policy`; see [`crate::store::retention`].
    pub(super) async fn retain(&self, policy: Retention) -> Result<Retained, StoreError> {
        let client = self.writer().await?;
        let row = client.query_one("SELECT boundary FROM batch_boundary WHERE id = 1", &[]).await?;
        let boundary = row.try_get::<_, Option<PgTime>>(0)?.map(|t| t.0);
        let (speed, late, rejects) = cutoffs(&policy, now_ns(), boundary);
        let mut retained = Retained::default();
        if let Some(cut) = speed {
            if timescale::is_hypertable(&*client, "speed_bars").await? {
                let dropped = client
                    .query_one(
                        "SELECT COUNT(*) FROM drop_chunks('speed_bars', older_than => $1::timestamptz)",
                        &[&PgTime(cut)],
                    )
                    .await?;
                retained.speed_chunks = u64::try_from(dropped.try_get::<_, i64>(0)?).unwrap_or(0);
            }
            let symbols = client.query(&distinct("speed_bars", "symbol", ""), &[]).await?;
            let intervals = distinct("speed_bars", r#""interval""#, "symbol = $1 AND ");
            for symbol in symbols {
                let symbol: String = symbol.try_get(0)?;
                for interval in client.query(&intervals, &[&symbol]).await? {
                    let interval: String = interval.try_get(0)?;
                    loop {
                        // At most BATCH rows: those before the first one past them, by the key.
                        let deleted = client
                            .execute(
                                r#"DELETE FROM speed_bars WHERE symbol = $1 AND "interval" = $2 AND start < LEAST($3,
                                       COALESCE((SELECT start FROM speed_bars
                                                 WHERE symbol = $1 AND "interval" = $2 AND start < $3
                                                 ORDER BY start OFFSET $4 LIMIT 1), $3))"#,
                                &[&symbol, &interval, &PgTime(cut), &BATCH],
                            )
                            .await?;
                        retained.speed_bars += deleted;
                        if (deleted as i64) < BATCH {
                            break;
                        }
                    }
                }
            }
        }
        for (table, cut, count) in
            [("late_trades", late, &mut retained.late_trades), ("rejects", rejects, &mut retained.rejects)]
        {
            let sql = format!(
                r#"DELETE FROM {table} WHERE (source, "position") IN (
                    SELECT source, "position" FROM {table} WHERE seen_at < $1 LIMIT $2)"#
            );
            loop {
                let deleted = client.execute(&sql, &[&PgTime(cut), &BATCH]).await?;
                *count += deleted;
                if (deleted as i64) < BATCH {
                    break;
                }
            }
        }
        Ok(retained)
    }
}
