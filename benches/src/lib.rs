//! The benchmark harness: `tickflow bench <scenario>`.
//!
//! Each scenario prepares its input (untimed), runs the real `tickflow`
//! subcommand as a child process (timed end to end), and prints one table
//! row and one JSON line with throughput, wall time, peak memory of the child,
//! the machine's cores and the versions measured. Later layers add their
//! scenarios here, so every figure in `benches/README.md` comes from one tool.
//! Benchmarks print figures; they never assert on time.

mod archive;
pub mod backtest;
mod backtest_peers;
mod batch;
pub mod child;
mod features;
mod history;
mod http;
pub mod postgres;
mod produce;
mod report;
mod serve;
mod speed;
pub mod tansu;
mod topic;

pub use report::Figures;

/// Arguments of `tickflow bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(clap::Subcommand, Debug)]
enum Scenario {
    /// The archiver writing a topic to Parquet, against the raw rdkafka consumer.
    Archive(archive::Args),
    /// `sma-cross` over 500 symbols × 20,000 1m bars: from memory, from a SQLite store, beside NumPy.
    Backtest(backtest::Args),
    /// Batch layer end to end: read archive files, compute bars, publish to SQLite.
    Batch(batch::Args),
    /// The serving reads and a republish on a year of 1m bars against one day, TimescaleDB and PostgreSQL.
    History(history::Args),
    /// The feature export on 1-minute bars, against the same features in Polars.
    Features(features::Args),
    /// The Kafka producer replaying archive files, against the raw rdkafka client.
    Produce(produce::Args),
    /// `tickflow serve` answering /api/v1/bars from PostgreSQL under 64 connections.
    Serve(serve::Args),
    /// The speed layer: engine alone, through the broker, freshness, memory.
    Speed(speed::Args),
}

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Preparing the input failed.
    #[error("preparing input: {0}")]
    Prepare(String),
    /// The measured command failed.
    #[error("measured command failed: {0}")]
    Run(String),
    /// I/O failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Generated archive files for a scenario: `ticks` trades on each of `days`
/// trading days, cached in `data_dir` between runs (generation is not timed).
/// Returns the archive directory.
fn generated(
    data_dir: &std::path::Path,
    (ticks, days): (u64, u32),
    symbols: usize,
    seed: u64,
    format: tickflow_ingest::simulator::Format,
) -> Result<std::path::PathBuf, BenchError> {
    let name = match format {
        tickflow_ingest::simulator::Format::Csv => "csv",
        tickflow_ingest::simulator::Format::Parquet => "parquet",
    };
    let per_day = if days > 1 { format!("{ticks}x{days}") } else { ticks.to_string() };
    let archive = data_dir.join(format!("{name}-{per_day}-{symbols}-{seed}"));
    let done = archive.join("_GENERATED");
    if done.exists() {
        return Ok(archive);
    }
    if archive.exists() {
        std::fs::remove_dir_all(&archive)?;
    }
    let config = tickflow_ingest::simulator::SimConfig { symbols, seed, days, ..Default::default() };
    let ticks = ticks * u64::from(days);
    eprintln!("Generating {ticks} trades into {} (not timed) ...", archive.display());
    tickflow_ingest::simulator::generate(&archive, ticks, &config, format)
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    std::fs::write(done, b"")?;
    Ok(archive)
}

/// Cores of this machine.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A loopback port nothing listens on right now, for a service a benchmark (or a test) starts.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Runs one scenario and prints its figures.
pub fn run(args: BenchArgs) -> Result<(), BenchError> {
    let figures = match args.scenario {
        Scenario::Archive(args) => archive::run(args)?,
        Scenario::Backtest(args) => backtest::run(args)?,
        Scenario::Batch(args) => batch::run(args)?,
        Scenario::Features(args) => features::run(args)?,
        Scenario::History(args) => history::run(args)?,
        Scenario::Produce(args) => produce::run(args)?,
        Scenario::Serve(args) => serve::run(args)?,
        Scenario::Speed(args) => speed::run(args)?,
    };
    figures.print();
    Ok(())
}
