//! Issue 4, the speed layer end to end against the naive reference
//! (DESIGN.md, contracts 1–3): real trades in bounded disorder through a real
//! broker give the reference's bars, final, on SQLite and on PostgreSQL; a
//! trade later than the allowed lateness goes to the late table and one
//! within it updates final bars; an idle partition does not stall the
//! watermark; a two-process timely cluster computes what one process does.
//!
//! The crash test (contract 4) is in `speed_crash.rs`.

use crate::reference::{self, Trade};
use crate::support::kafka::{Broker, Storage};
use crate::support::{bar_rows, free_port, postgres};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tickflow_shared::input::memory::MemoryBus;
use tickflow_shared::store::{Access, LateTrade, PartitionOffset, SpeedBar, Store};
use tickflow_shared::watermark::WatermarkConfig;
use tickflow_shared::{Interval, IntervalPlan, Price, Size, Symbol, Tick, wire};
use tickflow_speed::windows::WindowsConfig;
use tickflow_speed::{SpeedConfig, SpeedError, SpeedReport, TimelyConfig};

const MS: i64 = 1_000_000;
const SECOND: i64 = 1_000 * MS;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
/// 2013-10-07T14:00:00Z, the hour the hand-built trades start in.
const T: i64 = 1_381_154_400 * SECOND;
/// The intervals the tests keep, with their length in seconds for the reference.
const INTERVALS: [(&str, i64); 3] = [("1s", 1), ("1m", 60), ("1h", 3600)];
/// A symbol in no data set: one trade of it per partition, two hours after
/// the data, moves every partition's watermark past the data's last hour.
const SENTINEL: &str = "ZZZZ";
/// Hang guard for the real data (a debug build on two cores).
const PATIENCE: Duration = Duration::from_secs(900);
/// Hang guard for the small hand-built inputs.
const SHORT_PATIENCE: Duration = Duration::from_secs(180);

/// A small xorshift generator: reproducible jitter.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn tick(symbol: &str, ts: i64, price: i64, size: i64, seq: u64) -> Tick {
    Tick { symbol: Symbol::new(symbol).expect("symbol"), ts, price: Price(price), size: Size(size), seq }
}

fn tick_of(trade: &Trade) -> Tick {
    tick(&trade.symbol, trade.ts_ms * MS, trade.price, trade.size, trade.line)
}

/// The reference's view of a trade published with millisecond event time.
fn trade_of(tick: &Tick) -> Trade {
    assert_eq!(tick.ts % MS, 0, "the reference works in milliseconds");
    Trade {
        symbol: tick.symbol.to_string(),
        ts_ms: tick.ts / MS,
        line: tick.seq,
        price: tick.price.0,
        size: tick.size.0,
    }
}

/// The reference's rows of every interval, labelled as `tickflow bars --view speed` labels them.
fn reference_rows(trades: &[Trade]) -> Vec<Vec<String>> {
    INTERVALS.iter().map(|&(label, seconds)| reference::bars(trades, seconds, label, "speed")).collect()
}

/// Asserts that the store's speed view, without the sentinel's bars, has exactly the reference's rows.
fn assert_speed_view(store: &str, expected: &[Vec<String>], what: &str) {
    for ((label, _), expected) in INTERVALS.iter().zip(expected) {
        let actual: Vec<String> =
            bar_rows(store, label, "speed").into_iter().filter(|r| !r.starts_with(&format!("{SENTINEL},"))).collect();
        assert!(!expected.is_empty());
        if let Some(i) = (0..expected.len().min(actual.len())).find(|&i| expected[i] != actual[i]) {
            panic!("{what}: {label} bar {i} differs:\n  expected {}\n  actual   {}", expected[i], actual[i]);
        }
        assert_eq!(actual.len(), expected.len(), "{what}: number of {label} bars");
    }
}

/// Per-symbol keyed messages on a topic, through the real client.
struct Topic {
    producer: BaseProducer,
    name: String,
    value: String,
}

