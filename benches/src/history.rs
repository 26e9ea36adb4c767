//! `tickflow bench history`: the serving reads and a republish on a store
//! holding a year of 1m bars, against the same store holding one day
//! (issue 22), on TimescaleDB (daily chunks) and on plain PostgreSQL.
//!
//! For each engine a throwaway cluster is started (TimescaleDB preloaded,
//! or not), one day of `--symbols` × `--bars` 1m bars is published and
//! measured, then the trading days of the month up to it, then the other
//! trading days of `--days` (untimed, one batch run per day, as the batch
//! layer publishes), each stage measured again: `/api/v1/bars` for one
//! symbol over one day and over one month, `/api/v1/symbols` and
//! `/api/v1/latest`, each for `--seconds` over `--connections` keep-alive
//! connections against `tickflow serve` with its cache off (p50, p99), and
//! the wall time of republishing one day. The last columns are the year's
//! p99 over the day's and over the month's: the month store is the smallest
//! one on which the month query returns what it returns on the year.

use crate::BenchError;
use crate::http::{Connection, wait_ready};
use crate::report::Figures;
use crate::serve::synthetic_bar;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tickflow_shared::store::{self, Access, BatchPublish, BatchStore, DaySummary};
use tickflow_shared::{Interval, Symbol};
use tokio::net::TcpStream;

/// Arguments of `tickflow bench history`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trading days of history (weekdays from 2025-01-06; 252 is a year).
    #[arg(long, default_value_t = 252)]
    days: usize,
    /// Symbols.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// 1m bars per symbol and day (390 is a regular session).
    #[arg(long, default_value_t = 390)]
    bars: usize,
    /// Concurrent keep-alive connections per query.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds measured per query, after one second of warm-up.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Engines: `timescaledb` (needs the extension installed), `postgres`.
    #[arg(long, value_delimiter = ',', default_value = "timescaledb,postgres")]
    engines: Vec<String>,
}

const NANOS_PER_DAY: i64 = 86_400_000_000_000;
const MINUTE: i64 = 60_000_000_000;
/// 2025-01-06, a Monday.
const FIRST_DAY: i64 = 20_094;

/// Runs every engine at one day and at `--days` and prints the comparison.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    if args.days < 2 || args.symbols == 0 || !(1..=1440).contains(&args.bars) {
        return Err(BenchError::Prepare("--days must be at least 2, --symbols positive, --bars 1..=1440".into()));
    }
    let days = trading_days(args.days);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let clock = Instant::now();
    for engine in &args.engines {
        let options = match engine.as_str() {
            "timescaledb" => " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off",
            "postgres" => "",
            other => return Err(BenchError::Prepare(format!("unknown engine {other:?}: use timescaledb or postgres"))),
        };
        let cluster = crate::postgres::Cluster::start_with(options)?;
        let url = runtime.block_on(crate::postgres::create_database(&cluster.url, "history"))?;
        let store =
            runtime.block_on(store::open(&url, Access::Write)).map_err(|e| BenchError::Prepare(e.to_string()))?;
        let middle = days[days.len() / 2];
        let month: Vec<i64> = days.iter().copied().filter(|day| (middle - 29..=middle).contains(day)).collect();
        let mut published: Vec<i64> = Vec::new();
        let mut measured = Vec::new();
        for (label, stage) in [("1 day", &[middle][..]), ("1 month", &month[..]), ("all days", &days[..])] {
            let load = Instant::now();
            let new: Vec<i64> = stage.iter().copied().filter(|day| !published.contains(day)).collect();
            for &day in &new {
                runtime.block_on(publish(&*store, day, &args))?;
            }
            published.extend(new);
            eprintln!("{engine}, {label}: published in {:.1} s", load.elapsed().as_secs_f64());
            let mut results = runtime.block_on(queries(&url, middle, &args))?;
            let republish = Instant::now();
            runtime.block_on(publish(&*store, middle, &args))?;
            results.push(("republish one day".into(), republish.elapsed().as_secs_f64() * 1000.0, 0.0));
            measured.push(results);
        }
        println!(
            "engine\tquery\tday_p50_ms\tday_p99_ms\tmonth_p50_ms\tmonth_p99_ms\tyear_p50_ms\tyear_p99_ms\tyear/day_p99\tyear/month_p99"
        );
        for ((row, month), year) in measured[0].iter().zip(&measured[1]).zip(&measured[2]) {
            // A republish has one figure, in the p50 column.
            let p99 = |(query, p50, p99): &(String, f64, f64)| if query.starts_with("republish") { *p50 } else { *p99 };
            let (query, day_p50, _) = row;
            println!(
                "{engine}\t{query}\t{day_p50:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}",
                p99(row),
                month.1,
                p99(month),
                year.1,
                p99(year),
                p99(year) / p99(row),
                p99(year) / p99(month)
            );
        }
    }
    Ok(Figures {
        scenario: "history".into(),
        params: vec![
            ("days".into(), json!(args.days)),
            ("symbols".into(), json!(args.symbols)),
            ("bars".into(), json!(args.bars)),
            ("engines".into(), json!(args.engines.join(","))),
        ],
        items: (args.days * args.symbols * args.bars * args.engines.len()) as u64,
        wall_seconds: clock.elapsed().as_secs_f64(),
        peak_rss_bytes: crate::report::children_peak_rss(),
    })
}

