//! `tickflow produce` as a library: trades from a source onto the `ticks`
//! topic, and every input that is not a trade onto a dead-letter topic.
//!
//! A source is the live market simulator (event time = wall clock, paced at
//! a rate), a replay of archive files (in event-time order, paced like the
//! market was, [`crate::replay`]) or a quote API ([`crate::quote`]). What a
//! source cannot turn into a trade (a replay row that does not parse, an
//! answer that is not a quote) is never dropped and never stops the run
//! (contract 7): it goes to the dead-letter topic as JSON with its raw input,
//! source position and reason ([`DeadLetters`]), is counted in
//! `tickflow_produce_rejects`, and the run's [`ProduceReport`] says how many
//! and where.
//!
//! Start reading at [`run`].

mod dead_letter;
mod progress;

pub use dead_letter::DeadLetters;

use crate::metrics::ProduceMetrics;
use crate::producer::{KafkaClientError, Prepared, Sequencer, TickProducer, ensure_topic};
use crate::quote::{QuoteConfig, QuoteError, QuoteEvent};
use crate::replay::{Chunk, Pacer, Replay};
use crate::simulator::{Market, SimConfig, SimError};
use progress::Progress;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tickflow_shared::codec::{CodecError, Reject};
use tickflow_shared::kafka::KafkaConfig;
use tickflow_shared::time::now_ns;

/// Where trades come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// The live market simulator at `rate` trades per second.
    Simulate {
        /// The simulated market.
        market: SimConfig,
        /// Trades per second.
        rate: f64,
    },
    /// Archive files or directories, replayed in event-time order.
    Replay {
        /// The files or directories.
        paths: Vec<PathBuf>,
        /// 1 is real time, 10 ten times faster, 0 as fast as possible.
        speed: f64,
    },
    /// A Finnhub-style quote API.
    Quotes(QuoteConfig),
}

/// What `produce` reads and where it sends it.
#[derive(Clone, Debug)]
pub struct ProduceConfig {
    /// Kafka bootstrap servers and client properties.
    pub kafka: KafkaConfig,
    /// The topic of trades.
    pub topic: String,
    /// Partitions of the topic when it has to be created.
    pub partitions: i32,
    /// The dead-letter topic; [`ProduceConfig::rejects_topic`] names the default.
    pub rejects_topic: Option<String>,
    /// The source.
    pub source: Source,
    /// Stop after this many trades (default: at the end of a replay, or at the stop signal).
    pub limit: Option<u64>,
}

impl ProduceConfig {
    /// The suffix of the default dead-letter topic's name.
    pub const REJECTS_SUFFIX: &str = ".rejects";