impl Topic {
    /// Creates `name` with `partitions` partitions on `bootstrap`.
    fn create(bootstrap: &str, name: &str, partitions: i32) -> Topic {
        crate::support::kafka::create_topic(bootstrap, name, partitions);
        let producer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", "200000")
            .create()
            .expect("producer");
        Topic { producer, name: name.to_owned(), value: String::new() }
    }

    /// Sends a trade keyed by its symbol, to `partition` if given (else the partitioner's choice).
    fn send(&mut self, tick: &Tick, partition: Option<i32>) {
        wire::encode(tick, &mut self.value);
        let key = tick.symbol.as_str();
        loop {
            let mut record = BaseRecord::to(&self.name).key(key).payload(self.value.as_str());
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((error, _)) => panic!("producing to {}: {error}", self.name),
            }
        }
    }

    /// One sentinel trade at `ts` in each of `partitions`.
    fn sentinels(&mut self, partitions: i32, ts: i64) {
        for partition in 0..partitions {
            self.send(&tick(SENTINEL, ts, 100_000_000, 100_000_000, partition as u64), Some(partition));
        }
    }

    /// Waits until everything sent is acknowledged.
    fn flush(&self) {
        self.producer.flush(Duration::from_secs(120)).expect("every message delivered");
    }
}

/// The view store as the serving layer reads it, on a runtime of its own.
struct Views {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
}

impl Views {
    /// Opens (and migrates) the store; open it before a job does, so they do not migrate at once.
    fn open(url: &str) -> Views {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let store =
            runtime.block_on(tickflow_shared::store::open(url, Access::Write)).unwrap_or_else(|e| panic!("{url}: {e}"));
        Views { runtime, store }
    }

    fn watermark(&self) -> Option<i64> {
        self.runtime.block_on(self.store.speed_status()).expect("speed status").watermark
    }

    /// Every partition's committed position on `topic`.
    fn offsets(&self, topic: &str) -> Vec<PartitionOffset> {
        self.runtime.block_on(self.store.speed_offsets(topic)).expect("speed offsets")
    }

    /// Every speed bar of `interval` with whether it is final, by (symbol, start).
    fn bars(&self, interval: &str) -> BTreeMap<(String, i64), SpeedBar> {
        let interval: Interval = interval.parse().expect("interval");
        let changes =
            self.runtime.block_on(self.store.speed_changes(interval, None, 0, usize::MAX)).expect("speed changes");
        changes.changes.into_iter().map(|c| ((c.bar.bar.symbol.to_string(), c.bar.bar.start), c.bar)).collect()
    }

    fn late(&self) -> Vec<LateTrade> {
        self.runtime.block_on(self.store.late_trades(usize::MAX)).expect("late trades")
    }

    /// Asserts that every bar the watermark has passed is final, and returns the bars.
    fn assert_final_behind_watermark(&self, interval: &str) -> BTreeMap<(String, i64), SpeedBar> {
        let watermark = self.watermark().expect("a watermark");
        let bars = self.bars(interval);
        for ((symbol, start), bar) in &bars {
            let end = start + bar.bar.interval.nanos();
            assert!(
                bar.is_final || end > watermark,
                "{symbol} {interval} bar at {start} ended before {watermark}, yet not final"
            );
        }
        bars
    }
}

/// A `tickflow` child process, killed if the test fails before it ends;
/// its log is kept in a file and shown when it misbehaves.
struct Job {
    child: Option<Child>,
    log: PathBuf,
}

