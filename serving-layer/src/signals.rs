//! `/api/v1/signals`: what the signal bot decided for one symbol over a
//! range, the paper fills that followed, and its paper positions in the
//! symbol now (DESIGN.md, contract 8).

use crate::State;
use crate::encoding::Body;
use crate::error::ApiError;
use crate::params::Params;
use std::fmt::Write as _;
use tickflow_shared::render::{write_json_position, write_json_signal};
use tickflow_shared::store::SignalQuery;
use tickflow_shared::time::{format_rfc3339, write_rfc3339};
use warp::http::StatusCode;
use warp::reply::Response;

/// `GET /api/v1/signals`: one symbol's signals with `from <= start < to`
/// (of one strategy, if given), oldest first; fills in the same range; the
/// symbol's paper positions.
pub(crate) async fn signals(state: &State, params: &Params, gzip: bool) -> Result<Response, ApiError> {
    let symbol = params.symbol("symbol")?;
    let (from, to) = range(params)?;
    let strategy = params.get("strategy").map(str::to_owned);
    if strategy.as_deref().is_some_and(str::is_empty) {
        let message = "strategy is empty; name one, like sma-cross, or leave it out for every strategy".into();
        return Err(ApiError::bad("strategy", message, Vec::new()));
    }
    let query = SignalQuery {
        symbol: Some(symbol.clone()),
        strategy: strategy.clone(),
        from: Some(from),
        to: Some(to),
        limit: Some(state.config.point_limit),
    };
    let store = &state.signals;
    let failed = |e| ApiError::store(&e);
    let signals = store.signals(&query).await.map_err(failed)?;
    let fills = store.fills(&query).await.map_err(failed)?;
    let mut positions = store.positions(strategy.as_deref()).await.map_err(failed)?;
    positions.retain(|p| p.symbol == symbol);

    let mut body = String::with_capacity(256 + signals.len() * 256);
    let _ = write!(body, r#"{{"symbol":"{symbol}","signals":["#);
    for (i, signal) in signals.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_json_signal(&mut body, signal);
    }
    body.push_str(r#"],"fills":["#);
    for (i, fill) in fills.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r#"{"strategy":"#);
        body.push_str(&serde_json::Value::from(fill.strategy.as_str()).to_string());
        let _ = write!(body, r#","side":"{}","time":""#, fill.side);
        write_rfc3339(&mut body, fill.time);
        let _ = write!(body, r#"","price":{},"quantity":"#, fill.price);
        let _ = tickflow_shared::fixed::write_scaled(&mut body, i128::from(fill.quantity));
        body.push_str(r#","fee":"#);
        let _ = tickflow_shared::fixed::write_scaled(&mut body, i128::from(fill.fee));
        body.push('}');
    }
    body.push_str(r#"],"positions":["#);
    for (i, position) in positions.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_json_position(&mut body, position);
    }
    body.push_str("]}");
    Ok(Body::new(body).reply(StatusCode::OK, gzip))
}

/// The required `[from, to)` of a query, `from` not after `to`.
pub(crate) fn range(params: &Params) -> Result<(i64, i64), ApiError> {
    let (from, to) = (params.time("from")?, params.time("to")?);
    if from > to {
        let message = format!(
            "from {} is after to {}; from is the first time included, to the first one excluded",
            format_rfc3339(from),
            format_rfc3339(to)
        );
        return Err(ApiError::bad("from", message, Vec::new()));
    }
    Ok((from, to))
}
