//! `tickflow demo`: the whole system in one process, on the embedded default.
//!
//! The market simulator feeds an in-process bus instead of Kafka; the speed
//! layer keeps bars from it in SQLite under `--data`; the same trades are
//! archived as day-partitioned Parquet by the archiver of `tickflow archive`
//! (`tickflow_ingest::archive::bus`); the batch layer
//! recomputes the sealed days of that archive at start and every
//! `--batch-every`; a `sma-cross` bot trades 1m bars on paper and the
//! dashboard shows its signals; the serving layer answers on `--listen`. A first start
//! writes an hour of simulated history (the end of the weekday before) into
//! the archive ([`history`]), so the chart shows batch bars before the
//! boundary and speed bars after it at once.
//!
//! Every part runs on a thread of its own and stops on Ctrl-C or SIGTERM (or
//! when another part fails): the simulator closes the bus, the archiver makes
//! its last roll durable, the speed layer commits, the server drains.

mod history;

use super::Span;
use super::speed::Tuning;
use anyhow::Context;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickflow_batch::BatchConfig;
use tickflow_ingest::archive::{self, RollConfig};
use tickflow_ingest::metrics::ArchiveMetrics;
use tickflow_ingest::simulator::{Market, feed};
use tickflow_serve::{ApiToken, ServeConfig, Server};
use tickflow_shared::Interval;
use tickflow_shared::input::memory::MemoryBus;
use tickflow_shared::store::{self, Access, BatchStore, Retention, Store};
use tickflow_shared::time::{day_of, format_day, format_rfc3339, now_ns};
use tickflow_speed::TimelyConfig;
use tickflow_speed::metrics::SpeedMetrics;

/// Arguments of `tickflow demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Where the views (`views.db`) and the archive (`archive/`) live; a rerun continues them.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Address the dashboard and the HTTP API listen on.
    #[arg(long, default_value = ServeConfig::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Symbols to simulate, comma-separated, most active first.
    #[arg(long, value_delimiter = ',', default_value = "AAPL,MSFT,NVDA,AMZN,GOOG,META,TSLA,JPM")]
    symbols: Vec<String>,
    /// Live trades per second.
    #[arg(long, default_value_t = 300.0)]
    rate: f64,
    /// Trades in the hour of simulated history written at the first start (0: none).
    #[arg(long, default_value_t = 1_000_000)]
    history_trades: u64,
    /// Seed of the simulated market (the default gives the default symbols prices of $60 to $330).
    #[arg(long, default_value_t = 657)]
    seed: u64,
    /// The batch layer recomputes the archive's newly sealed days this often.
    #[arg(long, default_value = "5m")]
    batch_every: Span,
    /// The archive's open files are finished and made visible this often.
    #[arg(long, default_value_t = Span(RollConfig::default_roll_interval()))]
    roll_interval: Span,
    /// Intervals to keep, comma-separated; each must divide one day.
    #[arg(long, default_value = Interval::DEFAULTS)]
    intervals: super::Intervals,
    /// Partitions of the in-process bus.
    #[arg(long, default_value_t = 2)]
    partitions: usize,
    /// Timely worker threads of the speed and the batch layer.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[command(flatten)]
    tuning: Tuning,
}

