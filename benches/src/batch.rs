//! `tickflow bench batch`: the batch layer end to end.

use crate::BenchError;
use crate::child::run_to_end;
use crate::report::Figures;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use tickflow_ingest::simulator::Format;

/// Arguments of `tickflow bench batch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trades to generate.
    #[arg(long, default_value_t = 10_000_000)]
    ticks: u64,
    /// Symbols to generate.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Archive file format.
    #[arg(long, value_enum, default_value = "csv")]
    format: FileFormat,
    /// Intervals to compute.
    #[arg(long, default_value = "1m")]
    intervals: String,
    /// Timely worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Where generated input is cached between runs.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// Generator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Archive formats to benchmark.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FileFormat {
    /// Plain CSV.
    Csv,
    /// Parquet.
    Parquet,
}

impl FileFormat {
    /// The generator's format and the name printed.
    pub fn generated(self) -> (Format, &'static str) {
        match self {
            FileFormat::Csv => (Format::Csv, "csv"),
            FileFormat::Parquet => (Format::Parquet, "parquet"),
        }
    }
}

/// Generates the input if it is not cached, then times `tickflow batch` on it.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let (format, name) = args.format.generated();
    let archive = crate::generated(&args.data_dir, args.ticks, args.symbols, args.seed, format)?;
    let scratch = tempfile::tempdir()?;
    let store = format!("sqlite://{}", scratch.path().join("bench.db").display());
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command.args(["batch", "--store", &store, "--intervals", &args.intervals, "--archive"]).arg(&archive);
    if let Some(workers) = args.workers {
        command.args(["--workers", &workers.to_string()]);
    }
    let finished = run_to_end(&mut command)?;
    eprint!("{}", finished.stdout);
    let workers = args.workers.unwrap_or_else(crate::cores);
    Ok(Figures {
        scenario: "batch".into(),
        params: vec![
            ("format".into(), json!(name)),
            ("ticks".into(), json!(args.ticks)),
            ("symbols".into(), json!(args.symbols)),
            ("intervals".into(), json!(args.intervals)),
            ("workers".into(), json!(workers)),
        ],
        items: args.ticks,
        wall_seconds: finished.seconds,
        peak_rss_bytes: finished.peak_rss_bytes,
    })
}
