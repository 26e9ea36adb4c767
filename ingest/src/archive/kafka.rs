//! The archiver fed from Kafka (`tickflow archive`): its position is its
//! consumer group's committed offsets, committed after each roll is durable.

use super::{ArchiveConfig, ArchiveError, ArchiveReport, Archiver};
use crate::metrics::ArchiveMetrics;
use prometheus_client::metrics::gauge::Gauge;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tickflow_shared::input::{Payload, Record};

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
    let kafka = |source| ArchiveError::Kafka { brokers: config.kafka.brokers().to_owned(), source };
    let mut archiver = Archiver::new(&config.rolls, &config.topic, metrics.clone())?;
    let consumer: BaseConsumer<Quiet> = config
        .kafka
        .client(&[
            ("group.id", &config.group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "true"),
            // As the speed layer: an empty fetch returns within 10 ms, not 500.
            ("fetch.wait.max.ms", "10"),
            ("statistics.interval.ms", "5000"),
        ])
        .create_with_context(Quiet(metrics.commit_lag.clone()))
        .map_err(kafka)?;
    let partitions = partitions(&consumer, &config.topic).map_err(kafka)?;
    if partitions.is_empty() {
        return Err(ArchiveError::NoTopic { topic: config.topic.clone(), brokers: config.kafka.brokers().to_owned() });
    }
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        assignment.add_partition_offset(&config.topic, partition, Offset::Stored).map_err(kafka)?;
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let mut positions = Positions { next: BTreeMap::new(), at_end: BTreeSet::new() };
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                archive_message(
                    &mut archiver,
                    &mut positions,
                    message.partition(),
                    message.offset(),
                    message.payload(),
                )?;
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                positions.at_end.insert(partition);
            }
            Some(Err(error)) => tracing::warn!(%error, "Kafka consumer error; retrying."),
        }
        if archiver.roll_due() {
            commit(&mut archiver, &mut positions, &consumer, config)?;
        }
        if config.stop_at_end && partitions.iter().all(|p| positions.at_end.contains(p)) {
            break;
        }
    }
    commit(&mut archiver, &mut positions, &consumer, config)?;
    Ok(archiver.report())
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

/// The Kafka positions between commits.
struct Positions {
    /// The next offset to read, per partition, in this roll.
    next: BTreeMap<i32, i64>,
    /// Partitions read to their current end.
    at_end: BTreeSet<i32>,
}

/// Hands one message to the archiver and notes its partition's next offset.
fn archive_message(
    archiver: &mut Archiver<'_>,
    positions: &mut Positions,
    partition: i32,
    offset: i64,
    payload: Option<&[u8]>,
) -> Result<(), ArchiveError> {
    positions.at_end.remove(&partition);
    positions.next.insert(partition, offset + 1);
    let offset = u64::try_from(offset).unwrap_or_default();
    archiver.record(&Record { partition, offset, payload: Payload::decode(payload.unwrap_or_default(), offset) })
}

/// Makes the roll durable, commits its offsets, then seals what the
/// watermark has passed; nothing when nothing was read since the last commit.
fn commit(
    archiver: &mut Archiver<'_>,
    positions: &mut Positions,
    consumer: &BaseConsumer<Quiet>,
    config: &ArchiveConfig,
) -> Result<(), ArchiveError> {
    if positions.next.is_empty() {
        return Ok(());
    }
    let kafka = |source| ArchiveError::Kafka { brokers: config.kafka.brokers().to_owned(), source };
    archiver.roll(|| {
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &positions.next {
            offsets.add_partition_offset(&config.topic, partition, Offset::Offset(next)).map_err(kafka)?;
        }
        consumer.commit(&offsets, CommitMode::Sync).map_err(kafka)
    })?;
    positions.next.clear();
    Ok(())
}
