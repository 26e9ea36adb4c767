//! The archiver: the `ticks` stream, kept whole as the master dataset.
//!
//! There is one archiver ([`Archiver`]) and two ways to feed it. From Kafka
//! ([`kafka::run`], `tickflow archive`), it reads every partition of the topic from the
//! offsets its consumer group committed (from the earliest offset when the
//! group has none). From the in-process bus ([`bus::run`], `tickflow demo`),
//! it reads the bus's every partition as the speed layer does. Either way it
//! writes day-partitioned Parquet files in *rolls*: every `roll_trades`
//! trades or `roll_interval`, every open file is finished, synced and renamed
//! to its visible name ([`files`]), and only then are the offsets it covers
//! committed. A crash at any point leaves no partial file, loses no trade and
//! duplicates none: uncommitted offsets are read again and their files
//! rewritten under the same names.
//!
//! After each roll, days whose end plus the allowed lateness the watermark has
//! passed are sealed (`_SEALED`), the signal for the batch layer ([`sealer`]).
//! The watermark is the speed layer's, computed over the trades made durable
//! so far. A trade for a sealed day still lands in that day's directory, in a
//! new file, and is counted as late: the batch layer sees the changed day and
//! recomputes it. A message that is not a trade goes to the roll's rejects
//! file and is counted.

pub mod bus;
pub mod files;
pub mod kafka;
pub mod outage;
pub mod sealer;

use crate::metrics::ArchiveMetrics;
use files::Roll;
use sealer::Sealer;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tickflow_shared::codec::{CodecError, Reject};
use tickflow_shared::input::{InputError, Payload, Record};
use tickflow_shared::kafka::KafkaConfig;
use tickflow_shared::time::day_of;
use tickflow_shared::watermark::WatermarkConfig;

pub use kafka::run;

/// Where the archive is written and when it rolls and seals, whatever feeds it.
#[derive(Clone, Debug)]
pub struct RollConfig {
    /// The archive directory.
    pub out: PathBuf,
    /// Roll after this many trades.
    pub roll_trades: u64,
    /// Roll after this much time with something written.
    pub roll_interval: Duration,
    /// The watermark's parameters (the speed layer's).
    pub watermark: WatermarkConfig,
    /// How long after a day's end (by the watermark) it is sealed, in ns.
    pub allowed_lateness: i64,
}

impl RollConfig {
    /// The default `roll_trades`: a million.
    pub const fn default_roll_trades() -> u64 {
        1_000_000
    }

    /// The default `roll_interval`: 1 min.
    pub const fn default_roll_interval() -> Duration {
        Duration::from_secs(60)
    }
}

/// What the Kafka archiver reads, where it writes, and when it rolls and seals.
#[derive(Clone, Debug)]
pub struct ArchiveConfig {
    /// Kafka bootstrap servers and client properties.
    pub kafka: KafkaConfig,
    /// The topic of trades.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// Where and when it writes.
    pub rolls: RollConfig,
    /// Exit once every partition is read to its end.
    pub stop_at_end: bool,
}

/// What one run of the archiver did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// Trades archived.
    pub trades: u64,
    /// Messages that were not trades.
    pub rejects: u64,
    /// Rolls committed.
    pub rolls: u64,
    /// Days sealed.
    pub sealed: Vec<i64>,
    /// Trades that reached an already sealed day.
    pub late: u64,
}

/// Why the archiver stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Kafka failed.
    #[error("Kafka at {brokers}: {source}")]
    Kafka {
        /// The bootstrap servers.
        brokers: String,
        /// The client error.
        source: rdkafka::error::KafkaError,
    },
    /// The in-process stream could not be opened or read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The topic is not there.
    #[error("topic {topic:?} does not exist on {brokers}; create it (tickflow produce does) or check --topic")]
    NoTopic {
        /// The topic.
        topic: String,
        /// The bootstrap servers.
        brokers: String,
    },
    /// Encoding Parquet failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl ArchiveError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}

