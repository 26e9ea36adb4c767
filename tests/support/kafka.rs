//! A real Kafka-protocol broker per test: tansu, started by the same launcher
//! the benchmarks use (free loopback port, storage of its own, killed on
//! drop, restarted in place for the fault tests). A missing tansu fails the test and says how to install it: Kafka
//! tests never skip.

pub use tickflow_bench::tansu::Storage;

/// A running broker.
pub struct Broker(tickflow_bench::tansu::Broker);

impl Broker {
    /// Starts a broker with SQLite storage (consumer groups behave as in production).
    pub fn start() -> Broker {
        Broker::with(Storage::Sqlite)
    }

    /// Starts a broker with the given storage, or fails the test saying why.
    pub fn with(storage: Storage) -> Broker {
        Broker(
            tickflow_bench::tansu::Broker::start(storage).unwrap_or_else(|e| panic!("Kafka tests need a broker: {e}")),
        )
    }

    /// Kills the broker, waits `down` and starts it again on the same port
    /// and storage, or fails the test saying why.
    pub fn restart(&mut self, down: std::time::Duration) {
        self.0.restart(down).unwrap_or_else(|e| panic!("the broker did not come back: {e}"));
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.0.bootstrap()
    }
}