impl Job {
    fn spawn(args: &[&str], log: &Path) -> Job {
        let child = Command::new(env!("CARGO_BIN_EXE_tickflow"))
            .args(args)
            .env("TICKFLOW_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("tickflow starts");
        Job { child: Some(child), log: log.to_owned() }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics, with its log, if the job has exited.
    fn assert_running(&mut self) {
        let status = self.child.as_mut().expect("running").try_wait().expect("status");
        assert!(status.is_none(), "the job exited early with {status:?}:\n{}", self.log());
    }

    /// Sends SIGTERM, asserts a clean exit and returns stdout.
    fn terminate(self) -> String {
        Job::terminate_all(vec![self]).remove(0)
    }

    /// Sends SIGTERM to every job, then asserts that each exits cleanly and
    /// returns their stdout: the processes of one timely cluster stop together.
    fn terminate_all(mut jobs: Vec<Job>) -> Vec<String> {
        for job in &jobs {
            let id = job.child.as_ref().expect("running").id().to_string();
            let sent = Command::new("kill").args(["-TERM", &id]).status().expect("kill runs");
            assert!(sent.success(), "SIGTERM sent");
        }
        let mut outputs = Vec::new();
        for job in &mut jobs {
            let output = job.child.take().expect("running").wait_with_output().expect("wait");
            assert!(output.status.success(), "exit status {:?} after SIGTERM:\n{}", output.status, job.log());
            outputs.push(String::from_utf8(output.stdout).expect("utf-8"));
        }
        outputs
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls until `done`, failing if a job exits or `patience` runs out.
fn wait_for(what: &str, patience: Duration, jobs: &mut [&mut Job], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !done() {
        for job in jobs.iter_mut() {
            job.assert_running();
        }
        assert!(Instant::now() < deadline, "hang guard: {what} did not happen within {patience:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The start of the hour after the one holding `ts`: once the watermark is
/// there, every bar of 1s, 1m and 1h holding a trade at or before `ts` is final.
fn next_hour(ts: i64) -> i64 {
    (ts.div_euclid(HOUR) + 1) * HOUR
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// Runs `tickflow speed` on the `ticks` topic into `store` until its stored
/// watermark reaches `until`, then stops it with SIGTERM.
fn speed_until(bootstrap: &str, store: &str, extra: &[&str], until: i64, patience: Duration, log: &Path) -> Views {
    let views = Views::open(store);
    let mut args = vec!["speed", "--brokers", bootstrap, "--store", store, "--intervals", "1s,1m,1h"];
    args.extend_from_slice(extra);
    let mut job = Job::spawn(&args, log);
    wait_for("the stored watermark passing the data", patience, &mut [&mut job], || {
        views.watermark().is_some_and(|w| w >= until)
    });
    let summary = job.terminate();
    assert!(summary.starts_with("Speed layer wrote"), "{summary}");
    views
}

#[test]
fn real_trades_in_bounded_disorder_give_the_reference_bars_on_sqlite_and_postgres() {
    let trades = reference::real_trades();
    assert!(trades.iter().all(|t| t.symbol != SENTINEL));
    // Each trade moves up to 1 s later; ties of (ts, seq) keep the file's order.
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    let mut order: Vec<(i64, usize)> =
        trades.iter().enumerate().map(|(i, t)| (t.ts_ms * MS + (next(&mut seed) % SECOND as u64) as i64, i)).collect();
    order.sort_unstable();
    let (mut newest, mut disorder) = (i64::MIN, 0);
    for &(_, i) in &order {
        newest = newest.max(trades[i].ts_ms);
        disorder = disorder.max(newest - trades[i].ts_ms);
    }
    assert!(disorder > 0 && disorder < 1000, "the topic is disordered by less than 1 s: {disorder} ms");

    let broker = Broker::with(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let mut topic = Topic::create(&bootstrap, "ticks", 3);
    for &(_, i) in &order {
        topic.send(&tick_of(&trades[i]), None);
    }
    let last = trades.iter().map(|t| t.ts_ms * MS).max().expect("trades");
    topic.sentinels(3, last + 2 * HOUR);
    topic.flush();

    let expected = reference_rows(&trades);
    let dir = tempfile::tempdir().expect("temp dir");
    for (engine, store) in [("SQLite", sqlite(dir.path(), "views.db")), ("PostgreSQL", postgres::database())] {
        let started = Instant::now();
        let log = dir.path().join(format!("speed-{engine}.log"));
        let views = speed_until(&bootstrap, &store, &["--workers", "2"], next_hour(last), PATIENCE, &log);
        eprintln!("{engine}: the speed layer passed the data in {:?}", started.elapsed());
        assert_speed_view(&store, &expected, engine);
        for ((label, _), expected) in INTERVALS.iter().zip(&expected) {
            let bars = views.bars(label);
            let real: Vec<_> = bars.iter().filter(|((symbol, _), _)| symbol != SENTINEL).collect();
            assert_eq!(real.len(), expected.len(), "{engine}: {label} bars");
            let provisional = real.iter().filter(|(_, bar)| !bar.is_final).count();
            assert_eq!(provisional, 0, "{engine}: {label} bars still provisional after the watermark passed them");
        }
        assert_eq!(views.late(), [], "{engine}: nothing is late within 1 s of disorder");
        // Everything was produced before the job started, and it has read it all.
        let offsets = views.offsets("ticks");
        assert_eq!(offsets.len(), 3, "{engine}: {offsets:?}");
        assert!(offsets.iter().all(|o| o.end_offset == Some(o.next_offset)), "{engine}: lag left: {offsets:?}");
    }
}

/// The speed job in this process, on an in-process bus, writing to SQLite.
struct Embedded {
    bus: MemoryBus,
    views: Views,
    store: String,
    stop: Arc<AtomicBool>,
    job: Option<JoinHandle<Result<SpeedReport, SpeedError>>>,
    dir: Option<tempfile::TempDir>,
}

impl Embedded {
    fn start(config: SpeedConfig, partitions: usize) -> Embedded {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = sqlite(dir.path(), "views.db");
        let views = Views::open(&store);
        let bus = MemoryBus::new(partitions);
        let stop = Arc::new(AtomicBool::new(false));
        let (inputs, sink, flag) = (Arc::new(bus.clone()), views.store.clone(), stop.clone());
        let job = std::thread::spawn(move || tickflow_speed::run(&config, inputs, sink, flag));
        Embedded { bus, views, store, stop, job: Some(job), dir: Some(dir) }
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut(&Views) -> bool) {
        let deadline = Instant::now() + SHORT_PATIENCE;
        while !done(&self.views) {
            assert!(!self.job.as_ref().is_some_and(JoinHandle::is_finished), "the speed job stopped before {what}");
            assert!(
                Instant::now() < deadline,
                "hang guard: {what} did not happen within {SHORT_PATIENCE:?}; watermark {:?}, 1m bars {:?}",
                self.views.watermark(),
                self.views.bars("1m").len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the job; the store stays until the returned directory is dropped.
    fn stop(mut self) -> (SpeedReport, Views, String, tempfile::TempDir) {
        self.stop.store(true, Ordering::Relaxed);
        let job = self.job.take().expect("running");
        let report = job.join().expect("the speed job does not panic").expect("the speed job succeeds");
        let dir = self.dir.take().expect("the store's directory");
        (report, self.views, self.store, dir)
    }
}

fn config(workers: usize, max_out_of_orderness: Duration, idle_timeout: Duration, lateness: Duration) -> SpeedConfig {
    SpeedConfig {
        plan: IntervalPlan::new(&Interval::parse_list("1s,1m,1h").expect("intervals")),
        watermark: WatermarkConfig { max_out_of_orderness, idle_timeout },
        windows: WindowsConfig { allowed_lateness: lateness },
        emit_interval: Duration::from_millis(20),
        checkpoint: Duration::from_secs(1),
        epoch: Duration::from_millis(100),

        timely: TimelyConfig::Process { workers },
        stop_at_end: false,
        metrics: Default::default(),
    }
}

/// A trade of `symbol` at `T + offset_ms`, price in whole units, size 1.
fn at(symbol: &str, offset_ms: i64, price: i64) -> Tick {
    tick(symbol, T + offset_ms * MS, price * 100_000_000, 100_000_000, 0)
}

fn bar<'a>(bars: &'a BTreeMap<(String, i64), SpeedBar>, symbol: &str, start: i64) -> Option<&'a SpeedBar> {
    bars.get(&(symbol.to_owned(), start))
}

#[test]
fn a_trade_past_the_lateness_goes_to_the_late_table_and_one_within_it_updates_final_bars() {
    // One partition, no out-of-orderness: the watermark is the newest trade's time.
    let lateness = Duration::from_secs(30);
    let job = Embedded::start(config(2, Duration::ZERO, Duration::from_secs(3600), lateness), 1);
    let mut published = Vec::new();
    let publish = |published: &mut Vec<Tick>, ticks: Vec<Tick>| {
        let first = published.len() as u64;
        published.extend(ticks.iter().enumerate().map(|(i, t)| Tick { seq: first + i as u64, ..t.clone() }));
        job.bus.publish(ticks);
    };

    // The watermark moves to T+70.5 s: A's 1s bars and its 1m bar [T, T+1m) are final.
    publish(&mut published, vec![at("A", 1_000, 10), at("A", 45_200, 11), at("A", 70_000, 12), at("B", 70_500, 50)]);
    job.wait_for("the first minute turning final", |views| {
        let minutes = views.bars("1m");
        bar(&minutes, "A", T).is_some_and(|b| b.is_final && b.bar.trades == 2)
    });
    let seconds = job.views.bars("1s");
    assert!(bar(&seconds, "A", T + 45 * SECOND).is_some_and(|b| b.is_final && b.bar.trades == 1));
    assert_eq!(job.views.late(), [], "nothing was late yet");

    // Against that watermark: T+45.7 s is within the lateness of its 1s bar
    // (ended T+46 s, closes for good at T+76 s); T+1.5 s is not (T+2 s + 30 s).
    // B at T+71 s moves the watermark on, so the job applies them.
    publish(&mut published, vec![at("A", 45_700, 13), at("A", 1_500, 14), at("B", 71_000, 51)]);
    // The intervals reach the views in separate commits: wait for the minute and the hour.
    job.wait_for("the late trade recorded and the minute and hour updated", |views| {
        let (minutes, hours) = (views.bars("1m"), views.bars("1h"));
        !views.late().is_empty()
            && bar(&minutes, "A", T).is_some_and(|b| b.bar.trades == 3)
            && bar(&hours, "A", T).is_some_and(|b| b.bar.trades == 4)
    });
    let late = job.views.late();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].tick, published[5], "the trade at T+1.5 s, whole");
    assert_eq!((late[0].source.as_str(), late[0].position), ("memory/0", 5), "where it was read");
    assert!(
        late[0].reason.contains("allowed lateness") && late[0].reason.contains("2013-10-07T14:00:02Z"),
        "the reason names the rule and the window's end: {}",
        late[0].reason
    );
    let (seconds, minutes, hours) = (job.views.bars("1s"), job.views.bars("1m"), job.views.bars("1h"));
    let second = bar(&seconds, "A", T + 45 * SECOND).expect("1s bar of T+45 s");
    assert!(second.is_final, "a bar updated within the lateness stays final");
    assert_eq!(
        (second.bar.trades, second.bar.close, second.bar.high),
        (2, Price(13 * 100_000_000), Price(13 * 100_000_000))
    );
    let minute = bar(&minutes, "A", T).expect("1m bar of T");
    assert!(minute.is_final, "the coarser bar is updated too and stays final");
    assert_eq!((minute.bar.high, minute.bar.close), (Price(13 * 100_000_000), Price(13 * 100_000_000)));
    let hour = bar(&hours, "A", T).expect("1h bar of T");
    assert_eq!((hour.bar.trades, hour.bar.close), (4, Price(12 * 100_000_000)), "the hour holds it, not the late one");
    assert!(!hour.is_final, "the watermark has not passed the hour");
    let early = bar(&seconds, "A", T + SECOND).expect("1s bar of T+1 s");
    assert_eq!((early.bar.trades, early.bar.close), (1, Price(10 * 100_000_000)), "the late trade is in no bar");

    // Two hours on, everything before is final; the late trade is still in no bar.
    publish(&mut published, vec![at("A", 2 * 3_600_000, 15), at("B", 2 * 3_600_000 + 500, 52)]);
    job.wait_for("the first hour turning final", |views| bar(&views.bars("1h"), "A", T).is_some_and(|b| b.is_final));
    let (report, views, store, _dir) = job.stop();
    assert_eq!(report.late, 1);
    assert_eq!(views.late().len(), 1, "recorded once");
    let accepted: Vec<Trade> = published.iter().filter(|t| t.seq != 5).map(trade_of).collect();
    assert_speed_view(&store, &reference_rows(&accepted), "accepted trades");
    for (label, _) in INTERVALS {
        views.assert_final_behind_watermark(label);
    }
}

#[test]
fn a_first_batch_spanning_more_than_the_lateness_is_not_late() {
    // Regression: the first records a job reads were once sent at the epoch of
    // the watermark they themselves raised, so the windows met them after
    // advancing to it, and refused every trade more than the lateness older
    // than the newest one.
    // Two partitions; one may get neither symbol and turns idle after 1 s.
    let job = Embedded::start(config(2, Duration::from_secs(2), Duration::from_secs(1), Duration::from_secs(60)), 2);
    let mut ticks: Vec<Tick> =
        (0..600).map(|i| at(if i % 2 == 0 { "A" } else { "B" }, i * 1_000, 10 + i % 7)).collect();
    ticks.extend([at("A", 2 * 3_600_000, 20), at("B", 2 * 3_600_000, 20)]);
    job.bus.publish(ticks.clone());
    job.wait_for("the first ten minutes turning final", |views| {
        let minutes = views.bars("1m");
        bar(&minutes, "A", T + 9 * MINUTE).is_some_and(|b| b.is_final)
    });
    // Something more, so that what the first batch left at the newest epoch is applied too.
    job.bus.publish([at("A", 2 * 3_600_000 + 10_000, 21), at("B", 2 * 3_600_000 + 10_000, 21)]);
    job.wait_for("the hour turning final", |views| bar(&views.bars("1h"), "B", T).is_some_and(|b| b.is_final));
    let (report, views, store, _dir) = job.stop();
    assert_eq!((report.late, views.late().len()), (0, 0), "nothing is late: {:?}", views.late().first());
    // MemoryBus numbers each partition's trades from 0: the reference orders by (ts, seq) per symbol alike.
    let mut per_partition: BTreeMap<String, u64> = BTreeMap::new();
    let mut all: Vec<Tick> = ticks;
    all.extend([at("A", 2 * 3_600_000 + 10_000, 21), at("B", 2 * 3_600_000 + 10_000, 21)]);
    let trades: Vec<Trade> = all
        .iter()
        .map(|t| {
            let seq = per_partition.entry(t.symbol.to_string()).or_default();
            *seq += 1;
            trade_of(&Tick { seq: *seq, ..t.clone() })
        })
        .collect();
    assert_speed_view(&store, &reference_rows(&trades), "the first batch");
}

#[test]
fn a_partition_that_goes_silent_and_partitions_never_written_do_not_stall_the_watermark() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let mut topic = Topic::create(&bootstrap, "ticks", 4);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite(dir.path(), "views.db");
    let views = Views::open(&store);
    let mut sent = Vec::new();
    let mut send = |topic: &mut Topic, tick: Tick, partition: i32| {
        let tick = Tick { seq: sent.len() as u64, ..tick };
        topic.send(&tick, Some(partition));
        sent.push(tick);
    };
    // A on partition 0 and B on partition 1 for 30 s; partitions 2 and 3 never get a trade.
    for i in 0..60 {
        send(&mut topic, at("A", i * 500, 10 + i % 3), 0);
        send(&mut topic, at("B", i * 500 + 250, 20 + i % 5), 1);
    }
    topic.flush();
    let args = ["speed", "--brokers", &bootstrap, "--store", &store, "--intervals", "1s,1m,1h", "--workers", "2"];
    let mut job = Job::spawn(&[&args[..], &["--idle-timeout", "1s"]].concat(), &dir.path().join("speed.log"));
    wait_for("the watermark passing T+20 s with both partitions active", SHORT_PATIENCE, &mut [&mut job], || {
        views.watermark().is_some_and(|w| w >= T + 20 * SECOND)
    });
    // Now only A trades, for two hours; B's partition is silent from here on.
    for i in 0..=120 {
        send(&mut topic, at("A", 30_000 + i * 60_000, 10 + i % 4), 0);
    }
    topic.flush();
    wait_for("the watermark passing the first hour without B", SHORT_PATIENCE, &mut [&mut job], || {
        views.watermark().is_some_and(|w| w >= T + HOUR)
    });
    job.terminate();
    let trades: Vec<Trade> = sent.iter().map(trade_of).collect();
    assert_speed_view(&store, &reference_rows(&trades), "A and B");
    for (label, _) in INTERVALS {
        let bars = views.assert_final_behind_watermark(label);
        let b: Vec<_> = bars.iter().filter(|((symbol, _), _)| symbol == "B").collect();
        assert!(!b.is_empty() && b.iter().all(|(_, bar)| bar.is_final), "every {label} bar of the silent B is final");
    }
    assert_eq!(views.late(), []);
}

#[test]
fn two_processes_compute_the_bars_of_one_process_with_two_workers() {
    let broker = Broker::with(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let mut topic = Topic::create(&bootstrap, "ticks", 4);
    // 24 symbols, 12 000 trades in 20 minutes, each up to 500 ms late.
    let symbols: Vec<String> = (0..24).map(|i| format!("S{i:02}")).collect();
    let mut seed = 0x2545_f491_4f6c_dd1d;
    let mut trades: Vec<(i64, Tick)> = (0..12_000u64)
        .map(|i| {
            let symbol = &symbols[(next(&mut seed) % 24) as usize];
            let ts = T + (i as i64) * 100 * MS + (next(&mut seed) % 100) as i64 * MS;
            let price = 1_000_000_000 + (next(&mut seed) % 50_000_000) as i64;
            let size = (1 + next(&mut seed) % 500) as i64 * 100_000_000;
            (ts + (next(&mut seed) % 500) as i64 * MS, tick(symbol, ts, price, size, i))
        })
        .collect();
    trades.sort_by_key(|(arrival, t)| (*arrival, t.seq));
    for (_, trade) in &trades {
        topic.send(trade, None);
    }
    let last = trades.iter().map(|(_, t)| t.ts).max().expect("trades");
    topic.sentinels(4, last + 2 * HOUR);
    topic.flush();
    let expected = reference_rows(&trades.iter().map(|(_, t)| trade_of(t)).collect::<Vec<_>>());

    let dir = tempfile::tempdir().expect("temp dir");
    let one = sqlite(dir.path(), "one.db");
    speed_until(&bootstrap, &one, &["--workers", "2"], next_hour(last), SHORT_PATIENCE, &dir.path().join("one.log"));

    let two = sqlite(dir.path(), "two.db");
    let views = Views::open(&two);
    let hostfile = dir.path().join("hosts");
    std::fs::write(&hostfile, format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port())).expect("hostfile");
    let hostfile = hostfile.to_str().expect("path");
    let cluster = |index: &str| {
        let args = [
            "speed",
            "--brokers",
            &bootstrap,
            "--store",
            &two,
            "--intervals",
            "1s,1m,1h",
            "--workers",
            "1",
            "--processes",
            "2",
            "--process",
            index,
            "--hostfile",
            hostfile,
        ];
        Job::spawn(&args, &dir.path().join(format!("process-{index}.log")))
    };
    let (mut first, mut second) = (cluster("0"), cluster("1"));
    wait_for("the cluster's watermark passing the data", SHORT_PATIENCE, &mut [&mut first, &mut second], || {
        views.watermark().is_some_and(|w| w >= next_hour(last))
    });
    Job::terminate_all(vec![first, second]);

    assert_speed_view(&one, &expected, "one process, two workers");
    assert_speed_view(&two, &expected, "two processes, one worker each");
    let single = Views::open(&one);
    for (label, _) in INTERVALS {
        let finality = |views: &Views| -> Vec<bool> {
            let bars = views.bars(label);
            bars.iter().filter(|((symbol, _), _)| symbol != SENTINEL).map(|(_, bar)| bar.is_final).collect()
        };
        let (a, b) = (finality(&single), finality(&views));
        assert_eq!(a, b, "{label}: the same bars final in both");
        assert!(a.iter().all(|f| *f), "{label}: every bar is final");
    }
    assert_eq!((single.late(), views.late()), (vec![], vec![]));
}
