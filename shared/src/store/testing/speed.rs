//! The speed view's scenarios: commits read back, replace, move positions,
//! are atomic and idempotent, and number their changes.

use super::{MINUTE, T0, all_changes, bar, interval, late, offset, read, reject, sorted, speed};
use crate::bar::Bar;
use crate::fixed::Volume;
use crate::store::speed::{SpeedBar, SpeedChange, SpeedCommit};
use crate::store::{Store, StoreError, ViewSelect};
use crate::tick::Symbol;

/// A commit reads back exactly: bars through [`ReadStore::bars`](crate::store::ReadStore::bars), their
/// finality through [`ReadStore::speed_changes`](crate::store::ReadStore::speed_changes), positions and status.
pub async fn speed_commit_reads_back(store: &dyn Store) {
    let mut bars = Vec::new();
    for (i, symbol) in ["MSFT", "AAPL", "BRK.B"].into_iter().enumerate() {
        for minute in 0..5 {
            let price = 12_345_678_901 + 1_000_000_000 * i as i64 + minute;
            bars.push(speed(bar(symbol, "1m", T0 + minute * MINUTE, price), minute < 3));
        }
    }
    bars.push(speed(bar("AAPL", "1h", T0 - 13 * MINUTE, 99_999_999_999), false));
    let offsets = vec![offset("ticks", 0, 1_000, 950), offset("ticks", 1, 7, 7)];
    let mut commit = SpeedCommit {
        bars: bars.clone(),
        offsets: offsets.clone(),
        watermark: Some(T0 + 3 * MINUTE + 5),
        ..SpeedCommit::default()
    };
    store.commit_speed(&mut commit).await.expect("commit");

    assert_eq!(read(store, "1m", ViewSelect::Speed).await, sorted(&bars, "1m"));
    assert_eq!(read(store, "1h", ViewSelect::Merged).await, sorted(&bars, "1h"));
    assert!(read(store, "1m", ViewSelect::Batch).await.is_empty());
    let mut stored: Vec<SpeedBar> = all_changes(store, "1m", 0).await.into_iter().map(|c| c.bar).collect();
    stored.sort_by(|a, b| (&a.bar.symbol, a.bar.start).cmp(&(&b.bar.symbol, b.bar.start)));
    let mut expected: Vec<SpeedBar> = bars.iter().filter(|b| b.bar.interval == interval("1m")).cloned().collect();
    expected.sort_by(|a, b| (&a.bar.symbol, a.bar.start).cmp(&(&b.bar.symbol, b.bar.start)));
    assert_eq!(stored, expected);

    assert_eq!(store.speed_offsets("ticks").await.expect("offsets"), offsets);
    assert!(store.speed_offsets("quotes").await.expect("offsets").is_empty());
    let status = store.speed_status().await.expect("status");
    assert_eq!(status.watermark, Some(T0 + 3 * MINUTE + 5));
    assert!(status.updated_at.is_some());
    assert_eq!(status.change_seq, bars.len() as i64);
    assert_eq!(status.offsets, offsets);
}

