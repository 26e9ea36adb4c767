//! Issue 21, the fault suite: PostgreSQL stopped as a crash stops it
//! (`pg_ctl -m immediate stop`) in the middle of a batch publish. The
//! publish transaction is caught half-way (its day's bars replaced, its
//! bookkeeping waiting on a lock the test holds) when the server stops: the
//! run fails saying what happened and what to do, a reader then sees the
//! old day whole, and the next run publishes the new day; the batch view
//! then equals the naive reference.

use crate::faults_pg_speed::TIMESCALE;
use crate::reference::{self, Trade};
use crate::support::postgres::Cluster;
use crate::support::{bar_rows, tickflow, tickflow_output};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tickflow_bench::child::Running;

const INTERVALS: [(&str, i64); 3] = [("1m", 60), ("1h", 3600), ("1d", 86_400)];

/// Every trade of the archive's CSV files, by the reference's own parser, numbered per file as tickflow numbers them.
fn archive_trades(files: &[PathBuf]) -> Vec<Trade> {
    let mut trades = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let mut part = reference::read_csv(&std::fs::read_to_string(file).expect("read"));
        part.iter_mut().for_each(|t| t.line += (n as u64) << 32);
        trades.extend(part);
    }
    trades
}

fn assert_batch_view(store: &str, trades: &[Trade], what: &str) {
    for (label, seconds) in INTERVALS {
        let expected = reference::bars(trades, seconds, label, "batch");
        let actual = bar_rows(store, label, "batch");
        if let Some(i) = (0..expected.len().min(actual.len())).find(|&i| expected[i] != actual[i]) {
            panic!("{what}: {label} bar {i} differs:\n  expected {}\n  actual   {}", expected[i], actual[i]);
        }
        assert_eq!(actual.len(), expected.len(), "{what}: number of {label} bars");
    }
}

/// A connection of the test's own to `url`, on a runtime of its own.
struct Session {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Session {
    fn connect(url: &str) -> Session {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            client
        });
        Session { runtime, client }
    }

    fn execute(&self, sql: &str) {
        self.runtime.block_on(self.client.batch_execute(sql)).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn count(&self, sql: &str) -> i64 {
        self.runtime.block_on(self.client.query_one(sql, &[])).expect(sql).get(0)
    }
}

fn batch(archive: &Path, store: &str) -> Vec<String> {
    let archive = archive.to_str().expect("path");
    let intervals = INTERVALS.map(|(label, _)| label).join(",");
    ["batch", "--archive", archive, "--store", store, "--intervals", &intervals, "--workers", "2"]
        .map(str::to_owned)
        .to_vec()
}

#[test]
fn a_publish_interrupted_by_a_postgres_crash_leaves_the_old_day_whole_and_the_next_run_publishes() {
    let cluster = Cluster::new(&[]);
    cluster.start(TIMESCALE);
    let store = cluster.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = dir.path().join("archive");
    let out = archive.to_str().expect("path");
    tickflow(&["generate", "--out", out, "--ticks", "40000", "--symbols", "8", "--days", "2", "--format", "csv"]);
    let files: Vec<PathBuf> =
        ["2026-01-05", "2026-01-06"].iter().map(|day| archive.join(format!("date={day}/part-00000.csv"))).collect();
    // The first run sees the second day's first half; the interrupted one all of it.
    let whole = std::fs::read_to_string(&files[1]).expect("second day");
    let lines: Vec<&str> = whole.lines().collect();
    std::fs::write(&files[1], format!("{}\n", lines[..lines.len() / 2].join("\n"))).expect("half a day");
    let old = archive_trades(&files);
    let args = batch(&archive, &store);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tickflow(&args);
    assert_batch_view(&store, &old, "the first run");
    std::fs::write(&files[1], &whole).expect("the whole day");
    let new = archive_trades(&files);

    // The publish transaction takes the day's bars, then waits for this lock to write the day's row.
    let lock = Session::connect(&store);
    lock.execute("BEGIN; LOCK TABLE batch_days IN SHARE MODE");
    let log = dir.path().join("batch.log");
    let job = Running(
        Command::new(env!("CARGO_BIN_EXE_tickflow"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("tickflow batch starts"),
    );
    let watch = Session::connect(&store);
    let started = Instant::now();
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%batch_days%'";
    while watch.count(waiting) == 0 {
        assert!(started.elapsed() < Duration::from_secs(120), "hang guard: the publish never reached the lock");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("the publish was caught half-way after {:?}", started.elapsed());
    assert_batch_view(&store, &old, "while the publish is in flight, readers see the old day");
    cluster.stop_immediate();
    let status = exit_status(job);
    let stderr = std::fs::read_to_string(&log).expect("log");
    assert!(!status.success(), "the interrupted run fails:\n{stderr}");
    eprintln!("the interrupted run said: {stderr}");
    for needed in ["became unreachable while publishing 2026-01-06", "never part of a day", "run tickflow batch again"]
    {
        assert!(stderr.contains(needed), "the error says {needed:?}:\n{stderr}");
    }

    cluster.start(TIMESCALE);
    assert_batch_view(&store, &old, "after the crash, the old day whole");
    let runs = Session::connect(&store).count("SELECT count(*) FROM batch_runs");
    assert_eq!(runs, 1, "the interrupted publish left no run behind");
    let rerun = tickflow_output(&args);
    let printed = String::from_utf8_lossy(&rerun.stdout);
    assert!(rerun.status.success() && printed.contains("1 day(s)"), "the next run publishes the day:\n{printed}");
    assert_batch_view(&store, &new, "the next run");
}

/// Waits for `job` to exit, with a hang guard.
fn exit_status(mut job: Running) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = job.0.try_wait().expect("status") {
            return status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "hang guard: the run did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
