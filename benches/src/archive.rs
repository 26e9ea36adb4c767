//! `tickflow bench archive`: the archiver against the raw rdkafka consumer.
//!
//! A topic of the local broker is filled (untimed, [`crate::topic`]); then,
//! in the same run, the raw consumer reads it all, and `tickflow archive
//! --stop-at-end` (a consumer group from the earliest offset, decoding,
//! day-partitioned Parquet files written, fsynced and renamed, offsets
//! committed after each) archives it as a child process. The figure is the
//! ratio of their rates.

use crate::report::{Figures, children_peak_rss};
use crate::{BenchError, tansu, topic};
use serde_json::json;
use std::process::Command;
use std::time::Instant;

/// Arguments of `tickflow bench archive`.
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
}

const TOPIC: &str = "bench-archive";

/// Fills the topic, then measures the raw consumer and the archiver on it.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let broker = tansu::Broker::start(tansu::Storage::Memory)?;
    let brokers = broker.bootstrap();
    topic::fill(&brokers, TOPIC, args.partitions, args.ticks, args.symbols)?;
    let raw_seconds = topic::raw_consume(&brokers, TOPIC, args.ticks)?;
    let out = tempfile::tempdir()?;
    let clock = Instant::now();
    let output = Command::new(std::env::current_exe()?)
        .args(["archive", "--brokers", &brokers, "--topic", TOPIC, "--stop-at-end", "--out"])
        .arg(out.path())
        .env("TICKFLOW_LOG", "warn")
        .output()?;
    let seconds = clock.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(BenchError::Run(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    let archived = format!("Archived {} trades", args.ticks);
    if !stdout.contains(&archived) {
        return Err(BenchError::Run(format!("expected {archived:?}, the archiver said {stdout:?}")));
    }
    let (raw_rate, rate) = (args.ticks as f64 / raw_seconds, args.ticks as f64 / seconds);
    eprintln!("raw rdkafka consumer: {raw_rate:.0} trades/s; tickflow archive: {rate:.0} trades/s");
    Ok(Figures {
        scenario: "archive".into(),
        params: vec![
            ("partitions".into(), json!(args.partitions)),
            ("raw_consumer_per_s".into(), json!(raw_rate.round() as u64)),
            ("ratio_to_raw".into(), json!((rate / raw_rate * 1000.0).round() / 1000.0)),
        ],
        items: args.ticks,
        wall_seconds: seconds,
        peak_rss_bytes: children_peak_rss(),
    })
}
