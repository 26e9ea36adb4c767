//! The Kafka producer: trades keyed by symbol, in the wire format, exactly once.
//!
//! The producer is idempotent (`enable.idempotence`), so librdkafka's own
//! retries never duplicate a trade; `seq` is assigned here, per symbol, in the
//! order trades are handed over. Delivery reports are counted on librdkafka's
//! thread; a trade whose delivery finally fails is counted as an error and
//! reported, never silently dropped.
//!
//! Sending is the one step that must stay on one thread (it fixes the order of
//! `seq`), so everything else can move off it: a [`Sequencer`] assigns `seq`
//! and encodes trades into [`Prepared`] batches on another thread (the replay
//! does it on its reader thread), and [`TickProducer::send_prepared`] only
//! hands the ready messages to librdkafka.

use crate::metrics::ProduceMetrics;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tickflow_shared::fixed::{DECIMALS, SCALE};
use tickflow_shared::kafka::{KafkaConfig, Security};
use tickflow_shared::time::NANOS_PER_MILLI;
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
    /// The brokers refused the client's password or certificate.
    #[error(
        "Kafka at {brokers}: {reason}; check sasl.username and sasl.mechanisms, the password in \
         TICKFLOW_KAFKA_SASL_PASSWORD (or the file TICKFLOW_KAFKA_SASL_PASSWORD_FILE names) and the SSL properties"
    )]
    Security {
        /// The bootstrap servers.
        brokers: String,
        /// librdkafka's message.
        reason: String,
    },
    /// Some trades were not delivered after librdkafka's retries.
    #[error("{0} trade(s) could not be delivered to Kafka; see the log for the first errors")]
    Undelivered(u64),
    /// Some rejects were not delivered to the dead-letter topic.
    #[error("{0} reject(s) could not be delivered to the dead-letter topic; see the log for the first errors")]
    UndeliveredRejects(u64),
}

/// The producer's context: counts delivery reports into the metrics, on
/// librdkafka's callback thread, and logs an unreachable broker once per
/// outage (librdkafka keeps the trades and retries them meanwhile).
pub struct Counting(ProduceMetrics, AtomicBool);

impl ClientContext for Counting {
    fn error(&self, error: KafkaError, reason: &str) {
        let unreachable = matches!(
            error,
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
        );
        if !unreachable {
            tracing::error!(%error, reason, "Kafka client error.");
        } else if !self.1.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                %error,
                "Kafka is unreachable; the trades sent are kept and retried until it is back or message.timeout.ms passes."
            );
        }
    }
}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.inc();
                if self.1.swap(false, Ordering::Relaxed) {
                    tracing::info!("Kafka is reachable again; trades are delivered.");
                }
            }
            Err((error, _)) => {
                if self.0.delivery_errors.inc() < 10 {
                    tracing::error!(%error, "Trade not delivered to Kafka.");
                }
            }
        }
    }
}

