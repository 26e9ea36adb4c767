//! The long-running mode of the batch layer (`tickflow batch --every 1h`):
//! run, sleep until the next slot, run again.
//!
//! Slots are `start + k · period`. Runs never overlap: a run that overruns
//! one or more slots makes the scheduler skip them (logged and counted as
//! `skipped`) and wait for the next free slot, instead of queueing a burst of
//! runs. A failed run is logged at ERROR and counted, and the schedule goes
//! on: the next run retries whatever failed, because nothing of a failed run
//! was published. Shutdown is checked between runs; a run in flight is
//! finished first, so a stop never leaves half a publish behind. The
//! scheduler itself, [`on_slots`], knows nothing of batch runs:
//! `tickflow features --every` runs on it too.

use crate::metrics::{BatchMetrics, Outcome};
use crate::{BatchError, BatchReport};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Runs `job` now and then every `period` until `shutdown` resolves; returns
/// the number of runs made. Every run is logged and recorded in `metrics`.
pub async fn every<F, Fut>(period: Duration, metrics: &BatchMetrics, shutdown: impl Future<Output = ()>, job: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<BatchReport, BatchError>>,
{
    let period = period.max(Duration::from_millis(1));
    let runs = on_slots(
        |slot| slot + period,
        shutdown,
        job,
        |result, took| log(metrics.record(&result, took), &result, took),
        |skipped, took| {
            metrics.count(Outcome::Skipped, skipped);
            tracing::warn!(
                skipped,
                took_seconds = took.as_secs_f64(),
                period_seconds = period.as_secs_f64(),
                "Skipped scheduled batch runs: the previous run was still in flight."
            );
        },
    )
    .await;
    tracing::info!(runs, "Batch schedule stopped.");
    runs
}

/// The scheduler under [`every`], for any job (the feature export uses it
/// too): runs `job` now, then at each slot `next` gives after the previous
/// slot, until `shutdown` resolves; returns the number of runs made.
///
/// Runs never overlap: slots that pass while a run is in flight are skipped
/// and reported to `skipped` with the run's duration. `done` gets every
/// run's result and duration; a failed run is just a result, so the schedule
/// goes on.
pub async fn on_slots<T, F, Fut>(
    mut next: impl FnMut(Instant) -> Instant,
    shutdown: impl Future<Output = ()>,
    mut job: F,
    mut done: impl FnMut(T, Duration),
    mut skipped: impl FnMut(u64, Duration),
) -> u64
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let mut slot = Instant::now();
    let mut runs = 0;
    loop {
        let started = Instant::now();
        let result = job().await;
        let took = started.elapsed();
        runs += 1;
        done(result, took);
        slot = next(slot);
        let mut missed = 0;
        while slot <= Instant::now() {
            slot = next(slot);
            missed += 1;
        }
        if missed > 0 {
            skipped(missed, took);
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = tokio::time::sleep_until(slot) => {}
        }
    }
    runs
}

fn log(outcome: Outcome, result: &Result<BatchReport, BatchError>, took: Duration) {
    let seconds = took.as_secs_f64();
    match result {
        Ok(BatchReport { runs, .. }) if !runs.is_empty() => {
            for run in runs {
                tracing::info!(
                    outcome = outcome.as_str(),
                    version = run.version,
                    days = run.days,
                    trades = run.trades,
                    bars = run.bars,
                    rejects = run.rejects,
                    seconds,
                    "Batch run published."
                );
            }
        }
        Ok(report) => tracing::info!(
            outcome = outcome.as_str(),
            unsealed = report.unsealed.len(),
            seconds,
            "Batch run found no changed archive file; nothing to publish."
        ),
        Err(error) => tracing::error!(
            outcome = outcome.as_str(),
            %error,
            seconds,
            "Batch run failed; nothing was published, the next scheduled run tries again."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn outcomes(metrics: &BatchMetrics, outcome: Outcome) -> u64 {
        metrics.runs.get_or_create(&[("outcome", outcome.as_str())]).get()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_run_does_not_stop_the_schedule() {
        let metrics = BatchMetrics::default();
        let calls = Cell::new(0u32);
        let runs =
            every(Duration::from_secs(3600), &metrics, tokio::time::sleep(Duration::from_secs(3 * 3600 + 1)), || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n == 1 {
                        Err(BatchError::Dataflow(crate::dataflow::DataflowError::Worker {
                            reason: "worker died".into(),
                        }))
                    } else {
                        Ok(BatchReport::default())
                    }
                }
            })
            .await;
        assert_eq!(runs, 4, "runs at 0 h, 1 h, 2 h and 3 h");
        assert_eq!(outcomes(&metrics, Outcome::Failed), 1);
        assert_eq!(outcomes(&metrics, Outcome::Unchanged), 3);
        assert_eq!(outcomes(&metrics, Outcome::Skipped), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_overruns_skips_the_slots_it_covered() {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = BatchMetrics::register(&mut registry);
        let calls = Cell::new(0u32);
        let started = Instant::now();
        let mut starts = Vec::new();
        let runs = every(Duration::from_secs(60), &metrics, tokio::time::sleep(Duration::from_secs(299)), || {
            calls.set(calls.get() + 1);
            starts.push(started.elapsed().as_secs());
            let long = calls.get() == 1;
            async move {
                if long {
                    // In flight through the slots at 60 s and 120 s.
                    tokio::time::sleep(Duration::from_secs(150)).await;
                }
                Ok(BatchReport::default())
            }
        })
        .await;
        assert_eq!(starts, [0, 180, 240], "the slots at 60 s and 120 s fell in the first run");
        assert_eq!(runs, 3);
        assert_eq!(outcomes(&metrics, Outcome::Skipped), 2);
        let text = tickflow_shared::telemetry::encode(&registry);
        assert!(text.contains("tickflow_batch_run_duration_seconds_count 3"), "{text}");
    }
}
