//! The exchange by symbol, which leaves a batch that stays on its worker
//! as it is.
//!
//! Kafka keys trades by symbol, so a partition holds whole symbols, and a
//! worker that owns partitions mostly reads trades that it owns as well
//! (always, when the partition count is a multiple of the worker count and
//! the producer hashes keys like the route below). Timely's `Exchange`
//! copies every event into a buffer per target worker even then. This
//! distributor hands a batch whose events all stay on this worker to the
//! local channel whole (after what the split path buffered); a batch with
//! events for other workers goes to timely's own distributor, which
//! `Exchange` uses. Either way every trade of a symbol reaches the same
//! worker.

use crate::dataflow::Event;
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};
use timely::communication::Push;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::Message;
use timely::dataflow::channels::pact::DistributorPact;
use timely::dataflow::channels::pushers::exchange::{Distributor, DrainContainerDistributor};

/// The pact of worker `worker`: events by symbol, everything else to worker 0.
pub fn by_symbol(worker: usize) -> DistributorPact<impl FnOnce(usize) -> BySymbol> {
    DistributorPact(move |peers| BySymbol { worker, split: DrainContainerDistributor::new(route, peers) })
}

/// The hash that picks an event's worker: a trade's symbol's; 0 for everything else.
fn route(event: &Event) -> u64 {
    let Event::Trade { tick, .. } = event else {
        return 0;
    };
    let mut hasher = FxHasher::default();
    tick.symbol.hash(&mut hasher);
    hasher.finish()
}

/// The worker of `event` among `peers`, as timely's distributor picks it from [`route`].
fn target(event: &Event, peers: usize) -> usize {
    let (hash, peers) = (route(event), peers as u64);
    (if peers.is_power_of_two() { hash & (peers - 1) } else { hash % peers }) as usize
}

/// Timely's distributor of events by [`route`].
type Split = DrainContainerDistributor<CapacityContainerBuilder<Vec<Event>>, fn(&Event) -> u64>;

/// See the [module docs](self).
pub struct BySymbol {
    worker: usize,
    /// Timely's own distributor, for batches with events of other workers.
    split: Split,
}

impl Distributor<Vec<Event>> for BySymbol {
    fn partition<T: Clone, P: Push<Message<T, Vec<Event>>>>(
        &mut self,
        container: &mut Vec<Event>,
        time: &T,
        pushers: &mut [P],
    ) {
        let peers = pushers.len();
        if !container.iter().all(|event| target(event, peers) == self.worker) {
            self.split.partition(container, time, pushers);
            return;
        }
        // What was buffered goes first: this worker's events keep their order.
        self.split.flush(time, pushers);
        Message::push_at(container, time.clone(), &mut pushers[self.worker]);
        container.clear();
    }

    fn flush<T: Clone, P: Push<Message<T, Vec<Event>>>>(&mut self, time: &T, pushers: &mut [P]) {
        self.split.flush(time, pushers);
    }

    fn relax(&mut self) {
        self.split.relax();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::{Price, Size, Symbol, Tick};

    /// A channel that keeps what it is given.
    #[derive(Default)]
    struct Kept(Vec<Vec<Event>>);

    impl Push<Message<u64, Vec<Event>>> for Kept {
        fn push(&mut self, message: &mut Option<Message<u64, Vec<Event>>>) {
            if let Some(message) = message.take() {
                self.0.push(message.data);
            }
        }
    }

    fn trade(symbol: &str, seq: u64) -> Event {
        let symbol = Symbol::new(symbol).expect("symbol");
        let tick = Tick { symbol, ts: 1, price: Price(1), size: Size(1), seq };
        Event::Trade { tick, partition: 0, offset: seq }
    }

    fn seqs(batches: &[Vec<Event>]) -> Vec<u64> {
        let seq = |e: &Event| if let Event::Trade { tick, .. } = e { tick.seq } else { u64::MAX };
        batches.iter().flatten().map(seq).collect()
    }

    /// Two symbols that go to different workers of two.
    fn symbols_of_two_workers() -> [&'static str; 2] {
        let of = |s| target(&trade(s, 0), 2);
        let mine = ["A", "B", "C", "D", "E", "F"].into_iter().find(|s| of(s) == 0).expect("a symbol of worker 0");
        let theirs = ["A", "B", "C", "D", "E", "F"].into_iter().find(|s| of(s) == 1).expect("a symbol of worker 1");
        [mine, theirs]
    }

    #[test]
    fn a_batch_that_stays_is_passed_on_whole_after_what_was_buffered() {
        let [mine, theirs] = symbols_of_two_workers();
        let (mut distributor, mut pushers) = (by_symbol(0).0(2), [Kept::default(), Kept::default()]);
        let mut mixed = vec![trade(mine, 1), trade(theirs, 2)];
        distributor.partition(&mut mixed, &0u64, &mut pushers);
        assert!(mixed.is_empty() && pushers.iter().all(|p| p.0.is_empty()), "small batches are buffered");
        let mut local = vec![trade(mine, 3), trade(mine, 4)];
        distributor.partition(&mut local, &0u64, &mut pushers);
        assert!(local.is_empty());
        assert_eq!(pushers[0].0.len(), 2, "the buffered event, then the batch as it came");
        assert_eq!(seqs(&pushers[0].0), [1, 3, 4]);
        distributor.flush(&0u64, &mut pushers);
        assert_eq!(seqs(&pushers[1].0), [2]);
    }

    #[test]
    fn every_event_goes_where_exchange_would_send_it() {
        let [mine, theirs] = symbols_of_two_workers();
        for worker in 0..2 {
            let (mut distributor, mut pushers) = (by_symbol(worker).0(2), [Kept::default(), Kept::default()]);
            let mut batch = vec![trade(mine, 1), trade(theirs, 2), Event::Reject(reject()), trade(mine, 3)];
            distributor.partition(&mut batch, &0u64, &mut pushers);
            distributor.flush(&0u64, &mut pushers);
            assert_eq!(seqs(&pushers[0].0), [1, u64::MAX, 3], "worker {worker}: trades of worker 0 and the rest");
            assert_eq!(seqs(&pushers[1].0), [2], "worker {worker}");
        }
    }

    fn reject() -> tickflow_shared::codec::Reject {
        tickflow_shared::codec::Reject::new("ticks/0", 7, "not a trade".into(), b"x")
    }
}
