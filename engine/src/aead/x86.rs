//! x86_64 AES-GCM kernel: AES-NI for the block cipher, PCLMULQDQ for GHASH, one packet at a
//! time.
//!
//! The per-packet code runs inside `#[target_feature]` functions, so a plain
//! `cargo build --release` (baseline x86_64) still gets AES-NI and carry-less multiplies,
//! and the CPU check happens once, when a [`Key`] is set up: a `Key` exists only on a CPU
//! that has the features, which is what makes the calls into the feature-gated code sound.
//!
//! GHASH is computed as POLYVAL (RFC 8452 Appendix A): blocks are byte-reversed, the hash key
//! is `mulX_POLYVAL(ByteReverse(H))`, and the result is byte-reversed back. In POLYVAL's
//! bit order a carry-less multiply needs no bit reflection, and the product is reduced by two
//! folding multiplies by the constant `0xc2…00` (Montgomery reduction by x^128). Eight blocks
//! are multiplied by H^8 … H^1 and reduced once (aggregated reduction), so a 64-octet packet
//! costs one reduction for its ciphertext.

use core::arch::x86_64::{
    __m128i, _mm_aesenc_si128, _mm_aesenclast_si128, _mm_aeskeygenassist_si128,
    _mm_clmulepi64_si128, _mm_insert_epi32, _mm_loadu_si128, _mm_set_epi8, _mm_set_epi64x,
    _mm_set1_epi8, _mm_setzero_si128, _mm_shuffle_epi8, _mm_shuffle_epi32, _mm_slli_si128,
    _mm_srli_si128, _mm_storeu_si128, _mm_testz_si128, _mm_xor_si128,
};

use zeroize::Zeroize;

cpufeatures::new!(cpu_aesni, "aes", "pclmulqdq", "ssse3", "sse4.1");
cpufeatures::new!(
    cpu_vaes,
    "avx512f",
    "avx512vl",
    "avx512bw",
    "vaes",
    "vpclmulqdq"
);

/// Whether this CPU has what the single-buffer kernel needs (detected once, then cached).
pub(super) fn available() -> bool {
    cpu_aesni::get()
}

/// Whether this CPU also has what the multi-buffer kernel needs.
pub(super) fn vaes_available() -> bool {
    cpu_vaes::get()
}

/// Number of H powers kept: blocks hashed per reduction.
pub(super) const H_POWERS: usize = 8;

/// An expanded AES-128 or AES-256 key and its GHASH key powers. Exists only on a CPU with
/// AES-NI, PCLMULQDQ, SSSE3 and SSE4.1. Zeroized on drop.
#[derive(Clone)]
#[repr(C, align(64))]
pub(super) struct Key {
    /// Round keys 0..=rounds (AES-128 uses 11, AES-256 all 15).
    rk: [u128; 15],
    /// `h[i]` = H^(i+1) in POLYVAL form.
    h: [u128; H_POWERS],
    rounds: usize,
}

impl Drop for Key {
    fn drop(&mut self) {
        self.rk.zeroize();
        self.h.zeroize();
    }
}

/// Byte-reversal of a block: GHASH ↔ POLYVAL bit order.
#[target_feature(enable = "sse2")]
#[inline]
fn bswap_mask() -> __m128i {
    _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}

#[target_feature(enable = "sse2")]
#[inline]
fn load(b: &[u8; 16]) -> __m128i {
    // SAFETY: `b` is 16 readable octets; the load has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

#[target_feature(enable = "sse2")]
#[inline]
fn store(b: &mut [u8; 16], v: __m128i) {
    // SAFETY: `b` is 16 writable octets; the store has no alignment requirement.
    unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), v) }
}

/// A value already in registers (the octets of a block, read little-endian), moved into a
/// vector register without a trip through memory.
#[target_feature(enable = "sse2")]
#[inline]
fn from_u128(x: u128) -> __m128i {
    _mm_set_epi64x((x >> 64) as u64 as i64, x as u64 as i64)
}

/// A block stored in a key (written once at set-up), loaded straight from memory.
#[target_feature(enable = "sse2")]
#[inline]
fn ld(x: &u128) -> __m128i {
    // SAFETY: `x` is 16 readable octets; the load has no alignment requirement.
    unsafe { _mm_loadu_si128(core::ptr::from_ref(x).cast()) }
}

/// Up to 16 octets, zero-padded, as a little-endian integer, assembled with scalar loads so
/// that the vector load of a partial block never waits on a store that cannot be forwarded.
#[inline(always)]
fn load_partial(b: &[u8]) -> u128 {
    let mut v: u128 = 0;
    let mut at = 0;
    while b.len() - at >= 8 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        v |= u128::from(u64::from_le_bytes(w)) << (8 * at);
        at += 8;
    }
    if b.len() - at >= 4 {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[at..at + 4]);
        v |= u128::from(u32::from_le_bytes(w)) << (8 * at);
        at += 4;
    }
    if b.len() - at >= 2 {
        v |= u128::from(u16::from_le_bytes([b[at], b[at + 1]])) << (8 * at);
        at += 2;
    }
    if b.len() > at {
        v |= u128::from(b[at]) << (8 * at);
    }
    v
}

#[target_feature(enable = "sse2")]
#[inline]
fn to_u128(v: __m128i) -> u128 {
    let mut b = [0u8; 16];
    store(&mut b, v);
    let x = u128::from_le_bytes(b);
    b.zeroize();
    x
}

/// One AES-128 key-schedule step: the running prefix XOR of `prev`'s words, XOR the
/// broadcast word `t`.
#[target_feature(enable = "sse2")]
#[inline]
fn expand_step(prev: __m128i, t: __m128i) -> __m128i {
    let mut k = prev;
    k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    _mm_xor_si128(k, t)
}

