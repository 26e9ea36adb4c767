//! The server's own metrics: requests and their latency by route and status,
//! open connections, and the live stream's clients and polls.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// A route's name (its path) and the status it answered with.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

/// A route's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// Every metric of the serving layer, registered once at build.
#[derive(Clone)]
pub(crate) struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pub connections: Gauge,
    pub stream_clients: Gauge,
    pub stream_polls: Counter,
    pub stream_events: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_05, 2.0, 16))),
            connections: Gauge::default(),
            stream_clients: Gauge::default(),
            stream_polls: Counter::default(),
            stream_events: Counter::default(),
        };
        registry.register(
            "tickflow_serve_requests",
            "HTTP requests answered, by route and status",
            metrics.requests.clone(),
        );
        registry.register(
            "tickflow_serve_request_duration_seconds",
            "Time to answer an HTTP request (to the first byte for /stream), by route",
            metrics.latency.clone(),
        );
        registry.register(
            "tickflow_serve_connections",
            "Open HTTP connections (at most --max-connections)",
            metrics.connections.clone(),
        );
        registry.register("tickflow_serve_stream_clients", "Open /stream connections", metrics.stream_clients.clone());
        registry.register(
            "tickflow_serve_stream_polls",
            "Reads of the speed view's change sequence by the stream poller",
            metrics.stream_polls.clone(),
        );
        registry.register(
            "tickflow_serve_stream_events",
            "Bar events sent to /stream clients",
            metrics.stream_events.clone(),
        );
        metrics
    }

    /// Counts one answered request.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        self.requests.get_or_create(&RequestLabels { route, status }).inc();
        self.latency.get_or_create(&RouteLabels { route }).observe(took.as_secs_f64());
    }
}
