//! Phased provisional emission: a tick flushes the changed open bars of its
//! phase's symbols only; the others stay changed until their phase comes.

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Push { symbol: usize, ms: i64 },
    Finals { ms: i64 },
    Tick { ms: i64, phase: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..8_000i64).prop_map(|(symbol, ms)| Op::Push { symbol, ms }),
        1 => (0..8_000i64).prop_map(|ms| Op::Finals { ms }),
        2 => (0..8_000i64, 0..2u32).prop_map(|(ms, phase)| Op::Tick { ms, phase }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A phase's tick emits provisional bars of its symbols only; once every
    /// phase has ticked, the stored bars are those of the naive reference
    /// and nothing is left changed; the final bars are the reference too.
    #[test]
    fn each_phase_emits_its_own_symbols_and_together_they_emit_all(ops in prop::collection::vec(op(), 1..80)) {
        let mut w = windows("1s,1m", Duration::from_secs(2));
        let mut sink = Sink::default();
        let mut accepted = Vec::new();
        let phase_of = |symbol: &Symbol| SYMBOLS.iter().position(|s| *s == symbol.as_str()).expect("a test symbol") as u32 % 2;
        // Ids in order of first sight: intern all three first, so id = index.
        for symbol in SYMBOLS {
            w.intern_str(symbol).expect("symbol");
        }
        let mut watermark = i64::MIN;
        for (seq, op) in ops.into_iter().enumerate() {
            match op {
                Op::Push { symbol, ms } => {
                    let t = trade(symbol, DAY0 + ms * MS, seq as u64, p(1), p(1));
                    if push(&mut w, &t).is_ok() {
                        accepted.push(t);
                    }
                }
                Op::Finals { ms } => {
                    watermark = watermark.max(DAY0 + ms * MS);
                    w.advance_finals(DAY0 + ms * MS, |u| sink.take(u));
                }
                Op::Tick { ms, phase } => {
                    watermark = watermark.max(DAY0 + ms * MS);
                    let mut outside = Vec::new();
                    w.advance_open_after(DAY0 + ms * MS, watermark, Phase::new(phase, 2), |u| {
                        if !u.is_final && phase_of(&u.bar.symbol) != phase {
                            outside.push(u.bar.symbol.to_string());
                        }
                        sink.take(u);
                    });
                    prop_assert!(outside.is_empty(), "phase {} emitted provisional bars of {:?}", phase, outside);
                }
            }
        }
        for phase in 0..2 {
            w.advance_open_after(watermark, watermark, Phase::new(phase, 2), |u| sink.take(u));
        }
        let stored: BTreeMap<Key, Bar> = sink.bars.iter().map(|(key, u)| (key.clone(), u.bar.clone())).collect();
        assert_same_bars(&stored, &reference(&accepted, &intervals("1s,1m")), "once every phase has ticked");
        let report = w.advance(watermark, |u| sink.take(u));
        prop_assert_eq!((report.provisional, report.finals), (0, 0), "nothing left changed");
        sink.advance(&mut w, i64::MAX);
        assert_same_bars(&sink.final_bars(), &reference(&accepted, &intervals("1s,1m")), "after every phase");
    }
}
