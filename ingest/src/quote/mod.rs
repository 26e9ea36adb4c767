//! A live source that polls a Finnhub-style quote API and turns each new
//! quote into a trade.
//!
//! For each symbol the source requests `GET {url}/quote?symbol=S&token=T`
//! every poll interval and reads the answer (`{"c":167.41,...,"t":1381132800}`)
//! as a [`Tick`](tickflow_shared::Tick): price `c` parsed exactly from the number's text (never
//! through a float), event time `t` in seconds, size `v` when the answer has
//! one and [`DEFAULT_SIZE`] (1) when not (Finnhub's quotes carry no size, so a
//! bar's volume then counts quotes). A quote already produced (same `t` and
//! `c`) or older than one produced is skipped, so a quote is one trade however
//! often it is polled; this memory lives as long as the source.
//!
//! The design decision that matters: **every symbol is its own task** with
//! its own schedule, so a slow, failing or unknown symbol never delays the
//! others. A task retries connection errors, timeouts, 5xx and 429 with
//! exponential backoff and jitter ([`Backoff`]); a `Retry-After` is honoured
//! and, as a rate limit belongs to the token, pauses every symbol. Other 4xx
//! answers (a bad token, an unknown symbol) are not fixed by retrying soon:
//! they are reported with what to do, and the symbol is asked again after
//! [`QuoteConfig::refused_retry`]. An answer that is not a valid quote
//! (malformed JSON, no or an invalid `c`, `c` = 0, which is Finnhub's answer
//! for unknown symbols) is a [`QuoteReject`] with its reason. Each outcome
//! reaches the caller as a [`QuoteEvent`] and is counted in [`QuoteStats`];
//! failures and the first rejects are also logged, failures only when a
//! symbol's kind of failure changes.
//!
//! The API token is a secret: it is read from [`TOKEN_ENV`], is a [`Token`]
//! whose `Debug` shows `***`, and is scrubbed from every URL, error and
//! answer text the source shows. Redirects are not followed.
//!
//! Start reading at [`QuoteConfig::build`] and [`QuoteSource::next`].

mod event;
mod http;
mod parse;

pub use event::{QuoteEvent, QuoteReject, QuoteStats, RequestFailure};
pub use http::Failure;
pub use parse::DEFAULT_SIZE;

use http::Fetcher;
use parse::Seen;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tickflow_shared::Symbol;
use tickflow_shared::codec::Reject;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The environment variable that holds the API token.
pub const TOKEN_ENV: &str = "TICKFLOW_QUOTE_API_TOKEN";

/// How many rejects are logged; the rest are only counted.
const LOGGED_REJECTS: u64 = 10;

/// An API token. It is shown nowhere: `Debug` prints `Token(***)`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// A token from its text, trimmed; `None` when that is empty.
    pub fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| Self(text.to_owned()))
    }

    /// The token in [`TOKEN_ENV`], if it is set and not empty.
    pub fn from_env() -> Option<Self> {
        std::env::var(TOKEN_ENV).ok().and_then(|text| Self::new(&text))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Exponential backoff with jitter: the n-th retry in a row waits a random
/// time between half and all of `initial × 2^n`, at most `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// 1 s doubling up to 1 min.
    pub const fn new() -> Self {
        Self { initial: Duration::from_secs(1), max: Duration::from_secs(60) }
    }

    /// The delay before retry number `attempt` (0 for the first), in whole milliseconds.
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self.initial.saturating_mul(2u32.saturating_pow(attempt.min(30))).min(self.max);
        let random = RandomState::new().hash_one(std::time::Instant::now()) as f64 / u64::MAX as f64;
        let delay = full / 2 + full.mul_f64(random / 2.0);
        Duration::from_millis(delay.as_millis() as u64)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// What to poll and how; [`QuoteConfig::build`] starts the source.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct QuoteConfig {
    /// The API's base URL, like `https://finnhub.io/api/v1`; quotes are read
    /// from `{url}/quote?symbol=S&token=T`.
    pub url: String,
    /// The symbols to poll, as the API spells them.
    pub symbols: Vec<Symbol>,
    /// The API token; without one, requests go out without `token`.
    pub token: Option<Token>,
    /// How often each symbol is polled.
    pub poll_interval: Duration,
    /// The longest one request may take, connecting and reading included.
    pub timeout: Duration,
    /// Retries after connection errors, timeouts, 5xx and 429 without `Retry-After`.
    pub backoff: Backoff,
    /// How long a symbol waits after an answer that retrying soon will not
    /// fix: 4xx other than 429 (a bad token, an unknown symbol), 3xx.
    pub refused_retry: Duration,
}

