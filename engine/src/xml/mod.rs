//! Protection of the XML bodies of SIP messages (TS 33.180 §9.3 and Annex F.1.4; TS 24.379
//! §6.6.2 and Annex F; digest §4): element encryption with XML Encryption 1.1 AES-GCM, and
//! HMAC-SHA-256 XML signatures over canonical XML 1.0, under keys derived from the XPK (the
//! CSK between client and server, the SPK between servers).
//!
//! Everything here streams over the input with a strict scanner ([`Limits`]; no DTD, no
//! entities, bounded depth, attribute count and sizes) and builds no DOM. What is not
//! encrypted or decrypted passes through byte for byte. Every call writes its result to the
//! caller's `Vec` only when the whole document succeeded: on an error the `Vec` is as it was.
//!
//! - [`protect`] / [`unprotect`]: encrypt the configured elements' content, decrypt every
//!   `xenc:EncryptedData` (digest §4.3).
//! - [`sign`] / [`verify`]: the `Signature` of one XML body and its check (digest §4.2),
//!   collected in the `application/vnd.3gpp.mcptt-signed+xml` body (TS 24.379 Annex F.6).
//! - [`multipart`]: split and build the `multipart/mixed` SIP body that carries them.
//! - [`c14n`]: Canonical XML 1.0 (without comments), which the signatures digest.

mod base64;
pub mod c14n;
mod enc;
mod identities;
mod iv;
pub mod multipart;
mod scan;
mod sig;

use core::fmt;

use crate::aead::Gcm;
use crate::keys::{DeriveError, KeyId, kdf};
use crate::secret::DerivedKey;

pub use enc::{DEFAULT_ELEMENTS, Elements, protect, unprotect};
pub use identities::rewrite_identities;
pub use sig::{SIGNED_CONTENT_TYPE, Signed, sign, sign_bodies, verify};

/// Checks that `doc` is a document the engine accepts (well-formed, UTF-8, no DTD, within
/// `limits`) without changing anything: what every call here checks first.
pub fn check(doc: &[u8], limits: &Limits) -> Result<(), Error> {
    let mut r = scan::Reader::document(doc, limits)?;
    while r.next()?.is_some() {}
    Ok(())
}

/// Upper bounds on what a document may contain; anything larger is refused before any output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Octets in the whole document (default 256 KiB).
    pub max_document: usize,
    /// Element nesting depth (default 32).
    pub max_depth: usize,
    /// Attributes on one element, namespace declarations included (default 32).
    pub max_attributes: usize,
    /// Octets in one element or attribute name (default 256).
    pub max_name: usize,
    /// Octets in one attribute value (default 8 KiB).
    pub max_attribute_value: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_document: 256 * 1024,
            max_depth: 32,
            max_attributes: 32,
            max_name: 256,
            max_attribute_value: 8 * 1024,
        }
    }
}

