//! One installed key as the data path sees it, and its life-cycle state.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use core::fmt;

use super::tx::TxIndices;
use crate::keys::{KeyId, Purpose, Service};
use crate::secret::KeyLen;
use crate::srtcp::{Mki, Policy, Protection, SrtcpKeys};
use crate::time::Timestamp;

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

/// One installed key. `repr(C)` keeps the fields every packet reads (state, checks, policy,
/// salt, key schedule) together at the front, then the transmit slots protect reads.
#[repr(C)]
pub(crate) struct KeyEntry {
    state: AtomicU8,
    pub(crate) purpose: Purpose,
    /// Tag 4 read as the MSK of the early numbering: it also serves MBMS subchannel
    /// control.
    pub(crate) msk: bool,
    pub(crate) id: KeyId,
    /// The lookup key a packet's MKI names (`keys::addressing`).
    pub(crate) lookup: u64,
    /// Unique among the entries this store ever held: tells a reinstalled key ID from the
    /// entry it replaced (receive state made for one is never used for the other).
    pub(crate) serial: u64,
    superseded_at: AtomicU64,
    pub(crate) valid_from: Option<Timestamp>,
    pub(crate) valid_until: Option<Timestamp>,
    pub(crate) policy: Policy,
    pub(crate) keys: SrtcpKeys,
    /// Per-SSRC transmit indices; its inline slots come first.
    pub(crate) tx: TxIndices,
    /// Receive streams (replay windows) held for this key, over every handle and worker.
    pub(crate) rx_streams: AtomicU32,
    /// A hash of the master key and salt (install.rs), kept when the key retires.
    pub(crate) fingerprint: [u8; 16],
    pub(crate) service: Service,
    pub(crate) owner: Owner,
    pub(crate) peer: String,
}

/// What an entry is made of; [`KeyEntry::new`] adds the state.
pub(crate) struct EntryParts {
    pub(crate) id: KeyId,
    pub(crate) lookup: u64,
    pub(crate) serial: u64,
    pub(crate) valid_from: Option<Timestamp>,
    pub(crate) valid_until: Option<Timestamp>,
    pub(crate) policy: Policy,
    pub(crate) keys: SrtcpKeys,
    pub(crate) tx: TxIndices,
    pub(crate) fingerprint: [u8; 16],
    pub(crate) service: Service,
    pub(crate) owner: Owner,
    pub(crate) peer: String,
    pub(crate) msk: bool,
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
    pub(crate) fn new(p: EntryParts) -> KeyEntry {
        KeyEntry {
            state: AtomicU8::new(ACTIVE),
            purpose: p.id.purpose(),
            msk: p.msk,
            id: p.id,
            lookup: p.lookup,
            serial: p.serial,
            superseded_at: AtomicU64::new(0),
            valid_from: p.valid_from,
            valid_until: p.valid_until,
            policy: p.policy,
            keys: p.keys,
            tx: p.tx,
            rx_streams: AtomicU32::new(0),
            fingerprint: p.fingerprint,
            service: p.service,
            owner: p.owner,
            peer: p.peer,
        }
    }

    /// Starts loading the part of the entry every packet reads (checks, policy, salt, key
    /// schedule), so that its cache misses overlap; the rest (transmit slots, owner, peer)
    /// is left.
    #[inline]
    pub(crate) fn prefetch(&self) {
        crate::sync::prefetch_prefix(self, core::mem::offset_of!(KeyEntry, tx));
    }

    /// As [`KeyEntry::prefetch`], with the inline transmit slots a protect reads.
    #[inline]
    pub(crate) fn prefetch_tx(&self) {
        crate::sync::prefetch_prefix(self, core::mem::offset_of!(KeyEntry, tx) + 64);
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

    pub(crate) fn supersede(&self, now: Timestamp) {
        self.superseded_at.store(now.0, Ordering::Release);
        let _ =
            self.state
                .compare_exchange(ACTIVE, SUPERSEDED, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn revoke(&self) {
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

    /// Claims one more receive stream for this key, within `limit`.
    pub(crate) fn claim_rx_stream(&self, limit: u32) -> bool {
        self.rx_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a receive stream claimed with [`KeyEntry::claim_rx_stream`].
    pub(crate) fn release_rx_stream(&self) {
        let _ = self
            .rx_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A public description, without key material.
    pub(crate) fn info(&self) -> KeyInfo {
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
            key_len: self.keys.key_len(),
            tx_ssrcs: self.tx.ssrcs(),
            rx_streams: self.rx_streams.load(Ordering::Relaxed),
            msk: self.msk,
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
#[non_exhaustive]
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
    /// AES-128 or AES-256.
    pub key_len: KeyLen,
    /// SSRCs it has sent on.
    pub tx_ssrcs: u32,
    /// Receive streams (replay windows) held for it, over every handle.
    pub rx_streams: u32,
    /// Tag 4 read as the MSK (`PurposeTags::EarlyMsk`): multicast signalling and MBMS
    /// subchannel control.
    pub msk: bool,
}
