//! [`Gcm`]: one AES-GCM key expanded for one provider.
//!
//! ```text
//! H  = E_K(0^128)            J0 = IV ‖ 0^31 ‖ 1            (96-bit IV)
//! C  = P ⊕ E_K(inc32(J0)) ‖ E_K(inc32²(J0)) ‖ …
//! S  = GHASH_H(A ‖ pad ‖ C ‖ pad ‖ [len(A)]64 ‖ [len(C)]64)
//! T  = S ⊕ E_K(J0)
//! ```

use subtle::ConstantTimeEq;

use super::portable::PortableGcm;
use super::{IV_LEN, Provider, TAG_LEN, Unavailable};
use crate::secret::{KeyLen, LengthError};

/// The tag did not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthError;

impl core::fmt::Display for AuthError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("authentication tag mismatch")
    }
}

impl core::error::Error for AuthError {}

#[derive(Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "the x86_64 key schedule is read by every packet and stays inline; the portable \
              one (larger) is boxed so that it does not widen every key entry"
)]
pub(super) enum Imp {
    Portable(Box<PortableGcm>),
    #[cfg(target_arch = "x86_64")]
    X86(super::x86::Key),
}

/// An AES-128-GCM or AES-256-GCM key, expanded once for one provider. Key material is
/// zeroized on drop; `Debug` shows none of it.
#[derive(Clone)]
pub struct Gcm {
    pub(super) imp: Imp,
    provider: Provider,
    len: KeyLen,
}

impl core::fmt::Debug for Gcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Gcm({:?}, {}, <redacted>)", self.len, self.provider)
    }
}

/// The pre-counter block of a 96-bit IV, `IV ‖ 0^31 ‖ 1`, read little-endian (built with
/// scalar loads: the kernels move it into a vector register without a memory round trip).
fn j0_of(iv: &[u8; IV_LEN]) -> u128 {
    let lo = u64::from_le_bytes([iv[0], iv[1], iv[2], iv[3], iv[4], iv[5], iv[6], iv[7]]);
    let hi = u32::from_le_bytes([iv[8], iv[9], iv[10], iv[11]]);
    u128::from(lo) | (u128::from(hi) << 64) | (1u128 << 120)
}

impl Gcm {
    /// Expands a 16-octet (AES-128) or 32-octet (AES-256) key for `provider`; a provider
    /// this CPU cannot run gives the portable one (check [`Provider::is_available`] first,
    /// or use [`Gcm::with_provider`], to be told).
    pub fn new(key: &[u8], provider: Provider) -> Result<Gcm, LengthError> {
        let p = if provider.is_available() {
            provider
        } else {
            Provider::Portable
        };
        Gcm::with_provider(key, p).map_err(|e| e.unwrap_or_else(|_| len_err(key)))
    }

    /// Expands `key` for `provider`. The outer error is the key length, the inner one a
    /// provider this CPU cannot run.
    pub fn with_provider(
        key: &[u8],
        provider: Provider,
    ) -> Result<Gcm, Result<LengthError, Unavailable>> {
        let len = match key.len() {
            16 => KeyLen::Aes128,
            32 => KeyLen::Aes256,
            _ => return Err(Ok(len_err(key))),
        };
        let imp = match provider {
            Provider::Portable => PortableGcm::new(key).map(|g| Imp::Portable(Box::new(g))),
            #[cfg(target_arch = "x86_64")]
            Provider::AesNi | Provider::Vaes if provider.is_available() => {
                super::x86::Key::new(key).map(Imp::X86)
            }
            _ => return Err(Err(Unavailable(provider))),
        };
        let Some(imp) = imp else {
            return Err(Ok(len_err(key)));
        };
        Ok(Gcm { imp, provider, len })
    }

    /// The AES key size.
    pub fn key_len(&self) -> KeyLen {
        self.len
    }

    /// The provider this key was expanded for.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Whether [`seal_batch`] and [`open_batch`] can put this key in a lane of the
    /// multi-buffer kernel (the `vaes` backend).
    pub fn has_lanes(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Imp::X86(_) = self.imp {
            return self.provider == Provider::Vaes;
        }
        false
    }

