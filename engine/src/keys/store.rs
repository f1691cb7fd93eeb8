//! The key store: which MC keys exist, whom they belong to, and whether they may be used now.
//!
//! A proxy or MCX server holds MC keys — a CSK per client, MuSiKs and MKFCs per group, an
//! MSCCK per MBMS bearer, an SPK per interconnection peer — and receives packets whose MKI
//! names the key (TS 33.180 §7.4, digest §2.4). [`KeyStore::install`] takes what the MIKEY
//! message delivered (key, key ID, RAND) and who the key belongs to, derives the SRTCP session
//! keys once (digest §2.2 and §3.2) and publishes the key.
//!
//! # Publication
//!
//! The store is a copy-on-write snapshot (a map from MKI to key entry, and a map from
//! binding to key ID) published through [`crate::sync::Rcu`]. Readers on the data path take
//! no lock: a lookup is two atomic increments, a pointer load and a probe of the snapshot's
//! open-addressed index (`keys::index`), rebuilt by the writer at each publication. Writers
//! (install, revoke, alias, purge) are serialized, build the next snapshot from the current
//! one, swap it in and wait for a grace period before dropping the old one; readers are never
//! blocked for longer than that pointer swap. Entries are shared between snapshots through
//! `Arc`, so a snapshot copy is a copy of pointers, and revocation also flips an atomic in the
//! entry so that it takes effect for the next packet even on a snapshot already being read.
//!
//! # Rules
//!
//! - **Purpose** (digest §1, §2.5): unicast SRTCP toward a client needs a CSK, multicast a
//!   MuSiK or MKFC, MBMS subchannel control an MSCCK, server-to-server an SPK; GMK and PCK are
//!   accepted only where off-network use is enabled ([`StoreConfig::off_network`]).
//! - **Replacement** (TS 33.180 §5.4 CSK upload, §5.8 key download): a key installed for the
//!   same (purpose, owner, peer) as an earlier one supersedes it. The old key may still
//!   *unprotect* for the grace period ([`StoreConfig::grace_period_ms`]), never *protect*. The
//!   new key continues the old one's SRTCP transmit indices (RFC 3711 §3.4: never reset).
//! - **Alias**: a second identity can be bound to an existing key (a client connected through
//!   two URIs, after a key download that set CSK_B := CSK_A).
//! - **Lifetime**: revoked keys fail at once; activation and expiry are checked against the
//!   `now` the caller passes. Key material is zeroized when its last snapshot goes.
//!
//! The caller must never install key material that was already used and then revoked or
//! purged: the store cannot recognise it, its transmit indices would start again at 0 and
//! GCM IVs would repeat under that key. A replacement is always a fresh key (key download
//! generates one, [`KeyStore::generate`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use core::fmt;

use super::index::KeyIndex;
use super::{CsId, DeriveError, KeyId, Purpose, derive_srtp_master};
use crate::idhash::IdMap;
use crate::secret::{KeyLen, LengthError, MasterKey, MasterSalt, McKey};
use crate::srtcp::{LengthCheck, MAX_INDEX, Mki, Policy, Protection, SrtcpKeys};
use crate::sync::{Rcu, RcuGuard};

/// Milliseconds since the Unix epoch: the only notion of time the store has, always passed in
/// by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current system time (for callers that have no clock of their own).
    pub fn now() -> Timestamp {
        Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        )
    }

    /// `ms` milliseconds later, saturating.
    pub const fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}

/// The MC service a key protects; with the purpose it fixes the CS-ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// MCPTT.
    Mcptt,
    /// MCVideo.
    Mcvideo,
    /// MCData.
    Mcdata,
}

