//! Issue 4, crash safety: the speed job SIGKILLed at random moments during a
//! replay and restarted ends with the same speed view as an uninterrupted run
//! (DESIGN.md, contract 4).

use crate::support::kafka::{Broker, Storage};
use crate::support::{bar_rows, shared_data, tickflow};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tickflow_shared::{Price, Size, Symbol, Tick, wire};

const PARTITIONS: i32 = 3;
/// 2013-10-09T00:00:00Z, after the last real trade: moves every watermark past the data.
const SENTINEL_TS: i64 = 1_381_276_800_000_000_000;

fn sentinels(bootstrap: &str) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("producer");
    let mut value = String::new();
    for partition in 0..PARTITIONS {
        let tick = Tick {
            symbol: Symbol::new("ZZZZ").expect("symbol"),
            ts: SENTINEL_TS,
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

fn speed(bootstrap: &str, store: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(["speed", "--brokers", bootstrap, "--store", store, "--workers", "2", "--idle-timeout", "2s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tickflow speed starts")
}

/// The stored watermark, read through the store as the serving layer would.
fn watermark(store: &str) -> Option<i64> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = tickflow_shared::store::open(store).await.ok()?;
        store.speed_status().await.ok()?.watermark
    })
}

/// Runs the job until its watermark is past the sentinel's day start, then stops it cleanly.
fn run_to_the_end(bootstrap: &str, store: &str) -> Duration {
    let started = Instant::now();
    let mut child = speed(bootstrap, store);
    let deadline = started + Duration::from_secs(600);
    while watermark(store).is_none_or(|w| w < SENTINEL_TS - 3_000_000_000) {
        assert!(Instant::now() < deadline, "hang guard: the watermark never reached the sentinels");
        assert!(child.try_wait().expect("status").is_none(), "the speed job exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let elapsed = started.elapsed();
    let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(sent.success());
    assert!(child.wait().expect("wait").success(), "exit 0 after SIGTERM");
    elapsed
}

fn speed_view(store: &str) -> Vec<Vec<String>> {
    ["1s", "1m", "5m", "15m", "1h", "1d"].iter().map(|interval| bar_rows(store, interval, "speed")).collect()
}

#[test]
fn a_speed_job_killed_five_times_ends_with_the_uninterrupted_view() {
    let broker = Broker::with(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let real = shared_data().join("real");
    let partitions = PARTITIONS.to_string();
    let real = real.to_str().expect("path");
    tickflow(&["produce", "--brokers", &bootstrap, "--partitions", &partitions, "--replay", real]);
    sentinels(&bootstrap);
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = format!("sqlite://{}", dir.path().join("whole.db").display());
    let crashed = format!("sqlite://{}", dir.path().join("crashed.db").display());

    let uninterrupted = run_to_the_end(&bootstrap, &whole);
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    eprintln!("kill moments from seed {seed}, within an uninterrupted run of {uninterrupted:?}");
    let span = uninterrupted.as_millis() as u64;
    for _ in 0..5 {
        let mut child = speed(&bootstrap, &crashed);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(span / 5 + seed % (span * 3 / 4).max(1)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }
    run_to_the_end(&bootstrap, &crashed);
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
