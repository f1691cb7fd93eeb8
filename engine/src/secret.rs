//! Secret byte containers.
//!
//! Every key or salt the engine holds lives in one of these types. They are zeroized when
//! dropped, and their `Debug` output never shows the bytes (ARCHITECTURE.md, invariants:
//! "Key bytes are zeroized … Keys never appear in `Debug` output or logs").

use core::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A byte string had the wrong length for the secret it was meant to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthError {
    /// What the lengths allowed are, in words ("16 or 32").
    pub expected: &'static str,
    /// The length that was given.
    pub got: usize,
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} octets, got {}", self.expected, self.got)
    }
}

impl core::error::Error for LengthError {}

/// The AES key size a key is meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyLen {
    /// 16 octets: AES-128 (AEAD_AES_128_GCM).
    Aes128,
    /// 32 octets: AES-256 (AEAD_AES_256_GCM).
    Aes256,
}

impl KeyLen {
    /// Number of octets.
    pub const fn octets(self) -> usize {
        match self {
            KeyLen::Aes128 => 16,
            KeyLen::Aes256 => 32,
        }
    }

    /// The key size whose length is `n` octets, if any.
    pub const fn from_octets(n: usize) -> Option<KeyLen> {
        match n {
            16 => Some(KeyLen::Aes128),
            32 => Some(KeyLen::Aes256),
            _ => None,
        }
    }
}

macro_rules! aes_key_secret {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name {
            bytes: [u8; 32],
            #[zeroize(skip)]
            len: KeyLen,
        }

        impl $name {
            /// Takes a 16-octet (AES-128) or 32-octet (AES-256) key.
            pub fn from_slice(key: &[u8]) -> Result<Self, LengthError> {
                let len = KeyLen::from_octets(key.len())
                    .ok_or(LengthError { expected: "16 or 32", got: key.len() })?;
                let mut bytes = [0u8; 32];
                bytes[..key.len()].copy_from_slice(key);
                Ok(Self { bytes, len })
            }

            /// The key size.
            pub fn key_len(&self) -> KeyLen {
                self.len
            }

            /// The key bytes. Keep the borrow short and never log it.
            pub fn expose(&self) -> &[u8] {
                &self.bytes[..self.len.octets()]
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?}, <redacted>)"), self.len)
            }
        }
    };
}

macro_rules! fixed_secret {
    ($(#[$meta:meta])* $name:ident, $n:expr) => {
        $(#[$meta])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; $n]);

        impl $name {
            /// Length in octets.
            pub const LEN: usize = $n;

            /// Wraps the given bytes.
            pub fn new(bytes: [u8; $n]) -> Self {
                Self(bytes)
            }

            /// Copies a slice of exactly [`Self::LEN`] octets.
            pub fn from_slice(s: &[u8]) -> Result<Self, LengthError> {
                let bytes: [u8; $n] = s
                    .try_into()
                    .map_err(|_| LengthError { expected: stringify!($n), got: s.len() })?;
                Ok(Self(bytes))
            }

            /// The bytes. Keep the borrow short and never log it.
            pub fn expose(&self) -> &[u8; $n] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

aes_key_secret!(
    /// An SRTP/SRTCP master key (RFC 3711 §3.2.1), 16 or 32 octets. In MC it is derived from
    /// the MC key with the MIKEY PRF (TS 33.180 §7.4).
    MasterKey
);

aes_key_secret!(
    /// An SRTCP session encryption key (RFC 3711 §4.3, label 0x03), 16 or 32 octets.
    SessionKey
);

aes_key_secret!(
    /// An MC key as the key store holds it (CSK, SPK, MuSiK, GMK …), 16 or 32 octets.
    McKey
);

fixed_secret!(
    /// The 96-bit SRTP/SRTCP master salt of the AEAD transforms (RFC 7714 §14.2).
    MasterSalt,
    12
);

fixed_secret!(
    /// The 96-bit SRTCP session salt (RFC 3711 §4.3, label 0x05; RFC 7714 §12).
    SessionSalt,
    12
);

aes_key_secret!(
    /// A key derived with the TS 33.220 KDF (XML confidentiality / integrity keys, DPCK):
    /// 16 octets from a 128-bit parent key, 32 from a 256-bit one.
    DerivedKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let k = MasterKey::from_slice(&[0xab; 16]).unwrap();
        let s = MasterSalt::new([0xcd; 12]);
        let shown = format!("{k:?} {s:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert!(!shown.to_lowercase().contains("cd"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn lengths_are_checked() {
        assert!(MasterKey::from_slice(&[0; 15]).is_err());
        assert!(MasterKey::from_slice(&[0; 24]).is_err());
        assert_eq!(
            MasterKey::from_slice(&[0; 32]).unwrap().key_len(),
            KeyLen::Aes256
        );
        assert_eq!(MasterKey::from_slice(&[7; 16]).unwrap().expose(), &[7; 16]);
        let e = MasterSalt::from_slice(&[0; 14]).unwrap_err();
        assert_eq!(
            e,
            LengthError {
                expected: "12",
                got: 14
            }
        );
    }

    #[test]
    fn zeroize_clears_bytes() {
        let mut k = SessionKey::from_slice(&[0x5a; 32]).unwrap();
        k.zeroize();
        assert!(k.expose().iter().all(|&b| b == 0));
        let mut s = SessionSalt::new([9; 12]);
        s.zeroize();
        assert_eq!(s.expose(), &[0; 12]);
    }
}