/// The CS-ID for SRTCP with a key of `purpose` in `service` (TS 33.180 Table E.1.3-1, digest
/// §2.3). `None` where the table has no entry (SPK, MKFC, MSCCK, PCK, MCData): install such a
/// key with an explicit CS-ID ([`KeyInstall::cs_id`]).
pub const fn srtcp_cs_id(purpose: Purpose, service: Service) -> Option<CsId> {
    match (purpose, service) {
        (Purpose::Csk, Service::Mcptt) => Some(CsId::CskSrtcpMcptt),
        (Purpose::Csk, Service::Mcvideo) => Some(CsId::CskSrtcpMcvideo),
        (Purpose::Musik, Service::Mcptt) => Some(CsId::MusikSrtcpMcptt),
        (Purpose::Musik, Service::Mcvideo) => Some(CsId::MusikSrtcpMcvideo),
        // Off-network group SRTCP uses the group's media key (33.179 §7.6).
        (Purpose::Gmk, Service::Mcptt) => Some(CsId::McpttGroupCall),
        (Purpose::Gmk, Service::Mcvideo) => Some(CsId::McvideoGroupCall),
        _ => None,
    }
}

/// What an SRTCP packet is for; each use admits some purposes (digest §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SrtcpUse {
    /// Client ↔ server over unicast: CSK.
    Unicast,
    /// Server → group over multicast / MBMS: MuSiK, or MKFC where the call has no MuSiK.
    Multicast,
    /// MBMS subchannel control: MSCCK.
    MbmsSubchannel,
    /// Server ↔ server: SPK.
    ServerToServer,
    /// Off-network private or group call: PCK or GMK.
    OffNetwork,
}

impl SrtcpUse {
    /// Whether a key of `purpose` may serve this use.
    pub const fn allows(self, purpose: Purpose) -> bool {
        matches!(
            (self, purpose),
            (SrtcpUse::Unicast, Purpose::Csk)
                | (SrtcpUse::Multicast, Purpose::Musik | Purpose::Mkfc)
                | (SrtcpUse::MbmsSubchannel, Purpose::Mscck)
                | (SrtcpUse::ServerToServer, Purpose::Spk)
                | (SrtcpUse::OffNetwork, Purpose::Gmk | Purpose::Pck)
        )
    }

    /// The use a key of `purpose` serves.
    pub const fn of(purpose: Purpose) -> SrtcpUse {
        match purpose {
            Purpose::Csk => SrtcpUse::Unicast,
            Purpose::Musik | Purpose::Mkfc => SrtcpUse::Multicast,
            Purpose::Mscck => SrtcpUse::MbmsSubchannel,
            Purpose::Spk => SrtcpUse::ServerToServer,
            Purpose::Gmk | Purpose::Pck => SrtcpUse::OffNetwork,
        }
    }
}

/// Who a key belongs to: the MC Service user ID (or group ID for group keys), and the IMPU
/// where known (TS 33.180 §5.4: the server binds a CSK to both).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// MC Service user ID (or MC group ID for MuSiK / MKFC / GMK).
    pub user_id: String,
    /// The user's SIP-core identity, if known.
    pub impu: Option<String>,
}

impl Owner {
    /// An owner known by MC Service user ID only.
    pub fn new(user_id: impl Into<String>) -> Owner {
        Owner {
            user_id: user_id.into(),
            impu: None,
        }
    }
}

/// Everything [`KeyStore::install`] needs about one key. Its `Debug` output leaves the key
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

/// A raw SRTP master key and salt for [`KeyStore::install_srtp`]. Its `Debug` output leaves
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

/// An entry to publish (the derivation done).
struct NewEntry {
    key_id: KeyId,
    service: Service,
    owner: Owner,
    peer: String,
    valid_from: Option<Timestamp>,
    valid_until: Option<Timestamp>,
    protection: Protection,
    mki: Mki,
    lookup: u64,
    keys: SrtcpKeys,
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
            StoreError::DuplicateKeyId(k) => write!(f, "key ID {k} is already installed"),
            StoreError::UnknownKey(k) => write!(f, "no key {k} is installed"),
            StoreError::OffNetworkDisabled(p) => {
                write!(f, "{p} keys need off-network use enabled")
            }
            StoreError::WrongPurpose(p) => write!(f, "key purpose {p} does not fit"),
            StoreError::RandomUnavailable => f.write_str("the OS random source failed"),
            StoreError::MasterLength(e) => write!(f, "SRTP master key or salt length: {e}"),
        }
    }
}

impl core::error::Error for StoreError {}

