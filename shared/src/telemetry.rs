//! Telemetry every service shares: the Prometheus registry each layer
//! registers its metrics into, and the small HTTP endpoint that serves them.
//!
//! Metrics are named `tickflow_<layer>_<what>_<unit>` (the encoder adds
//! `_total` to counters) and carry only low-cardinality labels: a
//! partition, an interval, a route, never a symbol. Each layer keeps its
//! metrics in one struct that registers itself into a [`Registry`] at start;
//! the binary then freezes the registry in an `Arc` and serves it, with
//! [`spawn`] for the services that have no HTTP server of their own, or from
//! the serving layer's own `/metrics` route.

use prometheus_client::registry::Registry;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use warp::Filter;

/// The registry in the Prometheus text exposition format (OpenMetrics text).
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, registry) {
        tracing::warn!(%error, "Encoding metrics failed.");
    }
    text
}

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` (the registry) and `GET /healthz` (`ok`) as a warp filter.
pub fn routes(
    registry: Arc<Registry>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let metrics = warp::path("metrics")
        .and(warp::path::end())
        .and(warp::get())
        .map(move || warp::reply::with_header(encode(&registry), "content-type", CONTENT_TYPE));
    let health = warp::path("healthz").and(warp::path::end()).and(warp::get()).map(|| "ok");
    metrics.or(health)
}

/// Serves [`routes`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    warp::serve(routes(registry)).incoming(listener).graceful(shutdown).run().await;
}

/// Binds `addr` and serves [`routes`] on a thread of its own for the rest of
/// the process; returns the address bound (a port of 0 picks a free one).
pub fn spawn(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("metrics".into()).spawn(move || {
        runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => serve(listener, registry, std::future::pending()).await,
                Err(error) => tracing::error!(%error, "The metrics endpoint cannot listen."),
            }
        });
    })?;
    tracing::info!(address = %bound, "Serving metrics at /metrics.");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_the_registry_and_health() {
        let mut registry = Registry::default();
        let trades: Counter = Counter::default();
        registry.register("tickflow_test_trades", "Trades seen.", trades.clone());
        trades.inc_by(3);
        let addr = spawn("127.0.0.1:0".parse().expect("address"), Arc::new(registry)).expect("bound");
        let get = |path: &'static str| async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.expect("write");
            let mut response = String::new();
            stream.read_to_string(&mut response).await.expect("read");
            response
        };
        let metrics = get("/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(metrics.contains("tickflow_test_trades_total 3"), "{metrics}");
        assert!(get("/healthz").await.ends_with("ok"));
        assert!(get("/nothing").await.starts_with("HTTP/1.1 404"));
    }
}