/// Runs `tickflow demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.workers > 0, "--workers must be at least 1");
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    anyhow::ensure!(!args.batch_every.0.is_zero(), "--batch-every must be positive, like 5m");
    anyhow::ensure!(!args.symbols.is_empty(), "--symbols needs at least one symbol, like AAPL,MSFT");
    let day = history::day_before(day_of(now_ns()));
    let simulation = history::market(&args.symbols, args.seed, day);
    let market = Market::new(&simulation).context("--symbols")?;
    let mut speed = args.tuning.config(&args.intervals.0, TimelyConfig::Process { workers: args.workers }, false)?;
    let stop = super::stop_on_signal()?;
    let archive_dir = args.data.join("archive");
    let store_url = format!("sqlite://{}", args.data.join("views.db").display());
    // It drives the server and the store's async calls for the whole run.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let store: Arc<dyn Store> = runtime.block_on(store::open(&store_url, Access::Write))?;
    println!("tickflow demo: data under {}", args.data.display());

    if args.history_trades > 0 {
        match history::ensure(&archive_dir, &simulation, args.history_trades)? {
            history::History::Present => println!("  history   {} is in the archive already", format_day(day)),
            history::History::Generated(summary) => println!(
                "  history   {}: {} simulated trades of {} symbols written to {}",
                format_day(day),
                summary.ticks,
                summary.symbols,
                archive_dir.display()
            ),
        }
    }
    let batch = BatchConfig {
        archive: vec![archive_dir.clone()],
        intervals: args.intervals.0.clone(),
        workers: args.workers,
        retention: Retention::DEFAULT,
    };
    let report = runtime.block_on(tickflow_batch::run(&batch, store.as_ref())).context("the first batch run")?;
    super::batch::print(&report, 10);
    if stop.load(Ordering::Relaxed) {
        println!("Stopped before going live.");
        return Ok(());
    }

    let listener = std::net::TcpListener::bind(args.listen).with_context(|| {
        format!("cannot listen on {}; is another demo running there? Choose another address with --listen", args.listen)
    })?;
    let address = listener.local_addr()?;
    // A secret: from the environment only, never printed.
    let api_token = std::env::var("TICKFLOW_API_TOKEN").ok().and_then(ApiToken::new);
    let token_hint = if api_token.is_some() { "?token=$TICKFLOW_API_TOKEN" } else { "" };
    let mut registry = Registry::default();
    let server = ServeConfig { intervals: args.intervals.0.clone(), api_token, ..ServeConfig::default() }
        .build(store.clone(), &mut registry)?
        .with_signals(store.clone());
    let bot = runtime.spawn(super::bot::demo(store.clone(), &mut registry)?.run(super::bot::until(stop.clone())));
    speed.metrics = SpeedMetrics::register(&mut registry);
    let archive_metrics = ArchiveMetrics::register(&mut registry);
    // Read by the speed layer and the archiver: each sees every trade.
    let bus = MemoryBus::with_readers(args.partitions, 2);
    let simulator = feed(bus.clone(), market, args.rate, u64::MAX, stop.clone())?;
    let lateness = args.tuning.event_time().allowed_lateness;
    let rolls = RollConfig {
        out: archive_dir.clone(),
        roll_trades: RollConfig::default_roll_trades(),
        roll_interval: args.roll_interval.0,
        watermark: args.tuning.event_time().watermark(),
        allowed_lateness: lateness.nanos(),
    };
    let archiver = service("archiver", &stop, {
        let bus = bus.clone();
        move || Ok(archive::bus::run(&bus, &rolls, &archive_metrics)?)
    })?;
    let speed_layer = service("speed", &stop, {
        let (store, stop) = (store.clone(), stop.clone());
        move || Ok(tickflow_speed::run(&speed, Arc::new(bus), store, stop)?)
    })?;
    let batches = service("batch", &stop, {
        let (store, stop, every) = (store.clone(), stop.clone(), args.batch_every.0);
        move || scheduled_batches(&batch, store.as_ref(), every, &stop)
    })?;
    let intervals: Vec<String> = args.intervals.0.iter().map(ToString::to_string).collect();
    println!("  simulator {} symbols at {} trades/s into an in-process bus", args.symbols.len(), args.rate);
    println!("  speed     bars of {} into {store_url}", intervals.join(","));
    println!("  archive   {} (a day is sealed {lateness} after its end)", archive_dir.display());
    println!("  batch     every {} over the sealed days of the archive", args.batch_every);
    println!("  bot       sma-cross (fast=10, slow=30) on 1m bars, paper trading 100 shares");
    println!("Dashboard at http://{address}/{token_hint} (Ctrl-C stops the demo)");

    let served = runtime.block_on(serve(listener, server, registry, stop.clone()));
    stop.store(true, Ordering::Relaxed);
    let _ = simulator.join();
    served?;
    runtime.block_on(bot)??;
    let archived = join(archiver)?;
    let speed = join(speed_layer)?;
    let runs = join(batches)?;
    println!(
        "Stopped: archived {} trades in {} rolls ({} late for a sealed day); the speed layer wrote {} commits (watermark {}); {runs} scheduled batch run(s) published.",
        archived.trades,
        archived.rolls,
        archived.late,
        speed.commits,
        speed.watermark.map_or_else(|| "none".to_owned(), format_rfc3339)
    );
    Ok(())
}

/// Runs `work` on a thread named `name`; if it fails, everything stops.
fn service<T: Send + 'static>(
    name: &str,
    stop: &Arc<AtomicBool>,
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<JoinHandle<anyhow::Result<T>>> {
    let stop = stop.clone();
    let label = name.to_owned();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let result = work();
            if let Err(error) = &result {
                tracing::error!(service = %label, error = format!("{error:#}"), "A part of the demo failed; stopping.");
                stop.store(true, Ordering::Relaxed);
            }
            result
        })
        .with_context(|| format!("starting the {name} thread"))
}

fn join<T>(handle: JoinHandle<anyhow::Result<T>>) -> anyhow::Result<T> {
    handle.join().map_err(|_| anyhow::anyhow!("a demo thread panicked"))?
}

/// Runs the batch layer every `every` until `stop`; returns the runs that
/// published something. A failed run is logged and retried next time.
fn scheduled_batches(
    config: &BatchConfig,
    store: &dyn BatchStore,
    every: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<u64> {
    let runtime = super::runtime()?;
    let mut published = 0;
    let mut next = Instant::now() + every;
    loop {
        while Instant::now() < next {
            if stop.load(Ordering::Relaxed) {
                return Ok(published);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        next += every;
        match runtime.block_on(tickflow_batch::run(config, store)) {
            Ok(report) => {
                published += u64::from(!report.runs.is_empty());
                for run in report.runs {
                    let boundary = run.boundary.map_or_else(|| "none".to_owned(), format_rfc3339);
                    tracing::info!(version = run.version, days = run.days, %boundary, "Published a batch run.");
                }
            }
            Err(error) => {
                tracing::error!(%error, "The scheduled batch run failed; it runs again at the next schedule.");
            }
        }
    }
}

/// Serves the dashboard and the API on `listener` until `stop` is set.
async fn serve(
    listener: std::net::TcpListener,
    server: Server,
    registry: Registry,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let stopped = async move {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    Ok(tickflow_serve::run(listener, server, Arc::new(registry), stopped).await?)
}