    /// The dead-letter topic: the configured one, else `<topic>.rejects`.
    ///
    /// ```
    /// use tickflow_ingest::produce::{ProduceConfig, Source};
    /// use tickflow_ingest::simulator::SimConfig;
    /// use tickflow_shared::kafka::KafkaConfig;
    ///
    /// let source = Source::Simulate { market: SimConfig::default(), rate: 1000.0 };
    /// let mut config = ProduceConfig {
    ///     kafka: KafkaConfig::plain("localhost:9092"),
    ///     topic: "ticks".into(),
    ///     partitions: 6,
    ///     rejects_topic: None,
    ///     source,
    ///     limit: None,
    /// };
    /// assert_eq!(config.rejects_topic(), "ticks.rejects");
    /// config.rejects_topic = Some("dead-letters".into());
    /// assert_eq!(config.rejects_topic(), "dead-letters");
    /// ```
    pub fn rejects_topic(&self) -> String {
        self.rejects_topic.clone().unwrap_or_else(|| format!("{}{}", self.topic, Self::REJECTS_SUFFIX))
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProduceReport {
    /// Trades sent (all delivered when the run returns).
    pub sent: u64,
    /// Inputs that were not trades, each sent to the dead-letter topic.
    pub rejected: u64,
    /// The dead-letter topic.
    pub rejects_topic: String,
    /// How long the run took.
    pub elapsed: Duration,
    /// The quote API's requests, repeated quotes skipped, rejects and failed requests.
    pub quotes: Option<[u64; 4]>,
}

/// Why `produce` stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] KafkaClientError),
    /// The replay files could not be read.
    #[error("reading the replay files: {0}")]
    Replay(#[from] CodecError),
    /// The simulator's configuration is out of range.
    #[error(transparent)]
    Simulator(#[from] SimError),
    /// The quote source could not start.
    #[error(transparent)]
    Quotes(#[from] QuoteError),
    /// The runtime of the Kafka admin and quote calls could not be built.
    #[error("cannot start a runtime: {0}; the process may be out of threads or file descriptors")]
    Runtime(#[source] std::io::Error),
}

/// Produces from `config.source` until its end, `config.limit` trades or
/// `stop`; every trade delivered, every reject on the dead-letter topic.
/// Everything is counted in `metrics`.
pub fn run(config: &ProduceConfig, metrics: ProduceMetrics, stop: &AtomicBool) -> Result<ProduceReport, ProduceError> {
    // The replay starts reading and the producers connect (and get their
    // producer ids) while the topics are made sure of: none waits for another.
    let replay = match &config.source {
        Source::Replay { paths, .. } => Some(start_replay(paths)?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ProduceError::Runtime)?;
    let rejects_topic = config.rejects_topic();
    let mut producer = TickProducer::with_metrics(&config.kafka, &config.topic, metrics.clone())?;
    let mut dead = DeadLetters::new(&config.kafka, &rejects_topic, metrics.clone())?;
    runtime.block_on(async {
        let (trades, rejects) = tokio::join!(
            ensure_topic(&config.kafka, &config.topic, config.partitions),
            ensure_topic(&config.kafka, &rejects_topic, 1)
        );
        trades.and(rejects)
    })?;
    let mut progress = Progress::new();
    let limit = config.limit.unwrap_or(u64::MAX);
    let mut quotes = None;
    match &config.source {
        Source::Simulate { market, rate } => {
            metrics.target_rate.set(*rate);
            simulate(&mut producer, Market::new(market)?, *rate, limit, stop, &mut progress)?;
        }
        Source::Replay { speed, .. } => {
            if let Some(replay) = replay {
                send_replay(replay, *speed, &mut producer, &mut dead, stop, &mut progress, limit)?;
            }
        }
        Source::Quotes(quote) => {
            let polled = produce_quotes(quote, &mut producer, &mut dead, stop, &mut progress, limit);
            quotes = Some(runtime.block_on(polled)?);
        }
    }
    producer.flush()?;
    dead.flush()?;
    Ok(ProduceReport {
        sent: producer.sent(),
        rejected: dead.sent(),
        rejects_topic,
        elapsed: progress.elapsed(),
        quotes,
    })
}

/// Sends the simulator's trades at `rate`, each stamped with the wall clock.
fn simulate(
    producer: &mut TickProducer,
    mut market: Market,
    rate: f64,
    limit: u64,
    stop: &AtomicBool,
    progress: &mut Progress,
) -> Result<(), ProduceError> {
    let started = Instant::now();
    while producer.sent() < limit && !stop.load(Ordering::Relaxed) {
        let due = ((started.elapsed().as_secs_f64() * rate) as u64).min(limit);
        while producer.sent() < due {
            producer.send(&mut market.next_trade(now_ns()))?;
        }
        progress.show(producer);
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// The replay's chunks: prepared trades and the rows rejected meanwhile.
type PreparedReplay = Replay<(Prepared, Vec<Reject>)>;

/// Starts reading the replay files. Reading, ordering, `seq` and encoding run
/// on the replay's thread; the caller's only paces and sends.
fn start_replay(paths: &[PathBuf]) -> Result<PreparedReplay, CodecError> {
    let mut sequencer = Sequencer::default();
    Replay::start(paths, move |mut chunk: Chunk| {
        let prepared = sequencer.prepare(&mut chunk.ticks);
        (prepared, chunk.rejects)
    })
}

/// Sends the replay's trades, paced at `speed`, until `limit` trades, the
/// end of the files or `stop`; rejected rows go to the dead-letter topic.
fn send_replay(
    replay: PreparedReplay,
    speed: f64,
    producer: &mut TickProducer,
    dead: &mut DeadLetters,
    stop: &AtomicBool,
    progress: &mut Progress,
    limit: u64,
) -> Result<(), ProduceError> {
    let mut pacer = Pacer::new(speed);
    'replay: for chunk in replay {
        let (batch, rejects) = chunk?;
        for reject in &rejects {
            dead.send(reject)?;
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
    Ok(())
}

/// Polls the quote API until `limit` trades or `stop`; rejected answers go
/// to the dead-letter topic, failed requests are logged and counted by the
/// source, which retries. Returns the source's counts.
async fn produce_quotes(
    config: &QuoteConfig,
    producer: &mut TickProducer,
    dead: &mut DeadLetters,
    stop: &AtomicBool,
    progress: &mut Progress,
    limit: u64,
) -> Result<[u64; 4], ProduceError> {
    let mut source = config.clone().build()?;
    while producer.sent() < limit && !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(100), source.next()).await {
            Ok(Some(QuoteEvent::Trade(mut tick))) => producer.send(&mut tick)?,
            Ok(Some(QuoteEvent::Reject(reject))) => dead.send(&reject.to_reject())?,
            Ok(Some(QuoteEvent::Failed(_))) | Err(_) => {}
            Ok(None) => break,
        }
        progress.show(producer);
    }
    let stats = source.stats();
    Ok([&stats.requests, &stats.repeated, &stats.rejects, &stats.failures].map(|n| n.load(Ordering::Relaxed)))
}
