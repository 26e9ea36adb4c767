//! `tickflow generate`: write a synthetic market to the archive layout.

use std::path::PathBuf;
use tickflow_ingest::simulator::{Format, SimConfig, generate};
use tickflow_shared::time::parse_timestamp;

/// File formats `generate` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FileFormat {
    Csv,
    Parquet,
}

/// Arguments of `tickflow generate`.
#[derive(clap::Args)]
pub struct Args {
    /// Output directory; day partitions `date=YYYY-MM-DD/` are created under it.
    #[arg(long)]
    out: PathBuf,
    /// Number of trades.
    #[arg(long)]
    ticks: u64,
    /// Number of symbols.
    #[arg(long, default_value_t = SimConfig::default().symbols)]
    symbols: usize,
    /// Seed: the same seed and settings give byte-identical files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// File format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: FileFormat,
    /// Open of the first trading session, RFC 3339 (default 2026-01-05T14:30:00Z).
    #[arg(long, value_parser = start)]
    start: Option<i64>,
    /// Trading days to spread the trades over (weekends skipped).
    #[arg(long, default_value_t = SimConfig::default().days)]
    days: u32,
    /// Bounded disorder: a trade arrives at most this many milliseconds after a later-stamped one.
    #[arg(long, default_value_t = 0)]
    disorder_ms: u64,
}

fn start(text: &str) -> Result<i64, String> {
    parse_timestamp(text.as_bytes()).map_err(|e| format!("{text:?} {e}"))
}

/// Runs `tickflow generate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let defaults = SimConfig::default();
    let config = SimConfig {
        symbols: args.symbols,
        seed: args.seed,
        start: args.start.unwrap_or(defaults.start),
        days: args.days,
        disorder_ms: args.disorder_ms,
        ..defaults
    };
    let format = match args.format {
        FileFormat::Csv => Format::Csv,
        FileFormat::Parquet => Format::Parquet,
    };
    let clock = std::time::Instant::now();
    let summary = generate(&args.out, args.ticks, &config, format)?;
    println!(
        "Wrote {} trades of {} symbols over {} day(s) into {} file(s) under {} in {:.1} s.",
        summary.ticks,
        summary.symbols,
        summary.days,
        summary.files.len(),
        args.out.display(),
        clock.elapsed().as_secs_f64()
    );
    Ok(())
}
