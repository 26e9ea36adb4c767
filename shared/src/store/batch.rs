//! What the batch layer publishes: whole UTC days of bars, the files they
//! were computed from, and the record of each run (DESIGN.md, contract 5).

use crate::bar::Bar;
use crate::codec::Reject;

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
///
/// The bars are an owned iterator, so an engine may drain it on a thread of
/// its own (SQLite's writer) while they are still being produced.
pub struct BatchPublish {
    /// When the run started (ns since the epoch).
    pub started_at: i64,
    /// Every day replaced; all batch bars of these days are deleted first.
    pub days: Vec<DaySummary>,
    /// All bars of those days, of every interval.
    pub bars: Box<dyn Iterator<Item = Bar> + Send>,
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

/// A published day of the batch view and where it came from: its lineage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchDay {
    /// Days since the epoch.
    pub day: i64,
    /// The version of the run that published it last.
    pub version: i64,
    /// Its trades.
    pub trades: u64,
    /// Its bars, of every interval.
    pub bars: u64,
    /// When that run published it (ns since the epoch).
    pub published_at: i64,
    /// The archive files that hold its trades, by path, as the batch layer
    /// recorded them when it read them.
    pub files: Vec<DayFile>,
}

/// An archive file as the batch manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayFile {
    /// The path as given to the batch layer.
    pub path: String,
    /// Size in bytes when read.
    pub bytes: u64,
    /// Modification time (ns since the epoch) when read.
    pub modified_ns: i64,
    /// The version of the run that read it last.
    pub version: i64,
}
