//! `tickflow bench speed memory`: peak memory of the speed job with many
//! symbols, on the in-process simulator (no broker, a SQLite store).
//!
//! The job runs long enough for the allowed lateness (1 min) to fill: after
//! that, each interval holds its open windows plus a minute of closed ones
//! for every symbol, and memory stops growing.

use crate::BenchError;
use crate::child::run_to_end;
use crate::report::Figures;
use serde_json::json;
use std::process::Command;

/// Arguments of `tickflow bench speed memory`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Symbols traded.
    #[arg(long, default_value_t = 10_000)]
    symbols: usize,
    /// Trades per second of the simulator.
    #[arg(long, default_value_t = 100_000.0)]
    rate: f64,
    /// Seconds the job runs (past the allowed lateness, so memory settles).
    #[arg(long, default_value_t = 90.0)]
    seconds: f64,
}

/// Runs `tickflow speed --simulate` to a number of trades and reports its peak RSS.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite://{}", dir.path().join("speed.db").display());
    let ticks = (args.rate * args.seconds) as u64;
    let finished = run_to_end(
        Command::new(std::env::current_exe()?)
            .args(["speed", "--simulate", "--store", &store, "--stop-at-end"])
            .args(["--symbols", &args.symbols.to_string(), "--rate", &args.rate.to_string()])
            .args(["--ticks", &ticks.to_string()])
            .env("TICKFLOW_LOG", "warn"),
    )?;
    let peak = finished.peak_rss_bytes;
    eprintln!("tickflow speed, {} symbols: peak RSS {:.0} MiB", args.symbols, peak as f64 / (1 << 20) as f64);
    Ok(Figures {
        scenario: "speed memory".into(),
        params: vec![("symbols".into(), json!(args.symbols)), ("rate".into(), json!(args.rate))],
        items: ticks,
        wall_seconds: finished.seconds,
        peak_rss_bytes: peak,
    })
}
