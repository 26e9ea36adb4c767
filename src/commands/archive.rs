//! `tickflow archive`: keep every trade of the topic as day-partitioned Parquet.

use super::Span;
use std::path::PathBuf;
use tickflow_ingest::archive::{ArchiveConfig, RollConfig, run as archive};
use tickflow_ingest::metrics::ArchiveMetrics;
use tickflow_ingest::producer::ensure_topic;
use tickflow_shared::input::{DEFAULT_PARTITIONS, DEFAULT_TOPIC};
use tickflow_shared::time::format_day;

/// Arguments of `tickflow archive`.
#[derive(clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers, `host:port[,host:port]`.
    #[arg(long, env = "TICKFLOW_BROKERS")]
    brokers: String,
    #[command(flatten)]
    kafka: super::kafka::KafkaArgs,
    /// Topic to archive; created (with `--partitions`) if missing, so the archiver may start first.
    #[arg(long, default_value = DEFAULT_TOPIC)]
    topic: String,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = DEFAULT_PARTITIONS)]
    partitions: i32,
    /// Consumer group; its committed offsets say what is archived.
    #[arg(long, default_value = "tickflow-archiver")]
    group: String,
    /// Archive directory: `DIR/date=YYYY-MM-DD/part-<partition>-<first offset>.parquet`.
    #[arg(long)]
    out: PathBuf,
    /// Finish the open files and commit after this many trades...
    #[arg(long, default_value_t = RollConfig::default_roll_trades())]
    roll_trades: u64,
    /// ...or after this long, whichever comes first.
    #[arg(long, default_value_t = Span(RollConfig::default_roll_interval()))]
    roll_interval: Span,
    #[command(flatten)]
    event_time: super::EventTime,
    /// Exit after reading every partition to its end (default: run until Ctrl-C or SIGTERM).
    #[arg(long)]
    stop_at_end: bool,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (and `/healthz`), like `0.0.0.0:9100` (default: off).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs `tickflow archive`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.roll_trades > 0, "--roll-trades must be at least 1");
    let kafka = args.kafka.config(&args.brokers)?;
    super::runtime()?.block_on(ensure_topic(&kafka, &args.topic, args.partitions))?;
    let config = ArchiveConfig {
        kafka,
        topic: args.topic,
        group: args.group,
        rolls: RollConfig {
            out: args.out,
            roll_trades: args.roll_trades,
            roll_interval: args.roll_interval.0,
            watermark: args.event_time.watermark(),
            allowed_lateness: args.event_time.allowed_lateness.nanos(),
        },
        stop_at_end: args.stop_at_end,
    };
    let stop = super::stop_on_signal()?;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = ArchiveMetrics::register(&mut registry);
    super::serve_metrics(args.metrics_listen, registry)?;
    let started = std::time::Instant::now();
    let report = archive(&config, &stop, &metrics)?;
    let seconds = started.elapsed().as_secs_f64();
    let sealed: Vec<String> = report.sealed.iter().map(|d| format_day(*d)).collect();
    println!(
        "Archived {} trades in {} rolls to {} in {seconds:.1} s ({:.0} trades/s); {} rejected, {} late for a sealed day; sealed: {}.",
        report.trades,
        report.rolls,
        config.rolls.out.display(),
        report.trades as f64 / seconds.max(1e-9),
        report.rejects,
        report.late,
        if sealed.is_empty() { "none".to_owned() } else { sealed.join(", ") }
    );
    Ok(())
}