macro_rules! assist {
    ($k:expr, $rcon:literal, $lane:literal) => {
        _mm_shuffle_epi32::<$lane>(_mm_aeskeygenassist_si128::<$rcon>($k))
    };
}

#[target_feature(enable = "aes,sse2")]
fn expand128(key: &[u8; 16]) -> [__m128i; 11] {
    let mut rk = [_mm_setzero_si128(); 11];
    rk[0] = load(key);
    rk[1] = expand_step(rk[0], assist!(rk[0], 0x01, 0xff));
    rk[2] = expand_step(rk[1], assist!(rk[1], 0x02, 0xff));
    rk[3] = expand_step(rk[2], assist!(rk[2], 0x04, 0xff));
    rk[4] = expand_step(rk[3], assist!(rk[3], 0x08, 0xff));
    rk[5] = expand_step(rk[4], assist!(rk[4], 0x10, 0xff));
    rk[6] = expand_step(rk[5], assist!(rk[5], 0x20, 0xff));
    rk[7] = expand_step(rk[6], assist!(rk[6], 0x40, 0xff));
    rk[8] = expand_step(rk[7], assist!(rk[7], 0x80, 0xff));
    rk[9] = expand_step(rk[8], assist!(rk[8], 0x1b, 0xff));
    rk[10] = expand_step(rk[9], assist!(rk[9], 0x36, 0xff));
    rk
}

#[target_feature(enable = "aes,sse2")]
fn expand256(key: &[u8; 32]) -> [__m128i; 15] {
    let mut rk = [_mm_setzero_si128(); 15];
    let (a, b) = key.split_at(16);
    let (Ok(a), Ok(b)) = (<&[u8; 16]>::try_from(a), <&[u8; 16]>::try_from(b)) else {
        unreachable!("32 octets split in two halves of 16")
    };
    rk[0] = load(a);
    rk[1] = load(b);
    // Even round keys take SubWord(RotWord(w)) ^ rcon of the previous odd one (lane 3);
    // odd round keys take SubWord(w) of the previous even one (lane 2), no rcon.
    rk[2] = expand_step(rk[0], assist!(rk[1], 0x01, 0xff));
    rk[3] = expand_step(rk[1], assist!(rk[2], 0x00, 0xaa));
    rk[4] = expand_step(rk[2], assist!(rk[3], 0x02, 0xff));
    rk[5] = expand_step(rk[3], assist!(rk[4], 0x00, 0xaa));
    rk[6] = expand_step(rk[4], assist!(rk[5], 0x04, 0xff));
    rk[7] = expand_step(rk[5], assist!(rk[6], 0x00, 0xaa));
    rk[8] = expand_step(rk[6], assist!(rk[7], 0x08, 0xff));
    rk[9] = expand_step(rk[7], assist!(rk[8], 0x00, 0xaa));
    rk[10] = expand_step(rk[8], assist!(rk[9], 0x10, 0xff));
    rk[11] = expand_step(rk[9], assist!(rk[10], 0x00, 0xaa));
    rk[12] = expand_step(rk[10], assist!(rk[11], 0x20, 0xff));
    rk[13] = expand_step(rk[11], assist!(rk[12], 0x00, 0xaa));
    rk[14] = expand_step(rk[12], assist!(rk[13], 0x40, 0xff));
    rk
}

/// The product of two POLYVAL elements before reduction: (low, middle, high) 128-bit parts.
#[derive(Clone, Copy)]
pub(super) struct Wide {
    lo: __m128i,
    mid: __m128i,
    hi: __m128i,
}

impl Wide {
    #[target_feature(enable = "sse2")]
    #[inline]
    pub(super) fn zero() -> Wide {
        Wide {
            lo: _mm_setzero_si128(),
            mid: _mm_setzero_si128(),
            hi: _mm_setzero_si128(),
        }
    }

    /// Adds `a · b` (schoolbook: four 64×64 carry-less multiplies).
    #[target_feature(enable = "pclmulqdq,sse2")]
    #[inline]
    pub(super) fn mul_add(&mut self, a: __m128i, b: __m128i) {
        self.lo = _mm_xor_si128(self.lo, _mm_clmulepi64_si128::<0x00>(a, b));
        self.hi = _mm_xor_si128(self.hi, _mm_clmulepi64_si128::<0x11>(a, b));
        self.mid = _mm_xor_si128(self.mid, _mm_clmulepi64_si128::<0x01>(a, b));
        self.mid = _mm_xor_si128(self.mid, _mm_clmulepi64_si128::<0x10>(a, b));
    }

    /// Reduces to a field element: `(hi·x^128 + lo) · x^-128 mod P(x)`.
    #[target_feature(enable = "pclmulqdq,sse2")]
    #[inline]
    pub(super) fn reduce(self) -> __m128i {
        let lo = _mm_xor_si128(self.lo, _mm_slli_si128::<8>(self.mid));
        let hi = _mm_xor_si128(self.hi, _mm_srli_si128::<8>(self.mid));
        // 0xc2 << 56 in the high half: x^127 + x^126 + x^121 folded down by 64 bits.
        let poly = _mm_set_epi64x(0xc200_0000_0000_0000_u64.cast_signed(), 1);
        let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
        let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
        let t = _mm_clmulepi64_si128::<0x10>(lo, poly);
        let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
        _mm_xor_si128(hi, lo)
    }
}

