//! `tickflow bench serve`: `/api/v1/bars` for one symbol and one day of 1m
//! bars, from PostgreSQL or SQLite, under 64 concurrent keep-alive
//! connections; with `--publish-bars N`, while batch runs of N bars publish
//! into the same store.
//!
//! The store is prepared untimed (a throwaway PostgreSQL cluster unless
//! `--store` is given), `tickflow serve` runs as a child process, and the
//! load generator here speaks raw HTTP/1.1 over one tokio thread: each
//! connection sends a request, reads the whole answer (checking its status
//! and length), and sends the next. Latency is measured per request after a
//! warm-up. The publisher, if any, runs on a thread of its own and publishes
//! another day again and again until the load ends.

use crate::BenchError;
use crate::http::{Connection, wait_ready};
use crate::report::{Figures, children_peak_rss};
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tickflow_shared::store::{self, Access, BatchPublish, DaySummary};
use tickflow_shared::{Bar, Interval, Price, Symbol, Volume};
use tokio::net::TcpStream;

/// Arguments of `tickflow bench serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The store: a PostgreSQL database or `sqlite://FILE`; its batch bars of
    /// 2013-10-07 and 2013-10-08 are replaced. Default: a throwaway
    /// PostgreSQL cluster of its own.
    #[arg(long)]
    store: Option<String>,
    /// Publish batch runs of this many bars (of 500 symbols, six intervals,
    /// on 2013-10-08) into the store, one after another, while measuring.
    #[arg(long, default_value_t = 0)]
    publish_bars: usize,
    /// The `tickflow` binary that serves (default: this one), to compare builds.
    #[arg(long)]
    server_binary: Option<std::path::PathBuf>,
    /// 1m bars in the day (390 is a regular session, 960 an extended one).
    #[arg(long, default_value_t = 390)]
    bars: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Serve with the /bars cache off: every request reads PostgreSQL.
    #[arg(long)]
    no_cache: bool,
    /// Send `Accept-Encoding: gzip`, as browsers do: answers come compressed
    /// (the load generator counts their bytes and does not decompress them).
    #[arg(long)]
    gzip: bool,
}

const MINUTE: i64 = 60_000_000_000;
/// 2013-10-07.
const DAY: i64 = 15_985;
const PATH: &str = "/api/v1/bars?symbol=BENCH&interval=1m&from=2013-10-07T00:00:00Z&to=2013-10-08T00:00:00Z";

