//! Emit periods: within one, a bar is emitted once unless counted as a repeat
//! (the sink then skips folding the bars of a period that has none).

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Push { symbol: usize, ms: i64 },
    Finals { ms: i64 },
    Tick { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..8_000i64).prop_map(|(symbol, ms)| Op::Push { symbol, ms }),
        2 => (0..8_000i64).prop_map(|ms| Op::Finals { ms }),
        1 => (0..8_000i64).prop_map(|ms| Op::Tick { ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every emission of a key already emitted in the same period is
    /// counted in `repeats`, and no other is.
    #[test]
    fn repeats_count_exactly_the_keys_emitted_again_within_a_period(ops in prop::collection::vec(op(), 1..80)) {
        let mut w = windows("1s,1m", Duration::from_secs(2));
        let mut emitted: BTreeMap<Key, u32> = BTreeMap::new();
        for (seq, op) in ops.into_iter().enumerate() {
            let period = w.period();
            let mut again = 0;
            let mut note = |update: BarUpdate| {
                let key = (update.bar.symbol.to_string(), update.bar.interval, update.bar.start);
                again += usize::from(emitted.insert(key, period) == Some(period));
            };
            let report = match op {
                Op::Push { symbol, ms } => {
                    let _ = push(&mut w, &trade(symbol, DAY0 + ms * MS, seq as u64, p(1), p(1)));
                    continue;
                }
                Op::Finals { ms } => w.advance_finals(DAY0 + ms * MS, &mut note),
                Op::Tick { ms } => w.advance(DAY0 + ms * MS, &mut note),
            };
            prop_assert_eq!(report.repeats, again);
            let ticked = matches!(op, Op::Tick { .. });
            prop_assert_eq!(w.period(), if ticked { period + 1 } else { period });
        }
    }
}
