//! The speed layer: event-time bars from the `ticks` stream, kept current
//! within milliseconds, written effectively once.
//!
//! A timely dataflow ([`dataflow`]) runs on every worker: a source reads the
//! worker's partitions (`tickflow_shared::input`: Kafka in [`kafka`], or
//! the in-process bus of `tickflow_shared::input::memory`), turns event times into a watermark
//! (`tickflow_shared::watermark`: bounded out-of-orderness, idle partitions)
//! and holds its timely capability at the watermark's epoch. Trades are
//! exchanged by symbol to a window operator that keeps the open bars of
//! every (symbol, interval, window) ([`windows`]: one lateness rule, coarser
//! bars merged from finer ones) and flushes them each time the frontier
//! moves. One sink gathers the flushes with the offsets that produced them
//! ([`sink`]) and writes both, each bar key once ([`dedup`]), in one store
//! transaction per emit tick ([`commit`]); each tick carries the changed
//! provisional bars of one phase of the symbols ([`emit`]), so a bar is
//! written at most every `emit_interval`; while the store is unreachable the
//! committer retries with backoff ([`outage`]). On start the job seeks every partition back
//! to where its open windows began and replays up to the stored offsets, so a
//! crash at any point neither loses nor double-counts a trade.
//!
//! Start reading at [`run`].

pub mod align;
pub mod commit;
pub mod dataflow;
pub mod dedup;
pub mod emit;
pub mod kafka;
pub mod metrics;
pub mod outage;
pub mod route;
pub mod sink;
pub mod source;
pub mod status;
pub mod windows;

use crate::dataflow::Settings;
use crate::emit::EmitClock;
use crate::source::{Published, SourceStart};
use metrics::SpeedMetrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tickflow_shared::IntervalPlan;
use tickflow_shared::input::{InputError, Inputs, owned_by};
use tickflow_shared::store::SpeedStore;
use tickflow_shared::watermark::WatermarkConfig;
use windows::WindowsConfig;

/// How the speed job runs.
#[derive(Clone, Debug)]
pub struct SpeedConfig {
    /// The intervals kept.
    pub plan: IntervalPlan,
    /// Watermark parameters.
    pub watermark: WatermarkConfig,
    /// Lateness.
    pub windows: WindowsConfig,
    /// Provisional bars are written at most this often.
    pub emit_interval: Duration,
    /// Event time per timely epoch.
    pub epoch: Duration,
    /// Event time between checkpoints, where offsets can be committed.
    pub checkpoint: Duration,
    /// Timely workers: threads of this process, or a cluster.
    pub timely: TimelyConfig,
    /// Exit once every partition is read to its end.
    pub stop_at_end: bool,
    /// Where the job counts what it does (register it to export it).
    pub metrics: SpeedMetrics,
}

impl SpeedConfig {
    /// The default `emit_interval`: 250 ms.
    pub const fn default_emit_interval() -> Duration {
        Duration::from_millis(250)
    }

    /// The default `epoch`: 100 ms.
    pub const fn default_epoch() -> Duration {
        Duration::from_millis(100)
    }

    /// The default `checkpoint`: 1 s (never shorter than an epoch).
    pub const fn default_checkpoint() -> Duration {
        Duration::from_secs(1)
    }
}

/// Where the timely workers run.
#[derive(Clone, Debug)]
pub enum TimelyConfig {
    /// `workers` threads in this process.
    Process {
        /// Threads.
        workers: usize,
    },
    /// Process `index` of a cluster listed in `hosts`, `workers` threads each.
    Cluster {
        /// Threads per process.
        workers: usize,
        /// This process.
        index: usize,
        /// `host:port` of every process.
        hosts: Vec<String>,
    },
}

impl TimelyConfig {
    fn peers(&self) -> usize {
        match self {
            Self::Process { workers } => *workers,
            Self::Cluster { workers, hosts, .. } => workers * hosts.len(),
        }
    }

    fn local_workers(&self) -> usize {
        match self {
            Self::Process { workers } | Self::Cluster { workers, .. } => *workers,
        }
    }

    fn timely(&self) -> timely::Config {
        match self {
            Self::Process { workers } => timely::Config::process((*workers).max(1)),
            Self::Cluster { workers, index, hosts } => timely::Config {
                communication: timely::CommunicationConfig::Cluster {
                    threads: (*workers).max(1),
                    process: *index,
                    addresses: hosts.clone(),
                    report: false,
                    zerocopy: false,
                },
                worker: timely::WorkerConfig::default(),
            },
        }
    }
}

