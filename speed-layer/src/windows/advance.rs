//! The per-flush path of [`Windows`]: fold the deltas into the open bars,
//! emit what changed or became final, evict what expired.

use super::level::{AdvanceReport, Delta, Phase, coarsen};
use super::{BarUpdate, Windows};
use tickflow_shared::Interval;

impl Windows {
    /// Folds the trades pushed since the last call into the open bars of every
    /// interval, emits each bar that changed (final if its end ≤ `watermark`)
    /// and each bar that became final, then evicts the bars whose end plus the
    /// allowed lateness ≤ `watermark`. A watermark below an earlier one counts
    /// as the earlier one.
    pub fn advance(&mut self, watermark: i64, emit: impl FnMut(BarUpdate)) -> AdvanceReport {
        self.advance_emitting(watermark, Some((watermark, Phase::ALL)), emit)
    }

    /// [`advance`](Self::advance), but a changed bar whose window ended by
    /// `complete` (a worker's own watermark, ahead of the frontier's while
    /// another worker catches up) is not emitted provisional: it stays
    /// changed, and its next emission is the final one, soon. So do the
    /// changed provisional bars of symbols outside `phase`.
    pub fn advance_open_after(
        &mut self,
        watermark: i64,
        complete: i64,
        phase: Phase,
        emit: impl FnMut(BarUpdate),
    ) -> AdvanceReport {
        self.advance_emitting(watermark, Some((complete, phase)), emit)
    }

    /// [`advance`](Self::advance), but changed bars of windows still open are
    /// not emitted: they stay changed until an `advance` emits them (or they
    /// become final). The speed job writes final bars whenever the watermark
    /// moves and provisional ones only every so often.
    ///
    /// The emissions of the `advance_finals` calls after an `advance` and of
    /// the next `advance` form one *emit period* ([`period`](Self::period)):
    /// within it each bar is emitted at most once, unless a trade within the
    /// lateness changed it after it was emitted final (counted as
    /// [`repeats`](AdvanceReport::repeats)).
    pub fn advance_finals(&mut self, watermark: i64, emit: impl FnMut(BarUpdate)) -> AdvanceReport {
        self.advance_emitting(watermark, None, emit)
    }

    /// Emits changed bars of open windows that end after `provisional`'s
    /// time and are in its phase, if given.
    fn advance_emitting(
        &mut self,
        watermark: i64,
        provisional: Option<(i64, Phase)>,
        mut emit: impl FnMut(BarUpdate),
    ) -> AdvanceReport {
        let previous = self.watermark;
        let watermark = watermark.max(previous);
        self.collect_deltas();
        for level in 0..self.levels.len() {
            if let Some(source) = self.plan.source(level) {
                let (finer, coarser) = self.deltas.split_at_mut(level);
                coarsen(&finer[source], self.levels[level].interval(), &mut coarser[0], &mut self.seen);
            }
            self.levels[level].apply(&self.deltas[level]);
        }
        self.deltas.iter_mut().for_each(Vec::clear);
        let mut report = AdvanceReport::default();
        for level in &mut self.levels {
            // Windows evicted at `previous` hold only trades replayed after a restart: never emitted.
            let evicted = last_expired(previous, level.interval(), self.lateness);
            level.emit(self.period, previous, watermark, evicted, provisional, &self.symbols, &mut emit, &mut report);
        }
        if provisional.is_some() {
            self.period = self.period.wrapping_add(1);
        }
        for level in &mut self.levels {
            report.evicted += level.evict(last_expired(watermark, level.interval(), self.lateness));
        }
        self.held.release(last_expired(watermark, self.span, self.lateness));
        for root in &mut self.roots {
            root.last_expired = last_expired(watermark, root.interval, self.lateness);
        }
        self.watermark = watermark;
        report
    }

    /// The emit period the next emissions belong to (from 1); see
    /// [`advance_finals`](Self::advance_finals).
    pub fn period(&self) -> u32 {
        self.period
    }

    /// Moves every non-empty delta into `self.deltas` of its root level.
    fn collect_deltas(&mut self) {
        let roots = self.roots.len();
        for index in self.touched.drain(..) {
            let current = &mut self.current[index as usize];
            let (symbol, root) = (index / roots as u32, index as usize % roots);
            let acc = std::mem::take(&mut current.acc);
            self.deltas[self.roots[root].level].push(Delta { symbol, start: current.start, acc });
        }
        for (index, start, acc) in self.parked.drain(..) {
            let (symbol, root) = (index / roots as u32, index as usize % roots);
            self.deltas[self.roots[root].level].push(Delta { symbol, start, acc });
        }
    }
}

/// The start of the last window of `interval` that is expired (evicted) at `watermark`:
/// `start + len + lateness ≤ watermark`.
fn last_expired(watermark: i64, interval: Interval, lateness: i64) -> i64 {
    watermark.saturating_sub(interval.nanos()).saturating_sub(lateness)
}
