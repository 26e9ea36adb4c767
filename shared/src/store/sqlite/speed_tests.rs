//! The upgrade of a SQLite file written by a tickflow of schema version 2.

use super::*;
use crate::store::testing;
use rusqlite::params;

#[tokio::test]
async fn speed_upgrade_from_version_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("views.db");
    testing::sqlite_at_version(&path, 2).expect("version 2");
    let old = [testing::bar("MSFT", "1m", 60_000_000_000, 5), testing::bar("AAPL", "1m", 120_000_000_000, 6)];
    {
        let conn = Connection::open(&path).expect("open");
        for (written, b) in (1..).zip(&old) {
            conn.execute(
                r#"INSERT INTO speed_bars (symbol, "interval", start, open, high, low, close, volume, vwap, trades,
                   first_ts_ns, last_ts_ns, "final", updated_at)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13)"#,
                params![
                    b.symbol.as_str(),
                    b.interval.to_string(),
                    b.start,
                    b.open.0,
                    b.high.0,
                    b.low.0,
                    b.close.0,
                    i64::try_from(b.volume.0).expect("volume"),
                    b.vwap.0,
                    i64::try_from(b.trades).expect("trades"),
                    b.first_ts,
                    b.last_ts,
                    written
                ],
            )
            .expect("insert a version-2 speed bar");
        }
    }
    let store = SqliteStore::open(&path, Access::Write).expect("upgrade");
    testing::speed_after_upgrade(&store, "1m", &old).await;
    let versions: Vec<i64> = store
        .read(|conn| {
            let mut statement = conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
            Ok(statement.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?)
        })
        .await
        .expect("versions");
    assert_eq!(versions, migrations::MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
}