impl QuoteConfig {
    /// The default poll interval: 1 s.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
    /// The default request timeout: 10 s.
    pub const TIMEOUT: Duration = Duration::from_secs(10);
    /// The default wait after a refused request: 5 min.
    pub const REFUSED_RETRY: Duration = Duration::from_secs(300);

    /// Polls `symbols` at `url` with the defaults, without a token.
    pub fn new(url: &str, symbols: Vec<Symbol>) -> Self {
        Self {
            url: url.to_owned(),
            symbols,
            token: None,
            poll_interval: Self::POLL_INTERVAL,
            timeout: Self::TIMEOUT,
            backoff: Backoff::new(),
            refused_retry: Self::REFUSED_RETRY,
        }
    }

    /// Starts one polling task per symbol on the current tokio runtime.
    /// Without a token it warns once (without saying more) and goes on.
    pub fn build(self) -> Result<QuoteSource, QuoteError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| QuoteError::NoRuntime)?;
        if self.symbols.is_empty() {
            return Err(QuoteError::NoSymbols);
        }
        if self.token.is_none() {
            tracing::warn!(variable = TOKEN_ENV, "No quote API token is set; requesting quotes without one.");
        }
        let stats = Arc::new(QuoteStats::default());
        let shared = Arc::new(Shared {
            fetcher: Fetcher::new(&self.url, self.token, self.timeout)?,
            poll_interval: self.poll_interval,
            backoff: self.backoff,
            refused_retry: self.refused_retry,
            stats: stats.clone(),
            epoch: Instant::now(),
            paused_until_ms: AtomicU64::new(0),
        });
        let (sender, events) = mpsc::channel(256);
        let mut tasks = JoinSet::new();
        let count = self.symbols.len() as u32;
        for (i, symbol) in self.symbols.into_iter().enumerate() {
            let first = shared.epoch + self.poll_interval * i as u32 / count;
            tasks.spawn_on(poll(shared.clone(), symbol, first, sender.clone()), &runtime);
        }
        Ok(QuoteSource { events, _tasks: tasks, stats })
    }
}

/// Why the quote source could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// The base URL is not usable (shown without query or credentials).
    #[error("quote API URL {url:?}: {reason}")]
    Url {
        /// The URL as given, without what may be secret.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No symbol to poll.
    #[error("the quote API source needs at least one symbol")]
    NoSymbols,
    /// The HTTP client could not be built (TLS set-up).
    #[error("quote API client: {0}")]
    Client(String),
    /// [`QuoteConfig::build`] was called outside a tokio runtime.
    #[error("the quote API source must be started inside a tokio runtime")]
    NoRuntime,
}

/// The running source: its tasks stop when it is dropped.
pub struct QuoteSource {
    events: mpsc::Receiver<QuoteEvent>,
    _tasks: JoinSet<()>,
    stats: Arc<QuoteStats>,
}

impl QuoteSource {
    /// The next trade, reject or failure, in the order they happened.
    /// Cancel-safe: it can be raced against a timeout or a shutdown signal.
    pub async fn next(&mut self) -> Option<QuoteEvent> {
        self.events.recv().await
    }

    /// The counters so far.
    pub fn stats(&self) -> &QuoteStats {
        &self.stats
    }
}

/// What every symbol's task shares.
struct Shared {
    fetcher: Fetcher,
    poll_interval: Duration,
    backoff: Backoff,
    refused_retry: Duration,
    stats: Arc<QuoteStats>,
    /// The origin of `paused_until_ms`.
    epoch: Instant,
    /// No request before this (ms after `epoch`): a `Retry-After` pauses all.
    paused_until_ms: AtomicU64,
}

