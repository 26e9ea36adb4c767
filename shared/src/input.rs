//! What a reader of the `ticks` stream reads: records of the partitions it
//! owns, each with its partition and offset, from Kafka or from the
//! in-process [`memory`] bus.
//!
//! The traits live here, not in a layer, because two layers read the same
//! stream: the speed layer's workers and the archiver of `ingest`. An
//! [`Inputs`] opens one [`Input`] per reader; a reader reports how far it
//! is behind each partition's end to a [`Positions`] (the speed layer's
//! lag metric; `()` when nobody asks).

pub mod memory;

use crate::codec::Reject;
use crate::watermark::Partition;
use crate::{Tick, wire};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The topic of trades unless configured.
pub const DEFAULT_TOPIC: &str = "ticks";

/// Partitions of the topic of trades when tickflow creates it, unless configured.
pub const DEFAULT_PARTITIONS: i32 = 6;

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

impl Payload {
    /// Decodes a message value of the wire format read at `offset`: a trade
    /// whose `seq` is the offset when the message carried none, or the
    /// reason it is not one with its first [`Reject::MAX_RAW`] bytes.
    ///
    /// ```
    /// use tickflow_shared::input::Payload;
    ///
    /// let value = br#"{"symbol":"AAPL","ts":1700000000000,"price":"189.5","volume":"10"}"#;
    /// let Payload::Trade(tick) = Payload::decode(value, 42) else { panic!("a trade") };
    /// assert_eq!((tick.symbol.as_str(), tick.seq), ("AAPL", 42));
    /// assert!(matches!(Payload::decode(b"not json", 43), Payload::Invalid { .. }));
    /// ```
    pub fn decode(value: &[u8], offset: u64) -> Self {
        match wire::decode(value) {
            Ok(mut decoded) => {
                if !decoded.has_seq {
                    decoded.tick.seq = offset;
                }
                Payload::Trade(decoded.tick)
            }
            Err(error) => {
                Payload::Invalid { reason: error.to_string(), raw: value[..value.len().min(Reject::MAX_RAW)].to_vec() }
            }
        }
    }
}

/// What polling found besides records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// Records appended.
    pub records: usize,
    /// The stream reported an error instead of data (its broker unreachable,
    /// say) and has delivered nothing since: the silence of its partitions
    /// meanwhile is the stream's, not the market's, and must not make them idle.
    pub unavailable: bool,
}

/// Why a stream could not be listed, opened or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The broker failed or could not be reached.
    #[error("{action} on the broker at {brokers} failed: {source}; check that it is up and that --brokers names it")]
    Broker {
        /// What was asked of the broker.
        action: String,
        /// The bootstrap servers.
        brokers: String,
        /// The client's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A reader asked for a partition the stream does not have.
    #[error("the stream {stream:?} has no partition {partition}; it has {partitions}")]
    NoPartition {
        /// The stream (topic).
        stream: String,
        /// The partition asked for.
        partition: Partition,
        /// How many it has.
        partitions: usize,
    },
    /// An offset too large for the broker's offsets.
    #[error("offset {offset} of partition {partition} is out of range; the stored offsets are corrupt")]
    Offset {
        /// The partition.
        partition: Partition,
        /// The offset.
        offset: u64,
    },
}

/// Where a reader reports, per partition, the end of its log and the next
/// offset it will hand out (a lag metric); the default forgets it.
pub trait Positions: Send + Sync {
    /// Partition `partition` ends at `end`; the reader is at `next`.
    fn set_position(&self, partition: Partition, end: u64, next: u64) {
        let _ = (partition, end, next);
    }
}

/// Nobody asks where the reader is.
impl Positions for () {}

/// The partitions one reader reads.
pub trait Input {
    /// Appends up to `max` available records to `out` without waiting long,
    /// and marks in `at_end` the partitions read to their current end.
    fn poll(&mut self, out: &mut Vec<Record>, max: usize, at_end: &mut Vec<Partition>) -> Result<Polled, InputError>;

    /// Whether a partition read to its end has ended for good, so that
    /// `stop_at_end` may stop there: true for Kafka (its current end is the
    /// end asked for), true for the in-process bus only once it is closed.
    fn complete(&self) -> bool {
        true
    }

    /// How far in event time a partition that is catching up may read ahead
    /// of the slowest before it is paused (the speed layer's alignment), or
    /// `None` to never pause for that: for inputs where a pause is expensive.
    fn alignment(&self) -> Option<std::time::Duration> {
        None
    }

    /// Stops fetching `partition` until [`resume`](Self::resume) (a worker
    /// waits with partitions that finished replaying while others replay,
    /// and holds back partitions ahead in event time).
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

/// Opens the input of each reader.
pub trait Inputs: Send + Sync {
    /// The name that identifies the stream in the store (the Kafka topic).
    fn topic(&self) -> &str;

    /// Every partition of the stream.
    fn partitions(&self) -> Result<Vec<Partition>, InputError>;

    /// Opens the reader of `owned` partitions, each from its offset; it
    /// reports where it is to `positions`.
    fn open(
        &self,
        owned: &BTreeMap<Partition, u64>,
        positions: Arc<dyn Positions>,
    ) -> Result<Box<dyn Input>, InputError>;

    /// Whether stored offsets mean anything for this stream (not for an
    /// in-process bus that starts empty in every process).
    fn durable(&self) -> bool {
        true
    }
}

/// The partitions global worker `index` of `peers` owns: every `peers`-th.
///
/// ```
/// use tickflow_shared::input::owned_by;
///
/// assert_eq!(owned_by(&[0, 1, 2, 3, 4], 1, 2), [1, 3]);
/// ```
pub fn owned_by(partitions: &[Partition], index: usize, peers: usize) -> Vec<Partition> {
    partitions.iter().copied().enumerate().filter(|(i, _)| i % peers.max(1) == index).map(|(_, p)| p).collect()
}
