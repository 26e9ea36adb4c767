//! The archiver: the `ticks` topic, kept whole as the master dataset.
//!
//! It reads every partition of the topic from the offsets its consumer group
//! committed (from the earliest offset when the group has none) and writes day-partitioned Parquet files in *rolls*:
//! every `roll_trades` trades or `roll_interval`, every open file is finished,
//! synced and renamed to its visible name ([`files`]), and only then are the
//! offsets it covers committed. A crash at any point leaves no partial file,
//! loses no trade and duplicates none: uncommitted offsets are read again and
//! their files rewritten under the same names.
//!
//! After each roll, days whose end plus the allowed lateness the watermark has
//! passed are sealed (`_SEALED`), the signal for the batch layer ([`sealer`]).
//! The watermark is the speed layer's, computed over the trades made durable
//! so far. A trade for a sealed day still lands in that day's
//! directory, in a new file: the batch layer sees the changed day and
//! recomputes it.

pub mod files;
pub mod sealer;

use crate::metrics::ArchiveMetrics;
use files::Roll;
use prometheus_client::metrics::gauge::Gauge;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sealer::Sealer;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tickflow_shared::codec::{CodecError, Reject};
use tickflow_shared::time::day_of;
use tickflow_shared::watermark::WatermarkConfig;
use tickflow_shared::wire;

/// What the archiver reads, where it writes, and when it rolls and seals.
#[derive(Clone, Debug)]
pub struct ArchiveConfig {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// The topic of trades.
    pub topic: String,
    /// The consumer group.
    pub group: String,
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
        source: KafkaError,
    },
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

/// Keeps librdkafka's "reached the end of a partition" out of the error log
/// (the archiver asks for those events and handles them), and takes the
/// commit lag from librdkafka's statistics: per partition, the high
/// watermark minus the committed offset.
struct Quiet(Gauge);

impl ClientContext for Quiet {
    fn stats(&self, statistics: Statistics) {
        let lag = statistics.topics.values().flat_map(|topic| topic.partitions.values());
        self.0.set(lag.filter(|p| p.partition >= 0).map(|p| p.consumer_lag.max(0)).sum());
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::error!(%error, reason, "Kafka client error.");
        }
    }
}

impl ConsumerContext for Quiet {}

/// Runs the archiver until `stop` is set (or, with `stop_at_end`, until the
/// topic is read to its end); what was read is written and committed first.
/// Everything it does is counted in `metrics`.
///
/// The archiver owns every partition of the topic (assigned explicitly, so a
/// restart resumes at once instead of waiting for a group rebalance) and
/// keeps its position as the group's committed offsets.
pub fn run(config: &ArchiveConfig, stop: &AtomicBool, metrics: &ArchiveMetrics) -> Result<ArchiveReport, ArchiveError> {
    let kafka = |source| ArchiveError::Kafka { brokers: config.brokers.clone(), source };
    files::remove_unfinished(&config.out)?;
    let consumer: BaseConsumer<Quiet> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        // As the speed layer: an empty fetch returns within 10 ms, not 500.
        .set("fetch.wait.max.ms", "10")
        .set("statistics.interval.ms", "5000")
        .create_with_context(Quiet(metrics.commit_lag.clone()))
        .map_err(kafka)?;
    let partitions = partitions(&consumer, &config.topic).map_err(kafka)?;
    if partitions.is_empty() {
        return Err(ArchiveError::NoTopic { topic: config.topic.clone(), brokers: config.brokers.clone() });
    }
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        assignment.add_partition_offset(&config.topic, partition, Offset::Stored).map_err(kafka)?;
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let mut archiver = Archiver::new(config, metrics.clone());
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => archiver.message(message.partition(), message.offset(), message.payload())?,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                archiver.at_end.insert(partition);
            }
            Some(Err(error)) => tracing::warn!(%error, "Kafka consumer error; retrying."),
        }
        if archiver.roll_due() {
            archiver.commit(&consumer)?;
        }
        if config.stop_at_end && partitions.iter().all(|p| archiver.at_end.contains(p)) {
            break;
        }
    }
    archiver.commit(&consumer)?;
    Ok(archiver.report)
}

/// The partitions of `topic`, none if it does not exist.
fn partitions(consumer: &BaseConsumer<Quiet>, topic: &str) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// The state between rolls.
struct Archiver<'a> {
    config: &'a ArchiveConfig,
    roll: Roll,
    roll_started: Instant,
    /// The next offset to read, per partition, in this roll.
    next: BTreeMap<i32, i64>,
    /// Event times of this roll, given to the sealer once durable.
    pending: Vec<(i32, i64)>,
    sealer: Sealer,
    at_end: BTreeSet<i32>,
    report: ArchiveReport,
    metrics: ArchiveMetrics,
}

impl<'a> Archiver<'a> {
    fn new(config: &'a ArchiveConfig, metrics: ArchiveMetrics) -> Self {
        Self {
            config,
            roll: Roll::new(&config.out),
            roll_started: Instant::now(),
            next: BTreeMap::new(),
            pending: Vec::new(),
            sealer: Sealer::new(&config.out, config.watermark, config.allowed_lateness),
            at_end: BTreeSet::new(),
            report: ArchiveReport::default(),
            metrics,
        }
    }

    fn message(&mut self, partition: i32, offset: i64, payload: Option<&[u8]>) -> Result<(), ArchiveError> {
        if self.roll.is_empty() {
            self.roll_started = Instant::now();
        }
        self.at_end.remove(&partition);
        self.next.insert(partition, offset + 1);
        let position = u64::try_from(offset).unwrap_or_default();
        let payload = payload.unwrap_or_default();
        match wire::decode(payload) {
            Ok(mut decoded) => {
                if !decoded.has_seq {
                    decoded.tick.seq = position;
                }
                if self.sealer.is_sealed(day_of(decoded.tick.ts)) {
                    self.report.late += 1;
                    self.metrics.late_trades.inc();
                }
                self.roll.write(partition, position, &decoded.tick)?;
                self.pending.push((partition, decoded.tick.ts));
            }
            Err(error) => {
                let source = format!("{}/{partition}", self.config.topic);
                self.roll.reject(partition, Reject::new(&source, position, error.to_string(), payload));
                self.report.rejects += 1;
                self.metrics.rejects.inc();
            }
        }
        Ok(())
    }

    fn roll_due(&self) -> bool {
        !self.roll.is_empty()
            && (self.roll.trades() >= self.config.roll_trades
                || self.roll_started.elapsed() >= self.config.roll_interval)
    }

    /// Makes the roll durable, commits its offsets, then seals what the
    /// watermark has passed.
    fn commit(&mut self, consumer: &BaseConsumer<Quiet>) -> Result<(), ArchiveError> {
        if self.next.is_empty() {
            return Ok(());
        }
        let roll = std::mem::replace(&mut self.roll, Roll::new(&self.config.out));
        let (trades, files) = (roll.trades(), roll.files());
        let days = roll.finish()?;
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &self.next {
            offsets
                .add_partition_offset(&self.config.topic, partition, Offset::Offset(next))
                .map_err(|source| ArchiveError::Kafka { brokers: self.config.brokers.clone(), source })?;
        }
        consumer
            .commit(&offsets, CommitMode::Sync)
            .map_err(|source| ArchiveError::Kafka { brokers: self.config.brokers.clone(), source })?;
        self.next.clear();
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
}
