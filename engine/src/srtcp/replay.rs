//! The SRTCP replay list: a sliding window over the explicit 31-bit SRTCP index
//! (RFC 3711 §3.3.2 and §3.4).
//!
//! The window remembers the highest index accepted (`top`) and which of the `size` indices
//! `top - size + 1 ..= top` were seen, in a ring of bits. An index above `top` is new; one in
//! the window is new if its bit is clear; one below the window is too old. The SRTCP index
//! never wraps (senders must re-key before 2^31), so no modular arithmetic is needed.
//!
//! [`ReplayWindow::check`] is read-only; [`ReplayWindow::commit`] is called only after the
//! packet authenticated. The bit ring is allocated once, when the window is made.

use super::{ConfigError, Error};

/// A replay window of 64 to 32768 SRTCP indices.
#[derive(Clone, Debug)]
pub struct ReplayWindow {
    size: u32,
    top: Option<u32>,
    bits: Bits,
}

/// Windows up to 128 (the default) keep their bits inline: one cache line fewer per packet.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bits {
    Inline([u64; 2]),
    Heap(Box<[u64]>),
}

impl core::ops::Deref for Bits {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        match self {
            Bits::Inline(b) => b,
            Bits::Heap(b) => b,
        }
    }
}

impl core::ops::DerefMut for Bits {
    fn deref_mut(&mut self) -> &mut [u64] {
        match self {
            Bits::Inline(b) => b,
            Bits::Heap(b) => b,
        }
    }
}

impl ReplayWindow {
    /// A window that accepts indices up to `size - 1` behind the highest seen.
    pub fn new(size: u32) -> Result<ReplayWindow, ConfigError> {
        if !(super::MIN_REPLAY_WINDOW..=super::MAX_REPLAY_WINDOW).contains(&size) {
            return Err(ConfigError::ReplayWindow(size));
        }
        // A power-of-two ring, so that a slot is a mask away from its index (no division on
        // the per-packet path).
        let words = size.div_ceil(64).next_power_of_two() as usize;
        let bits = if words <= 2 {
            Bits::Inline([0; 2])
        } else {
            Bits::Heap(vec![0u64; words].into_boxed_slice())
        };
        Ok(ReplayWindow {
            size,
            top: None,
            bits,
        })
    }

    /// The configured size.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The highest index accepted so far.
    pub fn highest(&self) -> Option<u32> {
        self.top
    }

    fn ring_bits(&self) -> u32 {
        self.bits.len() as u32 * 64
    }

    fn slot(&self, index: u32) -> (usize, u64) {
        let pos = index & (self.ring_bits() - 1);
        ((pos / 64) as usize, 1u64 << (pos % 64))
    }

