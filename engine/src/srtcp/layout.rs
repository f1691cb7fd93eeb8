//! Sizes, the MKI, RTCP header checks and IV formation (RFC 3711 §3.4, RFC 7714 §9, §17).

use super::{ConfigError, Error};
use crate::keys::KeyId;

/// Octets of the RTCP header that stay in clear: V/P/RC/PT/length and SSRC.
pub const RTCP_HEADER_LEN: usize = 8;
/// GCM tag length (RFC 7714 uses the 16-octet tag only).
pub const TAG_LEN: usize = 16;
/// The E flag and 31-bit SRTCP index.
pub const ESRTCP_WORD_LEN: usize = 4;
/// Longest MKI the engine handles: GMK-ID ‖ GUK-ID (TS 33.180 §7.4.2).
pub const MAX_MKI_LEN: usize = 8;
/// The most octets protect adds to an RTCP packet: tag + ESRTCP word + 8-octet MKI.
pub const MAX_SRTCP_TRAILER: usize = TAG_LEN + ESRTCP_WORD_LEN + MAX_MKI_LEN;
/// Highest SRTCP index (2^31 - 1).
pub const MAX_INDEX: u32 = 0x7fff_ffff;

const E_BIT: u32 = 0x8000_0000;

/// Length of the SRTCP packet protect makes from an RTCP packet of `plain_len` octets with an
/// MKI of `mki_len` octets.
pub const fn protected_len(plain_len: usize, mki_len: usize) -> usize {
    plain_len + TAG_LEN + ESRTCP_WORD_LEN + mki_len
}

/// The SRTCP Master Key Identifier carried at the end of each packet: none, 4 octets (a key
/// ID: CSK, PCK, MuSiK …) or 8 octets (GMK-ID ‖ GUK-ID).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mki {
    bytes: [u8; MAX_MKI_LEN],
    len: u8,
}

impl Mki {
    /// No MKI.
    pub const NONE: Mki = Mki {
        bytes: [0; MAX_MKI_LEN],
        len: 0,
    };

    /// The 4-octet MKI that names an MC key by its ID (TS 33.180 §7.4;
    /// [`crate::keys::addressing`]).
    pub const fn from_key_id(id: KeyId) -> Mki {
        crate::keys::addressing::mki_of(id)
    }

    /// The 8-octet group MKI, GMK-ID ‖ GUK-ID (TS 33.180 §7.4.2;
    /// [`crate::keys::addressing`]).
    pub const fn gmk(gmk_id: KeyId, guk_id: u32) -> Mki {
        crate::keys::addressing::gmk_mki(gmk_id, guk_id)
    }

    /// The MKI of these 4 or 8 octets (longer input keeps its first 8).
    pub(crate) const fn from_octets(s: &[u8]) -> Mki {
        let mut bytes = [0; MAX_MKI_LEN];
        let mut i = 0;
        while i < s.len() && i < MAX_MKI_LEN {
            bytes[i] = s[i];
            i += 1;
        }
        Mki {
            bytes,
            len: i as u8,
        }
    }

    /// An MKI of 0, 4 or 8 octets.
    pub fn from_slice(s: &[u8]) -> Result<Mki, ConfigError> {
        if !matches!(s.len(), 0 | 4 | 8) {
            return Err(ConfigError::MkiLength(s.len()));
        }
        let mut bytes = [0; MAX_MKI_LEN];
        bytes[..s.len()].copy_from_slice(s);
        Ok(Mki {
            bytes,
            len: s.len() as u8,
        })
    }

