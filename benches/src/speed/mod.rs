//! `tickflow bench speed <part>`: the speed layer's four figures.
//!
//! - `engine`: the dataflow alone on the in-process bus (trades/s per core);
//! - `kafka`: `tickflow speed` reading a topic of the local broker, against
//!   the raw rdkafka consumer on the same topic in the same run (a ratio);
//! - `freshness`: from a trade's produce time to its provisional bar being
//!   visible in the store, at a steady rate (p50/p99);
//! - `memory`: peak memory of `tickflow speed --simulate` with many symbols.

mod engine;
mod freshness;
mod kafka;
mod memory;

use crate::BenchError;
use crate::report::Figures;

/// Arguments of `tickflow bench speed`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    part: Part,
}

#[derive(clap::Subcommand, Debug)]
enum Part {
    /// The dataflow alone, in-process bus, a store that only counts.
    Engine(engine::Args),
    /// `tickflow speed` on a topic of the local broker, against the raw consumer.
    Kafka(kafka::Args),
    /// Produce time to provisional bar visible in the store, at a steady rate.
    Freshness(freshness::Args),
    /// Peak memory of `tickflow speed --simulate` with many symbols.
    Memory(memory::Args),
}

/// Runs one part.
pub fn run(args: Args) -> Result<Figures, BenchError> {
    match args.part {
        Part::Engine(args) => engine::run(args),
        Part::Kafka(args) => kafka::run(args),
        Part::Freshness(args) => freshness::run(args),
        Part::Memory(args) => memory::run(args),
    }
}
