//! The data path's view of a store snapshot: an open-addressed table from MKI lookup key to
//! key entry.
//!
//! The control plane keeps its `HashMap`s; each published snapshot also carries this table,
//! rebuilt by the writer when it publishes (a write already copies the snapshot, so this adds
//! O(n) to an O(n) step). A lookup hashes the MKI to a slot and compares the key stored in
//! the slot: one cache line (16-octet slots, four per line) before the entry itself, where a
//! `HashMap` probe reads a control group and then a bucket, one after the other. The table is
//! at most half full, so a miss (a forged MKI) ends at an empty slot after a short run.

use std::sync::Arc;

use super::store::KeyEntry;

/// Open-addressed (linear probing) table of key entries by lookup key.
pub(crate) struct KeyIndex {
    slots: Box<[Slot]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
    /// `64 - log2(slots.len())`: the hash keeps its top bits.
    shift: u32,
}

/// A slot: the lookup key and the entry, or `None` when empty.
type Slot = (u64, Option<Arc<KeyEntry>>);

/// Fibonacci hashing: the multiplier is 2^64 / φ, and the top bits of the product are the
/// slot. Key IDs chosen in sequence spread evenly.
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

impl KeyIndex {
    /// A table of `entries`, keyed by each entry's lookup key.
    pub(crate) fn build<'a>(entries: impl ExactSizeIterator<Item = &'a Arc<KeyEntry>>) -> Self {
        let bits = (entries.len().max(4) * 2)
            .next_power_of_two()
            .trailing_zeros();
        let len = 1usize << bits;
        let mut slots: Box<[Slot]> = (0..len).map(|_| (0, None)).collect();
        let mask = len - 1;
        let shift = 64 - bits;
        for e in entries {
            let mut i = home(e.lookup, shift);
            while slots[i].1.is_some() {
                i = (i + 1) & mask;
            }
            slots[i] = (e.lookup, Some(Arc::clone(e)));
        }
        KeyIndex { slots, mask, shift }
    }

    /// The entry whose lookup key is `lookup`.
    #[inline]
    pub(crate) fn get(&self, lookup: u64) -> Option<&KeyEntry> {
        let mut i = home(lookup, self.shift);
        // At most half the slots are used, so the probe meets an empty slot.
        loop {
            match self.slots.get(i)? {
                (_, None) => return None,
                (k, Some(e)) if *k == lookup => return Some(e),
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// Starts loading the slot where a probe for `lookup` begins (batch calls issue these
    /// for a group of packets before probing).
    #[inline]
    pub(crate) fn prefetch(&self, lookup: u64) {
        if let Some(s) = self.slots.get(home(lookup, self.shift)) {
            crate::sync::prefetch(s);
        }
    }
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex::build(core::iter::empty())
    }
}

#[inline]
fn home(lookup: u64, shift: u32) -> usize {
    (lookup.wrapping_mul(PHI) >> shift) as usize
}
