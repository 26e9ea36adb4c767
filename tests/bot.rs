//! `tickflow bot` against a store fed the way the layers feed it: a batch
//! day, then speed bars provisional and final, a batch publish over bars the
//! bot already consumed, more speed bars. The bot live gives exactly the
//! signals and fills the backtest gives over the same bars (contract 8); a
//! revision of a consumed bar is counted, not re-signalled; and a bot
//! SIGKILLed at random moments and restarted ends with the same signals and
//! fills, none missing or doubled.

use crate::support::free_port;
use crate::support::process::{http_get, metric};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tickflow_bench::child::Running;
use tickflow_shared::signal::{Costs, Fill, Signal};
use tickflow_shared::store::{
    Access, BatchPublish, DaySummary, SignalQuery, SpeedBar, SpeedCommit, SqliteStore, Store,
};
use tickflow_shared::time::NANOS_PER_DAY;
use tickflow_shared::{Bar, Price, Size, Symbol, Volume};
use tickflow_strategy::backtest::{self, Config};
use tickflow_strategy::{Params, Spec};

const MINUTE: i64 = 60_000_000_000;
const DAY: i64 = 15_985;
const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "SPY"];
/// Minutes of bars per day and symbol (some minutes have none).
const MINUTES: i64 = 240;
/// Speed bars per commit.
const CHUNK: usize = 9;
const PARAMS: [&str; 2] = ["fast=5", "slow=20"];

/// Three days of 1m bars of every symbol: a random walk, every seventh
/// minute without trades. Ordered by `(symbol, start)`.
pub(crate) fn history() -> Vec<Bar> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bars = Vec::new();
    for symbol in SYMBOLS {
        let mut price: i64 = 100 * 100_000_000;
        for day in 0..3 {
            let open = (DAY + day) * NANOS_PER_DAY + 810 * MINUTE;
            for minute in 0..MINUTES {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let step = ((state >> 33) % 201) as i64 - 100;
                price += step * 1_000_000;
                if minute % 7 == 3 {
                    continue;
                }
                let start = open + minute * MINUTE;
                let p = |delta: i64| Price(price + delta);
                bars.push(Bar {
                    symbol: Symbol::new(symbol).expect("symbol"),
                    interval: "1m".parse().expect("1m"),
                    start,
                    open: p(-(step * 400_000)),
                    high: p(30_000_000),
                    low: p(-30_000_000),
                    close: p(0),
                    volume: Volume(1_000 * 100_000_000),
                    vwap: p(1),
                    trades: 10,
                    first_ts: start,
                    last_ts: start + MINUTE - 1,
                });
            }
        }
    }
    bars
}

pub(crate) fn day_of(bar: &Bar) -> i64 {
    bar.start.div_euclid(NANOS_PER_DAY) - DAY
}

/// What the backtest gives over `bars`.
fn backtest(bars: &[Bar]) -> (Vec<Signal>, Vec<Fill>) {
    let spec = Spec::new("sma-cross", &Params::parse(PARAMS).expect("params")).expect("spec");
    let config = Config {
        spec,
        interval: "1m".parse().expect("1m"),
        quantity: Size::parse("100").expect("quantity"),
        costs: Costs::default(),
        capital: 1_000_000 * 100_000_000,
        threads: 1,
    };
    let outcome = backtest::run(&config, bars, &|_| {}).expect("backtest");
    (outcome.signals, outcome.fills)
}

