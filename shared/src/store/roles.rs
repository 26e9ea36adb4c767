//! The store's interface: one small trait per role (DESIGN.md, Storage).
//!
//! A part of the system sees only the role it plays: the batch layer a
//! [`BatchStore`], the speed layer a [`SpeedStore`], the server and the
//! consumers a [`ReadStore`]. All of them may ask how far the layers have
//! got ([`Progress`]); the signal bot writes and reads a [`SignalStore`].
//! Both engines implement every role; a stand-in (the
//! engine benchmark's counting store) implements only the one it plays and
//! leaves the rest to the default methods, which act as a store that keeps
//! nothing (the habit of ripgrep's `Sink`).

use super::{BarQuery, Bars, BatchDay, BatchPublish, BatchRun, FileManifest, Retained, Retention, StoreError};
use super::{BotCursor, Position, SignalChanges, SignalCommit, SignalQuery};
use super::{LateTrade, PartitionOffset, SpeedChanges, SpeedCommit, SpeedStatus, StoreStats};
use crate::codec::Reject;
use crate::interval::Interval;
use crate::signal::{Fill, Signal};
use crate::tick::Symbol;

/// How far each layer has got: what every role may read.
#[async_trait::async_trait]
pub trait Progress: Send + Sync {
    /// The newest batch runs, newest first; none by default.
    async fn batch_runs(&self, limit: usize) -> Result<Vec<BatchRun>, StoreError> {
        let _ = limit;
        Ok(Vec::new())
    }

    /// The speed layer's progress: watermark, last commit, change sequence
    /// and every partition's position, in one snapshot; nothing committed by
    /// default.
    async fn speed_status(&self) -> Result<SpeedStatus, StoreError> {
        Ok(SpeedStatus::default())
    }
}

/// What the batch layer publishes and reads back.
#[async_trait::async_trait]
pub trait BatchStore: Progress {
    /// Replaces whole days of the batch view, moves the boundary to the end of
    /// the newest published day and records the run, all in one transaction.
    async fn publish_batch(&self, publish: BatchPublish) -> Result<BatchRun, StoreError>;

    /// The files every earlier run has read; none by default, so every file
    /// is new.
    async fn batch_manifest(&self) -> Result<Vec<FileManifest>, StoreError> {
        Ok(Vec::new())
    }

    /// Drops what `policy` says is old enough ([`super::retention`]); by
    /// default nothing.
    async fn apply_retention(&self, policy: &Retention) -> Result<Retained, StoreError> {
        let _ = policy;
        Ok(Retained::default())
    }
}

/// What the speed layer commits and resumes from.
#[async_trait::async_trait]
pub trait SpeedStore: Progress {
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
    /// where a restarting speed job seeks to. None by default, so a job
    /// starts at the beginning.
    async fn speed_offsets(&self, topic: &str) -> Result<Vec<PartitionOffset>, StoreError> {
        let _ = topic;
        Ok(Vec::new())
    }

    /// Positions at or after `from` of the late trades of `source` (`topic/partition`),
    /// ascending: a restarting speed job skips them when it reads them again.
    /// None by default.
    async fn late_positions(&self, source: &str, from: u64) -> Result<Vec<u64>, StoreError> {
        let _ = (source, from);
        Ok(Vec::new())
    }
}

/// What the server and the consumers read.
#[async_trait::async_trait]
pub trait ReadStore: Progress {
    /// Reads bars and the boundary in one snapshot.
    async fn bars(&self, query: &BarQuery) -> Result<Bars, StoreError>;

    /// Like [`bars`](Self::bars), but a `limit` keeps the *last* bars of the
    /// range instead of the first: for one symbol, the newest `limit` bars
    /// before `to` (a chart's initial view), still oldest first. By default
    /// the whole range is read and cut; the engines ask only for what they keep.
    async fn newest_bars(&self, query: &BarQuery) -> Result<Bars, StoreError> {
        let mut read = self.bars(&BarQuery { limit: None, ..query.clone() }).await?;
        if let Some(limit) = query.limit {
            read.bars.drain(..read.bars.len().saturating_sub(limit));
        }
        Ok(read)
    }

