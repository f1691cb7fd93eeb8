//! A key's transmit SRTCP indices, one counter per SSRC (RFC 3711 §3.4: the index of a
//! (key, SSRC) only grows; at 2^31 the key is spent).
//!
//! Protect runs on any thread with `&self`, so the table is lock-free: a slot is an SSRC
//! (claimed once by compare-and-swap, never released while the key lives) and a counter
//! taken with `fetch_add`, so no index is handed out twice. Most keys send on one or two
//! SSRCs (a CSK toward its client); an SPK toward a peer server carries thousands. The table
//! is therefore a short inline run of slots followed by regions allocated on first use, each
//! sixteen times the last, up to the key's limit of SSRCs
//! ([`super::StoreConfig::tx_ssrcs_per_key`]).
//!
//! # Probing
//!
//! The inline run is scanned whole. In each region an SSRC has a home slot and a window of
//! [`WINDOW`] slots from it; the last region is sized to stay at most half full at the limit,
//! and its probe runs until an empty slot. Slots only ever go from empty to claimed, so every
//! thread looking for one SSRC walks the same sequence and stops at the same slot: the SSRC's,
//! or the first empty one, which one of them claims and the others then find. An SSRC whose
//! window in a region is full goes to the next region.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::srtcp::MAX_INDEX;

/// Slots scanned before the regions.
const INLINE: usize = 4;
/// Slots probed from an SSRC's home in every region but the last.
const WINDOW: usize = 16;
/// Regions after the inline run: 64, 1024, 16 Ki, then the last (sized by the limit).
const REGIONS: usize = 4;
/// The most SSRCs a key may send on.
pub const MAX_TX_SSRCS: u32 = 1 << 16;
const EMPTY: u64 = u64::MAX;
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

struct Slot {
    ssrc: AtomicU64,
    next: AtomicU64,
}

impl Slot {
    fn new(first: u32) -> Slot {
        Slot {
            ssrc: AtomicU64::new(EMPTY),
            next: AtomicU64::new(u64::from(first)),
        }
    }
}

/// Why an index could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TakeError {
    /// The SSRC's index space is spent (2^31 packets).
    Exhausted,
    /// The key already sends on as many SSRCs as its limit allows.
    TooManySsrcs,
}

/// The regions after the inline run, each allocated on first use.
type Regions = [OnceLock<Box<[Slot]>>; REGIONS];

/// The transmit indices of one key. `repr(C)`: the inline slots (64 octets) come first.
#[repr(C)]
pub(crate) struct TxIndices {
    inline: [Slot; INLINE],
    /// The regions, allocated when the inline slots are all claimed (most keys never need
    /// them, and the entry stays small).
    regions: OnceLock<Box<Regions>>,
    /// SSRCs claimed (at most `limit`).
    claimed: AtomicU32,
    limit: u32,
    /// The first index of a new SSRC: above every index the key ID sent with before it was
    /// last removed from the store (a reinstall never repeats a (key, index) pair).
    first: u32,
}

impl core::fmt::Debug for TxIndices {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TxIndices")
            .field("ssrcs", &self.claimed.load(Ordering::Relaxed))
            .field("limit", &self.limit)
            .field("first", &self.first)
            .finish()
    }
}

/// The slots of region `r`: 64, 1024, 16 Ki, each at most the last region's size, which is
/// twice the limit (so that it stays at most half full).
fn region_len(r: usize, limit: u32) -> usize {
    let last = (2 * limit as usize).next_power_of_two().max(64);
    if r + 1 < REGIONS {
        (64 << (4 * r)).min(last)
    } else {
        last
    }
}

fn home(ssrc: u32, len: usize) -> usize {
    ((u64::from(ssrc).wrapping_mul(PHI) >> 32) as usize) & (len - 1)
}

impl TxIndices {
    /// An empty table for at most `limit` SSRCs (clamped to 1..=[`MAX_TX_SSRCS`]), whose
    /// SSRCs start at index `first`.
    pub(crate) fn new(limit: u32, first: u32) -> TxIndices {
        TxIndices {
            inline: core::array::from_fn(|_| Slot::new(first)),
            regions: OnceLock::new(),
            claimed: AtomicU32::new(0),
            limit: limit.clamp(1, MAX_TX_SSRCS),
            first,
        }
    }

