//! Issue 21, the fault suite: PostgreSQL stopped as a crash stops it
//! (`pg_ctl -m immediate stop`) for 5 s in the middle of a speed run. The
//! job keeps running, retries its commit with backoff, logs the outage once
//! when it starts and once when it ends, and its final bars equal the naive
//! reference; a store opened before the outage answers again after it.

use crate::reference::{self, Trade};
use crate::support::bar_rows;
use crate::support::kafka::{Broker, Storage};
use crate::support::postgres::Cluster;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickflow_bench::child::Running;
use tickflow_shared::store::{Access, Store};
use tickflow_shared::{Price, Size, Symbol, Tick, wire};

/// TimescaleDB preloaded, as in production.
pub const TIMESCALE: &str = " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off";
const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
/// 2026-01-05T14:00:00Z, where the trades start.
const T: i64 = 1_767_621_600 * SECOND;
/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(5);
/// Hang guard.
const PATIENCE: Duration = Duration::from_secs(120);
const SYMBOLS: [&str; 6] = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"];
/// One trade of it per partition, two hours after the data, moves every watermark past the data.
const SENTINEL: &str = "ZZZZ";
const PARTITIONS: i32 = 2;

/// A store on its own runtime, as the serving layer would read it.
pub struct Views {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
}

impl Views {
    /// Opens (and migrates) the store at `url`.
    pub fn open(url: &str) -> Views {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let store = runtime.block_on(tickflow_shared::store::open(url, Access::Write)).expect("the store opens");
        Views { runtime, store }
    }

    /// The committed watermark; `None` before any or while the store fails.
    fn watermark(&self) -> Option<i64> {
        self.runtime.block_on(self.store.speed_status()).ok()?.watermark
    }
}

/// The trades of event minutes `[from, to)`: one per symbol every 2 s, prices and sizes varying.
fn trades(from: i64, to: i64) -> Vec<Tick> {
    let mut ticks = Vec::new();
    for second in (from * 60..to * 60).step_by(2) {
        for (i, symbol) in SYMBOLS.iter().enumerate() {
            let n = second as u64 * 7 + i as u64;
            ticks.push(Tick {
                symbol: Symbol::new(symbol).expect("symbol"),
                ts: T + second * SECOND + (n % 997) as i64 * 1_000_000,
                price: Price(10_000_000_000 + (n * 7919 % 50_000) as i64 * 10_000),
                size: Size((1 + n % 300) as i64 * 100_000_000),
                seq: n,
            });
        }
    }
    ticks
}

/// Sends every trade keyed by its symbol and waits until the broker has them all.
fn send(producer: &BaseProducer, ticks: &[Tick]) {
    let mut value = String::new();
    for tick in ticks {
        wire::encode(tick, &mut value);
        let record = BaseRecord::to("ticks").key(tick.symbol.as_str()).payload(value.as_str());
        producer.send(record).map_err(|(e, _)| e).expect("queued");
    }
    producer.flush(Duration::from_secs(60)).expect("every trade delivered");
}

fn sentinels(producer: &BaseProducer, ts: i64) {
    let mut value = String::new();
    for partition in 0..PARTITIONS {
        let tick = Tick {
            symbol: Symbol::new(SENTINEL).expect("symbol"),
            ts,
            price: Price(100_000_000),
            size: Size(100_000_000),
            seq: partition as u64,
        };
        wire::encode(&tick, &mut value);
        let record = BaseRecord::to("ticks").partition(partition).key(SENTINEL).payload(value.as_str());
        producer.send(record).map_err(|(e, _)| e).expect("queued");
    }
    producer.flush(Duration::from_secs(60)).expect("sentinels delivered");
}

