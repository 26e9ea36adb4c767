//! When trades happen: trading sessions and the U-shaped intraday intensity.
//!
//! The intensity over a session is a mixture of three parts: a constant
//! level, a burst that decays from the open and one that builds towards the
//! close (truncated exponentials). Each part's inverse distribution function
//! has a closed form, so [`EventTimes`] draws every part's times already
//! sorted (sorted uniforms by the order-statistics recurrence, mapped through
//! the monotone inverse) and merges the three streams: times come out in
//! order with constant memory, however many trades a session holds.

use super::SimConfig;
use super::rng::{Rng, Stream};
use tickflow_shared::time::{NANOS_PER_DAY, NANOS_PER_MILLI, day_of};

/// Share of a session's trades in the part that decays from the open.
const OPEN_SHARE: f64 = 0.15;
/// Share of a session's trades in the part that builds towards the close.
const CLOSE_SHARE: f64 = 0.20;
/// Decay length of the open and close parts, as a fraction of the session
/// (0.05 of 6.5 hours is about 20 minutes).
const BURST_WIDTH: f64 = 0.05;

/// `1 - e^(-1/BURST_WIDTH)`: the mass a full exponential puts on one session.
fn burst_mass() -> f64 {
    -(-1.0 / BURST_WIDTH).exp_m1()
}

/// Relative trade intensity at `x` in `[0, 1]`, the elapsed fraction of a
/// session; its mean over the session is 1.
///
/// A live producer can scale its rate by this to get the same U shape that
/// [`generate`](super::generate) writes.
pub fn intensity(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    let burst = |d: f64| (-d / BURST_WIDTH).exp() / (BURST_WIDTH * burst_mass());
    (1.0 - OPEN_SHARE - CLOSE_SHARE) + OPEN_SHARE * burst(x) + CLOSE_SHARE * burst(1.0 - x)
}

/// The open of every trading session: `config.days` weekdays (UTC) starting
/// with the day of `config.start`, each at the time of day of `config.start`.
pub fn session_opens(config: &SimConfig) -> impl Iterator<Item = i64> + use<> {
    let start = config.start;
    let first = day_of(start);
    (0..)
        .map(move |offset| first + offset)
        // Day 0 (1970-01-01) was a Thursday; 5 and 6 are Saturday and Sunday.
        .filter(|day| (day + 3).rem_euclid(7) < 5)
        .map(move |day| start + (day - first) * NANOS_PER_DAY)
        .take(config.days as usize)
}

/// Which part of the intensity mixture a time stream draws from.
#[derive(Clone, Copy, Debug)]
enum Part {
    Open,
    Flat,
    Close,
}

/// `n` sorted draws from one part of the mixture, as session fractions.
#[derive(Debug)]
struct PartTimes {
    part: Part,
    remaining: u64,
    /// The last sorted uniform drawn.
    uniform: f64,
    /// The next value, if any.
    head: Option<f64>,
}

impl PartTimes {
    fn new(part: Part, n: u64, rng: &mut Rng) -> Self {
        let mut times = Self { part, remaining: n, uniform: 0.0, head: None };
        times.advance(rng);
        times
    }

    /// Draws the next order statistic: the smallest of `m` uniforms on
    /// `[u, 1)` is `u + (1 - u)(1 - V^(1/m))`.
    fn advance(&mut self, rng: &mut Rng) {
        if self.remaining == 0 {
            self.head = None;
            return;
        }
        let m = self.remaining as f64;
        let step = -(rng.open_unit().ln() / m).exp_m1();
        self.uniform += (1.0 - self.uniform) * step;
        self.remaining -= 1;
        let u = self.uniform.min(1.0);
        let x = match self.part {
            Part::Flat => u,
            Part::Open => -BURST_WIDTH * (-u * burst_mass()).ln_1p(),
            Part::Close => 1.0 + BURST_WIDTH * (1.0 - (1.0 - u) * burst_mass()).ln(),
        };
        self.head = Some(x.clamp(0.0, 1.0));
    }
}

/// Event times of all trades of a simulation, in order: `ticks` trades spread
/// evenly over the sessions of [`session_opens`], on whole milliseconds,
/// U-shaped within each session.
#[derive(Debug)]
pub struct EventTimes {
    rng: Rng,
    opens: Vec<i64>,
    /// Trades per session.
    counts: Vec<u64>,
    session_millis: i64,
    /// The session being drawn.
    session: usize,
    parts: [PartTimes; 3],
    /// The next time, drawn ahead so it can be peeked.
    next: Option<i64>,
}

