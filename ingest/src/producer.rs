//! The Kafka producer: trades keyed by symbol, in the wire format, exactly once.
//!
//! The producer is idempotent (`enable.idempotence`), so librdkafka's own
//! retries never duplicate a trade; `seq` is assigned here, per symbol, in the
//! order trades are handed over. Delivery reports are counted on librdkafka's
//! thread; a trade whose delivery finally fails is counted as an error and
//! reported, never silently dropped.

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tickflow_shared::wire;
use tickflow_shared::{Symbol, Tick};

/// Errors of the Kafka clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaClientError {
    /// The client could not be created or a request failed.
    #[error("Kafka at {brokers}: {source}")]
    Kafka {
        /// The bootstrap servers.
        brokers: String,
        /// The client error.
        source: KafkaError,
    },
    /// Some trades were not delivered after librdkafka's retries.
    #[error("{0} trade(s) could not be delivered to Kafka; see the log for the first errors")]
    Undelivered(u64),
}

/// Delivery counters, shared with librdkafka's callback thread.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Trades acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Trades that failed for good.
    pub failed: AtomicU64,
}

/// The producer's context: counts delivery reports.
pub struct Counting(Arc<Deliveries>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.delivered.fetch_add(1, Ordering::Relaxed),
            Err((error, _)) => {
                if self.0.failed.fetch_add(1, Ordering::Relaxed) < 10 {
                    tracing::error!(%error, "Trade not delivered to Kafka.");
                }
                0
            }
        };
    }
}

/// Creates `topic` with `partitions` through the admin API unless it exists.
pub async fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> Result<(), KafkaClientError> {
    let error = |source| KafkaClientError::Kafka { brokers: brokers.to_owned(), source };
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().map_err(error)?;
    let results = admin
        .create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .map_err(error)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(error(KafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

/// Sends trades to one topic, keyed by symbol, with per-symbol `seq`.
pub struct TickProducer {
    producer: BaseProducer<Counting>,
    topic: String,
    brokers: String,
    seqs: FxHashMap<Symbol, u64>,
    value: String,
    deliveries: Arc<Deliveries>,
    sent: u64,
}

impl TickProducer {
    /// An idempotent producer for `topic` on `brokers`.
    pub fn new(brokers: &str, topic: &str) -> Result<Self, KafkaClientError> {
        let deliveries = Arc::new(Deliveries::default());
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("compression.type", "lz4")
            .create_with_context(Counting(deliveries.clone()))
            .map_err(|source| KafkaClientError::Kafka { brokers: brokers.to_owned(), source })?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            brokers: brokers.to_owned(),
            seqs: FxHashMap::default(),
            value: String::with_capacity(128),
            deliveries,
            sent: 0,
        })
    }

    /// Assigns the trade its symbol's next `seq` and hands it to librdkafka,
    /// waiting while its queue is full.
    pub fn send(&mut self, tick: &mut Tick) -> Result<(), KafkaClientError> {
        let seq = self.seqs.entry(tick.symbol.clone()).or_insert(0);
        tick.seq = *seq;
        *seq += 1;
        wire::encode(tick, &mut self.value);
        loop {
            let record = BaseRecord::to(&self.topic).key(tick.symbol.as_str()).payload(self.value.as_str());
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((source, _)) => return Err(KafkaClientError::Kafka { brokers: self.brokers.clone(), source }),
            }
        }
        self.sent += 1;
        if self.sent.is_multiple_of(1024) {
            self.producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    /// Trades handed over so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The delivery counters.
    pub fn deliveries(&self) -> &Deliveries {
        &self.deliveries
    }

    /// Waits until every trade is delivered or failed for good.
    pub fn flush(&self) -> Result<(), KafkaClientError> {
        self.producer
            .flush(Duration::from_secs(300))
            .map_err(|source| KafkaClientError::Kafka { brokers: self.brokers.clone(), source })?;
        match self.deliveries.failed.load(Ordering::Relaxed) {
            0 => Ok(()),
            failed => Err(KafkaClientError::Undelivered(failed)),
        }
    }
}
