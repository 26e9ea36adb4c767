//! What the Kafka archiver waits out instead of exiting: a broker it cannot
//! reach and a full disk.
//!
//! Both are transient and need no restart. The broker: librdkafka reconnects
//! by itself; the archiver keeps polling and retries a commit until the
//! broker answers. The disk: when a write fails with "no space left" (or a
//! quota), the open roll is dropped, nothing is committed, and the archiver
//! reads again from its committed offsets after a backoff, until a roll is
//! durable again. Each outage is logged once when it begins and once when it
//! ends, with how long it lasted and how many times it was retried.

use super::ArchiveError;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest wait between two attempts to write a roll on a full disk.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Whether the error, or one it was caused by, says the disk (or the
/// user's quota) is full.
pub fn is_disk_full(error: &ArchiveError) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// One kind of outage: when it began and how often it was retried.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<(Instant, u32)>,
}

impl Outage {
    /// Notes a failure; says whether it begins an outage (to be logged).
    pub fn failed(&mut self) -> bool {
        match &mut self.since {
            Some((_, retries)) => {
                *retries += 1;
                false
            }
            None => {
                self.since = Some((Instant::now(), 0));
                true
            }
        }
    }

    /// Whether an outage is going on.
    pub fn is_ongoing(&self) -> bool {
        self.since.is_some()
    }

    /// Notes a success; if it ends an outage, returns how long it lasted
    /// and how many times it was retried.
    pub fn ended(&mut self) -> Option<(Duration, u32)> {
        self.since.take().map(|(since, retries)| (since.elapsed(), retries))
    }

    /// The wait before the next attempt: 1 s, doubled per retry, at most [`MAX_BACKOFF`].
    pub fn backoff(&self) -> Duration {
        let retries = self.since.map_or(0, |(_, retries)| retries.min(4));
        (Duration::from_secs(1) * 2u32.pow(retries)).min(MAX_BACKOFF)
    }
}

/// Sleeps for `wait`, waking early when `stop` is set; says whether it was.
pub fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
    }
    stop.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_found_through_the_parquet_and_codec_errors() {
        let full = || std::io::Error::from(ErrorKind::StorageFull);
        let parquet = parquet::errors::ParquetError::External(Box::new(full()));
        let codec = tickflow_shared::codec::CodecError::Parquet { path: "a.parquet".into(), source: parquet };
        assert!(is_disk_full(&ArchiveError::Codec(codec)));
        assert!(is_disk_full(&ArchiveError::Io { path: "d".into(), source: full() }));
        let denied = std::io::Error::from(ErrorKind::PermissionDenied);
        assert!(!is_disk_full(&ArchiveError::Io { path: "d".into(), source: denied }));
    }

    #[test]
    fn an_outage_is_reported_once_and_backs_off() {
        let mut outage = Outage::default();
        assert_eq!(outage.backoff(), Duration::from_secs(1));
        assert!(outage.failed());
        assert!(outage.is_ongoing());
        assert!(!outage.failed());
        assert!(!outage.failed());
        assert_eq!(outage.backoff(), Duration::from_secs(4));
        for _ in 0..10 {
            outage.failed();
        }
        assert_eq!(outage.backoff(), MAX_BACKOFF);
        let (_, retries) = outage.ended().expect("an outage");
        assert_eq!(retries, 12);
        assert_eq!(outage.ended(), None);
        assert!(!outage.is_ongoing());
    }
}