    /// The newest bar of each of `symbols` in each of `intervals` by the
    /// merge rule (contract 6), and the boundary, in one snapshot; ordered by
    /// `(symbol, interval)`, pairs without a bar left out.
    async fn latest(&self, symbols: &[Symbol], intervals: &[Interval]) -> Result<Bars, StoreError>;

    /// Every symbol with a bar in either view, in order. A symbol whose
    /// bars are all gone (a republished day without it) may stay listed:
    /// PostgreSQL keeps the symbols it has seen in a table, as a symbol master.
    async fn symbols(&self) -> Result<Vec<Symbol>, StoreError>;

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

    /// The boundary, the rows of each table and every partition's progress,
    /// in one snapshot.
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// The newest rejects, newest first.
    async fn rejects(&self, limit: usize) -> Result<Vec<Reject>, StoreError>;

    /// The newest late trades, newest first.
    async fn late_trades(&self, limit: usize) -> Result<Vec<LateTrade>, StoreError>;

    /// The published days in `[from, to)` (days since the epoch), in order,
    /// each with the run that published it and its archive files, in one
    /// snapshot: the lineage of the batch view.
    async fn batch_days(&self, from: i64, to: i64) -> Result<Vec<BatchDay>, StoreError>;
}

/// What the signal bot writes and resumes from, and what readers ask of
/// its signals (DESIGN.md, contract 8; see [`super::signals`]).
#[async_trait::async_trait]
pub trait SignalStore: Progress {
    /// Writes one bot step in one transaction: its signals (keeping any
    /// already stored under the same key), fills, positions and per-symbol
    /// progress. On error nothing of it is visible.
    async fn commit_signals(&self, commit: &SignalCommit) -> Result<(), StoreError>;

    /// Where the bot of `strategy` on `interval` bars got to, per symbol,
    /// ordered by symbol; nowhere by default.
    async fn bot_progress(&self, strategy: &str, interval: Interval) -> Result<Vec<BotCursor>, StoreError> {
        let _ = (strategy, interval);
        Ok(Vec::new())
    }

    /// The signals a query selects, ordered by `(start, symbol, strategy)`;
    /// none by default.
    async fn signals(&self, query: &SignalQuery) -> Result<Vec<Signal>, StoreError> {
        let _ = query;
        Ok(Vec::new())
    }

    /// The paper fills a query selects, ordered by `(time, symbol, strategy)`;
    /// none by default.
    async fn fills(&self, query: &SignalQuery) -> Result<Vec<Fill>, StoreError> {
        let _ = query;
        Ok(Vec::new())
    }

    /// The paper positions (of `strategy`, if given), ordered by strategy
    /// and symbol; none by default.
    async fn positions(&self, strategy: Option<&str>) -> Result<Vec<Position>, StoreError> {
        let _ = strategy;
        Ok(Vec::new())
    }

    /// The signals (of `strategy`, if given) numbered after `since`, oldest
    /// first, at most `limit`, and the head of the sequence in the same
    /// snapshot; none by default.
    async fn signal_changes(
        &self,
        strategy: Option<&str>,
        since: i64,
        limit: usize,
    ) -> Result<SignalChanges, StoreError> {
        let _ = (strategy, limit);
        Ok(SignalChanges { signals: Vec::new(), head: since, next: since })
    }

    /// The number of the last signal of `strategy` published to `topic`
    /// (0 before any): the bot's Kafka outbox resumes after it.
    async fn published(&self, strategy: &str, topic: &str) -> Result<i64, StoreError> {
        let _ = (strategy, topic);
        Ok(0)
    }

    /// Records that the signals of `strategy` up to number `seq` are on
    /// `topic`; the mark only moves forward. Does nothing by default.
    async fn mark_published(&self, strategy: &str, topic: &str, seq: i64) -> Result<(), StoreError> {
        let _ = (strategy, topic, seq);
        Ok(())
    }
}

/// Every role at once: what an engine is, and what `tickflow demo` holds.
pub trait Store: BatchStore + SpeedStore + ReadStore + SignalStore {}

impl<T: BatchStore + SpeedStore + ReadStore + SignalStore + ?Sized> Store for T {}
