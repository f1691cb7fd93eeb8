//! SRTCP with the AEAD_AES_128_GCM and AEAD_AES_256_GCM transforms (RFC 3711, RFC 7714).
//!
//! # Packet layout (RFC 7714 §17, RFC 3711 §3.4)
//!
//! ```text
//! E=1 (encrypted):
//! +--------------------------------------+
//! | V P RC/subtype  PT  length  (4)      |  clear, AAD
//! | SSRC of the first packet    (4)      |  clear, AAD
//! +--------------------------------------+
//! | octets 9..end of the RTCP compound   |  ciphertext (same length as plaintext)
//! +--------------------------------------+
//! | GCM tag (16)                         |
//! | E=1 | SRTCP index (31)  (4)          |  ESRTCP word, AAD
//! | MKI (0, 4 or 8)                      |  not authenticated
//! +--------------------------------------+
//!
//! E=0 (authenticated only):
//! | whole RTCP compound in clear (AAD) | GCM tag (16) | E=0 | index (4) | MKI |
//!
//! IV  = (00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖ index31) ⊕ session salt (12)
//! AAD = octets 1..8 ‖ ESRTCP word           (E=1)
//!     = whole RTCP compound ‖ ESRTCP word   (E=0)
//! ```
//!
//! With AEAD the tag sits *before* the ESRTCP word, unlike RFC 3711's HMAC transforms. The
//! MKI is part of neither the AAD nor the IV: a receiver finds its key from the MKI alone.
//!
//! # Contexts
//!
//! [`SrtcpKeys`] holds the session key and salt derived once from a master key and salt
//! ([`derive_session_keys`], RFC 3711 §4.3 with RFC 7714 erratum 4938). A [`TxContext`] owns
//! a sender's SRTCP index (starts at 0, +1 per packet, refuses at 2^31); an [`RxContext`] owns
//! a receiver's [`ReplayWindow`]. Unprotect checks bounds, the MKI and the replay window
//! read-only, verifies the tag, and only then decrypts and commits: a failed call changes no
//! state and, out of place, no output; in place, the caller's bytes stay as they were.
//!
//! No call here allocates or locks after set-up.

mod context;
mod error;
mod layout;
mod replay;
mod session;
mod transform;

pub use context::{
    DEFAULT_REPLAY_WINDOW, DEFAULT_SOFT_LIMIT, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW, Protected,
    Protection, RxConfig, RxContext, TxConfig, TxContext, Unprotected,
};
pub use error::{ConfigError, Error};
pub use layout::{
    ESRTCP_WORD_LEN, LengthCheck, MAX_INDEX, MAX_MKI_LEN, MAX_SRTCP_TRAILER, Mki, RTCP_HEADER_LEN,
    TAG_LEN, check_outgoing, check_rtcp_compound, protected_len,
};
pub use replay::ReplayWindow;
pub use session::{
    LABEL_SRTCP_ENCRYPTION, LABEL_SRTCP_SALT, SrtcpKeys, aes_cm_prf, derive_session_keys,
};
pub use transform::{Policy, open, open_in_place, seal, seal_in_place, ssrc_of, verify_only};
pub(crate) use transform::{SealItem, open_checked_4, seal_checked_4};

#[cfg(test)]
mod tests;
