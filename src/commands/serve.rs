//! `tickflow serve`: the HTTP API over a view store, until Ctrl-C or SIGTERM.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tickflow_serve::{ApiToken, ServeConfig, TlsConfig};
use tickflow_shared::store::{self, Access};

/// Arguments of `tickflow serve`.
#[derive(clap::Args)]
pub struct Args {
    /// View store URL: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(long, env = "TICKFLOW_STORE")]
    store: String,
    /// Address to listen on (port 0 picks a free one; the log says which).
    #[arg(long, default_value = ServeConfig::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Intervals served, comma-separated; each must divide one day.
    #[arg(long, default_value = tickflow_shared::Interval::DEFAULTS)]
    intervals: super::Intervals,
    /// The most bars one /bars response may hold.
    #[arg(long, default_value_t = ServeConfig::default_point_limit())]
    point_limit: usize,
    /// How often the live stream (and the /bars cache) reads the store's changes.
    #[arg(long, default_value_t = super::Span(ServeConfig::default_poll_interval()))]
    poll_interval: super::Span,
    /// /bars answers kept while the store has not changed under them; 0 reads every query afresh.
    #[arg(long, default_value_t = ServeConfig::default_cache_entries())]
    cache_entries: usize,
    /// The `--out` directory of `tickflow features`: /api/v1/features/manifests lists its quarters' manifests.
    #[arg(long, value_name = "DIR")]
    features_dir: Option<std::path::PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate, then its intermediates); needs --tls-key.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS #8, PKCS #1 or SEC1, unencrypted); needs --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A client must send a request's line and headers (and finish the TLS handshake) within this long.
    #[arg(long, default_value_t = super::Span(ServeConfig::default_header_read_timeout()))]
    header_read_timeout: super::Span,
    /// The most bytes of a request's line and headers; a larger request is answered 431.
    #[arg(long, default_value_t = ServeConfig::default_max_header_bytes())]
    max_header_bytes: usize,
    /// The most connections open at once; beyond it, new ones wait until one closes.
    #[arg(long, default_value_t = ServeConfig::default_max_connections())]
    max_connections: usize,
    /// The most /stream clients at once; beyond it, /stream answers 503.
    #[arg(long, default_value_t = ServeConfig::default_max_streams())]
    max_streams: usize,
}

/// File descriptors kept for the store, the log and the runtime, besides connections.
const SPARE_FILES: u64 = 64;

/// Runs `tickflow serve`.
pub fn run(args: Args) -> anyhow::Result<()> {
    // A secret: read from the environment only, never a flag (flags show in `ps`), never logged.
    let api_token = std::env::var("TICKFLOW_API_TOKEN").ok().and_then(ApiToken::new);
    let config = ServeConfig {
        intervals: args.intervals.0,
        point_limit: args.point_limit,
        api_token,
        poll_interval: args.poll_interval.0,
        cache_entries: args.cache_entries,
        features_dir: args.features_dir,
        header_read_timeout: args.header_read_timeout.0,
        max_header_bytes: args.max_header_bytes,
        max_connections: connection_limit(args.max_connections),
        max_streams: args.max_streams,
        ..ServeConfig::default()
    };
    config.check()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig::from_pem_files(cert, key)?),
        _ => None,
    };
    let config = ServeConfig { tls, ..config };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = store::open(&args.store, Access::Read).await?;
        let mut registry = prometheus_client::registry::Registry::default();
        let server = config.build(store.clone(), &mut registry)?.with_signals(store);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tickflow_serve::run(listener, server, Arc::new(registry), super::shutdown_signal()?).await?;
        anyhow::Ok(())
    })
}

/// `max_connections`, after raising the open-file limit to its hard limit;
/// lowered (with a warning) if even that leaves too few descriptors.
fn connection_limit(max_connections: usize) -> usize {
    let wanted = max_connections as u64 + SPARE_FILES;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(files) if files < wanted => {
            let limit = usize::try_from(files.saturating_sub(SPARE_FILES)).unwrap_or(1).max(1);
            tracing::warn!(
                open_files = files,
                max_connections,
                limit,
                "The open-file limit is too low for --max-connections; serving at most the limit. Raise the hard \
                 limit (ulimit -Hn, LimitNOFILE=) to serve more."
            );
            limit
        }
        Ok(_) => max_connections,
        Err(error) => {
            tracing::warn!(%error, "Cannot read or raise the open-file limit; --max-connections stays as given.");
            max_connections
        }
    }
}
