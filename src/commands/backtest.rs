//! `tickflow backtest`: a strategy over history, with the paper ledger.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use tickflow_shared::signal::Costs;
use tickflow_shared::store::{self, Access, BarQuery, View, ViewBar, ViewSelect};
use tickflow_shared::time::parse_timestamp;
use tickflow_shared::{Bar, Interval, Price, Size, Symbol};
use tickflow_strategy::backtest::{self, Config, files, summary::Summary};
use tickflow_strategy::{Params, Spec};

/// Arguments of `tickflow backtest`.
#[derive(clap::Args)]
#[command(after_long_help = tickflow_strategy::RULES)]
pub struct Args {
    /// Read the merged bars (batch before the boundary, final speed bars after) from this store:
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    /// (`--archive` wins over a store set in the environment or the config file.)
    #[arg(long, env = "TICKFLOW_STORE")]
    store: Option<String>,
    /// Or compute the bars from these archive files or directories in process, with the batch
    /// layer's code (day-partitioned directories: sealed days only); no store is needed.
    #[arg(long, num_args = 1..)]
    archive: Vec<PathBuf>,
    /// The bars' interval.
    #[arg(long, default_value = "1m")]
    interval: Interval,
    /// First bar start included: RFC 3339 or epoch milliseconds.
    #[arg(long, value_parser = timestamp)]
    from: Option<i64>,
    /// First bar start excluded: RFC 3339 or epoch milliseconds.
    #[arg(long, value_parser = timestamp)]
    to: Option<i64>,
    /// Only these symbols, comma-separated (default: every symbol with bars).
    #[arg(long, value_delimiter = ',', value_parser = symbol)]
    symbols: Vec<Symbol>,
    /// The strategy: sma-cross, ema-cross, rsi, macd or bollinger (rules below, with --help).
    #[arg(long)]
    strategy: String,
    /// A strategy parameter, NAME=VALUE (like fast=10); repeat for more. The `[strategy]` table
    /// of the config file sets them too; a flag wins over the file.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    param: Vec<String>,
    /// Shares (units) bought at each entry; a sell closes the whole position.
    #[arg(long, default_value = "100", value_parser = size)]
    quantity: Size,
    /// Fee in basis points of each fill's notional.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(0..=10_000))]
    fee_bps: i64,
    /// Slippage in basis points, against the trader: buys fill above the open, sells below.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..=10_000))]
    slippage_bps: i64,
    /// Starting cash of the paper account (returns and drawdowns are relative to it).
    #[arg(long, default_value = "100000", value_parser = price)]
    capital: Price,
    /// Directory for signals.csv, fills.csv, trades.csv, equity.csv, summary.json and report.html.
    #[arg(long)]
    out: PathBuf,
    /// Threads (default: one per core).
    #[arg(long, default_value_t = super::default_workers())]
    workers: usize,
}

fn symbol(text: &str) -> Result<Symbol, String> {
    Symbol::new(text).map_err(|e| format!("{text:?}: {e}"))
}

fn timestamp(text: &str) -> Result<i64, String> {
    parse_timestamp(text.as_bytes()).map_err(|e| format!("{text:?} {e}"))
}

fn size(text: &str) -> Result<Size, String> {
    match Size::parse(text) {
        Ok(size) if size.units() > 0 => Ok(size),
        _ => Err(format!("{text:?} is not a positive quantity; write a number like 100 or 0.5")),
    }
}

fn price(text: &str) -> Result<Price, String> {
    match Price::parse(text) {
        Ok(price) if price.units() > 0 => Ok(price),
        _ => Err(format!("{text:?} is not a positive amount; write a number like 100000")),
    }
}

