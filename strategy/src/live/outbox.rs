//! Signals on Kafka through an outbox: the store is the outbox.
//!
//! A signal is first committed to the store with the bot's progress (so it
//! exists exactly once); then [`Outbox::publish`] sends the signals numbered
//! after the bot's publish mark ([`SignalStore::published`]) to the topic,
//! keyed by symbol, as JSON (the API's signal object with its `seq`), waits
//! until the brokers acknowledged every one, and moves the mark
//! ([`SignalStore::mark_published`]). The producer is idempotent, so
//! retries inside a session never duplicate a message; a bot killed after a
//! delivery and before its mark sends those signals again when it restarts,
//! and a consumer drops a repeat by its key `(strategy, symbol, interval,
//! start)` or its `seq`, which never changes. No signal is ever missing.
//! A topic that does not exist is created through the admin API, with
//! [`PARTITIONS`] partitions.

use super::{LiveError, Output};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;
use tickflow_shared::kafka::{KafkaConfig, Security};
use tickflow_shared::render::write_json_signal;
use tickflow_shared::store::SignalStore;

/// Signals read and sent per round.
const PAGE: usize = 1_000;

/// Partitions of a signals topic the bot creates.
pub const PARTITIONS: i32 = 6;

/// How long a delivery may take before the bot gives up and starts over.
const DELIVERY: Duration = Duration::from_secs(30);

/// The Kafka side of the outbox.
pub struct Outbox {
    producer: FutureProducer,
    kafka: KafkaConfig,
    topic: String,
    strategy: String,
    /// The publish mark as last read or written; `None` until read.
    mark: Option<i64>,
}

impl Outbox {
    /// An idempotent producer for `output`, publishing the signals of `strategy`.
    pub fn new(output: &Output, strategy: &str) -> Result<Self, LiveError> {
        let producer = output
            .kafka
            .client(&[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("linger.ms", "5"),
                ("enable.sparse.connections", "false"),
            ])
            .create()
            .map_err(|e| LiveError::Kafka { brokers: output.kafka.brokers().to_owned(), message: e.to_string() })?;
        Ok(Self {
            producer,
            kafka: output.kafka.clone(),
            topic: output.topic.clone(),
            strategy: strategy.to_owned(),
            mark: None,
        })
    }

    /// Sends every stored signal after the mark and moves the mark; returns
    /// how many were sent.
    pub async fn publish(&mut self, store: &dyn SignalStore) -> Result<u64, LiveError> {
        let mut mark = match self.mark {
            Some(mark) => mark,
            None => {
                self.ensure_topic().await?;
                store.published(&self.strategy, &self.topic).await?
            }
        };
        let mut sent = 0;
        loop {
            let changes = store.signal_changes(Some(&self.strategy), mark, PAGE).await?;
            let Some(last) = changes.signals.last().map(|c| c.seq) else { break };
            let payloads: Vec<String> = changes
                .signals
                .iter()
                .map(|change| {
                    let mut json = String::with_capacity(256);
                    write_json_signal(&mut json, &change.signal);
                    json.pop();
                    json.push_str(&format!(r#","seq":{}}}"#, change.seq));
                    json
                })
                .collect();
            let mut deliveries = Vec::with_capacity(payloads.len());
            for (change, json) in changes.signals.iter().zip(&payloads) {
                let record = FutureRecord::to(&self.topic).key(change.signal.symbol.as_str()).payload(json);
                deliveries.push(self.producer.send(record, DELIVERY));
            }
            for delivery in deliveries {
                delivery
                    .await
                    .map_err(|(e, _)| self.error(format!("a signal was not delivered to {}: {e}", self.topic)))?;
            }
            store.mark_published(&self.strategy, &self.topic, last).await?;
            sent += changes.signals.len() as u64;
            mark = last;
            self.mark = Some(mark);
            if changes.signals.len() < PAGE {
                break;
            }
        }
        self.mark = Some(mark);
        Ok(sent)
    }

    /// Creates the topic unless it exists; fails at once on a wrong
    /// password or certificate.
    async fn ensure_topic(&self) -> Result<(), LiveError> {
        let no_client = |e| self.error(format!("no admin client: {e}"));
        let security = Security::new(&self.kafka).map_err(no_client)?;
        let admin: AdminClient<DefaultClientContext> = self.kafka.client(&[]).create().map_err(no_client)?;
        let topic = NewTopic::new(&self.topic, PARTITIONS, TopicReplication::Fixed(1));
        let results = security
            .guard(admin.create_topics(&[topic], &AdminOptions::new()))
            .await
            .map_err(|reason| {
                self.error(format!(
                    "{reason}; check sasl.username and sasl.mechanisms, the password in TICKFLOW_KAFKA_SASL_PASSWORD \
                     (or the file TICKFLOW_KAFKA_SASL_PASSWORD_FILE names) and the SSL properties"
                ))
            })?
            .map_err(|e| self.error(format!("cannot create the topic {}: {e}", self.topic)))?;
        // Dropping the client joins its polling thread: not on the runtime's.
        std::thread::spawn(move || drop(admin));
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => return Err(self.error(format!("cannot create the topic {}: {code}", self.topic))),
            }
        }
        Ok(())
    }

    fn error(&self, message: String) -> LiveError {
        LiveError::Kafka { brokers: self.kafka.brokers().to_owned(), message }
    }
}
