//! One request: the URL with the token, the answer's status read as "retry
//! soon", "retry much later" or "a body to parse", and every text that leaves
//! this module scrubbed of the token.

use super::{QuoteError, Token};
use reqwest::{StatusCode, Url, header};
use std::fmt;
use std::time::Duration;
use tickflow_shared::Symbol;

/// The largest answer read; a quote is about 100 bytes.
const MAX_BODY: usize = 64 * 1024;
/// How much of an error answer is quoted in messages.
const EXCERPT: usize = 200;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why a request brought no quote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// No complete answer within the request timeout.
    Timeout(Duration),
    /// The connection could not be made or broke (the text is redacted).
    Connection(String),
    /// The API answered with a status other than 2xx.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The `Retry-After` delay, when the answer had one in seconds.
        retry_after: Option<Duration>,
        /// The start of the answer's body (redacted).
        body: String,
    },
}

impl Failure {
    /// Whether retrying soon may help: connection problems, timeouts, 5xx and 429.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Timeout(_) | Failure::Connection(_) => true,
            Failure::Status { code, .. } => *code == 429 || *code >= 500,
        }
    }

    /// A short key telling kinds of failure apart, for logging changes only.
    pub(crate) fn class(&self) -> String {
        match self {
            Failure::Timeout(_) => "timeout".into(),
            Failure::Connection(_) => "connection".into(),
            Failure::Status { code, .. } => code.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (code, body) = match self {
            Failure::Timeout(limit) => return write!(f, "no answer within the request timeout of {limit:?}"),
            Failure::Connection(error) => return write!(f, "connection failed: {error}"),
            Failure::Status { code, body, .. } => (*code, body),
        };
        let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        write!(f, "HTTP {code} {reason}: ")?;
        match code {
            401 | 403 => write!(f, "the API refused the token; set {} to a valid API key", super::TOKEN_ENV)?,
            404 => f.write_str(
                "no such endpoint or symbol; check that --quote-api is the API's base URL \
                 (like https://finnhub.io/api/v1) and that the symbol exists",
            )?,
            429 => f.write_str("rate limited; poll fewer symbols or use a longer --poll-interval")?,
            300..=399 => f.write_str("the API redirects; give the URL it redirects to as --quote-api")?,
            500.. => f.write_str("the API failed")?,
            _ => f.write_str("the API rejected the request")?,
        }
        if !body.is_empty() {
            write!(f, " (answer: {body:?})")?;
        }
        Ok(())
    }
}

/// The HTTP side of the source: one client, the base URL, the token.
pub(crate) struct Fetcher {
    client: reqwest::Client,
    base: Url,
    token: Option<Token>,
    timeout: Duration,
    /// The token as it appears in a URL query, when that differs from the token.
    encoded_token: Option<String>,
}

impl Fetcher {
    /// A client for `{base}/quote`; redirects are not followed (a redirect
    /// would carry the token to another URL) and the connection is not logged.
    pub(crate) fn new(base: &str, token: Option<Token>, timeout: Duration) -> Result<Self, QuoteError> {
        let bad = |reason: String| QuoteError::Url { url: shown(base), reason };
        let mut url = Url::parse(base).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(bad("it is not an http(s) URL".into()));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(bad("give the base URL only, without query, fragment or credentials".into()));
        }
        url.path_segments_mut().map_err(|()| bad("it has no path".into()))?.pop_if_empty().push("quote");
        let encoded_token = token.as_ref().map(|t| {
            let mut probe = url.clone();
            probe.query_pairs_mut().append_pair("token", t.expose());
            probe.query().unwrap_or_default().trim_start_matches("token=").to_owned()
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| QuoteError::Client(chain(&e.without_url())))?;
        Ok(Self { client, base: url, token, timeout, encoded_token })
    }

    /// The request URL for `symbol`; `token` false shows `token=***` instead.
    pub(crate) fn url(&self, symbol: &Symbol, token: bool) -> Url {
        let mut url = self.base.clone();
        let mut query = url.query_pairs_mut();
        query.append_pair("symbol", symbol.as_str());
        if let Some(t) = &self.token {
            query.append_pair("token", if token { t.expose() } else { "***" });
        }
        drop(query);
        url
    }

