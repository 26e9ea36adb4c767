//! The `tickflow` binary: argument parsing, logging set-up and dispatch.
//!
//! Every service is a subcommand; the work lives in the layer crates.

mod commands;
mod config;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// tickflow: a lambda-architecture stream processor for market data.
#[derive(Parser)]
#[command(name = "tickflow", version, about, long_about = None)]
struct Cli {
    /// Read settings from this tickflow.toml; TICKFLOW_* variables and flags override it.
    #[arg(long, global = true, env = config::CONFIG_ENV, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The command line parser: the subcommands' flags, each also read from `TICKFLOW_<NAME>`.
fn command() -> clap::Command {
    config::with_env(Cli::command())
}

/// Parses the command line with the config file's settings in it; exits on an error.
/// The parsed command line and the subcommand's name.
fn parse() -> (Cli, String) {
    let command = command();
    let prepared = match config::prepare(&command, std::env::args_os().collect()) {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(2);
        }
    };
    let parsed = command
        .try_get_matches_from(&prepared.args)
        .and_then(|m| Ok((Cli::from_arg_matches(&m)?, m.subcommand_name().unwrap_or_default().to_owned())));
    match parsed {
        Ok(cli) => cli,
        Err(error) => match prepared.explain(error) {
            Ok(error) => error.exit(),
            Err(explained) => {
                eprintln!("error: {explained:#}");
                std::process::exit(2);
            }
        },
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole system in one process (simulator, speed, archive, batch, dashboard) on ./data.
    Demo(commands::demo::Args),
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
    /// Export point-in-time features of the published batch bars as Parquet per quarter, or verify an export.
    Features(commands::features::Args),
    /// Answer HTTP queries over the merged view, push live bars, serve metrics.
    Serve(commands::serve::Args),
    /// Run a trading strategy live on final bars; signals (and paper fills) go to the store, effectively once.
    Bot(commands::bot::Args),
    /// Print bars from a view store as CSV or JSON.
    Bars(commands::bars::Args),
    /// Bring a store's schema up to date (TimescaleDB hypertables where available) and report its state.
    Migrate(commands::migrate::Args),
    /// Let a PostgreSQL role read the store and nothing else: the least privilege of serve and features.
    Grant(commands::grant::Args),
    /// Run a strategy over history with the paper ledger; write signals, fills, trades, equity and a report.
    Backtest(commands::backtest::Args),
    /// Run a benchmark scenario and print its figures.
    Bench(tickflow_bench::BenchArgs),
}

fn main() -> ExitCode {
    let (cli, subcommand) = parse();
    // TICKFLOW_LOG replaces the whole default.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TICKFLOW_LOG")
        .unwrap_or_else(|_| "info,tokio_postgres=warn".into());
    if let Err(error) = tickflow_shared::logging::init(filter, &subcommand) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Produce(args) => commands::produce::run(args),
        Command::Archive(args) => commands::archive::run(args),
        Command::Speed(args) => commands::speed::run(args),
        Command::Batch(args) => commands::batch::run(args),
        Command::Features(args) => commands::features::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Bot(args) => commands::bot::run(args),
        Command::Bars(args) => commands::bars::run(args),
        Command::Migrate(args) => commands::migrate::run(args),
        Command::Grant(args) => commands::grant::run(args),
        Command::Backtest(args) => commands::backtest::run(args),
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
