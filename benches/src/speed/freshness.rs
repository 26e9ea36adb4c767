//! `tickflow bench speed freshness`: how long after a trade is produced
//! its provisional bar shows it in the store.
//!
//! A tansu broker, a store (a throwaway PostgreSQL cluster unless `--store`
//! is given) and `tickflow speed` on the topic run for the measurement; a
//! thread of the harness produces simulated trades at a steady rate, each
//! stamped with the wall clock (to the millisecond, the wire format's
//! precision) and remembered per (symbol, second). The harness reads the
//! store's change sequence of 1s bars every few milliseconds: when a bar's
//! trade count grows from `a` to `b`, its trades `a..b` (a symbol's trades
//! reach a bar in the order they were produced) have just become visible,
//! and each is one sample of `now - produce time` in an hdrhistogram:
//! produce, broker, consume, windows, commit and the read that finds it.

use crate::child::Running;
use crate::report::{Figures, children_peak_rss};
use crate::{BenchError, produce, tansu};
use hdrhistogram::Histogram;
use rdkafka::producer::Producer;
use rustc_hash::FxHashMap;
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tickflow_ingest::simulator::{Market, SimConfig};
use tickflow_shared::store::{Access, ReadStore, SpeedChange};
use tickflow_shared::time::now_ns;
use tickflow_shared::{Interval, Symbol, wire};

/// Arguments of `tickflow bench speed freshness`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trades per second the harness produces.
    #[arg(long, default_value_t = 100_000.0)]
    rate: f64,
    /// Symbols traded.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// How often the harness reads the change sequence, in milliseconds.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// The speed job's `--emit-interval`.
    #[arg(long, default_value_t = format!("{}ms", tickflow_speed::SpeedConfig::default_emit_interval().as_millis()))]
    emit_interval: String,
    /// A PostgreSQL or SQLite store URL; default: a throwaway PostgreSQL cluster.
    #[arg(long)]
    store: Option<String>,
}

const TOPIC: &str = "bench-fresh";
const SECOND: i64 = 1_000_000_000;
const MILLI: i64 = 1_000_000;

/// Produce times of the trades of each (symbol, 1s window), in produce order.
type Sent = Arc<Mutex<FxHashMap<(Symbol, i64), Vec<i64>>>>;

/// Starts the pipeline and samples freshness.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let broker = tansu::Broker::start(tansu::Storage::Memory)?;
    let brokers = broker.bootstrap();
    let cluster = match &args.store {
        Some(_) => None,
        None => Some(crate::postgres::Cluster::start()?),
    };
    let store_url = args.store.clone().or_else(|| cluster.as_ref().map(|c| c.url.clone())).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Opened (created and migrated) before the speed job starts, then only read.
    let store = runtime
        .block_on(tickflow_shared::store::open(&store_url, Access::Write))
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    runtime
        .block_on(tickflow_ingest::producer::ensure_topic(
            &tickflow_shared::kafka::KafkaConfig::plain(&brokers),
            TOPIC,
            6,
        ))
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    let metrics = std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?;
    let speed = Running(
        Command::new(std::env::current_exe()?)
            .args(["speed", "--brokers", &brokers, "--topic", TOPIC, "--store", &store_url])
            .args(["--emit-interval", &args.emit_interval, "--metrics-listen", &metrics.to_string()])
            .env("TICKFLOW_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let sent = Sent::default();
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (brokers, sent, stop, rate, symbols) =
            (brokers.clone(), sent.clone(), stop.clone(), args.rate, args.symbols);
        std::thread::spawn(move || produce_steadily(&brokers, rate, symbols, &sent, &stop))
    };
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| BenchError::Prepare(e.to_string()))?;
    let measured = runtime.block_on(sample(store.as_ref(), &args, &sent, &mut histogram));
    stop.store(true, Ordering::Relaxed);
    let produced = producer.join().map_err(|_| BenchError::Run("the producer thread panicked".into()))??;
    let samples = measured?;
    let commit_ms = mean_commit_ms(metrics)?;
    // Reaped before the figures, so that the peak memory is the speed job's.
    drop(speed);
    if samples == 0 {
        return Err(BenchError::Run("no 1s bar became visible during the measurement".into()));
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1_000.0;
    eprintln!("freshness p50 {:.1} ms, p99 {:.1} ms over {samples} trades ({produced} produced)", ms(0.5), ms(0.99));
    Ok(Figures {
        scenario: "speed freshness".into(),
        params: vec![
            ("rate".into(), json!(args.rate)),
            ("symbols".into(), json!(args.symbols)),
            ("emit_interval".into(), json!(args.emit_interval)),
            ("store".into(), json!(if args.store.is_some() { "given" } else { "postgres" })),
            ("samples".into(), json!(samples)),
            ("p50_ms".into(), json!(ms(0.5))),
            ("p90_ms".into(), json!(ms(0.9))),
            ("p99_ms".into(), json!(ms(0.99))),
            ("max_ms".into(), json!(histogram.max() as f64 / 1_000.0)),
            ("commit_mean_ms".into(), json!((commit_ms * 10.0).round() / 10.0)),
        ],
        items: samples,
        wall_seconds: args.seconds,
        peak_rss_bytes: children_peak_rss(),
    })
}

