//! The dead-letter topic: every input `produce` could not turn into a trade,
//! as JSON (`{"source":…,"position":…,"reason":…,"raw":…}`, a
//! [`Reject`]), keyed by its source, on a producer of its own so that its
//! delivery reports never mix with the trades'.

use crate::metrics::ProduceMetrics;
use crate::producer::{KafkaClientError, producer_config, send_waiting};
use rdkafka::ClientContext;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tickflow_shared::codec::Reject;
use tickflow_shared::kafka::KafkaConfig;

/// Counts the rejects the broker did not take.
struct Undelivered(Arc<AtomicU64>);

impl ClientContext for Undelivered {}

impl ProducerContext for Undelivered {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result
            && self.0.fetch_add(1, Ordering::Relaxed) < 10
        {
            tracing::error!(%error, "Reject not delivered to the dead-letter topic.");
        }
    }
}

/// Sends rejects to the dead-letter topic and counts them.
pub struct DeadLetters {
    producer: BaseProducer<Undelivered>,
    topic: String,
    brokers: String,
    undelivered: Arc<AtomicU64>,
    metrics: ProduceMetrics,
    sent: u64,
}

impl DeadLetters {
    /// An idempotent producer for the dead-letter `topic` on `kafka`,
    /// counting each reject in `metrics.rejects`.
    pub fn new(kafka: &KafkaConfig, topic: &str, metrics: ProduceMetrics) -> Result<Self, KafkaClientError> {
        let undelivered = Arc::new(AtomicU64::new(0));
        let brokers = kafka.brokers().to_owned();
        let producer = producer_config(kafka)
            .create_with_context(Undelivered(undelivered.clone()))
            .map_err(|source| KafkaClientError::Kafka { brokers: brokers.clone(), source })?;
        Ok(Self { producer, topic: topic.to_owned(), brokers, undelivered, metrics, sent: 0 })
    }

    /// Hands `reject` to librdkafka, waiting while its queue is full.
    pub fn send(&mut self, reject: &Reject) -> Result<(), KafkaClientError> {
        if self.sent == 0 {
            tracing::warn!(topic = %self.topic, first = %reject, "Inputs that are not trades go to the dead-letter topic.");
        }
        // A Reject is strings and an integer: it always serializes.
        let value = serde_json::to_vec(reject).unwrap_or_default();
        send_waiting(&self.producer, &self.topic, reject.source.as_bytes(), &value, &self.brokers)?;
        self.sent += 1;
        self.metrics.rejects.inc();
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Rejects sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Waits until every reject is delivered or failed for good.
    pub fn flush(&self) -> Result<(), KafkaClientError> {
        if self.sent == 0 {
            return Ok(());
        }
        self.producer
            .flush(Duration::from_secs(300))
            .map_err(|source| KafkaClientError::Kafka { brokers: self.brokers.clone(), source })?;
        match self.undelivered.load(Ordering::Relaxed) {
            0 => Ok(()),
            failed => Err(KafkaClientError::UndeliveredRejects(failed)),
        }
    }
}
