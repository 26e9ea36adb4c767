//! The simulator as a live stream into the in-process bus (`tickflow speed
//! --simulate`, `tickflow demo`): trades stamped with the wall clock, at a
//! steady rate.

use super::Market;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tickflow_shared::input::memory::MemoryBus;
use tickflow_shared::time::now_ns;

/// Live trades per second of the simulator unless configured.
pub const DEFAULT_RATE: f64 = 1000.0;

/// How long the feed sleeps between two batches of due trades.
const TICK: Duration = Duration::from_millis(5);

/// Why the feed did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// The rate is not a positive number.
    #[error("the simulator's rate {0} is not a positive number of trades per second; use --rate 300")]
    Rate(f64),
    /// The thread could not be started.
    #[error("cannot start the simulator thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Feeds `bus` from `market` at `rate` trades/s on a thread named
/// `simulator`, each trade stamped with the wall clock, until `limit` trades
/// are sent or `stop` is set; then closes the bus.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::AtomicBool;
/// use tickflow_ingest::simulator::{Market, SimConfig, feed};
/// use tickflow_shared::input::memory::MemoryBus;
///
/// let bus = MemoryBus::new(2);
/// let market = Market::new(&SimConfig { symbols: 3, ..SimConfig::default() }).unwrap();
/// let stop = Arc::new(AtomicBool::new(false));
/// feed(bus.clone(), market, 100_000.0, 50, stop).unwrap().join().unwrap();
/// assert_eq!(bus.len(), 50);
/// ```
pub fn feed(
    bus: MemoryBus,
    mut market: Market,
    rate: f64,
    limit: u64,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, FeedError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(FeedError::Rate(rate));
    }
    Ok(std::thread::Builder::new().name("simulator".into()).spawn(move || {
        let started = Instant::now();
        let mut sent = 0u64;
        while sent < limit && !stop.load(Ordering::Relaxed) {
            let due = ((started.elapsed().as_secs_f64() * rate) as u64).min(limit);
            let now = now_ns();
            bus.publish((sent..due).map(|_| market.next_trade(now)));
            sent = due;
            std::thread::sleep(TICK);
        }
        bus.close();
    })?)
}
