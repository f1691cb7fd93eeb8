//! AES-GCM with multi-part associated data, composed from a block cipher and GHASH.
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
use subtle::ConstantTimeEq;

use crate::secret::{KeyLen, LengthError};

/// Length of the GCM authentication tag used by RFC 7714 (16 octets).
pub const TAG_LEN: usize = 16;
/// Length of the GCM IV (nonce) used by RFC 7714 (12 octets).
pub const IV_LEN: usize = 12;

/// Number of counter blocks encrypted per call into the block cipher.
const PAR_BLOCKS: usize = 8;

/// The tag did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthError;

impl core::fmt::Display for AuthError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("authentication tag mismatch")
    }
}

impl core::error::Error for AuthError {}

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

/// An AES-128-GCM or AES-256-GCM key, expanded once. Key schedules are zeroized on drop.
#[derive(Clone)]
#[repr(C)]
pub struct Gcm {
    len: KeyLen,
    ghash: GHash,
    cipher: Cipher,
}

impl core::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Gcm({:?}, <redacted>)", self.len)
    }
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

impl Gcm {
    /// Expands a 16-octet (AES-128) or 32-octet (AES-256) key.
    pub fn new(key: &[u8]) -> Result<Gcm, LengthError> {
        let (cipher, len) = match key.len() {
            16 => (
                Cipher::Aes128(Aes128Enc::new_from_slice(key).map_err(|_| len_err(key))?),
                KeyLen::Aes128,
            ),
            32 => (
                Cipher::Aes256(Aes256Enc::new_from_slice(key).map_err(|_| len_err(key))?),
                KeyLen::Aes256,
            ),
            _ => return Err(len_err(key)),
        };
        let mut h = Block::default();
        cipher.encrypt_block(&mut h);
        let ghash = GHash::new(&h);
        zeroize::Zeroize::zeroize(h.as_mut_slice());
        Ok(Gcm { cipher, ghash, len })
    }

    /// The AES key size.
    pub fn key_len(&self) -> KeyLen {
        self.len
    }

    fn counter_block(iv: &[u8; IV_LEN], ctr: u32) -> Block {
        let mut b = Block::default();
        b[..IV_LEN].copy_from_slice(iv);
        b[IV_LEN..].copy_from_slice(&ctr.to_be_bytes());
        b
    }

