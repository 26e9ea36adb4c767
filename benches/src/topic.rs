//! A topic of simulated trades on a broker, and the raw rdkafka consumer
//! reading it: the input and the baseline of the benchmarks of the services
//! that consume `ticks` (the speed layer, the archiver).
//!
//! The raw client is one `BaseConsumer` assigned every partition from the
//! start, counting messages (and touching their payloads) until it has them all.

use crate::child::{Finished, run_to_end};
use crate::{BenchError, produce, tansu};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};
use tickflow_ingest::simulator::{SimConfig, Trades};
use tickflow_shared::kafka::KafkaConfig;
use tickflow_shared::wire;

/// The trades a benchmark reads: how many, of how many symbols, over how
/// many partitions.
#[derive(clap::Args, Debug)]
pub struct TopicArgs {
    /// Trades.
    #[arg(long, default_value_t = 10_000_000)]
    pub ticks: u64,
    /// Symbols traded.
    #[arg(long, default_value_t = 500)]
    pub symbols: usize,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
}

/// A consumer service against the raw consumer, on one topic.
pub struct Race {
    /// The raw consumer's trades/s.
    pub raw_rate: f64,
    /// The service's trades/s.
    pub rate: f64,
    /// Wall seconds of the service.
    pub seconds: f64,
    /// Peak memory of the service (the broker not counted).
    pub peak_rss_bytes: u64,
    /// What the service printed.
    pub stdout: String,
}

impl Race {
    /// The figure params every consumer benchmark ends with.
    pub fn params(&self) -> [(String, Value); 2] {
        [
            ("raw_consumer_per_s".into(), json!(self.raw_rate.round() as u64)),
            ("ratio_to_raw".into(), json!((self.rate / self.raw_rate * 1000.0).round() / 1000.0)),
        ]
    }
}

/// Starts a tansu broker, fills `topic` (untimed), times the raw consumer
/// reading it all, then the `tickflow` subcommand that `service` builds for
/// the broker's address, to its exit.
pub fn race(args: &TopicArgs, topic: &str, service: impl FnOnce(&str, Command) -> Command) -> Result<Race, BenchError> {
    let broker = tansu::Broker::start(tansu::Storage::Memory)?;
    let brokers = broker.bootstrap();
    fill(&brokers, topic, args.partitions, args.ticks, args.symbols)?;
    let raw_rate = args.ticks as f64 / raw_consume(&brokers, topic, args.ticks)?;
    let mut command = service(&brokers, Command::new(std::env::current_exe()?));
    let Finished { stdout, seconds, peak_rss_bytes } = run_to_end(command.env("TICKFLOW_LOG", "warn"))?;
    let rate = args.ticks as f64 / seconds;
    eprintln!("raw rdkafka consumer: {raw_rate:.0} trades/s; {command:?}: {rate:.0} trades/s");
    Ok(Race { raw_rate, rate, seconds, peak_rss_bytes, stdout })
}

/// Creates `topic` and sends it `ticks` simulated trades of `symbols` in
/// event-time order (the batch benchmark's day), keyed by symbol, in the wire format.
fn fill(brokers: &str, topic: &str, partitions: i32, ticks: u64, symbols: usize) -> Result<(), BenchError> {
    eprintln!("Filling {topic} with {ticks} trades (not timed) ...");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime
        .block_on(tickflow_ingest::producer::ensure_topic(&KafkaConfig::plain(brokers), topic, partitions))
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    let producer = produce::raw_producer(brokers)?;
    let config = SimConfig { symbols, ..SimConfig::default() };
    let mut text = String::new();
    for (i, tick) in Trades::new(&config, ticks).map_err(|e| BenchError::Prepare(e.to_string()))?.enumerate() {
        text.clear();
        wire::encode(&tick, &mut text);
        produce::send(&producer, topic, tick.symbol.as_str(), &text)?;
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(600)).map_err(|e| BenchError::Prepare(e.to_string()))
}

/// Seconds for one raw consumer to receive the first `ticks` messages of `topic`.
fn raw_consume(brokers: &str, topic: &str, ticks: u64) -> Result<f64, BenchError> {
    let kafka = |e: rdkafka::error::KafkaError| BenchError::Run(format!("raw consumer: {e}"));
    let consumer: BaseConsumer = KafkaConfig::plain(brokers)
        .client(&[("group.id", "bench-raw"), ("enable.auto.commit", "false"), ("fetch.wait.max.ms", "10")])
        .create()
        .map_err(kafka)?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30)).map_err(kafka)?;
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment.add_partition_offset(topic, partition.id(), Offset::Beginning).map_err(kafka)?;
    }
    consumer.assign(&assignment).map_err(kafka)?;
    let clock = Instant::now();
    let (mut received, mut bytes) = (0u64, 0usize);
    while received < ticks {
        if clock.elapsed() > Duration::from_secs(600) {
            return Err(BenchError::Run(format!("raw consumer: {received} of {ticks} messages in 10 minutes")));
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.map_err(kafka)?;
            bytes += rdkafka::Message::payload(&message).map_or(0, <[u8]>::len);
            received += 1;
        }
    }
    let seconds = clock.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    Ok(seconds)
}