/// Runs `tickflow backtest`.
pub fn run(mut args: Args) -> anyhow::Result<()> {
    if !args.archive.is_empty() {
        // A store from the environment or the config file yields to --archive;
        // one on the command line beside it is a contradiction.
        let typed = std::env::args().any(|a| a == "--store" || a.starts_with("--store="));
        anyhow::ensure!(!typed, "give either --store URL or --archive PATH..., not both");
        args.store = None;
    }
    anyhow::ensure!(
        args.store.is_some() || !args.archive.is_empty(),
        "no bars to read: give --store URL (a view store) or --archive PATH... (trade files)"
    );
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from < to, "--from must be before --to");
    }
    let params = Params::parse(&args.param)?;
    let spec = Spec::new(&args.strategy, &params).context("--strategy and --param")?;
    let bars = load(&args)?;
    anyhow::ensure!(
        !bars.is_empty(),
        "no {} bars{}{} to backtest; check --from, --to and --symbols, or run tickflow batch first",
        args.interval,
        args.store.as_ref().map_or_else(String::new, |s| format!(" in store {}", store::redact(s))),
        if args.archive.is_empty() { String::new() } else { " in the archive".to_owned() },
    );
    let config = Config {
        spec,
        interval: args.interval,
        quantity: args.quantity,
        costs: Costs { fee_bps: args.fee_bps, slippage_bps: args.slippage_bps },
        capital: i128::from(args.capital.units()),
        threads: args.workers.max(1),
    };
    let total = bars.len() as u64;
    let started = std::time::Instant::now();
    let progress = |done: u64| {
        let seconds = started.elapsed().as_secs_f64();
        if seconds < 0.5 {
            return; // a short run needs no progress line
        }
        eprintln!(
            "backtest: {done}/{total} bars ({:.0}%), {:.1} M bars/s",
            done as f64 * 100.0 / total as f64,
            done as f64 / seconds.max(1e-9) / 1e6
        );
    };
    let outcome = backtest::run(&config, &bars, &progress)?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary::of(&config, &outcome);
    files::write_all(&args.out, &config, &outcome, &summary)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "Backtest of {} on {} {} bars of {} symbols: {} signals, {} fills, {} round trips in {:.2} s ({:.1} M bars/s).",
        config.spec.name(),
        outcome.bars,
        config.interval,
        outcome.symbols,
        outcome.signals.len(),
        outcome.fills.len(),
        outcome.trades.len(),
        seconds,
        outcome.bars as f64 / seconds.max(1e-9) / 1e6
    )?;
    write!(out, "{}", summary.table())?;
    writeln!(
        out,
        "Wrote {}: signals.csv, fills.csv, trades.csv, equity.csv, summary.json, report.html.",
        args.out.display()
    )?;
    Ok(())
}

/// The bars of the run, ordered by `(symbol, start)`, from the store or the archive.
fn load(args: &Args) -> anyhow::Result<Vec<Bar>> {
    let in_range = |bar: &Bar| {
        args.from.is_none_or(|from| bar.start >= from)
            && args.to.is_none_or(|to| bar.start < to)
            && (args.symbols.is_empty() || args.symbols.contains(&bar.symbol))
    };
    if let Some(url) = &args.store {
        let query = BarQuery {
            interval: args.interval,
            symbol: None,
            from: args.from,
            to: args.to,
            view: ViewSelect::Merged,
            limit: None,
        };
        let (status, bars) = super::runtime()?.block_on(async {
            let store = store::open(url, Access::Read).await?;
            // The watermark first: a speed bar final then is final in the later read too.
            let status = store.speed_status().await?;
            anyhow::Ok((status, store.bars(&query).await?))
        })?;
        // A strategy sees only final bars (contract 8): every batch bar, and
        // the speed bars whose end the watermark has passed.
        let watermark = status.watermark.unwrap_or(i64::MIN);
        let is_final = |row: &ViewBar| row.view == View::Batch || row.bar.start + args.interval.nanos() <= watermark;
        let bars = bars.bars.into_iter().filter(is_final).map(|row| row.bar);
        return Ok(bars.filter(|bar| in_range(bar)).collect());
    }
    let computed = tickflow_batch::compute_bars(&args.archive, args.interval, args.workers.max(1))?;
    for dir in &computed.unsealed {
        eprintln!("skipped {}: not sealed yet (no _SEALED marker)", dir.display());
    }
    if !computed.rejects.is_empty() {
        eprintln!("{} rejected rows in the archive (tickflow batch lists them)", computed.rejects.len());
    }
    Ok(computed.bars.into_iter().filter(|bar| in_range(bar)).collect())
}
