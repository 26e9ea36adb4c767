//! `tickflow produce`: put trades on the `ticks` topic.

use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tickflow_ingest::producer::{TickProducer, ensure_topic};
use tickflow_ingest::replay::{Pacer, read_in_event_order};
use tickflow_ingest::simulator::{Market, SimConfig};
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
    /// Simulator: number of symbols.
    #[arg(long, default_value_t = SimConfig::default().symbols)]
    symbols: usize,
    /// Simulator: trades per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Simulator: seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many trades (default: the simulator runs until Ctrl-C).
    #[arg(long)]
    ticks: Option<u64>,
    /// Source: archive files or directories, replayed in event-time order.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
    /// Replay speed: 1 is real time, 10 ten times faster, 0 as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    speed: f64,
}

/// Runs `tickflow produce`.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.simulate || !args.replay.is_empty(),
        "choose a source: --simulate [--symbols S --rate R] or --replay PATH... [--speed X]"
    );
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    super::runtime()?.block_on(ensure_topic(&args.brokers, &args.topic, args.partitions))?;
    let stop = stop_on_signal()?;
    let mut producer = TickProducer::new(&args.brokers, &args.topic)?;
    let mut progress = Progress::new();
    let limit = args.ticks.unwrap_or(u64::MAX);
    if args.simulate {
        let config = SimConfig { symbols: args.symbols, seed: args.seed, ..SimConfig::default() };
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
    } else {
        let (ticks, rejects) = read_in_event_order(&args.replay).context("reading the replay files")?;
        for reject in rejects.iter().take(10) {
            eprintln!("rejected {reject}");
        }
        let mut pacer = Pacer::new(args.speed);
        for mut tick in ticks.into_iter().take(limit as usize) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            pacer.wait(tick.ts);
            producer.send(&mut tick)?;
            progress.show(&producer);
        }
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

/// A flag set by Ctrl-C or SIGTERM.
fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let runtime = super::runtime()?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { if let Some(term) = term.as_mut() { term.recv().await; } else { std::future::pending::<()>().await } } => {}
            }
        });
        flag.store(true, Ordering::Relaxed);
    });
    Ok(stop)
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
        let deliveries = producer.deliveries();
        eprintln!(
            "produced {} trades ({:.0}/s), delivered {}, failed {}",
            producer.sent(),
            producer.sent() as f64 / self.started.elapsed().as_secs_f64(),
            deliveries.delivered.load(Ordering::Relaxed),
            deliveries.failed.load(Ordering::Relaxed)
        );
    }
}
