//! Where bars are kept: one [`ViewStore`] trait, two engines.
//!
//! PostgreSQL (`postgres://…`) is the production store; with the TimescaleDB
//! extension present its time tables become hypertables. SQLite
//! (`sqlite://path`) is the embedded default. Both run the same versioned
//! migrations ([`migrations`]) and give the tables the same meaning; each
//! stores money the exact way its engine can (`NUMERIC` in PostgreSQL,
//! integers of 10^-8 in SQLite).
//!
//! The batch layer publishes whole UTC days in one transaction
//! ([`ViewStore::publish_batch`]) and moves the boundary with them; readers
//! see the boundary and both views in one snapshot ([`ViewStore::bars`]).
//! The speed layer upserts bars together with the Kafka positions that
//! produced them ([`ViewStore::commit_speed`], see [`speed`]).

mod common;
pub mod migrations;
mod postgres;
pub mod serving;
pub mod speed;
mod sqlite;
mod sqlite_insert;
mod sqlite_serving;
mod sqlite_speed;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use postgres::PostgresStore;
pub use serving::{PartitionProgress, StoreStats};
pub use speed::{LateTrade, PartitionOffset, SpeedBar, SpeedChange, SpeedChanges, SpeedCommit, SpeedStatus};
pub use sqlite::SqliteStore;

use crate::bar::Bar;
use crate::codec::Reject;
use crate::interval::Interval;
use crate::tick::Symbol;
use std::fmt;

/// The view a bar comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// Recomputed exactly from the archive.
    Batch,
    /// Computed live from the stream.
    Speed,
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            View::Batch => "batch",
            View::Speed => "speed",
        })
    }
}

/// Which view(s) a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ViewSelect {
    /// Only the batch view.
    Batch,
    /// Only the speed view.
    Speed,
    /// Batch bars before the boundary, speed bars from it on (DESIGN.md, contract 6).
    #[default]
    Merged,
}

impl std::str::FromStr for ViewSelect {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "batch" => Ok(Self::Batch),
            "speed" => Ok(Self::Speed),
            "merged" => Ok(Self::Merged),
            other => Err(format!("unknown view {other:?}; use batch, speed or merged")),
        }
    }
}

/// A range query over one interval's bars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarQuery {
    /// The interval.
    pub interval: Interval,
    /// One symbol, or all.
    pub symbol: Option<Symbol>,
    /// First bar start included (ns), if any.
    pub from: Option<i64>,
    /// First bar start excluded (ns), if any.
    pub to: Option<i64>,
    /// Which views.
    pub view: ViewSelect,
    /// At most this many bars (the earliest), if set.
    pub limit: Option<usize>,
}

/// A bar and the view it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewBar {
    /// The bar.
    pub bar: Bar,
    /// Its view.
    pub view: View,
}

/// What one snapshot read returns: bars ordered by `(symbol, start)` (by
/// `(symbol, interval)` from [`ViewStore::latest`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bars {
    /// The batch boundary (ns) at the snapshot, if a batch run was ever published.
    pub boundary: Option<i64>,
    /// The bars.
    pub bars: Vec<ViewBar>,
}

/// A file the batch layer has read, and what it held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileManifest {
    /// The path as given to the batch layer.
    pub path: String,
    /// Size in bytes when read.
    pub bytes: u64,
    /// Modification time (ns since the epoch) when read.
    pub modified_ns: i64,
    /// The UTC days (days since the epoch) that had trades in it.
    pub days: Vec<i64>,
}

/// A day replaced by a publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaySummary {
    /// Days since the epoch.
    pub day: i64,
    /// Trades of that day; `0` removes the day from the batch view.
    pub trades: u64,
}

/// One batch publish: whole days of bars and the manifest that produced them.
pub struct BatchPublish<'a> {
    /// When the run started (ns since the epoch).
    pub started_at: i64,
    /// Every day replaced; all batch bars of these days are deleted first.
    pub days: Vec<DaySummary>,
    /// All bars of those days, of every interval.
    pub bars: Box<dyn Iterator<Item = Bar> + Send + 'a>,
    /// Files read by this run; each replaces its earlier entry.
    pub files: Vec<FileManifest>,
    /// Files of earlier runs that are gone.
    pub forget_files: Vec<String>,
    /// Rows rejected by this run.
    pub rejects: Vec<Reject>,
}

