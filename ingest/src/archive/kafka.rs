//! The archiver fed from Kafka (`tickflow archive`): its position is its
//! consumer group's committed offsets, committed after each roll is durable;
//! a broker outage or a full disk is waited out, not exited on.

use super::outage::{Outage, is_disk_full, sleep_unless_stopped};
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
        // An unreachable broker is logged once per outage, by the poll loop.
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF))
            && !is_transport(&error)
        {
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
/// keeps its position as the group's committed offsets. An unreachable
/// broker and a full disk are waited out ([`super::outage`]).
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
            // As the Java client: back within a second of a broker restart.
            ("reconnect.backoff.max.ms", "1000"),
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
    let (mut broker, mut disk) = (Outage::default(), Outage::default());
    while !stop.load(Ordering::Relaxed) {
        let stepped = step(&mut archiver, &mut positions, &consumer, &mut broker).and_then(|()| {
            if archiver.roll_due() { commit(&mut archiver, &mut positions, &consumer, config, stop) } else { Ok(false) }
        });
        match stepped {
            Ok(rolled) => {
                if rolled && let Some((down, retries)) = disk.ended() {
                    let seconds = format!("{:.1}", down.as_secs_f64());
                    tracing::info!(seconds, retries, "The archive's disk has space again; archiving resumed.");
                }
            }
            Err(error) if is_disk_full(&error) => {
                if disk.failed() {
                    tracing::error!(
                        %error,
                        out = %config.rolls.out.display(),
                        "The archive's disk is full: nothing more is committed and the roll is dropped; \
                         free space there and the archiver reads again from its committed offsets."
                    );
                }
                archiver.abandon()?;
                positions.next.clear();
                positions.at_end.clear();
                consumer.assign(&assignment).map_err(kafka)?;
                sleep_unless_stopped(disk.backoff(), stop);
                continue;
            }
            Err(error) => return Err(error),
        }
        if broker.is_ongoing() || disk.is_ongoing() {
            archiver.unavailable();
        }
        if config.stop_at_end && partitions.iter().all(|p| positions.at_end.contains(p)) {
            break;
        }
    }
    commit(&mut archiver, &mut positions, &consumer, config, stop)?;
    Ok(archiver.report())
}

/// Polls one message (or event) and hands a message to the archiver.
fn step(
    archiver: &mut Archiver<'_>,
    positions: &mut Positions,
    consumer: &BaseConsumer<Quiet>,
    broker: &mut Outage,
) -> Result<(), ArchiveError> {
    let reached = match consumer.poll(Duration::from_millis(100)) {
        None => false,
        Some(Ok(message)) => {
            let (partition, offset) = (message.partition(), message.offset());
            archive_message(archiver, positions, partition, offset, message.payload())?;
            true
        }
        Some(Err(KafkaError::PartitionEOF(partition))) => {
            positions.at_end.insert(partition);
            true
        }
        Some(Err(error)) if is_transport(&error) => {
            if broker.failed() {
                tracing::warn!(%error, "Kafka is unreachable; the archiver retries until it is back.");
            }
            false
        }
        Some(Err(error)) => {
            tracing::warn!(%error, "Kafka consumer error; retrying.");
            false
        }
    };
    if reached && let Some((down, _)) = broker.ended() {
        let seconds = format!("{:.1}", down.as_secs_f64());
        tracing::info!(seconds, "Kafka is reachable again; archiving resumed.");
    }
    Ok(())
}

/// Whether the error says the broker cannot be reached (librdkafka
/// reconnects by itself), as opposed to one about the request.
fn is_transport(error: &KafkaError) -> bool {
    let code = match error {
        KafkaError::Global(code) | KafkaError::MessageConsumption(code) => code,
        _ => return false,
    };
    matches!(code, RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
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
/// A commit the broker does not answer is retried until it does (the next
/// roll must not begin before this one is committed) or `stop` is set.
/// Says whether it rolled.
fn commit(
    archiver: &mut Archiver<'_>,
    positions: &mut Positions,
    consumer: &BaseConsumer<Quiet>,
    config: &ArchiveConfig,
    stop: &AtomicBool,
) -> Result<bool, ArchiveError> {
    if positions.next.is_empty() {
        return Ok(false);
    }
    let kafka = |source| ArchiveError::Kafka { brokers: config.kafka.brokers().to_owned(), source };
    archiver.roll(|| {
        let mut offsets = TopicPartitionList::new();
        for (&partition, &next) in &positions.next {
            offsets.add_partition_offset(&config.topic, partition, Offset::Offset(next)).map_err(kafka)?;
        }
        let mut outage = Outage::default();
        loop {
            match consumer.commit(&offsets, CommitMode::Sync) {
                Ok(()) => break,
                Err(error) if stop.load(Ordering::Relaxed) => return Err(kafka(error)),
                Err(error) => {
                    if outage.failed() {
                        tracing::warn!(%error, "Cannot commit the archive's offsets; the roll is written, retrying.");
                    }
                    sleep_unless_stopped(outage.backoff(), stop);
                }
            }
        }
        if let Some((down, retries)) = outage.ended() {
            let seconds = format!("{:.1}", down.as_secs_f64());
            tracing::info!(seconds, retries, "Committed the archive's offsets after the broker answered again.");
        }
        Ok(())
    })?;
    positions.next.clear();
    Ok(true)
}
