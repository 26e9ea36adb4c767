//! The signal bot's tables as scenarios both engines must pass.

use super::{MINUTE, T0, interval};
use crate::Price;
use crate::signal::{Fill, Side, Signal};
use crate::store::{BotCursor, Position, SignalCommit, SignalQuery, Store, StoreError};
use crate::tick::Symbol;

fn symbol(name: &str) -> Symbol {
    Symbol::new(name).expect("symbol")
}

/// A signal whose close and values depend on `minute`; money with all 8 decimals.
pub fn signal(strategy: &str, name: &str, minute: i64, side: Side) -> Signal {
    Signal {
        strategy: strategy.into(),
        symbol: symbol(name),
        interval: interval("1m"),
        start: T0 + minute * MINUTE,
        side,
        close: Price(12_345_678_901 + minute),
        values: vec![("sma_10".into(), 123.456_789_012_345_67 + minute as f64), ("sma_30".into(), -1.5e-7)],
        reason: format!("sma_10 crossed {} sma_30 \"quoted\"", if side == Side::Buy { "above" } else { "below" }),
    }
}

fn fill(strategy: &str, name: &str, minute: i64, side: Side) -> Fill {
    Fill {
        strategy: strategy.into(),
        symbol: symbol(name),
        side,
        time: T0 + minute * MINUTE,
        price: Price(12_300_000_001 + minute),
        quantity: 100 * crate::fixed::SCALE,
        fee: 123_000_001,
    }
}

fn position(strategy: &str, name: &str, minute: i64, quantity: i64) -> Position {
    Position {
        strategy: strategy.into(),
        symbol: symbol(name),
        quantity,
        entry_price: Price(12_300_000_001),
        last_price: Price(12_400_000_009 + minute),
        realized_pnl: -987_654_321,
        fees: 123_000_001,
        time: T0 + minute * MINUTE,
    }
}

fn cursor(name: &str, minute: i64) -> BotCursor {
    BotCursor { symbol: symbol(name), last_start: T0 + minute * MINUTE }
}

