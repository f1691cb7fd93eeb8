//! The key store: which MC keys exist, whom they belong to, and whether they may be used now
//! (ARCHITECTURE.md, layer 2).
//!
//! A proxy or MCX server holds MC keys — a CSK per client, MuSiKs and MKFCs per group, an
//! MSCCK per MBMS bearer, an SPK per interconnection peer — and receives packets whose MKI
//! names the key (TS 33.180 §7.4, digest §2.4). [`KeyStore::install`] takes what the MIKEY
//! message delivered (key, key ID, RAND) and who the key belongs to, derives the SRTCP session
//! keys once (digest §2.2 and §3.2) and publishes the key.
//!
//! # Publication
//!
//! The data path finds entries in an index ([`crate::sync::Table`]) that readers probe
//! without locks and that writers change in place: an install or a revocation costs the same
//! with ten keys or a hundred thousand (the index doubles when it passes half full, O(1) per
//! install on average; [`KeyStore::install_many`] sizes it once for a whole batch). What only
//! the control plane reads (bindings, deadlines) sits behind a writer mutex that the data path
//! never takes. A removed entry leaves the index at once; its memory, and with it the key
//! material (zeroized on drop), goes after a grace period, once no reader can hold it.
//!
//! # Rules
//!
//! - **Purpose** (digest §1, §2.5): unicast SRTCP toward a client needs a CSK, multicast a
//!   MuSiK or MKFC, MBMS subchannel control an MSCCK, server-to-server an SPK; GMK and PCK are
//!   accepted only where off-network use is enabled ([`StoreConfig::off_network`]).
//! - **Replacement** (TS 33.180 §5.4 CSK upload, §5.8 key download): a key installed for the
//!   same (purpose, owner, peer) as an earlier one supersedes it. The old key may still
//!   *unprotect* for the grace period ([`StoreConfig::grace_period_ms`]), never *protect*. The
//!   new key continues the old one's SRTCP transmit indices per SSRC (RFC 3711 §3.4).
//! - **Alias**: a second identity can be bound to an existing key (a client connected through
//!   two URIs, after a key download that set CSK_B := CSK_A).
//! - **Lifetime**: revoked keys fail at once; activation and expiry are checked against the
//!   `now` the caller passes; a key whose validity is empty or already over is refused.
//! - **No index twice, no replay**: a key ID that leaves the store (revoked, expired,
//!   superseded and purged) is remembered with the first index above every index it sent
//!   with and a hash of its master key and salt. Installed again with the same material it is
//!   refused ([`StoreError::ReusedKey`]): its old packets could be replayed to a fresh window.
//!   With new material its SSRCs start above the old indices. The store remembers the most
//!   recent [`StoreConfig::retired_keys`] IDs; an ID older than that is new again, so a caller
//!   that recycles key IDs must not recycle their material (key download generates fresh
//!   keys, [`KeyStore::generate`]).
//! - **Limits**: a key sends on at most [`StoreConfig::tx_ssrcs_per_key`] SSRCs; when a
//!   (key, SSRC) index reaches [`StoreConfig::index_soft_limit`] the store raises a
//!   [`StoreEvent::IndexSoftLimit`] (poll it with [`KeyStore::poll_event`]), well before
//!   2^31 where protect refuses.

mod control;
mod entry;
mod install;
mod snapshot;
mod tx;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use core::fmt;

use crate::aead::Provider;
use crate::keys::addressing::{Address, by_id_of, lookup_of_id};
use crate::keys::{KeyId, Purpose};
use crate::secret::{KeyLen, McKey};
use crate::srtcp::{LengthCheck, MAX_INDEX, Policy};
use crate::sync::Table;
use crate::time::Timestamp;
use control::{Binding, Control};
use install::{Prepared, prepare, prepare_srtp};

pub use entry::{KeyInfo, KeyStatus, Owner};
pub use install::{
    Algorithms, GeneratedKey, Installed, KeyInstall, SrtcpAlgorithm, SrtpInstall, StoreError,
    Upload,
};
pub use tx::MAX_TX_SSRCS;

pub(crate) use entry::{KeyEntry, TimeError};
pub(crate) use snapshot::Snapshot;
pub(crate) use tx::TakeError;