/// Polls until the committed watermark reaches `at`, failing if the job exits; returns how long it took.
fn wait_for_watermark(views: &Views, at: i64, job: &mut Running, log: &Path) -> Duration {
    let started = Instant::now();
    while views.watermark().is_none_or(|w| w < at) {
        let status = job.0.try_wait().expect("status");
        assert!(status.is_none(), "the speed job exited with {status:?}:\n{}", read(log));
        assert!(started.elapsed() < PATIENCE, "hang guard: the watermark never reached {at}:\n{}", read(log));
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

fn read(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// The value of `field=` in `line`.
fn field<'a>(line: &'a str, field: &str) -> &'a str {
    let start = line.find(&format!("{field}=")).map_or(line.len(), |i| i + field.len() + 1);
    line[start..].split_whitespace().next().unwrap_or("")
}

#[test]
fn a_speed_job_rides_out_a_postgres_restart_and_ends_with_the_reference_bars() {
    let cluster = Cluster::new(&[]);
    cluster.start(TIMESCALE);
    let store = cluster.url();
    let views = Views::open(&store);
    let broker = Broker::with(Storage::Memory);
    let bootstrap = broker.bootstrap();
    crate::support::kafka::create_topic(&bootstrap, "ticks", PARTITIONS);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");

    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("speed.log");
    let args = ["speed", "--brokers", &bootstrap, "--store", &store, "--intervals", "1s,1m,1h", "--workers", "2"];
    let mut job = Running(
        Command::new(env!("CARGO_BIN_EXE_tickflow"))
            .args(args)
            .env("TICKFLOW_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("tickflow speed starts"),
    );

    let (first, second, third) = (trades(0, 10), trades(10, 20), trades(20, 30));
    send(&producer, &first);
    wait_for_watermark(&views, T + 9 * MINUTE, &mut job, &log);

    // The server crashes with trades in flight: the job reads them and cannot commit.
    cluster.stop_immediate();
    let stopped = Instant::now();
    send(&producer, &second);
    std::thread::sleep(OUTAGE.saturating_sub(stopped.elapsed()));
    assert!(job.0.try_wait().expect("status").is_none(), "the job survives the outage:\n{}", read(&log));
    cluster.start(TIMESCALE);
    let down = stopped.elapsed();
    let recovered = wait_for_watermark(&views, T + 19 * MINUTE, &mut job, &log);
    eprintln!("PostgreSQL was down {down:?}; the trades sent during the outage were committed {recovered:?} after it");

    send(&producer, &third);
    sentinels(&producer, T + 2 * HOUR);
    wait_for_watermark(&views, T + HOUR, &mut job, &log);
    let sent = Command::new("kill").args(["-TERM", &job.0.id().to_string()]).status().expect("kill");
    assert!(sent.success());
    assert!(job.0.wait().expect("wait").success(), "exit 0 after SIGTERM:\n{}", read(&log));

    let log = read(&log);
    let outages: Vec<&str> = log.lines().filter(|l| l.contains("The view store is unreachable")).collect();
    let recoveries: Vec<&str> = log.lines().filter(|l| l.contains("The view store is reachable again")).collect();
    assert_eq!((outages.len(), recoveries.len()), (1, 1), "one line when the outage starts, one when it ends:\n{log}");
    eprintln!("outage logged as: {}", outages[0]);
    eprintln!("recovery logged as: {}", recoveries[0]);
    let failed: u64 = field(recoveries[0], "failed_attempts").parse().expect("failed_attempts");
    let down_seconds: f64 = field(recoveries[0], "down_seconds").parse().expect("down_seconds");
    assert!(failed >= 1, "at least the first attempt failed");
    eprintln!("{failed} failed commit attempts over {down_seconds:.1} s");

    let all: Vec<Trade> = [first, second, third]
        .concat()
        .iter()
        .map(|t| Trade {
            symbol: t.symbol.to_string(),
            ts_ms: t.ts / 1_000_000,
            line: t.seq,
            price: t.price.0,
            size: t.size.0,
        })
        .collect();
    for (label, seconds) in [("1s", 1), ("1m", 60), ("1h", 3600)] {
        let expected = reference::bars(&all, seconds, label, "speed");
        let actual: Vec<String> = bar_rows(&store, label, "speed")
            .into_iter()
            .filter(|row| !row.starts_with(&format!("{SENTINEL},")))
            .collect();
        if let Some(i) = (0..expected.len().min(actual.len())).find(|&i| expected[i] != actual[i]) {
            panic!("{label} bar {i} differs:\n  expected {}\n  actual   {}", expected[i], actual[i]);
        }
        assert_eq!(actual.len(), expected.len(), "number of {label} bars");
    }
}

#[test]
fn a_store_opened_before_a_postgres_restart_reads_and_writes_after_it() {
    let cluster = Cluster::new(&[]);
    cluster.start(TIMESCALE);
    let views = Views::open(&cluster.url());
    assert_eq!(views.runtime.block_on(views.store.batch_runs(1)).expect("a read").len(), 0);
    cluster.stop_immediate();
    let error = views.runtime.block_on(views.store.batch_runs(1)).expect_err("no server, no read");
    assert!(error.is_transient(), "a lost connection is transient: {}", error.with_causes());
    cluster.start(TIMESCALE);
    views.runtime.block_on(views.store.batch_runs(1)).expect("the read connection is replaced");
    let mut commit = tickflow_shared::store::SpeedCommit { watermark: Some(T), ..Default::default() };
    views.runtime.block_on(views.store.commit_speed(&mut commit)).expect("the write connection is replaced");
    assert_eq!(views.watermark(), Some(T));
}
