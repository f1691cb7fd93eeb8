//! Streams: which (key, SSRC) a packet belongs to, which worker owns it, and the receive
//! state a handle keeps for the streams it owns.

use crate::idhash::IdMap;
use crate::keys::KeyId;
use crate::keys::addressing::{key_id_of, lookup_of_mki};
use crate::srtcp::{ReplayWindow, ssrc_of};
use crate::store::{KeyStore, Snapshot};

/// A stream: the key its packets are protected with and their SSRC (RFC 3711 §3.2: a
/// cryptographic context per SSRC). The key is named by its raw 32-bit key ID — for a GMK the
/// GMK-ID, whichever GUK-ID the MKI carries — so that a protect (which names its key by ID)
/// and the unprotect of its packet (which reads the MKI) give the same stream.
///
/// [`StreamId::shard`] is the one rule that picks a stream's owner among `n` workers: the
/// pool, the C ABI and the relay all use it, so the worker that holds a stream's replay
/// window is the one every packet of the stream reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    /// The key ID (the GMK-ID of a GMK).
    pub key_id: u32,
    /// The SSRC of the packet's first RTCP header.
    pub ssrc: u32,
}

/// Fibonacci hashing: 2^64 / φ.
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

impl StreamId {
    /// The stream of key `key_id` on `ssrc`.
    pub const fn new(key_id: KeyId, ssrc: u32) -> StreamId {
        StreamId {
            key_id: key_id.get(),
            ssrc,
        }
    }

    /// The stream of an RTCP packet to be protected with `key_id`; `None` when the packet is
    /// too short to carry an SSRC.
    pub fn of_rtcp(key_id: KeyId, rtcp: &[u8]) -> Option<StreamId> {
        Some(StreamId::new(key_id, ssrc_of(rtcp)?))
    }

    /// The stream of a received SRTCP packet, from its MKI and SSRC; `None` when the packet
    /// is too short to carry them.
    pub fn of_srtcp(srtcp: &[u8]) -> Option<StreamId> {
        let lookup = lookup_of_mki(srtcp)?;
        Some(StreamId {
            key_id: key_id_of(lookup),
            ssrc: ssrc_of(srtcp)?,
        })
    }

    /// The owner of this stream among `n` workers (0 when `n` is 0 or 1): the top 32 bits of
    /// a multiplicative hash of (key ID, SSRC), scaled onto `0..n`.
    #[inline]
    pub const fn shard(self, n: usize) -> usize {
        let h = ((self.key_id as u64) << 32 | self.ssrc as u64).wrapping_mul(PHI);
        (((h >> 32) * n as u64) >> 32) as usize
    }
}

/// The receive state of one stream in one handle.
pub(crate) struct Window {
    /// The store entry the window belongs to (`KeyEntry::serial`).
    pub(crate) serial: u64,
    pub(crate) window: ReplayWindow,
}

/// A handle's receive state: one replay window per stream it owns, keyed by the store
/// lookup key of the packets' MKI and their SSRC.
///
/// A window is used only for the store entry it was made for (`Window::serial`), so a window
/// left by a key that is gone is never consulted; sweeping such windows away only returns
/// their memory. A sweep costs a probe per window, so it waits until the handle has
/// processed as many packets since the last one as it holds windows: O(1) per packet
/// however often keys come and go.
#[derive(Default)]
pub(crate) struct RxState {
    pub(crate) windows: IdMap<(u64, u32), Window>,
    /// The store's removal count at the last sweep.
    pub(crate) removals_seen: u64,
    /// Packets processed since the last sweep.
    pub(crate) credit: usize,
}

impl RxState {
    /// Drops the windows of keys that left the store once a sweep is due (see the type's
    /// docs); `packets` is the work of the current call.
    #[inline]
    pub(crate) fn prune_if_removed(
        &mut self,
        store: &KeyStore,
        snap: &Snapshot<'_>,
        packets: usize,
    ) {
        self.credit = self.credit.saturating_add(packets);
        let removals = store.removals();
        if removals != self.removals_seen && self.credit >= self.windows.len() {
            self.sweep(snap, removals);
        }
    }

    /// Drops the windows of keys that left the store now.
    pub(crate) fn sweep(&mut self, snap: &Snapshot<'_>, removals: u64) {
        self.removals_seen = removals;
        self.credit = 0;
        self.windows
            .retain(|(lookup, _), w| snap.entry(*lookup).is_some_and(|e| e.serial == w.serial));
        if self.windows.capacity() > 64 && self.windows.len() < self.windows.capacity() / 4 {
            self.windows.shrink_to_fit();
        }
    }

    /// Gives back the stream counts this handle holds on the keys still installed.
    pub(crate) fn release_all(&mut self, snap: &Snapshot<'_>) {
        for ((lookup, _), w) in self.windows.drain() {
            if let Some(e) = snap.entry(lookup)
                && e.serial == w.serial
            {
                e.release_rx_stream();
            }
        }
    }
}

/// The receive stream key of a packet: its MKI's lookup key and its SSRC; `None` when the
/// packet is too short for either (it is malformed).
#[inline]
pub(crate) fn rx_key(buf: &[u8]) -> Option<(u64, u32)> {
    Some((lookup_of_mki(buf)?, ssrc_of(buf)?))
}
