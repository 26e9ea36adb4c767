//! `tickflow serve`: the HTTP API over a view store, until Ctrl-C or SIGTERM.

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tickflow_serve::{ApiToken, ServeConfig};
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
}

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
        ..ServeConfig::default()
    };
    config.check()?;
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
