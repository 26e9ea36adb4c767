//! `tickflow batch`: recompute and publish.

use anyhow::Context;
use std::path::PathBuf;
use tickflow_batch::{BatchConfig, BatchReport};
use tickflow_shared::Interval;
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
}

/// Runs `tickflow batch`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = BatchConfig { archive: args.archive, intervals: args.intervals.0, workers: args.workers };
    let report = super::runtime()?.block_on(async {
        let store =
            tickflow_shared::store::open(&args.store).await.with_context(|| format!("opening store {}", args.store))?;
        anyhow::Ok(tickflow_batch::run(&config, store.as_ref()).await?)
    })?;
    print(&report, args.show_rejects);
    Ok(())
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
    let Some(run) = &report.run else {
        println!("Nothing to publish: no archive file changed since the last batch run.");
        return;
    };
    println!(
        "Published batch run {}: {} day(s), {} trades, {} bars, {} rejected rows; boundary {}.",
        run.version,
        run.days,
        run.trades,
        run.bars,
        report.rejects.len(),
        run.boundary.map_or_else(|| "none".to_owned(), format_rfc3339)
    );
    println!(
        "Read {} file(s), {:.1} MB in {:.2} s ({:.2} M trades/s), published in {:.2} s.",
        report.files_read,
        report.bytes_read as f64 / 1e6,
        report.compute_seconds,
        report.trades as f64 / report.compute_seconds.max(1e-9) / 1e6,
        report.publish_seconds
    );
}
