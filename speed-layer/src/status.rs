//! A status line in the log, every few seconds, from the job's metrics:
//! what an operator watching `tickflow speed` wants to see move.

use crate::metrics::SpeedMetrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tickflow_shared::time::format_rfc3339;

/// How often the status line is logged unless configured.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(5);

/// Logs one status line (rate, lag, watermark, bars, late, rejects) every
/// `every` on a thread of its own until `stop`; nothing if `every` is zero.
pub fn spawn(metrics: SpeedMetrics, every: Duration, stop: Arc<AtomicBool>) {
    if every.is_zero() {
        return;
    }
    std::thread::spawn(move || {
        let mut last = (Instant::now(), metrics.trades.get());
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            let (now, trades) = (Instant::now(), metrics.trades.get());
            let rate = (trades - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
            last = (now, trades);
            let watermark = metrics.watermark.get();
            let watermark = (watermark > 0.0).then(|| format_rfc3339((watermark * 1e9) as i64));
            tracing::info!(
                trades_per_s = rate.round(),
                lag = metrics.total_lag(),
                watermark = watermark.as_deref().unwrap_or("none"),
                delay_s = format!("{:.1}", metrics.watermark_delay.get()),
                bars = metrics.bars.get(),
                late = metrics.late.get(),
                rejects = metrics.rejects.get(),
                "Speed status."
            );
        }
    });
}