/// Store-wide settings.
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// How long a superseded key may still unprotect (in-flight packets). Default 10 s.
    pub grace_period_ms: u64,
    /// Whether GMK and PCK keys are accepted (off-network SRTCP). Default off.
    pub off_network: bool,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            grace_period_ms: 10_000,
            off_network: false,
        }
    }
}

/// A key's life-cycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// In use.
    Active,
    /// Replaced at this time: unprotect only, until the grace period ends.
    Superseded(Timestamp),
    /// Revoked: not usable at all.
    Revoked,
}

const ACTIVE: u8 = 0;
const SUPERSEDED: u8 = 1;
const REVOKED: u8 = 2;

/// Transmit SRTCP indices per SSRC of one sender, shared by a key and its successors.
#[derive(Debug)]
pub(crate) struct TxIndices {
    slots: [TxSlot; TX_STREAMS],
}

/// Most SSRCs one key sends with (the engine is the sender; it picks the SSRCs).
pub const TX_STREAMS: usize = 16;
const EMPTY: u64 = u64::MAX;

#[derive(Debug)]
struct TxSlot {
    ssrc: AtomicU64,
    next: AtomicU64,
}

impl TxIndices {
    fn new() -> TxIndices {
        TxIndices {
            slots: core::array::from_fn(|_| TxSlot {
                ssrc: AtomicU64::new(EMPTY),
                next: AtomicU64::new(0),
            }),
        }
    }

    /// Takes the next index for `ssrc`. `Ok(None)` when the index space is spent (2^31),
    /// `Err(())` when every slot belongs to another SSRC.
    pub(crate) fn take(&self, ssrc: u32) -> Result<Option<u32>, ()> {
        let want = u64::from(ssrc);
        for slot in &self.slots {
            let mut cur = slot.ssrc.load(Ordering::Acquire);
            if cur == EMPTY {
                cur = match slot.ssrc.compare_exchange(
                    EMPTY,
                    want,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => want,
                    Err(other) => other,
                };
            }
            if cur == want {
                let i = slot.next.fetch_add(1, Ordering::Relaxed);
                return Ok((i <= u64::from(MAX_INDEX)).then_some(i as u32));
            }
        }
        Err(())
    }

    /// The next index `ssrc` would get, if it has a slot.
    pub(crate) fn peek(&self, ssrc: u32) -> Option<u64> {
        self.slots
            .iter()
            .find(|s| s.ssrc.load(Ordering::Acquire) == u64::from(ssrc))
            .map(|s| s.next.load(Ordering::Relaxed))
    }
}

