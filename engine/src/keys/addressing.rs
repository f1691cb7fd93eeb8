//! How an MC key is named on the wire and found in the key store: key ID ⇄ MKI ⇄ lookup key
//! (TS 33.180 §7.4, digest §2.4). Every surface (SRTCP, store, data path, C ABI) uses these
//! functions and no other rule.
//!
//! # MKI
//!
//! The MKI of an SRTCP packet is the 4-octet ID of its key (CSK-ID, MuSiK-ID, SPK-ID …),
//! except for a GMK, whose MKI is GMK-ID ‖ GUK-ID (8 octets, TS 33.180 §7.4.2). A GUK-ID
//! carries the GMK purpose tag (0) in its 4 top bits, so the packet's last 4 octets tell the
//! two forms apart: a GMK tag there means an 8-octet MKI.
//!
//! # Lookup keys
//!
//! The store indexes entries by a `u64`:
//!
//! ```text
//! key ID                         every purpose but GMK (< 2^32)
//! 1<<63 | GMK-ID<<32 | GUK-ID    a GMK member entry: what a packet's 8-octet MKI names
//! 1<<62 | GMK-ID                 the same GMK entry by key ID (protect names a GMK by ID)
//! ```
//!
//! A store holds one member entry per GMK (a UE off-network has its own GUK-ID only), so
//! the key ID alone names it for protect.

use core::fmt;

use super::{KeyId, Purpose};
use crate::srtcp::{Mki, RTCP_HEADER_LEN, protected_len};

const GMK_MEMBER: u64 = 1 << 63;
const GMK_BY_ID: u64 = 1 << 62;

/// Why a key cannot be addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// A GMK needs the member's GUK-ID (the second half of its MKI).
    MissingGukId,
    /// A GUK-ID must carry the GMK purpose tag (0) in its 4 top bits; with another tag, a
    /// receiver would read the MKI's last 4 octets as a key ID of that purpose.
    GukIdTag(u32),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::MissingGukId => f.write_str("a GMK needs the member's GUK-ID"),
            AddressError::GukIdTag(g) => write!(
                f,
                "GUK-ID {g:08x} does not carry the GMK tag 0 in its top 4 bits"
            ),
        }
    }
}

impl core::error::Error for AddressError {}

/// How one key is addressed: the CSB ID its derivation uses, its MKI, and its lookup keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// The key ID.
    pub key_id: KeyId,
    /// The CSB ID of the MIKEY derivation: the key ID, or the GUK-ID for a GMK (digest §2.2).
    pub csb_id: u32,
    /// The MKI its packets carry.
    pub mki: Mki,
    /// The lookup key a packet's MKI gives ([`lookup_of_mki`]).
    pub lookup: u64,
    /// The lookup key of the key ID ([`lookup_of_id`]); equal to `lookup` except for a GMK.
    pub by_id: u64,
}

/// The address of key `key_id`; `guk_id` is required for a GMK and ignored otherwise.
pub fn address(key_id: KeyId, guk_id: Option<u32>) -> Result<Address, AddressError> {
    if key_id.purpose() != Purpose::Gmk {
        return Ok(Address {
            key_id,
            csb_id: key_id.get(),
            mki: mki_of(key_id),
            lookup: u64::from(key_id.get()),
            by_id: u64::from(key_id.get()),
        });
    }
    let guk = guk_id.ok_or(AddressError::MissingGukId)?;
    if guk >> 28 != u32::from(Purpose::Gmk.tag()) {
        return Err(AddressError::GukIdTag(guk));
    }
    Ok(Address {
        key_id,
        csb_id: guk,
        mki: gmk_mki(key_id, guk),
        lookup: gmk_member(key_id.get(), guk),
        by_id: lookup_of_id(key_id),
    })
}

/// The 4-octet MKI naming a key by its ID.
pub const fn mki_of(key_id: KeyId) -> Mki {
    let b = key_id.to_be_bytes();
    Mki::from_octets(&[b[0], b[1], b[2], b[3]])
}

/// The 8-octet group MKI GMK-ID ‖ GUK-ID.
pub const fn gmk_mki(gmk_id: KeyId, guk_id: u32) -> Mki {
    let a = gmk_id.to_be_bytes();
    let b = guk_id.to_be_bytes();
    Mki::from_octets(&[a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]])
}

/// The lookup key of a GMK member entry.
pub const fn gmk_member(gmk_id: u32, guk_id: u32) -> u64 {
    GMK_MEMBER | (gmk_id as u64) << 32 | guk_id as u64
}

