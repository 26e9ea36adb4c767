//! `tickflow produce`: put trades on the `ticks` topic.

use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tickflow_ingest::metrics::ProduceMetrics;
use tickflow_ingest::producer::{Prepared, Sequencer, TickProducer, ensure_topic};
use tickflow_ingest::quote::{QuoteConfig, QuoteEvent, Token};
use tickflow_ingest::replay::{Chunk, Pacer, Replay};
use tickflow_ingest::simulator::{Market, SimConfig};
use tickflow_shared::Symbol;
use tickflow_shared::codec::Reject;
use tickflow_shared::time::now_ns;

/// Arguments of `tickflow produce`.
#[derive(clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers, `host:port[,host:port]`.
    #[arg(long, env = "TICKFLOW_BROKERS")]
    brokers: String,
    /// Topic to produce to; created (with `--partitions`) if missing.
    #[arg(long, default_value = "ticks")]
    topic: String,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Source: the live market simulator, event time = wall clock.
    #[arg(long, conflicts_with = "replay")]
    simulate: bool,
    /// Simulator: number of symbols (default 500). Quote API: the symbols to poll, `AAPL,MSFT,...`.
    #[arg(long)]
    symbols: Option<Symbols>,
    /// Simulator: trades per second.
    #[arg(long, default_value_t = 1000.0)]
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
    #[arg(long, default_value = "1s")]
    poll_interval: super::Span,
    /// Quote API: the longest one request may take before it is retried.
    #[arg(long, default_value = "10s")]
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
    anyhow::ensure!(
        args.simulate || !args.replay.is_empty() || args.quote_api.is_some(),
        "choose a source: --simulate [--symbols S --rate R], --replay PATH... [--speed X] \
         or --quote-api URL --symbols AAPL,MSFT [--poll-interval 1s]"
    );
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let sim_symbols = match &args.symbols {
        None => SimConfig::default().symbols,
        Some(Symbols::Count(count)) => *count,
        Some(Symbols::List(_)) if args.simulate => anyhow::bail!("--simulate takes a number of symbols: --symbols 500"),
        Some(Symbols::List(_)) => 0,
    };
    let quotes = args.quote_api.as_deref().map(|url| quote_config(url, &args)).transpose()?;
    // The replay starts reading and the producer connects (and gets its
    // producer id) while the topic is made sure of: none waits for another.
    let replay = (!args.replay.is_empty()).then(|| start_replay(&args.replay)).transpose()?;
    let stop = super::stop_on_signal()?;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = ProduceMetrics::register(&mut registry);
    metrics.target_rate.set(if args.simulate { args.rate } else { 0.0 });
    super::serve_metrics(args.metrics_listen, registry)?;
    let mut producer = TickProducer::with_metrics(&args.brokers, &args.topic, metrics.clone())?;
    super::runtime()?.block_on(ensure_topic(&args.brokers, &args.topic, args.partitions))?;
    let mut progress = Progress::new();
    let limit = args.ticks.unwrap_or(u64::MAX);
    if args.simulate {
        let config = SimConfig { symbols: sim_symbols, seed: args.seed, ..SimConfig::default() };
        let mut market = Market::new(&config)?;
        let started = Instant::now();
        while producer.sent() < limit && !stop.load(Ordering::Relaxed) {
            let due = ((started.elapsed().as_secs_f64() * args.rate) as u64).min(limit);
            while producer.sent() < due {
                producer.send(&mut market.next_trade(now_ns()))?;
            }
            progress.show(&producer);
            std::thread::sleep(Duration::from_millis(1));
        }
    } else if let Some(config) = quotes {
        produce_quotes(config, &mut producer, &stop, &mut progress, limit)?;
    } else if let Some(replay) = replay {
        send_replay(replay, args.speed, &mut producer, &stop, &mut progress, limit)?;
    }
    producer.flush()?;
    let seconds = progress.started.elapsed().as_secs_f64();
    println!(
        "Produced {} trades to {} in {seconds:.1} s ({:.0} trades/s); all delivered.",
        producer.sent(),
        args.topic,
        producer.sent() as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// The replay's chunks: prepared trades and the rows rejected meanwhile.
type PreparedReplay = Replay<(Prepared, Vec<Reject>)>;

/// Starts reading the replay files. Reading, ordering, `seq` and encoding run
/// on the replay's thread; the caller's only paces and sends.
fn start_replay(paths: &[PathBuf]) -> anyhow::Result<PreparedReplay> {
    let mut sequencer = Sequencer::default();
    let replay = Replay::start(paths, move |mut chunk: Chunk| {
        let prepared = sequencer.prepare(&mut chunk.ticks);
        (prepared, chunk.rejects)
    });
    replay.context("reading the replay files")
}

/// Sends the replay's trades, paced at `speed`, until `limit` trades, the
/// end of the files, Ctrl-C or SIGTERM; rejected rows are counted and the
/// first ten shown.
fn send_replay(
    replay: PreparedReplay,
    speed: f64,
    producer: &mut TickProducer,
    stop: &std::sync::atomic::AtomicBool,
    progress: &mut Progress,
    limit: u64,
) -> anyhow::Result<()> {
    let mut pacer = Pacer::new(speed);
    let mut rejected = 0u64;
    'replay: for chunk in replay {
        let (batch, rejects) = chunk.context("reading the replay files")?;
        for reject in rejects {
            rejected += 1;
            producer.metrics().rejects.inc();
            if rejected <= 10 {
                eprintln!("rejected {reject}");
            }
        }
        for i in 0..batch.len() {
            if producer.sent() >= limit || stop.load(Ordering::Relaxed) {
                break 'replay;
            }
            pacer.wait(batch.get(i).0);
            producer.send_prepared(&batch, i)?;
            progress.show(producer);
        }
    }
    if rejected > 10 {
        eprintln!("... and {} more rejected rows", rejected - 10);
    }
    Ok(())
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

/// Polls the quote API until `limit` trades, Ctrl-C or SIGTERM; rejects and
/// failed requests are logged and counted by the source, which retries.
fn produce_quotes(
    config: QuoteConfig,
    producer: &mut TickProducer,
    stop: &std::sync::atomic::AtomicBool,
    progress: &mut Progress,
    limit: u64,
) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    let stats = runtime.block_on(async {
        let mut source = config.build()?;
        while producer.sent() < limit && !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(100), source.next()).await {
                Ok(Some(QuoteEvent::Trade(mut tick))) => producer.send(&mut tick)?,
                Ok(Some(QuoteEvent::Reject(_))) => {
                    producer.metrics().rejects.inc();
                }
                Ok(Some(QuoteEvent::Failed(_))) | Err(_) => {}
                Ok(None) => break,
            }
            progress.show(producer);
        }
        let stats = source.stats();
        anyhow::Ok(
            [&stats.requests, &stats.repeated, &stats.rejects, &stats.failures].map(|n| n.load(Ordering::Relaxed)),
        )
    })?;
    let [requests, repeated, rejects, failures] = stats;
    println!(
        "Quote API: {requests} requests, {repeated} repeated quotes skipped, {rejects} rejected, {failures} failed."
    );
    Ok(())
}

/// A progress line on a terminal every few seconds.
struct Progress {
    started: Instant,
    last: Instant,
    terminal: bool,
}

impl Progress {
    fn new() -> Self {
        Self { started: Instant::now(), last: Instant::now(), terminal: std::io::stderr().is_terminal() }
    }

    fn show(&mut self, producer: &TickProducer) {
        if !self.terminal || self.last.elapsed() < Duration::from_secs(3) {
            return;
        }
        self.last = Instant::now();
        let metrics = producer.metrics();
        eprintln!(
            "produced {} trades ({:.0}/s), delivered {}, failed {}",
            producer.sent(),
            producer.sent() as f64 / self.started.elapsed().as_secs_f64(),
            metrics.delivered.get(),
            metrics.delivery_errors.get()
        );
    }
}
