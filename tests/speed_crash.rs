//! Issue 4, crash safety: the speed job SIGKILLed at random moments during a
//! replay and restarted ends with the same speed view as an uninterrupted run
//! (DESIGN.md, contract 4).

use crate::support::kafka::{Broker, Storage};
use crate::support::{bar_rows, shared_data, tickflow};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tickflow_bench::child::Running;
use tickflow_shared::store::Access;
use tickflow_shared::{Price, Size, Symbol, Tick, wire};

const PARTITIONS: i32 = 3;
/// 2013-10-08T00:00:00Z, after the last trade of the day replayed: moves every watermark past the data.
const SENTINEL_TS: i64 = 1_381_190_400_000_000_000;
/// A day later: sent after the crashes, so that only a job that has read
/// everything before it reaches a watermark past it.
const LAST_SENTINEL_TS: i64 = SENTINEL_TS + 86_400_000_000_000;

/// One trade at `ts` in every partition, which moves every partition's watermark to it.
fn sentinels(bootstrap: &str, ts: i64) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("producer");
    let mut value = String::new();
    for partition in 0..PARTITIONS {
        let tick = Tick {
            symbol: Symbol::new("ZZZZ").expect("symbol"),
            ts,
            price: Price(100_000_000),
            size: Size(100_000_000),
            seq: partition as u64,
        };
        wire::encode(&tick, &mut value);
        let record = BaseRecord::to("ticks").partition(partition).key("ZZZZ").payload(value.as_str());
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("delivered");
}

/// Starts the job, its log appended to `log`.
fn speed(bootstrap: &str, store: &str, log: &Path) -> Running {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(["speed", "--brokers", bootstrap, "--store", store, "--workers", "2", "--idle-timeout", "2s"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tickflow speed starts");
    Running(child)
}

/// The stored watermark, read through the store as the serving layer would.
fn watermark(store: &str) -> Option<i64> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = tickflow_shared::store::open(store, Access::Read).await.ok()?;
        store.speed_status().await.ok()?.watermark
    })
}

/// The late table, oldest first, as `(source, position)`.
fn late_positions(store: &str) -> Vec<(String, u64)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = tickflow_shared::store::open(store, Access::Read).await.expect("store opens");
        let late = store.late_trades(usize::MAX).await.expect("late trades");
        late.into_iter().rev().map(|t| (t.source, t.position)).collect()
    })
}

/// Runs the job until its stored watermark is within 3 s of `sentinel`, then stops it cleanly.
fn run_to(sentinel: i64, bootstrap: &str, store: &str, log: &Path) -> Duration {
    let started = Instant::now();
    let mut child = speed(bootstrap, store, log);
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = started + Duration::from_secs(600);
    assert!(watermark(store).is_none_or(|w| w < sentinel - 3_000_000_000), "the job has not read the sentinel yet");
    while watermark(store).is_none_or(|w| w < sentinel - 3_000_000_000) {
        assert!(
            Instant::now() < deadline,
            "hang guard: the watermark ({:?}) never reached the sentinel {sentinel}; the job's log ends:\n{}",
            watermark(store),
            log().lines().rev().take(40).collect::<Vec<_>>().join("\n")
        );
        assert!(child.0.try_wait().expect("status").is_none(), "the speed job exited early:\n{}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let elapsed = started.elapsed();
    let sent = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().expect("kill");
    assert!(sent.success());
    assert!(child.0.wait().expect("wait").success(), "exit 0 after SIGTERM:\n{}", log());
    elapsed
}

fn speed_view(store: &str) -> Vec<Vec<String>> {
    ["1s", "1m", "5m", "15m", "1h", "1d"].iter().map(|interval| bar_rows(store, interval, "speed")).collect()
}

#[test]
fn a_speed_job_killed_five_times_ends_with_the_uninterrupted_view() {
    // SQLite storage: tansu 0.6's memory engine answers a fetch from inside a
    // record batch with the wrong batches, and a restart seeks to such offsets.
    let broker = Broker::with(Storage::Sqlite);
    let bootstrap = broker.bootstrap();
    // One day of real trades (SQLite storage makes the broker slow).
    let real = shared_data().join("real/trades-2013-10-07.csv.zst");
    let partitions = PARTITIONS.to_string();
    let real = real.to_str().expect("path");
    tickflow(&["produce", "--brokers", &bootstrap, "--partitions", &partitions, "--replay", real]);
    sentinels(&bootstrap, SENTINEL_TS);
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = format!("sqlite://{}", dir.path().join("whole.db").display());
    let crashed = format!("sqlite://{}", dir.path().join("crashed.db").display());

    let (whole_log, crashed_log) = (dir.path().join("whole.log"), dir.path().join("crashed.log"));
    let uninterrupted = run_to(SENTINEL_TS, &bootstrap, &whole, &whole_log);
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    eprintln!("kill moments from seed {seed}, within an uninterrupted run of {uninterrupted:?}");
    let span = uninterrupted.as_millis() as u64;
    for _ in 0..5 {
        let mut child = speed(&bootstrap, &crashed, &crashed_log);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(span / 5 + seed % (span * 3 / 4).max(1)));
        child.0.kill().expect("SIGKILL");
        child.0.wait().expect("reaped");
    }
    sentinels(&bootstrap, LAST_SENTINEL_TS);
    run_to(LAST_SENTINEL_TS, &bootstrap, &crashed, &crashed_log);
    run_to(LAST_SENTINEL_TS, &bootstrap, &whole, &whole_log);
    let (late_whole, late_crashed) = (late_positions(&whole), late_positions(&crashed));
    assert!(
        late_whole == late_crashed,
        "the same trades are late: {} in the uninterrupted run (first {:?}), {} after the crashes (first {:?})",
        late_whole.len(),
        late_whole.first(),
        late_crashed.len(),
        late_crashed.first()
    );
    let (want, got) = (speed_view(&whole), speed_view(&crashed));
    assert!(want.iter().all(|rows| !rows.is_empty()), "the uninterrupted run wrote bars of every interval");
    for (interval, (want, got)) in ["1s", "1m", "5m", "15m", "1h", "1d"].iter().zip(want.iter().zip(&got)) {
        assert_eq!(want.len(), got.len(), "{interval}: bar count after the crashes");
        let differ = want.iter().zip(got).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{interval}: {differ} bars differ, e.g. {:?}",
            want.iter().zip(got).find(|(a, b)| a != b)
        );
    }
}