    fn keystream_j0(&self, j0: u128, data: &mut [u8]) {
        match &self.imp {
            Imp::Portable(g) => g.apply_keystream(&j0.to_le_bytes(), data),
            #[cfg(target_arch = "x86_64")]
            Imp::X86(k) => k.apply_keystream(j0, data),
        }
    }

    fn tag_j0(&self, j0: u128, aad: &[&[u8]], ct: &[u8]) -> [u8; TAG_LEN] {
        match &self.imp {
            Imp::Portable(g) => g.tag(&j0.to_le_bytes(), aad, ct),
            #[cfg(target_arch = "x86_64")]
            Imp::X86(k) => k.tag(j0, aad, ct),
        }
    }

    /// XORs the GCM keystream (counter blocks inc32(J0), inc32²(J0), …) into `data`.
    /// Encryption and decryption are both this operation.
    pub fn apply_keystream(&self, iv: &[u8; IV_LEN], data: &mut [u8]) {
        self.keystream_j0(j0_of(iv), data);
    }

    /// The tag over associated data `aad` (its parts concatenated) and `ciphertext`.
    pub fn tag(&self, iv: &[u8; IV_LEN], aad: &[&[u8]], ciphertext: &[u8]) -> [u8; TAG_LEN] {
        self.tag_j0(j0_of(iv), aad, ciphertext)
    }