/// The lookup key that finds key `key_id` by its ID.
pub const fn lookup_of_id(key_id: KeyId) -> u64 {
    match key_id.purpose() {
        Purpose::Gmk => GMK_BY_ID | key_id.get() as u64,
        _ => key_id.get() as u64,
    }
}

/// The lookup key of the ID of the key `lookup` belongs to: `lookup` itself, or for a GMK
/// member entry the GMK's by-ID key.
pub const fn by_id_of(lookup: u64) -> u64 {
    if lookup & GMK_MEMBER != 0 {
        GMK_BY_ID | key_id_of(lookup) as u64
    } else {
        lookup
    }
}

/// The raw key ID a lookup key belongs to (the GMK-ID of a GMK entry).
pub const fn key_id_of(lookup: u64) -> u32 {
    if lookup & GMK_MEMBER != 0 {
        (lookup >> 32) as u32 & 0x7fff_ffff
    } else {
        lookup as u32
    }
}

/// The shortest SRTCP packet that carries a 4-octet MKI: RTCP header, tag, E‖index, MKI.
pub const MIN_KEYED_SRTCP_LEN: usize = protected_len(RTCP_HEADER_LEN, 4);

/// The lookup key an SRTCP packet's MKI names, read from its tail; `None` when the packet is
/// too short to carry an MKI (shorter than [`MIN_KEYED_SRTCP_LEN`], or than the 8-octet
/// form its last 4 octets announce).
#[inline]
pub fn lookup_of_mki(pkt: &[u8]) -> Option<u64> {
    let n = pkt.len();
    if n < MIN_KEYED_SRTCP_LEN {
        return None;
    }
    let last = u32::from_be_bytes([pkt[n - 4], pkt[n - 3], pkt[n - 2], pkt[n - 1]]);
    if last >> 28 != u32::from(Purpose::Gmk.tag()) {
        return Some(u64::from(last));
    }
    if n < protected_len(RTCP_HEADER_LEN, 8) {
        return None;
    }
    let gmk = u32::from_be_bytes([pkt[n - 8], pkt[n - 7], pkt[n - 6], pkt[n - 5]]);
    Some(gmk_member(gmk, last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// Both directions agree for every purpose: the MKI a key is given, read back from a
    /// packet's tail, names the lookup key the store files the key under.
    #[test]
    fn mki_and_lookup_agree_both_ways() {
        let guk = 0x06a1_2aea;
        for p in Purpose::ALL {
            let id = KeyId::from_parts(p, 0x0123_4567);
            let a = address(id, Some(guk)).unwrap();
            let mut pkt = vec![0u8; 8 + 16 + 4];
            pkt.extend_from_slice(a.mki.as_bytes());
            assert_eq!(lookup_of_mki(&pkt), Some(a.lookup), "{p}");
            assert_eq!(key_id_of(a.lookup), id.get(), "{p}");
            assert_eq!(key_id_of(a.by_id), id.get(), "{p}");
            assert_eq!(lookup_of_id(id), a.by_id, "{p}");
            assert_eq!(
                (by_id_of(a.lookup), by_id_of(a.by_id)),
                (a.by_id, a.by_id),
                "{p}"
            );
            if p == Purpose::Gmk {
                assert_eq!(a.csb_id, guk);
                assert_ne!(a.lookup, a.by_id);
            } else {
                assert_eq!((a.csb_id, a.lookup), (id.get(), a.by_id));
            }
        }
    }

    /// TS 33.180 §7.4.2: the group MKI is GMK-ID ‖ GUK-ID (digest §2.4 example IDs).
    #[test]
    fn gmk_mki_layout() {
        let gmk = KeyId::new(0x0bad_cafe).unwrap();
        let a = address(gmk, Some(0x06a1_2aea)).unwrap();
        assert_eq!(a.mki.as_bytes(), hex!("0badcafe 06a12aea"));
        assert_eq!(address(gmk, None), Err(AddressError::MissingGukId));
        // A GUK-ID tagged as a CSK would make the packet's tail read as a CSK-ID.
        assert_eq!(
            address(gmk, Some(0x2000_0001)),
            Err(AddressError::GukIdTag(0x2000_0001))
        );
    }

    #[test]
    fn short_packets_carry_no_mki() {
        assert_eq!(lookup_of_mki(&[0x20; MIN_KEYED_SRTCP_LEN - 1]), None);
        assert!(lookup_of_mki(&[0x20; MIN_KEYED_SRTCP_LEN]).is_some());
        // Last 4 octets GMK-tagged, but no room for the 8-octet MKI.
        let mut p = [0u8; MIN_KEYED_SRTCP_LEN];
        p[MIN_KEYED_SRTCP_LEN - 4] = 0x01;
        assert_eq!(lookup_of_mki(&p), None);
    }
}
