//! `tickflow bench features`: the feature export against Polars, back to
//! back on the same bars.
//!
//! The input (untimed, cached) is a random walk of 1-minute bars per symbol,
//! published as one batch run into a SQLite store, and the same bars as a
//! Parquet file for Polars. Then `tickflow features` runs on the store and
//! `benches/features_polars.py` on the Parquet file, each a child process
//! timed end to end with its peak memory; both write Parquet (zstd).

use crate::BenchError;
use crate::child::run_to_end;
use crate::report::Figures;
use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use tickflow_shared::fixed::{Price, Volume};
use tickflow_shared::store::{Access, BatchPublish, DaySummary};
use tickflow_shared::time::{NANOS_PER_DAY, NANOS_PER_MILLI};
use tickflow_shared::{Bar, Interval, Symbol};

/// Arguments of `tickflow bench features`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// 1-minute bars in all.
    #[arg(long, default_value_t = 10_000_000)]
    bars: u64,
    /// Symbols (the bars are split evenly among them).
    #[arg(long, default_value_t = 500)]
    symbols: u64,
    /// Where generated input is cached between runs.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// Generator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The Polars script run on the same bars (skipped if empty).
    #[arg(long, default_value = "benches/features_polars.py")]
    polars: PathBuf,
}

/// The first bar's start: 2026-01-05T00:00:00Z.
const FIRST: i64 = 20_458 * NANOS_PER_DAY;

/// Prepares the input if it is not cached, then times tickflow and Polars on it.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let input = prepare(&args)?;
    let scratch = tempfile::tempdir()?;
    let store = format!("sqlite://{}", input.join("bars.db").display());
    let out = scratch.path().join("tickflow");
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command.args(["features", "--store", &store, "--interval", "1m", "--from", "2026-01-01", "--out"]).arg(&out);
    let finished = run_to_end(&mut command)?;
    eprint!("{}", finished.stdout);
    let items = args.symbols * (args.bars / args.symbols);
    if !args.polars.as_os_str().is_empty() {
        let mut polars = Command::new("python3");
        polars.arg(&args.polars).arg(input.join("bars.parquet")).arg(scratch.path().join("polars"));
        let peer = run_to_end(&mut polars)?;
        eprint!("{}", peer.stdout);
        Figures {
            scenario: "features-polars".into(),
            params: vec![("bars".into(), json!(items)), ("symbols".into(), json!(args.symbols))],
            items,
            wall_seconds: peer.seconds,
            peak_rss_bytes: peer.peak_rss_bytes,
        }
        .print();
    }
    Ok(Figures {
        scenario: "features".into(),
        params: vec![("bars".into(), json!(items)), ("symbols".into(), json!(args.symbols))],
        items,
        wall_seconds: finished.seconds,
        peak_rss_bytes: finished.peak_rss_bytes,
    })
}

/// The cached input directory: `bars.db` (a store with one batch run) and `bars.parquet`.
fn prepare(args: &Args) -> Result<PathBuf, BenchError> {
    let dir = args.data_dir.join(format!("features-{}-{}-{}", args.bars, args.symbols, args.seed));
    let done = dir.join("_GENERATED");
    if done.exists() {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    eprintln!("Generating {} 1m bars of {} symbols into {} (not timed) ...", args.bars, args.symbols, dir.display());
    let per_symbol = args.bars / args.symbols;
    let (symbols, seed) = (args.symbols, args.seed);
    write_parquet(&dir.join("bars.parquet"), symbols, per_symbol, seed)?;
    let mut trades = std::collections::BTreeMap::<i64, u64>::new();
    for bar in (0..symbols).flat_map(|s| series(s, per_symbol, seed)) {
        *trades.entry(bar.start / NANOS_PER_DAY).or_default() += bar.trades;
    }
    let days = trades.into_iter().map(|(day, trades)| DaySummary { day, trades }).collect();
    let publish = BatchPublish {
        started_at: 0,
        days,
        bars: Box::new((0..symbols).flat_map(move |s| series(s, per_symbol, seed))),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    let url = format!("sqlite://{}", dir.join("bars.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime
        .block_on(async {
            let store = tickflow_shared::store::open(&url, Access::Write).await?;
            store.publish_batch(publish).await
        })
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    std::fs::write(done, b"")?;
    Ok(dir)
}

/// One symbol's bars: a random walk of closes, ranges around them.
fn series(symbol: u64, bars: u64, seed: u64) -> impl Iterator<Item = Bar> {
    let name = Symbol::new(&format!("S{symbol:04}")).expect("a valid symbol");
    let interval = Interval::from_seconds(60).expect("1m");
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (symbol + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut close: i64 = 100 * 100_000_000;
    (0..bars).map(move |i| {
        let open = close;
        close = (close + (next() % 20_001) as i64 - 10_000).max(100_000_000);
        let high = open.max(close) + (next() % 5_000) as i64;
        let low = open.min(close) - (next() % 5_000) as i64;
        let start = FIRST + i as i64 * 60_000_000_000;
        Bar {
            symbol: name.clone(),
            interval,
            start,
            open: Price(open),
            high: Price(high),
            low: Price(low),
            close: Price(close),
            volume: Volume(i128::from(1 + next() % 1_000_000) * 100_000_000),
            vwap: Price(low + (high - low) / 2),
            trades: 1 + next() % 500,
            first_ts: start,
            last_ts: start + 59_000_000_000,
        }
    })
}

/// The same bars as Parquet, for Polars.
fn write_parquet(path: &Path, symbols: u64, per_symbol: u64, seed: u64) -> Result<(), BenchError> {
    let time = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(
        [("symbol", DataType::Utf8), ("start", time)]
            .into_iter()
            .chain(["high", "low", "close", "vwap", "volume"].map(|n| (n, DataType::Float64)))
            .chain([("trades", DataType::Int64)])
            .map(|(name, kind)| Field::new(name, kind, false))
            .collect::<Vec<_>>(),
    ));
    let failed = |e: &dyn std::fmt::Display| BenchError::Prepare(format!("{}: {e}", path.display()));
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path)?, schema.clone(), None)
        .map_err(|e| failed(&e))?;
    for s in 0..symbols {
        let bars: Vec<Bar> = series(s, per_symbol, seed).collect();
        let floats = |f: fn(&Bar) -> f64| Arc::new(Float64Array::from_iter_values(bars.iter().map(f))) as ArrayRef;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(bars.iter().map(|b| b.symbol.as_str()))),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(bars.iter().map(|b| b.start / NANOS_PER_MILLI))
                    .with_timezone("UTC"),
            ),
            floats(|b| b.high.to_f64()),
            floats(|b| b.low.to_f64()),
            floats(|b| b.close.to_f64()),
            floats(|b| b.vwap.to_f64()),
            floats(|b| b.volume.to_f64()),
            Arc::new(Int64Array::from_iter_values(bars.iter().map(|b| b.trades as i64))),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| failed(&e))?;
        writer.write(&batch).map_err(|e| failed(&e))?;
    }
    writer.close().map_err(|e| failed(&e))?;
    Ok(())
}
