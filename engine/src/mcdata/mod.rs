//! MCData protected payload (TS 33.180 §8.5.4; digest §5): the message that carries an
//! MCData payload encrypted and authenticated with AES-GCM under the DPCK, the key derived
//! from the DPPK (the PCK one-to-one, the GMK for a group) and its ID (TS 33.180 F.1.5,
//! FC 0x53, [`crate::keys::kdf::dpck`]).
//!
//! ```text
//!  0      1          6        10   11   12                28       32    33     35
//!  +------+----------+--------+----+----+-----------------+--------+-----+------+-----------+-----+
//!  | type | date/time| payload|seq | alg| IV (16 octets)  | DPPK-ID| IEI | len  | ciphertext| tag |
//!  |      | 40 bits  |   ID   |    |    |                 |        |     | (2)  |           | (16)|
//!  +------+----------+--------+----+----+-----------------+--------+-----+------+-----------+-----+
//!  '------------------ AAD: the 32 header octets ----------------------'
//! ```
//!
//! The layout follows the one implementation the digest found (Streamwide
//! `MikeyMcDataProtected.cc`, "See TS-33-180/8.5.4.1"): a 16-octet GCM IV (so the GCM
//! pre-counter block is GHASH-derived, SP 800-38D §7.1), algorithm 1 = AEAD_AES_128_GCM and
//! 2 = AEAD_AES_256_GCM, the payload as a TLV-E whose length covers ciphertext and tag. The
//! optional signalling-algorithm octet and trailing MIKEY-SAKKE I_MESSAGE that
//! implementation mentions but never emits are not accepted: parsing is strict, every
//! length must add up exactly.
//!
//! Unprotect authenticates first and decrypts only a message whose tag verified; on any
//! error the output buffer is left untouched. The AAD is the 32 header octets (digest
//! §5.2), so the TLV-E's IEI octet is not authenticated by the format (its length is,
//! through the framing check and the tag); [`Opened::header`] reports it as received.

use core::fmt;

use crate::aead::{Gcm, TAG_LEN};
use crate::keys::kdf;
use crate::keys::{DeriveError, KeyId, Purpose};

/// Octets of the header, which is also the AAD.
pub const HEADER_LEN: usize = 32;
/// Octets of the IV.
pub const IV_LEN: usize = 16;
/// Octets of the payload TLV-E before the ciphertext: IEI and a 2-octet length.
pub const TLV_HEADER_LEN: usize = 3;
/// Octets a protected payload adds to the plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TLV_HEADER_LEN + TAG_LEN;
/// Largest plaintext: the TLV-E length field counts ciphertext and tag in 16 bits.
pub const MAX_PLAINTEXT: usize = u16::MAX as usize - TAG_LEN;

/// The payload algorithm octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadAlgorithm {
    /// AEAD_AES_128_GCM (1): a 128-bit DPPK and DPCK.
    Aes128Gcm,
    /// AEAD_AES_256_GCM (2): a 256-bit DPPK and DPCK.
    Aes256Gcm,
}

impl PayloadAlgorithm {
    /// The octet on the wire.
    pub const fn octet(self) -> u8 {
        match self {
            PayloadAlgorithm::Aes128Gcm => 1,
            PayloadAlgorithm::Aes256Gcm => 2,
        }
    }

    /// The algorithm an octet names.
    pub const fn from_octet(o: u8) -> Option<PayloadAlgorithm> {
        match o {
            1 => Some(PayloadAlgorithm::Aes128Gcm),
            2 => Some(PayloadAlgorithm::Aes256Gcm),
            _ => None,
        }
    }
}

/// Why a payload could not be protected or unprotected. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than header, TLV-E header and tag.
    TooShort,
    /// The TLV-E length does not match the rest of the message (or trailing octets follow).
    LengthMismatch,
    /// The plaintext is longer than [`MAX_PLAINTEXT`].
    TooLong,
    /// The algorithm octet names no known algorithm.
    UnknownAlgorithm(u8),
    /// The message's algorithm is not the key's (AES-128 key, AES-256 message, or back).
    AlgorithmMismatch,
    /// The message names another DPPK-ID than the key's.
    WrongKey {
        /// The DPPK-ID in the message.
        dppk_id: u32,
    },
    /// The GCM tag did not verify.
    AuthenticationFailed,
    /// The output buffer is too small.
    BufferTooSmall,
    /// The operating system's random source failed (fresh IV).
    RandomUnavailable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort => f.write_str("MCData protected payload too short"),
            Error::LengthMismatch => f.write_str("MCData payload length does not add up"),
            Error::TooLong => f.write_str("MCData payload longer than a TLV-E holds"),
            Error::UnknownAlgorithm(a) => write!(f, "unknown MCData payload algorithm {a}"),
            Error::AlgorithmMismatch => f.write_str("payload algorithm does not match the key"),
            Error::WrongKey { dppk_id } => write!(f, "payload is for DPPK-ID {dppk_id:08x}"),
            Error::AuthenticationFailed => f.write_str("MCData payload authentication failed"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::RandomUnavailable => f.write_str("the OS random source failed"),
        }
    }
}