    /// A table for a key's successor: every SSRC keeps its next index (RFC 3711 §3.4), new
    /// SSRCs start at `first` or this table's start, whichever is higher.
    pub(crate) fn successor(&self, limit: u32, first: u32) -> TxIndices {
        let next = TxIndices::new(limit.max(self.limit), first.max(self.first));
        self.for_each(|ssrc, i| {
            if let Ok(slot) = next.slot(ssrc) {
                slot.next.store(i, Ordering::Relaxed);
            }
        });
        next
    }

    /// Takes the next index for `ssrc`.
    #[inline]
    pub(crate) fn take(&self, ssrc: u32) -> Result<u32, TakeError> {
        let slot = self.slot(ssrc)?;
        let i = slot.next.fetch_add(1, Ordering::Relaxed);
        if i > u64::from(MAX_INDEX) {
            // Keep the counter from wrapping however long a spent key is asked.
            slot.next.store(u64::from(MAX_INDEX) + 1, Ordering::Relaxed);
            return Err(TakeError::Exhausted);
        }
        Ok(i as u32)
    }

    /// The next index `ssrc` would get, if it has sent.
    pub(crate) fn peek(&self, ssrc: u32) -> Option<u64> {
        self.find(ssrc).map(|s| s.next.load(Ordering::Relaxed))
    }

    /// The first index of a new SSRC.
    pub(crate) fn first(&self) -> u32 {
        self.first
    }

    /// SSRCs this key sends on.
    pub(crate) fn ssrcs(&self) -> u32 {
        self.claimed.load(Ordering::Relaxed)
    }

    /// The first index above every index taken (or `first`, when none was): where a key
    /// reinstalled under the same ID starts.
    pub(crate) fn high_water(&self) -> u32 {
        let mut top = u64::from(self.first);
        self.for_each(|_, i| top = top.max(i));
        top.min(u64::from(MAX_INDEX) + 1) as u32
    }

