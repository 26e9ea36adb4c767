//! Every store scenario on SQLite, and what is SQLite's own: 64-bit volumes,
//! idempotent migrations, the read-only open, the thread boundary.

use super::*;
use crate::store::testing::bar;
use crate::store::{BarQuery, BatchPublish, BatchStore, DaySummary, ReadStore, Store, ViewSelect};
use crate::time::NANOS_PER_DAY;
use std::sync::Arc;

/// A new store in a temporary directory, and the directory.
async fn open() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("nested/views.db"), Access::Write).expect("open");
    (dir, Arc::new(store))
}

crate::store_scenarios!(open());

fn publish(day: i64, bars: Vec<crate::Bar>) -> BatchPublish {
    BatchPublish {
        started_at: 1,
        days: vec![DaySummary { day, trades: 1 }],
        bars: Box::new(bars.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    }
}

fn hours(label: &str) -> BarQuery {
    BarQuery {
        interval: label.parse().expect("interval"),
        symbol: None,
        from: None,
        to: None,
        view: ViewSelect::Batch,
        limit: None,
    }
}

#[tokio::test]
async fn rejects_volumes_beyond_64_bits() {
    let (_dir, store) = open().await;
    let mut big = bar("AAPL", "1h", 0, 1);
    big.volume = crate::Volume(i128::from(i64::MAX) + 1);
    let error = store.publish_batch(publish(0, vec![big])).await.expect_err("too big");
    assert!(matches!(error, StoreError::Range(_)), "{error}");
    assert!(store.batch_runs(10).await.expect("runs").is_empty());
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("views.db");
    let store = SqliteStore::open(&path, Access::Write).expect("open");
    store.publish_batch(publish(1, vec![bar("AAPL", "1h", NANOS_PER_DAY, 100)])).await.expect("publish");
    drop(store);
    let store = SqliteStore::open(&path, Access::Write).expect("reopen");
    let applied = store.write(migrations::run_sqlite).await.expect("migrate");
    assert_eq!(applied, 0);
    assert_eq!(store.bars(&hours("1h")).await.expect("read").bars.len(), 1);
}

#[tokio::test]
async fn a_reader_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sub/typo.db");
    let error = SqliteStore::open(&path, Access::Read).err().expect("no store there");
    assert!(matches!(&error, StoreError::Missing { problem, .. } if problem.contains("no such file")), "{error}");
    assert!(error.to_string().contains("typo.db") && error.to_string().contains("tickflow batch"), "{error}");
    assert!(!dir.path().join("sub").exists(), "the reader created the directory");

    // An empty file, or one of an older tickflow, is not a store to read either.
    std::fs::write(dir.path().join("empty.db"), b"").expect("empty file");
    let error = SqliteStore::open(&dir.path().join("empty.db"), Access::Read).err().expect("not a store");
    assert!(matches!(error, StoreError::Missing { .. }), "{error}");
    crate::store::testing::sqlite_at_version(&dir.path().join("old.db"), 2).expect("version 2");
    let error = SqliteStore::open(&dir.path().join("old.db"), Access::Read).err().expect("old store");
    assert!(error.to_string().contains("migration 2 of"), "{error}");

    let writer = SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("create");
    writer.publish_batch(publish(1, vec![bar("AAPL", "1h", NANOS_PER_DAY, 100)])).await.expect("publish");
    let reader = SqliteStore::open(&dir.path().join("views.db"), Access::Read).expect("read");
    assert_eq!(reader.bars(&hours("1h")).await.expect("read").bars.len(), 1);
    let error = reader.publish_batch(publish(2, Vec::new())).await.expect_err("a reader does not write");
    assert!(matches!(error, StoreError::Stopped(_)), "{error}");
}

/// Issue 18: a long publish on the write thread does not hold up reads,
/// which run on the read threads from a snapshot of before the publish.
#[tokio::test(flavor = "current_thread")]
async fn reads_run_beside_a_publish() {
    let (_dir, store) = open().await;
    store.publish_batch(publish(0, vec![bar("AAPL", "1h", 0, 1)])).await.expect("publish");
    let (started, start) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    // A publish whose bars come slowly: it holds the write transaction until released.
    let slow = std::iter::once_with(move || {
        let _ = started.send(());
        let _ = released.recv();
        bar("AAPL", "1h", NANOS_PER_DAY, 2)
    });
    let publish = BatchPublish { bars: Box::new(slow), ..publish(1, Vec::new()) };
    let writer = Arc::clone(&store);
    let publishing = tokio::spawn(async move { writer.publish_batch(publish).await });
    tokio::task::spawn_blocking(move || start.recv()).await.expect("join").expect("the publish started");
    // On this one-threaded runtime, the read answers while the publish is in its transaction.
    let read = store.bars(&hours("1h")).await.expect("read during the publish");
    assert_eq!(read.bars.len(), 1);
    release.send(()).expect("release");
    publishing.await.expect("join").expect("publish");
    assert_eq!(store.bars(&hours("1h")).await.expect("read").bars.len(), 2);
}
