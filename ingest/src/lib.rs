//! Where trades enter tickflow, and where the master dataset is kept.
//!
//! The [`simulator`] is a deterministic market model that writes
//! day-partitioned CSV or Parquet data sets (`tickflow generate`) and yields
//! the same trades as a live stream ([`simulator::feed`] into the in-process
//! bus). [`produce`] puts trades on the `ticks` topic from the simulator, a
//! [`replay`] of archive files or the [`quote`] API (a Finnhub-style REST
//! quote API, one task per symbol), through the idempotent [`producer`], and
//! every input that is not a trade on a dead-letter topic. The [`archive`]r
//! keeps the topic (or the in-process bus of `tickflow demo`) whole as
//! day-partitioned Parquet and seals the days the watermark has passed.
//!
//! The design decision that matters: a simulation is a pure function of its
//! configuration. The random generator is our own, each part of the model
//! draws from its own stream, and output files are written whole (temporary
//! name, then rename) and sealed per day, so tests and benchmarks can
//! regenerate the exact same data set and the batch layer can read it like
//! the archiver's.
//!
//! Start reading at [`simulator::generate`], [`produce::run`] and [`archive::Archiver`].

pub mod archive;
pub mod metrics;
pub mod produce;
pub mod producer;
pub mod quote;
pub mod replay;
pub mod simulator;