impl core::error::Error for Error {}

/// Why a DPPK could not become a [`PayloadKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The DPPK-ID's purpose is neither PCK nor GMK: the DPPK is the PCK one-to-one and the
    /// GMK for a group (TS 33.180 §8.5.4; digest §5.2).
    WrongPurpose(Purpose),
    /// The derivation failed (a DPPK of other than 16 or 32 octets).
    Derive(DeriveError),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::WrongPurpose(p) => write!(f, "a DPPK is a PCK or a GMK, not a {p}"),
            KeyError::Derive(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for KeyError {}

impl From<DeriveError> for KeyError {
    fn from(e: DeriveError) -> KeyError {
        KeyError::Derive(e)
    }
}

/// The DPCK of one DPPK, ready to protect and unprotect payloads. Its `Debug` output leaves
/// the key out; the key schedule is zeroized on drop.
pub struct PayloadKey {
    dppk_id: u32,
    algorithm: PayloadAlgorithm,
    gcm: Gcm,
}

impl fmt::Debug for PayloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadKey")
            .field("dppk_id", &format_args!("{:08x}", self.dppk_id))
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PayloadKey {
    /// Derives the DPCK from the DPPK (PCK or GMK, 16 or 32 octets) and its ID (TS 33.180
    /// F.1.5); the DPPK's length chooses the algorithm. A DPPK-ID of another purpose is
    /// [`KeyError::WrongPurpose`].
    pub fn from_dppk(dppk: &[u8], dppk_id: KeyId) -> Result<PayloadKey, KeyError> {
        match dppk_id.purpose() {
            Purpose::Pck | Purpose::Gmk => {}
            other => return Err(KeyError::WrongPurpose(other)),
        }
        let dpck = kdf::dpck(dppk, dppk_id)?;
        Ok(PayloadKey::from_dpck(dpck.expose(), dppk_id.get())?)
    }

    /// A DPCK already derived (16 or 32 octets), for the DPPK-ID the messages carry. The ID
    /// is taken as it is, purpose unchecked (test vectors use IDs such as `deadbaad`).
    pub fn from_dpck(dpck: &[u8], dppk_id: u32) -> Result<PayloadKey, DeriveError> {
        let gcm =
            Gcm::new(dpck, crate::aead::Provider::detect()).map_err(DeriveError::KeyLength)?;
        let algorithm = match dpck.len() {
            16 => PayloadAlgorithm::Aes128Gcm,
            _ => PayloadAlgorithm::Aes256Gcm,
        };
        Ok(PayloadKey {
            dppk_id,
            algorithm,
            gcm,
        })
    }

    /// The DPPK-ID this key protects under.
    pub fn dppk_id(&self) -> u32 {
        self.dppk_id
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> PayloadAlgorithm {
        self.algorithm
    }
}

/// The header fields a sender chooses (the algorithm and DPPK-ID come from the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Message type (TS 24.282 §15.2.2).
    pub message_type: u8,
    /// Date and time, 40 bits (the top 24 bits of the `u64` must be zero).
    pub date_time: u64,
    /// Payload ID.
    pub payload_id: u32,
    /// Payload sequence number.
    pub sequence: u8,
    /// The GCM IV: fresh for every message under a key.
    pub iv: [u8; IV_LEN],
    /// The payload TLV-E's IEI. Not authenticated: outside the AAD (see [`unprotect`]).
    pub iei: u8,
}

impl Header {
    /// A header with a fresh random IV.
    pub fn new(
        message_type: u8,
        date_time: u64,
        payload_id: u32,
        sequence: u8,
        iei: u8,
    ) -> Result<Header, Error> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(|_| Error::RandomUnavailable)?;
        Ok(Header {
            message_type,
            date_time: date_time & 0xff_ffff_ffff,
            payload_id,
            sequence,
            iv,
            iei,
        })
    }

    fn encode(&self, algorithm: PayloadAlgorithm, dppk_id: u32) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = self.message_type;
        h[1..6].copy_from_slice(&self.date_time.to_be_bytes()[3..8]);
        h[6..10].copy_from_slice(&self.payload_id.to_be_bytes());
        h[10] = self.sequence;
        h[11] = algorithm.octet();
        h[12..28].copy_from_slice(&self.iv);
        h[28..32].copy_from_slice(&dppk_id.to_be_bytes());
        h
    }
}

