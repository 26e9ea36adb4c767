//! What a worker reads: records of the partitions it owns, from Kafka or
//! from the in-process bus, each with its partition and offset.

use crate::metrics::SpeedMetrics;
use std::collections::BTreeMap;
use tickflow_shared::Tick;
use tickflow_shared::watermark::Partition;

/// One message read from a partition.
#[derive(Clone, Debug)]
pub struct Record {
    /// The partition it was read from.
    pub partition: Partition,
    /// Its offset there.
    pub offset: u64,
    /// The trade, or why the message is not one.
    pub payload: Payload,
}

/// A message's content.
#[derive(Clone, Debug)]
pub enum Payload {
    /// A valid trade; its `seq` is the offset when the message carried none.
    Trade(Tick),
    /// A message that did not decode, with the reason and its raw bytes.
    Invalid {
        /// What was wrong.
        reason: String,
        /// The message value, cut short.
        raw: Vec<u8>,
    },
}

/// What polling found besides records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Records appended.
    pub records: usize,
}

/// The partitions one worker reads.
pub trait Input {
    /// Appends up to `max` available records to `out` without waiting long,
    /// and marks in `at_end` the partitions read to their current end.
    fn poll(&mut self, out: &mut Vec<Record>, max: usize, at_end: &mut Vec<Partition>) -> Result<Polled, String>;

    /// Whether a partition read to its end has ended for good, so that
    /// `stop_at_end` may stop there: true for Kafka (its current end is the
    /// end asked for), true for the in-process bus only once it is closed.
    fn complete(&self) -> bool {
        true
    }

    /// How far in event time a partition that is catching up may read ahead
    /// of the slowest before it is paused ([`crate::align`]), or `None` to
    /// never pause for that: for inputs where a pause is expensive.
    fn alignment(&self) -> Option<std::time::Duration> {
        None
    }

    /// Stops fetching `partition` until [`resume`](Self::resume) (a worker
    /// waits with partitions that finished replaying while others replay,
    /// and holds back partitions ahead in event time: [`crate::align`]).
    fn pause(&mut self, partition: Partition);

    /// Fetches `partition` again if it was paused.
    fn resume(&mut self, partition: Partition);
}

/// Where each worker starts: for every partition, the offset to read from
/// and the offset where replay ends and live input begins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Starts {
    /// `partition → (replay_from, next)`.
    pub partitions: BTreeMap<Partition, (u64, u64)>,
}

/// Opens the input of each worker.
pub trait Inputs: Send + Sync {
    /// The name that identifies the stream in the store (the Kafka topic).
    fn topic(&self) -> &str;

    /// Every partition of the stream.
    fn partitions(&self) -> Result<Vec<Partition>, String>;

    /// Opens the reader of `owned` partitions, each from its offset; it
    /// reports their lag to `metrics`.
    fn open(&self, owned: &BTreeMap<Partition, u64>, metrics: &SpeedMetrics) -> Result<Box<dyn Input>, String>;

    /// Whether stored offsets mean anything for this stream (not for an
    /// in-process bus that starts empty in every process).
    fn durable(&self) -> bool {
        true
    }
}

/// The partitions global worker `index` of `peers` owns: every `peers`-th.
pub fn owned_by(partitions: &[Partition], index: usize, peers: usize) -> Vec<Partition> {
    partitions.iter().copied().enumerate().filter(|(i, _)| i % peers.max(1) == index).map(|(_, p)| p).collect()
}
