//! `tickflow features`: export point-in-time features, verify an export, or
//! keep one fresh on a schedule.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tickflow_batch::features::quarter::Quarter;
use tickflow_batch::features::{ExportReport, FeatureConfig, FeatureError};
use tickflow_shared::store::{self, Access};
use tickflow_shared::time::{NANOS_PER_DAY, format_rfc3339, now_ns, parse_day, parse_timestamp};
use tickflow_shared::{Interval, Symbol};

/// Arguments of `tickflow features`.
#[derive(clap::Args)]
pub struct Args {
    /// View store URL: `sqlite://path/to/file.db` or `postgres://user@host/db`. Only read.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
    /// The bar interval the rows are made of.
    #[arg(long, default_value = "1d")]
    interval: Interval,
    /// First bar start read: `YYYY-MM-DD`, RFC 3339 or epoch milliseconds.
    #[arg(long, value_parser = timestamp, required_unless_present = "verify")]
    from: Option<i64>,
    /// First bar start not read (default: every published batch bar).
    #[arg(long, value_parser = timestamp)]
    to: Option<i64>,
    /// The export directory: `DIR/interval=1d/year=YYYY/quarter=Q/part-0.parquet` and `_manifest.json`.
    #[arg(long, required_unless_present = "verify", conflicts_with = "verify")]
    out: Option<PathBuf>,
    /// Only these symbols, comma-separated (default: every symbol in the store).
    #[arg(long, value_delimiter = ',', value_parser = symbol)]
    symbols: Option<Vec<Symbol>>,
    /// Label horizons in bars, comma-separated: a `fwd_ret_h` and `fwd_end_h` column for each.
    #[arg(long, value_delimiter = ',', default_value = "1,5,20", value_parser = clap::value_parser!(u32).range(1..))]
    horizons: Vec<u32>,
    /// Check the export in DIR instead: every data file against its manifest's SHA-256, and
    /// every quarter recomputed from the store now. Fails naming each file that differs.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["from", "to", "symbols", "every"])]
    verify: Option<PathBuf>,
    /// Run on a schedule until Ctrl-C or SIGTERM: `1q` at 06:00 UTC on the first day of each
    /// quarter, or every span like `6h`. A run still in flight when the next is due makes that
    /// one skipped; a failed run is logged and the schedule goes on.
    #[arg(long, value_name = "1q|SPAN")]
    every: Option<Every>,
}

/// When a scheduled export runs.
#[derive(Clone, Copy, Debug)]
enum Every {
    /// At 06:00 UTC on the first day of each quarter.
    Quarter,
    /// Every span.
    Span(Duration),
}

impl std::str::FromStr for Every {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "1q" {
            return Ok(Self::Quarter);
        }
        let span: super::Span = text.parse().map_err(|e| format!("{e}; or 1q for once a quarter"))?;
        if span.0.is_zero() {
            return Err(format!("{text:?} is no span of time; write 1q or a positive span like 6h"));
        }
        Ok(Self::Span(span.0))
    }
}

/// When a quarterly run starts after the quarter does: the batch layer has
/// sealed and published the previous quarter's last day by then.
const QUARTER_OFFSET: i64 = NANOS_PER_DAY / 4;

fn symbol(text: &str) -> Result<Symbol, String> {
    Symbol::new(text).map_err(|e| format!("{text:?}: {e}"))
}

fn timestamp(text: &str) -> Result<i64, String> {
    if let Some(day) = parse_day(text) {
        return Ok(day * NANOS_PER_DAY);
    }
    parse_timestamp(text.as_bytes()).map_err(|e| format!("{text:?} {e}; write YYYY-MM-DD or RFC 3339"))
}

