//! Issue 21, the fault suite: the broker killed and started again (same port,
//! same SQLite storage) while `produce`, `archive` and `speed` run. Nothing
//! is lost or doubled: the archive holds each produced trade exactly once and
//! the speed view equals the naive reference.

use crate::archive::archived;
use crate::reference::{self, Trade};
use crate::support::kafka::Broker;
use crate::support::process::Service;
use crate::support::{bar_rows, shared_data};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::path::Path;
use std::time::{Duration, Instant};
use tickflow_shared::store::Access;
use tickflow_shared::{Price, Size, Symbol, Tick, wire};

const PARTITIONS: i32 = 3;
/// 2013-10-07T17:00:00Z and 17:30:00Z: half an hour of real trades (about
/// 18,700), replayed at 90 times real time, so the run spans 20 s.
const FROM_MS: i64 = 1_381_165_200_000;
const TO_MS: i64 = FROM_MS + 1_800_000;
const REPLAY_SPEED: &str = "90";
/// How long into the replay the broker dies, and for how long.
const KILL_AFTER: Duration = Duration::from_secs(7);
const DOWN: Duration = Duration::from_secs(6);
/// Shorter than the outage: silence while the broker is down must not make
/// a partition idle (it did, and 3,404 trades turned late).
const IDLE_TIMEOUT: &str = "4s";
/// A symbol not in the data: one trade of it per partition, two hours after
/// the data, moves every partition's watermark past the data's last hour.
const SENTINEL: &str = "ZZZZ";
const HOUR: i64 = 3_600_000_000_000;
/// Hang guard: the whole run takes well under a minute.
const PATIENCE: Duration = Duration::from_secs(180);

/// The real trades of `[from_ms, to_ms)` on 2013-10-07 as a CSV file for
/// `produce --replay`, and the reference's view of them.
pub(crate) fn real_window(path: &Path, from_ms: i64, to_ms: i64) -> Vec<Trade> {
    let file = shared_data().join("real/trades-2013-10-07.csv.zst");
    let bytes = zstd::decode_all(std::fs::File::open(file).expect("real data")).expect("zstd");
    let text = String::from_utf8(bytes).expect("utf-8");
    let mut lines = text.lines();
    let mut csv = format!("{}\n", lines.next().expect("header"));
    for line in lines {
        let ms: i64 = line.split(',').next().and_then(|t| t.parse().ok()).expect("timestamp");
        if (from_ms..to_ms).contains(&ms) {
            csv.push_str(line);
            csv.push('\n');
        }
    }
    std::fs::write(path, &csv).expect("write the replay file");
    reference::read_csv(&csv)
}

/// Asserts that the archive holds exactly the trades of `runs` (one
/// `tickflow produce` each, which numbers `seq` per symbol from 0), each once.
pub(crate) fn assert_archived_once(archive: &Path, runs: &[&[Trade]]) {
    let mut want = Vec::new();
    for trades in runs {
        let mut sorted = trades.to_vec();
        sorted.sort_by(|a, b| (&a.symbol, a.ts_ms, a.line).cmp(&(&b.symbol, b.ts_ms, b.line)));
        let mut seqs = std::collections::BTreeMap::<String, u64>::new();
        for t in sorted {
            let seq = seqs.entry(t.symbol.clone()).or_default();
            want.push((t.symbol.clone(), *seq, t.ts_ms, t.price, t.size));
            *seq += 1;
        }
    }
    want.sort();
    let mut got: Vec<(String, u64, i64, i64, i64)> = archived_trades(archive)
        .into_iter()
        .map(|t| (t.symbol.to_string(), t.seq, t.ts / 1_000_000, t.price.0, t.size.0))
        .collect();
    got.sort();
    assert_eq!(got.len(), want.len(), "the archive holds every produced trade once");
    if let Some(i) = (0..want.len()).find(|&i| got[i] != want[i]) {
        panic!("archived trade {i} differs: expected {:?}, archived {:?}", want[i], got[i]);
    }
}

/// One trade at `ts` in every partition.
fn sentinels(bootstrap: &str, ts: i64) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("producer");
    let mut value = String::new();
    for partition in 0..PARTITIONS {
        let price = Price(100_000_000);
        let tick = Tick { symbol: Symbol::new(SENTINEL).expect("symbol"), ts, price, size: Size(1), seq: 0 };
        wire::encode(&tick, &mut value);
        let record = BaseRecord::to("ticks").partition(partition).key(SENTINEL).payload(value.as_str());
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(60)).expect("delivered");
}

/// The speed layer's stored watermark, read as the serving layer reads it.
fn watermark(store: &str) -> Option<i64> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = tickflow_shared::store::open(store, Access::Read).await.ok()?;
        store.speed_status().await.ok()?.watermark
    })
}