    /// The octets on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Whether `tail` (exactly [`Mki::len`] octets) is this MKI. The comparison is inline,
    /// one integer compare per MKI length (a slice comparison calls `memcmp`, and copying
    /// the tail into an array first stalls on store forwarding). An MKI is not secret, so the
    /// timing of the comparison does not matter.
    #[inline]
    pub fn matches(&self, tail: &[u8]) -> bool {
        let [a, b, c, d, e, f, g, h] = self.bytes;
        match (self.len, tail) {
            (0, []) => true,
            (4, t) => t.first_chunk::<4>().is_some_and(|t| {
                t.len() == tail.len() && u32::from_ne_bytes(*t) == u32::from_ne_bytes([a, b, c, d])
            }),
            (8, t) => t.first_chunk::<8>().is_some_and(|t| {
                t.len() == tail.len()
                    && u64::from_ne_bytes(*t) == u64::from_ne_bytes([a, b, c, d, e, f, g, h])
            }),
            _ => false,
        }
    }

    /// Number of octets on the wire.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True for the empty MKI.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl core::fmt::Debug for Mki {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Mki(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// How strictly the RTCP framing of a packet is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum LengthCheck {
    /// RFC 3550 §A.2: every header has version 2 and the length fields tile the compound
    /// packet exactly (on receive: the clear first header fits the packet).
    #[default]
    Strict,
    /// Only the first header's version and the 8-octet minimum are checked, as libsrtp does.
    /// The RFC 7714 §17 sample packet needs this: its length field says 13 (56 octets) but
    /// the packet has 52.
    Lenient,
}

/// Checks an RTCP packet to be protected, as `check` says.
pub fn check_outgoing(pkt: &[u8], check: LengthCheck) -> Result<(), Error> {
    match check {
        LengthCheck::Strict => check_rtcp_compound(pkt),
        LengthCheck::Lenient => check_version(pkt),
    }
}

/// Checks the first RTCP header of a received packet, the only one in clear when E=1.
pub(crate) fn check_incoming(pkt: &[u8], check: LengthCheck) -> Result<(), Error> {
    check_version(pkt)?;
    let first = (u16::from_be_bytes([pkt[2], pkt[3]]) as usize + 1) * 4;
    if check == LengthCheck::Strict && first > pkt.len() {
        return Err(Error::LengthMismatch);
    }
    Ok(())
}

fn check_version(pkt: &[u8]) -> Result<(), Error> {
    if pkt.len() < RTCP_HEADER_LEN {
        return Err(Error::TooShort);
    }
    if pkt[0] >> 6 != 2 {
        return Err(Error::BadVersion);
    }
    Ok(())
}

/// Checks that `pkt` is one RTCP packet or a compound of several: each header has version 2,
/// and the length fields tile the buffer exactly (RFC 3550 §6.4, RFC 3711 §3.4).
pub fn check_rtcp_compound(pkt: &[u8]) -> Result<(), Error> {
    if pkt.len() < RTCP_HEADER_LEN {
        return Err(Error::TooShort);
    }
    let mut off = 0usize;
    while off < pkt.len() {
        let Some(h) = pkt.get(off..off + 4) else {
            return Err(Error::LengthMismatch);
        };
        if h[0] >> 6 != 2 {
            return Err(Error::BadVersion);
        }
        let words = u16::from_be_bytes([h[2], h[3]]) as usize + 1;
        off += words * 4;
    }
    if off != pkt.len() {
        return Err(Error::LengthMismatch);
    }
    Ok(())
}

/// The ESRTCP word: E flag and 31-bit index.
pub(crate) const fn esrtcp_word(encrypted: bool, index: u32) -> [u8; 4] {
    let e = if encrypted { E_BIT } else { 0 };
    (e | (index & MAX_INDEX)).to_be_bytes()
}

/// Splits an ESRTCP word into (encrypted, index).
pub(crate) const fn parse_esrtcp_word(w: [u8; 4]) -> (bool, u32) {
    let v = u32::from_be_bytes(w);
    (v & E_BIT != 0, v & MAX_INDEX)
}

/// IV = (00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖ index) ⊕ salt (RFC 7714 §9.1 and §17).
pub(crate) fn iv(salt: &[u8; 12], ssrc: [u8; 4], index: u32) -> [u8; 12] {
    // 00 00 ‖ SSRC ‖ 00 00 ‖ index (big-endian), XOR the salt — in two integer words, so
    // that the AES-GCM kernels read the IV back without a store-forwarding stall.
    let [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11] = *salt;
    let lo = u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7])
        ^ (u64::from(u32::from_le_bytes(ssrc)) << 16);
    let hi = u32::from_le_bytes([s8, s9, s10, s11]) ^ (index & MAX_INDEX).swap_bytes();
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&lo.to_le_bytes());
    iv[8..].copy_from_slice(&hi.to_le_bytes());
    iv
}