/// An upsert replaces the whole row (provisional, then final); of one key
/// given twice in a commit the later wins.
pub async fn speed_upsert_replaces(store: &dyn Store) {
    let provisional = speed(bar("AAPL", "1m", T0, 10_000_000_000), false);
    store.commit_speed(&mut SpeedCommit { bars: vec![provisional], ..SpeedCommit::default() }).await.expect("commit");
    let head = store.speed_status().await.expect("status").change_seq;

    let mut replaced = bar("AAPL", "1m", T0, 20_000_000_001);
    replaced.trades = 1;
    replaced.volume = Volume(1);
    store
        .commit_speed(&mut SpeedCommit { bars: vec![speed(replaced.clone(), true)], ..SpeedCommit::default() })
        .await
        .expect("commit");
    assert_eq!(read(store, "1m", ViewSelect::Speed).await, vec![replaced.clone()]);
    let changes = all_changes(store, "1m", head).await;
    assert_eq!(changes.iter().map(|c| &c.bar).collect::<Vec<_>>(), vec![&speed(replaced, true)]);
    assert!(changes[0].seq > head);

    let twice = vec![speed(bar("MSFT", "1m", T0, 5), false), speed(bar("MSFT", "1m", T0, 6), true)];
    store.commit_speed(&mut SpeedCommit { bars: twice, ..SpeedCommit::default() }).await.expect("commit twice");
    let msft: Vec<SpeedBar> = all_changes(store, "1m", 0)
        .await
        .into_iter()
        .map(|c| c.bar)
        .filter(|b| b.bar.symbol.as_str() == "MSFT")
        .collect();
    assert_eq!(msft, vec![speed(bar("MSFT", "1m", T0, 6), true)]);
}

/// Positions round-trip per topic and a later commit moves them; the
/// watermark only moves forward; an impossible position is refused.
pub async fn speed_offsets_move(store: &dyn Store) {
    let first = vec![offset("ticks", 1, 20, 20), offset("ticks", 0, 10, 4), offset("quotes", 0, 3, 1)];
    store
        .commit_speed(&mut SpeedCommit { offsets: first, watermark: Some(T0), ..SpeedCommit::default() })
        .await
        .expect("commit");
    assert_eq!(
        store.speed_offsets("ticks").await.expect("offsets"),
        vec![offset("ticks", 0, 10, 4), offset("ticks", 1, 20, 20)]
    );
    let later = vec![offset("ticks", 2, 5, 0), offset("ticks", 0, 15, 12)];
    store
        .commit_speed(&mut SpeedCommit { offsets: later, watermark: Some(T0 - 1), ..SpeedCommit::default() })
        .await
        .expect("commit");
    let moved = vec![offset("ticks", 0, 15, 12), offset("ticks", 1, 20, 20), offset("ticks", 2, 5, 0)];
    assert_eq!(store.speed_offsets("ticks").await.expect("offsets"), moved);
    assert_eq!(store.speed_offsets("quotes").await.expect("offsets"), vec![offset("quotes", 0, 3, 1)]);
    assert_eq!(store.speed_status().await.expect("status").watermark, Some(T0));

    store.commit_speed(&mut SpeedCommit::default()).await.expect("empty commit");
    assert_eq!(store.speed_status().await.expect("status").watermark, Some(T0));
    store.commit_speed(&mut SpeedCommit { watermark: Some(T0 + 1), ..SpeedCommit::default() }).await.expect("commit");
    assert_eq!(store.speed_status().await.expect("status").watermark, Some(T0 + 1));

    let mut backwards = SpeedCommit { offsets: vec![offset("ticks", 0, 16, 17)], ..SpeedCommit::default() };
    assert!(matches!(store.commit_speed(&mut backwards).await, Err(StoreError::Range(_))));
    assert_eq!(store.speed_offsets("ticks").await.expect("offsets"), moved);
}