    /// GETs the quote of `symbol`: the body of a 2xx answer, or why there is none.
    pub(crate) async fn fetch(&self, symbol: &Symbol) -> Result<Vec<u8>, Failure> {
        let request = self.client.get(self.url(symbol, true)).header(header::ACCEPT, "application/json");
        let mut response = request.send().await.map_err(|e| self.failure(e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        let limit = if status.is_success() { MAX_BODY } else { EXCERPT };
        let mut body = Vec::new();
        while body.len() < limit {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(_) if !status.is_success() => break,
                Err(e) => return Err(self.failure(e)),
            }
        }
        if status.is_success() {
            return Ok(body);
        }
        body.truncate(EXCERPT);
        let body = self.redact(String::from_utf8_lossy(&body).trim());
        Err(Failure::Status { code: status.as_u16(), retry_after, body })
    }

    fn failure(&self, error: reqwest::Error) -> Failure {
        if error.is_timeout() {
            Failure::Timeout(self.timeout)
        } else {
            Failure::Connection(self.redact(&chain(&error.without_url())))
        }
    }

    /// `text` with every occurrence of the token, plain or URL-encoded, replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in [self.token.as_ref().map(Token::expose), self.encoded_token.as_deref()].into_iter().flatten() {
            if !secret.is_empty() {
                text = text.replace(secret, "***");
            }
        }
        text
    }
}

/// A URL as given, without what may be secret: query, fragment, credentials.
fn shown(url: &str) -> String {
    let mut shown = url.split(['?', '#']).next().unwrap_or_default().to_owned();
    if shown.len() < url.len() {
        shown.push_str("?…");
    }
    if let (Some(start), Some(at)) = (shown.find("://"), shown.rfind('@'))
        && at > start
    {
        shown.replace_range(start + 3..at, "…");
    }
    shown
}

/// An error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher(base: &str, token: &str) -> Fetcher {
        Fetcher::new(base, Token::new(token), Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn the_url_carries_the_symbol_and_the_token_and_shows_neither_token() {
        let f = fetcher("https://finnhub.io/api/v1/", "s3cr&t");
        let symbol = Symbol::new("BRK.B").unwrap();
        assert_eq!(f.url(&symbol, true).as_str(), "https://finnhub.io/api/v1/quote?symbol=BRK.B&token=s3cr%26t");
        assert_eq!(f.url(&symbol, false).as_str(), "https://finnhub.io/api/v1/quote?symbol=BRK.B&token=***");
        assert_eq!(f.redact("a s3cr&t b s3cr%26t c"), "a *** b *** c");
        let none = Fetcher::new("http://127.0.0.1:1", None, Duration::from_secs(1)).unwrap();
        assert_eq!(none.url(&symbol, true).as_str(), "http://127.0.0.1:1/quote?symbol=BRK.B");
    }

    #[test]
    fn only_base_urls_are_accepted() {
        for (bad, shown) in [
            ("finnhub.io", "finnhub.io"),
            ("ftp://x/", "ftp://x/"),
            ("https://x/?token=abc", "https://x/?…"),
            ("https://user:pw@x/", "https://…@x/"),
        ] {
            let error = Fetcher::new(bad, None, Duration::from_secs(1)).err().unwrap().to_string();
            assert!(
                error.contains(&format!("{shown:?}")) && !error.contains("abc") && !error.contains("pw"),
                "{error}"
            );
        }
    }

    #[test]
    fn failures_say_what_to_do() {
        let status = |code| Failure::Status { code, retry_after: None, body: String::new() };
        assert!(status(401).to_string().contains(super::super::TOKEN_ENV));
        assert!(status(404).to_string().contains("base URL"));
        assert!(status(429).is_transient() && status(503).is_transient() && !status(404).is_transient());
        assert!(Failure::Timeout(Duration::from_secs(1)).is_transient());
    }
}
