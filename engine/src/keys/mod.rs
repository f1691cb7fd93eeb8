//! MC key identifiers, how they are addressed, and the derivations that turn MC keys into
//! working keys.
//!
//! - [`KeyId`] and [`Purpose`]: the 32-bit key identifiers of TS 33.180 whose 4 most
//!   significant bits are the purpose tag (digest §1).
//! - [`usage`]: which purposes serve which SRTCP use, and the CS-IDs of Table E.1.3-1.
//! - [`addressing`]: key ID ⇄ MKI ⇄ the store's lookup key, both directions.
//! - [`mikey_prf`] and [`derive_srtp_master`]: the MIKEY PRF-HMAC-SHA-256 (RFC 3830 §4.1.2 with
//!   RFC 6043 §6.1) and the TGK → SRTP master key / salt derivation of TS 33.180 §7.4
//!   (digest §2), with the CS-IDs of Table E.1.3-1 as the typed [`CsId`].
//! - [`kdf`]: the TS 33.220 Annex B KDF and its MC uses in TS 33.180 Annex F.1 (User Salt and
//!   GUK-ID, XML confidentiality and integrity keys, DPCK).
//!
//! All of these are pure functions of their inputs.

pub mod addressing;
mod id;
pub mod kdf;
mod mikey;
pub mod usage;

pub use id::{KeyId, KeyIdError, Purpose};
pub use mikey::{
    CsId, DeriveError, MIKEY_SALT_CONSTANT, MIKEY_TEK_CONSTANT, derive_srtp_master,
    derive_srtp_master_with_len, mikey_prf,
};
pub use usage::{Service, SrtcpUse, srtcp_cs_id};
