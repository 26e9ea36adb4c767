//! One module per subcommand: its arguments and how it runs.

pub mod archive;
pub mod backtest;
pub mod bars;
pub mod batch;
pub mod bot;
pub mod demo;
pub mod features;
pub mod generate;
pub mod grant;
pub mod kafka;
pub mod migrate;
pub mod produce;
pub mod serve;
pub mod speed;

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

/// A flag set by Ctrl-C or SIGTERM.
pub fn stop_on_signal() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let runtime = runtime()?;
    let signalled = runtime.block_on(async { shutdown_signal() })?;
    std::thread::spawn(move || {
        runtime.block_on(signalled);
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(stop)
}

/// A future that resolves at Ctrl-C or SIGTERM. The handlers are installed
/// when this is called (inside a runtime), so a signal that arrives before
/// the future is first polled is not lost and does not kill the process.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// `--metrics-listen ADDR`: serves `registry` at `http://ADDR/metrics` (and
/// `/healthz`) for the rest of the process; nothing without an address.
pub fn serve_metrics(
    listen: Option<std::net::SocketAddr>,
    registry: prometheus_client::registry::Registry,
) -> anyhow::Result<()> {
    if let Some(addr) = listen {
        tickflow_shared::telemetry::spawn(addr, std::sync::Arc::new(registry)).map_err(|error| {
            anyhow::anyhow!("--metrics-listen {addr}: cannot listen ({error}); choose a free address or port")
        })?;
    }
    Ok(())
}

use tickflow_shared::watermark::WatermarkConfig;

/// The flags of event time, for every command that follows the watermark.
#[derive(clap::Args)]
pub struct EventTime {
    /// The watermark trails the newest trade of a partition by this much.
    #[arg(long, default_value_t = Span(WatermarkConfig::default_max_out_of_orderness()))]
    max_out_of_orderness: Span,
    /// A partition silent this long stops holding the watermark back.
    #[arg(long, default_value_t = Span(WatermarkConfig::default_idle_timeout()))]
    idle_timeout: Span,
    /// A trade this late after its bar closed still updates it (later ones go to the late table);
    /// an archive day is sealed once the watermark is this far past its end.
    #[arg(long, default_value_t = Span(tickflow_speed::windows::WindowsConfig::default_allowed_lateness()))]
    pub allowed_lateness: Span,
}

impl EventTime {
    /// The watermark's parameters.
    pub fn watermark(&self) -> WatermarkConfig {
        WatermarkConfig { max_out_of_orderness: self.max_out_of_orderness.0, idle_timeout: self.idle_timeout.0 }
    }
}

/// A span of time as flags take it: `250ms`, `10s`, `1m`, `1h`, `7d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span(pub std::time::Duration);

impl std::str::FromStr for Span {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let bad = || format!("{text:?} is not a span of time; write a whole number and a unit: 250ms, 10s, 1m, 1h, 7d");
        let n: u64 = number.parse().map_err(|_| bad())?;
        let millis = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        Ok(Span(std::time::Duration::from_millis(n.checked_mul(millis).ok_or_else(bad)?)))
    }
}

impl std::fmt::Display for Span {
    /// In the largest unit that says it exactly, as the flag takes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let millis = self.0.as_millis();
        match [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")]
            .into_iter()
            .find(|(unit, _)| millis > 0 && millis.is_multiple_of(*unit))
        {
            Some((unit, name)) => write!(f, "{}{name}", millis / unit),
            None => write!(f, "{millis}ms"),
        }
    }
}

impl Span {
    /// The span in nanoseconds, as event-time arithmetic takes it.
    pub fn nanos(self) -> i64 {
        i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn spans_print_as_flags_take_them() {
        for text in ["250ms", "10s", "5m", "1h", "90s", "0ms"] {
            let span: Span = text.parse().expect("span");
            assert_eq!(span.to_string(), text);
        }
        assert_eq!("60s".parse::<Span>().expect("span").to_string(), "1m");
        assert!("5 minutes".parse::<Span>().is_err());
    }
}
