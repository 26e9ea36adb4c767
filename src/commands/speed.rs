//! `tickflow speed`: the speed layer, from Kafka or the in-process simulator.

use super::{EventTime, Span};
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickflow_ingest::producer::ensure_topic;
use tickflow_ingest::simulator::{DEFAULT_RATE, Market, SimConfig, feed};
use tickflow_shared::input::memory::MemoryBus;
use tickflow_shared::input::{DEFAULT_PARTITIONS, DEFAULT_TOPIC, Inputs};
use tickflow_shared::store::{self, Access, SpeedStore};
use tickflow_shared::time::format_rfc3339;
use tickflow_shared::{Interval, IntervalPlan};
use tickflow_speed::kafka::KafkaInputs;
use tickflow_speed::metrics::SpeedMetrics;
use tickflow_speed::windows::WindowsConfig;
use tickflow_speed::{SpeedConfig, SpeedReport, TimelyConfig};

/// Arguments of `tickflow speed`.
#[derive(clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers, `host:port[,host:port]` (or use --simulate).
    #[arg(long, env = "TICKFLOW_BROKERS", required_unless_present = "simulate")]
    brokers: Option<String>,
    #[command(flatten)]
    kafka: super::kafka::KafkaArgs,
    /// Topic of trades; created (with `--partitions`) if missing.
    #[arg(long, default_value = DEFAULT_TOPIC)]
    topic: String,
    /// Partitions of the topic when it has to be created (or of the in-process bus).
    #[arg(long, default_value_t = DEFAULT_PARTITIONS)]
    partitions: i32,
    /// View store URL: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
    /// Intervals to keep, comma-separated; each must divide one day.
    #[arg(long, default_value = Interval::DEFAULTS)]
    intervals: super::Intervals,
    /// Timely worker threads per process (default: one per core).
    #[arg(long, default_value_t = super::default_workers())]
    workers: usize,
    /// Processes in the timely cluster (with --process and --hostfile).
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// This process's index in the cluster, from 0.
    #[arg(long, default_value_t = 0)]
    process: usize,
    /// File with one `host:port` per line, one line per process.
    #[arg(long)]
    hostfile: Option<PathBuf>,
    #[command(flatten)]
    tuning: Tuning,
    /// Exit once every partition is read to its end (default: run until Ctrl-C or SIGTERM).
    #[arg(long)]
    stop_at_end: bool,
    /// Source: the in-process market simulator instead of Kafka (event time = wall clock).
    #[arg(long, conflicts_with = "brokers")]
    simulate: bool,
    /// Simulator: number of symbols.
    #[arg(long, default_value_t = SimConfig::default().symbols)]
    symbols: usize,
    /// Simulator: trades per second.
    #[arg(long, default_value_t = DEFAULT_RATE)]
    rate: f64,
    /// Simulator: stop after this many trades (then exit when they are processed).
    #[arg(long)]
    ticks: Option<u64>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (and `/healthz`), like `0.0.0.0:9100` (default: off).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Log a status line (rate, lag, watermark, bars, late, rejects) this often.
    #[arg(long, default_value_t = Span(tickflow_speed::status::DEFAULT_EVERY))]
    status_every: Span,
}

/// The speed job's timing flags, shared by `tickflow speed` and `tickflow demo`.
#[derive(clap::Args)]
pub struct Tuning {
    /// Provisional bars are written at most this often.
    #[arg(long, default_value_t = Span(SpeedConfig::default_emit_interval()))]
    emit_interval: Span,
    #[command(flatten)]
    event_time: EventTime,
    /// Event time per timely epoch: the frontier's granularity.
    #[arg(long, default_value_t = Span(SpeedConfig::default_epoch()))]
    epoch: Span,
}

impl Tuning {
    /// The watermark and lateness flags.
    pub fn event_time(&self) -> &EventTime {
        &self.event_time
    }

    /// The speed job's configuration with these timings.
    pub fn config(
        &self,
        intervals: &[Interval],
        timely: TimelyConfig,
        stop_at_end: bool,
    ) -> anyhow::Result<SpeedConfig> {
        anyhow::ensure!(!self.epoch.0.is_zero(), "--epoch must be positive, like 100ms");
        Ok(SpeedConfig {
            plan: IntervalPlan::new(intervals),
            watermark: self.event_time.watermark(),
            windows: WindowsConfig { allowed_lateness: self.event_time.allowed_lateness.0 },
            emit_interval: self.emit_interval.0,
            epoch: self.epoch.0,
            checkpoint: SpeedConfig::default_checkpoint().max(self.epoch.0),
            timely,
            stop_at_end,
            metrics: SpeedMetrics::default(),
        })
    }
}

/// Runs `tickflow speed`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = config(&args)?;
    let kafka = match &args.brokers {
        Some(brokers) if !args.simulate => Some(args.kafka.config(brokers)?),
        _ => None,
    };
    let mut registry = prometheus_client::registry::Registry::default();
    config.metrics = SpeedMetrics::register(&mut registry);
    super::serve_metrics(args.metrics_listen, registry)?;
    let runtime = super::runtime()?;
    let store: Arc<dyn SpeedStore> = runtime.block_on(store::open(&args.store, Access::Write))?;
    let stop = super::stop_on_signal()?;
    let inputs: Arc<dyn Inputs> = match &kafka {
        Some(kafka) => {
            runtime.block_on(ensure_topic(kafka, &args.topic, args.partitions))?;
            Arc::new(KafkaInputs::new(kafka, &args.topic))
        }
        _ => {
            let bus = MemoryBus::new(args.partitions.max(1) as usize);
            let market = Market::new(&SimConfig { symbols: args.symbols, ..SimConfig::default() })?;
            feed(bus.clone(), market, args.rate, args.ticks.unwrap_or(u64::MAX), stop.clone())?;
            Arc::new(bus)
        }
    };
    let started = Instant::now();
    tickflow_speed::status::spawn(config.metrics.clone(), args.status_every.0, stop.clone());
    let report = tickflow_speed::run(&config, inputs, store, stop)?;
    drop(runtime);
    print(&report, started.elapsed());
    Ok(())
}

fn config(args: &Args) -> anyhow::Result<SpeedConfig> {
    anyhow::ensure!(args.workers > 0, "--workers must be at least 1");
    let timely = match (&args.hostfile, args.processes) {
        (None, 1) => TimelyConfig::Process { workers: args.workers },
        (Some(file), processes) => {
            let text =
                std::fs::read_to_string(file).with_context(|| format!("reading --hostfile {}", file.display()))?;
            let hosts: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
            anyhow::ensure!(
                hosts.len() == processes && args.process < processes,
                "--hostfile lists {} hosts; it needs one per process (--processes {processes}), and --process must be below that",
                hosts.len()
            );
            TimelyConfig::Cluster { workers: args.workers, index: args.process, hosts }
        }
        (None, _) => anyhow::bail!("--processes needs --hostfile with one host:port per process"),
    };
    args.tuning.config(&args.intervals.0, timely, args.stop_at_end || (args.simulate && args.ticks.is_some()))
}

fn print(report: &SpeedReport, elapsed: Duration) {
    println!(
        "Speed layer wrote {} commits with {} bar updates, {} late trades and {} rejects in {:.1} s; watermark {}.",
        report.commits,
        report.bars,
        report.late,
        report.rejects,
        elapsed.as_secs_f64(),
        report.watermark.map_or_else(|| "none".to_owned(), format_rfc3339)
    );
}
