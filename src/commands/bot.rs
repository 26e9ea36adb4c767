//! `tickflow bot`: a strategy live on final bars, its signals (and paper
//! fills) written to the store effectively once, until Ctrl-C or SIGTERM.

use std::sync::Arc;
use tickflow_shared::signal::Costs;
use tickflow_shared::store::{self, Access};
use tickflow_shared::time::parse_timestamp;
use tickflow_shared::{Interval, Size, Symbol};
use tickflow_strategy::live::{Bot, Config, Metrics, Output};
use tickflow_strategy::{Params, Spec};

/// Arguments of `tickflow bot`.
#[derive(clap::Args)]
#[command(after_long_help = tickflow_strategy::RULES)]
pub struct Args {
    /// View store URL: `sqlite://path/to/file.db` or `postgres://user@host/db`; created if missing.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
    /// The bars' interval.
    #[arg(long, default_value = "1m")]
    interval: Interval,
    /// The strategy: sma-cross, ema-cross, rsi, macd or bollinger (rules below).
    #[arg(long)]
    strategy: String,
    /// A strategy parameter, NAME=VALUE (like fast=10); repeat for more. The `[strategy]` table of the
    /// config file gives `name` (as --strategy) and parameters; a flag overrides a table key.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    param: Vec<String>,
    /// Only these symbols, comma-separated (default: every symbol in the store).
    #[arg(long, value_delimiter = ',')]
    symbols: Option<Vec<String>>,
    /// On the bot's first run, bars before this time only warm the strategy up (RFC 3339 or epoch ms);
    /// by default every bar counts, so the bot's signals are the backtest's.
    #[arg(long)]
    from: Option<String>,
    /// Trade on paper: write fills at the next bar's open and the positions.
    #[arg(long)]
    paper: bool,
    /// Bought at each entry.
    #[arg(long, default_value = "100")]
    quantity: String,
    /// Fee in basis points of each fill's notional.
    #[arg(long, default_value_t = 1)]
    fee_bps: i64,
    /// Slippage in basis points, against the trader.
    #[arg(long, default_value_t = 0)]
    slippage_bps: i64,
    /// Kafka bootstrap servers for --signals-topic.
    #[arg(long, requires = "signals_topic")]
    brokers: Option<String>,
    #[command(flatten)]
    kafka: super::kafka::KafkaArgs,

    /// Also put each signal on this Kafka topic (JSON keyed by symbol, idempotent producer).
    #[arg(long, requires = "brokers")]
    signals_topic: Option<String>,
    /// How often the store is asked for bars that became final.
    #[arg(long, default_value = "500ms")]
    poll_interval: super::Span,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
}

/// Checks the flags and builds the bot's configuration.
fn config(args: &Args) -> anyhow::Result<Config> {
    let params = Params::parse(&args.param)?;
    let spec = Spec::new(&args.strategy, &params)?;
    let symbols = match &args.symbols {
        Some(names) => Some(
            names
                .iter()
                .map(|name| {
                    Symbol::new(name.trim()).map_err(|e| anyhow::anyhow!("--symbols: {name:?} is not a symbol ({e})"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        None => None,
    };
    let from = match &args.from {
        Some(text) => Some(parse_timestamp(text.as_bytes()).map_err(|e| {
            anyhow::anyhow!("--from {text:?} {e}; write RFC 3339 like 2013-10-07T13:30:00Z or epoch milliseconds")
        })?),
        None => None,
    };
    let quantity = Size::parse(&args.quantity)
        .ok()
        .filter(|q| q.units() > 0)
        .ok_or_else(|| anyhow::anyhow!("--quantity {:?} must be a positive number, like 100", args.quantity))?;
    for (flag, bps) in [("--fee-bps", args.fee_bps), ("--slippage-bps", args.slippage_bps)] {
        anyhow::ensure!((0..10_000).contains(&bps), "{flag} {bps} must be from 0 to 9999 basis points");
    }
    let output = match (&args.brokers, &args.signals_topic) {
        (Some(brokers), Some(topic)) => Some(Output { kafka: args.kafka.config(brokers)?, topic: topic.clone() }),
        _ => None,
    };
    Ok(Config {
        spec,
        interval: args.interval,
        symbols,
        from,
        paper: args.paper,
        quantity,
        costs: Costs { fee_bps: args.fee_bps, slippage_bps: args.slippage_bps },
        poll: args.poll_interval.0,
        output,
    })
}

/// Runs `tickflow bot`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let store = store::open(&args.store, Access::Write).await?;
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Metrics::register(&mut registry);
        super::serve_metrics(args.metrics_listen, registry)?;
        let bot = Bot::new(Arc::clone(&store), config, metrics)?;
        tracing::info!(bot = bot.name(), interval = %args.interval, paper = args.paper, "Starting the bot.");
        bot.run(super::shutdown_signal()?).await?;
        anyhow::Ok(())
    })
}

/// The bot `tickflow demo` runs: `sma-cross` with its default parameters on
/// 1m bars of every symbol, paper trading 100 shares, its metrics in `registry`.
pub fn demo(store: Arc<dyn store::Store>, registry: &mut prometheus_client::registry::Registry) -> anyhow::Result<Bot> {
    let config = Config {
        spec: Spec::new("sma-cross", &Params::new())?,
        interval: Interval::from_seconds(60).ok_or_else(|| anyhow::anyhow!("1m is an interval"))?,
        symbols: None,
        from: None,
        paper: true,
        quantity: Size::parse("100")?,
        costs: Costs::default(),
        poll: std::time::Duration::from_millis(500),
        output: None,
    };
    Ok(Bot::new(store, config, Metrics::register(registry))?)
}

/// Resolves once `stop` is set (checked every 100 ms).
pub async fn until(stop: Arc<std::sync::atomic::AtomicBool>) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
