//! One module per subcommand: its arguments and how it runs.

pub mod bars;
pub mod batch;
pub mod generate;
pub mod produce;

/// A runtime for the async parts of a command (store access).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// A comma-separated list of intervals, as `--intervals` takes it.
#[derive(Clone, Debug)]
pub struct Intervals(pub Vec<tickflow_shared::Interval>);

impl std::str::FromStr for Intervals {
    type Err = tickflow_shared::interval::IntervalError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        tickflow_shared::Interval::parse_list(text).map(Intervals)
    }
}

/// The default number of worker threads: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