/// Prepares the store, starts `tickflow serve` and measures it.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    if args.bars == 0 || args.bars > 1440 || args.connections == 0 || args.seconds <= 0.0 {
        return Err(BenchError::Prepare("--bars must be 1..=1440, --connections and --seconds positive".into()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The cluster, if any, lives until the end of the run.
    let (_cluster, store) = match &args.store {
        Some(url) => (None, url.clone()),
        None => {
            let cluster = crate::postgres::Cluster::start()?;
            let url = runtime.block_on(crate::postgres::create_database(&cluster.url, "serve"))?;
            (Some(cluster), url)
        }
    };
    runtime.block_on(prepare(&store, args.bars))?;
    let port = crate::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let binary = match &args.server_binary {
        Some(binary) => binary.clone(),
        None => std::env::current_exe()?,
    };
    let mut server = Command::new(binary)
        .args(["serve", "--store", &store, "--listen", &addr])
        .args(["--cache-entries", if args.no_cache { "0" } else { "1024" }])
        .env("TICKFLOW_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let publisher = Publisher::start(&store, args.publish_bars)?;
    let measured = runtime.block_on(async {
        wait_ready(&addr, &mut server).await?;
        load(&addr, &args, args.bars).await
    });
    let _ = server.kill();
    let _ = server.wait();
    let publishes = publisher.finish()?;
    let (latencies, wall_seconds, bytes) = measured?;
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    Ok(Figures {
        scenario: "serve".into(),
        params: vec![
            ("bars".into(), json!(args.bars)),
            ("connections".into(), json!(args.connections)),
            ("cache".into(), json!(!args.no_cache)),
            ("gzip".into(), json!(args.gzip)),
            ("store".into(), json!(store.split("://").next().unwrap_or("?"))),
            ("publish_bars".into(), json!(args.publish_bars)),
            ("publishes".into(), json!(publishes)),
            ("requests_per_s".into(), json!((latencies.len() as f64 / wall_seconds).round())),
            ("p50_ms".into(), json!(quantile(0.5))),
            ("p99_ms".into(), json!(quantile(0.99))),
            ("max_ms".into(), json!(quantile(1.0))),
            ("mib_per_s".into(), json!((bytes as f64 / wall_seconds / (1 << 20) as f64).round())),
        ],
        items: latencies.len() as u64,
        wall_seconds,
        peak_rss_bytes: children_peak_rss(),
    })
}

/// Publishes `bars` 1m bars of BENCH on `DAY` as one batch run.
async fn prepare(url: &str, bars: usize) -> Result<(), BenchError> {
    let store = store::open(url, Access::Write).await.map_err(|e| BenchError::Prepare(e.to_string()))?;
    let symbol = Symbol::new("BENCH").map_err(|e| BenchError::Prepare(format!("{e:?}")))?;
    let interval =
        "1m".parse().map_err(|e: tickflow_shared::interval::IntervalError| BenchError::Prepare(format!("{e:?}")))?;
    let first = DAY * 86_400 * 1_000_000_000 + 4 * 60 * MINUTE;
    let day: Vec<Bar> = (0..bars as i64)
        .map(|i| {
            let price = 16_741_000_000 + (i * 7_919) % 100_000_000;
            Bar {
                symbol: symbol.clone(),
                interval,
                start: first + i * MINUTE,
                open: Price(price),
                high: Price(price + 12_345_678),
                low: Price(price - 8_765_432),
                close: Price(price + 1_000_001),
                volume: Volume(1_234_567_000_000 + i128::from(i)),
                vwap: Price(price + 2_345_678),
                trades: 100 + i as u64,
                first_ts: first + i * MINUTE + 1,
                last_ts: first + (i + 1) * MINUTE - 1,
            }
        })
        .collect();
    let publish = BatchPublish {
        started_at: tickflow_shared::time::now_ns(),
        days: vec![DaySummary { day: DAY, trades: day.iter().map(|b| b.trades).sum() }],
        bars: Box::new(day.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.map_err(|e| BenchError::Prepare(format!("{e:?}")))?;
    Ok(())
}

/// Runs the load; returns sorted latencies (µs), the measured seconds and the bytes read.
async fn load(addr: &str, args: &Args, bars: usize) -> Result<(Vec<u32>, f64, u64), BenchError> {
    let gzip = args.gzip;
    let mut first = Connection::new(TcpStream::connect(addr).await?);
    let (status, mut body) = first.get(PATH, gzip).await?;
    if gzip {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .map_err(|e| BenchError::Run(format!("/bars with Accept-Encoding: gzip is not gzip: {e}")))?;
        body = plain;
    }
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| BenchError::Run(e.to_string()))?;
    if status != 200 || value["bars"].as_array().map(Vec::len) != Some(bars) {
        return Err(BenchError::Run(format!("/bars answered {status} without the {bars} bars prepared")));
    }
    let start = Instant::now() + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let stream = TcpStream::connect(addr).await?;
        tasks.spawn(async move {
            let mut connection = Connection::new(stream);
            let (mut latencies, mut bytes) = (Vec::new(), 0u64);
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return Ok::<_, BenchError>((latencies, bytes));
                }
                let (status, body) = connection.get(PATH, gzip).await?;
                if status != 200 {
                    return Err(BenchError::Run(format!("/bars answered {status} under load")));
                }
                if sent >= start {
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    bytes += body.len() as u64;
                }
            }
        });
    }
    let (mut latencies, mut bytes) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (mine, read) = done.map_err(|e| BenchError::Run(e.to_string()))??;
        latencies.extend(mine);
        bytes += read;
    }
    let wall = start.elapsed().as_secs_f64();
    if latencies.is_empty() {
        return Err(BenchError::Run("no request finished in the measured time".into()));
    }
    latencies.sort_unstable();
    Ok((latencies, wall, bytes))
}

