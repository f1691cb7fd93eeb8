//! MIKEY PRF-HMAC-SHA-256 and the MC key → SRTP master key / salt derivation.
//!
//! TS 33.180 §7.4: the MC key (PCK, GMK, CSK, MuSiK …) is the MIKEY TGK, the key ID (the
//! GUK-ID for a GMK) is the CSB ID, and the SRTP master key and salt come from the RFC 3830
//! §4.1.3 key derivation with the PRF of RFC 6043 §6.1 (digest §2.2):
//!
//! ```text
//! label(c)    = c (4) ‖ CS-ID (1) ‖ CSB-ID (4, big-endian) ‖ RAND
//! master key  = PRF(TGK, label(0x2AD01C64))   16 octets (32 for a 256-bit MC key)
//! master salt = PRF(TGK, label(0x39A2C14B))   12 octets
//!
//! PRF(inkey, label):  inkey = s_1 ‖ … ‖ s_n in 256-bit chunks (the last may be shorter)
//!   P(s, label, m) = HMAC(s, A_1 ‖ label) ‖ … ‖ HMAC(s, A_m ‖ label),
//!                    A_0 = label, A_i = HMAC(s, A_{i-1}),  HMAC = HMAC-SHA-256
//!   output = P(s_1) ⊕ … ⊕ P(s_n), truncated to the length asked for
//! ```

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::{KeyLen, LengthError, MasterKey, MasterSalt};

type HmacSha256 = Hmac<Sha256>;

/// RFC 3830 §4.1.3 constant for the TEK (the SRTP master key).
pub const MIKEY_TEK_CONSTANT: u32 = 0x2AD0_1C64;
/// RFC 3830 §4.1.3 constant for the salting key (the SRTP master salt).
pub const MIKEY_SALT_CONSTANT: u32 = 0x39A2_C14B;

/// Crypto Session IDs of TS 33.180 Table E.1.3-1 (digest §2.3).
///
/// The CS-ID enters the MIKEY label, so each use of one MC key gets its own master key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CsId {
    /// 0: initiator, MCPTT private call (PCK).
    McpttPrivateCallInitiator = 0,
    /// 1: receiver, MCPTT private call (PCK).
    McpttPrivateCallReceiver = 1,
    /// 2: initiator, MCVideo private call.
    McvideoPrivateCallInitiator = 2,
    /// 3: receiver, MCVideo private call.
    McvideoPrivateCallReceiver = 3,
    /// 4: MCPTT group call (GMK).
    McpttGroupCall = 4,
    /// 5: MCVideo group call (GMK).
    McvideoGroupCall = 5,
    /// 6: CSK — SRTCP protection for MCPTT.
    CskSrtcpMcptt = 6,
    /// 7: MuSiK — SRTCP protection for MCPTT.
    MusikSrtcpMcptt = 7,
    /// 8: CSK — SRTCP protection for MCVideo.
    CskSrtcpMcvideo = 8,
    /// 9: MuSiK — SRTCP protection for MCVideo.
    MusikSrtcpMcvideo = 9,
}

impl CsId {
    /// Every defined CS-ID, in numeric order.
    pub const ALL: [CsId; 10] = [
        CsId::McpttPrivateCallInitiator,
        CsId::McpttPrivateCallReceiver,
        CsId::McvideoPrivateCallInitiator,
        CsId::McvideoPrivateCallReceiver,
        CsId::McpttGroupCall,
        CsId::McvideoGroupCall,
        CsId::CskSrtcpMcptt,
        CsId::MusikSrtcpMcptt,
        CsId::CskSrtcpMcvideo,
        CsId::MusikSrtcpMcvideo,
    ];

    /// The octet that goes into the MIKEY label.
    pub const fn get(self) -> u8 {
        self as u8
    }
}

impl TryFrom<u8> for CsId {
    type Error = DeriveError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        CsId::ALL
            .get(v as usize)
            .copied()
            .ok_or(DeriveError::UnknownCsId(v))
    }
}