    /// Whether `index` would be accepted. Changes nothing.
    pub fn check(&self, index: u32) -> Result<(), Error> {
        let Some(top) = self.top else {
            return Ok(());
        };
        if index > top {
            return Ok(());
        }
        if top - index >= self.size {
            return Err(Error::TooOld);
        }
        let (w, m) = self.slot(index);
        if self.bits[w] & m != 0 {
            Err(Error::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records `index` as received. Call only after [`Self::check`] passed and the packet
    /// authenticated.
    pub fn commit(&mut self, index: u32) {
        match self.top {
            Some(top) if index <= top => {}
            Some(top) => {
                self.clear_range(top + 1, index);
                self.top = Some(index);
            }
            None => self.top = Some(index),
        }
        let (w, m) = self.slot(index);
        self.bits[w] |= m;
    }

    /// Clears the bits of indices `from ..= to` (the slots the window slides over).
    fn clear_range(&mut self, from: u32, to: u32) {
        let ring = self.ring_bits();
        if to - from >= ring {
            self.bits.fill(0);
            return;
        }
        let mut j = from;
        while j <= to {
            let pos = j & (ring - 1);
            if pos.is_multiple_of(64) && to - j >= 63 {
                self.bits[(pos / 64) as usize] = 0;
                j += 64;
            } else {
                self.bits[(pos / 64) as usize] &= !(1u64 << (pos % 64));
                j += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, i: u32) -> Result<(), Error> {
        w.check(i)?;
        w.commit(i);
        Ok(())
    }

    #[test]
    fn size_limits() {
        assert_eq!(
            ReplayWindow::new(63).unwrap_err(),
            ConfigError::ReplayWindow(63)
        );
        assert_eq!(
            ReplayWindow::new(32769).unwrap_err(),
            ConfigError::ReplayWindow(32769)
        );
        assert!(ReplayWindow::new(64).is_ok());
        assert!(ReplayWindow::new(100).is_ok());
        assert!(ReplayWindow::new(32768).is_ok());
    }

    #[test]
    fn duplicate_out_of_order_too_old_and_jump() {
        let mut w = ReplayWindow::new(128).unwrap();
        accept(&mut w, 10).unwrap();
        assert_eq!(accept(&mut w, 10), Err(Error::Replayed));
        accept(&mut w, 12).unwrap();
        accept(&mut w, 11).unwrap(); // inside the window, out of order
        assert_eq!(accept(&mut w, 11), Err(Error::Replayed));
        accept(&mut w, 5).unwrap(); // below the first index seen but inside the window
        accept(&mut w, 1000).unwrap(); // far jump ahead
        assert_eq!(accept(&mut w, 872), Err(Error::TooOld)); // 1000 - 872 = 128
        accept(&mut w, 873).unwrap(); // 1000 - 873 = 127: last slot of the window
        assert_eq!(accept(&mut w, 12), Err(Error::TooOld));
        assert_eq!(w.highest(), Some(1000));
    }

    #[test]
    fn sliding_clears_old_slots() {
        // After sliding by exactly one ring, an index that shares a slot with an old one is
        // new, not replayed.
        let mut w = ReplayWindow::new(64).unwrap();
        for i in 0..64 {
            accept(&mut w, i).unwrap();
        }
        for i in 64..200 {
            accept(&mut w, i).unwrap();
            assert_eq!(accept(&mut w, i), Err(Error::Replayed));
        }
        assert_eq!(accept(&mut w, 135), Err(Error::TooOld)); // 199 - 135 = 64
        assert_eq!(accept(&mut w, 136), Err(Error::Replayed));
        // Skip ahead by 70, leaving holes that must be acceptable.
        accept(&mut w, 269).unwrap();
        for i in 206..269 {
            accept(&mut w, i).unwrap();
        }
        assert_eq!(accept(&mut w, 205), Err(Error::TooOld));
    }

    #[test]
    fn check_is_read_only() {
        let mut w = ReplayWindow::new(64).unwrap();
        accept(&mut w, 100).unwrap();
        let before = w.clone();
        for i in [0, 50, 99, 100, 101, 5000] {
            let _ = w.check(i);
        }
        assert_eq!(before.bits, w.bits);
        assert_eq!(before.top, w.top);
    }

    #[test]
    fn agrees_with_a_reference_set() {
        // Random walk against a naive model: a set of all accepted indices. Sizes inline and
        // on the heap, powers of two and not (the ring is rounded up to a power of two).
        for size in [64u32, 100, 128, 150, 200, 1000, 2500, 32768] {
            let mut w = ReplayWindow::new(size).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            let mut top: Option<u32> = None;
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(size);
            let span = u64::from(size) * 2 + 60;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let base = top.unwrap_or(100_000) as i64;
                let delta = (x % span) as i64 - i64::from(size) * 2;
                let i = (base + delta).max(0) as u32;
                let want = match top {
                    Some(t) if i <= t && t - i >= size => Err(Error::TooOld),
                    _ if seen.contains(&i) => Err(Error::Replayed),
                    _ => Ok(()),
                };
                assert_eq!(accept(&mut w, i), want, "size {size} index {i} top {top:?}");
                if want.is_ok() {
                    seen.insert(i);
                    top = Some(top.map_or(i, |t| t.max(i)));
                }
            }
        }
    }
}