/// A commit that fails in the middle of its bars leaves nothing of itself
/// visible: not a bar, position, watermark, late trade, reject or change
/// number; and the store takes the next commit.
pub async fn speed_commit_is_atomic(store: &dyn Store) {
    let symbols: Vec<String> = (0..30).map(|i| format!("S{i:02}")).collect();
    let bars_at = |price: i64| -> Vec<SpeedBar> {
        let mut bars = Vec::new();
        for (i, symbol) in symbols.iter().enumerate() {
            for minute in 0..5 {
                bars.push(speed(bar(symbol, "1m", T0 + minute * MINUTE, price + i as i64), false));
            }
        }
        bars
    };
    let mut first = SpeedCommit {
        bars: bars_at(1_000_000_000)[..100].to_vec(),
        offsets: vec![offset("ticks", 0, 100, 90)],
        watermark: Some(T0),
        late: vec![late(0, 3, 1)],
        rejects: vec![reject(4)],
    };
    store.commit_speed(&mut first).await.expect("first commit");
    let status = store.speed_status().await.expect("status");
    let (late_before, rejects_before) =
        (store.late_trades(10).await.expect("late"), store.rejects(10).await.expect("rejects"));
    let bars_before = read(store, "1m", ViewSelect::Speed).await;

    // 150 bars, a third of them replacing stored ones; bar 102 in key order cannot be stored.
    let mut bars = bars_at(2_000_000_000);
    bars[102].bar.volume = Volume(i128::MAX);
    let failing = SpeedCommit {
        bars: bars.clone(),
        offsets: vec![offset("ticks", 0, 250, 240), offset("ticks", 1, 9, 9)],
        watermark: Some(T0 + MINUTE),
        late: vec![late(0, 5, 2)],
        rejects: vec![reject(6)],
    };
    assert!(store.commit_speed(&mut failing.clone()).await.is_err());
    assert_eq!(store.speed_status().await.expect("status"), status);
    assert_eq!(read(store, "1m", ViewSelect::Speed).await, bars_before);
    assert_eq!(store.late_trades(10).await.expect("late"), late_before);
    assert_eq!(store.rejects(10).await.expect("rejects"), rejects_before);

    let mut good = failing;
    good.bars[102].bar.volume = Volume(7);
    bars[102].bar.volume = Volume(7);
    store.commit_speed(&mut good).await.expect("commit after a failed one");
    assert_eq!(read(store, "1m", ViewSelect::Speed).await, sorted(&bars, "1m"));
    assert_eq!(store.speed_status().await.expect("status").change_seq, status.change_seq + 150);
}

/// Replaying a commit after a crash stores its late trades and rejects once;
/// late trades read back exactly, newest first.
pub async fn speed_replay_is_idempotent(store: &dyn Store) {
    let commit = SpeedCommit {
        bars: vec![speed(bar("AAPL", "1m", T0, 1_000_000_000), false)],
        offsets: vec![offset("ticks", 0, 8, 2)],
        watermark: Some(T0),
        late: vec![late(0, 5, 12_345_678_901), late(0, 6, 1)],
        rejects: vec![reject(3), reject(4)],
    };
    store.commit_speed(&mut commit.clone()).await.expect("commit");
    // What the replay says differently about a stored position is not taken.
    let mut replay = commit.clone();
    replay.late[0].reason = "replayed".into();
    replay.rejects[0].reason = "replayed".into();
    replay.late.push(late(0, 7, 3));
    store.commit_speed(&mut replay.clone()).await.expect("replay");
    store.commit_speed(&mut replay).await.expect("replay again");

    let expected_late = vec![late(0, 7, 3), late(0, 6, 1), late(0, 5, 12_345_678_901)];
    assert_eq!(store.late_trades(10).await.expect("late"), expected_late);
    assert_eq!(store.late_trades(1).await.expect("late"), expected_late[..1]);
    assert_eq!(store.rejects(10).await.expect("rejects"), vec![reject(4), reject(3)]);
    assert_eq!(read(store, "1m", ViewSelect::Speed).await, sorted(&commit.bars, "1m"));
    assert_eq!(store.speed_offsets("ticks").await.expect("offsets"), commit.offsets);
}