/// Creates `topic` with `partitions` through the admin API unless it exists.
/// Being a command's first request, it fails at once on a wrong password
/// or certificate.
pub async fn ensure_topic(kafka: &KafkaConfig, topic: &str, partitions: i32) -> Result<(), KafkaClientError> {
    let error = |source| KafkaClientError::Kafka { brokers: kafka.brokers().to_owned(), source };
    let security = Security::new(kafka).map_err(error)?;
    let admin: AdminClient<DefaultClientContext> = kafka.client(&[]).create().map_err(error)?;
    let results = security
        .guard(
            admin.create_topics(&[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))], &AdminOptions::new()),
        )
        .await
        .map_err(|reason| KafkaClientError::Security { brokers: kafka.brokers().to_owned(), reason })?
        .map_err(error)?;
    // Dropping the client joins its polling thread, which waits up to 100 ms
    // for an event: let another thread do that, not the caller's start-up.
    std::thread::spawn(move || drop(admin));
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(error(KafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

/// The librdkafka settings of tickflow's producer. The benchmark's raw
/// client uses them too, so that comparison measures tickflow, not settings.
///
/// Connections are made to every broker as soon as it is known: with
/// librdkafka's default (a connection only when a request needs one) the
/// idempotent producer waits two rounds of its 500 ms producer-id timer
/// before the first trade can leave, and a one-trade run takes a second.
pub fn producer_config(kafka: &KafkaConfig) -> ClientConfig {
    kafka.client(&[
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("batch.num.messages", "10000"),
        ("compression.type", "lz4"),
        ("enable.sparse.connections", "false"),
        // As the Java client: back within a second of a broker restart, not
        // librdkafka's 10 s (the consumers wait for the trades it holds).
        ("reconnect.backoff.max.ms", "1000"),
    ])
}

/// Trades ready to send: each with its symbol's `seq`, encoded in the wire
/// format, keyed by symbol.
#[derive(Debug, Default, Clone)]
pub struct Prepared {
    /// Keys and values back to back.
    text: Vec<u8>,
    /// Per message: where its key ends and where its value ends in `text`.
    ends: Vec<(usize, usize)>,
    /// Per message: the trade's event time, for pacing.
    ts: Vec<i64>,
}

impl Prepared {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no message.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Message `i`: its event time, key and value.
    pub fn get(&self, i: usize) -> (i64, &[u8], &[u8]) {
        let start = if i == 0 { 0 } else { self.ends[i - 1].1 };
        let (key, value) = self.ends[i];
        (self.ts[i], &self.text[start..key], &self.text[key..value])
    }

    /// The messages in order: event time, key, value.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &[u8], &[u8])> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// Assigns each trade its symbol's next `seq`, in the order trades are given.
#[derive(Debug, Default)]
pub struct Sequencer {
    seqs: FxHashMap<Symbol, u64>,
}

impl Sequencer {
    /// Sets the trade's `seq` to its symbol's next.
    pub fn assign(&mut self, tick: &mut Tick) {
        let seq = match self.seqs.get_mut(&tick.symbol) {
            Some(seq) => seq,
            None => self.seqs.entry(tick.symbol.clone()).or_insert(0),
        };
        tick.seq = *seq;
        *seq += 1;
    }

    /// Assigns `seq` to each trade in order and encodes them for sending.
    pub fn prepare(&mut self, ticks: &mut [Tick]) -> Prepared {
        let mut prepared = Prepared {
            text: Vec::with_capacity(ticks.len() * 96),
            ends: Vec::with_capacity(ticks.len()),
            ts: Vec::with_capacity(ticks.len()),
        };
        for tick in ticks {
            self.assign(tick);
            prepared.text.extend_from_slice(tick.symbol.as_str().as_bytes());
            let key = prepared.text.len();
            encode(tick, &mut prepared.text);
            prepared.ends.push((key, prepared.text.len()));
            prepared.ts.push(tick.ts);
        }
        prepared
    }
}

/// Appends the trade's message value, byte for byte [`wire::encode`]'s,
/// without the formatting machinery (a third of the cost). Trades outside
/// the fast path (timestamps that are not whole milliseconds, values a valid
/// trade never has) go through [`wire::encode`] itself.
fn encode(tick: &Tick, out: &mut Vec<u8>) {
    if tick.ts < 0 || tick.ts % NANOS_PER_MILLI != 0 || tick.price.0 <= 0 || tick.size.0 <= 0 {
        let mut text = String::new();
        wire::encode(tick, &mut text);
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.extend_from_slice(b"{\"symbol\":\"");
    out.extend_from_slice(tick.symbol.as_str().as_bytes());
    out.extend_from_slice(b"\",\"ts\":");
    write_digits(out, (tick.ts / NANOS_PER_MILLI).unsigned_abs(), 1);
    out.extend_from_slice(b",\"price\":\"");
    write_decimal(out, tick.price.0.unsigned_abs());
    out.extend_from_slice(b"\",\"volume\":\"");
    write_decimal(out, tick.size.0.unsigned_abs());
    out.extend_from_slice(b"\",\"seq\":");
    write_digits(out, tick.seq, 1);
    out.push(b'}');
}

/// A positive fixed-point value as `whole[.fraction]`, trailing zeros dropped.
fn write_decimal(out: &mut Vec<u8>, units: u64) {
    let scale = SCALE.unsigned_abs();
    write_digits(out, units / scale, 1);
    let fraction = units % scale;
    if fraction != 0 {
        out.push(b'.');
        write_digits(out, fraction, DECIMALS as usize);
        // A digit of the fraction is not zero, so this stops after the point.
        while out.last() == Some(&b'0') {
            out.pop();
        }
    }
}

/// `n` in decimal, zero-padded to at least `width` digits. `itoa` writes
/// two digits per step from a table: a fifth of the replay thread's time
/// went to a digit-at-a-time loop.
fn write_digits(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n).as_bytes();
    out.resize(out.len() + width.saturating_sub(digits.len()), b'0');
    out.extend_from_slice(digits);
}

/// Sends trades to one topic, keyed by symbol, with per-symbol `seq`.
pub struct TickProducer {
    producer: BaseProducer<Counting>,
    topic: String,
    brokers: String,
    sequencer: Sequencer,
    value: Vec<u8>,
    metrics: ProduceMetrics,
    sent: u64,
}

impl TickProducer {
    /// An idempotent producer for `topic` on `kafka`, counting into metrics of its own.
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Result<Self, KafkaClientError> {
        Self::with_metrics(kafka, topic, ProduceMetrics::default())
    }

    /// An idempotent producer for `topic` on `kafka` that counts trades
    /// sent and delivery reports into `metrics`.
    pub fn with_metrics(kafka: &KafkaConfig, topic: &str, metrics: ProduceMetrics) -> Result<Self, KafkaClientError> {
        let producer = producer_config(kafka)
            .create_with_context(Counting(metrics.clone(), AtomicBool::new(false)))
            .map_err(|source| KafkaClientError::Kafka { brokers: kafka.brokers().to_owned(), source })?;
        Ok(Self {
            producer,
            topic: topic.to_owned(),
            brokers: kafka.brokers().to_owned(),
            sequencer: Sequencer::default(),
            value: Vec::with_capacity(128),
            metrics,
            sent: 0,
        })
    }

    /// Assigns the trade its symbol's next `seq` and hands it to librdkafka,
    /// waiting while its queue is full.
    pub fn send(&mut self, tick: &mut Tick) -> Result<(), KafkaClientError> {
        self.sequencer.assign(tick);
        let mut value = std::mem::take(&mut self.value);
        value.clear();
        encode(tick, &mut value);
        let sent = self.send_message(tick.symbol.as_str().as_bytes(), &value);
        self.value = value;
        sent
    }

    /// Hands message `i` of a batch a [`Sequencer`] prepared to librdkafka,
    /// waiting while its queue is full. Batches of one sequencer must be sent
    /// in the order it prepared them, and by one producer.
    pub fn send_prepared(&mut self, batch: &Prepared, i: usize) -> Result<(), KafkaClientError> {
        let (_, key, value) = batch.get(i);
        self.send_message(key, value)
    }

    fn send_message(&mut self, key: &[u8], value: &[u8]) -> Result<(), KafkaClientError> {
        send_waiting(&self.producer, &self.topic, key, value, &self.brokers)?;
        self.sent += 1;
        self.metrics.trades.inc();
        if self.sent.is_multiple_of(1024) {
            self.producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    /// Trades handed over so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// The metrics it counts into, delivery reports among them.
    pub fn metrics(&self) -> &ProduceMetrics {
        &self.metrics
    }

    /// Waits until every trade is delivered or failed for good.
    pub fn flush(&self) -> Result<(), KafkaClientError> {
        self.producer
            .flush(Duration::from_secs(300))
            .map_err(|source| KafkaClientError::Kafka { brokers: self.brokers.clone(), source })?;
        match self.metrics.delivery_errors.get() {
            0 => Ok(()),
            failed => Err(KafkaClientError::Undelivered(failed)),
        }
    }
}

/// Sends one message, polling while the producer's queue is full; any other
/// error names the brokers.
pub(crate) fn send_waiting<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    topic: &str,
    key: &[u8],
    value: &[u8],
    brokers: &str,
) -> Result<(), KafkaClientError> {
    loop {
        let record = BaseRecord::to(topic).key(key).payload(value);
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(10));
            }
            Err((source, _)) => return Err(KafkaClientError::Kafka { brokers: brokers.to_owned(), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tickflow_shared::time::{MAX_EVENT_TIME, MIN_EVENT_TIME};
    use tickflow_shared::{Price, Size};

    fn tick() -> impl Strategy<Value = Tick> {
        let ts = prop_oneof![
            (MIN_EVENT_TIME / NANOS_PER_MILLI..MAX_EVENT_TIME / NANOS_PER_MILLI).prop_map(|ms| ms * NANOS_PER_MILLI),
            MIN_EVENT_TIME..MAX_EVENT_TIME,
            any::<i64>(),
        ];
        let units = prop_oneof![1i64..1_000_000_000_000, any::<i64>(), (1i64..100_000).prop_map(|n| n * SCALE)];
        ("[A-Z][A-Z0-9.]{0,7}", ts, units.clone(), units, any::<u64>()).prop_map(|(symbol, ts, price, size, seq)| {
            Tick { symbol: Symbol::new(&symbol).unwrap(), ts, price: Price(price), size: Size(size), seq }
        })
    }

    proptest! {
        /// The fast encoder is the wire format, byte for byte.
        #[test]
        fn encodes_like_the_wire_format(tick in tick()) {
            let mut want = String::new();
            wire::encode(&tick, &mut want);
            let mut got = Vec::new();
            encode(&tick, &mut got);
            prop_assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }

    #[test]
    fn prepares_keys_values_and_seq_per_symbol() {
        let trade = |symbol: &str, ts: i64| Tick {
            symbol: Symbol::new(symbol).unwrap(),
            ts,
            price: Price(16_741_000_000),
            size: Size(10_000_000_000),
            seq: 99,
        };
        let mut ticks = vec![trade("AAPL", 1_000_000), trade("MSFT", 2_000_000), trade("AAPL", 3_000_000)];
        let prepared = Sequencer::default().prepare(&mut ticks);
        let got: Vec<(i64, &[u8], String)> =
            prepared.iter().map(|(ts, key, value)| (ts, key, String::from_utf8_lossy(value).into_owned())).collect();
        let message = |symbol: &str, ms: i64, seq: u64| {
            format!(r#"{{"symbol":"{symbol}","ts":{ms},"price":"167.41","volume":"100","seq":{seq}}}"#)
        };
        assert_eq!(
            got,
            [
                (1_000_000, b"AAPL".as_slice(), message("AAPL", 1, 0)),
                (2_000_000, b"MSFT".as_slice(), message("MSFT", 2, 0)),
                (3_000_000, b"AAPL".as_slice(), message("AAPL", 3, 1)),
            ]
        );
        assert_eq!(ticks.iter().map(|t| t.seq).collect::<Vec<_>>(), [0, 0, 1]);
    }
}
