//! Kafka as the speed layer's input: each worker assigns itself its
//! partitions explicitly (no group rebalancing: the job's stored offsets,
//! not the group's, say where to resume) and decodes the wire format.

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickflow_shared::input::{Input, InputError, Inputs, Payload, Polled, Positions, Record};
use tickflow_shared::kafka::KafkaConfig;
use tickflow_shared::watermark::Partition;

/// The `ticks` topic on a Kafka cluster.
pub struct KafkaInputs {
    kafka: KafkaConfig,
    topic: String,
}

impl KafkaInputs {
    /// Reads `topic` with the clients `kafka` configures.
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Self {
        Self { kafka: kafka.clone(), topic: topic.to_owned() }
    }

    fn consumer(&self, positions: Arc<dyn Positions>) -> Result<BaseConsumer<Context>, InputError> {
        self.kafka
            .client(&[
                ("group.id", "tickflow-speed"),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
                ("enable.partition.eof", "true"),
                ("fetch.wait.max.ms", "10"),
                // Per-partition lag for the metrics, from librdkafka's statistics.
                ("statistics.interval.ms", "1000"),
                // As the Java client: back within a second of a broker restart.
                ("reconnect.backoff.max.ms", "1000"),
            ])
            .create_with_context(Context(positions))
            .map_err(|e| self.broker("creating a consumer", e))
    }

    fn broker(&self, action: &str, error: KafkaError) -> InputError {
        InputError::Broker {
            action: action.to_owned(),
            brokers: self.kafka.brokers().to_owned(),
            source: Box::new(error),
        }
    }
}

/// Keeps "end of partition" events, which the job asks for, out of the log,
/// and turns librdkafka's statistics into the lag metric.
struct Context(Arc<dyn Positions>);

impl ClientContext for Context {
    fn error(&self, error: KafkaError, reason: &str) {
        // An unreachable broker is logged once per outage, by the input.
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF))
            && !is_transport(&error)
        {
            tracing::error!(%error, reason, "Kafka client error.");
        }
    }

    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            for partition in topic.partitions.values().filter(|p| p.partition >= 0 && p.hi_offset >= 0) {
                // The next offset handed to the job, else the next one fetched.
                let position = if partition.app_offset >= 0 { partition.app_offset } else { partition.next_offset };
                if position >= 0 {
                    self.0.set_position(partition.partition, partition.hi_offset as u64, position as u64);
                }
            }
        }
    }
}

impl ConsumerContext for Context {}

impl Inputs for KafkaInputs {
    fn topic(&self) -> &str {
        &self.topic
    }

    fn partitions(&self) -> Result<Vec<Partition>, InputError> {
        let metadata = self
            .consumer(Arc::new(()))?
            .fetch_metadata(Some(&self.topic), Duration::from_secs(30))
            .map_err(|e| self.broker("reading the topic's metadata", e))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }

    fn open(
        &self,
        owned: &BTreeMap<Partition, u64>,
        positions: Arc<dyn Positions>,
    ) -> Result<Box<dyn Input>, InputError> {
        let consumer = self.consumer(positions)?;
        let mut assignment = TopicPartitionList::new();
        for (&partition, &offset) in owned {
            let at = i64::try_from(offset).map_err(|_| InputError::Offset { partition, offset })?;
            assignment
                .add_partition_offset(&self.topic, partition, Offset::Offset(at))
                .map_err(|e| self.broker(&format!("assigning partition {partition}"), e))?;
        }
        consumer.assign(&assignment).map_err(|e| self.broker("assigning the partitions", e))?;
        Ok(Box::new(KafkaInput { consumer, topic: self.topic.clone(), paused: Vec::new(), outage: None }))
    }
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

struct KafkaInput {
    consumer: BaseConsumer<Context>,
    topic: String,
    paused: Vec<Partition>,
    /// Since when the broker has been unreachable: a transport error, and
    /// neither data nor a partition's end read since.
    outage: Option<Instant>,
}

impl KafkaInput {
    /// Notes a consumer error; an unreachable broker starts an outage,
    /// logged once.
    fn failed(&mut self, error: &KafkaError) {
        if !is_transport(error) {
            tracing::warn!(%error, "Kafka consumer error; retrying.");
        } else if self.outage.is_none() {
            tracing::warn!(%error, "Kafka is unreachable; retrying, and no partition turns idle until it is back.");
            self.outage = Some(Instant::now());
        }
    }

    /// Notes data (or a partition's end) read: an outage is over.
    fn reached(&mut self) {
        if let Some(since) = self.outage.take() {
            let seconds = format!("{:.1}", since.elapsed().as_secs_f64());
            tracing::info!(seconds, "Kafka is reachable again; reading resumed.");
        }
    }
}

impl Input for KafkaInput {
    fn poll(&mut self, out: &mut Vec<Record>, max: usize, at_end: &mut Vec<Partition>) -> Result<Polled, InputError> {
        let mut records = 0;
        while records < max {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(message)) => {
                    let offset = u64::try_from(message.offset()).unwrap_or_default();
                    let payload = Payload::decode(message.payload().unwrap_or_default(), offset);
                    out.push(Record { partition: message.partition(), offset, payload });
                    records += 1;
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => at_end.push(partition),
                Some(Err(error)) => self.failed(&error),
            }
        }
        if records > 0 || !at_end.is_empty() {
            self.reached();
        }
        Ok(Polled { records, unavailable: self.outage.is_some() })
    }

    /// None: librdkafka drops the messages it fetched for a paused partition
    /// and fetches them again on resume. Aligning at 10 s of event time took
    /// the speed benchmark's consumer from 1.06× to 0.12× the raw client.
    fn alignment(&self) -> Option<std::time::Duration> {
        None
    }

    fn pause(&mut self, partition: Partition) {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        if self.consumer.pause(&list).is_ok() {
            self.paused.push(partition);
        }
    }

    fn resume(&mut self, partition: Partition) {
        // Only a paused one: librdkafka would fetch the partition again from its position.
        let Some(at) = self.paused.iter().position(|p| *p == partition) else {
            return;
        };
        self.paused.swap_remove(at);
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        if let Err(error) = self.consumer.resume(&list) {
            tracing::warn!(%error, partition, "Could not resume a Kafka partition.");
        }
    }
}
