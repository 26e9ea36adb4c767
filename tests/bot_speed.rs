//! Same code, same result (contract 8) through the real pipeline: a day of
//! real trades replayed through a tansu broker into `tickflow speed`, with
//! `tickflow bot` following the final bars live from an empty store, gives
//! exactly the signals and fills the backtest gives over the batch layer's
//! bars of the same trades.

use crate::support::kafka::{Broker, Storage};
use crate::support::{shared_data, tickflow};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tickflow_bench::child::Running;
use tickflow_shared::signal::Costs;
use tickflow_shared::store::{self, Access, BarQuery, SignalQuery, ViewSelect};
use tickflow_shared::{Price, Size, Symbol, Tick, wire};
use tickflow_strategy::backtest::{self, Config};
use tickflow_strategy::{Params, Spec};

const PARTITIONS: i32 = 3;
const SENTINEL: &str = "ZZZZ";
/// 2013-10-08T02:00:00Z: past the replayed day's last trade by hours, so
/// the watermark makes every bar of the day final.
const SENTINEL_TS: i64 = 1_381_197_600_000_000_000;

/// One trade at `SENTINEL_TS` in every partition.
fn sentinels(bootstrap: &str) {
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", bootstrap).create().expect("producer");
    let mut value = String::new();
    for partition in 0..PARTITIONS {
        let tick = Tick {
            symbol: Symbol::new(SENTINEL).expect("symbol"),
            ts: SENTINEL_TS,
            price: Price(100_000_000),
            size: Size(100_000_000),
            seq: partition as u64,
        };
        wire::encode(&tick, &mut value);
        let record = BaseRecord::to("ticks").partition(partition).key(SENTINEL).payload(value.as_str());
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("delivered");
}

fn spawn(args: &[&str], log: &std::path::Path) -> Running {
    let log = std::fs::File::create(log).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tickflow starts");
    Running(child)
}

#[test]
fn bot_on_the_speed_layer_gives_the_backtest_over_batch_bars() {
    let broker = Broker::with(Storage::Memory);
    let bootstrap = broker.bootstrap();
    let real = shared_data().join("real/trades-2013-10-07.csv.zst");
    let real = real.to_str().expect("path");
    let partitions = PARTITIONS.to_string();
    tickflow(&["produce", "--brokers", &bootstrap, "--partitions", &partitions, "--replay", real]);
    sentinels(&bootstrap);
    let dir = tempfile::tempdir().expect("temp dir");
    let live = format!("sqlite://{}", dir.path().join("live.db").display());
    let batch = format!("sqlite://{}", dir.path().join("batch.db").display());
    let params = ["--param", "fast=5", "--param", "slow=15"];

    // The bot first, on an empty store: every bar it sees, it sees live.
    let mut args = vec!["bot", "--store", &live, "--strategy", "sma-cross", "--paper", "--poll-interval", "100ms"];
    args.extend(params);
    let bot_log = dir.path().join("bot.log");
    let mut bot = spawn(&args, &bot_log);
    let speed_args = ["speed", "--brokers", &bootstrap, "--store", &live, "--intervals", "1m", "--idle-timeout", "2s"];
    let mut speed = spawn(&speed_args, &dir.path().join("speed.log"));
    tickflow(&["batch", "--archive", real, "--store", &batch, "--intervals", "1m"]);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let batch = store::open(&batch, Access::Read).await.expect("batch store");
        let query = BarQuery {
            interval: "1m".parse().expect("1m"),
            symbol: None,
            from: None,
            to: None,
            view: ViewSelect::Batch,
            limit: None,
        };
        let bars: Vec<_> = batch.bars(&query).await.expect("batch bars").bars.into_iter().map(|r| r.bar).collect();
        let mut last: Vec<(Symbol, i64)> = Vec::new();
        for bar in &bars {
            match last.last_mut() {
                Some((symbol, start)) if *symbol == bar.symbol => *start = bar.start,
                _ => last.push((bar.symbol.clone(), bar.start)),
            }
        }
        let config = Config {
            spec: Spec::new("sma-cross", &Params::parse(["fast=5", "slow=15"]).expect("params")).expect("spec"),
            interval: "1m".parse().expect("1m"),
            quantity: Size::parse("100").expect("quantity"),
            costs: Costs::default(),
            capital: 0,
            threads: 1,
        };
        let expected = backtest::run(&config, &bars, &|_| {}).expect("backtest");
        assert!(expected.signals.len() > 10, "real trades give crosses: {}", expected.signals.len());

        let store = store::open(&live, Access::Read).await.expect("live store");
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let progress = store.bot_progress("sma-cross", "1m".parse().expect("1m")).await.expect("progress");
            let cursors: Vec<(Symbol, i64)> = progress
                .into_iter()
                .filter(|c| c.symbol.as_str() != SENTINEL)
                .map(|c| (c.symbol, c.last_start))
                .collect();
            if cursors == last {
                break;
            }
            assert!(bot.0.try_wait().expect("status").is_none(), "the bot exited");
            assert!(speed.0.try_wait().expect("status").is_none(), "the speed layer exited");
            assert!(
                Instant::now() < deadline,
                "hang guard: the bot is at {cursors:?}; its log ends:\n{}",
                std::fs::read_to_string(&bot_log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut signals = store.signals(&SignalQuery::default()).await.expect("signals");
        signals.sort_by(|a, b| (&a.symbol, a.start).cmp(&(&b.symbol, b.start)));
        let mut fills = store.fills(&SignalQuery::default()).await.expect("fills");
        fills.sort_by(|a, b| (&a.symbol, a.time).cmp(&(&b.symbol, b.time)));
        assert_eq!(signals, expected.signals, "the live signals are the backtest's");
        assert_eq!(fills, expected.fills, "the live paper fills are the backtest's");
    });
}
