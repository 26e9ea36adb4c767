//! The PostgreSQL store against real servers: every scenario of
//! `store::testing` (the SQLite unit tests run the same) on TimescaleDB and
//! on plain PostgreSQL, and what is
//! PostgreSQL's own: volumes beyond 64 bits, concurrent migrations, the
//! read-only open, the upgrade of a version-2 database, and change polling
//! under concurrent speed commits.

use crate::support::postgres;
use std::sync::Arc;
use tickflow_shared::store::{
    Access, BarQuery, BatchPublish, BatchStore, DaySummary, PostgresStore, Progress, ReadStore, SpeedBar, SpeedCommit,
    SpeedStore, Store, StoreError, ViewSelect, testing,
};
use tickflow_shared::time::format_rfc3339;
use tickflow_shared::{Bar, Price, Volume};

/// A store on a new database of the TimescaleDB server; nothing to keep alive beside it.
async fn open() -> ((), Arc<dyn Store>) {
    ((), Arc::new(PostgresStore::open(&postgres::database(), Access::Write).await.expect("connect")))
}

/// A store on a new database of the plain PostgreSQL server.
async fn open_plain() -> ((), Arc<dyn Store>) {
    ((), Arc::new(PostgresStore::open(&postgres::plain_database(), Access::Write).await.expect("connect")))
}

// A case of the merge property makes a database: fewer of them than SQLite's
// 48 (which catch a gap at the boundary every time), on each server.
mod scenarios {
    use super::open;
    tickflow_shared::store_scenarios!(open(), cases = 12);
}

mod plain {
    use super::open_plain;
    tickflow_shared::store_scenarios!(open_plain(), cases = 12);
}

