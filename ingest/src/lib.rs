//! Where trades enter tickflow.
//!
//! Today this crate holds the [`simulator`]: a deterministic market model
//! that writes day-partitioned CSV or Parquet data sets (`tickflow generate`)
//! and yields the same trades as a stream for live use. It will also hold the
//! other sources (CSV/Parquet replay, a quote API), the Kafka producer that
//! publishes trades keyed by symbol, and the archiver that writes the master
//! dataset from the topic. The [`quote`] source polls a Finnhub-style REST
//! quote API, one task per symbol, and turns each new quote into a trade.
//!
//! The design decision that matters: a simulation is a pure function of its
//! configuration. The random generator is our own, each part of the model
//! draws from its own stream, and output files are written whole (temporary
//! name, then rename) and sealed per day, so tests and benchmarks can
//! regenerate the exact same data set and the batch layer can read it like
//! the archiver's.
//!
//! Start reading at [`simulator::generate`] and [`simulator::Market`].

pub mod archive;
pub mod metrics;
pub mod produce;
pub mod producer;
pub mod quote;
pub mod replay;
pub mod simulator;
