//! `tickflow batch`: recompute and publish.

use std::path::PathBuf;
use tickflow_batch::metrics::BatchMetrics;
use tickflow_batch::{BatchConfig, BatchError, BatchReport};
use tickflow_shared::Interval;
use tickflow_shared::store::{Retained, Retention};
use tickflow_shared::time::format_rfc3339;

/// Arguments of `tickflow batch`.
#[derive(clap::Args)]
pub struct Args {
    /// Archive files or directories (day-partitioned `date=YYYY-MM-DD/` directories publish only sealed days).
    #[arg(long, required = true, num_args = 1..)]
    archive: Vec<PathBuf>,
    /// View store URL: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
    /// Intervals to compute, comma-separated; each must divide one day.
    #[arg(long, default_value = Interval::DEFAULTS)]
    intervals: super::Intervals,
    /// Timely worker threads (default: one per core).
    #[arg(long, default_value_t = super::default_workers())]
    workers: usize,
    /// Print this many rejected rows (all are kept in the store's rejects table).
    #[arg(long, default_value_t = 10)]
    show_rejects: usize,
    /// Run on a schedule: now, then every this long (`30m`, `1h`) until Ctrl-C or SIGTERM
    /// (default: run once). A run still in flight when the next is due makes that one skipped;
    /// a failed run is logged and counted, and the schedule goes on.
    #[arg(long, value_name = "SPAN")]
    every: Option<super::Span>,
    /// Drop speed bars that start this long before the batch boundary (the batch view has served them since).
    #[arg(long, default_value_t = super::Span(Retention::DEFAULT.speed_after_boundary))]
    retention_speed_after_boundary: super::Span,
    /// Drop late trades recorded this long ago (each batch run has counted them by then).
    #[arg(long, default_value_t = super::Span(Retention::DEFAULT.late_trades))]
    retention_late_trades: super::Span,
    /// Drop rejected rows recorded this long ago.
    #[arg(long, default_value_t = super::Span(Retention::DEFAULT.rejects))]
    retention_rejects: super::Span,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (and `/healthz`), like `0.0.0.0:9100` (default: off).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs `tickflow batch`: once, or with `--every` on a schedule.
pub fn run(args: Args) -> anyhow::Result<()> {
    let retention = Retention {
        speed_after_boundary: args.retention_speed_after_boundary.0,
        late_trades: args.retention_late_trades.0,
        rejects: args.retention_rejects.0,
    };
    let config = BatchConfig { archive: args.archive, intervals: args.intervals.0, workers: args.workers, retention };
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = BatchMetrics::register(&mut registry);
    super::serve_metrics(args.metrics_listen, registry)?;
    let runtime = super::runtime()?;
    let store = args.store.as_str();
    let Some(every) = args.every else {
        let started = std::time::Instant::now();
        let result = runtime.block_on(run_once(&config, store));
        metrics.record(&result, started.elapsed());
        let report = result.map_err(|error| match error {
            BatchError::Store(_) => {
                anyhow::Error::new(error).context(format!("store {}", tickflow_shared::store::redact(store)))
            }
            error => error.into(),
        })?;
        print(&report, args.show_rejects);
        return Ok(());
    };
    anyhow::ensure!(!every.0.is_zero(), "--every must be a positive span of time, like 1h");
    runtime.block_on(async {
        let shutdown = super::shutdown_signal()?;
        tracing::info!(every = ?every.0, "Running the batch job on a schedule.");
        tickflow_batch::schedule::every(every.0, &metrics, shutdown, || run_once(&config, store)).await;
        anyhow::Ok(())
    })
}

/// One batch run on a store opened for it, so a run after a database
/// restart connects afresh.
async fn run_once(config: &BatchConfig, store: &str) -> Result<BatchReport, BatchError> {
    let store = tickflow_shared::store::open(store, tickflow_shared::store::Access::Write).await?;
    tickflow_batch::run(config, store.as_ref()).await
}

/// Prints what a batch run published (or that nothing changed), and the first rejected rows.
pub fn print(report: &BatchReport, show_rejects: usize) {
    for dir in &report.unsealed {
        eprintln!("skipped {}: not sealed yet (no _SEALED marker)", dir.display());
    }
    for reject in report.rejects.iter().take(show_rejects) {
        eprintln!("rejected {reject}");
    }
    if report.rejects.len() > show_rejects {
        eprintln!("... and {} more rejected rows (see the store's rejects table)", report.rejects.len() - show_rejects);
    }
    if report.runs.is_empty() {
        println!("Nothing to publish: no archive file changed since the last batch run.");
        print_retained(&report.retained);
        return;
    }
    for run in &report.runs {
        println!(
            "Published batch run {}: {} day(s), {} trades, {} bars, {} rejected rows; boundary {}.",
            run.version,
            run.days,
            run.trades,
            run.bars,
            run.rejects,
            run.boundary.map_or_else(|| "none".to_owned(), format_rfc3339)
        );
    }
    println!(
        "Read {} file(s), {:.1} MB in {:.2} s ({:.2} M trades/s), published in {:.2} s.",
        report.files_read,
        report.bytes_read as f64 / 1e6,
        report.compute_seconds,
        report.trades as f64 / report.compute_seconds.max(1e-9) / 1e6,
        report.publish_seconds
    );
    print_retained(&report.retained);
}

/// The summary line of what the retention policy dropped, when it dropped anything.
fn print_retained(retained: &Retained) {
    if *retained == Retained::default() {
        return;
    }
    println!(
        "Retention dropped {} speed bar(s) and {} whole chunk(s) of them, {} late trade(s), {} rejected row(s).",
        retained.speed_bars, retained.speed_chunks, retained.late_trades, retained.rejects
    );
}