impl Shared {
    fn pause_until(&self, until: Instant) {
        let ms = until.saturating_duration_since(self.epoch).as_millis() as u64;
        self.paused_until_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn paused_until(&self) -> Instant {
        self.epoch + Duration::from_millis(self.paused_until_ms.load(Ordering::Relaxed))
    }
}

/// One symbol's task: poll, read, tell; until the source is dropped.
async fn poll(shared: Arc<Shared>, symbol: Symbol, mut due: Instant, events: mpsc::Sender<QuoteEvent>) {
    let stats = &shared.stats;
    let mut seen = Seen::default();
    let mut last_reject: Option<String> = None;
    let mut failing: Option<String> = None;
    let mut attempt = 0u32;
    let mut requested = 0u64;
    loop {
        tokio::time::sleep_until(due.max(shared.paused_until())).await;
        let started = Instant::now();
        stats.requests.fetch_add(1, Ordering::Relaxed);
        requested += 1;
        let event = match shared.fetcher.fetch(&symbol).await {
            Ok(body) => {
                if failing.take().is_some() {
                    tracing::info!(%symbol, "The quote API answers again.");
                }
                attempt = 0;
                due = (started + shared.poll_interval).max(Instant::now());
                match parse::quote(&symbol, &body) {
                    Ok(tick) if seen.is_new(&tick) => {
                        last_reject = None;
                        stats.trades.fetch_add(1, Ordering::Relaxed);
                        Some(QuoteEvent::Trade(tick))
                    }
                    Err(reason) if last_reject.as_ref() != Some(&reason) => {
                        last_reject = Some(reason.clone());
                        let raw = &body[..body.len().min(Reject::MAX_RAW)];
                        let reject = QuoteReject {
                            symbol: symbol.clone(),
                            reason: shared.fetcher.redact(&reason),
                            url: shared.fetcher.url(&symbol, false).into(),
                            request: requested,
                            raw: shared.fetcher.redact(&String::from_utf8_lossy(raw)),
                        };
                        if stats.rejects.fetch_add(1, Ordering::Relaxed) < LOGGED_REJECTS {
                            tracing::warn!(%symbol, reason = %reject.reason, "Quote rejected.");
                        }
                        Some(QuoteEvent::Reject(reject))
                    }
                    _ => {
                        stats.repeated.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
            Err(failure) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                let retry_in = match &failure {
                    Failure::Status { retry_after: Some(wait), .. } if failure.is_transient() => {
                        shared.pause_until(Instant::now() + *wait);
                        *wait
                    }
                    _ if failure.is_transient() => {
                        attempt = attempt.saturating_add(1);
                        shared.backoff.delay(attempt - 1)
                    }
                    _ => shared.refused_retry,
                };
                due = Instant::now() + retry_in;
                let failed = RequestFailure {
                    symbol: symbol.clone(),
                    url: shared.fetcher.url(&symbol, false).into(),
                    failure,
                    retry_in,
                };
                if failing.as_ref() != Some(&failed.failure.class()) {
                    failing = Some(failed.failure.class());
                    let (symbol, url, retry_in) = (&failed.symbol, &failed.url, failed.retry_in);
                    match failed.failure {
                        Failure::Status { code: 401 | 403, .. } => {
                            tracing::error!(%symbol, %url, ?retry_in, "Quote request refused: {}.", failed.failure);
                        }
                        _ => tracing::warn!(%symbol, %url, ?retry_in, "Quote request failed: {}.", failed.failure),
                    }
                }
                Some(QuoteEvent::Failed(failed))
            }
        };
        if let Some(event) = event
            && events.send(event).await.is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_shows_nowhere_in_debug_output() {
        let mut config = QuoteConfig::new("https://finnhub.io/api/v1", vec![Symbol::new("AAPL").unwrap()]);
        config.token = Token::new(" s3cret-token\n");
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("s3cret") && shown.contains("Token(***)"), "{shown}");
        assert_eq!(config.token.unwrap().expose(), "s3cret-token", "trimmed");
        assert!(Token::new("  ").is_none());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let backoff = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        for (attempt, full) in [(0, 100), (1, 200), (2, 400), (3, 800), (4, 1000), (40, 1000)] {
            let delay = backoff.delay(attempt);
            let full = Duration::from_millis(full);
            assert!(full / 2 <= delay && delay <= full, "attempt {attempt}: {delay:?}");
        }
    }

    #[tokio::test]
    async fn a_source_needs_symbols_and_a_runtime() {
        let config = QuoteConfig::new("http://127.0.0.1:9", Vec::new());
        assert!(matches!(config.clone().build(), Err(QuoteError::NoSymbols)));
        let outside = std::thread::spawn(move || config.build().err()).join().unwrap();
        assert!(matches!(outside, Some(QuoteError::NoRuntime)));
    }
}
