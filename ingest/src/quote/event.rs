//! What the quote source tells its caller: trades, rejects, failures, and
//! the counts of each.

use super::Failure;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tickflow_shared::codec::Reject;
use tickflow_shared::{Symbol, Tick};

/// What one poll brought that the caller may want to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteEvent {
    /// A new quote as a trade; `seq` is 0 (the producer numbers trades).
    Trade(Tick),
    /// An answer that is not a valid quote; counted, and sent by `produce`
    /// to the dead-letter topic, never as a trade.
    Reject(QuoteReject),
    /// A request that brought no answer; the source retries it.
    Failed(RequestFailure),
}

/// An answer that is not a valid quote, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quote of {symbol}: {reason}")]
pub struct QuoteReject {
    /// The symbol polled.
    pub symbol: Symbol,
    /// What was wrong with the answer (token scrubbed).
    pub reason: String,
    /// The URL asked, its token masked.
    pub url: String,
    /// Which of this symbol's requests it answered, from 1.
    pub request: u64,
    /// The answer, token scrubbed, cut to [`Reject::MAX_RAW`] bytes.
    pub raw: String,
}

impl QuoteReject {
    /// The reject as every source reports one: the URL asked as its
    /// source, the symbol's request number as its position.
    pub fn to_reject(&self) -> Reject {
        Reject::new(&self.url, self.request, self.reason.clone(), self.raw.as_bytes())
    }
}

/// A request that failed, and when it is tried again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quote of {symbol} from {url}: {failure}; retrying in {retry_in:.1?}")]
pub struct RequestFailure {
    /// The symbol polled.
    pub symbol: Symbol,
    /// The request URL with the token shown as `***`.
    pub url: String,
    /// What went wrong.
    pub failure: Failure,
    /// The wait before this symbol's next request.
    pub retry_in: Duration,
}

/// Counters of the source, shared with its tasks.
#[derive(Debug, Default)]
pub struct QuoteStats {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Quotes that became trades.
    pub trades: AtomicU64,
    /// Answers that repeated a quote (or reject) already seen, or were older.
    pub repeated: AtomicU64,
    /// Answers that were not valid quotes.
    pub rejects: AtomicU64,
    /// Requests that failed (connection, timeout, non-2xx status).
    pub failures: AtomicU64,
}