/// The first `n` weekdays from [`FIRST_DAY`], as days since the epoch.
fn trading_days(n: usize) -> Vec<i64> {
    // Day 0 of the epoch was a Thursday: weekday = (day + 3) % 7, Monday 0.
    (FIRST_DAY..).filter(|day| (day + 3) % 7 < 5).take(n).collect()
}

/// Publishes `day` as one batch run: `--bars` 1m bars of every symbol from 13:30 UTC.
async fn publish(store: &dyn BatchStore, day: i64, args: &Args) -> Result<(), BenchError> {
    let (symbols, bars) = (args.symbols, args.bars as i64);
    let interval: Interval = "1m".parse().map_err(|_| BenchError::Prepare("1m is an interval".into()))?;
    let open = day * NANOS_PER_DAY + (13 * 60 + 30) * MINUTE;
    let all = (0..symbols).flat_map(move |s| {
        let symbol = Symbol::new(&format!("S{s:04}")).unwrap_or_else(|_| unreachable!("S0000 is a symbol"));
        (0..bars).map(move |i| {
            let price = 10_000_000_000 + ((day + i) * 7_919 + s as i64 * 104_729) % 100_000_000;
            synthetic_bar(&symbol, interval, open + i * MINUTE, MINUTE, price)
        })
    });
    let publish = BatchPublish {
        started_at: tickflow_shared::time::now_ns(),
        days: vec![DaySummary { day, trades: (symbols as u64) * (bars as u64) * 10 }],
        bars: Box::new(all),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.map_err(|e| BenchError::Run(e.to_string()))?;
    Ok(())
}

/// Starts `tickflow serve` on `url` with its cache off and measures each query.
async fn queries(url: &str, day: i64, args: &Args) -> Result<Vec<(String, f64, f64)>, BenchError> {
    let addr = format!("127.0.0.1:{}", crate::free_port()?);
    let mut server = Command::new(std::env::current_exe()?)
        .args(["serve", "--store", url, "--listen", &addr, "--cache-entries", "0"])
        .env("TICKFLOW_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let date = |day: i64| format!("{}T00:00:00Z", tickflow_shared::time::format_day(day));
    let paths = [
        (
            "/bars one symbol, one day",
            format!("/api/v1/bars?symbol=S0000&interval=1m&from={}&to={}", date(day), date(day + 1)),
        ),
        (
            "/bars one symbol, one month",
            format!("/api/v1/bars?symbol=S0000&interval=1m&from={}&to={}&limit=20000", date(day - 29), date(day + 1)),
        ),
        ("/symbols", "/api/v1/symbols".to_owned()),
        ("/latest", "/api/v1/latest?interval=1m".to_owned()),
    ];
    let mut results = Vec::new();
    let outcome = async {
        wait_ready(&addr, &mut server).await?;
        for (name, path) in &paths {
            let (p50, p99) = measure(&addr, path, args).await?;
            eprintln!("  {name}: p50 {p50:.2} ms, p99 {p99:.2} ms");
            results.push(((*name).to_owned(), p50, p99));
        }
        Ok::<_, BenchError>(())
    }
    .await;
    let _ = server.kill();
    let _ = server.wait();
    outcome.map(|()| results)
}

/// `path` over `--connections` connections for a second, then `--seconds` measured: p50 and p99, ms.
async fn measure(addr: &str, path: &str, args: &Args) -> Result<(f64, f64), BenchError> {
    let start = Instant::now() + Duration::from_secs(1);
    let end = start + Duration::from_secs_f64(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.connections.max(1) {
        let (stream, path) = (TcpStream::connect(addr).await?, path.to_owned());
        tasks.spawn(async move {
            let mut connection = Connection::new(stream);
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let sent = Instant::now();
                let (status, body) = connection.get(&path, false).await?;
                if status != 200 {
                    let body = String::from_utf8_lossy(&body);
                    return Err(BenchError::Run(format!("{path} answered {status}: {body}")));
                }
                if sent >= start {
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.map_err(|e| BenchError::Run(e.to_string()))??);
    }
    if latencies.is_empty() {
        return Err(BenchError::Run(format!("no {path} request finished in the measured time")));
    }
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok((quantile(0.5), quantile(0.99)))
}
