//! `tickflow bars`: print bars from a store.

use std::io::Write;
use tickflow_shared::render::{CSV_HEADER, write_csv_row, write_json_bars};
use tickflow_shared::store::{self, Access, BarQuery, ViewSelect};
use tickflow_shared::time::parse_timestamp;
use tickflow_shared::{Interval, Symbol};

/// Output formats of `tickflow bars`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Csv,
    Json,
}

/// Arguments of `tickflow bars`.
#[derive(clap::Args)]
pub struct Args {
    /// View store URL: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
    /// The interval, like 1m.
    #[arg(long)]
    interval: Interval,
    /// Only this symbol.
    #[arg(long, value_parser = symbol)]
    symbol: Option<Symbol>,
    /// First bar start included: RFC 3339 or epoch milliseconds.
    #[arg(long, value_parser = timestamp)]
    from: Option<i64>,
    /// First bar start excluded: RFC 3339 or epoch milliseconds.
    #[arg(long, value_parser = timestamp)]
    to: Option<i64>,
    /// Which view: batch, speed, or merged (batch before the boundary, speed after).
    #[arg(long, default_value = "merged")]
    view: ViewSelect,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// At most this many bars.
    #[arg(long)]
    limit: Option<usize>,
}

fn symbol(text: &str) -> Result<Symbol, String> {
    Symbol::new(text).map_err(|e| format!("{text:?}: {e}"))
}

fn timestamp(text: &str) -> Result<i64, String> {
    parse_timestamp(text.as_bytes()).map_err(|e| format!("{text:?} {e}"))
}

/// Runs `tickflow bars`; a closed pipe (`| head`) ends it quietly.
pub fn run(args: Args) -> anyhow::Result<()> {
    match print(args) {
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => other,
    }
}

fn print(args: Args) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from <= to, "--from must not be after --to");
    }
    let query = BarQuery {
        interval: args.interval,
        symbol: args.symbol,
        from: args.from,
        to: args.to,
        view: args.view,
        limit: args.limit,
    };
    let bars = super::runtime()?.block_on(async {
        let store = store::open(&args.store, Access::Read).await?;
        anyhow::Ok(store.bars(&query).await?)
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        Format::Csv => {
            writeln!(out, "{CSV_HEADER}")?;
            let mut line = String::with_capacity(128);
            for row in &bars.bars {
                line.clear();
                write_csv_row(&mut line, row);
                out.write_all(line.as_bytes())?;
            }
        }
        Format::Json => {
            let mut text = String::with_capacity(bars.bars.len() * 200 + 3);
            write_json_bars(&mut text, &bars.bars);
            writeln!(out, "{text}")?;
        }
    }
    out.flush()?;
    Ok(())
}
