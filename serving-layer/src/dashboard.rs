//! The dashboard: one page and its scripts, embedded in the binary.
//!
//! The page is plain HTML, CSS and JavaScript with no build step
//! (`serving-layer/assets/`): `chart.js` draws candles and volume on a
//! canvas, `status.js` fills the status panel from `/api/v1/status`,
//! `dashboard.js` takes the symbols and intervals from
//! `/api/v1/symbols`, loads bars from `/api/v1/bars` and keeps them live
//! from `/api/v1/stream`; `signals.js` adds the bot's markers, the
//! indicator overlay and the paper account (`/api/v1/signals`,
//! `/api/v1/indicators`, `signal` events).
//! The page holds no data of its own, so it is served without the API
//! token; it takes the token from its own `?token=` and sends it with every
//! API request (a bearer header, or `token=` for the event stream).

use warp::Filter;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};

const INDEX: &str = include_str!("../assets/index.html");
const STYLE: &str = include_str!("../assets/dashboard.css");
const CHART: &str = include_str!("../assets/chart.js");
const STATUS: &str = include_str!("../assets/status.js");
const SCRIPT: &str = include_str!("../assets/dashboard.js");
const SIGNALS: &str = include_str!("../assets/signals.js");

/// `GET /` (the page) and `GET /assets/{name}` (its stylesheet and scripts).
pub fn routes() -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let index = warp::path::end().map(|| asset(INDEX, "text/html; charset=utf-8"));
    let assets = warp::path!("assets" / String).and_then(|name: String| async move {
        match name.as_str() {
            "dashboard.css" => Ok(asset(STYLE, "text/css; charset=utf-8")),
            "chart.js" => Ok(asset(CHART, "text/javascript; charset=utf-8")),
            "status.js" => Ok(asset(STATUS, "text/javascript; charset=utf-8")),
            "dashboard.js" => Ok(asset(SCRIPT, "text/javascript; charset=utf-8")),
            "signals.js" => Ok(asset(SIGNALS, "text/javascript; charset=utf-8")),
            _ => Err(warp::reject::not_found()),
        }
    });
    warp::get().and(index.or(assets))
}

/// A static text with its type; browsers revalidate, so a new binary's page shows at once.
fn asset(body: &'static str, content_type: &'static str) -> impl warp::Reply {
    let reply = warp::reply::with_header(body, CONTENT_TYPE, content_type);
    warp::reply::with_header(reply, CACHE_CONTROL, "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_page_and_its_assets() {
        let filter = routes();
        let page = warp::test::request().path("/").reply(&filter).await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let html = std::str::from_utf8(page.body()).expect("utf-8");
        for script in [
            "/assets/chart.js",
            "/assets/status.js",
            "/assets/signals.js",
            "/assets/dashboard.js",
            "/assets/dashboard.css",
        ] {
            assert!(html.contains(script), "the page links {script}");
            let reply = warp::test::request().path(script).reply(&filter).await;
            assert_eq!(reply.status(), 200, "{script}");
            assert!(!reply.body().is_empty());
        }
        let missing = warp::test::request().path("/assets/nothing.js").reply(&filter).await;
        assert_eq!(missing.status(), 404);
        let post = warp::test::request().method("POST").path("/").reply(&filter).await;
        assert_eq!(post.status(), 405);
    }
}