/// Why the speed job stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpeedError {
    /// The input could not be listed, opened or read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The stream has no partitions to read.
    #[error("topic {topic:?} has no partitions; create it first (tickflow produce does) or check --topic")]
    NoPartitions {
        /// The topic.
        topic: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] tickflow_shared::store::StoreError),
    /// The runtime of the store's calls could not be built.
    #[error("cannot start the speed job's runtime: {0}; the process may be out of threads or file descriptors")]
    Runtime(#[source] std::io::Error),
    /// The timely workers could not start (a cluster's hosts unreachable, a port taken).
    #[error("cannot start the timely workers: {reason}; check --hostfile, --processes and --process")]
    Start {
        /// Timely's description.
        reason: String,
    },
    /// A timely worker panicked.
    #[error("a timely worker panicked: {reason}; this is a bug, please report it with the log")]
    Worker {
        /// The panic's message.
        reason: String,
    },
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpeedReport {
    /// Commits written.
    pub commits: u64,
    /// Bars written (a bar written twice counts twice).
    pub bars: u64,
    /// Late trades recorded.
    pub late: u64,
    /// Rejected messages.
    pub rejects: u64,
    /// The watermark at the last commit.
    pub watermark: Option<i64>,
}

/// Runs the speed job on `inputs` until `stop` is set (or, with
/// `stop_at_end`, the input is read to its end), writing to `store`.
pub fn run(
    config: &SpeedConfig,
    inputs: Arc<dyn Inputs>,
    store: Arc<dyn SpeedStore>,
    stop: Arc<AtomicBool>,
) -> Result<SpeedReport, SpeedError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(SpeedError::Runtime)?;
    let topic = inputs.topic().to_owned();
    let partitions = inputs.partitions()?;
    if partitions.is_empty() {
        return Err(SpeedError::NoPartitions { topic });
    }
    let (starts, skip, stored_watermark) = if inputs.durable() {
        runtime.block_on(resume_points(store.as_ref(), &topic, &partitions))?
    } else {
        (partitions.iter().map(|p| (*p, (0, 0))).collect(), BTreeMap::new(), None)
    };
    let settings = Settings {
        topic: topic.clone(),
        epoch_ns: i64::try_from(config.epoch.as_nanos()).unwrap_or(i64::MAX).max(1),
        watermark: config.watermark,
        windows: config.windows,
        plan: config.plan.clone(),
        partitions: partitions.clone(),
        stored_watermark,
        checkpoint_every: (config.checkpoint.as_nanos() / config.epoch.as_nanos().max(1)).max(1) as u64,
        emit: EmitClock::new(config.emit_interval),
        stop_at_end: config.stop_at_end,
    };
    let committer = commit::Committer::start(store, runtime, stop.clone(), config.metrics.clone());
    let published = Arc::new(Published::new(config.timely.local_workers()));
    let peers = config.timely.peers();
    let emit_interval = config.emit_interval;
    let sender = committer.sender();
    let starts = Arc::new(starts);
    let skip = Arc::new(skip);
    let metrics = config.metrics.clone();
    let guards = timely::execute(config.timely.timely(), move |worker| {
        let index = worker.index();
        let owned = owned_by(&partitions, index, peers);
        let mine: BTreeMap<_, _> = owned.iter().filter_map(|p| starts.get(p).map(|s| (*p, *s))).collect();
        let from = mine.iter().map(|(p, (from, _))| (*p, *from)).collect();
        let input = match inputs.open(&from, Arc::new(metrics.clone())) {
            Ok(input) => input,
            Err(error) => {
                tracing::error!(%error, "Cannot open the input.");
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                return Err(error);
            }
        };
        let skip = owned.iter().filter_map(|p| skip.get(p).map(|s| (*p, s.clone()))).collect();
        let start = SourceStart { input, starts: mine, skip, trades: metrics.trades.clone() };
        let (published, stop, sender, settings) = (published.clone(), stop.clone(), sender.clone(), settings.clone());
        worker.dataflow::<u64, _, _>(|scope| {
            let events = source::read(scope, &settings, start, published.clone(), stop);
            let flushed = dataflow::windows(events, &settings, published);
            sink::commit(flushed, &settings.topic, peers, settings.emit, sender);
        });
        while worker.step_or_park(Some(emit_interval)) {}
        Ok(())
    })
    .map_err(|reason| SpeedError::Start { reason })?;
    let mut failure = None;
    for result in guards.join() {
        if let Err(error) = result.map_err(|reason| SpeedError::Worker { reason }).and_then(|r| Ok(r?)) {
            failure.get_or_insert(error);
        }
    }
    let report = committer.finish()?;
    failure.map_or(Ok(report), Err)
}

/// Where each partition resumes: `(replay_from, next)` from the store (from
/// the beginning when none is stored), the late offsets to skip in replay,
/// and the stored watermark.
async fn resume_points(
    store: &dyn SpeedStore,
    topic: &str,
    partitions: &[i32],
) -> Result<(BTreeMap<i32, (u64, u64)>, BTreeMap<i32, Vec<u64>>, Option<i64>), SpeedError> {
    let stored: BTreeMap<i32, (u64, u64)> = store
        .speed_offsets(topic)
        .await?
        .into_iter()
        .map(|o| (o.partition, (o.replay_from.max(0) as u64, o.next_offset.max(0) as u64)))
        .collect();
    let mut starts = BTreeMap::new();
    let mut skip = BTreeMap::new();
    for &partition in partitions {
        let (from, next) = stored.get(&partition).copied().unwrap_or((0, 0));
        starts.insert(partition, (from, next));
        if from < next {
            skip.insert(partition, store.late_positions(&format!("{topic}/{partition}"), from).await?);
        }
    }
    let watermark = store.speed_status().await?.watermark;
    Ok((starts, skip, watermark))
}