/// Why a document could not be protected, unprotected, signed or verified. Nothing was
/// written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Not well-formed XML (what is wrong, in words).
    Malformed(&'static str),
    /// The document has a DTD (`<!DOCTYPE`, `<!ENTITY` …), which is never processed.
    Dtd,
    /// An entity reference other than the five predefined ones, or a bad character reference.
    Entity,
    /// Not UTF-8 (or a declaration naming another encoding).
    Encoding,
    /// Longer than [`Limits::max_document`], or a name or attribute value over its limit.
    TooLarge,
    /// Nested deeper than [`Limits::max_depth`].
    TooDeep,
    /// More attributes on one element than [`Limits::max_attributes`].
    TooManyAttributes,
    /// Valid XML this engine does not take (an XML version other than 1.0), or XML
    /// Encryption or Signature it does not implement (what, in words).
    Unsupported(&'static str),
    /// An `EncryptedData` or `Signature` lacks a part or has a bad one (which, in words).
    BadStructure(&'static str),
    /// The `KeyName` names another key than the one given.
    WrongKey,
    /// The algorithm does not match the key (an AES-256 key for aes128-gcm, or back).
    AlgorithmMismatch,
    /// The GCM tag, the digest or the signature value did not verify.
    AuthenticationFailed,
    /// A signature refers to a body that is not there, or a body has no signature.
    Unsigned,
    /// The operating system's random source failed (fresh IV).
    RandomUnavailable,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(what) => write!(f, "malformed XML: {what}"),
            Error::Dtd => f.write_str("XML with a DTD is refused"),
            Error::Entity => f.write_str("undefined entity or bad character reference"),
            Error::Encoding => f.write_str("XML must be UTF-8"),
            Error::TooLarge => f.write_str("XML document, name or value over its size limit"),
            Error::TooDeep => f.write_str("XML nested deeper than the limit"),
            Error::TooManyAttributes => f.write_str("more XML attributes than the limit"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::BadStructure(what) => write!(f, "bad XML security element: {what}"),
            Error::WrongKey => f.write_str("KeyName names another key"),
            Error::AlgorithmMismatch => f.write_str("algorithm does not match the key"),
            Error::AuthenticationFailed => f.write_str("XML authentication failed"),
            Error::Unsigned => f.write_str("signature and signed bodies do not match"),
            Error::RandomUnavailable => f.write_str("the OS random source failed"),
        }
    }
}

impl core::error::Error for Error {}

/// The two keys F.1.4 derives from one XPK for one MC Service user, ready to use: the
/// confidentiality key (FC 0x51) as an AES-GCM key schedule and the integrity key (FC 0x52)
/// for HMAC-SHA-256, with the XPK-ID whose base64 is their `KeyName`. Derive it once per
/// (XPK, user) and reuse it. `Debug` leaves the keys out; both are zeroized on drop.
pub struct XmlKey {
    xpk_id: u32,
    key_name: [u8; 8],
    gcm: Gcm,
    integrity: DerivedKey,
}

impl fmt::Debug for XmlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XmlKey")
            .field("xpk_id", &format_args!("{:08x}", self.xpk_id))
            .field("key_len", &self.integrity.key_len())
            .finish_non_exhaustive()
    }
}

impl XmlKey {
    /// Derives both keys from the XPK (CSK or SPK, 16 or 32 octets), its ID and the MC
    /// Service user ID (TS 33.180 F.1.4; digest §4.1).
    pub fn derive(xpk: &[u8], xpk_id: KeyId, user_id: &[u8]) -> Result<XmlKey, DeriveError> {
        let keys = kdf::xml_keys(xpk, xpk_id, user_id)?;
        XmlKey::from_derived(
            keys.confidentiality.expose(),
            keys.integrity.expose(),
            xpk_id.get(),
        )
    }

    /// Keys already derived (16 or 32 octets each), for the XPK-ID their `KeyName` carries.
    pub fn from_derived(
        confidentiality: &[u8],
        integrity: &[u8],
        xpk_id: u32,
    ) -> Result<XmlKey, DeriveError> {
        let gcm = Gcm::new(confidentiality, crate::aead::Provider::detect())
            .map_err(DeriveError::KeyLength)?;
        let integrity = DerivedKey::from_slice(integrity).map_err(DeriveError::KeyLength)?;
        let key_name = base64::encode_array(&xpk_id.to_be_bytes())
            .unwrap_or_else(|| unreachable!("4 octets are 8 base64 characters"));
        Ok(XmlKey {
            xpk_id,
            key_name,
            gcm,
            integrity,
        })
    }

    /// The XPK-ID.
    pub fn xpk_id(&self) -> u32 {
        self.xpk_id
    }

    /// The `KeyName` both EncryptedData and Signature carry: base64 of the XPK-ID.
    pub fn key_name(&self) -> &str {
        core::str::from_utf8(&self.key_name).unwrap_or_default()
    }
}
