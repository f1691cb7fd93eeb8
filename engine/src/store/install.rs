//! What an install takes (an MC key from MIKEY, or a raw SRTP master key), how it is checked
//! and derived before the store's writer lock, and what the store's control-plane calls
//! answer.

use core::fmt;

use crate::keys::addressing::{Address, AddressError, address};
use crate::keys::{
    CsId, DeriveError, KeyId, Purpose, Service, derive_srtp_master, derive_srtp_master_with_len,
    srtcp_cs_id,
};
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
    /// What a CSK upload said of the client's algorithms, or the one a key download forces
    /// (TS 33.180 §4.3.4.1, §5.4, §5.8). The SRTCP keys follow the selected algorithm;
    /// without it, the key's own length decides (AES-128 for 16 octets, AES-256 for 32).
    pub algorithms: Option<Algorithms>,
}

/// The SRTCP AEAD an MC key is used with (RFC 7714).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SrtcpAlgorithm {
    /// AEAD_AES_128_GCM: a 16-octet master key.
    Aes128Gcm,
    /// AEAD_AES_256_GCM: a 32-octet master key.
    Aes256Gcm,
}

impl SrtcpAlgorithm {
    /// The master key length it needs.
    pub const fn key_len(self) -> KeyLen {
        match self {
            SrtcpAlgorithm::Aes128Gcm => KeyLen::Aes128,
            SrtcpAlgorithm::Aes256Gcm => KeyLen::Aes256,
        }
    }
}

/// A client's algorithms as a CSK upload carries them: those it supports and the one it
/// selected (TS 33.180 §4.3.4.1). A key download may select another of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Algorithms {
    /// What the client supports (empty: only `selected`).
    pub supported: Vec<SrtcpAlgorithm>,
    /// What the key is used with.
    pub selected: SrtcpAlgorithm,
}

/// What a CSK upload did ([`super::KeyStore::csk_upload`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upload {
    /// The CSK was installed.
    Installed(Installed),
    /// The same client (MC Service user ID and IMPU) already has a CSK through another of
    /// the proxy's URIs: the upload's identity is bound to that CSK instead, and the proxy
    /// sends a key download that sets the uploaded CSK to it (TR 33.880 §7.2.5.3.3.5).
    Aliased {
        /// The CSK the client keeps using, whichever URI it comes through.
        csk: KeyId,
    },
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
            .field("algorithms", &self.algorithms)
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
            algorithms: None,
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
    /// The interconnection end-point an SPK serves (or the peer of any raw key): the key
    /// binds to it, so that a later key for the same end-point replaces it, and
    /// `KeyStore::key_for(purpose, "", peer)` finds it. `None`: no binding.
    pub peer: Option<String>,
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
            peer: None,
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
            .field("peer", &self.peer)
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
    /// The purpose tag is void or undefined in the store's numbering (`PurposeTags`).
    UndefinedPurpose(u8),
    /// The selected algorithm is not among those the client supports.
    AlgorithmNotOffered(SrtcpAlgorithm),
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
            StoreError::UndefinedPurpose(t) => {
                write!(f, "purpose tag {t} is void or undefined in this numbering")
            }
            StoreError::AlgorithmNotOffered(a) => {
                write!(f, "{a:?} is not among the client's algorithms")
            }
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
    /// Tag 4 read as the MSK (`PurposeTags::EarlyMsk`).
    pub(crate) msk: bool,
    /// The algorithms recorded with it.
    pub(crate) algorithms: Option<Algorithms>,
    /// For a CSK or SPK delivered as an MC key: the XML keys F.1.4 derives from it for its
    /// owner.
    pub(crate) xml: Option<crate::xml::XmlKey>,
    /// For a CSK or SPK delivered as an MC key: the key of MCData signalling payloads on its
    /// hop (F.1.5 with the CSK or SPK in the DPPK's place).
    pub(crate) mcdata: Option<crate::mcdata::PayloadKey>,
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
    if config.purpose_tags == super::PurposeTags::EarlyMsk
        && matches!(purpose, Purpose::Mscck | Purpose::Musik)
    {
        return Err(StoreError::UndefinedPurpose(purpose.tag()));
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
    let (mk, ms) = match &k.algorithms {
        None => derive_srtp_master(k.key, cs_id, address.csb_id, k.rand),
        Some(a) => {
            if !a.supported.is_empty() && !a.supported.contains(&a.selected) {
                return Err(StoreError::AlgorithmNotOffered(a.selected));
            }
            derive_srtp_master_with_len(k.key, a.selected.key_len(), cs_id, address.csb_id, k.rand)
        }
    }
    .map_err(StoreError::Derive)?;
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
        msk: msk(config, purpose),
        algorithms: k.algorithms.clone(),
        xml: match purpose {
            Purpose::Csk | Purpose::Spk => Some(
                crate::xml::XmlKey::derive(k.key, k.key_id, k.owner.user_id.as_bytes())
                    .map_err(StoreError::Derive)?,
            ),
            _ => None,
        },
        mcdata: match purpose {
            Purpose::Csk | Purpose::Spk => {
                let dpck = crate::keys::kdf::dpck(k.key, k.key_id).map_err(StoreError::Derive)?;
                Some(
                    crate::mcdata::PayloadKey::from_dpck(dpck.expose(), k.key_id.get())
                        .map_err(StoreError::Derive)?,
                )
            }
            _ => None,
        },
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
        peer: k.peer.clone().unwrap_or_default(),
        valid_from: k.valid_from,
        valid_until: k.valid_until,
        protection: k.protection,
        keys: SrtcpKeys::from_master(&mk, &ms, config.provider),
        fingerprint: fingerprint(&mk, &ms),
        binds: k.peer.is_some(),
        msk: msk(config, k.key_id.purpose()),
        algorithms: None,
        xml: None,
        mcdata: None,
    })
}

/// Whether a key of `purpose` is the MSK of the early numbering.
fn msk(config: &StoreConfig, purpose: Purpose) -> bool {
    config.purpose_tags == super::PurposeTags::EarlyMsk && purpose == Purpose::Mkfc
}
