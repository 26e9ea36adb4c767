//! Issue 3 end to end through a real broker: `tickflow produce` puts trades on
//! the topic, `tickflow archive` keeps every one of them exactly once (also
//! across SIGKILLs), seals days by the watermark, and `tickflow batch` reads
//! what it writes.

use crate::reference;
use crate::support::kafka::{Broker, Storage};
use crate::support::{bar_rows, shared_data, tickflow};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tickflow_shared::codec::{Collect, plan_splits, read_split};
use tickflow_shared::time::format_day;
use tickflow_shared::{Price, Size, Symbol, Tick, wire};

/// Visible archive files ordered by (partition, first offset), from their names.
fn archive_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for day in std::fs::read_dir(dir).expect("archive dir") {
        let day = day.expect("entry").path();
        if !day.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("date=")) {
            continue;
        }
        for file in std::fs::read_dir(&day).expect("day dir") {
            let file = file.expect("entry").path();
            let name = file.file_name().and_then(|n| n.to_str()).expect("name");
            if name.starts_with("part-") && name.ends_with(".parquet") {
                files.push(file);
            }
        }
    }
    let key = |path: &PathBuf| -> (i64, i64) {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let mut parts = name.trim_start_matches("part-").trim_end_matches(".parquet").split('-');
        let mut number = || parts.next().and_then(|n| n.parse().ok()).expect("part-<partition>-<offset>.parquet");
        (number(), number())
    };
    files.sort_by_key(key);
    files
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Every archived trade, files in (partition, offset) order.
pub(crate) fn archived(dir: &Path) -> Vec<Tick> {
    let mut sink = Collect::default();
    for file in archive_files(dir) {
        for split in plan_splits(&file).expect("plan") {
            read_split(&split, &mut sink).expect("read");
        }
    }
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    sink.ticks
}

fn by_symbol(ticks: Vec<Tick>) -> BTreeMap<String, Vec<Tick>> {
    let mut map: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    for tick in ticks {
        map.entry(tick.symbol.to_string()).or_default().push(tick);
    }
    map
}

#[test]
fn replayed_real_trades_are_archived_exactly_and_batch_agrees() {
    let broker = Broker::with(Storage::Memory);
    let real = shared_data().join("real");
    let real = real.to_str().expect("path");
    let produced = tickflow(&["produce", "--brokers", &broker.bootstrap(), "--partitions", "3", "--replay", real]);
    let expected = reference::real_trades();
    assert!(produced.contains(&format!("Produced {} trades", expected.len())), "{produced}");
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = dir.path().join("archive");
    let out = archive.to_str().expect("path");
    let report = tickflow(&["archive", "--brokers", &broker.bootstrap(), "--out", out, "--stop-at-end"]);
    assert!(report.contains(&format!("Archived {} trades", expected.len())), "{report}");

    let got = by_symbol(archived(&archive));
    let mut sorted = expected;
    sorted.sort_by(|a, b| (&a.symbol, a.ts_ms, a.line).cmp(&(&b.symbol, b.ts_ms, b.line)));
    for (symbol, ticks) in &got {
        let want: Vec<(i64, i64, i64)> =
            sorted.iter().filter(|t| &t.symbol == symbol).map(|t| (t.ts_ms * 1_000_000, t.price, t.size)).collect();
        let have: Vec<(i64, i64, i64)> = ticks.iter().map(|t| (t.ts, t.price.0, t.size.0)).collect();
        assert!(have == want, "{symbol}: {} trades archived, {} expected, or out of order", have.len(), want.len());
        assert!(ticks.iter().enumerate().all(|(i, t)| t.seq == i as u64), "{symbol}: seq counts per symbol");
    }
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), sorted.len());

    let original = format!("sqlite://{}", dir.path().join("original.db").display());
    let from_archive = format!("sqlite://{}", dir.path().join("archive.db").display());
    tickflow(&["batch", "--archive", real, "--store", &original]);
    let files: Vec<String> = archive_files(&archive).iter().map(|f| f.display().to_string()).collect();
    let mut args = vec!["batch", "--store", &from_archive, "--archive"];
    args.extend(files.iter().map(String::as_str));
    tickflow(&args);
    for interval in ["1s", "1m", "1h", "1d"] {
        let want = bar_rows(&original, interval, "batch");
        assert!(!want.is_empty());
        assert!(bar_rows(&from_archive, interval, "batch") == want, "{interval} bars differ");
    }
}

/// A `tickflow` child process, killed if the test fails before it ends.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(args: &[&str]) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tickflow starts");
    Running(Some(child))
}

impl Running {
    /// Sends SIGKILL and reaps the process.
    fn kill(mut self) {
        let mut child = self.0.take().expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
    }

    /// Sends SIGTERM, asserts a clean exit and returns stdout.
    fn terminate(mut self) -> String {
        let child = self.0.take().expect("running");
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
        assert!(sent.success(), "SIGTERM sent");
        let output = child.wait_with_output().expect("wait");
        assert!(output.status.success(), "exit status {:?} after SIGTERM", output.status);
        String::from_utf8(output.stdout).expect("utf-8")
    }
}