/// The archiver between rolls: what it has written, what it has sealed and
/// counted. Its feeders hand it records and say when a roll is durable.
pub struct Archiver<'a> {
    config: &'a RollConfig,
    /// The stream's name, the source of its rejects (`<topic>/<partition>`).
    topic: String,
    roll: Roll,
    roll_started: Instant,
    /// Event times of this roll, given to the sealer once durable.
    pending: Vec<(i32, i64)>,
    sealer: Sealer,
    report: ArchiveReport,
    metrics: ArchiveMetrics,
}

impl<'a> Archiver<'a> {
    /// An archiver of `topic` into `config.out`, counting into `metrics`;
    /// files a crashed run left unfinished are removed.
    pub fn new(config: &'a RollConfig, topic: &str, metrics: ArchiveMetrics) -> Result<Self, ArchiveError> {
        files::remove_unfinished(&config.out)?;
        Ok(Self {
            config,
            topic: topic.to_owned(),
            roll: Roll::new(&config.out),
            roll_started: Instant::now(),
            pending: Vec::new(),
            sealer: Sealer::new(&config.out, config.watermark, config.allowed_lateness),
            report: ArchiveReport::default(),
            metrics,
        })
    }

    /// Writes one record into the open roll: a trade to its day's file
    /// (counted as late if the day is sealed), anything else to the rejects.
    pub fn record(&mut self, record: &Record) -> Result<(), ArchiveError> {
        if self.roll.is_empty() {
            self.roll_started = Instant::now();
        }
        let (partition, position) = (record.partition, record.offset);
        match &record.payload {
            Payload::Trade(tick) => {
                if self.sealer.is_sealed(day_of(tick.ts)) {
                    self.report.late += 1;
                    self.metrics.late_trades.inc();
                }
                self.roll.write(partition, position, tick)?;
                self.pending.push((partition, tick.ts));
            }
            Payload::Invalid { reason, raw } => {
                let source = format!("{}/{partition}", self.topic);
                self.roll.reject(partition, Reject::new(&source, position, reason.clone(), raw));
                self.report.rejects += 1;
                self.metrics.rejects.inc();
            }
        }
        Ok(())
    }

    /// Whether the open roll is due: full, or open for the roll interval.
    pub fn roll_due(&self) -> bool {
        !self.roll.is_empty()
            && (self.roll.trades() >= self.config.roll_trades
                || self.roll_started.elapsed() >= self.config.roll_interval)
    }

    /// Makes the open roll durable, then runs `commit` (the feeder's offsets),
    /// then counts the roll and seals what the watermark has passed.
    pub fn roll(&mut self, commit: impl FnOnce() -> Result<(), ArchiveError>) -> Result<(), ArchiveError> {
        let roll = std::mem::replace(&mut self.roll, Roll::new(&self.config.out));
        let (trades, files) = (roll.trades(), roll.files());
        let days = roll.finish()?;
        commit()?;
        self.report.trades += trades;
        self.report.rolls += 1;
        self.metrics.trades.inc_by(trades);
        self.metrics.files.inc_by(files);
        self.metrics.rolls.inc();
        self.sealer.written(days, self.pending.drain(..));
        let sealed = self.sealer.seal()?;
        self.metrics.sealed_days.inc_by(sealed.len() as u64);
        self.report.sealed.extend(sealed);
        Ok(())
    }

    /// Drops the open roll, its unfinished files and what it noted, after a
    /// write failed: its records are to be read again.
    pub fn abandon(&mut self) -> Result<(), ArchiveError> {
        self.roll = Roll::new(&self.config.out);
        self.pending.clear();
        files::remove_unfinished(&self.config.out)
    }

    /// Says the archiver can neither read nor make rolls durable now: no
    /// partition turns idle for the sealer meanwhile.
    pub fn unavailable(&mut self) {
        self.sealer.unavailable();
    }

    /// Whether nothing was written since the last roll.
    pub fn is_empty(&self) -> bool {
        self.roll.is_empty()
    }

    /// What the archiver did.
    pub fn report(self) -> ArchiveReport {
        self.report
    }
}
