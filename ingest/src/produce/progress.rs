//! A progress line on a terminal every few seconds.

use crate::producer::TickProducer;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the line is shown.
const EVERY: Duration = Duration::from_secs(3);

/// Shows the producer's progress on stderr when that is a terminal.
pub(super) struct Progress {
    started: Instant,
    last: Instant,
    terminal: bool,
}

impl Progress {
    pub(super) fn new() -> Self {
        Self { started: Instant::now(), last: Instant::now(), terminal: std::io::stderr().is_terminal() }
    }

    /// Time since the run started.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(super) fn show(&mut self, producer: &TickProducer) {
        if !self.terminal || self.last.elapsed() < EVERY {
            return;
        }
        self.last = Instant::now();
        let metrics = producer.metrics();
        eprintln!(
            "produced {} trades ({:.0}/s), delivered {}, failed {}",
            producer.sent(),
            producer.sent() as f64 / self.started.elapsed().as_secs_f64(),
            metrics.delivered.get(),
            metrics.delivery_errors.get()
        );
    }
}
