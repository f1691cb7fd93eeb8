//! When each packet is due on an open-loop run: a profile of segments (a constant rate, a
//! linear ramp, or steps), each holding a whole number of packets; packet `g`'s time is
//! where the profile's cumulative count reaches `g`. The verifier computes the same time
//! and measures latency from it, so a sender that falls behind shows as latency (no
//! coordinated omission).

/// One segment: `rate` packets per second at its start, `rate_end` at its end.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    start_us: f64,
    len_us: f64,
    rate: f64,
    rate_end: f64,
    first: u64,
    count: u64,
}

/// A run's schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    segs: Vec<Segment>,
    total: u64,
}

impl Schedule {
    /// `[(seconds, rate at start, rate at end)]`, at most `cap` packets in all.
    pub fn new(profile: &[(f64, f64, f64)], cap: u64) -> Schedule {
        let mut segs = Vec::new();
        let (mut start_us, mut first) = (0.0, 0u64);
        for &(secs, r0, r1) in profile {
            let count = ((r0 + r1) / 2.0 * secs).floor() as u64;
            let count = count.min(cap.saturating_sub(first));
            segs.push(Segment {
                start_us,
                len_us: secs * 1e6,
                rate: r0,
                rate_end: r1,
                first,
                count,
            });
            start_us += secs * 1e6;
            first += count;
        }
        Schedule { segs, total: first }
    }

    /// A constant `rate` for `secs`.
    pub fn constant(secs: f64, rate: f64, cap: u64) -> Schedule {
        Schedule::new(&[(secs, rate, rate)], cap)
    }

    /// Packets in the run.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// When packet `g` is due, µs from the start (the end of the run for `g` past it).
    pub fn time_us(&self, g: u64) -> u64 {
        let i = self.segs.partition_point(|s| s.first + s.count <= g);
        let Some(s) = self.segs.get(i) else {
            return self
                .segs
                .last()
                .map_or(0, |s| (s.start_us + s.len_us) as u64);
        };
        let n = (g - s.first) as f64;
        // Count by time t (s) in the segment: r0 t + a t² / 2, a = (r1 - r0) / len.
        let len = s.len_us / 1e6;
        let a = (s.rate_end - s.rate) / len;
        let t = if a.abs() < 1e-9 {
            n / s.rate
        } else {
            (-s.rate + (s.rate * s.rate + 2.0 * a * n).max(0.0).sqrt()) / a
        };
        (s.start_us + t * 1e6) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_constant_rate_spaces_packets_evenly() {
        let s = Schedule::constant(2.0, 1000.0, u64::MAX);
        assert_eq!(s.total(), 2000);
        assert_eq!(s.time_us(0), 0);
        assert_eq!(s.time_us(1), 1000);
        assert_eq!(s.time_us(1999), 1_999_000);
        assert_eq!(s.time_us(5000), 2_000_000);
    }

    #[test]
    fn a_ramp_and_steps_are_monotonic_and_hit_their_rates() {
        let s = Schedule::new(&[(1.0, 1000.0, 3000.0), (1.0, 500.0, 500.0)], u64::MAX);
        assert_eq!(s.total(), 2000 + 500);
        let mut last = 0;
        for g in 0..s.total() {
            let t = s.time_us(g);
            assert!(t >= last, "{g}");
            last = t;
        }
        // Early in the ramp packets are ~1 ms apart, late ~0.33 ms; the step is 2 ms.
        let gap = |g| s.time_us(g + 1) - s.time_us(g);
        assert!((900..=1100).contains(&gap(0)), "{}", gap(0));
        assert!((300..=360).contains(&gap(1990)), "{}", gap(1990));
        assert_eq!(s.time_us(2000), 1_000_000);
        assert_eq!(gap(2100), 2000);
        let capped = Schedule::constant(10.0, 1e6, 1000);
        assert_eq!(capped.total(), 1000);
    }
}