/// `mulX_POLYVAL(ByteReverse(h))` (RFC 8452 Appendix A): the POLYVAL key for GHASH key `h`.
fn polyval_key(h: &[u8; 16]) -> u128 {
    let v = u128::from_be_bytes(*h);
    let mut x = v << 1;
    if v >> 127 == 1 {
        x ^= 0xc200_0000_0000_0000_0000_0000_0000_0001;
    }
    x
}

impl Key {
    /// Expands a 16- or 32-octet key. `None` if this CPU lacks the features or the length is
    /// wrong.
    pub(super) fn new(key: &[u8]) -> Option<Key> {
        if !available() {
            return None;
        }
        // SAFETY: the CPU has AES-NI, PCLMULQDQ, SSSE3 and SSE4.1 (checked above).
        unsafe { Key::expand(key) }
    }

    #[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
    fn expand(key: &[u8]) -> Option<Key> {
        let mut k = Key {
            rk: [0; 15],
            h: [0; H_POWERS],
            rounds: 0,
        };
        if let Ok(k16) = <&[u8; 16]>::try_from(key) {
            for (d, s) in k.rk.iter_mut().zip(expand128(k16).iter()) {
                *d = to_u128(*s);
            }
            k.rounds = 10;
        } else if let Ok(k32) = <&[u8; 32]>::try_from(key) {
            for (d, s) in k.rk.iter_mut().zip(expand256(k32).iter()) {
                *d = to_u128(*s);
            }
            k.rounds = 14;
        } else {
            return None;
        }
        let mut zero = [_mm_setzero_si128()];
        aes_blocks(&k, &mut zero);
        let mut hb = [0u8; 16];
        store(&mut hb, zero[0]);
        let h1 = polyval_key(&hb);
        hb.zeroize();
        k.h[0] = h1;
        let h1 = from_u128(h1);
        let mut p = h1;
        for i in 1..H_POWERS {
            let mut w = Wide::zero();
            w.mul_add(p, h1);
            p = w.reduce();
            k.h[i] = to_u128(p);
        }
        Some(k)
    }

    /// XORs the keystream from counter block `j0` + 1 on into `data` (GCM CTR; `j0` is the
    /// pre-counter block read little-endian, its last four octets a big-endian counter).
    pub(super) fn apply_keystream(&self, j0: u128, data: &mut [u8]) {
        // SAFETY: a `Key` exists only on a CPU with the kernel's features (`Key::new`).
        unsafe { ctr(self, j0, data) }
    }

    /// The GCM tag: GHASH over `aad` (its parts concatenated) and `ct`, XOR E_K(j0).
    pub(super) fn tag(&self, j0: u128, aad: &[&[u8]], ct: &[u8]) -> [u8; 16] {
        // SAFETY: as in `apply_keystream`.
        unsafe { tag(self, j0, aad, ct) }
    }

    /// Encrypts `data` in place and returns the tag, in one pass when `data` is short.
    pub(super) fn seal(&self, j0: u128, aad: &[&[u8]], data: &mut [u8]) -> [u8; 16] {
        if data.len() <= SMALL_MAX {
            // SAFETY: as in `apply_keystream`.
            unsafe { seal_small(self, j0, aad, data) }
        } else {
            self.apply_keystream(j0, data);
            self.tag(j0, aad, data)
        }
    }

    /// Verifies `tag`, then decrypts `data` in place; `false` (and `data` unchanged) if the
    /// tag does not match.
    pub(super) fn open(&self, j0: u128, aad: &[&[u8]], data: &mut [u8], tag: &[u8; 16]) -> bool {
        if data.len() <= SMALL_MAX {
            // SAFETY: as in `apply_keystream`.
            unsafe { open_small(self, j0, aad, data, tag) }
        } else {
            let want = self.tag(j0, aad, data);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(&want[..], &tag[..])) {
                return false;
            }
            self.apply_keystream(j0, data);
            true
        }
    }

    /// Verifies `tag` over `src`, then writes the plaintext to `dst` (same length); `false`
    /// (and `dst` untouched) if the tag does not match.
    pub(super) fn open_to(
        &self,
        j0: u128,
        aad: &[&[u8]],
        src: &[u8],
        dst: &mut [u8],
        tag: &[u8; 16],
    ) -> bool {
        debug_assert_eq!(src.len(), dst.len());
        if src.len() <= SMALL_MAX && src.len() == dst.len() {
            // SAFETY: as in `apply_keystream`.
            unsafe { open_small_to(self, j0, aad, src, dst, tag) }
        } else {
            let want = self.tag(j0, aad, src);
            if !bool::from(subtle::ConstantTimeEq::ct_eq(&want[..], &tag[..])) {
                return false;
            }
            dst.copy_from_slice(src);
            self.apply_keystream(j0, dst);
            true
        }
    }

    /// GHASH alone over `data` zero-padded, then `0^64 ‖ [bit_len]64` (the pre-counter block
    /// of an IV that is not 96 bits long).
    pub(super) fn ghash_padded(&self, data: &[u8], bit_len: u64) -> [u8; 16] {
        // SAFETY: as in `apply_keystream`.
        unsafe { ghash_padded(self, data, bit_len) }
    }
}

/// Encrypts `N` independent blocks, interleaved round by round.
#[target_feature(enable = "aes,sse2")]
#[inline]
fn aes_blocks<const N: usize>(key: &Key, b: &mut [__m128i; N]) {
    let k0 = ld(&key.rk[0]);
    for x in b.iter_mut() {
        *x = _mm_xor_si128(*x, k0);
    }
    for k in &key.rk[1..key.rounds] {
        let k = ld(k);
        for x in b.iter_mut() {
            *x = _mm_aesenc_si128(*x, k);
        }
    }
    let kl = ld(&key.rk[key.rounds]);
    for x in b.iter_mut() {
        *x = _mm_aesenclast_si128(*x, kl);
    }
}