/// Which numbering of the purpose tags (the 4 top bits of a key ID) the store follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PurposeTags {
    /// TS 33.180 Annex G as the digest tabulates it (§1.2): 4 MKFC, 5 MSCCK, 6 MuSiK. The
    /// default: it is the numbering the implementations checked against use, and the one
    /// with a key for each of the uses Rel-17 names (floor control over MBMS, MBMS
    /// subchannel control, multicast signalling).
    #[default]
    AnnexG,
    /// The earlier numbering of a TS 33.180 draft (seed `003`, Annex G): tag 4 is the MSK,
    /// which protects multicast signalling and MBMS subchannel control; tag 5 is void and
    /// 6 undefined (refused at install).
    EarlyMsk,
}

/// Store-wide settings.
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// How long a superseded key may still unprotect (in-flight packets). Default 10 s.
    pub grace_period_ms: u64,
    /// Whether GMK and PCK keys are accepted (off-network SRTCP). Default off.
    pub off_network: bool,
    /// The AES-GCM implementation keys are expanded for. Default [`Provider::detect`]; the
    /// surfaces pass the start-up measurement (`mcx_engine::startup`).
    pub provider: Provider,
    /// Most SSRCs one key sends on (1..=[`MAX_TX_SSRCS`]). Default 4096: an SPK trunk toward a
    /// peer server carries a stream per client. Memory grows with the SSRCs used, about 16
    /// octets each.
    pub tx_ssrcs_per_key: u32,
    /// The transmit index at which a (key, SSRC) raises [`StoreEvent::IndexSoftLimit`].
    /// Default 2^31 − 2^24: about 16.7 million packets before the key is spent.
    pub index_soft_limit: u32,
    /// How many retired key IDs the store remembers (with their last index) to refuse index
    /// reuse on a reinstall. Default 100,000 (about 80 octets each).
    pub retired_keys: usize,
    /// The purpose-tag numbering. Default [`PurposeTags::AnnexG`].
    pub purpose_tags: PurposeTags,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            grace_period_ms: 10_000,
            off_network: false,
            provider: Provider::detect(),
            tx_ssrcs_per_key: 4096,
            index_soft_limit: MAX_INDEX - (1 << 24) + 1,
            retired_keys: 100_000,
            purpose_tags: PurposeTags::AnnexG,
        }
    }
}

/// Something the store reports to the control plane ([`KeyStore::poll_event`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// A (key, SSRC) took the transmit index [`StoreConfig::index_soft_limit`]: replace the
    /// key before the index reaches 2^31.
    IndexSoftLimit {
        /// The key.
        key_id: KeyId,
        /// The SSRC.
        ssrc: u32,
        /// The index taken.
        index: u32,
    },
}

