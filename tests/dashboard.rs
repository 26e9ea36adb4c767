//! The dashboard in a real headless Chromium against a running demo that
//! needs an API token: the page takes the token from its URL, draws candles
//! of both views, applies live updates from the event stream, draws the
//! demo bot's signal markers, the indicator overlay picked in its URL and
//! the paper account, and logs no error. It leaves a screenshot at
//! `target/dashboard.png`.

use crate::support::browser::{Driver, Session};
use crate::support::demo::Demo;
use serde_json::Value;
use std::time::{Duration, Instant};

const TOKEN: &str = "dashboard-test-token";

/// Polls the page's progress (`document.body.dataset`) until `done` holds.
async fn wait_for(session: &Session<'_>, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let dataset = session.execute("return Object.assign({}, document.body.dataset);").await;
        if done(&dataset) {
            return dataset;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no {what} within 30 s; the page shows {dataset}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn count(dataset: &Value, key: &str) -> u64 {
    dataset[key].as_str().and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn dashboard_draws_both_views_and_live_updates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut demo = Demo::start(&dir.path().join("data"), Some(TOKEN));
    demo.both_views("AAPL", "1m", Duration::from_secs(30)).await;
    let refused = reqwest::get(demo.url("/api/v1/symbols")).await.expect("request");
    assert_eq!(refused.status(), 401, "the API needs the token");

    let driver = Driver::start().await;
    let session = driver.session().await;
    session.window(1440, 900).await;
    session.navigate(&demo.url(&format!("/?token={TOKEN}&symbol=AAPL&interval=1m&overlay=bollinger"))).await;
    let drawn = wait_for(&session, "candles of both views", |d| {
        count(d, "candles") > 0 && d["views"].as_str() == Some("batch,speed")
    })
    .await;
    let updates = count(&drawn, "updates");
    let live = wait_for(&session, "live update", |d| count(d, "updates") > updates).await;
    assert!(count(&live, "candles") > 0);
    // The demo's sma-cross bot signals on AAPL's history (the simulated market is seeded).
    let signalled =
        wait_for(&session, "signal markers and the overlay", |d| count(d, "markers") > 0 && count(d, "overlay") > 0)
            .await;
    assert!(count(&signalled, "markers") <= count(&signalled, "signals"), "{signalled}");
    let account = session.execute("return document.getElementById('account').textContent;").await;
    let account = account.as_str().unwrap_or_default();
    assert!(account.contains("sma-cross") && account.contains("PnL"), "the paper account: {account:?}");
    // Trades per second, from the 1-second bars of every symbol.
    let rate = wait_for(&session, "trade rate", |d| d["rate"].as_str().is_some()).await;
    let rate: f64 = rate["rate"].as_str().and_then(|r| r.parse().ok()).expect("a rate");
    assert!(rate > 0.0, "trades are flowing: {rate}/s");

    session.hover("#chart", 0, 40).await;
    let tooltip =
        "return document.getElementById('tooltip').hidden ? '' : document.getElementById('tooltip').textContent;";
    let started = Instant::now();
    let text = loop {
        let text = session.execute(tooltip).await;
        if text.as_str().is_some_and(|t| !t.is_empty()) || started.elapsed() > Duration::from_secs(10) {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = text.as_str().unwrap_or_default();
    for field in ["Open", "High", "Low", "Close", "Volume", "view"] {
        assert!(text.contains(field), "the tooltip shows {field}: {text:?}");
    }
    let png = session.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = crate::support::browser::screenshot_path("dashboard.png");
    std::fs::create_dir_all(path.parent().expect("target")).expect("target dir");
    std::fs::write(&path, png).expect("screenshot written");

    let errors: Vec<_> = session.console().await.into_iter().filter(|(level, _)| level == "SEVERE").collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:?}");
    session.close().await;
    let status = demo.stop();
    assert!(status.success(), "exit status {status} after SIGTERM");
}