    /// Calls `f` with every SSRC and its next index.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, u64)) {
        let regions = self
            .regions
            .get()
            .into_iter()
            .flat_map(|r| r.iter().filter_map(OnceLock::get));
        for s in self.inline.iter().chain(regions.flat_map(|r| r.iter())) {
            let ssrc = s.ssrc.load(Ordering::Acquire);
            if ssrc != EMPTY {
                f(ssrc as u32, s.next.load(Ordering::Relaxed));
            }
        }
    }

    /// The slot of `ssrc`, if it has one.
    fn find(&self, ssrc: u32) -> Option<&Slot> {
        let want = u64::from(ssrc);
        for s in &self.inline {
            match s.ssrc.load(Ordering::Acquire) {
                x if x == want => return Some(s),
                EMPTY => return None,
                _ => {}
            }
        }
        let regions = self.regions.get()?;
        for (r, region) in regions.iter().enumerate() {
            let slots = region.get()?;
            let len = slots.len();
            let h = home(ssrc, len);
            let window = if r + 1 < REGIONS { WINDOW } else { len };
            for i in 0..window {
                let s = &slots[(h + i) & (len - 1)];
                match s.ssrc.load(Ordering::Acquire) {
                    x if x == want => return Some(s),
                    EMPTY => return None,
                    _ => {}
                }
            }
        }
        None
    }

    /// The slot of `ssrc`, claimed for it if it has none (within the limit).
    fn slot(&self, ssrc: u32) -> Result<&Slot, TakeError> {
        let want = u64::from(ssrc);
        for s in &self.inline {
            if self.claim(s, want)? {
                return Ok(s);
            }
        }
        let regions = self
            .regions
            .get_or_init(|| Box::new(core::array::from_fn(|_| OnceLock::new())));
        for (r, region) in regions.iter().enumerate() {
            let len = region_len(r, self.limit);
            let slots = region.get_or_init(|| (0..len).map(|_| Slot::new(self.first)).collect());
            let h = home(ssrc, len);
            let window = if r + 1 < REGIONS { WINDOW } else { len };
            for i in 0..window {
                let s = &slots[(h + i) & (len - 1)];
                if self.claim(s, want)? {
                    return Ok(s);
                }
            }
        }
        // The last region holds twice the limit: reached only past the limit.
        Err(TakeError::TooManySsrcs)
    }

    /// Whether `s` is (now) the slot of `want`: it holds `want`, or it was empty and this
    /// call claimed it. `Ok(false)`: it belongs to another SSRC.
    #[inline]
    fn claim(&self, s: &Slot, want: u64) -> Result<bool, TakeError> {
        match s.ssrc.load(Ordering::Acquire) {
            x if x == want => return Ok(true),
            EMPTY => {}
            _ => return Ok(false),
        }
        if self.claimed.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.claimed.fetch_sub(1, Ordering::AcqRel);
            // Another thread may have claimed this slot for the same SSRC meanwhile.
            return if s.ssrc.load(Ordering::Acquire) == want {
                Ok(true)
            } else {
                Err(TakeError::TooManySsrcs)
            };
        }
        match s
            .ssrc
            .compare_exchange(EMPTY, want, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(true),
            Err(other) => {
                self.claimed.fetch_sub(1, Ordering::AcqRel);
                Ok(other == want)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_continue_and_refuse_at_2_pow_31() {
        let tx = TxIndices::new(16, 0);
        assert_eq!(tx.take(7), Ok(0));
        assert_eq!(tx.take(7), Ok(1));
        assert_eq!(tx.take(8), Ok(0));
        tx.find(7)
            .unwrap()
            .next
            .store(u64::from(MAX_INDEX), Ordering::Relaxed);
        assert_eq!(tx.take(7), Ok(MAX_INDEX));
        assert_eq!(tx.take(7), Err(TakeError::Exhausted));
        assert_eq!(tx.take(7), Err(TakeError::Exhausted));
        assert_eq!(tx.high_water(), MAX_INDEX + 1);
        for ssrc in 100..114 {
            assert!(tx.take(ssrc).is_ok());
        }
        assert_eq!(tx.take(999), Err(TakeError::TooManySsrcs));
        assert_eq!(tx.ssrcs(), 16);
    }

    /// An SPK trunk: thousands of SSRCs under one key, each with its own counter, up to the
    /// limit and not one more.
    #[test]
    fn thousands_of_ssrcs_up_to_the_limit() {
        let limit = 20_000;
        let tx = TxIndices::new(limit, 0);
        for round in 0..3u32 {
            for ssrc in 0..limit {
                let s = ssrc.wrapping_mul(0x9e37_79b9);
                assert_eq!(tx.take(s), Ok(round), "ssrc {s:08x}");
            }
        }
        assert_eq!(tx.ssrcs(), limit);
        assert_eq!(tx.take(0xdead_beef), Err(TakeError::TooManySsrcs));
        assert_eq!(tx.peek(0), Some(3));
        assert_eq!(tx.peek(0xdead_beef), None);
    }

    /// SSRCs that collide in the early regions cannot make a key with a small limit allocate
    /// more than its last region's size per region.
    #[test]
    fn regions_stay_within_the_limit() {
        for r in 0..REGIONS {
            assert!(region_len(r, 100) <= 256, "region {r}");
        }
        assert_eq!(region_len(2, 65_536), 16 * 1024);
        assert_eq!(region_len(3, 65_536), 128 * 1024);
        let tx = TxIndices::new(100, 0);
        for ssrc in 0..100 {
            assert!(tx.take(ssrc * 0x0100_0000).is_ok());
        }
        assert_eq!(tx.take(0xffff_ffff), Err(TakeError::TooManySsrcs));
    }

    #[test]
    fn successor_keeps_counters_and_first_index() {
        let tx = TxIndices::new(4, 10);
        assert_eq!(tx.take(1), Ok(10));
        assert_eq!(tx.take(1), Ok(11));
        let next = tx.successor(4, 0);
        assert_eq!(next.take(1), Ok(12));
        assert_eq!(next.take(2), Ok(10));
        let later = next.successor(4, 50);
        assert_eq!(later.take(3), Ok(50));
        assert_eq!(later.high_water(), 50 + 1);
    }

    #[test]
    fn threads_never_share_an_index() {
        let tx = std::sync::Arc::new(TxIndices::new(1000, 0));
        let got: Vec<Vec<(u32, u32)>> = (0..4)
            .map(|_| {
                let tx = std::sync::Arc::clone(&tx);
                std::thread::spawn(move || {
                    (0..4000u32)
                        .map(|i| {
                            let ssrc = i % 300;
                            (ssrc, tx.take(ssrc).unwrap())
                        })
                        .collect()
                })
            })
            .map(|t| t.join().unwrap())
            .collect();
        let mut all: Vec<(u32, u32)> = got.into_iter().flatten().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "an index was handed out twice");
        assert_eq!(tx.ssrcs(), 300);
    }
}