/// Why an XML or MCData call under a store key failed. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The key: unknown, not a CSK or SPK, revoked, superseded, expired or not yet valid.
    Key(crate::Error),
    /// The key was installed as raw SRTP material: there is no XPK to derive body keys from.
    NoBodyKeys(KeyId),
    /// The XML document or its protection.
    Xml(crate::xml::Error),
    /// The MCData payload or its protection.
    Mcdata(crate::mcdata::Error),
    /// The MCData message inside the payload (its elements, or an identity too long).
    Signalling(crate::mcdata::signalling::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Key(e) => write!(f, "body key: {e}"),
            BodyError::NoBodyKeys(k) => {
                write!(f, "key {k} has no XML or MCData keys (raw SRTP material)")
            }
            BodyError::Xml(e) => write!(f, "{e}"),
            BodyError::Mcdata(e) => write!(f, "{e}"),
            BodyError::Signalling(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for BodyError {}

/// Events waiting to be polled; beyond this many the oldest are dropped (and counted).
const MAX_EVENTS: usize = 4096;

/// Why a key ID left the store, as the data path reports it to a packet that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retired {
    Revoked,
    Expired,
    Superseded,
}

/// What the store remembers of a retired key ID (filed under the lookup key of the ID).
#[derive(Debug)]
pub(crate) struct RetiredKey {
    pub(crate) why: Retired,
    /// The first transmit index a reinstall of this ID may use (final once the entry's grace
    /// period in the index is over).
    first_index: AtomicU32,
    /// What the key's master key and salt hash to: the same material may not come back.
    fingerprint: [u8; 16],
    /// Tells this record from an earlier one of the same ID in the eviction queue.
    seq: u64,
}

/// The MC key store. Shared between threads (`Arc<KeyStore>`); see the module docs.
pub struct KeyStore {
    index: Table<KeyEntry>,
    retired: Table<RetiredKey>,
    control: Mutex<Control>,
    config: StoreConfig,
    keys: AtomicUsize,
    /// Incremented whenever an entry leaves the index: handles drop receive state then.
    removals: AtomicU64,
    events: Mutex<VecDeque<StoreEvent>>,
    events_raised: AtomicU64,
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
    /// An empty store. A provider this CPU cannot run is replaced by the portable one.
    pub fn new(config: StoreConfig) -> KeyStore {
        let mut config = config;
        if !config.provider.is_available() {
            config.provider = Provider::Portable;
        }
        config.tx_ssrcs_per_key = config.tx_ssrcs_per_key.clamp(1, MAX_TX_SSRCS);
        config.index_soft_limit = config.index_soft_limit.clamp(1, MAX_INDEX);
        KeyStore {
            index: Table::new(),
            retired: Table::new(),
            control: Mutex::new(Control::default()),
            config,
            keys: AtomicUsize::new(0),
            removals: AtomicU64::new(0),
            events: Mutex::new(VecDeque::new()),
            events_raised: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The AES-GCM provider keys are expanded for.
    pub fn provider(&self) -> Provider {
        self.config.provider
    }

    /// The current index, for the data path.
    #[inline]
    pub(crate) fn read(&self) -> Snapshot<'_> {
        Snapshot {
            index: self.index.read(),
        }
    }

    /// How many entries have left the store so far (handles compare it to know when to drop
    /// receive state).
    #[inline]
    pub(crate) fn removals(&self) -> u64 {
        self.removals.load(Ordering::Acquire)
    }

    /// Why a packet's key is not in the store, when it was and left: revoked, expired or
    /// superseded and purged. `lookup` is any of the key's lookup keys.
    pub(crate) fn retired(&self, lookup: u64) -> Option<Retired> {
        self.retired.read().get(by_id_of(lookup)).map(|r| r.why)
    }

    fn control(&self) -> impl core::ops::DerefMut<Target = Control> + '_ {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of installed keys (superseded ones in their grace period included).
    pub fn len(&self) -> usize {
        self.keys.load(Ordering::Relaxed)
    }

    /// Whether no key is installed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Installs a key: checks it, derives its SRTCP keys once, supersedes the key previously
    /// bound to the same (purpose, owner, peer) and publishes the result. Keys whose grace
    /// period or validity is over leave the store at the same time.
    pub fn install(&self, k: &KeyInstall<'_>, now: Timestamp) -> Result<Installed, StoreError> {
        let p = prepare(&self.config, k, now)?;
        let mut c = self.control();
        self.insert_locked(&mut c, p, now)
    }

    /// Installs many keys at once: each is checked and derived before the writer lock, then
    /// all are published under one writer lock with the index sized once for all of them
    /// (readers see them appear one by one). Each key has its own result; a refused key does
    /// not stop the others.
    pub fn install_many(
        &self,
        keys: &[KeyInstall<'_>],
        now: Timestamp,
    ) -> Vec<Result<Installed, StoreError>> {
        let prepared: Vec<_> = keys.iter().map(|k| prepare(&self.config, k, now)).collect();
        let mut c = self.control();
        self.index.reserve(2 * prepared.len());
        prepared
            .into_iter()
            .map(|p| p.and_then(|p| self.insert_locked(&mut c, p, now)))
            .collect()
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
        let p = prepare_srtp(&self.config, k, now)?;
        let mut c = self.control();
        self.insert_locked(&mut c, p, now)
    }

    /// Publishes a prepared entry; with a binding, the entry it replaces (same purpose, owner
    /// and peer) is superseded and its transmit indices carry over.
    fn insert_locked(
        &self,
        c: &mut Control,
        p: Prepared,
        now: Timestamp,
    ) -> Result<Installed, StoreError> {
        let Address {
            key_id,
            mki,
            lookup,
            by_id,
            ..
        } = p.address;
        if c.entries.contains_key(&by_id) {
            return Err(StoreError::DuplicateKeyId(key_id));
        }
        let binding = p.binds.then(|| Binding {
            purpose: key_id.purpose(),
            user_id: p.owner.user_id.clone(),
            peer: p.peer.clone(),
        });
        let retired = self
            .retired
            .read()
            .get(by_id)
            .map(|r| (r.first_index.load(Ordering::Acquire), r.fingerprint));
        if retired.is_some_and(|(_, f)| f == p.fingerprint) {
            return Err(StoreError::ReusedKey(key_id));
        }
        let first = retired.map_or(0, |(i, _)| i);
        let previous = binding
            .as_ref()
            .and_then(|b| c.bindings.get(b))
            .and_then(|id| c.entries.get(&lookup_of_id(*id)))
            .cloned();
        let limit = self.config.tx_ssrcs_per_key;
        let tx = match &previous {
            Some(old) => {
                // The old key stops protecting first; once no protect that saw it active is
                // still running (a grace period of the index), its counters are final.
                old.supersede(now);
                self.index.synchronize();
                old.tx.successor(limit, first)
            }
            None => tx::TxIndices::new(limit, first),
        };
        let serial = c.next_serial;
        c.next_serial += 1;
        let entry = Arc::new(KeyEntry::new(entry::EntryParts {
            id: key_id,
            lookup,
            serial,
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            policy: Policy {
                protection: p.protection,
                mki,
                length_check: LengthCheck::Strict,
            },
            keys: p.keys,
            tx,
            fingerprint: p.fingerprint,
            service: p.service,
            owner: p.owner.clone(),
            peer: p.peer,
            msk: p.msk,
        }));
        // The maps say the ID is free, and the index holds what the maps hold.
        let published = self.index.insert(lookup, Arc::clone(&entry)).is_ok()
            && (by_id == lookup || self.index.insert(by_id, Arc::clone(&entry)).is_ok());
        debug_assert!(published, "the index and the maps disagree on {key_id}");
        if retired.is_some() {
            drop(self.retired.remove(by_id));
        }
        if let Some(until) = p.valid_until {
            c.deadline(until, by_id, serial);
        }
        // Streams that carry over past the soft limit are reported now: the index equal to
        // the limit, which raises the event on protect, lies behind them.
        entry.tx.for_each(|ssrc, next| {
            if next > u64::from(self.config.index_soft_limit) {
                self.raise(StoreEvent::IndexSoftLimit {
                    key_id,
                    ssrc,
                    index: next.min(u64::from(MAX_INDEX) + 1) as u32,
                });
            }
        });
        if let Some(a) = p.algorithms {
            c.algorithms.insert(by_id, a);
        }
        if let Some(x) = p.xml {
            c.xml.insert(by_id, Arc::new(x));
        }
        if let Some(m) = p.mcdata {
            c.mcdata.insert(by_id, Arc::new(m));
        }
        if key_id.purpose() == Purpose::Csk
            && let Some(impu) = &p.owner.impu
        {
            c.clients
                .insert((p.owner.user_id.clone(), impu.clone()), key_id);
        }
        c.entries.insert(by_id, entry);
        self.keys.fetch_add(1, Ordering::Relaxed);
        if let Some(b) = binding {
            c.bind(b, key_id, by_id);
        }
        if let Some(old) = &previous {
            c.deadline(
                now.plus_ms(self.config.grace_period_ms),
                lookup_of_id(old.id),
                old.serial,
            );
        }
        self.purge_locked(c, now);
        Ok(Installed {
            superseded: previous.map(|e| e.id),
        })
    }

    /// Takes the entries filed under `by_ids` out of the store: out of the maps and the index,
    /// remembered as retired with their last index, and dropped once no reader holds them.
    fn remove_locked(&self, c: &mut Control, by_ids: &[u64], why: Retired) -> Vec<KeyId> {
        let mut gone = Vec::new();
        let mut slots = Vec::new();
        for &by_id in by_ids {
            let Some(e) = c.take(by_id) else { continue };
            slots.push(e.lookup);
            if e.lookup != by_id {
                slots.push(by_id);
            }
            gone.push((by_id, e));
        }
        if gone.is_empty() {
            return Vec::new();
        }
        self.keys.fetch_sub(gone.len(), Ordering::Relaxed);
        // The retired records go in first, so that a packet naming the key finds either the
        // entry or the reason it left.
        let mut records = Vec::with_capacity(gone.len());
        for (by_id, e) in &gone {
            let why = match (why, e.status()) {
                (Retired::Revoked, _) | (_, KeyStatus::Revoked) => Retired::Revoked,
                (_, KeyStatus::Superseded(_)) => Retired::Superseded,
                _ => Retired::Expired,
            };
            let seq = c.next_serial;
            c.next_serial += 1;
            let record = Arc::new(RetiredKey {
                why,
                first_index: AtomicU32::new(e.tx.high_water()),
                fingerprint: e.fingerprint,
                seq,
            });
            drop(self.retired.remove(*by_id));
            let _ = self.retired.insert(*by_id, Arc::clone(&record));
            c.retired_order.push_back((*by_id, seq));
            records.push(record);
        }
        // Unpublished now; the handed-back references are dropped at the end of this call,
        // zeroizing the key material of every entry no snapshot holds any more.
        let unpublished = self.index.remove_many(&slots);
        self.removals.fetch_add(1, Ordering::AcqRel);
        // After the grace period no protect under these entries is running: their counters
        // are final.
        for ((_, e), r) in gone.iter().zip(&records) {
            r.first_index.store(e.tx.high_water(), Ordering::Release);
        }
        if c.retired_order.len() > self.config.retired_keys {
            let keep = self.config.retired_keys - self.config.retired_keys / 8;
            let n = c.retired_order.len() - keep;
            let snap = self.retired.read();
            let old: Vec<u64> = c
                .retired_order
                .drain(..n)
                .filter(|(by_id, seq)| snap.get(*by_id).is_some_and(|r| r.seq == *seq))
                .map(|(by_id, _)| by_id)
                .collect();
            drop(snap);
            drop(self.retired.remove_many(&old));
        }
        drop(unpublished);
        gone.iter().map(|(_, e)| e.id).collect()
    }

    fn purge_locked(&self, c: &mut Control, now: Timestamp) -> Vec<KeyId> {
        let due = c.due(now, self.config.grace_period_ms);
        self.remove_locked(c, &due, Retired::Expired)
    }

    /// Revokes a key: from the next packet on it neither protects nor unprotects, and it
    /// leaves the store (its material is zeroized once no reader holds it).
    pub fn revoke(&self, key_id: KeyId) -> Result<(), StoreError> {
        let mut c = self.control();
        let by_id = lookup_of_id(key_id);
        let e = c
            .entries
            .get(&by_id)
            .ok_or(StoreError::UnknownKey(key_id))?;
        e.revoke();
        self.remove_locked(&mut c, &[by_id], Retired::Revoked);
        Ok(())
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
        let mut c = self.control();
        let peer = c
            .entries
            .get(&lookup_of_id(key_id))
            .map(|e| e.peer.clone())
            .ok_or(StoreError::UnknownKey(key_id))?;
        self.alias_locked(&mut c, key_id, owner, &peer, now)
    }

    /// Binds (`owner`, `peer`) to the installed key `key_id`.
    fn alias_locked(
        &self,
        c: &mut Control,
        key_id: KeyId,
        owner: &Owner,
        peer: &str,
        now: Timestamp,
    ) -> Result<Installed, StoreError> {
        let by_id = lookup_of_id(key_id);
        let entry = c
            .entries
            .get(&by_id)
            .filter(|e| e.status() == KeyStatus::Active)
            .cloned()
            .ok_or(StoreError::UnknownKey(key_id))?;
        let binding = Binding {
            purpose: entry.purpose,
            user_id: owner.user_id.clone(),
            peer: peer.to_owned(),
        };
        let previous = c
            .bindings
            .get(&binding)
            .filter(|id| **id != key_id)
            .and_then(|id| c.entries.get(&lookup_of_id(*id)))
            .cloned();
        if let Some(old) = &previous {
            old.supersede(now);
            c.deadline(
                now.plus_ms(self.config.grace_period_ms),
                lookup_of_id(old.id),
                old.serial,
            );
        }
        c.bind(binding, key_id, by_id);
        self.purge_locked(c, now);
        Ok(Installed {
            superseded: previous.map(|e| e.id),
        })
    }

    /// A CSK upload (TS 33.180 §5.4) received by a proxy that presents several URIs (the
    /// upload's `peer`). When the same client — the same MC Service user ID and IMPU — already
    /// has an active CSK through another URI, the uploaded CSK is not installed: the upload's
    /// (owner, URI) is bound to the existing CSK, which the proxy then sends back in a key
    /// download that sets the uploaded CSK to it (TR 33.880 §7.2.5.3.3.5: CSK_B := CSK_A), so
    /// that one CSK protects the client's signalling whichever URI it uses. Otherwise the CSK
    /// is installed as by [`KeyStore::install`]. An upload without an IMPU is never matched.
    pub fn csk_upload(&self, k: &KeyInstall<'_>, now: Timestamp) -> Result<Upload, StoreError> {
        if k.key_id.purpose() != Purpose::Csk {
            return Err(StoreError::WrongPurpose(k.key_id.purpose()));
        }
        let p = prepare(&self.config, k, now)?;
        let mut c = self.control();
        let existing = k.owner.impu.as_ref().and_then(|impu| {
            let id = *c.clients.get(&(k.owner.user_id.clone(), impu.clone()))?;
            let e = c.entries.get(&lookup_of_id(id))?;
            (e.status() == KeyStatus::Active && e.peer != k.peer).then_some(id)
        });
        match existing {
            Some(csk) => {
                self.alias_locked(&mut c, csk, &k.owner, &k.peer, now)?;
                Ok(Upload::Aliased { csk })
            }
            None => self.insert_locked(&mut c, p, now).map(Upload::Installed),
        }
    }

    /// A key delivered by key download (TS 33.180 §5.8): installed as by
    /// [`KeyStore::install`], except that the key it replaces for the same (purpose, owner,
    /// peer) — the previous CSK toward that server URI — is discarded at once, with no grace
    /// period (seed `003` §5.2.X.1: the client "shall discard any previous CSKs associated
    /// with the MC Server URI"). A download that selects an algorithm keeps the client's list
    /// from the replaced key's upload and is refused if the list does not have it; one that
    /// selects none keeps the replaced key's selection. A replaced key that another binding
    /// still uses (the same client through another URI, after [`KeyStore::csk_upload`]) is
    /// superseded as by an install instead.
    pub fn key_download(
        &self,
        k: &KeyInstall<'_>,
        now: Timestamp,
    ) -> Result<Installed, StoreError> {
        let binding = Binding {
            purpose: k.key_id.purpose(),
            user_id: k.owner.user_id.clone(),
            peer: k.peer.to_string(),
        };
        // The algorithms the download keeps come from the key it replaces; the key material
        // (whose length follows the algorithm) is derived outside the lock, then checked:
        // if another call replaced that key meanwhile, it is derived again under the lock.
        let with_kept = |c: &Control| {
            let previous = c.bindings.get(&binding).copied();
            let before = previous.and_then(|id| c.algorithms.get(&lookup_of_id(id)).cloned());
            let mut k = k.clone();
            k.algorithms = match (k.algorithms.take(), before) {
                // The client's list stands: a download selects from it.
                (Some(mut forced), Some(was)) => {
                    forced.supported = was.supported;
                    Some(forced)
                }
                (None, Some(was)) => Some(was),
                (forced, None) => forced,
            };
            (previous, k)
        };
        let (previous, kept) = with_kept(&self.control());
        let mut p = prepare(&self.config, &kept, now)?;
        let mut c = self.control();
        if c.bindings.get(&binding).copied() != previous {
            p = prepare(&self.config, &with_kept(&c).1, now)?;
        }
        let done = self.insert_locked(&mut c, p, now)?;
        if let Some(old) = done.superseded {
            // Discarded unless another binding (an alias through another URI) still uses it.
            let by_id = lookup_of_id(old);
            if c.bound.get(&by_id).is_none_or(Vec::is_empty) {
                self.remove_locked(&mut c, &[by_id], Retired::Superseded);
            }
        }
        Ok(done)
    }

    /// Checks that CSK or SPK `key_id` may be used now for a body: active (`protect`), or
    /// superseded within its grace period (`!protect`: a body protected just before the
    /// replacement still opens); then `pick` takes its body key from the control maps.
    fn body_key<T>(
        &self,
        key_id: KeyId,
        protect: bool,
        now: Timestamp,
        pick: impl FnOnce(&Control, u64) -> Option<Arc<T>>,
    ) -> Result<Arc<T>, BodyError> {
        let c = self.control();
        let by_id = lookup_of_id(key_id);
        let Some(e) = c.entries.get(&by_id) else {
            return Err(BodyError::Key(match self.retired(by_id) {
                Some(Retired::Revoked) => crate::Error::Revoked,
                Some(Retired::Expired) => crate::Error::Expired,
                Some(Retired::Superseded) => crate::Error::Superseded,
                None => crate::Error::UnknownKey,
            }));
        };
        if !matches!(e.purpose, Purpose::Csk | Purpose::Spk) {
            return Err(BodyError::Key(crate::Error::WrongPurpose(e.purpose)));
        }
        match e.status() {
            KeyStatus::Active => {}
            KeyStatus::Superseded(at)
                if !protect && now < at.plus_ms(self.config.grace_period_ms) => {}
            KeyStatus::Superseded(_) => return Err(BodyError::Key(crate::Error::Superseded)),
            KeyStatus::Revoked => return Err(BodyError::Key(crate::Error::Revoked)),
        }
        e.time_check(now).map_err(|t| {
            BodyError::Key(match t {
                TimeError::NotYetValid => crate::Error::NotYetValid,
                TimeError::Expired => crate::Error::Expired,
            })
        })?;
        pick(&c, by_id).ok_or(BodyError::NoBodyKeys(key_id))
    }

    fn xml_key(
        &self,
        key_id: KeyId,
        protect: bool,
        now: Timestamp,
    ) -> Result<Arc<crate::xml::XmlKey>, BodyError> {
        self.body_key(key_id, protect, now, |c, by_id| c.xml.get(&by_id).cloned())
    }

    /// Protects an MCData signalling payload (TS 33.180 §8.5.4 layout) under the payload key
    /// of CSK or SPK `key_id`: F.1.5 with the CSK or SPK in the DPPK's place (digest §12.9
    /// leaves open which key protects MCData signalling; this is the engine's choice), the
    /// key ID in the DPPK-ID field.
    pub fn mcdata_protect(
        &self,
        key_id: KeyId,
        header: &crate::mcdata::Header,
        plaintext: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<usize, BodyError> {
        let k = self.body_key(key_id, true, now, |c, by_id| c.mcdata.get(&by_id).cloned())?;
        crate::mcdata::protect(&k, header, plaintext, out).map_err(BodyError::Mcdata)
    }

    /// Unprotects an MCData signalling payload under the payload key of CSK or SPK `key_id`.
    pub fn mcdata_unprotect(
        &self,
        key_id: KeyId,
        msg: &[u8],
        now: Timestamp,
        out: &mut [u8],
    ) -> Result<crate::mcdata::Opened, BodyError> {
        let k = self.body_key(key_id, false, now, |c, by_id| c.mcdata.get(&by_id).cloned())?;
        crate::mcdata::unprotect(&k, msg, out).map_err(BodyError::Mcdata)
    }

    /// Protects an XML body of a SIP message under the XML keys of CSK or SPK `key_id`
    /// ([`crate::xml::protect`]); refused for another purpose, a key not usable now, or a
    /// key installed as raw SRTP material (it has no XPK).
    pub fn xml_protect(
        &self,
        key_id: KeyId,
        doc: &[u8],
        elements: &crate::xml::Elements,
        limits: &crate::xml::Limits,
        now: Timestamp,
        out: &mut Vec<u8>,
    ) -> Result<usize, BodyError> {
        let k = self.xml_key(key_id, true, now)?;
        crate::xml::protect(&k, doc, elements, limits, out).map_err(BodyError::Xml)
    }

    /// Unprotects an XML body under the XML keys of CSK or SPK `key_id`
    /// ([`crate::xml::unprotect`]).
    pub fn xml_unprotect(
        &self,
        key_id: KeyId,
        doc: &[u8],
        limits: &crate::xml::Limits,
        now: Timestamp,
        out: &mut Vec<u8>,
    ) -> Result<usize, BodyError> {
        let k = self.xml_key(key_id, false, now)?;
        crate::xml::unprotect(&k, doc, limits, out).map_err(BodyError::Xml)
    }

    /// The algorithms recorded with a key (its CSK upload or key download).
    pub fn algorithms(&self, key_id: KeyId) -> Option<Algorithms> {
        self.control()
            .algorithms
            .get(&lookup_of_id(key_id))
            .cloned()
    }

    /// The key currently bound to (purpose, owner, peer): e.g. the CSK toward a client.
    pub fn key_for(&self, purpose: Purpose, user_id: &str, peer: &str) -> Option<KeyId> {
        self.control()
            .bindings
            .get(&Binding {
                purpose,
                user_id: user_id.to_owned(),
                peer: peer.to_owned(),
            })
            .copied()
    }

    /// A key's state, or `None` if no key has this ID: a cheap lookup (no lock, no
    /// allocation).
    pub fn status(&self, key_id: KeyId) -> Option<KeyStatus> {
        self.read().entry_of(key_id).map(KeyEntry::status)
    }

    /// What the store knows about a key.
    pub fn info(&self, key_id: KeyId) -> Option<KeyInfo> {
        self.read().entry_of(key_id).map(KeyEntry::info)
    }

    /// The next SRTCP index a key would send with on `ssrc` (None if it never sent on it).
    pub fn next_tx_index(&self, key_id: KeyId, ssrc: u32) -> Option<u64> {
        self.read().entry_of(key_id).and_then(|e| e.tx.peek(ssrc))
    }

    /// Removes superseded keys past their grace period and expired keys; returns their IDs.
    /// Costs O(log n) per key removed, nothing for the keys that stay. Installs and aliases
    /// purge too; call this when none come for a while, so that expired material goes.
    pub fn purge(&self, now: Timestamp) -> Vec<KeyId> {
        let mut c = self.control();
        self.purge_locked(&mut c, now)
    }

    /// A fresh key for a key download: 16 random octets (32 for `len` AES-256), a key ID of
    /// `purpose` that no installed or remembered retired key has, and a RAND. Install it once
    /// the MIKEY message is sent; an install that races with another of the same ID fails
    /// with [`StoreError::DuplicateKeyId`] and changes nothing.
    pub fn generate(&self, purpose: Purpose, len: KeyLen) -> Result<GeneratedKey, StoreError> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        let mut rand = [0u8; 16];
        getrandom::fill(&mut key[..]).map_err(|_| StoreError::RandomUnavailable)?;
        getrandom::fill(&mut rand).map_err(|_| StoreError::RandomUnavailable)?;
        let key_id = loop {
            let id = KeyId::random(purpose).map_err(|_| StoreError::RandomUnavailable)?;
            let by_id = lookup_of_id(id);
            if self.read().entry(by_id).is_none() && self.retired.read().get(by_id).is_none() {
                break id;
            }
        };
        let Ok(key) = McKey::from_slice(&key[..len.octets()]) else {
            unreachable!("KeyLen lengths are valid")
        };
        Ok(GeneratedKey { key, key_id, rand })
    }

    /// Reports that `entry` took transmit index `index` on `ssrc`; raises the soft-limit
    /// event when that is the configured index (once per (key, SSRC): indices are unique),
    /// or when a new SSRC of a reinstalled key starts past it.
    #[inline]
    pub(crate) fn took_index(&self, entry: &KeyEntry, ssrc: u32, index: u32) {
        let limit = self.config.index_soft_limit;
        if index == limit || (index > limit && index == entry.tx.first()) {
            self.raise(StoreEvent::IndexSoftLimit {
                key_id: entry.id,
                ssrc,
                index,
            });
        }
    }

    #[cold]
    fn raise(&self, ev: StoreEvent) {
        self.events_raised.fetch_add(1, Ordering::Relaxed);
        let mut q = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == MAX_EVENTS {
            q.pop_front();
        }
        q.push_back(ev);
    }

    /// The oldest event not yet polled. At most 4,096 wait; beyond that the oldest are
    /// dropped ([`KeyStore::events_raised`] counts them all).
    pub fn poll_event(&self) -> Option<StoreEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    /// How many events were raised since the store was made.
    pub fn events_raised(&self) -> u64 {
        self.events_raised.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
