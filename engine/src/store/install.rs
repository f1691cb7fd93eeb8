//! What an install takes (an MC key from MIKEY, or a raw SRTP master key), how it is checked
//! and derived before the store's writer lock, and what the store's control-plane calls
//! answer.

use core::fmt;

use crate::keys::addressing::{Address, AddressError, address};
use crate::keys::{CsId, DeriveError, KeyId, Purpose, Service, derive_srtp_master, srtcp_cs_id};
use crate::secret::{KeyLen, LengthError, MasterKey, MasterSalt, McKey};
use crate::srtcp::{Protection, SrtcpKeys};
use crate::time::Timestamp;

use super::StoreConfig;
use super::entry::Owner;

/// Everything [`super::KeyStore::install`] needs about one key. Its `Debug` output leaves the key
/// out.
#[derive(Clone)]
pub struct KeyInstall<'a> {
    /// The MC key, 16 or 32 octets.
    pub key: &'a [u8],
    /// Its key ID.
    pub key_id: KeyId,
    /// The RAND of the MIKEY message that delivered it.
    pub rand: &'a [u8],
    /// The MC service.
    pub service: Service,
    /// Whom it belongs to.
    pub owner: Owner,
    /// The other end: the server's MDSI (client keys) or the interconnection peer (SPK).
    pub peer: String,
    /// Not usable before this time.
    pub valid_from: Option<Timestamp>,
    /// Not usable from this time on.
    pub valid_until: Option<Timestamp>,
    /// SRTCP E=1 or E=0.
    pub protection: Protection,
    /// CS-ID where Table E.1.3-1 gives none for this purpose and service.
    pub cs_id: Option<CsId>,
    /// For a GMK: the GUK-ID of the member (the CSB ID, and the second half of the MKI).
    pub guk_id: Option<u32>,
}

impl fmt::Debug for KeyInstall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyInstall")
            .field(
                "key",
                &format_args!("<redacted, {} octets>", self.key.len()),
            )
            .field("key_id", &self.key_id)
            .field("service", &self.service)
            .field("owner", &self.owner)
            .field("peer", &self.peer)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("protection", &self.protection)
            .field("cs_id", &self.cs_id)
            .field("guk_id", &self.guk_id)
            .finish_non_exhaustive()
    }
}

impl<'a> KeyInstall<'a> {
    /// A key with no time limits, SRTCP encrypted, CS-ID from the table.
    pub fn new(
        key: &'a [u8],
        key_id: KeyId,
        rand: &'a [u8],
        service: Service,
        owner: Owner,
        peer: impl Into<String>,
    ) -> KeyInstall<'a> {
        KeyInstall {
            key,
            key_id,
            rand,
            service,
            owner,
            peer: peer.into(),
            valid_from: None,
            valid_until: None,
            protection: Protection::Encrypted,
            cs_id: None,
            guk_id: None,
        }
    }
}

/// A raw SRTP master key and salt for [`super::KeyStore::install_srtp`]. Its `Debug` output leaves
/// the key and salt out.
#[derive(Clone)]
pub struct SrtpInstall<'a> {
    /// SRTP master key, 16 (AEAD_AES_128_GCM) or 32 (AEAD_AES_256_GCM) octets.
    pub master_key: &'a [u8],
    /// SRTP master salt, 12 octets (RFC 7714 §11).
    pub master_salt: &'a [u8],
    /// The key ID: its purpose tag, and the MKI on the wire.
    pub key_id: KeyId,
    /// The MC service.
    pub service: Service,
    /// Not usable before this time.
    pub valid_from: Option<Timestamp>,
    /// Not usable from this time on.
    pub valid_until: Option<Timestamp>,
    /// SRTCP E=1 or E=0.
    pub protection: Protection,
    /// For a GMK: the GUK-ID (second half of the MKI).
    pub guk_id: Option<u32>,
}