    /// Encrypts `data` in place and returns the tag.
    pub fn seal_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[&[u8]],
        data: &mut [u8],
    ) -> [u8; TAG_LEN] {
        let j0 = j0_of(iv);
        #[cfg(target_arch = "x86_64")]
        if let Imp::X86(k) = &self.imp {
            return k.seal(j0, aad, data);
        }
        self.keystream_j0(j0, data);
        self.tag_j0(j0, aad, data)
    }

    /// Checks `tag` against `aad` and `ciphertext` in constant time. Decrypts nothing.
    pub fn verify(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[&[u8]],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthError> {
        check(&self.tag(iv, aad, ciphertext), tag)
    }

    /// Verifies, then decrypts `data` in place. On failure `data` is unchanged.
    pub fn open_in_place(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[&[u8]],
        data: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthError> {
        #[cfg(target_arch = "x86_64")]
        if let Imp::X86(k) = &self.imp {
            return if k.open(j0_of(iv), aad, data, tag) {
                Ok(())
            } else {
                Err(AuthError)
            };
        }
        self.verify(iv, aad, data, tag)?;
        self.apply_keystream(iv, data);
        Ok(())
    }

    /// Verifies `ciphertext`, then writes its decryption to `out` (same length). On failure
    /// `out` is untouched.
    ///
    /// # Panics
    /// If `out` and `ciphertext` differ in length.
    pub fn open_to(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[&[u8]],
        ciphertext: &[u8],
        out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthError> {
        assert_eq!(ciphertext.len(), out.len(), "open_to: lengths differ");
        #[cfg(target_arch = "x86_64")]
        if let Imp::X86(k) = &self.imp {
            return if k.open_to(j0_of(iv), aad, ciphertext, out, tag) {
                Ok(())
            } else {
                Err(AuthError)
            };
        }
        self.verify(iv, aad, ciphertext, tag)?;
        out.copy_from_slice(ciphertext);
        self.apply_keystream(iv, out);
        Ok(())
    }

    /// The pre-counter block for an IV of any non-zero length (SP 800-38D §7.1): 96-bit IVs
    /// as above, others `GHASH_H(IV ‖ pad ‖ 0^64 ‖ [len(IV)]64)`. SRTCP uses 96-bit IVs only;
    /// the general form is here for the specification's test cases.
    fn j0_any(&self, iv: &[u8]) -> u128 {
        if let Ok(iv) = <&[u8; IV_LEN]>::try_from(iv) {
            return j0_of(iv);
        }
        let bits = iv.len() as u64 * 8;
        u128::from_le_bytes(match &self.imp {
            Imp::Portable(g) => g.ghash_padded(iv, bits),
            #[cfg(target_arch = "x86_64")]
            Imp::X86(k) => k.ghash_padded(iv, bits),
        })
    }

    /// [`Gcm::seal_in_place`] with an IV of any length (not used by SRTCP).
    pub fn seal_in_place_any_iv(&self, iv: &[u8], aad: &[&[u8]], data: &mut [u8]) -> [u8; TAG_LEN] {
        let j0 = self.j0_any(iv);
        self.keystream_j0(j0, data);
        self.tag_j0(j0, aad, data)
    }

    /// Verifies `ciphertext` and its `tag`, then decrypts it into `out` (its length), IV of
    /// any length (MCData's is 16 octets). `out` is written only when the tag verified.
    pub fn open_to_any_iv(
        &self,
        iv: &[u8],
        aad: &[&[u8]],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), AuthError> {
        let j0 = self.j0_any(iv);
        check(&self.tag_j0(j0, aad, ciphertext), tag)?;
        out.copy_from_slice(ciphertext);
        self.keystream_j0(j0, out);
        Ok(())
    }

    /// [`Gcm::open_in_place`] with an IV of any length (not used by SRTCP).
    pub fn open_in_place_any_iv(
        &self,
        iv: &[u8],
        aad: &[&[u8]],
        data: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), AuthError> {
        let j0 = self.j0_any(iv);
        check(&self.tag_j0(j0, aad, data), tag)?;
        self.keystream_j0(j0, data);
        Ok(())
    }
}

/// One packet of [`seal_batch`]: key, IV, AAD (two parts, as SRTCP has), the data sealed in
/// place, and where its tag goes.
pub struct SealJob<'a> {
    /// The key.
    pub gcm: &'a Gcm,
    /// 96-bit IV.
    pub iv: [u8; IV_LEN],
    /// Associated data, the two parts concatenated.
    pub aad: [&'a [u8]; 2],
    /// Plaintext in, ciphertext out.
    pub data: &'a mut [u8],
    /// Receives the tag.
    pub tag: &'a mut [u8; TAG_LEN],
}

/// One packet of [`open_batch`]: as [`SealJob`], with the received tag and the outcome.
pub struct OpenJob<'a> {
    /// The key.
    pub gcm: &'a Gcm,
    /// 96-bit IV.
    pub iv: [u8; IV_LEN],
    /// Associated data, the two parts concatenated.
    pub aad: [&'a [u8]; 2],
    /// Ciphertext in, plaintext out if the tag verified (else unchanged).
    pub data: &'a mut [u8],
    /// The received tag.
    pub tag: [u8; TAG_LEN],
    /// Set by [`open_batch`]: whether the tag verified.
    pub ok: bool,
}

/// The x86 keys of four jobs, if all four can go through the multi-buffer kernel together.
#[cfg(target_arch = "x86_64")]
fn lane_keys<'k>(jobs: [(&'k Gcm, &[&[u8]; 2], usize); 4]) -> Option<[&'k super::x86::Key; 4]> {
    use super::x86::{LANES_MAX_AAD, LANES_MAX_DATA, lanes_ok};
    let key = |(g, aad, len): (&'k Gcm, &[&[u8]; 2], usize)| match &g.imp {
        Imp::X86(k)
            if g.provider == Provider::Vaes
                && len <= LANES_MAX_DATA
                && aad[0].len() + aad[1].len() <= LANES_MAX_AAD =>
        {
            Some(k)
        }
        _ => None,
    };
    let [a, b, c, d] = jobs;
    let keys = [key(a)?, key(b)?, key(c)?, key(d)?];
    lanes_ok(keys).then_some(keys)
}

/// One lane of the four-lane kernel.
#[cfg(target_arch = "x86_64")]
#[inline]
fn lane<'a>(
    key: &'a super::x86::Key,
    iv: &[u8; IV_LEN],
    aad: &[&[u8]; 2],
    data: &'a mut [u8],
) -> super::x86::Lane<'a> {
    let (aad, aad_len) = super::x86::aad_block(aad);
    super::x86::Lane {
        key,
        j0: j0_of(iv),
        aad,
        aad_len,
        data,
    }
}

