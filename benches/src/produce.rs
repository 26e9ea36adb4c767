//! `tickflow bench produce`: the producer against the raw rdkafka client.
//!
//! Both runs send the same number of trades to the same broker, each to a
//! topic of its own: first the raw client (an idempotent `BaseProducer`
//! sending the replay's own wire messages, prepared in memory beforehand), then
//! `tickflow produce --replay` on generated archive files (reading, ordering,
//! encoding and sending: the whole service). The figure is their ratio.

use crate::batch::FileFormat;
use crate::child::run_to_end;
use crate::report::Figures;
use crate::{BenchError, tansu};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tickflow_ingest::producer::{Prepared, Sequencer};
use tickflow_ingest::replay::{Chunk, Replay};
use tickflow_shared::kafka::KafkaConfig;

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
    /// Archive file format replayed.
    #[arg(long, value_enum, default_value = "csv")]
    format: FileFormat,
    /// Rounds of raw client then producer; the figures are the median round's.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Measures the raw client and the producer service in rounds: each round
/// on a broker of its own (tansu's in-memory store slows as it fills), the
/// two in turn, who goes first alternating between rounds; a busy machine
/// drifts, so a round compares neighbours and the figure is the median round.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let (format, name) = args.format.generated();
    let archive = crate::generated(&args.data_dir, (args.ticks, 1), args.symbols, 7, format)?;
    let messages = messages(&archive, args.ticks)?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds.max(1) {
        let broker = match &args.brokers {
            Some(_) => None,
            None => Some(tansu::Broker::start(tansu::Storage::Memory)?),
        };
        let brokers =
            args.brokers.clone().or_else(|| broker.as_ref().map(tansu::Broker::bootstrap)).unwrap_or_default();
        let raw = || raw_client(&brokers, &format!("bench-raw-{round}"), &messages, &args);
        let service = || produce(&brokers, &format!("bench-ticks-{round}"), &archive, &args);
        let (raw_seconds, (seconds, peak)) = if round % 2 == 0 {
            let raw_seconds = raw()?;
            (raw_seconds, service()?)
        } else {
            let service = service()?;
            (raw()?, service)
        };
        let (raw_rate, rate) = (args.ticks as f64 / raw_seconds, args.ticks as f64 / seconds);
        eprintln!(
            "round {}: raw rdkafka client {raw_rate:.0} trades/s, tickflow produce {rate:.0} trades/s: {:.3}",
            round + 1,
            rate / raw_rate
        );
        rounds.push((rate / raw_rate, raw_rate, seconds, peak));
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (ratio, raw_rate, seconds, _) = rounds[rounds.len() / 2];
    let peak = rounds.iter().map(|r| r.3).max().unwrap_or(0);
    let ratios: Vec<f64> = rounds.iter().map(|r| (r.0 * 1000.0).round() / 1000.0).collect();
    Ok(Figures {
        scenario: "produce".into(),
        params: vec![
            ("ticks".into(), json!(args.ticks)),
            ("format".into(), json!(name)),
            ("partitions".into(), json!(args.partitions)),
            ("broker".into(), json!(if args.brokers.is_none() { "tansu (memory), one per round" } else { "given" })),
            ("raw_client_per_s".into(), json!(raw_rate.round())),
            ("ratio_to_raw".into(), json!((ratio * 1000.0).round() / 1000.0)),
            ("round_ratios".into(), json!(ratios)),
        ],
        items: args.ticks,
        wall_seconds: seconds,
        peak_rss_bytes: peak,
    })
}

/// Seconds and peak memory of `tickflow produce --replay archive` sending
/// `ticks` trades to `topic`, from its start to its exit.
fn produce(brokers: &str, topic: &str, archive: &Path, args: &Args) -> Result<(f64, u64), BenchError> {
    let finished = run_to_end(
        Command::new(std::env::current_exe()?)
            .args(["produce", "--brokers", brokers, "--topic", topic, "--partitions"])
            .arg(args.partitions.to_string())
            .arg("--ticks")
            .arg(args.ticks.to_string())
            .arg("--replay")
            .arg(archive),
    )?;
    Ok((finished.seconds, finished.peak_rss_bytes))
}

/// The first `ticks` messages `tickflow produce --replay archive` sends:
/// the replay's trades with their `seq`, encoded and keyed the same way.
fn messages(archive: &Path, ticks: u64) -> Result<Vec<Prepared>, BenchError> {
    let mut sequencer = Sequencer::default();
    let replay = Replay::start(&[archive.to_path_buf()], move |mut chunk: Chunk| sequencer.prepare(&mut chunk.ticks))
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    let mut batches = Vec::new();
    let mut total = 0u64;
    for batch in replay {
        let batch = batch.map_err(|e| BenchError::Prepare(e.to_string()))?;
        total += batch.len() as u64;
        batches.push(batch);
        if total >= ticks {
            break;
        }
    }
    Ok(batches)
}

/// Seconds for the raw client to deliver `ticks` of `messages` to `topic`:
/// the very messages `tickflow produce` sends, prepared before the clock
/// starts. (Repeating a few ready-made messages instead compresses to almost
/// nothing and halves librdkafka's work, which is no baseline for real trades.)
fn raw_client(brokers: &str, topic: &str, messages: &[Prepared], args: &Args) -> Result<f64, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime
        .block_on(tickflow_ingest::producer::ensure_topic(&KafkaConfig::plain(brokers), topic, args.partitions))
        .map_err(|e| BenchError::Run(e.to_string()))?;
    let producer = raw_producer(brokers)?;
    let clock = Instant::now();
    let mut sent = 0u64;
    'send: for batch in messages {
        for (_, key, value) in batch.iter() {
            if sent == args.ticks {
                break 'send;
            }
            send(&producer, topic, key, value)?;
            sent += 1;
            if sent.is_multiple_of(1024) {
                producer.poll(Duration::ZERO);
            }
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
    tickflow_ingest::producer::producer_config(&KafkaConfig::plain(brokers)).create().map_err(kafka)
}

/// Queues one message, waiting while the client's queue is full.
pub(crate) fn send<K, P>(producer: &BaseProducer, topic: &str, key: &K, payload: &P) -> Result<(), BenchError>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
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
