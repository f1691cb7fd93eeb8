//! The AES-GCM AEAD the SRTCP layer runs on (NIST SP 800-38D; RFC 7714 §5).
//!
//! [`Gcm`] takes its associated data in several parts, because the SRTCP AAD is not
//! contiguous in the packet: RFC 7714 §17 puts the tag between the RTCP packet and the
//! E‖index word that both belong to the AAD. Verification and decryption are separate steps
//! ([`Gcm::verify`], then [`Gcm::apply_keystream`]) so that callers can authenticate first
//! and change nothing when authentication fails.
//!
//! This is the portable backend, composed from the RustCrypto `aes` and `ghash` crates (which
//! detect AES-NI / PCLMULQDQ and ARMv8 crypto at run time). Its output is checked against the
//! `aes-gcm` crate and the McGrew–Viega test cases in the tests below.

mod gcm;

pub use gcm::{AuthError, Gcm, IV_LEN, TAG_LEN};

/// Name of the AES-GCM backend in use, for reports and `mcx --version`.
pub const fn backend_name() -> &'static str {
    "portable (RustCrypto aes + ghash)"
}