/// Change numbers grow with every commit; a poll returns only bars changed
/// since its number, of its interval and symbols, cut at its limit.
pub async fn speed_changes_since(store: &dyn Store) {
    let first = vec![
        speed(bar("AAPL", "1m", T0, 1), false),
        speed(bar("MSFT", "1m", T0, 2), false),
        speed(bar("AAPL", "1h", T0 - 13 * MINUTE, 3), false),
    ];
    store.commit_speed(&mut SpeedCommit { bars: first, ..SpeedCommit::default() }).await.expect("commit");
    let h1 = store.speed_status().await.expect("status").change_seq;
    let second = vec![speed(bar("AAPL", "1m", T0, 4), true), speed(bar("AAPL", "1m", T0 + MINUTE, 5), false)];
    store.commit_speed(&mut SpeedCommit { bars: second.clone(), ..SpeedCommit::default() }).await.expect("commit");
    let h2 = store.speed_status().await.expect("status").change_seq;
    assert!(h2 > h1 && h1 >= 3, "heads {h1} then {h2}");

    let since = store.speed_changes(interval("1m"), None, h1, 100).await.expect("changes");
    assert_eq!(since.changes.iter().map(|c| &c.bar).collect::<Vec<_>>(), second.iter().collect::<Vec<_>>());
    assert!(since.changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(since.changes.iter().all(|c| c.seq > h1 && c.seq <= h2));
    assert_eq!((since.head, since.next), (h2, h2));

    let all = all_changes(store, "1m", 0).await;
    let names: Vec<(&str, bool)> = all.iter().map(|c| (c.bar.bar.symbol.as_str(), c.bar.is_final)).collect();
    assert_eq!(names, vec![("MSFT", false), ("AAPL", true), ("AAPL", false)]);
    let msft = [Symbol::new("MSFT").expect("symbol")];
    let only = store.speed_changes(interval("1m"), Some(&msft), 0, 100).await.expect("changes");
    assert_eq!(only.changes, all[..1]);
    let none = store.speed_changes(interval("1m"), Some(&[]), 0, 100).await.expect("changes");
    assert!(none.changes.is_empty());
    let hour = store.speed_changes(interval("1h"), None, h1, 100).await.expect("changes");
    assert!(hour.changes.is_empty());
    assert_eq!(hour.next, h2);

    let page = store.speed_changes(interval("1m"), None, 0, 2).await.expect("changes");
    assert_eq!((page.changes.as_slice(), page.next), (&all[..2], all[1].seq));
    let rest = store.speed_changes(interval("1m"), None, page.next, 2).await.expect("changes");
    assert_eq!((rest.changes.as_slice(), rest.next), (&all[2..], h2));

    store
        .commit_speed(&mut SpeedCommit { offsets: vec![offset("ticks", 0, 1, 1)], ..SpeedCommit::default() })
        .await
        .expect("commit");
    assert_eq!(store.speed_status().await.expect("status").change_seq, h2);
}

/// After upgrading a version-2 database whose speed view held `old` (final
/// bars of `label`, written in this order), the old bars keep their values,
/// are numbered 1.. in the order they were written, and new commits number on.
pub async fn speed_after_upgrade(store: &dyn Store, label: &str, old: &[Bar]) {
    let mut in_order = old.to_vec();
    in_order.sort_by(|a, b| (&a.symbol, a.start).cmp(&(&b.symbol, b.start)));
    assert_eq!(read(store, label, ViewSelect::Speed).await, in_order);
    let changes = all_changes(store, label, 0).await;
    assert_eq!(changes.iter().map(|c| c.seq).collect::<Vec<_>>(), (1..=old.len() as i64).collect::<Vec<_>>());
    assert_eq!(
        changes.into_iter().map(|c| c.bar).collect::<Vec<_>>(),
        old.iter().map(|b| speed(b.clone(), true)).collect::<Vec<_>>()
    );
    let status = store.speed_status().await.expect("status");
    assert_eq!((status.change_seq, status.watermark, status.updated_at), (old.len() as i64, None, None));

    let new = speed(bar("ZZZ", label, T0, 42), false);
    store.commit_speed(&mut SpeedCommit { bars: vec![new.clone()], ..SpeedCommit::default() }).await.expect("commit");
    let changes = all_changes(store, label, old.len() as i64).await;
    assert_eq!(changes, vec![SpeedChange { seq: old.len() as i64 + 1, bar: new }]);
}
