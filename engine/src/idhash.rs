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

/// A fast hasher for the short strings of the proxy's identity map (SIP URIs), eight octets
/// a step. The map's keys come from the control plane only, so a peer cannot choose them;
/// a lookup with any string costs one hash and the probe of one bucket run.
#[derive(Default, Clone, Copy)]
pub(crate) struct StrHasher(u64);

impl Hasher for StrHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ (bytes.len() as u64).wrapping_mul(K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h = (h ^ w).wrapping_mul(K).rotate_left(29);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.0 = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 31)
    }
}

/// Octet strings to octet strings, hashed with [`StrHasher`].
pub(crate) type BytesMap =
    std::collections::HashMap<Box<[u8]>, Box<[u8]>, BuildHasherDefault<StrHasher>>;
