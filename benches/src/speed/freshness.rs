//! `tickflow bench speed freshness`: how old a trade is when its
//! provisional bar becomes visible in the store.
//!
//! A tansu broker, a store (a throwaway PostgreSQL cluster unless `--store`
//! is given), `tickflow speed` on the topic and `tickflow produce
//! --simulate` at a steady rate all run for the measurement. The simulator
//! stamps each trade with the wall clock when it makes it, so a bar's last
//! trade time is that trade's produce time. The harness reads the store's
//! change sequence of 1s bars every few milliseconds; each provisional bar
//! it sees is one sample of `now - last trade time`: produce, broker, consume,
//! windows, commit and the read that finds it, together.

use crate::report::{Figures, children_peak_rss};
use crate::{BenchError, tansu};
use hdrhistogram::Histogram;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tickflow_shared::Interval;
use tickflow_shared::time::now_ns;

/// Arguments of `tickflow bench speed freshness`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trades per second the producer sends.
    #[arg(long, default_value_t = 100_000.0)]
    rate: f64,
    /// Symbols traded.
    #[arg(long, default_value_t = 500)]
    symbols: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// How often the harness reads the change sequence, in milliseconds.
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
    /// The speed job's `--emit-interval`.
    #[arg(long, default_value = "250ms")]
    emit_interval: String,
    /// A PostgreSQL or SQLite store URL; default: a throwaway PostgreSQL cluster.
    #[arg(long)]
    store: Option<String>,
}

/// Kills a child process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the pipeline and samples freshness.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let broker = tansu::Broker::start(tansu::Storage::Memory)?;
    let brokers = broker.bootstrap();
    let cluster = match &args.store {
        Some(_) => None,
        None => Some(crate::postgres::Cluster::start()?),
    };
    let store_url = args.store.clone().or_else(|| cluster.as_ref().map(|c| c.url.clone())).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let store =
        runtime.block_on(tickflow_shared::store::open(&store_url)).map_err(|e| BenchError::Prepare(e.to_string()))?;
    let topic = "bench-fresh";
    runtime
        .block_on(tickflow_ingest::producer::ensure_topic(&brokers, topic, 6))
        .map_err(|e| BenchError::Prepare(e.to_string()))?;
    let exe = std::env::current_exe()?;
    let _speed = Running(
        Command::new(&exe)
            .args(["speed", "--brokers", &brokers, "--topic", topic, "--store", &store_url])
            .args(["--emit-interval", &args.emit_interval])
            .env("TICKFLOW_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let _produce = Running(
        Command::new(&exe)
            .args(["produce", "--brokers", &brokers, "--topic", topic, "--simulate"])
            .args(["--symbols", &args.symbols.to_string(), "--rate", &args.rate.to_string()])
            .env("TICKFLOW_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let second: Interval = "1s".parse().map_err(|e| BenchError::Prepare(format!("{e}")))?;
    let poll = Duration::from_millis(args.poll_ms.max(1));
    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).map_err(|e| BenchError::Prepare(e.to_string()))?;
    let samples = runtime.block_on(async {
        let started = Instant::now();
        let mut since = 0;
        let (mut samples, mut measuring) = (0u64, false);
        while started.elapsed().as_secs_f64() < args.warmup + args.seconds {
            let changes =
                store.speed_changes(second, None, since, 100_000).await.map_err(|e| BenchError::Run(e.to_string()))?;
            let now = now_ns();
            since = changes.next;
            if measuring {
                // A final write repeats a bar seconds later; provisional ones are the fresh view.
                for change in changes.changes.iter().filter(|c| !c.bar.is_final) {
                    let age_us = (now - change.bar.bar.last_ts).max(1) as u64 / 1_000;
                    histogram.saturating_record(age_us);
                    samples += 1;
                }
            }
            measuring = started.elapsed().as_secs_f64() >= args.warmup;
            tokio::time::sleep(poll).await;
        }
        Ok::<_, BenchError>(samples)
    })?;
    if samples == 0 {
        return Err(BenchError::Run("no 1s bar became visible during the measurement".into()));
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1_000.0;
    eprintln!("freshness p50 {:.1} ms, p99 {:.1} ms over {samples} bar changes", ms(0.5), ms(0.99));
    Ok(Figures {
        scenario: "speed freshness".into(),
        params: vec![
            ("rate".into(), json!(args.rate)),
            ("symbols".into(), json!(args.symbols)),
            ("emit_interval".into(), json!(args.emit_interval)),
            ("store".into(), json!(if args.store.is_some() { "given" } else { "postgres" })),
            ("samples".into(), json!(samples)),
            ("p50_ms".into(), json!(ms(0.5))),
            ("p90_ms".into(), json!(ms(0.9))),
            ("p99_ms".into(), json!(ms(0.99))),
            ("max_ms".into(), json!(histogram.max() as f64 / 1_000.0)),
        ],
        items: samples,
        wall_seconds: args.seconds,
        peak_rss_bytes: children_peak_rss(),
    })
}