/// One installed key, as the data path sees it. `repr(C)` keeps the fields every packet
/// reads (state, checks, policy, salt, key schedule) together at the front.
#[repr(C)]
pub(crate) struct KeyEntry {
    state: AtomicU8,
    pub(crate) purpose: Purpose,
    pub(crate) id: KeyId,
    /// The map key: the key ID, or GMK-ID ‖ GUK-ID for a GMK.
    pub(crate) lookup: u64,
    superseded_at: AtomicU64,
    pub(crate) valid_from: Option<Timestamp>,
    pub(crate) valid_until: Option<Timestamp>,
    pub(crate) policy: Policy,
    pub(crate) keys: SrtcpKeys,
    pub(crate) tx: Arc<TxIndices>,
    pub(crate) service: Service,
    pub(crate) owner: Owner,
    pub(crate) peer: String,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("peer", &self.peer)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl KeyEntry {
    /// Starts loading the part of the entry every packet reads (checks, policy, salt and key
    /// schedule), so that its cache misses overlap; the cold tail (owner, peer) is left.
    #[inline]
    pub(crate) fn prefetch(&self) {
        crate::sync::prefetch_prefix(self, core::mem::offset_of!(KeyEntry, tx));
    }

    pub(crate) fn status(&self) -> KeyStatus {
        match self.state.load(Ordering::Acquire) {
            ACTIVE => KeyStatus::Active,
            SUPERSEDED => {
                KeyStatus::Superseded(Timestamp(self.superseded_at.load(Ordering::Acquire)))
            }
            _ => KeyStatus::Revoked,
        }
    }

    fn supersede(&self, now: Timestamp) {
        self.superseded_at.store(now.0, Ordering::Release);
        let _ =
            self.state
                .compare_exchange(ACTIVE, SUPERSEDED, Ordering::AcqRel, Ordering::Acquire);
    }

    fn revoke(&self) {
        self.state.store(REVOKED, Ordering::Release);
    }

    /// Whether the key may be used at `now` (not counting supersession).
    pub(crate) fn time_check(&self, now: Timestamp) -> Result<(), TimeError> {
        if self.valid_from.is_some_and(|t| now < t) {
            return Err(TimeError::NotYetValid);
        }
        if self.valid_until.is_some_and(|t| now >= t) {
            return Err(TimeError::Expired);
        }
        Ok(())
    }

    /// A public description, without key material.
    fn info(&self) -> KeyInfo {
        KeyInfo {
            key_id: self.id,
            purpose: self.purpose,
            service: self.service,
            owner: self.owner.clone(),
            peer: self.peer.clone(),
            status: self.status(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            protection: self.policy.protection,
            mki: self.policy.mki,
        }
    }
}

/// Why a key's time window refuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeError {
    NotYetValid,
    Expired,
}

/// What the store knows about a key (no key material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key ID.
    pub key_id: KeyId,
    /// Purpose (from the ID's tag).
    pub purpose: Purpose,
    /// MC service.
    pub service: Service,
    /// Owner.
    pub owner: Owner,
    /// Peer.
    pub peer: String,
    /// Life-cycle state.
    pub status: KeyStatus,
    /// Activation time.
    pub valid_from: Option<Timestamp>,
    /// Expiry time.
    pub valid_until: Option<Timestamp>,
    /// SRTCP E=1 or E=0.
    pub protection: Protection,
    /// The MKI its packets carry.
    pub mki: Mki,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Binding {
    purpose: Purpose,
    user_id: String,
    peer: String,
}

/// One published version of the store.
#[derive(Default)]
pub(crate) struct Snapshot {
    /// Keyed by [`KeyEntry::lookup`].
    pub(crate) keys: IdMap<u64, Arc<KeyEntry>>,
    /// GMK-ID → lookup of its (GMK, GUK) entry: a store holds one member entry per GMK (a UE
    /// off-network has its own GUK-ID only), so protect can address a GMK by ID in O(1).
    gmk_ids: IdMap<u32, u64>,
    bindings: std::collections::HashMap<Binding, KeyId>,
    /// The data path's table, rebuilt from `keys` when the snapshot is published.
    index: KeyIndex,
}

impl Snapshot {
    /// The entry an MKI's lookup key names (data path).
    #[inline]
    pub(crate) fn entry(&self, lookup: u64) -> Option<&KeyEntry> {
        self.index.get(lookup)
    }

    /// The entry of key `id`, in O(1) for every purpose (data path).
    #[inline]
    pub(crate) fn entry_of(&self, id: KeyId) -> Option<&KeyEntry> {
        if id.purpose() == Purpose::Gmk {
            return self.index.get(*self.gmk_ids.get(&id.get())?);
        }
        self.index.get(u64::from(id.get()))
    }

    /// Starts loading the index slot of `lookup` (batch calls).
    #[inline]
    pub(crate) fn prefetch(&self, lookup: u64) {
        self.index.prefetch(lookup);
    }

    /// The snapshot ready to publish, with its data-path table built.
    fn publish(mut self) -> Box<Snapshot> {
        self.index = KeyIndex::build(self.keys.values());
        Box::new(self)
    }

    /// The entry a 4-octet MKI names (non-GMK keys).
    pub(crate) fn by_id(&self, id: u32) -> Option<&Arc<KeyEntry>> {
        self.keys.get(&u64::from(id))
    }

    /// The entry of key `id`, in O(1) for every purpose.
    pub(crate) fn find(&self, id: KeyId) -> Option<&Arc<KeyEntry>> {
        if id.purpose() == Purpose::Gmk {
            return self.keys.get(self.gmk_ids.get(&id.get())?);
        }
        self.by_id(id.get())
    }

