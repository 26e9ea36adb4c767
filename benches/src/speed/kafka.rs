//! `tickflow bench speed kafka`: `tickflow speed` reading a topic of the
//! local broker, against the raw rdkafka consumer on the same topic.
//!
//! The topic is filled first (untimed, [`crate::topic`]). Then, on the same
//! broker in the same run: the raw client, and
//! `tickflow speed --stop-at-end` as a child process, which reads the topic,
//! decodes, keeps every interval and writes its bars and offsets to a fresh
//! store. The figure is the ratio of their rates.

use crate::report::{Figures, children_peak_rss};
use crate::{BenchError, tansu, topic};
use serde_json::json;
use std::process::Command;
use std::time::Instant;
use tickflow_shared::Interval;

/// Arguments of `tickflow bench speed kafka`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trades in the topic.
    #[arg(long, default_value_t = 10_000_000)]
    ticks: u64,
    /// Symbols traded.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Intervals the speed job keeps.
    #[arg(long, default_value = Interval::DEFAULTS)]
    intervals: String,
    /// Timely workers of the speed job.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The speed job's store; default: a new SQLite file for the run.
    #[arg(long)]
    store: Option<String>,
}

const TOPIC: &str = "bench-speed";

/// Fills the topic, then measures the raw consumer and the speed job on it.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let broker = tansu::Broker::start(tansu::Storage::Memory)?;
    let brokers = broker.bootstrap();
    topic::fill(&brokers, TOPIC, args.partitions, args.ticks, args.symbols)?;
    let raw_seconds = topic::raw_consume(&brokers, TOPIC, args.ticks)?;
    let dir = tempfile::tempdir()?;
    let store = args.store.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("speed.db").display()));
    let clock = Instant::now();
    let output = Command::new(std::env::current_exe()?)
        .args(["speed", "--brokers", &brokers, "--topic", TOPIC, "--store", &store, "--stop-at-end"])
        .args(["--intervals", &args.intervals, "--workers", &args.workers.to_string()])
        .env("TICKFLOW_LOG", "warn")
        .output()?;
    let seconds = clock.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(BenchError::Run(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    let (raw_rate, rate) = (args.ticks as f64 / raw_seconds, args.ticks as f64 / seconds);
    eprintln!("raw rdkafka consumer: {raw_rate:.0} trades/s; tickflow speed: {rate:.0} trades/s");
    Ok(Figures {
        scenario: "speed kafka".into(),
        params: vec![
            ("partitions".into(), json!(args.partitions)),
            ("intervals".into(), json!(args.intervals)),
            ("workers".into(), json!(args.workers)),
            ("store".into(), json!(if args.store.is_some() { "given" } else { "sqlite" })),
            ("raw_consumer_per_s".into(), json!(raw_rate.round() as u64)),
            ("ratio_to_raw".into(), json!((rate / raw_rate * 1000.0).round() / 1000.0)),
        ],
        items: args.ticks,
        wall_seconds: seconds,
        peak_rss_bytes: children_peak_rss(),
    })
}
