//! SRTCP session keys from the master key and salt (RFC 3711 §4.3, RFC 7714 §12 and erratum
//! 4938).
//!
//! The AES-CM PRF of RFC 3711 §4.3.1 / §4.3.3 with KDR = 0 (TS 33.180 §7.5):
//!
//! ```text
//! key_id = label ‖ r (r = 0)          x = key_id ⊕ master_salt (112 bits, right-aligned)
//! PRF_n(k_m, x) = first n bits of AES-CTR_{k_m}(x · 2^16, x · 2^16 + 1, …)
//! ```
//!
//! The AEAD transforms have a 96-bit master salt; erratum 4938 (verified) says to multiply it
//! by 2^16 first, i.e. append two zero octets to get the 112-bit salt. In octets the first PRF
//! block is `salt[0..12] ‖ 00 00 ‖ 00 00` with `label` XORed into octet 7. This is what libsrtp
//! does; the interop tests check it. AES-256 master keys use the AES-256-CM PRF (RFC 6188).

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes256, Block};
use zeroize::{Zeroize, Zeroizing};

use super::layout;
use crate::aead::{Gcm, Provider};
use crate::secret::{LengthError, MasterKey, MasterSalt, SessionKey, SessionSalt};

/// RFC 3711 §4.3.2 label of the SRTCP encryption key.
pub const LABEL_SRTCP_ENCRYPTION: u8 = 0x03;
/// RFC 3711 §4.3.2 label of the SRTCP salting key.
pub const LABEL_SRTCP_SALT: u8 = 0x05;

/// The RFC 3711 AES-CM PRF with KDR = 0: fills `out` with the keystream for `label` under the
/// master key (16 or 32 octets) and the 112-bit master salt.
pub fn aes_cm_prf(
    master_key: &[u8],
    master_salt: &[u8; 14],
    label: u8,
    out: &mut [u8],
) -> Result<(), LengthError> {
    enum Prf {
        A128(Aes128),
        A256(Aes256),
    }
    let prf = match master_key.len() {
        16 => Prf::A128(Aes128::new_from_slice(master_key).map_err(|_| len_err(master_key))?),
        32 => Prf::A256(Aes256::new_from_slice(master_key).map_err(|_| len_err(master_key))?),
        _ => return Err(len_err(master_key)),
    };
    let mut x = [0u8; 16];
    x[..14].copy_from_slice(master_salt);
    x[7] ^= label;
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = Block::from(x);
        block[14..].copy_from_slice(&(i as u16).to_be_bytes());
        match &prf {
            Prf::A128(c) => c.encrypt_block(&mut block),
            Prf::A256(c) => c.encrypt_block(&mut block),
        }
        chunk.copy_from_slice(&block[..chunk.len()]);
        block.as_mut_slice().zeroize();
    }
    x.zeroize();
    Ok(())
}

fn len_err(k: &[u8]) -> LengthError {
    LengthError {
        expected: "16 or 32",
        got: k.len(),
    }
}

/// Derives the SRTCP session encryption key (label 0x03, as long as the master key) and the
/// 96-bit session salt (label 0x05) from a master key and a 96-bit master salt.
pub fn derive_session_keys(key: &MasterKey, salt: &MasterSalt) -> (SessionKey, SessionSalt) {
    let mut salt112 = Zeroizing::new([0u8; 14]);
    salt112[..12].copy_from_slice(salt.expose());
    let n = key.key_len().octets();
    let mut k = Zeroizing::new([0u8; 32]);
    let mut s = Zeroizing::new([0u8; 12]);
    // The master key has a valid length by construction; neither call can fail.
    let ok = aes_cm_prf(key.expose(), &salt112, LABEL_SRTCP_ENCRYPTION, &mut k[..n]).is_ok()
        && aes_cm_prf(key.expose(), &salt112, LABEL_SRTCP_SALT, &mut s[..]).is_ok();
    debug_assert!(ok);
    let Ok(session_key) = SessionKey::from_slice(&k[..n]) else {
        unreachable!("a master key's length is a session key length")
    };
    (session_key, SessionSalt::new(*s))
}