impl<'a> SrtpInstall<'a> {
    /// A key with no time limits, SRTCP encrypted.
    pub fn new(
        master_key: &'a [u8],
        master_salt: &'a [u8],
        key_id: KeyId,
        service: Service,
    ) -> SrtpInstall<'a> {
        SrtpInstall {
            master_key,
            master_salt,
            key_id,
            service,
            valid_from: None,
            valid_until: None,
            protection: Protection::Encrypted,
            guk_id: None,
        }
    }
}

impl fmt::Debug for SrtpInstall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpInstall")
            .field("key_id", &self.key_id)
            .field("service", &self.service)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("protection", &self.protection)
            .finish_non_exhaustive()
    }
}

/// Why a control-plane operation on the store failed. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// Key length, RAND length or another derivation input was wrong.
    Derive(DeriveError),
    /// Table E.1.3-1 has no CS-ID for this purpose and service; give one explicitly.
    NoCsId(Purpose, Service),
    /// A GMK needs the member's GUK-ID.
    MissingGukId,
    /// A GUK-ID must carry the GMK purpose tag (0) in its 4 top bits; with another tag no
    /// packet under the key could be told from one under a key of that purpose.
    BadGukId(u32),
    /// A key with this ID (MKI) is already installed.
    DuplicateKeyId(KeyId),
    /// No key with this ID is installed.
    UnknownKey(KeyId),
    /// GMK and PCK keys need off-network use enabled.
    OffNetworkDisabled(Purpose),
    /// An alias must name a key of the same purpose.
    WrongPurpose(Purpose),
    /// The OS random source failed.
    RandomUnavailable,
    /// A raw SRTP master key is not 16 or 32 octets, or its salt not 12 (RFC 7714 §11).
    MasterLength(LengthError),
    /// The key's validity ends before it begins.
    EmptyValidity,
    /// The key's validity is already over at install.
    AlreadyExpired,
    /// This key ID left the store recently with the same master key and salt: installing it
    /// again would let its old packets be replayed (install fresh material).
    ReusedKey(KeyId),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Derive(e) => write!(f, "{e}"),
            StoreError::NoCsId(p, s) => {
                write!(
                    f,
                    "no CS-ID in TS 33.180 Table E.1.3-1 for {p} in {s:?}; give one"
                )
            }
            StoreError::MissingGukId => f.write_str("a GMK needs the member's GUK-ID"),
            StoreError::BadGukId(g) => write!(
                f,
                "GUK-ID {g:08x} does not carry the GMK tag 0 in its top 4 bits"
            ),
            StoreError::DuplicateKeyId(k) => write!(f, "key ID {k} is already installed"),
            StoreError::UnknownKey(k) => write!(f, "no key {k} is installed"),
            StoreError::OffNetworkDisabled(p) => {
                write!(f, "{p} keys need off-network use enabled")
            }
            StoreError::WrongPurpose(p) => write!(f, "key purpose {p} does not fit"),
            StoreError::RandomUnavailable => f.write_str("the OS random source failed"),
            StoreError::MasterLength(e) => write!(f, "SRTP master key or salt length: {e}"),
            StoreError::EmptyValidity => f.write_str("the key's validity ends before it begins"),
            StoreError::AlreadyExpired => f.write_str("the key's validity is already over"),
            StoreError::ReusedKey(k) => write!(
                f,
                "key {k} was installed before with the same material; install a fresh key"
            ),
        }
    }
}

impl core::error::Error for StoreError {}

impl From<AddressError> for StoreError {
    fn from(e: AddressError) -> StoreError {
        match e {
            AddressError::MissingGukId => StoreError::MissingGukId,
            AddressError::GukIdTag(g) => StoreError::BadGukId(g),
        }
    }
}

/// What an install did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The key it superseded, if any.
    pub superseded: Option<KeyId>,
}

/// A fresh key for a key download (TS 33.180 §5.8): key, unused key ID of the right purpose,
/// and a MIKEY RAND.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The key (zeroized on drop).
    pub key: McKey,
    /// Its ID: the purpose asked for, and no collision with an installed key.
    pub key_id: KeyId,
    /// A 16-octet RAND for the MIKEY message.
    pub rand: [u8; 16],
}

