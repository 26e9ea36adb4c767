//! The route table and the one filter that dispatches on it.
//!
//! Every route is a row of [`ENDPOINTS`]: its path, the query parameters it
//! takes, whether it needs the token. The same rows drive dispatch, the
//! check of parameter names, the metrics' route label and the 404 answer,
//! and a test holds them against the OpenAPI document.

use crate::State;
use crate::encoding::accepts_gzip;
use crate::error::ApiError;
use crate::params::{Params, TOKEN};
use crate::{api, stream};
use prometheus_client::registry::Registry;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use warp::http::Method;
use warp::reply::Response;
use warp::{Filter, Rejection};

/// What answers a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Handler {
    Bars,
    Symbols,
    Latest,
    Status,
    Stream,
    Signals,
    Indicators,
    FeatureManifests,
    OpenApi,
    Metrics,
    Health,
    Ready,
}

/// One route.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// The path, also the metrics' `route` label.
    pub path: &'static str,
    /// The query parameters it takes (besides `token`).
    pub params: &'static [&'static str],
    /// Served without the token.
    pub open: bool,
    pub handler: Handler,
}

/// Every route served.
pub(crate) const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/api/v1/bars",
        params: &["symbol", "interval", "from", "to", "limit"],
        open: false,
        handler: Handler::Bars,
    },
    Endpoint {
        path: "/api/v1/signals",
        params: &["symbol", "from", "to", "strategy"],
        open: false,
        handler: Handler::Signals,
    },
    Endpoint {
        path: "/api/v1/indicators",
        params: &["symbol", "interval", "name", "period", "from", "to"],
        open: false,
        handler: Handler::Indicators,
    },
    Endpoint { path: "/api/v1/features/manifests", params: &[], open: false, handler: Handler::FeatureManifests },
    Endpoint { path: "/api/v1/symbols", params: &[], open: false, handler: Handler::Symbols },
    Endpoint { path: "/api/v1/latest", params: &["symbols", "interval"], open: false, handler: Handler::Latest },
    Endpoint { path: "/api/v1/status", params: &[], open: false, handler: Handler::Status },
    Endpoint {
        path: "/api/v1/stream",
        params: &["interval", "symbols", "since"],
        open: false,
        handler: Handler::Stream,
    },
    Endpoint { path: "/api/v1/openapi.json", params: &[], open: false, handler: Handler::OpenApi },
    Endpoint { path: "/metrics", params: &[], open: false, handler: Handler::Metrics },
    Endpoint { path: "/healthz", params: &[], open: true, handler: Handler::Health },
    Endpoint { path: "/readyz", params: &[], open: true, handler: Handler::Ready },
];

/// One request as the filter extracts it.
pub(crate) struct Request {
    pub method: Method,
    pub path: warp::path::FullPath,
    pub query: String,
    pub authorization: Option<String>,
    pub last_event_id: Option<String>,
    pub accept_encoding: Option<String>,
}

/// The whole server as one warp filter.
pub(crate) fn routes(
    state: Arc<State>,
    registry: Arc<Registry>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("last-event-id"))
        .and(warp::header::optional::<String>("accept-encoding"))
        .then(move |method, path, query, authorization, last_event_id, accept_encoding| {
            let request = Request { method, path, query, authorization, last_event_id, accept_encoding };
            dispatch(Arc::clone(&state), Arc::clone(&registry), request)
        })
        .recover(|_: Rejection| async {
            let message = "a request header is not readable text; send Authorization and Last-Event-ID as ASCII".into();
            Ok::<_, Infallible>(ApiError::bad("header", message, Vec::new()).into_response())
        })
        .unify()
}

async fn dispatch(state: Arc<State>, registry: Arc<Registry>, request: Request) -> Response {
    let started = Instant::now();
    let (route, response) = match ENDPOINTS.iter().find(|e| e.path == request.path.as_str()) {
        Some(endpoint) => {
            let answer = answer(&state, &registry, endpoint, &request).await;
            (endpoint.path, answer.unwrap_or_else(ApiError::into_response))
        }
        None => {
            let routes = ENDPOINTS.iter().map(|e| e.path.to_owned()).collect();
            ("unknown", ApiError::not_found(request.path.as_str(), routes).into_response())
        }
    };
    state.metrics.request(route, response.status().as_u16(), started.elapsed());
    response
}

async fn answer(
    state: &Arc<State>,
    registry: &Registry,
    endpoint: &Endpoint,
    request: &Request,
) -> Result<Response, ApiError> {
    if request.method != Method::GET && request.method != Method::HEAD {
        return Err(ApiError::method(request.method.as_str(), endpoint.path));
    }
    let params = Params::decode(&request.query)?;
    if !endpoint.open {
        authorize(state, request.authorization.as_deref(), params.get(TOKEN))?;
    }
    params.check(endpoint.params)?;
    let gzip = accepts_gzip(request.accept_encoding.as_deref());
    match endpoint.handler {
        Handler::Bars => api::bars(state, &params, gzip).await,
        Handler::Symbols => api::symbols(state, gzip).await,
        Handler::Signals => crate::signals::signals(state, &params, gzip).await,
        Handler::Indicators => crate::indicators::indicators(state, &params, gzip).await,
        Handler::FeatureManifests => crate::features::manifests(state, gzip).await,
        Handler::Latest => api::latest(state, &params, gzip).await,
        Handler::Status => api::status(state).await,
        Handler::Stream => stream::subscribe(state, &params, request.last_event_id.as_deref()).await,
        Handler::OpenApi => Ok(api::openapi(gzip)),
        Handler::Metrics => Ok(api::metrics(registry)),
        Handler::Health => Ok(api::health()),
        Handler::Ready => api::ready(state).await,
    }
}

/// Passes when no token is configured, or `Authorization: Bearer <token>`
/// or `?token=` carries it.
fn authorize(state: &State, header: Option<&str>, query: Option<&str>) -> Result<(), ApiError> {
    let Some(token) = &state.config.api_token else { return Ok(()) };
    let bearer = header.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")));
    let offered = bearer.or(query).map(str::trim);
    if offered.is_some_and(|offered| token.matches(offered)) { Ok(()) } else { Err(ApiError::unauthorized()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    #[test]
    fn the_openapi_document_has_every_route_with_its_parameters() {
        let doc: Value = serde_json::from_str(crate::api::OPENAPI).expect("the document is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
        let served: BTreeSet<&str> = ENDPOINTS.iter().map(|e| e.path).collect();
        assert_eq!(documented, served);
        for endpoint in ENDPOINTS {
            let get = &paths[endpoint.path]["get"];
            let names: BTreeSet<&str> = get["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .map(|p| p["name"].as_str().expect("a name"))
                .collect();
            assert_eq!(names, endpoint.params.iter().copied().collect(), "{}", endpoint.path);
            let open = get["security"].as_array().is_some_and(Vec::is_empty);
            assert_eq!(open, endpoint.open, "{} security", endpoint.path);
        }
    }
}
