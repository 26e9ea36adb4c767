//! The query routes: bars over the merged view, symbols, the newest bars,
//! status, health, metrics and the OpenAPI document.

use crate::State;
use crate::cache::Key;
use crate::encoding::Body;
use crate::error::{ApiError, json};
use crate::params::Params;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::Arc;
use tickflow_shared::render::write_json_bars;
use tickflow_shared::store::{BarQuery, BatchRun, ViewSelect};
use tickflow_shared::telemetry;
use tickflow_shared::time::{NANOS_PER_SECOND, format_rfc3339, now_ns, write_rfc3339};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

/// The OpenAPI 3 document of every route.
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// Bars `GET /api/v1/bars` answers when the range is open at its start and
/// no `limit` is given (as exchange kline APIs and chart libraries expect).
pub(crate) const DEFAULT_BARS: usize = 500;

/// `GET /api/v1/bars`: one symbol's bars of one interval, batch before the
/// boundary and speed from it on, read in one snapshot: over `[from, to)`;
/// with `from` alone, the first `limit` from it; with `to` alone, the last
/// `limit` before it; with neither, the newest `limit` ([`DEFAULT_BARS`]
/// unless given).
pub(crate) async fn bars(state: &State, params: &Params, gzip: bool) -> Result<Response, ApiError> {
    let config = &state.config;
    let symbol = params.symbol("symbol")?;
    let interval = params.interval("interval", &config.intervals, None)?;
    let from = params.get("from").map(|_| params.time("from")).transpose()?;
    let to = params.get("to").map(|_| params.time("to")).transpose()?;
    let limit = params.count("limit", config.point_limit)?;
    let (limit, newest) = match (from, to) {
        (Some(from), Some(to)) => (checked_range(from, to, interval, limit, config.point_limit)?, false),
        (Some(_), None) => (Some(limit.unwrap_or(DEFAULT_BARS.min(config.point_limit))), false),
        (None, _) => (Some(limit.unwrap_or(DEFAULT_BARS.min(config.point_limit))), true),
    };
    let key = Key { symbol, interval, from, to, limit };
    let generation = state.cache.generation();
    if let Some(body) = generation.and_then(|now| state.cache.get(&key, now)) {
        return Ok(body.reply(StatusCode::OK, gzip));
    }
    let query = BarQuery { interval, symbol: Some(key.symbol.clone()), from, to, view: ViewSelect::Merged, limit };
    let read = if newest { state.store.newest_bars(&query).await } else { state.store.bars(&query).await };
    let read = read.map_err(|e| ApiError::store(&e))?;
    let symbol = &key.symbol;
    let mut body = String::with_capacity(128 + read.bars.len() * 224);
    let _ = write!(body, r#"{{"symbol":"{symbol}","interval":"{interval}","boundary":"#);
    write_time(&mut body, read.boundary);
    body.push_str(r#","bars":"#);
    write_json_bars(&mut body, &read.bars);
    body.push('}');
    let body = Arc::new(Body::new(body));
    let response = body.reply(StatusCode::OK, gzip);
    if let Some(generation) = generation {
        state.cache.put(key, generation, read.boundary, body);
    }
    Ok(response)
}

/// Checks a closed range `[from, to)`: in order, and no longer than
/// `point_limit` bars unless `limit` caps it; returns the limit.
fn checked_range(
    from: i64,
    to: i64,
    interval: tickflow_shared::Interval,
    limit: Option<usize>,
    point_limit: usize,
) -> Result<Option<usize>, ApiError> {
    if from > to {
        let message = format!(
            "from {} is after to {}; from is the first bar start included, to the first one excluded",
            format_rfc3339(from),
            format_rfc3339(to)
        );
        return Err(ApiError::bad("from", message, Vec::new()));
    }
    let span = interval.nanos();
    let count = (to - from + span - 1) / span;
    if limit.is_none() && count > point_limit as i64 {
        let message = format!(
            "from..to spans {count} bars of {interval}; at most {point_limit} are served at once: narrow the \
             range, use a coarser interval, or set limit"
        );
        return Err(ApiError::bad("to", message, Vec::new()));
    }
    Ok(limit)
}

/// `GET /api/v1/symbols`: every symbol with bars, and the intervals served.
pub(crate) async fn symbols(state: &State, gzip: bool) -> Result<Response, ApiError> {
    let symbols = state.store.symbols().await.map_err(|e| ApiError::store(&e))?;
    let names: Vec<&str> = symbols.iter().map(|s| s.as_str()).collect();
    let intervals: Vec<String> = state.config.intervals.iter().map(ToString::to_string).collect();
    Ok(Body::new(json!({ "symbols": names, "intervals": intervals }).to_string()).reply(StatusCode::OK, gzip))
}

/// `GET /api/v1/latest`: the newest bar of each symbol in each interval.
pub(crate) async fn latest(state: &State, params: &Params, gzip: bool) -> Result<Response, ApiError> {
    let config = &state.config;
    let symbols = match params.symbols("symbols", config.symbol_limit)? {
        Some(symbols) => symbols,
        None => state.store.symbols().await.map_err(|e| ApiError::store(&e))?,
    };
    let intervals = match params.get("interval") {
        Some(_) => vec![params.interval("interval", &config.intervals, None)?],
        None => config.intervals.clone(),
    };
    let read = state.store.latest(&symbols, &intervals).await.map_err(|e| ApiError::store(&e))?;
    let mut body = String::with_capacity(64 + read.bars.len() * 224);
    body.push_str(r#"{"boundary":"#);
    write_time(&mut body, read.boundary);
    body.push_str(r#","bars":"#);
    write_json_bars(&mut body, &read.bars);
    body.push('}');
    Ok(Body::new(body).reply(StatusCode::OK, gzip))
}

/// `GET /api/v1/status`: the batch boundary and last run, the speed layer's
/// watermark, lag and partitions, and the rows of each table.
pub(crate) async fn status(state: &State) -> Result<Response, ApiError> {
    let store = &state.store;
    let failed = |e| ApiError::store(&e);
    let stats = store.stats().await.map_err(failed)?;
    let speed = store.speed_status().await.map_err(failed)?;
    let runs = store.batch_runs(1).await.map_err(failed)?;
    let now = now_ns();
    let seconds = |since: i64| (now - since) as f64 / NANOS_PER_SECOND as f64;
    let partitions: Vec<Value> = stats
        .partitions
        .iter()
        .map(|p| {
            json!({
                "topic": p.offset.topic,
                "partition": p.offset.partition,
                "next_offset": p.offset.next_offset,
                "replay_from": p.offset.replay_from,
                "end_offset": p.offset.end_offset,
                "lag_messages": p.offset.end_offset.map(|end| end - p.offset.next_offset),
                "updated_at": time(Some(p.updated_at)),
                "idle_seconds": seconds(p.updated_at),
            })
        })
        .collect();
    let body = json!({
        "now": time(Some(now)),
        "batch": { "boundary": time(stats.boundary), "last_run": runs.first().map(run) },
        "speed": {
            "watermark": time(speed.watermark),
            "lag_seconds": speed.watermark.map(seconds),
            "updated_at": time(speed.updated_at),
            "change_seq": speed.change_seq,
            "partitions": partitions,
        },
        "rows": {
            "batch_bars": stats.batch_bars,
            "speed_bars": stats.speed_bars,
            "late_trades": stats.late_trades,
            "rejects": stats.rejects,
        },
        "stream": { "clients": state.metrics.stream_clients.get() },
    });
    Ok(json(StatusCode::OK, body.to_string()))
}

fn run(run: &BatchRun) -> Value {
    json!({
        "version": run.version,
        "started_at": time(Some(run.started_at)),
        "published_at": time(Some(run.published_at)),
        "boundary": time(run.boundary),
        "days": run.days,
        "trades": run.trades,
        "bars": run.bars,
        "rejects": run.rejects,
    })
}

/// `GET /healthz`: the process answers.
pub(crate) fn health() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// `GET /readyz`: the store answers too.
pub(crate) async fn ready(state: &State) -> Result<Response, ApiError> {
    state.store.speed_status().await.map_err(|e| ApiError::store(&e))?;
    Ok(json(StatusCode::OK, r#"{"status":"ready"}"#))
}

/// `GET /metrics`: the registry, the server's metrics among the others.
pub(crate) fn metrics(registry: &prometheus_client::registry::Registry) -> Response {
    let mut response = Response::new(telemetry::encode(registry).into());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(telemetry::CONTENT_TYPE));
    response
}

/// `GET /api/v1/openapi.json`.
pub(crate) fn openapi(gzip: bool) -> Response {
    static BODY: std::sync::LazyLock<Body> = std::sync::LazyLock::new(|| Body::new(OPENAPI));
    BODY.reply(StatusCode::OK, gzip)
}

fn time(ts: Option<i64>) -> Value {
    ts.map_or(Value::Null, |ts| Value::String(format_rfc3339(ts)))
}

fn write_time(out: &mut String, ts: Option<i64>) {
    match ts {
        Some(ts) => {
            out.push('"');
            write_rfc3339(out, ts);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}