/// Batch runs published one after another on a thread of their own, each
/// replacing the day after `DAY` with the same `bars` bars, until stopped.
struct Publisher {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Result<(), BenchError>>>,
}

impl Publisher {
    fn start(url: &str, bars: usize) -> Result<Self, BenchError> {
        let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        if bars == 0 {
            return Ok(Self { stop, done, thread: None });
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let store =
            runtime.block_on(store::open(url, Access::Write)).map_err(|e| BenchError::Prepare(e.to_string()))?;
        let (flag, count) = (stop.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let day = DAY + 1;
                let publish = BatchPublish {
                    started_at: tickflow_shared::time::now_ns(),
                    days: vec![DaySummary { day, trades: bars as u64 }],
                    bars: Box::new(day_of_bars(day, bars)),
                    files: Vec::new(),
                    forget_files: Vec::new(),
                    rejects: Vec::new(),
                };
                runtime.block_on(store.publish_batch(publish)).map_err(|e| BenchError::Run(e.to_string()))?;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        Ok(Self { stop, done, thread: Some(thread) })
    }

    /// Stops after the publish under way; returns how many finished.
    fn finish(mut self) -> Result<u64, BenchError> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().map_err(|_| BenchError::Run("the publisher panicked".into()))??;
        }
        Ok(self.done.load(Ordering::Relaxed))
    }
}

/// `n` bars of `day` in key order, the shape of a batch run over a day of
/// 500 symbols: per symbol, 1s bars and the 1m, 5m, 15m, 1h and 1d bars over them.
fn day_of_bars(day: i64, n: usize) -> impl Iterator<Item = Bar> + Send {
    const SYMBOLS: usize = 500;
    let seconds = (n / SYMBOLS).max(1) as i64;
    let levels: [(i64, &'static str); 6] =
        [(1, "1s"), (60, "1m"), (300, "5m"), (900, "15m"), (3_600, "1h"), (86_400, "1d")];
    let base = day * 86_400 * 1_000_000_000 + 13 * 3_600 * 1_000_000_000;
    (0..SYMBOLS).flat_map(move |s| {
        let symbol = Symbol::new(&format!("S{s:03}")).unwrap_or_else(|_| unreachable!("S000 to S499 are symbols"));
        levels.into_iter().flat_map(move |(width, label)| {
            let interval = label.parse().unwrap_or_else(|_| unreachable!("a known interval"));
            let symbol = symbol.clone();
            (0..(seconds + width - 1) / width).map(move |i| {
                let start = base / (width * 1_000_000_000) * (width * 1_000_000_000) + i * width * 1_000_000_000;
                synthetic_bar(
                    &symbol,
                    interval,
                    start,
                    width * 1_000_000_000,
                    10_000_000_000 + (i * 7_919) % 100_000_000,
                )
            })
        })
    })
}

/// A bar of `width` ns from `start` around `price` (units of 10^-8), 10
/// trades of 1,000 shares: the shape of the bars the serving benchmarks publish.
pub(crate) fn synthetic_bar(symbol: &Symbol, interval: Interval, start: i64, width: i64, price: i64) -> Bar {
    Bar {
        symbol: symbol.clone(),
        interval,
        start,
        open: Price(price),
        high: Price(price + 1_000_000),
        low: Price(price - 1_000_000),
        close: Price(price + 500_000),
        volume: Volume(100_000_000_000),
        vwap: Price(price),
        trades: 10,
        first_ts: start,
        last_ts: start + width - 1,
    }
}
