//! `tickflow bench archive`: the archiver against the raw rdkafka consumer.
//!
//! A topic of the local broker is filled (untimed, [`crate::topic`]); then,
//! in the same run, the raw consumer reads it all, and `tickflow archive
//! --stop-at-end` (a consumer group from the earliest offset, decoding,
//! day-partitioned Parquet files written, fsynced and renamed, offsets
//! committed after each) archives it as a child process. The figure is the
//! ratio of their rates.

use crate::BenchError;
use crate::report::Figures;
use crate::topic::{self, TopicArgs};
use serde_json::json;

/// Arguments of `tickflow bench archive`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    topic: TopicArgs,
}

const TOPIC: &str = "bench-archive";

/// Fills the topic, then measures the raw consumer and the archiver on it.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    let out = tempfile::tempdir()?;
    let race = topic::race(&args.topic, TOPIC, |brokers, mut command| {
        command.args(["archive", "--brokers", brokers, "--topic", TOPIC, "--stop-at-end", "--out"]).arg(out.path());
        command
    })?;
    let archived = format!("Archived {} trades", args.topic.ticks);
    if !race.stdout.contains(&archived) {
        return Err(BenchError::Run(format!("expected {archived:?}, the archiver said {:?}", race.stdout)));
    }
    let mut params = vec![("partitions".into(), json!(args.topic.partitions))];
    params.extend(race.params());
    Ok(Figures {
        scenario: "archive".into(),
        params,
        items: args.topic.ticks,
        wall_seconds: race.seconds,
        peak_rss_bytes: race.peak_rss_bytes,
    })
}
