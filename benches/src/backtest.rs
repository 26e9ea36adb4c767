//! `tickflow bench backtest`: `sma-cross` over many symbols' 1m bars, from
//! memory (in process) and end to end from a SQLite store (the real
//! `tickflow backtest` as a child), beside a hand-vectorized NumPy loop that
//! computes only the crossings (`benches/backtest_numpy.py`) and vectorbt
//! end to end from a CSV file (`benches/backtest_vectorbt.py`).

use crate::BenchError;
use crate::backtest_peers::{numpy, vectorbt};
use crate::child::run_to_end;
use crate::report::{Figures, self_peak_rss};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use tickflow_shared::signal::Costs;
use tickflow_shared::store::{self, Access, BatchPublish, DaySummary};
use tickflow_shared::time::NANOS_PER_DAY;
use tickflow_shared::{Bar, Interval, Price, Size, Symbol, Volume};
use tickflow_strategy::backtest::{self, CompactBar, CompactBars, Config};
use tickflow_strategy::{Params, Spec};

/// Arguments of `tickflow bench backtest`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Symbols.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// 1m bars per symbol.
    #[arg(long, default_value_t = 20_000)]
    bars: usize,
    /// Threads of the in-memory run (default: one per core); a one-thread run is measured too.
    #[arg(long)]
    workers: Option<usize>,
    /// Where the SQLite store and the NumPy input are cached between runs.
    #[arg(long, default_value = "target/bench-data")]
    data_dir: PathBuf,
    /// Skip the store scenario.
    #[arg(long)]
    memory_only: bool,
}

const START: i64 = 1_380_000_000 * 1_000_000_000 / NANOS_PER_DAY * NANOS_PER_DAY;
const MINUTE: i64 = 60_000_000_000;

/// The bars: a deterministic random walk in cents per symbol, every minute
/// from a day's start, ordered by `(symbol, start)`.
pub fn bars(symbols: usize, per_symbol: usize) -> Vec<Bar> {
    let interval = minute();
    let mut out = Vec::with_capacity(symbols * per_symbol);
    walk(symbols, per_symbol, |symbol, start, open, close| {
        out.push(Bar {
            symbol: symbol.clone(),
            interval,
            start,
            open,
            high: open.max(close),
            low: open.min(close),
            close,
            volume: Volume(100 * 100_000_000),
            vwap: close,
            trades: 1,
            first_ts: start,
            last_ts: start + MINUTE - 1,
        });
    });
    out
}

/// The same bars as [`bars`], as the backtest's compact bars.
pub fn compact(symbols: usize, per_symbol: usize) -> CompactBars {
    let mut out = CompactBars::with_capacity(minute(), symbols * per_symbol);
    walk(symbols, per_symbol, |symbol, start, open, close| {
        let bar = CompactBar { start, open, close };
        out.push(symbol, bar).unwrap_or_else(|_| unreachable!("the walk is in (symbol, start) order"));
    });
    out
}