fn publish(bars: Vec<Bar>) -> BatchPublish {
    BatchPublish {
        started_at: 1_700_000_000_123_456_000,
        days: vec![DaySummary { day: 0, trades: 1 }],
        bars: Box::new(bars.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    }
}

fn query(label: &str) -> BarQuery {
    BarQuery {
        interval: label.parse().expect("interval"),
        symbol: None,
        from: None,
        to: None,
        view: ViewSelect::Batch,
        limit: None,
    }
}

/// PostgreSQL keeps the whole i128 of a volume; connecting again (twice at
/// once) applies no migration and keeps the data.
#[tokio::test]
async fn store_postgres_big_volumes_and_concurrent_migrations() {
    let url = postgres::database();
    let store = PostgresStore::open(&url, Access::Write).await.expect("connect");
    let mut big = testing::bar("AAPL", "1h", 0, 5);
    big.volume = Volume(i128::from(i64::MAX) * 1000 + 5);
    store.publish_batch(publish(vec![big.clone()])).await.expect("publish");
    let (again, twice) =
        tokio::join!(PostgresStore::open(&url, Access::Write), PostgresStore::open(&url, Access::Write));
    again.expect("reconnect");
    let twice = twice.expect("reconnect");
    let read = twice.bars(&query("1h")).await.expect("read");
    assert_eq!(read.bars.iter().map(|b| b.bar.clone()).collect::<Vec<_>>(), vec![big]);
    assert_eq!(twice.batch_runs(10).await.expect("runs").len(), 1);
}

/// Issue 18: a reader of an empty database (or one of an older tickflow)
/// fails with an error that names the URL without its password, and
/// creates nothing; a reader of a migrated one reads and cannot write.
#[tokio::test]
async fn store_postgres_a_reader_creates_nothing() {
    let url = postgres::database();
    let with_password = url.replacen("postgres@", "postgres:s3cret-pw@", 1);
    let error = PostgresStore::open(&with_password, Access::Read).await.err().expect("an empty database");
    let text = error.to_string();
    assert!(matches!(error, StoreError::Missing { .. }), "{text}");
    assert!(text.contains("no tickflow tables") && text.contains("tickflow batch"), "{text}");
    assert!(!text.contains("s3cret-pw") && text.contains(":***@"), "{text}");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let tables: i64 = client
        .query_one("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(tables, 0, "the reader created tables");

    testing::postgres_at_version(&url, 2).await.expect("version 2");
    let error = PostgresStore::open(&url, Access::Read).await.err().expect("an old store");
    assert!(error.to_string().contains("migration 2 of"), "{error}");

    let writer = PostgresStore::open(&url, Access::Write).await.expect("migrate");
    writer.publish_batch(publish(vec![testing::bar("AAPL", "1h", 0, 5)])).await.expect("publish");
    let reader = PostgresStore::open(&url, Access::Read).await.expect("a reader");
    assert_eq!(reader.bars(&query("1h")).await.expect("read").bars.len(), 1);
    let error = reader.commit_speed(&mut SpeedCommit::default()).await.expect_err("a reader does not write");
    assert!(matches!(error, StoreError::Stopped(_)), "{error}");
}

#[tokio::test]
async fn store_postgres_speed_upgrade_from_version_2() {
    let url = postgres::database();
    testing::postgres_at_version(&url, 2).await.expect("version 2");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let old = [testing::bar("MSFT", "1m", 60_000_000_000, 5), testing::bar("AAPL", "1m", 120_000_000_000, 6)];
    for (written, b) in (1i64..).zip(&old) {
        let money = [b.open.to_string(), b.high.to_string(), b.low.to_string(), b.close.to_string()];
        client
            .execute(
                r#"INSERT INTO speed_bars VALUES ($1, '1m', $2::text::timestamptz, $3::text::numeric,
                   $4::text::numeric, $5::text::numeric, $6::text::numeric, $7::text::numeric, $8::text::numeric,
                   $9, $10, $11, TRUE, to_timestamp($12))"#,
                &[
                    &b.symbol.as_str(),
                    &format_rfc3339(b.start),
                    &money[0],
                    &money[1],
                    &money[2],
                    &money[3],
                    &b.volume.to_string(),
                    &b.vwap.to_string(),
                    &i64::try_from(b.trades).expect("trades"),
                    &b.first_ts,
                    &b.last_ts,
                    &(written as f64),
                ],
            )
            .await
            .expect("insert a version-2 speed bar");
    }
    let store = PostgresStore::open(&url, Access::Write).await.expect("upgrade");
    testing::speed_after_upgrade(&store, "1m", &old).await;
}

/// Two writers commit while a third store polls for changes: the poller
/// ends with the last value of every bar, so no change number became
/// visible after a larger one it had already read past.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_postgres_speed_changes_poller_misses_nothing() {
    const ROUNDS: i64 = 30;
    const KEYS: usize = 50;
    let url = postgres::database();
    let connect = || PostgresStore::open(&url, Access::Write);
    let writers = [connect().await.expect("connect"), connect().await.expect("connect")];
    let poller = connect().await.expect("connect");
    let minute = "1m".parse().expect("interval");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poll = {
        let done = Arc::clone(&done);
        async move {
            let mut seen = std::collections::HashMap::new();
            let mut since = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let changes = poller.speed_changes(minute, None, since, 64).await.expect("poll");
                for change in &changes.changes {
                    seen.insert(change.bar.bar.symbol.clone(), change.bar.bar.open);
                }
                let caught_up = changes.next == changes.head;
                since = changes.next;
                if finished && caught_up {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        }
    };
    let write = |w: usize| {
        let store = &writers[w];
        async move {
            for round in 0..ROUNDS {
                let bars = (0..KEYS)
                    .map(|k| SpeedBar {
                        bar: testing::bar(&format!("W{w}K{k:02}"), "1m", 0, 1_000 + round),
                        is_final: false,
                    })
                    .collect();
                store.commit_speed(&mut SpeedCommit { bars, ..SpeedCommit::default() }).await.expect("commit");
            }
        }
    };
    let writes = async {
        tokio::join!(write(0), write(1));
        done.store(true, std::sync::atomic::Ordering::Release);
    };
    let (seen, ()) = tokio::join!(poll, writes);
    assert_eq!(seen.len(), 2 * KEYS);
    assert!(seen.values().all(|open| *open == Price(1_000 + ROUNDS - 1)), "a poll missed a change");
}