    /// XORs the GCM keystream (counter blocks inc32(J0), inc32²(J0), …) into `data`.
    /// Encryption and decryption are both this operation.
    pub fn apply_keystream(&self, iv: &[u8; IV_LEN], data: &mut [u8]) {
        let mut ctr: u32 = 2;
        let mut ks = [Block::default(); PAR_BLOCKS];
        for chunk in data.chunks_mut(16 * PAR_BLOCKS) {
            let nblocks = chunk.len().div_ceil(16);
            for b in ks.iter_mut().take(nblocks) {
                *b = Self::counter_block(iv, ctr);
                ctr = ctr.wrapping_add(1);
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
    pub fn tag(&self, iv: &[u8; IV_LEN], aad: &[&[u8]], ciphertext: &[u8]) -> [u8; TAG_LEN] {
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
        let mut ekj0 = Self::counter_block(iv, 1);
        self.cipher.encrypt_block(&mut ekj0);
        let mut tag = [0u8; TAG_LEN];
        for ((t, a), b) in tag.iter_mut().zip(s.iter()).zip(ekj0.iter()) {
            *t = a ^ b;
        }
        tag
    }

    /// Encrypts `data` in place and returns the tag.
    pub fn seal_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[&[u8]],
        data: &mut [u8],
    ) -> [u8; TAG_LEN] {
        self.apply_keystream(iv, data);
        self.tag(iv, aad, data)
    }

    /// Checks `tag` against `aad` and `ciphertext` in constant time. Decrypts nothing.
    pub fn verify(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[&[u8]],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthError> {
        let expected = self.tag(iv, aad, ciphertext);
        if bool::from(expected.ct_eq(tag)) {
            Ok(())
        } else {
            Err(AuthError)
        }
    }

    /// Verifies, then decrypts `data` in place. On failure `data` is unchanged.
    pub fn open_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[&[u8]],
        data: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthError> {
        self.verify(iv, aad, data, tag)?;
        self.apply_keystream(iv, data);
        Ok(())
    }
}

fn len_err(key: &[u8]) -> LengthError {
    LengthError {
        expected: "16 or 32",
        got: key.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::AeadInOut;
    use hex_literal::hex;
    use proptest::prelude::*;

    fn seal(key: &[u8], iv: &[u8; 12], aad: &[u8], pt: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let g = Gcm::new(key).unwrap();
        let mut buf = pt.to_vec();
        let tag = g.seal_in_place(iv, &[aad], &mut buf);
        (buf, tag)
    }

    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", test cases 1-4 (AES-128)
    // and 13-16 (AES-256).
    const TC_P: [u8; 64] = hex!(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
    );
    const TC_A: [u8; 20] = hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const TC_IV: [u8; 12] = hex!("cafebabefacedbaddecaf888");

    #[test]
    fn mcgrew_viega_aes128() {
        // Test case 1.
        let (c, t) = seal(&[0; 16], &[0; 12], &[], &[]);
        assert!(c.is_empty());
        assert_eq!(t, hex!("58e2fccefa7e3061367f1d57a4e7455a"));
        // Test case 2.
        let (c, t) = seal(&[0; 16], &[0; 12], &[], &[0; 16]);
        assert_eq!(c, hex!("0388dace60b6a392f328c2b971b2fe78"));
        assert_eq!(t, hex!("ab6e47d42cec13bdf53a67b21257bddf"));
        let k = hex!("feffe9928665731c6d6a8f9467308308");
        // Test case 3.
        let (c, t) = seal(&k, &TC_IV, &[], &TC_P);
        assert_eq!(
            c,
            hex!(
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
            )
        );
        assert_eq!(t, hex!("4d5c2af327cd64a62cf35abd2ba6fab4"));
        // Test case 4: 60-octet plaintext, 20-octet AAD.
        let (c, t) = seal(&k, &TC_IV, &TC_A, &TC_P[..60]);
        assert_eq!(
            c[..],
            hex!(
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
            )[..]
        );
        assert_eq!(t, hex!("5bc94fbc3221a5db94fae95ae7121a47"));
    }

    #[test]
    fn mcgrew_viega_aes256() {
        // Test case 13.
        let (_, t) = seal(&[0; 32], &[0; 12], &[], &[]);
        assert_eq!(t, hex!("530f8afbc74536b9a963b4f1c4cb738b"));
        // Test case 14.
        let (c, t) = seal(&[0; 32], &[0; 12], &[], &[0; 16]);
        assert_eq!(c, hex!("cea7403d4d606b6e074ec5d3baf39d18"));
        assert_eq!(t, hex!("d0d1c8a799996bf0265b98b5d48ab919"));
        let k = hex!("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        // Test case 15.
        let (c, t) = seal(&k, &TC_IV, &[], &TC_P);
        assert_eq!(
            c,
            hex!(
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
            )
        );
        assert_eq!(t, hex!("b094dac5d93471bdec1a502270e3cc6c"));
        // Test case 16.
        let (_, t) = seal(&k, &TC_IV, &TC_A, &TC_P[..60]);
        assert_eq!(t, hex!("76fc6ece0f4e1768cddf8853bb2d551b"));
    }

    #[test]
    fn failed_open_leaves_data_alone() {
        let g = Gcm::new(&[3; 16]).unwrap();
        let mut buf = *b"hello, floor control";
        let mut tag = g.seal_in_place(&[1; 12], &[b"hdr"], &mut buf);
        let sealed = buf;
        tag[0] ^= 1;
        assert_eq!(
            g.open_in_place(&[1; 12], &[b"hdr"], &mut buf, &tag),
            Err(AuthError)
        );
        assert_eq!(buf, sealed);
        tag[0] ^= 1;
        g.open_in_place(&[1; 12], &[b"hdr"], &mut buf, &tag)
            .unwrap();
        assert_eq!(&buf, b"hello, floor control");
    }

    #[test]
    fn rejects_bad_key_lengths() {
        for n in [0, 15, 17, 24, 31, 33] {
            assert!(Gcm::new(&vec![0; n]).is_err());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        // Differential test against the RustCrypto aes-gcm crate, with the AAD split at a
        // random point to exercise the multi-part GHASH.
        #[test]
        fn matches_aes_gcm_crate(
            key in prop::collection::vec(any::<u8>(), 16..=16),
            wide in any::<bool>(),
            iv in any::<[u8; 12]>(),
            aad in prop::collection::vec(any::<u8>(), 0..=64),
            split in any::<prop::sample::Index>(),
            pt in prop::collection::vec(any::<u8>(), 0..=2048),
        ) {
            let key: Vec<u8> = if wide { key.iter().chain(key.iter()).copied().collect() } else { key };
            let mut want = pt.clone();
            let want_tag: [u8; 16] = if wide {
                let c = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
                c.encrypt_inout_detached(&iv.into(), &aad, want.as_mut_slice().into()).unwrap().into()
            } else {
                let c = aes_gcm::Aes128Gcm::new_from_slice(&key).unwrap();
                c.encrypt_inout_detached(&iv.into(), &aad, want.as_mut_slice().into()).unwrap().into()
            };
            let at = split.index(aad.len() + 1);
            let g = Gcm::new(&key).unwrap();
            let mut got = pt.clone();
            let tag = g.seal_in_place(&iv, &[&aad[..at], &aad[at..]], &mut got);
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(tag, want_tag);
            g.open_in_place(&iv, &[&aad], &mut got, &tag).unwrap();
            prop_assert_eq!(got, pt);
        }
    }
}