/// Seals a batch of packets. On the `vaes` backend, groups of four packets of up to 96
/// octets with one-block AAD and same-size keys go through the multi-buffer kernel; the
/// rest one by one. The result is the same as [`Gcm::seal_in_place`] on each.
pub fn seal_batch(jobs: &mut [SealJob<'_>]) {
    for group in jobs.chunks_mut(4) {
        #[cfg(target_arch = "x86_64")]
        if let [a, b, c, d] = group
            && let Some(keys) = lane_keys([
                (a.gcm, &a.aad, a.data.len()),
                (b.gcm, &b.aad, b.data.len()),
                (c.gcm, &c.aad, c.data.len()),
                (d.gcm, &d.aad, d.data.len()),
            ])
        {
            let tags = super::x86::seal_lanes(&mut [
                lane(keys[0], &a.iv, &a.aad, a.data),
                lane(keys[1], &b.iv, &b.aad, b.data),
                lane(keys[2], &c.iv, &c.aad, c.data),
                lane(keys[3], &d.iv, &d.aad, d.data),
            ]);
            *a.tag = tags[0];
            *b.tag = tags[1];
            *c.tag = tags[2];
            *d.tag = tags[3];
            continue;
        }
        for j in group.iter_mut() {
            *j.tag = j.gcm.seal_in_place(&j.iv, &j.aad, j.data);
        }
    }
}

/// Verifies and decrypts a batch of packets (`OpenJob::ok` says which verified; the others
/// are unchanged), grouped as in [`seal_batch`].
pub fn open_batch(jobs: &mut [OpenJob<'_>]) {
    for group in jobs.chunks_mut(4) {
        #[cfg(target_arch = "x86_64")]
        if let [a, b, c, d] = group
            && let Some(keys) = lane_keys([
                (a.gcm, &a.aad, a.data.len()),
                (b.gcm, &b.aad, b.data.len()),
                (c.gcm, &c.aad, c.data.len()),
                (d.gcm, &d.aad, d.data.len()),
            ])
        {
            let tags = [a.tag, b.tag, c.tag, d.tag];
            let ok = super::x86::open_lanes(
                &mut [
                    lane(keys[0], &a.iv, &a.aad, a.data),
                    lane(keys[1], &b.iv, &b.aad, b.data),
                    lane(keys[2], &c.iv, &c.aad, c.data),
                    lane(keys[3], &d.iv, &d.aad, d.data),
                ],
                &tags,
            );
            a.ok = ok[0];
            b.ok = ok[1];
            c.ok = ok[2];
            d.ok = ok[3];
            continue;
        }
        for j in group.iter_mut() {
            j.ok = j.gcm.open_in_place(&j.iv, &j.aad, j.data, &j.tag).is_ok();
        }
    }
}

/// Constant-time tag comparison.
pub(super) fn check(expected: &[u8; TAG_LEN], got: &[u8; TAG_LEN]) -> Result<(), AuthError> {
    if bool::from(expected.ct_eq(got)) {
        Ok(())
    } else {
        Err(AuthError)
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
    use aes_gcm::KeyInit;
    use aes_gcm::aead::AeadInOut;
    use hex_literal::hex;
    use proptest::prelude::*;

    /// Every backend this CPU runs: each test below runs on all of them.
    fn providers() -> Vec<Provider> {
        let v: Vec<Provider> = Provider::available().collect();
        assert!(v.contains(&Provider::Portable));
        v
    }

    fn seal_on(b: Provider, key: &[u8], iv: &[u8], aad: &[u8], pt: &[u8]) -> (Vec<u8>, [u8; 16]) {
        let g = Gcm::with_provider(key, b).unwrap();
        let mut buf = pt.to_vec();
        let tag = g.seal_in_place_any_iv(iv, &[aad], &mut buf);
        let mut back = buf.clone();
        g.open_in_place_any_iv(iv, &[aad], &mut back, &tag).unwrap();
        assert_eq!(back, pt, "{b}: open(seal(p)) != p");
        (buf, tag)
    }

    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B: test cases
    // 1-6 (AES-128) and 13-18 (AES-256). Cases 7-12 are AES-192, which MC keys never use.
    // Cases 5/6 and 17/18 (8- and 60-octet IVs) were also reproduced with OpenSSL 3.
    const TC_P: [u8; 64] = hex!(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
    );
    const TC_A: [u8; 20] = hex!("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const TC_IV: [u8; 12] = hex!("cafebabefacedbaddecaf888");
    const TC_IV8: [u8; 8] = hex!("cafebabefacedbad");
    const TC_IV60: [u8; 60] = hex!(
        "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
        "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b"
    );
    const K3: [u8; 16] = hex!("feffe9928665731c6d6a8f9467308308");
    const K15: [u8; 32] = hex!("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");

    #[test]
    fn mcgrew_viega_aes128() {
        for b in providers() {
            // Test case 1.
            let (c, t) = seal_on(b, &[0; 16], &[0; 12], &[], &[]);
            assert!(c.is_empty());
            assert_eq!(t, hex!("58e2fccefa7e3061367f1d57a4e7455a"), "{b} TC1");
            // Test case 2.
            let (c, t) = seal_on(b, &[0; 16], &[0; 12], &[], &[0; 16]);
            assert_eq!(c, hex!("0388dace60b6a392f328c2b971b2fe78"), "{b} TC2");
            assert_eq!(t, hex!("ab6e47d42cec13bdf53a67b21257bddf"), "{b} TC2");
            // Test case 3.
            let (c, t) = seal_on(b, &K3, &TC_IV, &[], &TC_P);
            assert_eq!(
                c,
                hex!(
                    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
                ),
                "{b} TC3"
            );
            assert_eq!(t, hex!("4d5c2af327cd64a62cf35abd2ba6fab4"), "{b} TC3");
            // Test case 4: 60-octet plaintext, 20-octet AAD.
            let (c, t) = seal_on(b, &K3, &TC_IV, &TC_A, &TC_P[..60]);
            assert_eq!(
                c[..],
                hex!(
                    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
                )[..],
                "{b} TC4"
            );
            assert_eq!(t, hex!("5bc94fbc3221a5db94fae95ae7121a47"), "{b} TC4");
            // Test case 5: 8-octet IV.
            let (c, t) = seal_on(b, &K3, &TC_IV8, &TC_A, &TC_P[..60]);
            assert_eq!(
                c[..],
                hex!(
                    "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423"
                    "73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598"
                )[..],
                "{b} TC5"
            );
            assert_eq!(t, hex!("3612d2e79e3b0785561be14aaca2fccb"), "{b} TC5");
            // Test case 6: 60-octet IV.
            let (c, t) = seal_on(b, &K3, &TC_IV60, &TC_A, &TC_P[..60]);
            assert_eq!(
                c[..],
                hex!(
                    "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7"
                    "01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5"
                )[..],
                "{b} TC6"
            );
            assert_eq!(t, hex!("619cc5aefffe0bfa462af43c1699d050"), "{b} TC6");
        }
    }

    #[test]
    fn mcgrew_viega_aes256() {
        for b in providers() {
            // Test case 13.
            let (_, t) = seal_on(b, &[0; 32], &[0; 12], &[], &[]);
            assert_eq!(t, hex!("530f8afbc74536b9a963b4f1c4cb738b"), "{b} TC13");
            // Test case 14.
            let (c, t) = seal_on(b, &[0; 32], &[0; 12], &[], &[0; 16]);
            assert_eq!(c, hex!("cea7403d4d606b6e074ec5d3baf39d18"), "{b} TC14");
            assert_eq!(t, hex!("d0d1c8a799996bf0265b98b5d48ab919"), "{b} TC14");
            // Test case 15.
            let (c, t) = seal_on(b, &K15, &TC_IV, &[], &TC_P);
            assert_eq!(
                c,
                hex!(
                    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
                ),
                "{b} TC15"
            );
            assert_eq!(t, hex!("b094dac5d93471bdec1a502270e3cc6c"), "{b} TC15");
            // Test case 16.
            let (_, t) = seal_on(b, &K15, &TC_IV, &TC_A, &TC_P[..60]);
            assert_eq!(t, hex!("76fc6ece0f4e1768cddf8853bb2d551b"), "{b} TC16");
            // Test case 17: 8-octet IV.
            let (c, t) = seal_on(b, &K15, &TC_IV8, &TC_A, &TC_P[..60]);
            assert_eq!(
                c[..],
                hex!(
                    "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0"
                    "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f"
                )[..],
                "{b} TC17"
            );
            assert_eq!(t, hex!("3a337dbf46a792c45e454913fe2ea8f2"), "{b} TC17");
            // Test case 18: 60-octet IV.
            let (c, t) = seal_on(b, &K15, &TC_IV60, &TC_A, &TC_P[..60]);
            assert_eq!(
                c[..],
                hex!(
                    "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
                    "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f"
                )[..],
                "{b} TC18"
            );
            assert_eq!(t, hex!("a44a8266ee1c8eb0c8b5d4cf5ae9f19a"), "{b} TC18");
        }
    }

    #[test]
    fn failed_open_leaves_data_alone() {
        for b in providers() {
            let g = Gcm::with_provider(&[3; 16], b).unwrap();
            assert_eq!(g.provider(), b);
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
    }

    #[test]
    fn rejects_bad_key_lengths() {
        for b in providers() {
            for n in [0, 15, 17, 24, 31, 33] {
                assert!(matches!(Gcm::with_provider(&vec![0; n], b), Err(Ok(_))));
            }
        }
        assert!(Gcm::new(&[0; 24], Provider::Portable).is_err());
    }

    #[test]
    fn unavailable_backend_is_refused() {
        for b in Provider::ALL {
            let r = Gcm::with_provider(&[0; 16], b);
            assert_eq!(r.is_ok(), b.is_available(), "{b}");
            if !b.is_available() {
                assert!(matches!(r, Err(Err(Unavailable(x))) if x == b));
            }
        }
    }

    #[test]
    fn debug_shows_no_key() {
        for b in providers() {
            let g = Gcm::with_provider(&[0xab; 16], b).unwrap();
            let d = format!("{g:?}");
            assert!(d.contains("redacted") && !d.contains("ab, ") && !d.contains("171"));
        }
    }

    /// A batch job description: key, IV, AAD split, data, whether to tamper on open.
    type JobSpec = (Vec<u8>, [u8; 12], Vec<u8>, usize, Vec<u8>, bool);

    fn job_spec(wide: bool, short: bool) -> impl Strategy<Value = JobSpec> {
        let data_max = if short { 96 } else { 200 };
        let aad_max = if short { 16 } else { 40 };
        (
            prop::collection::vec(any::<u8>(), if wide { 32 } else { 16 }),
            any::<[u8; 12]>(),
            prop::collection::vec(any::<u8>(), 0..=aad_max),
            any::<usize>(),
            prop::collection::vec(any::<u8>(), 0..=data_max),
            any::<bool>(),
        )
    }

    /// Runs `specs` through seal_batch and open_batch on `b` and checks every job against
    /// the single-packet calls.
    fn check_batch(b: Provider, specs: &[JobSpec]) -> Result<(), TestCaseError> {
        let gcms: Vec<Gcm> = specs
            .iter()
            .map(|s| Gcm::with_provider(&s.0, b).unwrap())
            .collect();
        let mut datas: Vec<Vec<u8>> = specs.iter().map(|s| s.4.clone()).collect();
        let mut tags = vec![[0u8; 16]; specs.len()];
        {
            let mut jobs: Vec<SealJob<'_>> = specs
                .iter()
                .zip(gcms.iter())
                .zip(datas.iter_mut().zip(tags.iter_mut()))
                .map(|((s, g), (d, t))| {
                    let at = s.3 % (s.2.len() + 1);
                    SealJob {
                        gcm: g,
                        iv: s.1,
                        aad: [&s.2[..at], &s.2[at..]],
                        data: d.as_mut_slice(),
                        tag: t,
                    }
                })
                .collect();
            seal_batch(&mut jobs);
        }
        for (i, s) in specs.iter().enumerate() {
            let mut want = s.4.clone();
            let want_tag = gcms[i].seal_in_place(&s.1, &[&s.2], &mut want);
            prop_assert_eq!(&datas[i], &want, "{} job {}", b, i);
            prop_assert_eq!(tags[i], want_tag, "{} job {}", b, i);
        }
        let sealed = datas.clone();
        let mut jobs: Vec<OpenJob<'_>> = specs
            .iter()
            .zip(gcms.iter())
            .zip(datas.iter_mut().zip(tags.iter()))
            .map(|((s, g), (d, t))| {
                let mut tag = *t;
                if s.5 {
                    tag[s.3 % 16] ^= 0x80;
                }
                OpenJob {
                    gcm: g,
                    iv: s.1,
                    aad: [&s.2[..], &[]],
                    data: d.as_mut_slice(),
                    tag,
                    ok: false,
                }
            })
            .collect();
        open_batch(&mut jobs);
        let oks: Vec<bool> = jobs.iter().map(|j| j.ok).collect();
        drop(jobs);
        for (i, s) in specs.iter().enumerate() {
            prop_assert_eq!(oks[i], !s.5, "{} job {}", b, i);
            if s.5 {
                prop_assert_eq!(&datas[i], &sealed[i], "{} job {}: refused, unchanged", b, i);
            } else {
                prop_assert_eq!(&datas[i], &s.4, "{} job {}: opened", b, i);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        // Batches of short packets with one key size: on `vaes` every full group of four
        // takes the multi-buffer kernel.
        #[test]
        fn batch_of_short_packets_matches_single_calls(
            wide in any::<bool>(),
            specs in prop::collection::vec(job_spec(false, true), 1..=13),
            wide_specs in prop::collection::vec(job_spec(true, true), 1..=13),
        ) {
            let specs = if wide { wide_specs } else { specs };
            for b in providers() {
                check_batch(b, &specs)?;
            }
        }

        // Batches that mix key sizes, long packets and long AAD: groups fall back to the
        // single-packet kernel where they must, and the results do not change.
        #[test]
        fn mixed_batch_matches_single_calls(
            narrow in prop::collection::vec(job_spec(false, false), 0..=6),
            wide in prop::collection::vec(job_spec(true, true), 0..=6),
            order in any::<u64>(),
        ) {
            let mut specs: Vec<JobSpec> = narrow.into_iter().chain(wide).collect();
            let n = specs.len();
            for i in 0..n {
                let j = (order.rotate_left(i as u32 * 7) as usize) % n;
                specs.swap(i, j);
            }
            for b in providers() {
                check_batch(b, &specs)?;
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        // Differential test of every backend against the RustCrypto aes-gcm crate, with the
        // AAD split at a random point to exercise the multi-part GHASH. Payload lengths 0-2048
        // cover every tail length (mod 16) and every remainder of the 8-block groups.
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
            for b in providers() {
                let g = Gcm::with_provider(&key, b).unwrap();
                let mut got = pt.clone();
                let tag = g.seal_in_place(&iv, &[&aad[..at], &aad[at..]], &mut got);
                prop_assert_eq!(&got, &want, "{}", b);
                prop_assert_eq!(tag, want_tag, "{}", b);
                g.open_in_place(&iv, &[&aad], &mut got, &tag).unwrap();
                prop_assert_eq!(&got, &pt, "{}", b);
                if !pt.is_empty() {
                    let mut bad = want.clone();
                    bad[pt.len() / 2] ^= 0x10;
                    prop_assert_eq!(g.open_in_place(&iv, &[&aad], &mut bad, &tag), Err(AuthError));
                }
            }
        }
    }
}
