//! `tickflow produce`: put trades on the `ticks` topic.

use std::path::PathBuf;
use tickflow_ingest::metrics::ProduceMetrics;
use tickflow_ingest::produce::{ProduceConfig, Source};
use tickflow_ingest::quote::{QuoteConfig, Token};
use tickflow_ingest::simulator::{DEFAULT_RATE, SimConfig};
use tickflow_shared::Symbol;
use tickflow_shared::input::{DEFAULT_PARTITIONS, DEFAULT_TOPIC};

/// Arguments of `tickflow produce`.
#[derive(clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers, `host:port[,host:port]`.
    #[arg(long, env = "TICKFLOW_BROKERS")]
    brokers: String,
    #[command(flatten)]
    kafka: super::kafka::KafkaArgs,
    /// Topic to produce to; created (with `--partitions`) if missing.
    #[arg(long, default_value = DEFAULT_TOPIC)]
    topic: String,
    /// Dead-letter topic: every input that is not a trade goes there as JSON with its raw
    /// input, source position and reason (default: `<topic>.rejects`); created if missing.
    #[arg(long, value_name = "TOPIC")]
    rejects_topic: Option<String>,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = DEFAULT_PARTITIONS)]
    partitions: i32,
    /// Source: the live market simulator, event time = wall clock.
    #[arg(long, conflicts_with = "replay")]
    simulate: bool,
    /// Simulator: number of symbols (default 500). Quote API: the symbols to poll, `AAPL,MSFT,...`.
    #[arg(long)]
    symbols: Option<Symbols>,
    /// Simulator: trades per second.
    #[arg(long, default_value_t = DEFAULT_RATE)]
    rate: f64,
    /// Simulator: seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many trades (default: the simulator and the quote API run until Ctrl-C).
    #[arg(long)]
    ticks: Option<u64>,
    /// Source: archive files or directories, replayed in event-time order.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// Replay speed: 1 is real time, 10 ten times faster, 0 as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    speed: f64,
    /// Source: a Finnhub-style quote API, its base URL (like `https://finnhub.io/api/v1`);
    /// each new quote of `--symbols` becomes a trade. The token is read from `TICKFLOW_QUOTE_API_TOKEN`.
    #[arg(long, value_name = "URL", conflicts_with_all = ["simulate", "replay"])]
    quote_api: Option<String>,
    /// Quote API: how often each symbol is polled (`500ms`, `1s`, `1m`).
    #[arg(long, default_value_t = super::Span(QuoteConfig::POLL_INTERVAL))]
    poll_interval: super::Span,
    /// Quote API: the longest one request may take before it is retried.
    #[arg(long, default_value_t = super::Span(QuoteConfig::TIMEOUT))]
    request_timeout: super::Span,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (and `/healthz`), like `0.0.0.0:9100` (default: off).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
}

/// `--symbols`: a count for the simulator or a list for the quote API.
#[derive(Clone, Debug)]
enum Symbols {
    /// `--symbols 500`.
    Count(usize),
    /// `--symbols AAPL,MSFT`.
    List(Vec<Symbol>),
}

impl std::str::FromStr for Symbols {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(count) = text.parse() {
            return Ok(Symbols::Count(count));
        }
        let list = text.split(',').map(|s| Symbol::new(s.trim()).map_err(|e| format!("{s:?}: {e}")));
        list.collect::<Result<_, _>>().map(Symbols::List)
    }
}

/// Runs `tickflow produce`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = config(&args)?;
    let stop = super::stop_on_signal()?;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = ProduceMetrics::register(&mut registry);
    super::serve_metrics(args.metrics_listen, registry)?;
    let report = tickflow_ingest::produce::run(&config, metrics, &stop)?;
    if let Some([requests, repeated, rejects, failures]) = report.quotes {
        println!(
            "Quote API: {requests} requests, {repeated} repeated quotes skipped, {rejects} rejected, {failures} failed."
        );
    }
    let seconds = report.elapsed.as_secs_f64();
    println!(
        "Produced {} trades to {} in {seconds:.1} s ({:.0} trades/s); all delivered; {} rejected to {}.",
        report.sent,
        config.topic,
        report.sent as f64 / seconds.max(1e-9),
        report.rejected,
        report.rejects_topic
    );
    Ok(())
}

/// What to produce, from the flags.
fn config(args: &Args) -> anyhow::Result<ProduceConfig> {
    anyhow::ensure!(
        args.simulate || !args.replay.is_empty() || args.quote_api.is_some(),
        "choose a source: --simulate [--symbols S --rate R], --replay PATH... [--speed X] \
         or --quote-api URL --symbols AAPL,MSFT [--poll-interval 1s]"
    );
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let source = if let Some(url) = &args.quote_api {
        Source::Quotes(quote_config(url, args)?)
    } else if args.simulate {
        let symbols = match &args.symbols {
            None => SimConfig::default().symbols,
            Some(Symbols::Count(count)) => *count,
            Some(Symbols::List(_)) => anyhow::bail!("--simulate takes a number of symbols: --symbols 500"),
        };
        Source::Simulate { market: SimConfig { symbols, seed: args.seed, ..SimConfig::default() }, rate: args.rate }
    } else {
        Source::Replay { paths: args.replay.clone(), speed: args.speed }
    };
    Ok(ProduceConfig {
        kafka: args.kafka.config(&args.brokers)?,
        topic: args.topic.clone(),
        partitions: args.partitions,
        rejects_topic: args.rejects_topic.clone(),
        source,
        limit: args.ticks,
    })
}

/// The quote source's configuration from the flags and the environment.
fn quote_config(url: &str, args: &Args) -> anyhow::Result<QuoteConfig> {
    let symbols = match &args.symbols {
        Some(Symbols::List(symbols)) => symbols,
        Some(Symbols::Count(n)) => {
            anyhow::bail!("--quote-api polls named symbols (--symbols AAPL,MSFT), not a count ({n})")
        }
        None => anyhow::bail!("--quote-api needs the symbols to poll: --symbols AAPL,MSFT"),
    };
    anyhow::ensure!(!args.poll_interval.0.is_zero(), "--poll-interval must be positive");
    anyhow::ensure!(!args.request_timeout.0.is_zero(), "--request-timeout must be positive");
    let mut config = QuoteConfig::new(url, symbols.clone());
    config.token = Token::from_env();
    config.poll_interval = args.poll_interval.0;
    config.timeout = args.request_timeout.0;
    Ok(config)
}
