//! `tickflow bench speed engine`: the speed dataflow alone, fed by the
//! in-process bus, writing to a store that only counts.
//!
//! The trades are generated before the clock starts (the batch benchmark's
//! simulated day: 500 symbols, event-time order) and published to a closed
//! bus, so the run measures reading, watermarks, windows at every interval,
//! provisional and final flushes, the sink's bookkeeping and the commit
//! thread, and nothing of a broker or a database.

use crate::BenchError;
use crate::report::{Figures, self_cpu_seconds, self_peak_rss};
use crate::topic::TopicArgs;
use rustc_hash::FxHashMap;
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tickflow_ingest::simulator::{SimConfig, Trades};
use tickflow_shared::input::memory::MemoryBus;
use tickflow_shared::store::{Progress, SpeedCommit, SpeedStore, StoreError};
use tickflow_shared::{Interval, IntervalPlan, Symbol};
use tickflow_speed::metrics::SpeedMetrics;
use tickflow_speed::windows::WindowsConfig;
use tickflow_speed::{SpeedConfig, TimelyConfig};

/// Arguments of `tickflow bench speed engine`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trades, and the partitions of the in-process bus.
    #[command(flatten)]
    input: TopicArgs,
    /// Intervals kept.
    #[arg(long, default_value = Interval::DEFAULTS)]
    intervals: String,
    /// Timely worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// Generates the trades, then runs the dataflow over them to the end.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let intervals = Interval::parse_list(&args.intervals).map_err(|e| BenchError::Prepare(e.to_string()))?;
    let config = SimConfig { symbols: args.input.symbols, ..SimConfig::default() };
    eprintln!("Generating {} trades of {} symbols (not timed) ...", args.input.ticks, args.input.symbols);
    let trades = Trades::new(&config, args.input.ticks).map_err(|e| BenchError::Prepare(e.to_string()))?;
    let bus = MemoryBus::new(args.input.partitions.max(1) as usize);
    bus.publish(trades);
    bus.close();
    let finest = intervals.iter().copied().min().ok_or_else(|| BenchError::Prepare("no intervals".into()))?;
    let store = Arc::new(CountingStore { finest, log: Mutex::default() });
    let speed = SpeedConfig {
        plan: IntervalPlan::new(&intervals),
        watermark: Default::default(),
        windows: WindowsConfig::default(),
        emit_interval: SpeedConfig::default_emit_interval(),
        epoch: SpeedConfig::default_epoch(),
        checkpoint: SpeedConfig::default_checkpoint(),
        timely: TimelyConfig::Process { workers: args.workers },
        stop_at_end: true,
        metrics: SpeedMetrics::default(),
    };
    let (clock, cpu) = (Instant::now(), self_cpu_seconds());
    let report = tickflow_speed::run(&speed, Arc::new(bus), store.clone(), Arc::new(AtomicBool::new(false)))
        .map_err(|e| BenchError::Run(e.to_string()))?;
    let (seconds, cpu) = (clock.elapsed().as_secs_f64(), self_cpu_seconds() - cpu);
    let trades = store.trades();
    if trades != args.input.ticks {
        return Err(BenchError::Run(format!("the final bars hold {trades} trades, not {}", args.input.ticks)));
    }
    let per_core = args.input.ticks as f64 / seconds / args.workers.min(crate::cores()) as f64;
    // Per worker above; per CPU-second counts every thread (workers, committer, store) alike.
    let per_cpu_second = args.input.ticks as f64 / cpu.max(1e-9);
    eprintln!(
        "{:.2}M trades/s, {:.2}M per core, {:.2}M per CPU-second",
        args.input.ticks as f64 / seconds / 1e6,
        per_core / 1e6,
        per_cpu_second / 1e6
    );
    Ok(Figures {
        scenario: "speed engine".into(),
        params: vec![
            ("symbols".into(), json!(args.input.symbols)),
            ("intervals".into(), json!(args.intervals)),
            ("workers".into(), json!(args.workers)),
            ("commits".into(), json!(report.commits)),
            ("bars_written".into(), json!(report.bars)),
            ("trades_per_s_per_core".into(), json!(per_core.round())),
            ("cpu_s".into(), json!((cpu * 1000.0).round() / 1000.0)),
            ("trades_per_cpu_s".into(), json!(per_cpu_second.round())),
        ],
        items: args.input.ticks,
        wall_seconds: seconds,
        peak_rss_bytes: self_peak_rss(),
    })
}

/// A store that keeps nothing but a short log of the finest interval's
/// writes, and starts every job from the beginning. After the clock stops
/// the log tells how many trades the bars hold: the final ones, and the last
/// write of those still open at the end. (Folding it during the run, in a
/// hash table of every open bar, took an eighth of the run's CPU.)
struct CountingStore {
    finest: Interval,
    log: Mutex<WriteLog>,
}

/// The finest interval's writes in order: `(symbol, start, trades, final)`.
#[derive(Default)]
struct WriteLog {
    symbols: FxHashMap<Symbol, u32>,
    writes: Vec<(u32, i64, u64, bool)>,
}

impl CountingStore {
    fn trades(&self) -> u64 {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let mut finals = 0;
        let mut open: FxHashMap<(u32, i64), u64> = FxHashMap::default();
        for &(symbol, start, trades, is_final) in &log.writes {
            if is_final {
                open.remove(&(symbol, start));
                finals += trades;
            } else {
                open.insert((symbol, start), trades);
            }
        }
        finals + open.values().sum::<u64>()
    }
}

/// The engine's only store call is a commit; the rest is the defaults of a
/// store that keeps nothing.
impl Progress for CountingStore {}

#[async_trait::async_trait]
impl SpeedStore for CountingStore {
    async fn commit_speed(&self, commit: &mut SpeedCommit) -> Result<(), StoreError> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let WriteLog { symbols, writes } = &mut *log;
        for written in commit.bars.iter().filter(|b| b.bar.interval == self.finest) {
            let next = symbols.len() as u32;
            let symbol = *symbols.entry(written.bar.symbol.clone()).or_insert(next);
            writes.push((symbol, written.bar.start, written.bar.trades, written.is_final));
        }
        Ok(())
    }
}