    fn copy(&self) -> Snapshot {
        Snapshot {
            keys: self.keys.clone(),
            gmk_ids: self.gmk_ids.clone(),
            bindings: self.bindings.clone(),
            index: KeyIndex::default(),
        }
    }

    fn remove(&mut self, entry: &KeyEntry) {
        self.keys.remove(&entry.lookup);
        if entry.purpose == Purpose::Gmk {
            self.gmk_ids.remove(&entry.id.get());
        }
        self.bindings.retain(|_, id| *id != entry.id);
    }

    /// Drops superseded keys whose grace period is over, and expired keys.
    fn purge(&mut self, now: Timestamp, grace_ms: u64) -> Vec<KeyId> {
        let mut gone = Vec::new();
        self.keys.retain(|_, e| {
            let keep = match e.status() {
                KeyStatus::Active => e.time_check(now) != Err(TimeError::Expired),
                KeyStatus::Superseded(at) => now < at.plus_ms(grace_ms),
                KeyStatus::Revoked => false,
            };
            if !keep {
                gone.push(e.id);
            }
            keep
        });
        self.bindings.retain(|_, id| !gone.contains(id));
        self.gmk_ids
            .retain(|gmk, _| !gone.iter().any(|g| g.get() == *gmk));
        gone
    }
}

pub(crate) const fn gmk_lookup(gmk_id: u32, guk_id: u32) -> u64 {
    (1 << 63) | ((gmk_id as u64) << 32) | guk_id as u64
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

/// The MC key store. Shared between threads (`Arc<KeyStore>`); see the module docs.
pub struct KeyStore {
    snapshot: Rcu<Snapshot>,
    config: StoreConfig,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field("keys", &self.len())
            .field("config", &self.config)
            .finish()
    }
}

impl KeyStore {
    /// An empty store.
    pub fn new(config: StoreConfig) -> KeyStore {
        KeyStore {
            snapshot: Rcu::new(Snapshot::default()),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The current snapshot, for the data path.
    pub(crate) fn read(&self) -> RcuGuard<'_, Snapshot> {
        self.snapshot.read()
    }

    /// Number of installed keys (superseded ones in their grace period included).
    pub fn len(&self) -> usize {
        self.read().keys.len()
    }

    /// Whether no key is installed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Installs a key: checks it, derives its SRTCP keys once, supersedes the key previously
    /// bound to the same (purpose, owner, peer) and publishes the result. Superseded keys
    /// whose grace period is over are purged at the same time.
    pub fn install(&self, k: &KeyInstall<'_>, now: Timestamp) -> Result<Installed, StoreError> {
        let purpose = k.key_id.purpose();
        let (csb_id, mki, lookup) = self.addressing(k.key_id, k.guk_id)?;
        if KeyLen::from_octets(k.key.len()).is_none() {
            return Err(StoreError::Derive(DeriveError::KeyLength(LengthError {
                expected: "16 or 32",
                got: k.key.len(),
            })));
        }
        let cs_id = match k.cs_id.or(srtcp_cs_id(purpose, k.service)) {
            Some(c) => c,
            None => return Err(StoreError::NoCsId(purpose, k.service)),
        };
        // The expensive part runs before the writer lock.
        let (mk, ms) =
            derive_srtp_master(k.key, cs_id, csb_id, k.rand).map_err(StoreError::Derive)?;
        let binding = Binding {
            purpose,
            user_id: k.owner.user_id.clone(),
            peer: k.peer.clone(),
        };
        self.insert(
            NewEntry {
                key_id: k.key_id,
                service: k.service,
                owner: k.owner.clone(),
                peer: k.peer.clone(),
                valid_from: k.valid_from,
                valid_until: k.valid_until,
                protection: k.protection,
                mki,
                lookup,
                keys: SrtcpKeys::from_master(&mk, &ms),
            },
            Some(binding),
            now,
        )
    }

    /// Installs a raw SRTP master key and salt under `k.key_id` (the MKI), for a hop whose
    /// SRTP keys were agreed outside MIKEY (a peer configured with libsrtp-style keys). The
    /// key ID's purpose tag decides its uses as for an MC key. Such a key binds to no owner,
    /// so it replaces nothing; revoke it by key ID.
    pub fn install_srtp(
        &self,
        k: &SrtpInstall<'_>,
        now: Timestamp,
    ) -> Result<Installed, StoreError> {
        let (_, mki, lookup) = self.addressing(k.key_id, k.guk_id)?;
        let mk = MasterKey::from_slice(k.master_key).map_err(StoreError::MasterLength)?;
        let ms = MasterSalt::from_slice(k.master_salt).map_err(StoreError::MasterLength)?;
        self.insert(
            NewEntry {
                key_id: k.key_id,
                service: k.service,
                owner: Owner::new(""),
                peer: String::new(),
                valid_from: k.valid_from,
                valid_until: k.valid_until,
                protection: k.protection,
                mki,
                lookup,
                keys: SrtcpKeys::from_master(&mk, &ms),
            },
            None,
            now,
        )
    }

    /// How a key is addressed: its CSB ID (the GUK-ID for a GMK), its MKI and its lookup key
    /// in the store. Refuses GMK and PCK keys unless off-network use is enabled, and a GMK
    /// without the member's GUK-ID.
    fn addressing(
        &self,
        key_id: KeyId,
        guk_id: Option<u32>,
    ) -> Result<(u32, Mki, u64), StoreError> {
        let purpose = key_id.purpose();
        if matches!(purpose, Purpose::Gmk | Purpose::Pck) && !self.config.off_network {
            return Err(StoreError::OffNetworkDisabled(purpose));
        }
        if purpose == Purpose::Gmk {
            let guk = guk_id.ok_or(StoreError::MissingGukId)?;
            return Ok((guk, Mki::gmk(key_id, guk), gmk_lookup(key_id.get(), guk)));
        }
        Ok((
            key_id.get(),
            Mki::from_key_id(key_id),
            u64::from(key_id.get()),
        ))
    }

    /// Publishes a new entry; with a binding, the entry it replaces (same purpose, owner and
    /// peer) is superseded and its transmit indices carry over.
    fn insert(
        &self,
        n: NewEntry,
        binding: Option<Binding>,
        now: Timestamp,
    ) -> Result<Installed, StoreError> {
        let purpose = n.key_id.purpose();
        let grace = self.config.grace_period_ms;
        let key_id = n.key_id;
        self.snapshot
            .try_update(|cur| {
                if cur.keys.contains_key(&n.lookup) || cur.find(key_id).is_some() {
                    return Err(StoreError::DuplicateKeyId(key_id));
                }
                let mut next = cur.copy();
                let previous = binding
                    .as_ref()
                    .and_then(|b| next.bindings.get(b))
                    .and_then(|id| next.find(*id))
                    .cloned();
                let tx = match &previous {
                    Some(old) => Arc::clone(&old.tx),
                    None => Arc::new(TxIndices::new()),
                };
                if let Some(old) = &previous {
                    old.supersede(now);
                }
                next.keys.insert(
                    n.lookup,
                    Arc::new(KeyEntry {
                        id: key_id,
                        purpose,
                        service: n.service,
                        owner: n.owner.clone(),
                        peer: n.peer.clone(),
                        valid_from: n.valid_from,
                        valid_until: n.valid_until,
                        policy: Policy {
                            protection: n.protection,
                            mki: n.mki,
                            length_check: LengthCheck::Strict,
                        },
                        keys: n.keys.clone(),
                        tx,
                        lookup: n.lookup,
                        state: AtomicU8::new(ACTIVE),
                        superseded_at: AtomicU64::new(0),
                    }),
                );
                if purpose == Purpose::Gmk {
                    next.gmk_ids.insert(key_id.get(), n.lookup);
                }
                if let Some(b) = &binding {
                    next.bindings.insert(b.clone(), key_id);
                }
                next.purge(now, grace);
                Ok((
                    next.publish(),
                    Installed {
                        superseded: previous.map(|e| e.id),
                    },
                ))
            })
            .map(|(_old, r)| r)
    }

    /// Revokes a key: from the next packet on it neither protects nor unprotects, and it
    /// leaves the store (its material is zeroized once no reader holds the old snapshot).
    pub fn revoke(&self, key_id: KeyId) -> Result<(), StoreError> {
        self.snapshot
            .try_update(|cur| {
                let entry = cur.find(key_id).ok_or(StoreError::UnknownKey(key_id))?;
                entry.revoke();
                let mut next = cur.copy();
                next.remove(entry);
                Ok((next.publish(), ()))
            })
            .map(|_| ())
    }

    /// Binds a second owner to an installed key (the alias procedure: the proxy sent a key
    /// download setting CSK_B := CSK_A). A key previously bound to that owner and peer is
    /// superseded, as by an install.
    pub fn alias(
        &self,
        key_id: KeyId,
        owner: &Owner,
        now: Timestamp,
    ) -> Result<Installed, StoreError> {
        let grace = self.config.grace_period_ms;
        self.snapshot
            .try_update(|cur| {
                let entry = cur.find(key_id).ok_or(StoreError::UnknownKey(key_id))?;
                if entry.status() != KeyStatus::Active {
                    return Err(StoreError::UnknownKey(key_id));
                }
                let binding = Binding {
                    purpose: entry.purpose,
                    user_id: owner.user_id.clone(),
                    peer: entry.peer.clone(),
                };
                let mut next = cur.copy();
                let previous = next
                    .bindings
                    .get(&binding)
                    .filter(|id| **id != key_id)
                    .and_then(|id| next.find(*id))
                    .cloned();
                if let Some(old) = &previous {
                    old.supersede(now);
                }
                next.bindings.insert(binding, key_id);
                next.purge(now, grace);
                Ok((
                    next.publish(),
                    Installed {
                        superseded: previous.map(|e| e.id),
                    },
                ))
            })
            .map(|(_old, r)| r)
    }

    /// The key currently bound to (purpose, owner, peer): e.g. the CSK toward a client.
    pub fn key_for(&self, purpose: Purpose, user_id: &str, peer: &str) -> Option<KeyId> {
        let snap = self.read();
        snap.bindings
            .get(&Binding {
                purpose,
                user_id: user_id.to_owned(),
                peer: peer.to_owned(),
            })
            .copied()
    }

    /// A key's state, or `None` if no key has this ID: the cheap data-path lookup (no lock,
    /// no allocation).
    pub fn status(&self, key_id: KeyId) -> Option<KeyStatus> {
        self.read().find(key_id).map(|e| e.status())
    }

    /// What the store knows about a key.
    pub fn info(&self, key_id: KeyId) -> Option<KeyInfo> {
        self.read().find(key_id).map(|e| e.info())
    }

    /// The next SRTCP index a key would send with on `ssrc` (None if it never sent on it).
    pub fn next_tx_index(&self, key_id: KeyId, ssrc: u32) -> Option<u64> {
        self.read().find(key_id).and_then(|e| e.tx.peek(ssrc))
    }

    /// Removes superseded keys past their grace period and expired keys; returns their IDs.
    pub fn purge(&self, now: Timestamp) -> Vec<KeyId> {
        let grace = self.config.grace_period_ms;
        self.snapshot
            .update(|cur| {
                let mut next = cur.copy();
                let gone = next.purge(now, grace);
                (next.publish(), gone)
            })
            .1
    }

    /// A fresh key for a key download: 16 random octets (32 for `len` AES-256), a key ID of
    /// `purpose` that no installed key has, and a RAND. Install it once the MIKEY message is
    /// sent; an install that races with another of the same ID fails with
    /// [`StoreError::DuplicateKeyId`] and changes nothing.
    pub fn generate(&self, purpose: Purpose, len: KeyLen) -> Result<GeneratedKey, StoreError> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        let mut rand = [0u8; 16];
        getrandom::fill(&mut key[..]).map_err(|_| StoreError::RandomUnavailable)?;
        getrandom::fill(&mut rand).map_err(|_| StoreError::RandomUnavailable)?;
        let snap = self.read();
        let key_id = loop {
            let id = KeyId::random(purpose).map_err(|_| StoreError::RandomUnavailable)?;
            if snap.find(id).is_none() {
                break id;
            }
        };
        let Ok(key) = McKey::from_slice(&key[..len.octets()]) else {
            unreachable!("KeyLen lengths are valid")
        };
        Ok(GeneratedKey { key, key_id, rand })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_carries_no_key_material() {
        let key = [0xa7u8; 16];
        let id = KeyId::from_parts(Purpose::Csk, 0x0123_4567);
        let k = KeyInstall::new(
            &key,
            id,
            &[1; 16],
            Service::Mcptt,
            Owner::new("sip:a@x"),
            "srv",
        );
        let store = KeyStore::new(StoreConfig::default());
        store.install(&k, Timestamp(0)).unwrap();
        let g = store.generate(Purpose::Csk, KeyLen::Aes128).unwrap();
        let shown = format!(
            "{k:?} {store:?} {:?} {g:?}",
            store.read().by_id(id.get()).unwrap()
        );
        assert!(shown.contains("redacted"), "{shown}");
        for secret in ["a7a7", "167, 167", "A7A7"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let hex: String = g.key.expose().iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex), "{shown}");
    }