/// Counter block `base` with its 32-bit big-endian counter set to `c`.
#[target_feature(enable = "sse4.1")]
#[inline]
fn counter(base: __m128i, c: u32) -> __m128i {
    _mm_insert_epi32::<3>(base, c.swap_bytes().cast_signed())
}

/// The 32-bit counter of a pre-counter block, plus one.
fn first_counter(j0: u128) -> u32 {
    ((j0 >> 96) as u32).swap_bytes().wrapping_add(1)
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn ctr(key: &Key, j0: u128, data: &mut [u8]) {
    let base = from_u128(j0);
    let mut c = first_counter(j0);
    let (blocks, tail) = data.as_chunks_mut::<16>();
    let mut eight = blocks.chunks_exact_mut(8);
    for group in &mut eight {
        let mut ks = [_mm_setzero_si128(); 8];
        for k in ks.iter_mut() {
            *k = counter(base, c);
            c = c.wrapping_add(1);
        }
        aes_blocks(key, &mut ks);
        for (d, k) in group.iter_mut().zip(ks.iter()) {
            store(d, _mm_xor_si128(load(d), *k));
        }
    }
    let rest = eight.into_remainder();
    // At most 7 whole blocks and a partial one: encrypt them as one group of 4 or 8.
    let n = rest.len() + usize::from(!tail.is_empty());
    if n == 0 {
        return;
    }
    let mut ks = [_mm_setzero_si128(); 8];
    for k in ks.iter_mut().take(n) {
        *k = counter(base, c);
        c = c.wrapping_add(1);
    }
    if n <= 4 {
        let mut four = [ks[0], ks[1], ks[2], ks[3]];
        aes_blocks(key, &mut four);
        ks[..4].copy_from_slice(&four);
    } else {
        aes_blocks(key, &mut ks);
    }
    for (d, k) in rest.iter_mut().zip(ks.iter()) {
        store(d, _mm_xor_si128(load(d), *k));
    }
    if !tail.is_empty() {
        let mut last = [0u8; 16];
        store(&mut last, ks[rest.len()]);
        for (d, k) in tail.iter_mut().zip(last.iter()) {
            *d ^= k;
        }
        last.zeroize();
    }
}

/// GHASH over a byte stream that arrives in pieces, whose total number of blocks is known
/// up front. Blocks are multiplied by H^k … H^1 as they come (k = the blocks left in the
/// current group of at most eight) and each group is reduced once, so a 64-octet SRTCP
/// packet (AAD block, four ciphertext blocks, length block) costs a single reduction.
struct Ghash<'k> {
    h: &'k [u128; H_POWERS],
    acc: __m128i,
    w: Wide,
    /// Blocks left in the current group, and in all.
    group: usize,
    left: usize,
    /// A partial block and how many octets it holds. Kept as a vector: the struct may live
    /// in memory between calls, and a 16-octet load of a value stored as two 8-octet halves
    /// would stall on store forwarding.
    pend: __m128i,
    fill: usize,
}

