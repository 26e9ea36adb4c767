//! The crate's one error type, and the HTTP errors its routes answer with.

use tickflow_shared::store::StoreError;
use warp::http::StatusCode;
use warp::reply::Response;

/// Why a server could not be built or started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration cannot work.
    #[error("serve configuration: {0}")]
    Config(String),
    /// The listener is not usable.
    #[error("the listening socket: {0}")]
    Listener(#[source] std::io::Error),
    /// The TLS certificate or key file cannot be used.
    #[error("TLS file {}: {reason}", path.display())]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it and what to do.
        reason: String,
    },
}

/// An error answer: a status and a JSON body that says what was wrong and
/// what to do, naming the parameter and what it allows where there is one.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub parameter: Option<&'static str>,
    pub allowed: Vec<String>,
}

impl ApiError {
    /// 400 for `parameter`, with what it allows.
    pub fn bad(parameter: &'static str, message: String, allowed: Vec<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message, parameter: Some(parameter), allowed }
    }

    /// 401: no or a wrong token.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "this server needs its API token: send `Authorization: Bearer <token>` (or `?token=<token>` \
                      where headers cannot be set, as with EventSource)"
                .into(),
            parameter: None,
            allowed: Vec::new(),
        }
    }

    /// 404 for a path no route serves, listing the routes.
    pub fn not_found(path: &str, routes: Vec<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("no route serves {path:?}; see /api/v1/openapi.json"),
            parameter: None,
            allowed: routes,
        }
    }

    /// 405 for a method other than GET.
    pub fn method(method: &str, path: &str) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{path} answers GET only, not {method}"),
            parameter: None,
            allowed: vec!["GET".into()],
        }
    }

    /// 503: what the route reads is not there or not readable; `message` says what to do.
    pub fn unavailable(message: String) -> Self {
        Self { status: StatusCode::SERVICE_UNAVAILABLE, message, parameter: None, allowed: Vec::new() }
    }

    /// 503 (or 500 for corrupt data) when the store fails.
    pub fn store(error: &StoreError) -> Self {
        let (status, advice) = match error {
            StoreError::Corrupt(_) | StoreError::Range(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the store holds data this server cannot read; check that every tickflow service runs the same version",
            ),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the view store is unreachable or failing; check that the database is up and the store URL is right, \
                 then retry",
            ),
        };
        tracing::warn!(%error, "A store read failed.");
        Self { status, message: format!("{advice} ({error})"), parameter: None, allowed: Vec::new() }
    }

    /// The answer.
    pub fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(parameter) = self.parameter {
            body["parameter"] = parameter.into();
        }
        if !self.allowed.is_empty() {
            body["allowed"] = self.allowed.into();
        }
        let mut response = json(self.status, body.to_string());
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(warp::http::header::ALLOW, warp::http::HeaderValue::from_static("GET"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(warp::http::header::WWW_AUTHENTICATE, warp::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON response with `status` and `body`.
pub(crate) fn json(status: StatusCode, body: impl Into<bytes::Bytes>) -> Response {
    let mut response = Response::new(body.into().into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/json"));
    response
}