/// What [`unprotect`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The header fields.
    pub header: Header,
    /// The algorithm octet's algorithm.
    pub algorithm: PayloadAlgorithm,
    /// The DPPK-ID the message names.
    pub dppk_id: u32,
    /// Length of the plaintext written.
    pub len: usize,
}

/// The length of the protected payload of a `plaintext_len`-octet plaintext.
pub const fn protected_len(plaintext_len: usize) -> usize {
    plaintext_len + OVERHEAD
}

/// The DPPK-ID a protected payload names (to choose its key), after checking its framing.
pub fn dppk_id_of(msg: &[u8]) -> Result<u32, Error> {
    frame(msg).map(|(_, id, _)| id)
}

/// Checks the framing: the algorithm, the DPPK-ID and the ciphertext's length.
fn frame(msg: &[u8]) -> Result<(PayloadAlgorithm, u32, usize), Error> {
    if msg.len() < OVERHEAD {
        return Err(Error::TooShort);
    }
    let algorithm =
        PayloadAlgorithm::from_octet(msg[11]).ok_or(Error::UnknownAlgorithm(msg[11]))?;
    let dppk_id = u32::from_be_bytes([msg[28], msg[29], msg[30], msg[31]]);
    let tlv_len = usize::from(u16::from_be_bytes([msg[33], msg[34]]));
    if HEADER_LEN + TLV_HEADER_LEN + tlv_len != msg.len() {
        return Err(Error::LengthMismatch);
    }
    Ok((algorithm, dppk_id, tlv_len - TAG_LEN))
}

/// Protects `plaintext` into `out` (at least [`protected_len`] octets) and returns the
/// protected payload's length, under `header.iv` as given: build the header with
/// [`Header::new`] for a fresh random IV, as every message under a key needs.
///
/// The AAD is the 32 header octets: the TLV-E's IEI octet ([`Header::iei`]) is written but
/// not authenticated, and a receiver cannot tell it was changed on the way.
pub fn protect(
    key: &PayloadKey,
    header: &Header,
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(Error::TooLong);
    }
    let n = protected_len(plaintext.len());
    let out = out.get_mut(..n).ok_or(Error::BufferTooSmall)?;
    let h = header.encode(key.algorithm, key.dppk_id);
    let (head, rest) = out.split_at_mut(HEADER_LEN);
    head.copy_from_slice(&h);
    rest[0] = header.iei;
    rest[1..3].copy_from_slice(&((plaintext.len() + TAG_LEN) as u16).to_be_bytes());
    let (body, tag) = rest[TLV_HEADER_LEN..].split_at_mut(plaintext.len());
    body.copy_from_slice(plaintext);
    tag.copy_from_slice(&key.gcm.seal_in_place_any_iv(&header.iv, &[&h], body));
    Ok(n)
}

/// Unprotects `msg` into `out` (at least `msg.len() - OVERHEAD` octets): checks the
/// framing, that the message names this key's DPPK-ID and algorithm, verifies the tag, and
/// only then decrypts.
///
/// The TLV-E's IEI octet is outside the AAD (the 32 header octets) and so not
/// authenticated: [`Opened::header`]'s `iei` is as received, possibly altered, and must not
/// be trusted.
pub fn unprotect(key: &PayloadKey, msg: &[u8], out: &mut [u8]) -> Result<Opened, Error> {
    let (algorithm, dppk_id, len) = frame(msg)?;
    if dppk_id != key.dppk_id {
        return Err(Error::WrongKey { dppk_id });
    }
    if algorithm != key.algorithm {
        return Err(Error::AlgorithmMismatch);
    }
    let out = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    let aad = &msg[..HEADER_LEN];
    let body = &msg[HEADER_LEN + TLV_HEADER_LEN..HEADER_LEN + TLV_HEADER_LEN + len];
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&msg[msg.len() - TAG_LEN..]);
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&msg[12..28]);
    // `out` is written only once the tag verified: a failed call writes nothing.
    key.gcm
        .open_to_any_iv(&iv, &[aad], body, &tag, out)
        .map_err(|_| Error::AuthenticationFailed)?;
    let mut dt = [0u8; 8];
    dt[3..8].copy_from_slice(&msg[1..6]);
    Ok(Opened {
        header: Header {
            message_type: msg[0],
            date_time: u64::from_be_bytes(dt),
            payload_id: u32::from_be_bytes([msg[6], msg[7], msg[8], msg[9]]),
            sequence: msg[10],
            iv,
            iei: msg[HEADER_LEN],
        },
        algorithm,
        dppk_id,
        len,
    })
}

pub mod signalling;

#[cfg(test)]
mod tests;