/// Why a derivation could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeriveError {
    /// The MC key (TGK) is not 16 or 32 octets.
    KeyLength(LengthError),
    /// The MIKEY RAND is shorter than 16 octets (RFC 3830 §6.11) or longer than 255.
    RandLength(usize),
    /// The CS-ID is not in TS 33.180 Table E.1.3-1.
    UnknownCsId(u8),
    /// A KDF input parameter is longer than 65535 octets (TS 33.220 Annex B).
    ParameterTooLong(usize),
}

impl fmt::Display for DeriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeriveError::KeyLength(e) => write!(f, "MC key length: {e}"),
            DeriveError::RandLength(n) => {
                write!(f, "MIKEY RAND must be 16 to 255 octets, got {n}")
            }
            DeriveError::UnknownCsId(v) => {
                write!(
                    f,
                    "CS-ID {v} is not defined (TS 33.180 Table E.1.3-1 has 0-9)"
                )
            }
            DeriveError::ParameterTooLong(n) => {
                write!(f, "KDF parameter of {n} octets exceeds 65535")
            }
        }
    }
}

impl core::error::Error for DeriveError {}

/// The MIKEY PRF with HMAC-SHA-256 (RFC 3830 §4.1.2, RFC 6043 §6.1).
///
/// `label` is given in parts that are concatenated, so callers need no buffer. Fills all of
/// `out`.
pub fn mikey_prf(inkey: &[u8], label: &[&[u8]], out: &mut [u8]) {
    out.fill(0);
    for s in inkey.chunks(32) {
        // The key is at most 32 octets: HMAC accepts any key length, this cannot fail.
        let Ok(keyed) = <HmacSha256 as KeyInit>::new_from_slice(s) else {
            unreachable!("HMAC takes keys of any length")
        };
        // A_0 = label; A_1 = HMAC(s, label).
        let mut a = {
            let mut m = keyed.clone();
            for part in label {
                m.update(part);
            }
            m.finalize().into_bytes()
        };
        for block in out.chunks_mut(32) {
            let mut m = keyed.clone();
            m.update(&a);
            for part in label {
                m.update(part);
            }
            let p = m.finalize().into_bytes();
            for (o, x) in block.iter_mut().zip(p.iter()) {
                *o ^= x;
            }
            let mut m = keyed.clone();
            m.update(&a);
            a = m.finalize().into_bytes();
        }
    }
}

/// Derives the SRTP master key and salt from an MC key (TS 33.180 §7.4; digest §2.2).
///
/// `tgk` is the MC key (16 or 32 octets; the master key has the same length), `csb_id` the
/// key ID (the GUK-ID for a GMK), `rand` the RAND of the MIKEY message that delivered the key.
pub fn derive_srtp_master(
    tgk: &[u8],
    cs_id: CsId,
    csb_id: u32,
    rand: &[u8],
) -> Result<(MasterKey, MasterSalt), DeriveError> {
    let len = KeyLen::from_octets(tgk.len()).ok_or(DeriveError::KeyLength(LengthError {
        expected: "16 or 32",
        got: tgk.len(),
    }))?;
    derive_srtp_master_with_len(tgk, len, cs_id, csb_id, rand)
}