/// The speed job's mean commit time so far, from its `/metrics`.
fn mean_commit_ms(addr: std::net::SocketAddr) -> Result<f64, BenchError> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let value = |name: &str| {
        text.lines().find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap_or(f64::NAN)
    };
    let (sum, count) =
        (value("tickflow_speed_commit_duration_seconds_sum"), value("tickflow_speed_commit_duration_seconds_count"));
    Ok(sum / count * 1_000.0)
}

/// Sends simulated trades at `rate` until `stop`, stamped with the wall
/// clock, and records each one's produce time in `sent`; returns how many.
fn produce_steadily(
    brokers: &str,
    rate: f64,
    symbols: usize,
    sent: &Sent,
    stop: &AtomicBool,
) -> Result<u64, BenchError> {
    let producer = produce::raw_producer(brokers)?;
    let mut market =
        Market::new(&SimConfig { symbols, ..SimConfig::default() }).map_err(|e| BenchError::Prepare(e.to_string()))?;
    let (started, mut produced, mut text, mut batch) = (Instant::now(), 0u64, String::new(), Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while produced < due {
            let ts = now_ns() / MILLI * MILLI;
            let tick = market.next_trade(ts);
            text.clear();
            wire::encode(&tick, &mut text);
            produce::send(&producer, TOPIC, tick.symbol.as_str(), &text)?;
            batch.push((tick.symbol, ts));
            produced += 1;
        }
        let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
        for (symbol, ts) in batch.drain(..) {
            sent.entry((symbol, ts - ts.rem_euclid(SECOND))).or_default().push(ts);
        }
        drop(sent);
        producer.poll(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1));
    }
    producer.flush(Duration::from_secs(60)).map_err(|e| BenchError::Run(e.to_string()))?;
    Ok(produced)
}

/// Reads the change sequence of 1s bars until the warm-up and measurement
/// are over, recording the age of every trade that became visible while
/// measuring; returns how many it recorded.
async fn sample(
    store: &dyn ReadStore,
    args: &Args,
    sent: &Sent,
    histogram: &mut Histogram<u64>,
) -> Result<u64, BenchError> {
    let second: Interval = "1s".parse().map_err(|e| BenchError::Prepare(format!("{e}")))?;
    let poll = Duration::from_millis(args.poll_ms.max(1));
    let started = Instant::now();
    let (mut since, mut samples) = (0, 0u64);
    let mut visible: FxHashMap<(Symbol, i64), u64> = FxHashMap::default();
    while started.elapsed().as_secs_f64() < args.warmup + args.seconds {
        let changes =
            store.speed_changes(second, None, since, 100_000).await.map_err(|e| BenchError::Run(e.to_string()))?;
        let now = now_ns();
        since = changes.next;
        let measuring = started.elapsed().as_secs_f64() >= args.warmup;
        samples += record(&changes.changes, now, &mut visible, sent, measuring.then_some(&mut *histogram));
        tokio::time::sleep(poll).await;
    }
    Ok(samples)
}

/// Records in `histogram` (when measuring) the age at `now` of every trade
/// the `changes` show for the first time; returns how many it recorded.
fn record(
    changes: &[SpeedChange],
    now: i64,
    visible: &mut FxHashMap<(Symbol, i64), u64>,
    sent: &Sent,
    mut histogram: Option<&mut Histogram<u64>>,
) -> u64 {
    let sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
    let mut recorded = 0;
    for change in changes {
        let bar = &change.bar.bar;
        let key = (bar.symbol.clone(), bar.start);
        let before = visible.insert(key.clone(), bar.trades).unwrap_or(0) as usize;
        let times = sent.get(&key).map_or(&[][..], Vec::as_slice);
        let Some(histogram) = histogram.as_deref_mut() else { continue };
        for ts in times.get(before.min(times.len())..(bar.trades as usize).min(times.len())).unwrap_or(&[]) {
            histogram.saturating_record(((now - ts).max(1_000) / 1_000) as u64);
            recorded += 1;
        }
    }
    recorded
}