/// Signals, fills, positions and progress of two commits read back exactly:
/// by symbol, strategy and time range; in the change sequence; a signal
/// given again keeps its first row and number; progress and the outbox
/// mark only move forward.
pub async fn signal_commit_reads_back(store: &dyn Store) {
    let m = interval("1m");
    let mut first = SignalCommit::new("sma-cross", m);
    first.signals = vec![signal("sma-cross", "MSFT", 3, Side::Buy), signal("sma-cross", "AAPL", 1, Side::Buy)];
    first.fills = vec![fill("sma-cross", "AAPL", 2, Side::Buy)];
    first.positions = vec![position("sma-cross", "AAPL", 2, 100 * crate::fixed::SCALE)];
    first.progress = vec![cursor("AAPL", 2), cursor("MSFT", 3)];
    store.commit_signals(&first).await.expect("first commit");
    let mut other = SignalCommit::new("rsi", m);
    other.signals = vec![signal("rsi", "AAPL", 1, Side::Sell)];
    other.progress = vec![cursor("AAPL", 9)];
    store.commit_signals(&other).await.expect("other strategy");

    let head = store.signal_changes(None, 0, usize::MAX).await.expect("changes").head;
    let mut second = SignalCommit::new("sma-cross", m);
    let mut again = signal("sma-cross", "AAPL", 1, Side::Sell);
    again.reason = "a revised bar".into();
    second.signals = vec![again, signal("sma-cross", "AAPL", 5, Side::Sell)];
    second.fills = vec![fill("sma-cross", "AAPL", 2, Side::Sell), fill("sma-cross", "AAPL", 6, Side::Sell)];
    second.positions = vec![position("sma-cross", "AAPL", 6, 0)];
    second.progress = vec![cursor("AAPL", 6), cursor("MSFT", 1)];
    store.commit_signals(&second).await.expect("second commit");

    let all = store.signals(&SignalQuery::default()).await.expect("signals");
    let expected = vec![
        signal("sma-cross", "AAPL", 1, Side::Buy),
        signal("rsi", "AAPL", 1, Side::Sell),
        signal("sma-cross", "MSFT", 3, Side::Buy),
        signal("sma-cross", "AAPL", 5, Side::Sell),
    ];
    let mut by_time = expected.clone();
    by_time.swap(0, 1);
    assert_eq!(all, by_time, "ordered by start, symbol, strategy");
    let query = SignalQuery {
        symbol: Some(symbol("AAPL")),
        strategy: Some("sma-cross".into()),
        from: Some(T0 + MINUTE),
        to: Some(T0 + 5 * MINUTE),
        limit: None,
    };
    assert_eq!(store.signals(&query).await.expect("one symbol"), [expected[0].clone()]);
    let limited = SignalQuery { limit: Some(1), to: None, ..query.clone() };
    assert_eq!(store.signals(&limited).await.expect("limit"), [expected[0].clone()]);

    let fills = store.fills(&SignalQuery { symbol: Some(symbol("AAPL")), ..SignalQuery::default() }).await;
    let fills = fills.expect("fills");
    assert_eq!(fills, [fill("sma-cross", "AAPL", 2, Side::Buy), fill("sma-cross", "AAPL", 6, Side::Sell)]);
    assert_eq!(store.positions(Some("sma-cross")).await.expect("positions"), [position("sma-cross", "AAPL", 6, 0)]);
    assert!(store.positions(Some("macd")).await.expect("positions").is_empty());

    let progress = store.bot_progress("sma-cross", m).await.expect("progress");
    assert_eq!(progress, [cursor("AAPL", 6), cursor("MSFT", 3)], "a cursor only moves forward");
    assert_eq!(store.bot_progress("rsi", m).await.expect("progress"), [cursor("AAPL", 9)]);
    assert!(store.bot_progress("sma-cross", interval("5m")).await.expect("progress").is_empty());

    let changes = store.signal_changes(None, 0, usize::MAX).await.expect("changes");
    let order: Vec<&Signal> = changes.signals.iter().map(|c| &c.signal).collect();
    assert_eq!(order, [&expected[2], &expected[0], &expected[1], &expected[3]], "numbered in commit order");
    assert!(changes.signals.windows(2).all(|w| w[0].seq < w[1].seq));
    let newer = store.signal_changes(None, head, usize::MAX).await.expect("newer");
    assert_eq!(newer.signals.iter().map(|c| c.signal.clone()).collect::<Vec<_>>(), [expected[3].clone()]);
    assert_eq!(newer.next, newer.head);
    let cut = store.signal_changes(Some("sma-cross"), 0, 2).await.expect("cut");
    assert_eq!(cut.signals.len(), 2);
    assert_eq!(cut.next, cut.signals[1].seq);
    let rest = store.signal_changes(Some("sma-cross"), cut.next, 10).await.expect("rest");
    assert_eq!(rest.signals.iter().map(|c| c.signal.clone()).collect::<Vec<_>>(), [expected[3].clone()]);

    assert_eq!(store.published("sma-cross", "signals").await.expect("published"), 0);
    store.mark_published("sma-cross", "signals", 7).await.expect("mark");
    store.mark_published("sma-cross", "signals", 5).await.expect("mark back");
    assert_eq!(store.published("sma-cross", "signals").await.expect("published"), 7);
    assert_eq!(store.published("rsi", "signals").await.expect("published"), 0);
}

/// A commit with a record of another strategy or interval, or a value that
/// is not a number, is refused whole.
pub async fn signal_commit_refuses_foreign_records(store: &dyn Store) {
    let m = interval("1m");
    let mut foreign = SignalCommit::new("sma-cross", m);
    foreign.signals = vec![signal("sma-cross", "AAPL", 1, Side::Buy), signal("rsi", "AAPL", 2, Side::Buy)];
    foreign.progress = vec![cursor("AAPL", 2)];
    let mut wrong_interval = SignalCommit::new("sma-cross", interval("5m"));
    wrong_interval.signals = vec![signal("sma-cross", "AAPL", 1, Side::Buy)];
    let mut not_a_number = SignalCommit::new("sma-cross", m);
    let mut nan = signal("sma-cross", "AAPL", 1, Side::Buy);
    nan.values.push(("rsi_14".into(), f64::NAN));
    not_a_number.signals = vec![nan];
    let mut foreign_fill = SignalCommit::new("sma-cross", m);
    foreign_fill.fills = vec![fill("rsi", "AAPL", 2, Side::Buy)];
    for commit in [foreign, wrong_interval, not_a_number, foreign_fill] {
        let refused = store.commit_signals(&commit).await;
        assert!(matches!(refused, Err(StoreError::Range(_))), "{refused:?}");
    }
    assert!(store.signals(&SignalQuery::default()).await.expect("signals").is_empty());
    assert!(store.bot_progress("sma-cross", m).await.expect("progress").is_empty());
    assert_eq!(store.signal_changes(None, 0, 10).await.expect("changes").head, 0);
}
