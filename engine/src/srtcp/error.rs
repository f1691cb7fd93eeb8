//! What can go wrong on the SRTCP data path, said exactly.

use core::fmt;

/// Why a protect or unprotect call failed. The call changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than an RTCP header (protect), or than header + tag + ESRTCP word + MKI
    /// (unprotect).
    TooShort,
    /// An RTCP header's version field is not 2.
    BadVersion,
    /// The RTCP length fields do not add up to the packet's length.
    LengthMismatch,
    /// The buffer given for the result is too small (see [`super::protected_len`]).
    BufferTooSmall,
    /// The packet's MKI names no key this context holds.
    UnknownMki,
    /// The GCM tag did not verify.
    AuthenticationFailed,
    /// This SRTCP index was already received.
    Replayed,
    /// The SRTCP index is older than the replay window.
    TooOld,
    /// The transmit index reached 2^31: the master key must be replaced (RFC 3711 §9.2,
    /// RFC 7714 §9.4). Nothing was sent.
    KeyExhausted,
    /// The packet has E=0 but this context requires encryption.
    NotEncrypted,
}

impl Error {
    /// A short stable name ("too_short", "replayed" …) for logs, JSON and counters.
    pub const fn name(self) -> &'static str {
        match self {
            Error::TooShort => "too_short",
            Error::BadVersion => "bad_version",
            Error::LengthMismatch => "length_mismatch",
            Error::BufferTooSmall => "buffer_too_small",
            Error::UnknownMki => "unknown_mki",
            Error::AuthenticationFailed => "authentication_failed",
            Error::Replayed => "replayed",
            Error::TooOld => "too_old",
            Error::KeyExhausted => "key_exhausted",
            Error::NotEncrypted => "not_encrypted",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::TooShort => "packet too short",
            Error::BadVersion => "RTCP version is not 2",
            Error::LengthMismatch => "RTCP length field does not match the packet length",
            Error::BufferTooSmall => "output buffer too small",
            Error::UnknownMki => "unknown MKI",
            Error::AuthenticationFailed => "authentication failed",
            Error::Replayed => "replayed SRTCP index",
            Error::TooOld => "SRTCP index too old for the replay window",
            Error::KeyExhausted => "SRTCP index space exhausted (2^31 packets): re-key",
            Error::NotEncrypted => "packet is not encrypted (E=0) but the context requires it",
        })
    }
}

impl core::error::Error for Error {}

/// Why a context could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The replay window size is outside 64..=32768.
    ReplayWindow(u32),
    /// An initial SRTCP index must be below 2^31.
    InitialIndex(u32),
    /// An MKI must be 0, 4 or 8 octets.
    MkiLength(usize),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ReplayWindow(n) => {
                write!(f, "replay window {n} is outside 64..=32768")
            }
            ConfigError::InitialIndex(n) => write!(f, "SRTCP index {n} is not below 2^31"),
            ConfigError::MkiLength(n) => write!(f, "MKI of {n} octets (must be 0, 4 or 8)"),
        }
    }
}

impl core::error::Error for ConfigError {}
