//! A fast hasher for the integer keys of the data-path maps (key IDs, SSRCs).
//!
//! Entries are only ever inserted by the control plane or after a packet authenticated, so
//! an attacker cannot flood a map with chosen keys; SipHash's protection is not needed and
//! its cost (~20 ns) would be a large share of a packet.

use core::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hasher for integers.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

/// `HashMap` with [`IdHasher`].
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;
