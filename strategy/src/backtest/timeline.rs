//! The account's equity over time: one slot per interval step.

/// Changes of the account's value, summed per bar start, on a dense grid of
/// interval steps; a slot is marked when some bar starts there.
///
/// Bars are aligned to the interval, so a bar's slot is its start's distance
/// from the grid's origin in steps. The grid grows at either end as bars
/// outside it come; consecutive bars of one symbol step to the next slot
/// without a division ([`Cursor`]).
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    step: i64,
    origin: i64,
    deltas: Vec<i128>,
    marked: Vec<bool>,
}

/// Where one symbol's last bar went on a [`Timeline`].
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    start: i64,
    index: usize,
}

impl Timeline {
    /// An empty timeline of `step` ns slots.
    pub fn new(step: i64) -> Self {
        Self { step: step.max(1), ..Self::default() }
    }

    /// A cursor at `start`, the first bar of a symbol whose bars follow in
    /// start order; grows the grid to hold it.
    pub fn cursor(&mut self, start: i64) -> Cursor {
        if self.deltas.is_empty() {
            self.origin = start;
        } else if start < self.origin {
            let shift = usize::try_from((self.origin - start) / self.step).unwrap_or(0);
            self.deltas.splice(0..0, std::iter::repeat_n(0, shift));
            self.marked.splice(0..0, std::iter::repeat_n(false, shift));
            self.origin = start;
        }
        let index = usize::try_from((start - self.origin) / self.step).unwrap_or(0);
        self.reach(index);
        Cursor { start, index }
    }

    fn reach(&mut self, index: usize) {
        if index >= self.deltas.len() {
            let len = (index + 1).max(self.deltas.len() * 2);
            self.deltas.resize(len, 0);
            self.marked.resize(len, false);
        }
    }

    /// Adds another timeline of the same step.
    pub fn absorb(&mut self, other: Timeline) {
        let Some(first) = other.marked.iter().position(|m| *m) else { return };
        let mut cursor = self.cursor(other.origin + first as i64 * other.step);
        for (i, (delta, marked)) in other.deltas.into_iter().zip(other.marked).enumerate().skip(first) {
            if marked {
                cursor.add(self, other.origin + i as i64 * other.step, delta);
            }
        }
    }

    /// The equity at the close of every marked slot: `capital` plus every
    /// change up to it, with the slot's close time (its start plus one step).
    pub fn curve(&self, capital: i128) -> Vec<super::EquityPoint> {
        let mut equity = capital;
        let mut out = Vec::new();
        for (i, (delta, marked)) in self.deltas.iter().zip(&self.marked).enumerate() {
            equity += delta;
            if *marked {
                out.push(super::EquityPoint { time: self.origin + (i as i64 + 1) * self.step, equity });
            }
        }
        out
    }
}

impl Cursor {
    /// Adds `delta` at the bar starting at `start`, which is not before the
    /// cursor's last bar, and marks its slot.
    #[inline]
    pub fn add(&mut self, timeline: &mut Timeline, start: i64, delta: i128) {
        let gap = start - self.start;
        self.index += if gap == timeline.step { 1 } else { usize::try_from(gap / timeline.step).unwrap_or(0) };
        self.start = start;
        timeline.reach(self.index);
        timeline.deltas[self.index] += delta;
        timeline.marked[self.index] = true;
    }
}

#[cfg(test)]
mod tests {
    use super::Timeline;

    #[test]
    fn slots_sum_in_time_order_whatever_order_they_come_in() {
        let mut a = Timeline::new(10);
        let mut c = a.cursor(100);
        c.add(&mut a, 100, 5);
        c.add(&mut a, 130, -2);
        let mut c = a.cursor(50);
        c.add(&mut a, 50, 1);
        c.add(&mut a, 130, 4);
        let mut b = Timeline::new(10);
        let mut c = b.cursor(200);
        c.add(&mut b, 200, 7);
        c.add(&mut b, 210, 0);
        a.absorb(b);
        let curve: Vec<(i64, i128)> = a.curve(1000).iter().map(|p| (p.time, p.equity)).collect();
        assert_eq!(curve, [(60, 1001), (110, 1006), (140, 1008), (210, 1015), (220, 1015)]);
    }
}
