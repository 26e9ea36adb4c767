//! `tickflow bench produce`: the producer against the raw rdkafka client.
//!
//! Both runs send the same number of trades to the same broker, each to a
//! topic of its own: first the raw client (an idempotent `BaseProducer`
//! sending ready-made wire messages, keyed by symbol, in a loop), then
//! `tickflow produce --replay` on generated archive files (reading, ordering,
//! encoding and sending: the whole service). The figure is their ratio.

use crate::report::{Figures, children_peak_rss};
use crate::{BenchError, tansu};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use tickflow_ingest::simulator::Format;
use tickflow_shared::wire;

/// Arguments of `tickflow bench produce`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trades to send in each run.
    #[arg(long, default_value_t = 10_000_000)]
    ticks: u64,
    /// Symbols to generate.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// A running broker; by default a tansu broker is started for the run.
    #[arg(long)]
    brokers: Option<String>,
    /// Where generated input is cached between runs.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
}

/// Measures the raw client, then the producer service, on one broker.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let archive = crate::generated(&args.data_dir, args.ticks, args.symbols, 7, Format::Csv)?;
    let broker = match &args.brokers {
        Some(_) => None,
        None => Some(tansu::Broker::start(tansu::Storage::Memory)?),
    };
    let brokers = args.brokers.clone().or_else(|| broker.as_ref().map(tansu::Broker::bootstrap)).unwrap_or_default();

    let raw_seconds = raw_client(&brokers, &args)?;
    let clock = Instant::now();
    let output = Command::new(std::env::current_exe()?)
        .args(["produce", "--brokers", &brokers, "--topic", "bench-ticks", "--partitions"])
        .arg(args.partitions.to_string())
        .arg("--replay")
        .arg(&archive)
        .output()?;
    let seconds = clock.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(BenchError::Run(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    let raw_rate = args.ticks as f64 / raw_seconds;
    let rate = args.ticks as f64 / seconds;
    eprintln!("raw rdkafka client: {raw_rate:.0} trades/s; tickflow produce: {rate:.0} trades/s");
    Ok(Figures {
        scenario: "produce".into(),
        params: vec![
            ("ticks".into(), json!(args.ticks)),
            ("partitions".into(), json!(args.partitions)),
            ("broker".into(), json!(if broker.is_some() { "tansu (memory)" } else { "given" })),
            ("raw_client_per_s".into(), json!(raw_rate.round())),
            ("ratio_to_raw".into(), json!((rate / raw_rate * 1000.0).round() / 1000.0)),
        ],
        items: args.ticks,
        wall_seconds: seconds,
        peak_rss_bytes: children_peak_rss(),
    })
}

/// Seconds for the raw client to deliver `ticks` ready-made messages.
fn raw_client(brokers: &str, args: &Args) -> Result<f64, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime
        .block_on(tickflow_ingest::producer::ensure_topic(brokers, "bench-raw", args.partitions))
        .map_err(|e| BenchError::Run(e.to_string()))?;
    let producer = raw_producer(brokers)?;
    let symbols = (0..args.symbols)
        .map(|i| tickflow_shared::Symbol::new(&format!("S{i:04}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    let messages: Vec<String> = symbols
        .iter()
        .map(|symbol| {
            let tick = tickflow_shared::Tick {
                symbol: symbol.clone(),
                ts: 1_767_623_400_000_000_000,
                price: tickflow_shared::Price(12_345_000_000),
                size: tickflow_shared::Size(10_000_000_000),
                seq: 123_456,
            };
            let mut text = String::new();
            wire::encode(&tick, &mut text);
            text
        })
        .collect();
    let clock = Instant::now();
    for i in 0..args.ticks as usize {
        let k = i % symbols.len();
        send(&producer, "bench-raw", symbols[k].as_str(), messages[k].as_str())?;
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(600)).map_err(kafka)?;
    Ok(clock.elapsed().as_secs_f64())
}

fn kafka(e: KafkaError) -> BenchError {
    BenchError::Run(format!("raw client: {e}"))
}

/// The raw client, with the settings of `tickflow produce`.
pub(crate) fn raw_producer(brokers: &str) -> Result<BaseProducer, BenchError> {
    tickflow_ingest::producer::producer_config(brokers).create().map_err(kafka)
}

/// Queues one message, waiting while the client's queue is full.
pub(crate) fn send(producer: &BaseProducer, topic: &str, key: &str, payload: &str) -> Result<(), BenchError> {
    loop {
        match producer.send(BaseRecord::to(topic).key(key).payload(payload)) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(kafka(e)),
        }
    }
}