impl EventTimes {
    /// Times for `ticks` trades under `config`.
    pub fn new(config: &SimConfig, ticks: u64) -> Self {
        let opens: Vec<i64> = session_opens(config).collect();
        let sessions = opens.len().max(1) as u64;
        let counts = (0..opens.len() as u64).map(|i| ticks / sessions + u64::from(i < ticks % sessions)).collect();
        let rng = Rng::new(config.seed, Stream::Clock);
        let empty = || PartTimes { part: Part::Flat, remaining: 0, uniform: 0.0, head: None };
        let session_millis = (config.session_seconds as i64 * 1000).max(1);
        let parts = [empty(), empty(), empty()];
        let mut times = Self { rng, opens, counts, session_millis, session: 0, parts, next: None };
        times.start_session(0);
        times.next = times.draw();
        times
    }

    /// The time [`Iterator::next`] returns next, without drawing it.
    pub fn peek(&self) -> Option<i64> {
        self.next
    }

    fn start_session(&mut self, session: usize) {
        self.session = session;
        let n = self.counts.get(session).copied().unwrap_or(0);
        let open = (n as f64 * OPEN_SHARE).round() as u64;
        let close = ((n as f64 * CLOSE_SHARE).round() as u64).min(n - open);
        self.parts = [
            PartTimes::new(Part::Open, open, &mut self.rng),
            PartTimes::new(Part::Flat, n - open - close, &mut self.rng),
            PartTimes::new(Part::Close, close, &mut self.rng),
        ];
    }

    fn draw(&mut self) -> Option<i64> {
        loop {
            let open = *self.opens.get(self.session)?;
            // The part with the earliest head; ties go to the first part.
            let mut best: Option<(usize, f64)> = None;
            for (i, part) in self.parts.iter().enumerate() {
                if let Some(x) = part.head
                    && best.is_none_or(|(_, b)| x < b)
                {
                    best = Some((i, x));
                }
            }
            match best {
                Some((i, x)) => {
                    self.parts[i].advance(&mut self.rng);
                    let millis = ((x * self.session_millis as f64) as i64).clamp(0, self.session_millis - 1);
                    return Some(open + millis * NANOS_PER_MILLI);
                }
                None => self.start_session(self.session + 1),
            }
        }
    }
}

impl Iterator for EventTimes {
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        let current = self.next?;
        self.next = self.draw();
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_shared::time::{NANOS_PER_SECOND, days_from_civil};

    #[test]
    fn sessions_skip_weekends() {
        // 2026-01-09 is a Friday.
        let start = days_from_civil(2026, 1, 9) * NANOS_PER_DAY + 14 * 3600 * NANOS_PER_SECOND;
        let config = SimConfig { start, days: 3, ..SimConfig::default() };
        let days: Vec<i64> = session_opens(&config).map(day_of).collect();
        assert_eq!(days, [9, 12, 13].map(|d| days_from_civil(2026, 1, d)));
    }

    #[test]
    fn intensity_is_u_shaped_with_mean_one() {
        let n = 100_000;
        let mean = (0..n).map(|i| intensity((f64::from(i) + 0.5) / f64::from(n))).sum::<f64>() / f64::from(n);
        assert!((mean - 1.0).abs() < 1e-6, "mean {mean}");
        assert!(intensity(0.0) > 3.0 * intensity(0.5));
        assert!(intensity(1.0) > 3.0 * intensity(0.5));
    }

    #[test]
    fn times_are_sorted_and_counted() {
        let config = SimConfig { days: 3, ..SimConfig::default() };
        let times: Vec<i64> = EventTimes::new(&config, 10_001).collect();
        assert_eq!(times.len(), 10_001);
        assert!(times.is_sorted());
        let opens: Vec<i64> = session_opens(&config).collect();
        for (i, open) in opens.iter().enumerate() {
            let end = open + config.session_seconds as i64 * NANOS_PER_SECOND;
            let in_session = times.iter().filter(|&&t| (*open..end).contains(&t)).count();
            assert_eq!(in_session, 3333 + usize::from(i < 2));
        }
        assert!(times.iter().all(|t| t % NANOS_PER_MILLI == 0));
    }
}