/// An install checked and derived, ready for the writer lock.
pub(crate) struct Prepared {
    pub(crate) address: Address,
    pub(crate) service: Service,
    pub(crate) owner: Owner,
    pub(crate) peer: String,
    pub(crate) valid_from: Option<Timestamp>,
    pub(crate) valid_until: Option<Timestamp>,
    pub(crate) protection: Protection,
    pub(crate) keys: SrtcpKeys,
    /// What the master key and salt hash to ([`fingerprint`]).
    pub(crate) fingerprint: [u8; 16],
    /// Whether it binds to (purpose, owner, peer) and so replaces the key bound there.
    pub(crate) binds: bool,
}

/// A hash of a master key and salt, to recognise the same material under the same key ID
/// after the key left (the store keeps it; the material itself is zeroized).
fn fingerprint(key: &MasterKey, salt: &MasterSalt) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"mcx-engine retired key fingerprint");
    h.update(key.expose());
    h.update(salt.expose());
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// The checks every install makes before anything is derived: the key's address (a GMK's
/// GUK-ID), off-network purposes, the validity window.
fn check(
    config: &StoreConfig,
    key_id: KeyId,
    guk_id: Option<u32>,
    valid: (Option<Timestamp>, Option<Timestamp>),
    now: Timestamp,
) -> Result<Address, StoreError> {
    let purpose = key_id.purpose();
    if matches!(purpose, Purpose::Gmk | Purpose::Pck) && !config.off_network {
        return Err(StoreError::OffNetworkDisabled(purpose));
    }
    let address = address(key_id, guk_id)?;
    match valid {
        (Some(from), Some(until)) if from >= until => return Err(StoreError::EmptyValidity),
        (_, Some(until)) if now >= until => return Err(StoreError::AlreadyExpired),
        _ => {}
    }
    Ok(address)
}

/// Checks an MC key install and derives its SRTCP keys (TS 33.180 §7.4).
pub(crate) fn prepare(
    config: &StoreConfig,
    k: &KeyInstall<'_>,
    now: Timestamp,
) -> Result<Prepared, StoreError> {
    let purpose = k.key_id.purpose();
    let address = check(
        config,
        k.key_id,
        k.guk_id,
        (k.valid_from, k.valid_until),
        now,
    )?;
    if KeyLen::from_octets(k.key.len()).is_none() {
        return Err(StoreError::Derive(DeriveError::KeyLength(LengthError {
            expected: "16 or 32",
            got: k.key.len(),
        })));
    }
    let cs_id: CsId = k
        .cs_id
        .or(srtcp_cs_id(purpose, k.service))
        .ok_or(StoreError::NoCsId(purpose, k.service))?;
    let (mk, ms) =
        derive_srtp_master(k.key, cs_id, address.csb_id, k.rand).map_err(StoreError::Derive)?;
    Ok(Prepared {
        address,
        service: k.service,
        owner: k.owner.clone(),
        peer: k.peer.clone(),
        valid_from: k.valid_from,
        valid_until: k.valid_until,
        protection: k.protection,
        keys: SrtcpKeys::from_master(&mk, &ms, config.provider),
        fingerprint: fingerprint(&mk, &ms),
        binds: true,
    })
}

/// Checks a raw SRTP master key install and derives its session keys.
pub(crate) fn prepare_srtp(
    config: &StoreConfig,
    k: &SrtpInstall<'_>,
    now: Timestamp,
) -> Result<Prepared, StoreError> {
    let address = check(
        config,
        k.key_id,
        k.guk_id,
        (k.valid_from, k.valid_until),
        now,
    )?;
    let mk = MasterKey::from_slice(k.master_key).map_err(StoreError::MasterLength)?;
    let ms = MasterSalt::from_slice(k.master_salt).map_err(StoreError::MasterLength)?;
    Ok(Prepared {
        address,
        service: k.service,
        owner: Owner::new(""),
        peer: String::new(),
        valid_from: k.valid_from,
        valid_until: k.valid_until,
        protection: k.protection,
        keys: SrtcpKeys::from_master(&mk, &ms, config.provider),
        fingerprint: fingerprint(&mk, &ms),
        binds: false,
    })
}
