//! The `tickflow` binary: argument parsing, logging set-up and dispatch.
//!
//! Every service is a subcommand; the work lives in the layer crates.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// tickflow: a lambda-architecture stream processor for market data.
#[derive(Parser)]
#[command(name = "tickflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic synthetic market as day-partitioned archive files.
    Generate(commands::generate::Args),
    /// Put trades on the Kafka topic: from the live simulator or a replay of archive files.
    Produce(commands::produce::Args),
    /// Keep every trade of the topic as day-partitioned Parquet files: the master dataset.
    Archive(commands::archive::Args),
    /// Keep event-time bars current from the topic (or the in-process simulator), effectively once.
    Speed(commands::speed::Args),
    /// Recompute exact bars from archive files and publish them as a batch run.
    Batch(commands::batch::Args),
    /// Print bars from a view store as CSV or JSON.
    Bars(commands::bars::Args),
    /// Run a benchmark scenario and print its figures.
    Bench(tickflow_bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TICKFLOW_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Generate(args) => commands::generate::run(args),
        Command::Produce(args) => commands::produce::run(args),
        Command::Archive(args) => commands::archive::run(args),
        Command::Speed(args) => commands::speed::run(args),
        Command::Batch(args) => commands::batch::run(args),
        Command::Bars(args) => commands::bars::run(args),
        Command::Bench(args) => tickflow_bench::run(args).map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
