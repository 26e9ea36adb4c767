//! The serving layer's view of the signal bot, against real stores:
//! `/api/v1/signals` (signals, fills, positions, exact money), the
//! indicators of `/api/v1/indicators` against the shared indicator code run
//! from the first bar, and `signal` events on `/api/v1/stream`.

use crate::support::http::{EventStream, Server};
use crate::support::postgres;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tickflow_serve::ServeConfig;
use tickflow_shared::indicators::{Bollinger, Ema, Indicator, Sma};
use tickflow_shared::render::write_json_signal;
use tickflow_shared::signal::{Fill, Side, Signal};
use tickflow_shared::store::testing::bar;
use tickflow_shared::store::{
    Access, BatchPublish, DaySummary, Position, PostgresStore, SignalCommit, SqliteStore, Store,
};
use tickflow_shared::time::{NANOS_PER_DAY, format_rfc3339};
use tickflow_shared::{Bar, Price, Symbol};

const MINUTE: i64 = 60_000_000_000;
const DAY: i64 = 15_985;
/// 2013-10-07T13:30:00Z.
const OPEN: i64 = DAY * NANOS_PER_DAY + 810 * MINUTE;
const BARS: i64 = 60;

/// AAPL 1m bars for an hour in the batch view, closes going up and down
/// (every third minute has no trade, so no bar).
async fn publish(store: &dyn Store) -> Vec<Bar> {
    let bars: Vec<Bar> = (0..BARS)
        .filter(|m| m % 3 != 2)
        .map(|m| bar("AAPL", "1m", OPEN + m * MINUTE, 10_000_000_000 + (m * 37 % 11) * 123_456_789))
        .collect();
    let publish = BatchPublish {
        started_at: OPEN,
        days: vec![DaySummary { day: DAY, trades: 100 }],
        bars: Box::new(bars.clone().into_iter()),
        files: Vec::new(),
        forget_files: Vec::new(),
        rejects: Vec::new(),
    };
    store.publish_batch(publish).await.expect("publish");
    bars
}

fn signal(strategy: &str, symbol: &str, minute: i64, side: Side) -> Signal {
    Signal {
        strategy: strategy.into(),
        symbol: Symbol::new(symbol).expect("symbol"),
        interval: "1m".parse().expect("1m"),
        start: OPEN + minute * MINUTE,
        side,
        close: Price(10_012_345_678 + minute),
        values: vec![("sma_10".into(), 100.123_456_789_012_3), ("sma_30".into(), 100.1)],
        reason: "sma_10 crossed above sma_30".into(),
    }
}

async fn commit(store: &dyn Store, strategy: &str, signals: Vec<Signal>, fills: Vec<Fill>, positions: Vec<Position>) {
    let mut commit = SignalCommit::new(strategy, "1m".parse().expect("1m"));
    commit.progress = signals
        .iter()
        .map(|s| tickflow_shared::store::BotCursor { symbol: s.symbol.clone(), last_start: s.start })
        .collect();
    commit.signals = signals;
    commit.fills = fills;
    commit.positions = positions;
    store.commit_signals(&commit).await.expect("commit signals");
}

fn json(signal: &Signal) -> Value {
    let mut text = String::new();
    write_json_signal(&mut text, signal);
    serde_json::from_str(&text).expect("signal JSON")
}