/// Trades in the archive, the sentinels left out.
pub(crate) fn archived_trades(archive: &Path) -> Vec<Tick> {
    if !archive.exists() {
        return Vec::new();
    }
    archived(archive).into_iter().filter(|t| t.symbol.as_str() != SENTINEL).collect()
}

/// Waits until `done`, failing if one of `services` exits or the patience runs out.
pub(crate) fn wait_for(what: &str, services: &mut [&mut Service], mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        for service in services.iter_mut() {
            service.assert_running();
        }
        assert!(started.elapsed() < PATIENCE, "hang guard: {what} did not happen within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

/// Lines of a log at WARN or ERROR.
fn complaints(log: &str) -> usize {
    log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).count()
}

#[test]
fn a_broker_restart_during_produce_archive_and_speed_loses_and_doubles_nothing() {
    let mut broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().expect("temp dir");
    let replay = dir.path().join("half-hour.csv");
    let trades = real_window(&replay, FROM_MS, TO_MS);
    crate::support::kafka::create_topic(&bootstrap, "ticks", PARTITIONS);
    let archive = dir.path().join("archive");
    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = archive.to_str().expect("path");
    let mut archiver = Service::tickflow(
        "archive",
        &args(&["archive", "--brokers", &bootstrap, "--out", out, "--roll-trades", "2000", "--roll-interval", "500ms"]),
        &[],
    );
    let mut speed = Service::tickflow(
        "speed",
        &args(&[
            "speed",
            "--brokers",
            &bootstrap,
            "--store",
            &store,
            "--intervals",
            "1s,1m,1h",
            "--workers",
            "2",
            "--idle-timeout",
            IDLE_TIMEOUT,
        ]),
        &[],
    );
    let replay = replay.to_str().expect("path");
    let mut producer = Service::tickflow(
        "produce",
        &args(&["produce", "--brokers", &bootstrap, "--replay", replay, "--speed", REPLAY_SPEED]),
        &[],
    );
    let started = Instant::now();
    std::thread::sleep(KILL_AFTER);
    let before = archived_trades(&archive).len();
    assert!(before > 0 && before < trades.len(), "the broker dies mid-run: {before} of {} archived", trades.len());
    broker.restart(DOWN);
    eprintln!("broker killed after {KILL_AFTER:?} ({before} trades archived), up again after {DOWN:?}");
    let status = producer.wait();
    assert!(status.success(), "produce failed after the broker restart:\n{}", producer.log());
    let summary = producer.log();
    assert!(summary.contains(&format!("Produced {} trades", trades.len())), "{summary}");
    let produced = Instant::now();
    eprintln!("produce finished {:?} after it started (the replay is paced to 20 s)", started.elapsed());
    sentinels(&bootstrap, trades.iter().map(|t| t.ts_ms).max().expect("trades") * 1_000_000 + 2 * HOUR);

    let last = trades.iter().map(|t| t.ts_ms * 1_000_000).max().expect("trades");
    let until = (last.div_euclid(HOUR) + 1) * HOUR;
    wait_for("the archive holding every trade", &mut [&mut archiver], || {
        archived_trades(&archive).len() >= trades.len()
    });
    wait_for("the speed watermark passing the data", &mut [&mut speed], || {
        watermark(&store).is_some_and(|w| w >= until)
    });
    eprintln!("archive and speed had every trade {:?} after produce finished", produced.elapsed());
    for service in [&producer, &archiver, &speed] {
        let log = service.log();
        assert!(log.contains("Kafka is unreachable;"), "the outage is logged:\n{log}");
        for line in log
            .lines()
            .filter(|l| l.contains("Kafka is unreachable;") || l.contains("Cannot commit") || l.contains("again"))
        {
            eprintln!("{line}");
        }
    }
    eprintln!("produce: {} warning or error lines", complaints(&producer.log()));
    assert!(speed.terminate().success(), "speed:\n{}", speed.log());
    assert!(archiver.terminate().success(), "archive:\n{}", archiver.log());

    assert_archived_once(&archive, &[&trades]);
    for (label, seconds) in [("1s", 1), ("1m", 60), ("1h", 3600)] {
        let expected = reference::bars(&trades, seconds, label, "speed");
        let actual: Vec<String> =
            bar_rows(&store, label, "speed").into_iter().filter(|r| !r.starts_with(&format!("{SENTINEL},"))).collect();
        if let Some(i) = (0..expected.len().min(actual.len())).find(|&i| expected[i] != actual[i]) {
            panic!("{label} bar {i} differs:\n  expected {}\n  actual   {}", expected[i], actual[i]);
        }
        assert_eq!(actual.len(), expected.len(), "number of {label} bars");
    }
}
