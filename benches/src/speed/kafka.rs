//! `tickflow bench speed kafka`: `tickflow speed` reading a topic of the
//! local broker, against the raw rdkafka consumer on the same topic.
//!
//! The topic is filled first (untimed, [`crate::topic`]). Then, on the same
//! broker in the same run: the raw client, and
//! `tickflow speed --stop-at-end` as a child process, which reads the topic,
//! decodes, keeps every interval and writes its bars and offsets to a fresh
//! store. The figure is the ratio of their rates.

use crate::BenchError;
use crate::report::Figures;
use crate::topic::{self, TopicArgs};
use serde_json::json;
use tickflow_shared::Interval;

/// Arguments of `tickflow bench speed kafka`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    topic: TopicArgs,
    /// Intervals the speed job keeps.
    #[arg(long, default_value = Interval::DEFAULTS)]
    intervals: String,
    /// Timely workers of the speed job.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The speed job's store; default: a new SQLite file for the run.
    #[arg(long)]
    store: Option<String>,
}

const TOPIC: &str = "bench-speed";

/// Fills the topic, then measures the raw consumer and the speed job on it.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let dir = tempfile::tempdir()?;
    let store = args.store.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("speed.db").display()));
    let race = topic::race(&args.topic, TOPIC, |brokers, mut command| {
        command.args(["speed", "--brokers", brokers, "--topic", TOPIC, "--store", &store, "--stop-at-end"]).args([
            "--intervals",
            &args.intervals,
            "--workers",
            &args.workers.to_string(),
        ]);
        command
    })?;
    let mut params = vec![
        ("partitions".into(), json!(args.topic.partitions)),
        ("intervals".into(), json!(args.intervals)),
        ("workers".into(), json!(args.workers)),
        ("store".into(), json!(if args.store.is_some() { "given" } else { "sqlite" })),
    ];
    params.extend(race.params());
    Ok(Figures {
        scenario: "speed kafka".into(),
        params,
        items: args.topic.ticks,
        wall_seconds: race.seconds,
        peak_rss_bytes: race.peak_rss_bytes,
    })
}