/// A small xorshift generator: random kill moments, reproducible from the printed seed.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn sigkilled_archivers_keep_every_trade_exactly_once() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().to_str().expect("path").to_owned();
    let producer = spawn(&[
        "produce",
        "--brokers",
        &bootstrap,
        "--partitions",
        "3",
        "--simulate",
        "--symbols",
        "40",
        "--rate",
        "20000",
    ]);
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    eprintln!("kill moments from seed {seed}");
    let archive_args =
        ["archive", "--brokers", &bootstrap, "--out", &out, "--roll-trades", "3000", "--roll-interval", "200ms"];
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let archiver = spawn(&archive_args);
        std::thread::sleep(Duration::from_millis(300 + next(&mut seed) % 1500));
        archiver.kill();
    }
    let produced = producer.terminate();
    let total: usize = produced
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("producer summary: {produced}"));
    assert!(total > 0);

    let archiver = spawn(&archive_args);
    let deadline = Instant::now() + Duration::from_secs(300);
    while archived(dir.path()).len() < total {
        assert!(Instant::now() < deadline, "hang guard: the archiver never caught up");
        std::thread::sleep(Duration::from_millis(500));
    }
    archiver.terminate();
    let unfinished = walk(dir.path()).into_iter().filter(|p| p.to_string_lossy().ends_with(".inprogress")).count();
    assert_eq!(unfinished, 0, "unfinished files left behind");
    let mut got: Vec<(String, u64, i64, i64, i64)> =
        archived(dir.path()).into_iter().map(|t| (t.symbol.to_string(), t.seq, t.ts, t.price.0, t.size.0)).collect();
    got.sort();
    assert_eq!(got.len(), total, "every produced trade archived once");
    got.dedup_by(|a, b| (&a.0, a.1) == (&b.0, b.1));
    assert_eq!(got.len(), total, "no (symbol, seq) archived twice");
    let symbols = by_symbol(archived(dir.path()));
    for (symbol, ticks) in symbols {
        assert!(ticks.iter().enumerate().all(|(i, t)| t.seq == i as u64), "{symbol}: a gap or reorder in seq");
    }
}

const DAY: i64 = 86_400_000;
const MONDAY: i64 = 1_381_104_000_000; // 2013-10-07T00:00:00Z in ms

fn produce(bootstrap: &str, trades: &[(&str, i64, u64)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let mut value = String::new();
    for &(symbol, ts_ms, seq) in trades {
        let tick = Tick {
            symbol: Symbol::new(symbol).expect("symbol"),
            ts: ts_ms * 1_000_000,
            price: Price(10_000_000_000 + seq as i64),
            size: Size(100_000_000),
            seq,
        };
        wire::encode(&tick, &mut value);
        producer.send(BaseRecord::to("ticks").key(symbol).payload(value.as_str())).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("delivered");
}

#[test]
fn days_are_sealed_by_the_watermark_and_late_trades_land_beside_them() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    crate::support::kafka::create_topic(&bootstrap, "ticks", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("archive");
    let archive = ["archive", "--brokers", &bootstrap, "--out", out.to_str().expect("path"), "--stop-at-end"];
    // Monday's trades, then Tuesday's up to 00:05: the watermark (00:04:58)
    // is past Monday's end plus the 1 minute of allowed lateness.
    let mut trades: Vec<(&str, i64, u64)> =
        (0..100u64).map(|i| ("IBM", MONDAY + 3_600_000 * 14 + i as i64 * 1000, i)).collect();
    trades.extend((0..10).map(|i| ("IBM", MONDAY + DAY + i * 30_000, 100 + i as u64)));
    produce(&bootstrap, &trades);
    let report = tickflow(&archive);
    let monday = out.join(format!("date={}", format_day(MONDAY / DAY)));
    let tuesday = out.join(format!("date={}", format_day(MONDAY / DAY + 1)));
    assert!(report.contains("sealed: 2013-10-07."), "{report}");
    assert!(monday.join("_SEALED").exists() && !tuesday.join("_SEALED").exists());

    produce(&bootstrap, &[("IBM", MONDAY + 3_600_000 * 15, 110)]);
    let report = tickflow(&archive);
    assert!(report.contains("Archived 1 trades") && report.contains("1 late for a sealed day"), "{report}");
    assert_eq!(std::fs::read_dir(&monday).expect("monday").count(), 3, "the first file, the late file, the marker");

    let store = format!("sqlite://{}", dir.path().join("views.db").display());
    tickflow(&["batch", "--archive", out.to_str().expect("path"), "--store", &store]);
    let days = bar_rows(&store, "1d", "batch");
    assert_eq!(days.len(), 1, "only the sealed day is published: {days:?}");
    assert_eq!(days[0].split(',').nth(9), Some("101"), "the late trade is counted: {}", days[0]);
}