    #[test]
    fn tx_indices_continue_and_refuse_at_2_pow_31() {
        let tx = TxIndices::new();
        assert_eq!(tx.take(7), Ok(Some(0)));
        assert_eq!(tx.take(7), Ok(Some(1)));
        assert_eq!(tx.take(8), Ok(Some(0)));
        tx.slots[0]
            .next
            .store(u64::from(MAX_INDEX), Ordering::Relaxed);
        assert_eq!(tx.take(7), Ok(Some(MAX_INDEX)));
        assert_eq!(tx.take(7), Ok(None));
        assert_eq!(tx.take(7), Ok(None));
        for ssrc in 100..114 {
            assert!(tx.take(ssrc).is_ok());
        }
        assert_eq!(tx.take(999), Err(()));
    }

    /// The data path's index finds exactly the keys the control-plane map holds, after
    /// installs, revocations and purges, for every purpose; absent IDs (forged MKIs) miss.
    #[test]
    fn index_agrees_with_the_map() {
        let store = KeyStore::new(StoreConfig {
            off_network: true,
            ..StoreConfig::default()
        });
        let key = [0x42u8; 16];
        let mut ids = Vec::new();
        // Sequential IDs (the worst case for a weak hash) and a GMK addressed by ID.
        for n in 0..300u32 {
            let id = KeyId::from_parts(Purpose::Csk, 0x0010_0000 + n);
            let owner = Owner::new(format!("sip:u{n}@x"));
            let k = KeyInstall::new(&key, id, &[1; 16], Service::Mcptt, owner, "srv");
            store.install(&k, Timestamp(0)).unwrap();
            ids.push(id);
        }
        let gmk = KeyId::from_parts(Purpose::Gmk, 0x0abc_def0);
        let mut k = KeyInstall::new(&key, gmk, &[2; 16], Service::Mcptt, Owner::new("g"), "");
        k.guk_id = Some(0x0000_1234);
        store.install(&k, Timestamp(0)).unwrap();
        for id in ids.iter().step_by(3) {
            store.revoke(*id).unwrap();
        }
        let snap = store.read();
        for id in &ids {
            let in_map = snap.by_id(id.get()).map(|e| e.id);
            assert_eq!(snap.entry_of(*id).map(|e| e.id), in_map, "{id:?}");
            assert_eq!(snap.entry(u64::from(id.get())).map(|e| e.id), in_map);
        }
        assert_eq!(snap.entry_of(gmk).map(|e| e.id), Some(gmk));
        assert_eq!(
            snap.entry(gmk_lookup(gmk.get(), 0x1234)).map(|e| e.id),
            Some(gmk)
        );
        let mut x = 0x1234_5678_u32;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let id = x & 0x0fff_ffff | 0x3000_0000;
            let expect = snap.by_id(id).map(|e| e.id);
            assert_eq!(snap.entry(u64::from(id)).map(|e| e.id), expect);
        }
        assert_eq!(store.len(), 201);
    }
}