async fn signals_and_indicators(store: Arc<dyn Store>) {
    let bars = publish(&*store).await;
    let buy = signal("sma-cross", "AAPL", 4, Side::Buy);
    let fill = Fill {
        strategy: "sma-cross".into(),
        symbol: buy.symbol.clone(),
        side: Side::Buy,
        time: OPEN + 5 * MINUTE,
        price: Price(10_000_000_001),
        quantity: 100 * 100_000_000,
        fee: 10_000_000,
    };
    let position = Position {
        strategy: "sma-cross".into(),
        symbol: buy.symbol.clone(),
        quantity: 100 * 100_000_000,
        entry_price: Price(10_000_000_001),
        last_price: Price(10_100_000_001),
        realized_pnl: -10_000_000,
        fees: 10_000_000,
        time: OPEN + 9 * MINUTE,
    };
    commit(
        &*store,
        "sma-cross",
        vec![buy.clone(), signal("sma-cross", "MSFT", 4, Side::Buy)],
        vec![fill],
        vec![position],
    )
    .await;
    let sell = signal("rsi", "AAPL", 7, Side::Sell);
    commit(&*store, "rsi", vec![sell.clone()], Vec::new(), Vec::new()).await;

    let server = Server::start(
        store.clone(),
        ServeConfig { poll_interval: Duration::from_millis(20), ..ServeConfig::default() },
    )
    .await;
    let range = "from=2013-10-07T13:30:00Z&to=2013-10-07T14:30:00Z";
    let reply = server.get(&format!("/api/v1/signals?symbol=AAPL&{range}"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["signals"], Value::Array(vec![json(&buy), json(&sell)]), "{body}");
    assert!(reply.body.contains(r#""close":100.12345682,"#), "exact money: {}", reply.body);
    assert_eq!(body["fills"][0]["time"], format_rfc3339(OPEN + 5 * MINUTE));
    assert_eq!(
        (body["fills"][0]["price"].as_f64(), body["fills"][0]["quantity"].as_f64()),
        (Some(100.00000001), Some(100.0))
    );
    let held = &body["positions"][0];
    assert_eq!(held["unrealized_pnl"].as_f64(), Some(100.0), "100 shares 1.00 up: {held}");
    assert_eq!(held["realized_pnl"].as_f64(), Some(-0.1));

    let only_rsi = server.get(&format!("/api/v1/signals?symbol=AAPL&{range}&strategy=rsi"), &[]).await.json();
    assert_eq!(only_rsi["signals"], Value::Array(vec![json(&sell)]));
    assert_eq!(only_rsi["positions"], Value::Array(Vec::new()));
    let later = server.get("/api/v1/signals?symbol=AAPL&from=2013-10-07T13:35:00Z&to=2013-10-07T14:00:00Z", &[]).await;
    assert_eq!(later.json()["signals"], Value::Array(vec![json(&sell)]), "from is inclusive, to exclusive");
    for (query, parameter) in [
        ("symbol=AAPL&from=2013-10-07T14:30:00Z&to=2013-10-07T13:30:00Z".to_owned(), "from"),
        (range.to_owned(), "symbol"),
        (format!("symbol=AAPL&{range}&strategy="), "strategy"),
    ] {
        let bad = server.get(&format!("/api/v1/signals?{query}"), &[]).await;
        assert_eq!((bad.status, bad.json()["parameter"].as_str()), (400, Some(parameter)), "{}", bad.body);
    }

    // From minute 30 on: the first point already has a value, from the bars before `from`.
    let from = OPEN + 30 * MINUTE;
    let window = format!("from={}&to={}", format_rfc3339(from), format_rfc3339(OPEN + BARS * MINUTE));
    let sma = indicator(&server, &format!("name=sma&period=5&{window}")).await;
    let mut reference = Sma::new(5).expect("sma");
    check(&bars, from, &sma, |b| reference.update(b).map(|v| vec![("value", v)]), 0.0);
    let ema = indicator(&server, &format!("name=ema&period=3&{window}")).await;
    let mut reference = Ema::new(3).expect("ema");
    check(&bars, from, &ema, |b| reference.update(b).map(|v| vec![("value", v)]), 1e-8);
    let bands = indicator(&server, &format!("name=bollinger&{window}")).await;
    let mut reference = Bollinger::default();
    let expect =
        |b: &Bar| reference.update(b).map(|v| vec![("upper", v.upper), ("middle", v.middle), ("lower", v.lower)]);
    check(&bars, from, &bands, expect, 0.0);
    let vwap = indicator(&server, &format!("name=vwap&{window}")).await;
    assert_eq!(
        vwap["points"][0]["vwap"].as_f64(),
        Some(bars.iter().find(|b| b.start >= from).expect("bar").vwap.to_f64())
    );
    for (query, parameter) in [("name=macd&period=5", "period"), ("name=kama", "name"), ("name=sma&period=0", "period")]
    {
        let bad = server.get(&format!("/api/v1/indicators?symbol=AAPL&interval=1m&{query}&{window}"), &[]).await;
        assert_eq!((bad.status, bad.json()["parameter"].as_str()), (400, Some(parameter)), "{}", bad.body);
    }

    // A new signal reaches a stream of its interval and symbol as a `signal` event.
    let mut stream = EventStream::open(server.addr, "/api/v1/stream?symbols=AAPL&interval=1m", &[]).await;
    assert_eq!(stream.next().await.event, "ready");
    let newer = signal("sma-cross", "AAPL", 40, Side::Sell);
    commit(
        &*store,
        "sma-cross",
        vec![signal("sma-cross", "MSFT", 41, Side::Sell), newer.clone()],
        Vec::new(),
        Vec::new(),
    )
    .await;
    let event = stream.next().await;
    assert_eq!((event.event.as_str(), event.id.as_deref()), ("signal", None), "{event:?}");
    let mut data: Value = serde_json::from_str(&event.data).expect("JSON");
    assert!(data["seq"].as_i64().is_some_and(|seq| seq > 0), "{data}");
    data.as_object_mut().expect("object").remove("seq");
    assert_eq!(data, json(&newer));
    server.stop().await;
}

/// An indicator's values after one bar, by field name.
type Values = Vec<(&'static str, f64)>;

/// `/api/v1/indicators` of AAPL 1m with `query`.
async fn indicator(server: &Server, query: &str) -> Value {
    let reply = server.get(&format!("/api/v1/indicators?symbol=AAPL&interval=1m&{query}"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// The answer's points are the bars from `from` on, each with the values
/// `reference` gives after feeding every bar from the first, within `tolerance` relative.
fn check(bars: &[Bar], from: i64, answer: &Value, mut reference: impl FnMut(&Bar) -> Option<Values>, tolerance: f64) {
    let points = answer["points"].as_array().expect("points");
    let expected: Vec<(i64, Option<Values>)> =
        bars.iter().map(|b| (b.start, reference(b))).filter(|(start, _)| *start >= from).collect();
    assert_eq!(points.len(), expected.len(), "{answer}");
    for (point, (start, values)) in points.iter().zip(expected) {
        assert_eq!(point["start"], format_rfc3339(start));
        let values = values.expect("warmed up by the bars before from");
        for (name, value) in values {
            let got = point[name].as_f64().unwrap_or_else(|| panic!("{name} of {point}"));
            assert!((got - value).abs() <= tolerance * value.abs(), "{name} at {}: {got} != {value}", point["start"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_signals_and_indicators_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    signals_and_indicators(Arc::new(SqliteStore::open(&dir.path().join("views.db"), Access::Write).expect("open")))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_signals_and_indicators_on_postgres() {
    let store = PostgresStore::open(&postgres::database(), Access::Write).await.expect("connect");
    signals_and_indicators(Arc::new(store)).await;
}