/// Calls `bar` with each bar's symbol, start, open and close, by symbol, then start.
fn walk(symbols: usize, per_symbol: usize, mut bar: impl FnMut(&Symbol, i64, Price, Price)) {
    for s in 0..symbols {
        let symbol = Symbol::new(&format!("S{s:04}")).unwrap_or_else(|_| unreachable!("a valid symbol"));
        let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (s as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let mut cents: i64 = 10_000 + (s as i64 % 50) * 100;
        for i in 0..per_symbol {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let open = cents + (state % 3) as i64 - 1;
            cents = (open + ((state >> 8) % 21) as i64 - 10).max(100);
            let (open, close) = (Price(open.max(100) * 1_000_000), Price(cents * 1_000_000));
            bar(&symbol, START + i as i64 * MINUTE, open, close);
        }
    }
}

fn minute() -> Interval {
    Interval::from_seconds(60).unwrap_or_else(|| unreachable!("60 s is an interval"))
}

fn config(threads: usize) -> Config {
    Config {
        spec: Spec::new("sma-cross", &Params::new()).unwrap_or_else(|_| unreachable!("the defaults are valid")),
        interval: minute(),
        quantity: Size(100 * 100_000_000),
        costs: Costs::default(),
        capital: 100_000 * 100_000_000,
        threads,
    }
}

/// Generates the bars, times the in-memory runs, then NumPy and the store.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let workers = args.workers.unwrap_or_else(crate::cores);
    eprintln!("Generating {} × {} compact bars in memory (not timed) ...", args.symbols, args.bars);
    let compact = compact(args.symbols, args.bars);
    let total = compact.len() as u64;
    let mut rows = Vec::new();
    let mut signals = 0;
    for threads in [1, workers] {
        let clock = std::time::Instant::now();
        let outcome =
            backtest::run_compact(&config(threads), &compact, &|_| {}).map_err(|e| BenchError::Run(e.to_string()))?;
        let seconds = clock.elapsed().as_secs_f64();
        signals = outcome.signals.len();
        eprintln!(
            "memory, {threads} thread(s): {total} bars in {seconds:.3} s = {:.1} M bars/s; {} signals, {} fills, {} round trips, equity points {}",
            total as f64 / seconds / 1e6,
            outcome.signals.len(),
            outcome.fills.len(),
            outcome.trades.len(),
            outcome.equity.len()
        );
        rows.push((threads, seconds));
    }
    let memory_peak = self_peak_rss();
    let numpy = numpy(&args.data_dir, &compact, args.symbols, args.bars)?;
    if let Some((seconds, crossings)) = numpy {
        let best = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
        eprintln!(
            "numpy crossings only, 1 thread: {:.1} M bars/s ({crossings} crossings vs {signals} long-only signals); tickflow/numpy: {:.2}× (1 thread {:.2}×)",
            total as f64 / seconds / 1e6,
            seconds / best,
            seconds / rows[0].1
        );
    }
    let mut params = vec![
        ("source".into(), json!("memory")),
        ("symbols".into(), json!(args.symbols)),
        ("bars_per_symbol".into(), json!(args.bars)),
        ("workers".into(), json!(workers)),
        ("one_thread_bars_per_second".into(), json!((total as f64 / rows[0].1).round())),
    ];
    if let Some((seconds, _)) = numpy {
        params.push(("numpy_bars_per_second".into(), json!((total as f64 / seconds).round())));
    }
    let memory = Figures {
        scenario: "backtest".into(),
        params,
        items: total,
        wall_seconds: rows[rows.len() - 1].1,
        peak_rss_bytes: memory_peak,
    };
    eprintln!("Generating {} × {} bars in memory (not timed) ...", args.symbols, args.bars);
    let bars = bars(args.symbols, args.bars);
    let clock = std::time::Instant::now();
    backtest::run(&config(workers), &bars, &|_| {}).map_err(|e| BenchError::Run(e.to_string()))?;
    let seconds = clock.elapsed().as_secs_f64();
    eprintln!(
        "memory from Bar structs (compacted in the run), {workers} thread(s): {total} bars in {seconds:.3} s = {:.1} M bars/s",
        total as f64 / seconds / 1e6
    );
    if args.memory_only {
        return Ok(memory);
    }
    memory.print();
    let db = sqlite(&args.data_dir, bars, args.symbols, args.bars)?;
    let out = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut command = Command::new(exe);
    command.args(["backtest", "--store", &format!("sqlite://{}", db.display()), "--interval", "1m"]);
    command.args(["--strategy", "sma-cross", "--workers", &workers.to_string(), "--out"]).arg(out.path());
    let finished = run_to_end(&mut command)?;
    eprint!("{}", finished.stdout);
    let mut params = vec![
        ("source".into(), json!("sqlite")),
        ("symbols".into(), json!(args.symbols)),
        ("bars_per_symbol".into(), json!(args.bars)),
        ("workers".into(), json!(workers)),
    ];
    if let Some(peer) = vectorbt(&args.data_dir, &compact)? {
        let stage = |name: &str| peer.report[name].as_f64().unwrap_or(f64::NAN);
        eprintln!(
            "vectorbt end to end: {:.2} s (imports {:.2} s, CSV load {:.2} s, JIT and run {:.2} s), {} round trips, peak {} MiB; tickflow/vectorbt: {:.2}×",
            peer.finished.seconds,
            stage("import_seconds"),
            stage("load_seconds"),
            stage("run_seconds"),
            peer.report["trades"],
            peer.finished.peak_rss_bytes >> 20,
            peer.finished.seconds / finished.seconds
        );
        params.push(("vectorbt_seconds".into(), json!(peer.finished.seconds)));
        params.push(("vectorbt_peak_rss_mib".into(), json!(peer.finished.peak_rss_bytes >> 20)));
    }
    Ok(Figures {
        scenario: "backtest".into(),
        params,
        items: total,
        wall_seconds: finished.seconds,
        peak_rss_bytes: finished.peak_rss_bytes,
    })
}

/// The SQLite store with the bars published as a batch run, made once and
/// cached; a cached store made by an older build is migrated first (opened
/// as a writer), since `tickflow backtest` only reads.
fn sqlite(data_dir: &Path, bars: Vec<Bar>, symbols: usize, per_symbol: usize) -> Result<PathBuf, BenchError> {
    let dir = data_dir.join(format!("backtest-{symbols}x{per_symbol}"));
    let db = dir.join("views.db");
    let done = dir.join("_PUBLISHED");
    let url = format!("sqlite://{}", db.display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if done.exists() {
        runtime.block_on(store::open(&url, Access::Write)).map_err(|e| BenchError::Prepare(e.to_string()))?;
        return Ok(db);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    eprintln!("Publishing the bars to {} (not timed) ...", db.display());
    let first_day = START / NANOS_PER_DAY;
    let last_day = (START + per_symbol as i64 * MINUTE - 1) / NANOS_PER_DAY;
    let days = (first_day..=last_day).map(|day| DaySummary { day, trades: symbols as u64 }).collect();
    let publish = BatchPublish {
        started_at: 0,
        days,
        bars: Box::new(bars.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    runtime
        .block_on(async {
            let store = store::open(&url, Access::Write).await?;
            store.publish_batch(publish).await
        })
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    std::fs::write(done, b"")?;
    Ok(db)
}
