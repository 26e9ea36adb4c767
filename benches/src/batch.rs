//! `tickflow bench batch`: the batch layer end to end.

use crate::BenchError;
use crate::child::{Finished, run_to_end};
use crate::report::Figures;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use tickflow_ingest::simulator::Format;

/// Arguments of `tickflow bench batch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trades to generate per trading day.
    #[arg(long, default_value_t = 10_000_000)]
    ticks: u64,
    /// Trading days to generate (one partition each): a run over many days
    /// shows whether throughput and memory stay flat as the archive grows.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// Symbols to generate.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Archive file format.
    #[arg(long, value_enum, default_value = "csv")]
    format: Input,
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
    /// Publish into PostgreSQL (a throwaway cluster, a new database each run) instead of SQLite.
    #[arg(long)]
    postgres: bool,
    /// Also run DuckDB on the same files (`--duckdb-script`), alternating with tickflow, and print the ratio.
    #[arg(long)]
    vs_duckdb: bool,
    /// Runs of each; the figures are the medians.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// The DuckDB peer (`pip install duckdb`).
    #[arg(long, default_value = "benches/batch_duckdb.py")]
    duckdb_script: PathBuf,
}

/// Archive formats to benchmark (also `tickflow bench produce`'s).
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

/// The batch benchmark's input files.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Input {
    /// CSV as tickflow generates it.
    Csv,
    /// Parquet as tickflow writes it (LZ4, decimal prices, nanosecond timestamps).
    Parquet,
    /// Parquet as pyarrow writes it by default (snappy, DOUBLE prices, INT64 milliseconds):
    /// the CSV archive rewritten by `benches/pyarrow_parquet.py` (`pip install pyarrow`).
    Pyarrow,
}

/// Generates the input if it is not cached, then times `tickflow batch` on
/// it, and DuckDB on the same files with `--vs-duckdb`, `--runs` times each,
/// alternating, each run into a new store.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let archive = input(&args)?;
    let cluster = if args.postgres { Some(crate::postgres::Cluster::start()?) } else { None };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let exe = std::env::current_exe()?;
    let (mut ours, mut peers) = (Vec::new(), Vec::new());
    for run in 0..args.runs.max(1) {
        let scratch = tempfile::tempdir()?;
        let store = match &cluster {
            Some(cluster) => {
                runtime.block_on(crate::postgres::create_database(&cluster.url, &format!("batch_{run}")))?
            }
            None => format!("sqlite://{}", scratch.path().join("bench.db").display()),
        };
        let mut command = Command::new(&exe);
        command.args(["batch", "--store", &store, "--intervals", &args.intervals, "--archive"]).arg(&archive);
        if let Some(workers) = args.workers {
            command.args(["--workers", &workers.to_string()]);
        }
        let finished = run_to_end(&mut command)?;
        eprint!("tickflow run {}: {:.2} s. {}", run + 1, finished.seconds, finished.stdout);
        ours.push(finished);
        if args.vs_duckdb {
            let mut duckdb = Command::new("python3");
            duckdb.arg(&args.duckdb_script).arg(&archive).arg(scratch.path().join("bench.duckdb")).arg(&args.intervals);
            let finished = run_to_end(&mut duckdb)?;
            eprint!("duckdb run {}: {:.2} s. {}", run + 1, finished.seconds, finished.stdout);
            peers.push(finished);
        }
    }
    let workers = args.workers.unwrap_or_else(crate::cores);
    let mut params = vec![
        ("format".into(), json!(format!("{:?}", args.format).to_lowercase())),
        ("store".into(), json!(if args.postgres { "postgres" } else { "sqlite" })),
        ("ticks".into(), json!(args.ticks)),
        ("days".into(), json!(args.days)),
        ("symbols".into(), json!(args.symbols)),
        ("intervals".into(), json!(args.intervals)),
        ("workers".into(), json!(workers)),
        ("runs".into(), json!(ours.len())),
    ];
    let wall_seconds = median(&ours);
    if !peers.is_empty() {
        let peer = median(&peers);
        let peer_rss = peers.iter().map(|p| p.peak_rss_bytes).max().unwrap_or(0);
        eprintln!(
            "tickflow {wall_seconds:.2} s, duckdb {peer:.2} s (medians of {}): {:.2}x DuckDB; duckdb peak {} MiB",
            peers.len(),
            peer / wall_seconds,
            peer_rss >> 20
        );
        params.push(("duckdb_s".into(), json!((peer * 1000.0).round() / 1000.0)));
        params.push(("vs_duckdb".into(), json!((peer / wall_seconds * 100.0).round() / 100.0)));
        params.push(("duckdb_peak_rss_mib".into(), json!(peer_rss >> 20)));
    }
    Ok(Figures {
        scenario: "batch".into(),
        params,
        items: args.ticks * u64::from(args.days),
        wall_seconds,
        peak_rss_bytes: ours.iter().map(|f| f.peak_rss_bytes).max().unwrap_or(0),
    })
}

/// The archive of `args`, generated (and for `pyarrow` rewritten) once and cached.
fn input(args: &Args) -> Result<PathBuf, BenchError> {
    let generate = |format| crate::generated(&args.data_dir, (args.ticks, args.days), args.symbols, args.seed, format);
    match args.format {
        Input::Csv => generate(Format::Csv),
        Input::Parquet => generate(Format::Parquet),
        Input::Pyarrow => {
            let csv = generate(Format::Csv)?;
            let name = csv.file_name().and_then(|n| n.to_str()).unwrap_or_default().replacen("csv", "pyarrow", 1);
            let out = args.data_dir.join(name);
            let done = out.join("_GENERATED");
            if !done.exists() {
                eprintln!("Rewriting {} as pyarrow's default Parquet (not timed) ...", csv.display());
                let _ = std::fs::remove_dir_all(&out);
                let script = PathBuf::from("benches/pyarrow_parquet.py");
                let written = run_to_end(Command::new("python3").arg(script).arg(&csv).arg(&out))?;
                eprint!("{}", written.stdout);
                std::fs::write(done, b"")?;
            }
            Ok(out)
        }
    }
}

/// The median wall time of `runs`.
fn median(runs: &[Finished]) -> f64 {
    let mut seconds: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}
