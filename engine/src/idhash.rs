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
        let word = |c: &[u8]| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let mut h = self.0 ^ (bytes.len() as u64).wrapping_mul(K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            h = (h ^ word(c)).wrapping_mul(K).rotate_left(29);
        }
        let rest = chunks.remainder();
        let tail = if rest.is_empty() {
            0
        } else if bytes.len() >= 8 {
            // The last eight octets, overlapping the words already mixed: no copy.
            word(&bytes[bytes.len() - 8..])
        } else {
            rest.iter().fold(0u64, |t, &b| (t << 8) | u64::from(b))
        };
        self.0 = (h ^ tail).wrapping_mul(K);
    }
    // The length prefix that `Hash for [u8]` writes first: `write` mixes the length in
    // already, so it only needs to differ from nothing.
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(K);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 31)
    }
}

/// Octet strings to octet strings, hashed with [`StrHasher`].
pub(crate) type BytesMap =
    std::collections::HashMap<Box<[u8]>, Box<[u8]>, BuildHasherDefault<StrHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;

    fn h(b: &[u8]) -> u64 {
        BuildHasherDefault::<StrHasher>::default().hash_one(b)
    }

    #[test]
    fn str_hasher_sees_every_octet_and_the_length() {
        // Every position of strings of 1..=40 octets: flipping one octet changes the hash.
        for len in 1..=40usize {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for pos in 0..len {
                let mut other = base.clone();
                other[pos] ^= 0x20;
                assert_ne!(h(&base), h(&other), "len {len}, octet {pos}");
            }
            // A trailing zero octet is not the same string.
            let mut longer = base.clone();
            longer.push(0);
            assert_ne!(h(&base), h(&longer), "len {len}");
        }
        assert_eq!(h(b"sip:a@ex.x.org"), h(b"sip:a@ex.x.org"));
    }

    #[test]
    fn bytes_map_finds_what_was_put_and_nothing_else() {
        let mut m = BytesMap::default();
        for i in 0..500u32 {
            let k = format!("sip:user{i}@d{}.example.org", i % 7);
            m.insert(k.as_bytes().into(), i.to_be_bytes().into());
        }
        for i in 0..500u32 {
            let k = format!("sip:user{i}@d{}.example.org", i % 7);
            assert_eq!(
                m.get(k.as_bytes()).map(|v| &v[..]),
                Some(&i.to_be_bytes()[..])
            );
            let k = format!("sip:user{i}@d{}.example.org", (i + 1) % 7);
            assert!(!m.contains_key(k.as_bytes()), "{k}");
        }
    }
}
