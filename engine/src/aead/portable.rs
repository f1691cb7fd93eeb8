//! The portable backend: AES-GCM composed from the RustCrypto `aes` block cipher and `ghash`
//! (the crates `aes-gcm` is built on; they detect AES-NI / PCLMULQDQ and the ARMv8 crypto
//! extensions at run time, block by block). It runs everywhere, and it is the path on CPUs
//! without the x86_64 kernels' features.
//!
//! ```text
//! H  = E_K(0^128)            J0 = IV ‖ 0^31 ‖ 1            (96-bit IV)
//! C  = P ⊕ E_K(inc32(J0)) ‖ E_K(inc32²(J0)) ‖ …
//! S  = GHASH_H(A ‖ pad ‖ C ‖ pad ‖ [len(A)]64 ‖ [len(C)]64)
//! T  = S ⊕ E_K(J0)
//! ```

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128Enc, Aes256Enc, Block};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;

use super::TAG_LEN;

/// Number of counter blocks encrypted per call into the block cipher.
const PAR_BLOCKS: usize = 8;

/// Encrypt-only key schedules: GCM runs AES forwards only (CTR and E_K(J0)), and these are
/// half the size of the full ones (176 and 240 octets), which matters when 10,000 keys share
/// the cache.
#[derive(Clone)]
enum Cipher {
    Aes128(Aes128Enc),
    Aes256(Aes256Enc),
}

impl Cipher {
    #[inline]
    fn encrypt_block(&self, b: &mut Block) {
        match self {
            Cipher::Aes128(c) => c.encrypt_block(b),
            Cipher::Aes256(c) => c.encrypt_block(b),
        }
    }

    #[inline]
    fn encrypt_blocks(&self, b: &mut [Block]) {
        match self {
            Cipher::Aes128(c) => c.encrypt_blocks(b),
            Cipher::Aes256(c) => c.encrypt_blocks(b),
        }
    }
}

/// An expanded AES-128-GCM or AES-256-GCM key. Key schedules are zeroized on drop (the
/// `zeroize` features of `aes` and `ghash`).
#[derive(Clone)]
pub(super) struct PortableGcm {
    ghash: GHash,
    cipher: Cipher,
}

/// GHASH over a stream of octets that may arrive in pieces of any length.
struct GhashStream {
    h: GHash,
    buf: Block,
    fill: usize,
}

impl GhashStream {
    fn absorb(&mut self, mut data: &[u8]) {
        if self.fill > 0 {
            let take = (16 - self.fill).min(data.len());
            self.buf[self.fill..self.fill + take].copy_from_slice(&data[..take]);
            self.fill += take;
            data = &data[take..];
            if self.fill < 16 {
                return;
            }
            self.h.update(core::slice::from_ref(&self.buf));
            self.fill = 0;
        }
        let (blocks, rest) = Block::slice_as_chunks(data);
        self.h.update(blocks);
        self.buf[..rest.len()].copy_from_slice(rest);
        self.fill = rest.len();
    }

    /// Zero-pads a pending partial block and hashes it.
    fn pad(&mut self) {
        if self.fill > 0 {
            self.buf[self.fill..].fill(0);
            self.h.update(core::slice::from_ref(&self.buf));
            self.fill = 0;
        }
    }
}

impl PortableGcm {
    /// Expands a 16-octet (AES-128) or 32-octet (AES-256) key; `None` for other lengths.
    pub(super) fn new(key: &[u8]) -> Option<PortableGcm> {
        let cipher = match key.len() {
            16 => Cipher::Aes128(Aes128Enc::new_from_slice(key).ok()?),
            32 => Cipher::Aes256(Aes256Enc::new_from_slice(key).ok()?),
            _ => return None,
        };
        let mut h = Block::default();
        cipher.encrypt_block(&mut h);
        let ghash = GHash::new(&h);
        zeroize::Zeroize::zeroize(h.as_mut_slice());
        Some(PortableGcm { cipher, ghash })
    }

    /// Counter block `j0` with its 32-bit big-endian counter advanced by `n`.
    fn counter_block(j0: &[u8; 16], n: u32) -> Block {
        let mut b = Block::from(*j0);
        let c = u32::from_be_bytes([j0[12], j0[13], j0[14], j0[15]]).wrapping_add(n);
        b[12..].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// XORs the GCM keystream (counter blocks inc32(J0), inc32²(J0), …) into `data`.
    pub(super) fn apply_keystream(&self, j0: &[u8; 16], data: &mut [u8]) {
        let mut n: u32 = 1;
        let mut ks = [Block::default(); PAR_BLOCKS];
        for chunk in data.chunks_mut(16 * PAR_BLOCKS) {
            let nblocks = chunk.len().div_ceil(16);
            for b in ks.iter_mut().take(nblocks) {
                *b = Self::counter_block(j0, n);
                n = n.wrapping_add(1);
            }
            self.cipher.encrypt_blocks(&mut ks[..nblocks]);
            for (piece, k) in chunk.chunks_mut(16).zip(ks.iter()) {
                for (d, k) in piece.iter_mut().zip(k.iter()) {
                    *d ^= k;
                }
            }
        }
        for b in ks.iter_mut() {
            zeroize::Zeroize::zeroize(b.as_mut_slice());
        }
    }

    /// The tag over associated data `aad` (its parts concatenated) and `ciphertext`.
    pub(super) fn tag(&self, j0: &[u8; 16], aad: &[&[u8]], ciphertext: &[u8]) -> [u8; TAG_LEN] {
        let mut g = GhashStream {
            h: self.ghash.clone(),
            buf: Block::default(),
            fill: 0,
        };
        let mut aad_len: u64 = 0;
        for part in aad {
            g.absorb(part);
            aad_len += part.len() as u64;
        }
        g.pad();
        g.absorb(ciphertext);
        g.pad();
        let mut lens = Block::default();
        lens[..8].copy_from_slice(&(aad_len * 8).to_be_bytes());
        lens[8..].copy_from_slice(&(ciphertext.len() as u64 * 8).to_be_bytes());
        g.h.update(core::slice::from_ref(&lens));
        let s = g.h.finalize();
        let mut ekj0 = Block::from(*j0);
        self.cipher.encrypt_block(&mut ekj0);
        let mut tag = [0u8; TAG_LEN];
        for ((t, a), b) in tag.iter_mut().zip(s.iter()).zip(ekj0.iter()) {
            *t = a ^ b;
        }
        tag
    }

    /// GHASH over `data` zero-padded, then a length block `0^64 ‖ [bit_len]64`.
    pub(super) fn ghash_padded(&self, data: &[u8], bit_len: u64) -> [u8; 16] {
        let mut g = GhashStream {
            h: self.ghash.clone(),
            buf: Block::default(),
            fill: 0,
        };
        g.absorb(data);
        g.pad();
        let mut lens = Block::default();
        lens[8..].copy_from_slice(&bit_len.to_be_bytes());
        g.h.update(core::slice::from_ref(&lens));
        g.h.finalize().into()
    }
}