#[cfg(test)]
mod tests {

    #[test]
    fn mki_matches_only_itself() {
        let m4 = Mki::from_slice(&[0x21, 0x22, 0x23, 0x24]).unwrap();
        let m8 = Mki::from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert!(m4.matches(&[0x21, 0x22, 0x23, 0x24]));
        assert!(m8.matches(&[1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(Mki::NONE.matches(&[]));
        for i in 0..4 {
            let mut t = [0x21, 0x22, 0x23, 0x24];
            t[i] ^= 0x80;
            assert!(!m4.matches(&t));
        }
        for i in 0..8 {
            let mut t = [1, 2, 3, 4, 5, 6, 7, 8];
            t[i] ^= 1;
            assert!(!m8.matches(&t));
        }
        // Wrong lengths: a prefix, a longer tail, the empty tail, and the empty MKI.
        assert!(!m4.matches(&[0x21, 0x22, 0x23]));
        assert!(!m4.matches(&[0x21, 0x22, 0x23, 0x24, 0]));
        assert!(!m4.matches(&[]));
        assert!(!m8.matches(&[1, 2, 3, 4]));
        assert!(!Mki::NONE.matches(&[0, 0, 0, 0]));
    }
    use super::*;
    use hex_literal::hex;

    // RFC 7714 §17, "IV formation" (the same for all four SRTCP cases).
    #[test]
    fn rfc7714_iv_formation() {
        let salt = *b"Quid pro quo";
        assert_eq!(
            iv(&salt, hex!("4d617273"), 0x5d4),
            hex!("517524055203726f207170bb")
        );
    }

    #[test]
    fn compound_walk() {
        // SR (28 octets, length 6) followed by an SDES with one chunk (12 octets, length 2).
        let mut p = vec![0x80, 200, 0, 6];
        p.extend_from_slice(&[0; 24]);
        p.extend_from_slice(&[0x81, 202, 0, 2, 1, 2, 3, 4, 1, 1, b'a', 0]);
        assert_eq!(check_rtcp_compound(&p), Ok(()));
        assert_eq!(check_rtcp_compound(&p[..36]), Err(Error::LengthMismatch));
        p.extend_from_slice(&[0x80, 204]);
        assert_eq!(check_rtcp_compound(&p), Err(Error::LengthMismatch));
        p.truncate(40);
        p[28] = 0x40;
        assert_eq!(check_rtcp_compound(&p), Err(Error::BadVersion));
        assert_eq!(check_rtcp_compound(&p[..7]), Err(Error::TooShort));
    }

    #[test]
    fn mki_forms() {
        let id = KeyId::new(0x2ddd_5bf0).unwrap();
        assert_eq!(Mki::from_key_id(id).as_bytes(), hex!("2ddd5bf0"));
        let gmk = KeyId::new(0x0df9_bc39).unwrap();
        assert_eq!(
            Mki::gmk(gmk, 0x06a1_2aea).as_bytes(),
            hex!("0df9bc3906a12aea")
        );
        assert_eq!(Mki::from_slice(&[1, 2]), Err(ConfigError::MkiLength(2)));
        assert!(Mki::NONE.is_empty());
        assert_eq!(format!("{:?}", Mki::from_key_id(id)), "Mki(2ddd5bf0)");
    }

    #[test]
    fn esrtcp_word_round_trip() {
        assert_eq!(esrtcp_word(true, 0x5d4), hex!("800005d4"));
        assert_eq!(esrtcp_word(false, 0x5d4), hex!("000005d4"));
        assert_eq!(parse_esrtcp_word(hex!("ffffffff")), (true, MAX_INDEX));
    }
}