pub(crate) async fn publish(store: &dyn Store, day: i64, bars: &[Bar]) {
    let bars: Vec<Bar> = bars.iter().filter(|b| day_of(b) == day).cloned().collect();
    let publish = BatchPublish {
        started_at: 1,
        days: vec![DaySummary { day: DAY + day, trades: bars.len() as u64 }],
        bars: Box::new(bars.into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.expect("publish");
}

async fn speed(store: &dyn Store, bars: Vec<SpeedBar>) {
    store.commit_speed(&mut SpeedCommit { bars, ..SpeedCommit::default() }).await.expect("speed commit");
}

/// Feeds `day`'s bars as the speed layer would, in time order: each chunk
/// provisional (another close) first, then final.
async fn speed_day(store: &dyn Store, day: i64, bars: &[Bar], pause: Duration) {
    let mut of_day: Vec<&Bar> = bars.iter().filter(|b| day_of(b) == day).collect();
    of_day.sort_by_key(|b| (b.start, b.symbol.clone()));
    for chunk in of_day.chunks(CHUNK) {
        let provisional = chunk
            .iter()
            .map(|b| SpeedBar { bar: Bar { close: Price(b.close.0 + 7), ..(*b).clone() }, is_final: false });
        speed(store, provisional.collect()).await;
        speed(store, chunk.iter().map(|b| SpeedBar { bar: (*b).clone(), is_final: true }).collect()).await;
        tokio::time::sleep(pause).await;
    }
}

/// Starts `tickflow bot` on `url`, paper trading, polling fast, with `extra` flags.
pub(crate) fn bot(url: &str, extra: &[&str]) -> Running {
    let mut args = vec!["bot", "--store", url, "--strategy", "sma-cross", "--paper", "--poll-interval", "20ms"];
    for param in PARAMS {
        args.extend(["--param", param]);
    }
    args.extend(extra);
    let child = Command::new(env!("CARGO_BIN_EXE_tickflow"))
        .args(&args)
        .env("TICKFLOW_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tickflow bot starts");
    Running(child)
}

/// Waits until the bot's cursor of every symbol is at that symbol's last bar.
pub(crate) async fn caught_up(store: &dyn Store, bars: &[Bar], bot: &mut Running) {
    let last: Vec<(Symbol, i64)> = SYMBOLS
        .iter()
        .map(|s| {
            let symbol = Symbol::new(s).expect("symbol");
            let start = bars.iter().filter(|b| b.symbol == symbol).map(|b| b.start).max().expect("bars");
            (symbol, start)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let progress = store.bot_progress("sma-cross", "1m".parse().expect("1m")).await.expect("progress");
        let cursors: Vec<(Symbol, i64)> = progress.into_iter().map(|c| (c.symbol, c.last_start)).collect();
        if cursors == last {
            return;
        }
        assert!(bot.0.try_wait().expect("status").is_none(), "the bot exited");
        assert!(Instant::now() < deadline, "hang guard: the bot is at {cursors:?}, the bars end at {last:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The store's signals and fills, ordered as the backtest orders them.
pub(crate) async fn stored(store: &dyn Store) -> (Vec<Signal>, Vec<Fill>) {
    let mut signals = store.signals(&SignalQuery::default()).await.expect("signals");
    signals.sort_by(|a, b| (&a.symbol, a.start).cmp(&(&b.symbol, b.start)));
    let mut fills = store.fills(&SignalQuery::default()).await.expect("fills");
    fills.sort_by(|a, b| (&a.symbol, a.time).cmp(&(&b.symbol, b.time)));
    // Every signal was numbered once: a repeat would have taken a number of its own.
    let numbered = store.signal_changes(None, 0, usize::MAX).await.expect("changes").signals.len();
    assert_eq!(numbered, signals.len(), "no signal was written twice");
    (signals, fills)
}

pub(crate) fn open(dir: &tempfile::TempDir) -> (String, Arc<dyn Store>) {
    let path = dir.path().join("views.db");
    let store = SqliteStore::open(&path, Access::Write).expect("store");
    (format!("sqlite://{}", path.display()), Arc::new(store))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_live_gives_the_backtests_signals_and_counts_revisions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, store) = open(&dir);
    live_equals_backtest(&url, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_live_gives_the_backtests_signals_on_postgres() {
    let url = crate::support::postgres::database();
    let store = tickflow_shared::store::PostgresStore::open(&url, Access::Write).await.expect("connect");
    live_equals_backtest(&url, Arc::new(store)).await;
}

async fn live_equals_backtest(url: &str, store: Arc<dyn Store>) {
    let bars = history();
    let (signals, fills) = backtest(&bars);
    assert!(signals.len() >= 12 && fills.len() >= 12, "a history with crosses: {} signals", signals.len());
    let url = url.to_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut running = bot(&url, &["--metrics-listen", &listen]);
    publish(&*store, 0, &bars).await;
    speed_day(&*store, 1, &bars, Duration::from_millis(5)).await;
    let two_days: Vec<Bar> = bars.iter().filter(|b| day_of(b) <= 1).cloned().collect();
    caught_up(&*store, &two_days, &mut running).await;
    // A late trade changes a bar the bot consumed: counted, not signalled again.
    let consumed = bars.iter().find(|b| day_of(b) == 1).expect("a day-1 bar").clone();
    let revised = Bar { close: Price(consumed.close.0 + 1), ..consumed };
    speed(&*store, vec![SpeedBar { bar: revised, is_final: true }]).await;
    // The batch view takes over day 1, whose bars the bot consumed from the speed view.
    publish(&*store, 1, &bars).await;
    speed_day(&*store, 2, &bars, Duration::from_millis(5)).await;
    caught_up(&*store, &bars, &mut running).await;

    assert_eq!(stored(&*store).await, (signals.clone(), fills), "the live bot's signals and fills are the backtest's");
    let text = http_get(format!("127.0.0.1:{port}").parse().expect("address"), "/metrics").expect("metrics").1;
    assert_eq!(metric(&text, "tickflow_bot_revisions_total"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "tickflow_bot_signals_total"), Some(signals.len() as f64), "{text}");
    let positions = store.positions(Some("sma-cross")).await.expect("positions");
    assert_eq!(positions.len(), SYMBOLS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_at_random_moments_ends_with_the_same_signals() {
    let bars = history();
    let expected = backtest(&bars);
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, store) = open(&dir);
    let feeder = {
        let (store, bars) = (Arc::clone(&store), bars.clone());
        tokio::spawn(async move {
            publish(&*store, 0, &bars).await;
            speed_day(&*store, 1, &bars, Duration::from_millis(40)).await;
            publish(&*store, 1, &bars).await;
            speed_day(&*store, 2, &bars, Duration::from_millis(40)).await;
        })
    };
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64 | 1;
    let mut kills = 0;
    while kills < 3 || !feeder.is_finished() {
        let mut running = bot(&url, &[]);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(150 + seed % 700)).await;
        running.0.kill().expect("SIGKILL");
        running.0.wait().expect("wait");
        kills += 1;
    }
    feeder.await.expect("feeder");
    let mut running = bot(&url, &[]);
    caught_up(&*store, &bars, &mut running).await;
    assert_eq!(stored(&*store).await, expected, "after {kills} kills the signals and fills are the backtest's");
}