impl<'k> Ghash<'k> {
    #[target_feature(enable = "sse2")]
    #[inline]
    fn new(key: &'k Key, blocks: usize) -> Ghash<'k> {
        Ghash {
            h: &key.h,
            acc: _mm_setzero_si128(),
            w: Wide::zero(),
            group: 0,
            left: blocks,
            pend: _mm_setzero_si128(),
            fill: 0,
        }
    }

    /// Hashes one block given in GHASH byte order.
    #[target_feature(enable = "pclmulqdq,ssse3")]
    #[inline]
    fn push(&mut self, block: __m128i) {
        let mut x = _mm_shuffle_epi8(block, bswap_mask());
        if self.group == 0 {
            self.group = self.left.min(H_POWERS);
            x = _mm_xor_si128(x, self.acc);
        }
        debug_assert!(self.group > 0, "more blocks than announced");
        self.group -= 1;
        self.left -= 1;
        self.w.mul_add(x, ld(&self.h[self.group]));
        if self.group == 0 {
            self.acc = self.w.reduce();
            self.w = Wide::zero();
        }
    }

    #[target_feature(enable = "pclmulqdq,ssse3")]
    #[inline]
    fn absorb(&mut self, mut data: &[u8]) {
        if self.fill > 0 {
            let take = (16 - self.fill).min(data.len());
            let p = to_u128(self.pend) | load_partial(&data[..take]) << (8 * self.fill);
            self.fill += take;
            data = &data[take..];
            if self.fill < 16 {
                self.pend = from_u128(p);
                return;
            }
            self.push(from_u128(p));
            self.fill = 0;
        }
        let (blocks, rest) = data.as_chunks::<16>();
        if !blocks.is_empty() {
            self.blocks(blocks);
        }
        if !rest.is_empty() {
            self.pend = from_u128(load_partial(rest));
            self.fill = rest.len();
        }
    }

    /// Whole blocks: kept out of line so that `absorb` stays small enough to inline, and
    /// the partial block never has to go through memory.
    #[target_feature(enable = "pclmulqdq,ssse3")]
    fn blocks(&mut self, blocks: &[[u8; 16]]) {
        for b in blocks {
            self.push(load(b));
        }
    }

    /// Zero-pads and hashes a pending partial block.
    #[target_feature(enable = "pclmulqdq,ssse3")]
    #[inline]
    fn pad(&mut self) {
        if self.fill > 0 {
            self.push(self.pend);
            self.fill = 0;
        }
    }

    /// Hashes the length block `[a_bits]64 ‖ [c_bits]64` and returns the hash in GHASH byte
    /// order.
    #[target_feature(enable = "pclmulqdq,ssse3")]
    #[inline]
    fn finish(&mut self, a_bits: u64, c_bits: u64) -> __m128i {
        // The length block is big-endian; as a little-endian integer its octets reverse.
        let lens = u128::from(a_bits.swap_bytes()) | (u128::from(c_bits.swap_bytes()) << 64);
        self.push(from_u128(lens));
        debug_assert_eq!(self.left, 0, "fewer blocks than announced");
        _mm_shuffle_epi8(self.acc, bswap_mask())
    }
}

/// GHASH_H(A ‖ pad ‖ C ‖ pad ‖ lengths), in GHASH byte order.
#[target_feature(enable = "pclmulqdq,ssse3,sse4.1")]
#[inline]
fn ghash_of(key: &Key, aad: &[&[u8]], ct: &[u8]) -> __m128i {
    let aad_len: usize = aad.iter().map(|p| p.len()).sum();
    let total = aad_len.div_ceil(16) + ct.len().div_ceil(16) + 1;
    if aad_len <= 16 {
        // The SRTCP E=1 case (8-octet header ‖ 4-octet E‖index): assemble the one AAD block
        // in registers.
        let mut v: u128 = 0;
        let mut at = 0;
        for part in aad.iter().filter(|p| !p.is_empty()) {
            v |= load_partial(part) << (8 * at);
            at += part.len();
        }
        let aad_block = (aad_len > 0).then(|| from_u128(v));
        if total <= H_POWERS {
            return ghash_one_group(key, aad_block, aad_len, ct, total);
        }
        let mut g = Ghash::new(key, total);
        if let Some(a) = aad_block {
            g.push(a);
        }
        return ghash_rest(g, aad_len, ct);
    }
    let mut g = Ghash::new(key, total);
    for part in aad {
        g.absorb(part);
    }
    g.pad();
    ghash_rest(g, aad_len, ct)
}

/// The ciphertext and length blocks of [`ghash_of`].
#[target_feature(enable = "pclmulqdq,ssse3,sse4.1")]
#[inline]
fn ghash_rest(mut g: Ghash<'_>, aad_len: usize, ct: &[u8]) -> __m128i {
    let (blocks, rest) = ct.as_chunks::<16>();
    for b in blocks {
        g.push(load(b));
    }
    if !rest.is_empty() {
        g.push(from_u128(load_partial(rest)));
    }
    g.finish(aad_len as u64 * 8, ct.len() as u64 * 8)
}

/// [`ghash_of`] when every block fits one group (`total` ≤ [`H_POWERS`] blocks: at most one
/// AAD block, the ciphertext, the length block): each block times its power of H, summed,
/// one reduction, straight-line.
#[target_feature(enable = "pclmulqdq,ssse3,sse4.1")]
#[inline]
fn ghash_one_group(
    key: &Key,
    aad: Option<__m128i>,
    aad_len: usize,
    ct: &[u8],
    total: usize,
) -> __m128i {
    let m = bswap_mask();
    let mut w = Wide::zero();
    let mut k = total;
    let mut add = |block: __m128i| {
        k -= 1;
        w.mul_add(_mm_shuffle_epi8(block, m), ld(&key.h[k]));
    };
    if let Some(a) = aad {
        add(a);
    }
    let (blocks, rest) = ct.as_chunks::<16>();
    for b in blocks {
        add(load(b));
    }
    if !rest.is_empty() {
        add(from_u128(load_partial(rest)));
    }
    // The length block is big-endian; as a little-endian integer its octets reverse.
    let (a_bits, c_bits) = (aad_len as u64 * 8, ct.len() as u64 * 8);
    add(from_u128(
        u128::from(a_bits.swap_bytes()) | (u128::from(c_bits.swap_bytes()) << 64),
    ));
    _mm_shuffle_epi8(w.reduce(), m)
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn tag(key: &Key, j0: u128, aad: &[&[u8]], ct: &[u8]) -> [u8; 16] {
    // E_K(J0) does not depend on the hash: start it first so the two overlap.
    let mut ekj0 = [from_u128(j0)];
    aes_blocks(key, &mut ekj0);
    let s = ghash_of(key, aad, ct);
    let mut out = [0u8; 16];
    store(&mut out, _mm_xor_si128(s, ekj0[0]));
    out
}

/// Largest payload the fused one-pass calls take: E_K(J0) and the keystream fit one group of
/// eight blocks.
pub(super) const SMALL_MAX: usize = 7 * 16;

/// E_K(J0) in `ks[0]` and the keystream blocks for `len` octets after it.
#[target_feature(enable = "aes,sse2,sse4.1")]
#[inline]
fn small_keystream(key: &Key, j0: u128, len: usize) -> [__m128i; 8] {
    // The blocks are built as vector values, never as an array in memory written from the
    // two 64-bit halves J0 arrives in: a 16-octet load of such a slot cannot be forwarded
    // from the two 8-octet stores and stalls (measured: a quarter of the seal time at 64
    // octets). Counters past the needed ones cost a few shuffles and are never used.
    let base = from_u128(j0);
    let c = first_counter(j0);
    let z = _mm_setzero_si128();
    let n = 1 + len.div_ceil(16);
    let c0 = counter(base, c);
    let c1 = counter(base, c.wrapping_add(1));
    let c2 = counter(base, c.wrapping_add(2));
    if n <= 4 {
        let mut b = [base, c0, c1, c2];
        aes_blocks(key, &mut b);
        return [b[0], b[1], b[2], b[3], z, z, z, z];
    }
    let c3 = counter(base, c.wrapping_add(3));
    let c4 = counter(base, c.wrapping_add(4));
    if n <= 6 {
        let mut b = [base, c0, c1, c2, c3, c4];
        aes_blocks(key, &mut b);
        return [b[0], b[1], b[2], b[3], b[4], b[5], z, z];
    }
    let c5 = counter(base, c.wrapping_add(5));
    let c6 = counter(base, c.wrapping_add(6));
    let mut b = [base, c0, c1, c2, c3, c4, c5, c6];
    aes_blocks(key, &mut b);
    b
}

/// XORs keystream blocks `ks[1..]` into `data` (at most seven blocks).
#[target_feature(enable = "sse2")]
#[inline]
fn xor_small(ks: &[__m128i; 8], data: &mut [u8]) {
    let (blocks, tail) = data.as_chunks_mut::<16>();
    for (d, k) in blocks.iter_mut().zip(ks[1..].iter()) {
        store(d, _mm_xor_si128(load(d), *k));
    }
    if !tail.is_empty() {
        let mut last = [0u8; 16];
        store(&mut last, ks[1 + blocks.len()]);
        for (d, k) in tail.iter_mut().zip(last.iter()) {
            *d ^= k;
        }
        last.zeroize();
    }
}

/// Whether a computed tag equals the received one, without a data-dependent branch or
/// early exit: XOR the two in a register and test the result for zero once.
#[target_feature(enable = "sse4.1")]
#[inline]
fn tags_equal(computed: __m128i, received: &[u8; 16]) -> bool {
    _mm_testz_si128(_mm_xor_si128(computed, load(received)), _mm_set1_epi8(-1)) == 1
}

/// Writes `src` XOR keystream blocks `ks[1..]` to `dst` (same length, at most seven blocks).
#[target_feature(enable = "sse2")]
#[inline]
fn xor_small_to(ks: &[__m128i; 8], src: &[u8], dst: &mut [u8]) {
    let (sb, st) = src.as_chunks::<16>();
    let (db, dt) = dst.as_chunks_mut::<16>();
    for ((d, s), k) in db.iter_mut().zip(sb.iter()).zip(ks[1..].iter()) {
        store(d, _mm_xor_si128(load(s), *k));
    }
    if !st.is_empty() {
        let mut last = [0u8; 16];
        store(&mut last, ks[1 + sb.len()]);
        for ((d, s), k) in dt.iter_mut().zip(st.iter()).zip(last.iter()) {
            *d = s ^ k;
        }
        last.zeroize();
    }
}

/// One-pass open of at most [`SMALL_MAX`] octets from `src` into `dst` (same length);
/// `dst` is written only if the tag matches.
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn open_small_to(
    key: &Key,
    j0: u128,
    aad: &[&[u8]],
    src: &[u8],
    dst: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    let ks = small_keystream(key, j0, src.len());
    let s = ghash_of(key, aad, src);
    let ok = tags_equal(_mm_xor_si128(s, ks[0]), tag);
    if ok {
        xor_small_to(&ks, src, dst);
    }
    ok
}

/// One-pass seal of at most [`SMALL_MAX`] octets: E_K(J0) and the keystream in one AES
/// pass, then the hash.
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn seal_small(key: &Key, j0: u128, aad: &[&[u8]], data: &mut [u8]) -> [u8; 16] {
    let ks = small_keystream(key, j0, data.len());
    xor_small(&ks, data);
    let s = ghash_of(key, aad, data);
    let mut out = [0u8; 16];
    store(&mut out, _mm_xor_si128(s, ks[0]));
    out
}

/// One-pass open of at most [`SMALL_MAX`] octets: the hash of the ciphertext and the AES
/// pass run side by side; `data` is decrypted only if the tag matches.
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn open_small(key: &Key, j0: u128, aad: &[&[u8]], data: &mut [u8], tag: &[u8; 16]) -> bool {
    let ks = small_keystream(key, j0, data.len());
    let s = ghash_of(key, aad, data);
    let ok = tags_equal(_mm_xor_si128(s, ks[0]), tag);
    if ok {
        xor_small(&ks, data);
    }
    ok
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn ghash_padded(key: &Key, data: &[u8], bit_len: u64) -> [u8; 16] {
    let mut g = Ghash::new(key, data.len().div_ceil(16) + 1);
    g.absorb(data);
    g.pad();
    let mut out = [0u8; 16];
    store(&mut out, g.finish(0, bit_len));
    out
}

// ---- Multi-buffer: four packets per 512-bit register (VAES + VPCLMULQDQ) ----------------

/// Most payload octets a packet of a four-lane call may have: the AAD block, six ciphertext
/// blocks and the length block make eight, one reduction.
pub(super) const LANES_MAX_DATA: usize = 6 * 16;
/// Most AAD octets (one block, as SRTCP E=1 has: 12).
pub(super) const LANES_MAX_AAD: usize = 16;

/// One packet of a four-lane call: its key, pre-counter block, AAD (at most one block) and
/// data.
pub(super) struct Lane<'a> {
    pub(super) key: &'a Key,
    pub(super) j0: u128,
    pub(super) aad: u128,
    pub(super) aad_len: usize,
    pub(super) data: &'a mut [u8],
}

/// Whether four keys can share one multi-buffer call: same AES size, and the CPU has VAES.
pub(super) fn lanes_ok(keys: [&Key; 4]) -> bool {
    vaes_available() && keys.iter().all(|k| k.rounds == keys[0].rounds)
}

/// Seals four packets at once; returns their tags.
///
/// # Panics
/// If a lane breaks the limits ([`LANES_MAX_DATA`], [`LANES_MAX_AAD`]) or the keys differ in
/// size (callers check with [`lanes_ok`]).
pub(super) fn seal_lanes(lanes: &mut [Lane<'_>; 4]) -> [[u8; 16]; 4] {
    check_lanes(lanes);
    // SAFETY: `check_lanes` confirmed that the CPU has VAES, VPCLMULQDQ and AVX-512
    // (F, BW, VL), and every `Key` exists only on a CPU with AES-NI, PCLMULQDQ and SSE4.1.
    unsafe { lanes_impl(lanes, None) }
}

/// Verifies four packets at once and decrypts those whose tag matches; the others are left
/// unchanged. Returns which verified.
///
/// # Panics
/// As [`seal_lanes`].
pub(super) fn open_lanes(lanes: &mut [Lane<'_>; 4], tags: &[[u8; 16]; 4]) -> [bool; 4] {
    check_lanes(lanes);
    // SAFETY: as in `seal_lanes`.
    let ok = unsafe { lanes_impl(lanes, Some(tags)) };
    ok.map(|t| t[0] == 1)
}

/// The AAD parts (at most one block in all) as one little-endian block.
pub(super) fn aad_block(aad: &[&[u8]]) -> (u128, usize) {
    let mut v: u128 = 0;
    let mut at = 0;
    for part in aad.iter().filter(|p| !p.is_empty()) {
        v |= load_partial(part) << (8 * at);
        at += part.len();
    }
    (v, at)
}

fn check_lanes(lanes: &[Lane<'_>; 4]) {
    assert!(
        lanes_ok([lanes[0].key, lanes[1].key, lanes[2].key, lanes[3].key]),
        "multi-buffer lanes need VAES and keys of one size"
    );
    for l in lanes {
        assert!(l.data.len() <= LANES_MAX_DATA && l.aad_len <= LANES_MAX_AAD);
    }
}

use core::arch::x86_64::{
    __m512i, _mm512_aesenc_epi128, _mm512_aesenclast_epi128, _mm512_broadcast_i32x4,
    _mm512_bslli_epi128, _mm512_bsrli_epi128, _mm512_castsi128_si512, _mm512_castsi512_si128,
    _mm512_clmulepi64_epi128, _mm512_extracti32x4_epi32, _mm512_inserti32x4, _mm512_setzero_si512,
    _mm512_shuffle_epi8, _mm512_shuffle_epi32, _mm512_xor_si512,
};

/// Four blocks, one per lane.
#[target_feature(enable = "avx512f")]
#[inline]
fn pack(a: __m128i, b: __m128i, c: __m128i, d: __m128i) -> __m512i {
    let z = _mm512_castsi128_si512(a);
    let z = _mm512_inserti32x4::<1>(z, b);
    let z = _mm512_inserti32x4::<2>(z, c);
    _mm512_inserti32x4::<3>(z, d)
}

/// The four lanes of `z`.
#[target_feature(enable = "avx512f")]
#[inline]
fn unpack(z: __m512i) -> [__m128i; 4] {
    [
        _mm512_castsi512_si128(z),
        _mm512_extracti32x4_epi32::<1>(z),
        _mm512_extracti32x4_epi32::<2>(z),
        _mm512_extracti32x4_epi32::<3>(z),
    ]
}

/// Block `i` of a lane's data (zero-padded when partial; zero past the end).
#[target_feature(enable = "sse2")]
#[inline]
fn data_block(d: &[u8], i: usize) -> __m128i {
    let at = 16 * i;
    if at + 16 <= d.len() {
        let Ok(b) = <&[u8; 16]>::try_from(&d[at..at + 16]) else {
            unreachable!("16 octets")
        };
        load(b)
    } else if at < d.len() {
        from_u128(load_partial(&d[at..]))
    } else {
        _mm_setzero_si128()
    }
}

/// The shared body of the four-lane seal (`expect` = None: the tags are returned) and open
/// (`expect` = the received tags: lane `i` of the result is `[1; 16]` if it verified, and
/// only verified lanes are decrypted).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes,pclmulqdq,ssse3,sse4.1")]
fn lanes_impl(lanes: &mut [Lane<'_>; 4], expect: Option<&[[u8; 16]; 4]>) -> [[u8; 16]; 4] {
    let rounds = lanes[0].key.rounds;
    let nblocks = |l: &Lane<'_>| l.data.len().div_ceil(16);
    let max_blocks = lanes.iter().map(nblocks).max().unwrap_or(0);

    // Keystream: block 0 of each lane is E_K(J0), blocks 1.. the counter blocks.
    let mut ks = [_mm512_setzero_si512(); 7];
    let bases = [
        from_u128(lanes[0].j0),
        from_u128(lanes[1].j0),
        from_u128(lanes[2].j0),
        from_u128(lanes[3].j0),
    ];
    let firsts = [
        first_counter(lanes[0].j0),
        first_counter(lanes[1].j0),
        first_counter(lanes[2].j0),
        first_counter(lanes[3].j0),
    ];
    ks[0] = pack(bases[0], bases[1], bases[2], bases[3]);
    for (b, z) in ks.iter_mut().enumerate().take(1 + max_blocks).skip(1) {
        let c = (b - 1) as u32;
        *z = pack(
            counter(bases[0], firsts[0].wrapping_add(c)),
            counter(bases[1], firsts[1].wrapping_add(c)),
            counter(bases[2], firsts[2].wrapping_add(c)),
            counter(bases[3], firsts[3].wrapping_add(c)),
        );
    }
    let rk = |r: usize| {
        pack(
            ld(&lanes[0].key.rk[r]),
            ld(&lanes[1].key.rk[r]),
            ld(&lanes[2].key.rk[r]),
            ld(&lanes[3].key.rk[r]),
        )
    };
    let n = 1 + max_blocks;
    let k0 = rk(0);
    for z in ks.iter_mut().take(n) {
        *z = _mm512_xor_si512(*z, k0);
    }
    for r in 1..rounds {
        let k = rk(r);
        for z in ks.iter_mut().take(n) {
            *z = _mm512_aesenc_epi128(*z, k);
        }
    }
    let kl = rk(rounds);
    for z in ks.iter_mut().take(n) {
        *z = _mm512_aesenclast_epi128(*z, kl);
    }

    // Sealing hashes the ciphertext, so encrypt first.
    if expect.is_none() {
        xor_lanes(lanes, &ks, [true; 4]);
    }

    // GHASH, four lanes side by side, each lane's blocks right-aligned so that position p
    // multiplies by H^(total - p) in every lane; the zero blocks in front of a shorter
    // lane leave its hash unchanged.
    let counts = lanes
        .each_ref()
        .map(|l| usize::from(l.aad_len > 0) + nblocks(l) + 1);
    let total = counts.iter().copied().max().unwrap_or(1);
    let mask = _mm512_broadcast_i32x4(bswap_mask());
    let mut lo = _mm512_setzero_si512();
    let mut mid = _mm512_setzero_si512();
    let mut hi = _mm512_setzero_si512();
    for p in 0..total {
        // One call per lane, so that the four blocks stay in registers: packing four
        // blocks that went through a stack array would stall on store forwarding.
        let b0 = lane_block(&lanes[0], p, total - counts[0]);
        let b1 = lane_block(&lanes[1], p, total - counts[1]);
        let b2 = lane_block(&lanes[2], p, total - counts[2]);
        let b3 = lane_block(&lanes[3], p, total - counts[3]);
        let x = _mm512_shuffle_epi8(pack(b0, b1, b2, b3), mask);
        let k = total - 1 - p;
        let h = pack(
            ld(&lanes[0].key.h[k]),
            ld(&lanes[1].key.h[k]),
            ld(&lanes[2].key.h[k]),
            ld(&lanes[3].key.h[k]),
        );
        lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128::<0x00>(x, h));
        hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128::<0x11>(x, h));
        mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128::<0x01>(x, h));
        mid = _mm512_xor_si512(mid, _mm512_clmulepi64_epi128::<0x10>(x, h));
    }
    // The reduction of `Wide::reduce`, lane by lane.
    let lo = _mm512_xor_si512(lo, _mm512_bslli_epi128::<8>(mid));
    let hi = _mm512_xor_si512(hi, _mm512_bsrli_epi128::<8>(mid));
    let poly = _mm512_broadcast_i32x4(_mm_set_epi64x(0xc200_0000_0000_0000_u64.cast_signed(), 1));
    let t = _mm512_clmulepi64_epi128::<0x10>(lo, poly);
    let lo = _mm512_xor_si512(_mm512_shuffle_epi32::<0x4e>(lo), t);
    let t = _mm512_clmulepi64_epi128::<0x10>(lo, poly);
    let lo = _mm512_xor_si512(_mm512_shuffle_epi32::<0x4e>(lo), t);
    let s = _mm512_shuffle_epi8(_mm512_xor_si512(hi, lo), mask);
    let tags = unpack(_mm512_xor_si512(s, ks[0]));

    let mut out = [[0u8; 16]; 4];
    match expect {
        None => {
            for (o, t) in out.iter_mut().zip(tags.iter()) {
                store(o, *t);
            }
        }
        Some(want) => {
            let mut ok = [false; 4];
            for i in 0..4 {
                ok[i] = tags_equal(tags[i], &want[i]);
                out[i] = [u8::from(ok[i]); 16];
            }
            xor_lanes(lanes, &ks, ok);
        }
    }
    out
}

/// Block `p` of a lane's right-aligned hash input (AAD block, data blocks, length block),
/// `off` zero blocks in front.
#[target_feature(enable = "sse2")]
#[inline]
fn lane_block(l: &Lane<'_>, p: usize, off: usize) -> __m128i {
    if p < off {
        return _mm_setzero_si128();
    }
    let mut j = p - off;
    if l.aad_len > 0 {
        if j == 0 {
            return from_u128(l.aad);
        }
        j -= 1;
    }
    if j < l.data.len().div_ceil(16) {
        data_block(l.data, j)
    } else {
        let a = (l.aad_len as u64 * 8).swap_bytes();
        let c = (l.data.len() as u64 * 8).swap_bytes();
        from_u128(u128::from(a) | (u128::from(c) << 64))
    }
}

/// XORs each selected lane's keystream (blocks 1..) into its data.
#[target_feature(enable = "avx512f,sse2")]
#[inline]
fn xor_lanes(lanes: &mut [Lane<'_>; 4], ks: &[__m512i; 7], which: [bool; 4]) {
    let cols: [[__m128i; 4]; 7] = [
        unpack(ks[0]),
        unpack(ks[1]),
        unpack(ks[2]),
        unpack(ks[3]),
        unpack(ks[4]),
        unpack(ks[5]),
        unpack(ks[6]),
    ];
    for (i, l) in lanes.iter_mut().enumerate() {
        if !which[i] {
            continue;
        }
        let mut lane_ks = [_mm_setzero_si128(); 8];
        for (b, k) in lane_ks.iter_mut().enumerate().take(7) {
            *k = cols[b][i];
        }
        xor_small(&lane_ks, l.data);
    }
}
