//! What a server is built from: the intervals it serves, its limits, its
//! token, how often the live stream polls. Defaults live here, in one place.

use std::fmt;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tickflow_shared::Interval;

/// How a server answers; [`ServeConfig::build`] turns it into a [`crate::Server`].
///
/// The listening socket and the view store are not part of it: [`crate::run`]
/// takes a bound listener and `build` an opened store, so one process can
/// share its store and registry between layers (as `tickflow demo` does).
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The intervals queries may ask for; another is refused with this list.
    pub intervals: Vec<Interval>,
    /// The most bars one `/bars` response may hold: a range longer than this
    /// many bars of its interval is refused unless `limit` caps it.
    pub point_limit: usize,
    /// The most symbols one `/latest` or `/stream` request may name.
    pub symbol_limit: usize,
    /// When set, every route but `/healthz` and `/readyz` needs this token,
    /// as `Authorization: Bearer <token>` or as `?token=<token>`.
    pub api_token: Option<ApiToken>,
    /// How often the live stream reads the speed view's change sequence.
    pub poll_interval: Duration,
    /// How often an idle `/stream` sends a comment, so proxies keep it open.
    pub keep_alive: Duration,
    /// Pages of changes a slow `/stream` client may fall behind before it is
    /// told to reconnect.
    pub stream_buffer: usize,
    /// `/bars` answers kept while the store has not changed under them (0:
    /// none); a kept answer is at most one `poll_interval` older than the
    /// newest commit.
    pub cache_entries: usize,
    /// The `--out` directory of `tickflow features`, whose quarters'
    /// manifests `/api/v1/features/manifests` lists (none: that route
    /// lists no quarter and says it is not configured).
    pub features_dir: Option<std::path::PathBuf>,
    /// A client that has not sent a request's line and headers this long
    /// after it connected (or after its previous answer) is disconnected;
    /// so is one that has not finished the TLS handshake (slowloris).
    pub header_read_timeout: Duration,
    /// The most bytes a request's line and headers may take together; a
    /// larger request is answered 431 and its connection closed.
    pub max_header_bytes: usize,
    /// The most connections open at once; beyond it, new connections wait
    /// in the listen backlog until one closes (file descriptors and memory
    /// stay bounded).
    pub max_connections: usize,
    /// The most `/stream` clients at once; beyond it, `/stream` answers 503.
    pub max_streams: usize,
    /// Serve HTTPS with this certificate and key (none: plain HTTP).
    pub tls: Option<crate::TlsConfig>,
}

impl ServeConfig {
    /// The address the dashboard and the API listen on unless configured.
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

    /// The default most bars in one response.
    pub const fn default_point_limit() -> usize {
        20_000
    }

    /// The default most symbols in one request.
    pub const fn default_symbol_limit() -> usize {
        200
    }

    /// The default poll interval of the live stream.
    pub const fn default_poll_interval() -> Duration {
        Duration::from_millis(200)
    }

    /// The default keep-alive interval of the live stream.
    pub const fn default_keep_alive() -> Duration {
        Duration::from_secs(15)
    }

    /// The default number of kept `/bars` answers.
    pub const fn default_cache_entries() -> usize {
        1024
    }

    /// The default buffer of the live stream, in pages of changes.
    pub const fn default_stream_buffer() -> usize {
        256
    }

    /// The default header read timeout: a client on a slow mobile link
    /// sends a few hundred bytes of headers well within it.
    pub const fn default_header_read_timeout() -> Duration {
        Duration::from_secs(10)
    }

    /// The default most bytes of a request line and headers (as Node.js).
    pub const fn default_max_header_bytes() -> usize {
        16 * 1024
    }

    /// The default most open connections.
    pub const fn default_max_connections() -> usize {
        4096
    }

    /// The default most `/stream` clients.
    pub const fn default_max_streams() -> usize {
        1024
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            intervals: Interval::parse_list(Interval::DEFAULTS).unwrap_or_default(),
            point_limit: Self::default_point_limit(),
            symbol_limit: Self::default_symbol_limit(),
            api_token: None,
            poll_interval: Self::default_poll_interval(),
            keep_alive: Self::default_keep_alive(),
            stream_buffer: Self::default_stream_buffer(),
            cache_entries: Self::default_cache_entries(),
            features_dir: None,
            header_read_timeout: Self::default_header_read_timeout(),
            max_header_bytes: Self::default_max_header_bytes(),
            max_connections: Self::default_max_connections(),
            max_streams: Self::default_max_streams(),
            tls: None,
        }
    }
}

/// A secret API token. It never prints: `Debug` shows `ApiToken(***)`.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    /// A token from its text; `None` for an empty text (no auth).
    pub fn new(text: impl Into<String>) -> Option<Self> {
        let text = text.into();
        (!text.is_empty()).then_some(Self(text))
    }

    /// Whether `offered` is this token, compared in constant time.
    pub fn matches(&self, offered: &str) -> bool {
        self.0.as_bytes().ct_eq(offered.as_bytes()).into()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_matches_only_itself_and_never_prints() {
        let token = ApiToken::new("s3cret").expect("token");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret!"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!(ApiToken::new("").is_none());
    }

    #[test]
    fn limits_that_cannot_work_are_refused_with_what_to_give() {
        let bad = |config: ServeConfig| config.check().expect_err("refused").to_string();
        let tiny = bad(ServeConfig { max_header_bytes: 100, ..ServeConfig::default() });
        assert!(tiny.contains("give 1024 to 1048576"), "{tiny}");
        let none = bad(ServeConfig { max_connections: 0, ..ServeConfig::default() });
        assert!(none.contains("at least 1"), "{none}");
        let zero = bad(ServeConfig { header_read_timeout: Duration::ZERO, ..ServeConfig::default() });
        assert!(zero.contains("header read timeout must be positive"), "{zero}");
        assert!(ServeConfig::default().check().is_ok());
    }
}