/// The working SRTCP key material of one master key: the expanded AES-GCM session key and
/// the session salt. Set up once; shared by a [`super::TxContext`] and [`super::RxContext`]
/// by cloning. Zeroized on drop.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct SrtcpKeys {
    salt: SessionSalt,
    gcm: Gcm,
}

impl SrtcpKeys {
    /// Derives the session key and salt from a master key and salt (RFC 3711 §4.3) and
    /// expands the key for `provider`.
    pub fn from_master(key: &MasterKey, salt: &MasterSalt, provider: Provider) -> SrtcpKeys {
        let (k, s) = derive_session_keys(key, salt);
        SrtcpKeys::from_session(&k, &s, provider)
    }

    /// Uses a session key and salt directly (as the RFC 7714 §17 vectors do).
    pub fn from_session(key: &SessionKey, salt: &SessionSalt, provider: Provider) -> SrtcpKeys {
        let Ok(gcm) = Gcm::new(key.expose(), provider) else {
            unreachable!("a session key has an AES key length")
        };
        SrtcpKeys {
            gcm,
            salt: salt.clone(),
        }
    }

    /// AES-128 or AES-256.
    pub fn key_len(&self) -> crate::secret::KeyLen {
        self.gcm.key_len()
    }

    /// The provider the key is expanded for.
    pub fn provider(&self) -> Provider {
        self.gcm.provider()
    }

    pub(crate) fn gcm(&self) -> &Gcm {
        &self.gcm
    }

    pub(crate) fn iv(&self, ssrc: [u8; 4], index: u32) -> [u8; 12] {
        layout::iv(self.salt.expose(), ssrc, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // RFC 3711 Appendix B.3, key derivation test vectors (SRTP labels 0x00, 0x01, 0x02; the
    // same PRF serves the SRTCP labels 0x03-0x05).
    #[test]
    fn rfc3711_b3() {
        let mk = hex!("E1F97A0D3E018BE0D64FA32C06DE4139");
        let ms = hex!("0EC675AD498AFEEBB6960B3AABE6");
        let mut key = [0u8; 16];
        aes_cm_prf(&mk, &ms, 0x00, &mut key).unwrap();
        assert_eq!(key, hex!("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        aes_cm_prf(&mk, &ms, 0x02, &mut salt).unwrap();
        assert_eq!(salt, hex!("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth = [0u8; 16];
        aes_cm_prf(&mk, &ms, 0x01, &mut auth).unwrap();
        assert_eq!(auth, hex!("CEBE321F6FF7716B6FD4AB49AF256A15"));
    }

    #[test]
    fn aead_salt_is_padded_with_zeros() {
        // Erratum 4938: the 96-bit salt behaves as the 112-bit salt salt ‖ 00 00.
        let mk = MasterKey::from_slice(&hex!("E1F97A0D3E018BE0D64FA32C06DE4139")).unwrap();
        let ms = MasterSalt::new(hex!("0EC675AD498AFEEBB6960B3A"));
        let (k, s) = derive_session_keys(&mk, &ms);
        let mut want_k = [0u8; 16];
        aes_cm_prf(
            mk.expose(),
            &hex!("0EC675AD498AFEEBB6960B3A0000"),
            0x03,
            &mut want_k,
        )
        .unwrap();
        let mut want_s = [0u8; 12];
        aes_cm_prf(
            mk.expose(),
            &hex!("0EC675AD498AFEEBB6960B3A0000"),
            0x05,
            &mut want_s,
        )
        .unwrap();
        assert_eq!(k.expose(), want_k);
        assert_eq!(s.expose(), &want_s);
        assert_ne!(want_k[..12], want_s);
    }

    #[test]
    fn prf_rejects_bad_key_length() {
        assert!(aes_cm_prf(&[0; 24], &[0; 14], 3, &mut [0; 16]).is_err());
    }
}