/// The record of a published batch run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRun {
    /// The version: 1, 2, 3, ... in publish order.
    pub version: i64,
    /// When it started (ns).
    pub started_at: i64,
    /// When it was published (ns).
    pub published_at: i64,
    /// The boundary after it (ns), if any day is published.
    pub boundary: Option<i64>,
    /// Days replaced.
    pub days: u64,
    /// Trades in the replaced days.
    pub trades: u64,
    /// Bars written.
    pub bars: u64,
    /// Rows rejected.
    pub rejects: u64,
}

/// Errors of a view store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store URL is not one tickflow knows.
    #[error("store URL {0:?} is not supported; use postgres://user@host/db or sqlite://path/to/file.db")]
    Url(String),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A value read back is not what tickflow wrote.
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// A value does not fit the store's column.
    #[error("value does not fit the store: {0}")]
    Range(String),
    /// Creating the store's directory failed.
    #[error("cannot create {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// A store of the batch and speed views.
#[async_trait::async_trait]
pub trait ViewStore: Send + Sync {
    /// Replaces whole days of the batch view, moves the boundary to the end of
    /// the newest published day and records the run, all in one transaction.
    async fn publish_batch(&self, publish: BatchPublish<'_>) -> Result<BatchRun, StoreError>;

    /// Reads bars and the boundary in one snapshot.
    async fn bars(&self, query: &BarQuery) -> Result<Bars, StoreError>;

    /// The files every earlier run has read.
    async fn batch_manifest(&self) -> Result<Vec<FileManifest>, StoreError>;

    /// The newest batch runs, newest first.
    async fn batch_runs(&self, limit: usize) -> Result<Vec<BatchRun>, StoreError>;

    /// The newest rejects, newest first.
    async fn rejects(&self, limit: usize) -> Result<Vec<Reject>, StoreError>;

    /// Writes one speed-layer commit in one transaction: upserts its bars
    /// (numbering them in the change sequence), moves its partitions'
    /// positions and the watermark, and records its late trades and rejects.
    /// On error nothing of it is visible.
    ///
    /// The store may reorder the commit's bars and offsets and drop the
    /// ones a later entry of the same key replaces; the caller keeps the
    /// buffers, to clear and fill again for the next commit.
    async fn commit_speed(&self, commit: &mut SpeedCommit) -> Result<(), StoreError>;

    /// The stored position of every partition of `topic`, by partition:
    /// where a restarting speed job seeks to.
    async fn speed_offsets(&self, topic: &str) -> Result<Vec<PartitionOffset>, StoreError>;

    /// The speed layer's progress: watermark, last commit, change sequence
    /// and every partition's position, in one snapshot.
    async fn speed_status(&self) -> Result<SpeedStatus, StoreError>;

    /// The newest late trades, newest first.
    async fn late_trades(&self, limit: usize) -> Result<Vec<LateTrade>, StoreError>;

    /// Positions at or after `from` of the late trades of `source` (`topic/partition`),
    /// ascending: a restarting speed job skips them when it reads them again.
    async fn late_positions(&self, source: &str, from: u64) -> Result<Vec<u64>, StoreError>;

    /// The speed bars of `interval` (of `symbols`, if given) whose last change
    /// is newer than `since`, oldest change first, at most `limit`; and the
    /// head of the change sequence in the same snapshot.
    async fn speed_changes(
        &self,
        interval: Interval,
        symbols: Option<&[Symbol]>,
        since: i64,
        limit: usize,
    ) -> Result<SpeedChanges, StoreError>;

    /// Every symbol with a bar in either view, in order.
    async fn symbols(&self) -> Result<Vec<Symbol>, StoreError>;

    /// The newest bar of each of `symbols` in each of `intervals` by the
    /// merge rule (contract 6), and the boundary, in one snapshot; ordered by
    /// `(symbol, interval)`, pairs without a bar left out.
    async fn latest(&self, symbols: &[Symbol], intervals: &[Interval]) -> Result<Bars, StoreError>;

    /// The boundary, the rows of each table and every partition's progress,
    /// in one snapshot.
    async fn stats(&self) -> Result<StoreStats, StoreError>;
}

/// Opens (creating and migrating as needed) the store a URL names.
pub async fn open(url: &str) -> Result<Box<dyn ViewStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Box::new(PostgresStore::connect(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Box::new(SqliteStore::open(std::path::Path::new(path))?))
    } else {
        Err(StoreError::Url(url.to_owned()))
    }
}