/// Runs `tickflow features`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    let url = args.store.as_str();
    if let Some(dir) = &args.verify {
        return runtime.block_on(verify(url, dir));
    }
    let (Some(from), Some(out)) = (args.from, args.out.clone()) else {
        anyhow::bail!("--from and --out are required to export; or pass --verify DIR");
    };
    let config =
        FeatureConfig { interval: args.interval, from, to: args.to, symbols: args.symbols, horizons: args.horizons };
    let Some(every) = args.every else {
        let report = runtime.block_on(export_once(&config, url, &out))?;
        print(&report, &out);
        return Ok(());
    };
    runtime.block_on(async {
        let shutdown = super::shutdown_signal()?;
        tracing::info!(every = ?every, out = %out.display(), "Running the feature export on a schedule.");
        let runs = tickflow_batch::schedule::on_slots(
            |slot| next_slot(every, slot),
            shutdown,
            || export_once(&config, url, &out),
            |result, took| log(&result, took),
            |skipped, took| {
                tracing::warn!(
                    skipped,
                    took_seconds = took.as_secs_f64(),
                    "Skipped scheduled feature exports: the previous one was still in flight."
                );
            },
        )
        .await;
        tracing::info!(runs, "Feature export schedule stopped.");
        anyhow::Ok(())
    })
}

/// The slot after `slot`.
fn next_slot(every: Every, slot: tokio::time::Instant) -> tokio::time::Instant {
    match every {
        Every::Span(period) => slot + period,
        Every::Quarter => {
            let now = now_ns();
            let mut quarter = Quarter::of(now);
            while quarter.start() + QUARTER_OFFSET <= now {
                quarter = quarter.next();
            }
            let wait = u64::try_from(quarter.start() + QUARTER_OFFSET - now).unwrap_or(0);
            tokio::time::Instant::now() + Duration::from_nanos(wait)
        }
    }
}

/// One export on a store opened for it, so a run after a database restart connects afresh.
async fn export_once(config: &FeatureConfig, url: &str, out: &Path) -> anyhow::Result<ExportReport> {
    let store = store::open(url, Access::Read).await?;
    tickflow_batch::features::export(config, store.as_ref(), out).await.map_err(|error| match error {
        FeatureError::Store(_) => anyhow::Error::new(error).context(format!("store {}", store::redact(url))),
        error => error.into(),
    })
}

fn log(result: &anyhow::Result<ExportReport>, took: Duration) {
    let seconds = took.as_secs_f64();
    match result {
        Ok(report) => tracing::info!(
            quarters = report.quarters.len(),
            written = report.written().count(),
            bars = report.bars,
            seconds,
            "Feature export finished."
        ),
        Err(error) => tracing::error!(
            error = format!("{error:#}"),
            seconds,
            "Feature export failed; the quarters on disk are unchanged, the next scheduled run tries again."
        ),
    }
}

/// Prints what an export wrote, or that nothing changed.
fn print(report: &ExportReport, out: &Path) {
    for quarter in report.written() {
        println!("Wrote {}: {} rows.", quarter.path.display(), quarter.rows);
    }
    let written = report.written().count();
    if written == 0 {
        println!(
            "Nothing changed: {} quarter(s) under {} already hold these {} bars (to {}).",
            report.quarters.len(),
            out.display(),
            report.bars,
            format_rfc3339(report.to)
        );
    } else {
        println!(
            "Exported {} bars (to {}): {written} of {} quarter(s) written, the rest unchanged.",
            report.bars,
            format_rfc3339(report.to),
            report.quarters.len()
        );
    }
}

/// `--verify DIR`: fails unless every file passes.
async fn verify(url: &str, dir: &Path) -> anyhow::Result<()> {
    let store = store::open(url, Access::Read).await?;
    let report = tickflow_batch::features::verify(dir, store.as_ref()).await?;
    anyhow::ensure!(
        !report.checked.is_empty(),
        "no quarter manifest under {} (DIR/interval=*/year=*/quarter=*/_manifest.json); is it an export's directory?",
        dir.display()
    );
    for problem in &report.problems {
        eprintln!("FAILED {problem}");
    }
    anyhow::ensure!(
        report.passed(),
        "{} of {} data file(s) under {} failed verification",
        report.problems.len(),
        report.checked.len(),
        dir.display()
    );
    println!(
        "Verified {} data file(s) under {}: every hash matches the manifest and the store.",
        report.checked.len(),
        dir.display()
    );
    Ok(())
}
