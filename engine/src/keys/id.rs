//! Key identifiers and purpose tags (TS 33.180 Annex G; digest §1).
//!
//! Every MC key ID is 32 bits: the 4 most significant bits are the purpose tag and the other
//! 28 bits are random. Tags 0–6 are defined; 7–15 are not and are rejected here, so a
//! [`KeyId`] value always names a known purpose.

use core::fmt;

/// What an MC key is for: the 4 most significant bits of its key ID (digest §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Purpose {
    /// Group Master Key: group media (and group MCData DPPK). Tag 0.
    Gmk = 0,
    /// Private Call Key: private-call media, off-network SRTCP, one-to-one MCData. Tag 1.
    Pck = 1,
    /// Client-Server Key: client ↔ server signalling (XML and SRTCP). Tag 2.
    Csk = 2,
    /// Signalling Protection Key: server ↔ server signalling (XML and SRTCP). Tag 3.
    Spk = 3,
    /// Multicast Floor Control key: server → clients floor control over MBMS. Tag 4.
    Mkfc = 4,
    /// MBMS subchannel control key. Tag 5.
    Mscck = 5,
    /// Multicast Signalling Key. Tag 6.
    Musik = 6,
}

impl Purpose {
    /// All defined purposes, in tag order.
    pub const ALL: [Purpose; 7] = [
        Purpose::Gmk,
        Purpose::Pck,
        Purpose::Csk,
        Purpose::Spk,
        Purpose::Mkfc,
        Purpose::Mscck,
        Purpose::Musik,
    ];

    /// The 4-bit tag.
    pub const fn tag(self) -> u8 {
        self as u8
    }

    /// The purpose of a 4-bit tag; `None` for the undefined tags 7–15.
    pub const fn from_tag(tag: u8) -> Option<Purpose> {
        match tag {
            0 => Some(Purpose::Gmk),
            1 => Some(Purpose::Pck),
            2 => Some(Purpose::Csk),
            3 => Some(Purpose::Spk),
            4 => Some(Purpose::Mkfc),
            5 => Some(Purpose::Mscck),
            6 => Some(Purpose::Musik),
            _ => None,
        }
    }

    /// The name the standard uses ("CSK", "MuSiK" …).
    pub const fn name(self) -> &'static str {
        match self {
            Purpose::Gmk => "GMK",
            Purpose::Pck => "PCK",
            Purpose::Csk => "CSK",
            Purpose::Spk => "SPK",
            Purpose::Mkfc => "MKFC",
            Purpose::Mscck => "MSCCK",
            Purpose::Musik => "MuSiK",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a 32-bit value is not a usable key ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyIdError {
    /// The purpose tag (4 MSBs) is one of the undefined values 7–15.
    ReservedPurpose(u8),
    /// The operating system's random source failed.
    RandomUnavailable,
}

impl fmt::Display for KeyIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyIdError::ReservedPurpose(t) => {
                write!(
                    f,
                    "key ID purpose tag {t} is reserved (defined tags are 0-6)"
                )
            }
            KeyIdError::RandomUnavailable => f.write_str("the OS random source failed"),
        }
    }
}

impl core::error::Error for KeyIdError {}

/// A 32-bit MC key identifier whose purpose tag is defined (digest §1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(u32);

impl KeyId {
    /// Mask of the 28 random bits.
    pub const RANDOM_MASK: u32 = 0x0fff_ffff;

    /// Accepts `raw` if its purpose tag is defined.
    pub const fn new(raw: u32) -> Result<KeyId, KeyIdError> {
        let tag = (raw >> 28) as u8;
        match Purpose::from_tag(tag) {
            Some(_) => Ok(KeyId(raw)),
            None => Err(KeyIdError::ReservedPurpose(tag)),
        }
    }

    /// The key ID with purpose `purpose` and the given 28 low bits (higher bits of `low28`
    /// are ignored).
    pub const fn from_parts(purpose: Purpose, low28: u32) -> KeyId {
        KeyId(((purpose as u32) << 28) | (low28 & Self::RANDOM_MASK))
    }

    /// A fresh key ID for `purpose` with 28 bits from the operating system's random source.
    pub fn random(purpose: Purpose) -> Result<KeyId, KeyIdError> {
        let r = getrandom::u32().map_err(|_| KeyIdError::RandomUnavailable)?;
        Ok(KeyId::from_parts(purpose, r))
    }

    /// The raw 32-bit value.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The purpose tag's meaning.
    pub const fn purpose(self) -> Purpose {
        match Purpose::from_tag((self.0 >> 28) as u8) {
            Some(p) => p,
            // Unreachable: every constructor checks the tag.
            None => Purpose::Gmk,
        }
    }

    /// The 28 random bits.
    pub const fn random_part(self) -> u32 {
        self.0 & Self::RANDOM_MASK
    }

    /// Big-endian octets, as the ID travels in MIKEY (CSB ID) and as an SRTCP MKI.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:08x}, {})", self.0, self.purpose())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

impl TryFrom<u32> for KeyId {
    type Error = KeyIdError;
    fn try_from(raw: u32) -> Result<Self, Self::Error> {
        KeyId::new(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_from_top_four_bits() {
        // Digest §1.2 table; SW test IDs: GMK-ID 0df9bc39, CSK-ID 2ddd5bf0.
        assert_eq!(KeyId::new(0x0df9_bc39).unwrap().purpose(), Purpose::Gmk);
        assert_eq!(KeyId::new(0x1699_2638).unwrap().purpose(), Purpose::Pck);
        assert_eq!(KeyId::new(0x2ddd_5bf0).unwrap().purpose(), Purpose::Csk);
        assert_eq!(KeyId::new(0x3000_0001).unwrap().purpose(), Purpose::Spk);
        assert_eq!(KeyId::new(0x4fff_ffff).unwrap().purpose(), Purpose::Mkfc);
        assert_eq!(KeyId::new(0x5123_4567).unwrap().purpose(), Purpose::Mscck);
        assert_eq!(KeyId::new(0x6abc_def0).unwrap().purpose(), Purpose::Musik);
    }

    #[test]
    fn reserved_tags_are_rejected() {
        for tag in 7u32..=15 {
            let raw = (tag << 28) | 0x0123_4567;
            assert_eq!(KeyId::new(raw), Err(KeyIdError::ReservedPurpose(tag as u8)));
        }
    }

    #[test]
    fn every_purpose_round_trips() {
        for p in Purpose::ALL {
            assert_eq!(Purpose::from_tag(p.tag()), Some(p));
            let id = KeyId::from_parts(p, 0xffff_ffff);
            assert_eq!(id.purpose(), p);
            assert_eq!(id.random_part(), KeyId::RANDOM_MASK);
            assert_eq!(KeyId::new(id.get()), Ok(id));
        }
    }

    #[test]
    fn random_ids_keep_their_purpose_and_vary() {
        for p in Purpose::ALL {
            let ids: Vec<KeyId> = (0..16).map(|_| KeyId::random(p).unwrap()).collect();
            assert!(ids.iter().all(|id| id.purpose() == p));
            // 16 draws of 28 bits: all equal would mean the random source is broken.
            assert!(
                ids.iter()
                    .any(|id| id.random_part() != ids[0].random_part())
            );
        }
    }

    #[test]
    fn display_is_eight_hex_digits() {
        assert_eq!(KeyId::new(0x0000_0001).unwrap().to_string(), "00000001");
        assert_eq!(
            format!("{:?}", KeyId::new(0x2ddd_5bf0).unwrap()),
            "KeyId(2ddd5bf0, CSK)"
        );
    }
}