/// As [`derive_srtp_master`], with the master key length chosen by the caller (a MIKEY
/// Security Policy may ask for a master key shorter or longer than the TGK).
pub fn derive_srtp_master_with_len(
    tgk: &[u8],
    master_key_len: KeyLen,
    cs_id: CsId,
    csb_id: u32,
    rand: &[u8],
) -> Result<(MasterKey, MasterSalt), DeriveError> {
    if KeyLen::from_octets(tgk.len()).is_none() {
        return Err(DeriveError::KeyLength(LengthError {
            expected: "16 or 32",
            got: tgk.len(),
        }));
    }
    if !(16..=255).contains(&rand.len()) {
        return Err(DeriveError::RandLength(rand.len()));
    }
    let cs = [cs_id.get()];
    let csb = csb_id.to_be_bytes();

    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    let n = master_key_len.octets();
    mikey_prf(
        tgk,
        &[&MIKEY_TEK_CONSTANT.to_be_bytes(), &cs, &csb, rand],
        &mut key[..n],
    );
    let mut salt = zeroize::Zeroizing::new([0u8; 12]);
    mikey_prf(
        tgk,
        &[&MIKEY_SALT_CONSTANT.to_be_bytes(), &cs, &csb, rand],
        &mut salt[..],
    );
    let master_key = MasterKey::from_slice(&key[..n]).map_err(DeriveError::KeyLength)?;
    Ok((master_key, MasterSalt::new(*salt)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // Digest §11.1: matches Streamwide sw_mikey_sakke unit_tests/test_key_deriv.cc.
    #[test]
    fn streamwide_tgk_to_tek_vector() {
        let tgk = hex!("A27B7D578EEB9B1EE7705E385996D300");
        let rand = hex!("4339F62F55AAC86348846A482C893802");
        let (k, s) = derive_srtp_master(&tgk, CsId::McpttGroupCall, 0x0633_F457, &rand).unwrap();
        assert_eq!(k.expose(), hex!("59AAA49EBB54813602B7CC165961B4E8"));
        assert_eq!(s.expose(), &hex!("745EB4DF7D155C473114A799"));
    }

    #[test]
    fn every_label_field_matters() {
        let tgk = [1u8; 16];
        let rand = [2u8; 16];
        let (base, _) = derive_srtp_master(&tgk, CsId::CskSrtcpMcptt, 0x2000_0001, &rand).unwrap();
        let (a, _) = derive_srtp_master(&tgk, CsId::CskSrtcpMcvideo, 0x2000_0001, &rand).unwrap();
        let (b, _) = derive_srtp_master(&tgk, CsId::CskSrtcpMcptt, 0x2000_0002, &rand).unwrap();
        let (c, _) = derive_srtp_master(&tgk, CsId::CskSrtcpMcptt, 0x2000_0001, &[3; 16]).unwrap();
        for other in [&a, &b, &c] {
            assert_ne!(base.expose(), other.expose());
        }
    }

    #[test]
    fn long_outputs_and_two_chunk_keys() {
        // m > 1 and n > 1: the first 32 octets of a 64-octet output equal a 32-octet output.
        let inkey = [7u8; 40];
        let mut long = [0u8; 64];
        let mut short = [0u8; 32];
        mikey_prf(&inkey, &[b"label"], &mut long);
        mikey_prf(&inkey, &[b"label"], &mut short);
        assert_eq!(long[..32], short);
        assert_ne!(long[32..], short);
        // Parts of a label concatenate.
        let mut split = [0u8; 64];
        mikey_prf(&inkey, &[b"la", b"bel"], &mut split);
        assert_eq!(split, long);
    }

    #[test]
    fn bad_inputs_are_rejected() {
        assert!(matches!(
            derive_srtp_master(&[0; 20], CsId::CskSrtcpMcptt, 1, &[0; 16]),
            Err(DeriveError::KeyLength(_))
        ));
        assert_eq!(
            derive_srtp_master(&[0; 16], CsId::CskSrtcpMcptt, 1, &[0; 15]).unwrap_err(),
            DeriveError::RandLength(15)
        );
        assert_eq!(CsId::try_from(10u8), Err(DeriveError::UnknownCsId(10)));
        assert_eq!(CsId::try_from(6u8), Ok(CsId::CskSrtcpMcptt));
    }

    #[test]
    fn aes256_master_key_from_256_bit_tgk() {
        let (k, _) =
            derive_srtp_master(&[9; 32], CsId::CskSrtcpMcptt, 0x2000_0001, &[1; 16]).unwrap();
        assert_eq!(k.key_len(), KeyLen::Aes256);
        let (k16, _) = derive_srtp_master_with_len(
            &[9; 32],
            KeyLen::Aes128,
            CsId::CskSrtcpMcptt,
            0x2000_0001,
            &[1; 16],
        )
        .unwrap();
        assert_eq!(k16.expose(), &k.expose()[..16]);
    }
}
