//! `GET /api/v1/bars` with a range open at one end or both (issue 18): the
//! newest `limit` bars without `from` and `to` (500 unless given), the first
//! from `from`, the last before `to`; on SQLite and PostgreSQL, whose
//! engines read only the bars they keep.

use crate::serve::{bars_body, fixture};
use crate::support::http::Server;
use crate::support::postgres;
use std::sync::Arc;
use tickflow_serve::ServeConfig;
use tickflow_shared::store::{Access, PostgresStore, SqliteStore, Store};

const MINUTE: i64 = 60_000_000_000;
/// 2013-10-07T13:30:00Z, the fixture's first bar.
const OPEN: i64 = 15_985 * 86_400_000_000_000 + 810 * MINUTE;
const BOUNDARY: &str = "2013-10-08T00:00:00Z";

async fn open_ranges(store: Arc<dyn Store>) {
    // AAPL 1m: ten batch bars from OPEN, then three speed bars a day later.
    let merged = fixture(&*store).await;
    assert_eq!(merged.len(), 13);
    let server = Server::start(store.clone(), ServeConfig::default()).await;
    let get = |query: String| {
        let server = &server;
        async move {
            let reply = server.get(&format!("/api/v1/bars?symbol=AAPL&interval=1m{query}"), &[]).await;
            assert_eq!(reply.status, 200, "{query}: {}", reply.body);
            reply.body
        }
    };
    let body = |bars| bars_body("AAPL", BOUNDARY, bars);
    let ms = |ts: i64| ts / 1_000_000;

    assert_eq!(get(String::new()).await, body(&merged), "fewer than 500: every bar, oldest first");
    for _ in 0..2 {
        assert_eq!(get("&limit=2".into()).await, body(&merged[11..]), "the newest two, fresh or kept");
    }
    let before = ms(OPEN + 5 * MINUTE);
    assert_eq!(get(format!("&to={before}&limit=3")).await, body(&merged[2..5]), "the last three before to");
    assert_eq!(get("&to=2013-10-08T00:00:00Z".into()).await, body(&merged[..10]), "to alone: back from it");
    let from = ms(OPEN + 8 * MINUTE);
    assert_eq!(get(format!("&from={from}")).await, body(&merged[8..]), "from alone: forward from it");
    assert_eq!(get(format!("&from={from}&limit=2")).await, body(&merged[8..10]), "the first two from from");
    server.stop().await;

    // The default never exceeds the server's point limit.
    let config = ServeConfig { point_limit: 4, ..ServeConfig::default() };
    let server = Server::start(store, config).await;
    let reply = server.get("/api/v1/bars?symbol=AAPL&interval=1m", &[]).await;
    assert_eq!(reply.body, body(&merged[9..]), "the newest four");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_open_range_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    open_ranges(Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_open_range_on_postgres() {
    open_ranges(Arc::new(PostgresStore::open(&postgres::database(), Access::Write).await.expect("connect"))).await;
}
