//! The engine façade: a key store and one handle's receive state, with the keyed SRTCP
//! calls of [`crate::datapath`].
//!
//! [`Engine::srtcp_protect`] takes a key ID and an RTCP packet: the SSRC comes from the
//! packet, the transmit index from the key's per-SSRC counter in the store (shared by every
//! handle and by the key's successors, so an index is never used twice under a key), the MKI
//! is the key ID (GMK-ID ‖ GUK-ID for a GMK). [`Engine::srtcp_unprotect`] reads the MKI from
//! the packet's tail, finds the key, checks purpose, status and time, and only then
//! authenticates.
//!
//! Each `Engine` handle owns its receive state — one replay window per (key, SSRC) — and is
//! used through `&mut` from one thread (ARCHITECTURE.md: a stream's receive state has one
//! owner). [`Engine::handle`] makes another handle on the same key store for another
//! thread; route each stream to one handle by [`crate::StreamId::shard`]. A replay window is
//! created only after a packet authenticated, and a key has at most
//! [`EngineConfig::max_streams_per_key`] of them over all handles, so forged packets cannot
//! make memory grow. Windows of keys that left the store are never used again and are swept
//! away as the handle goes on ([`Engine::prune`] at once). Handles hold no key material.

use std::sync::Arc;

use core::fmt;

use crate::aead::Provider;
use crate::datapath::{self, EngineConfig, Error, Processed, RxPacket, RxState, TxPacket};
use crate::keys::{KeyId, SrtcpUse};
use crate::srtcp::{ConfigError, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW};
use crate::store::KeyStore;
use crate::time::Timestamp;

/// A handle on the engine: the shared key store plus this handle's receive state.
///
/// A CS proxy installs a client's CSK when the CSK upload arrives and protects floor control
/// toward the client with it:
///
/// ```
/// use std::sync::Arc;
/// use mcx_engine::keys::{KeyId, Purpose, Service, SrtcpUse};
/// use mcx_engine::store::{KeyInstall, KeyStore, Owner, StoreConfig};
/// use mcx_engine::time::Timestamp;
/// use mcx_engine::srtcp::MAX_SRTCP_TRAILER;
/// use mcx_engine::{Engine, EngineConfig};
///
/// let store = Arc::new(KeyStore::new(StoreConfig::default()));
/// let mut engine = Engine::new(Arc::clone(&store), EngineConfig::default())?;
/// let now = Timestamp::now();
///
/// // CSK upload (TS 33.180 §5.4): the control plane opened the MIKEY-SAKKE message and hands
/// // over the CSK, its ID and the MIKEY RAND, and who it belongs to.
/// let (csk, csk_id, rand) = ([0x5au8; 16], KeyId::new(0x2ddd_5bf0)?, [0x11u8; 16]);
/// let alice = Owner {
///     user_id: "sip:alice@example.org".into(),
///     impu: Some("sip:+441234@ims.example.org".into()),
/// };
/// let server = "sip:mcptt-server.example.org";
/// store.install(&KeyInstall::new(&csk, csk_id, &rand, Service::Mcptt, alice, server), now)?;
///
/// // Floor Granted toward alice: find her CSK and protect with it (unicast needs a CSK).
/// let key = store.key_for(Purpose::Csk, "sip:alice@example.org", server).unwrap();
/// let granted = [0x81, 0xcc, 0x00, 0x02, 0x12, 0x34, 0x56, 0x78, b'M', b'C', b'P', b'T'];
/// let mut buf = [0u8; 12 + MAX_SRTCP_TRAILER];
/// buf[..12].copy_from_slice(&granted);
/// let sent = engine.srtcp_protect_for(SrtcpUse::Unicast, key, &mut buf, 12, now)?;
/// assert_eq!(&buf[sent.len - 4..sent.len], &csk_id.to_be_bytes()); // MKI = CSK-ID
///
/// // A packet under her CSK arrives: the MKI names the key, the engine checks and opens it.
/// let got = engine.srtcp_unprotect(&mut buf[..sent.len], now)?;
/// assert_eq!((got.key_id, got.purpose), (csk_id, Purpose::Csk));
/// assert_eq!(&buf[..got.len], &granted);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Engine {
    store: Arc<KeyStore>,
    config: EngineConfig,
    rx: RxState,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("keys", &self.store.len())
            .field("rx_streams", &self.rx.windows.len())
            .field("provider", &self.store.provider())
            .finish()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The stream counts this handle holds go back to their keys.
        let snap = self.store.read();
        self.rx.release_all(&snap);
    }
}

impl Engine {
    /// A handle on `store`.
    pub fn new(store: Arc<KeyStore>, config: EngineConfig) -> Result<Engine, ConfigError> {
        if !(MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&config.replay_window) {
            return Err(ConfigError::ReplayWindow(config.replay_window));
        }
        let rx = RxState {
            removals_seen: store.removals(),
            ..RxState::default()
        };
        Ok(Engine { store, config, rx })
    }

    /// Another handle on the same key store, with its own (empty) receive state.
    pub fn handle(&self) -> Engine {
        Engine {
            store: Arc::clone(&self.store),
            config: self.config,
            rx: RxState {
                removals_seen: self.store.removals(),
                ..RxState::default()
            },
        }
    }

    /// The key store.
    pub fn keys(&self) -> &KeyStore {
        &self.store
    }

    /// The shared key store.
    pub fn store(&self) -> &Arc<KeyStore> {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The AES-GCM provider the store's keys run on.
    pub fn provider(&self) -> Provider {
        self.store.provider()
    }

    /// Number of receive streams this handle holds.
    pub fn rx_streams(&self) -> usize {
        self.rx.windows.len()
    }

    /// Protects the RTCP packet `buf[..len]` in place with key `key_id`, for the use its
    /// purpose implies. `buf` needs [`crate::srtcp::MAX_SRTCP_TRAILER`] octets of room after
    /// `len`.
    pub fn srtcp_protect(
        &self,
        key_id: KeyId,
        buf: &mut [u8],
        len: usize,
        now: Timestamp,
    ) -> Result<Processed, Error> {
        self.srtcp_protect_for(SrtcpUse::of(key_id.purpose()), key_id, buf, len, now)
    }

    /// As [`Engine::srtcp_protect`], refusing a key whose purpose does not fit `use_`
    /// (unicast toward a client needs a CSK, and so on).
    pub fn srtcp_protect_for(
        &self,
        use_: SrtcpUse,
        key_id: KeyId,
        buf: &mut [u8],
        len: usize,
        now: Timestamp,
    ) -> Result<Processed, Error> {
        datapath::protect(&self.store, use_, key_id, buf, len, now)
    }

    /// Protects a batch of packets, each with its own key (`TxPacket::key_id`), for the use
    /// each key's purpose implies. Every packet gets its own result in `TxPacket::result`;
    /// a failed packet is left unchanged and does not stop the others. Returns how many
    /// succeeded.
    ///
    /// The key lookups of a group of packets are issued before any of them is processed, so
    /// the cache misses of cold keys overlap instead of adding up.
    pub fn srtcp_protect_batch(&self, pkts: &mut [TxPacket<'_>], now: Timestamp) -> usize {
        datapath::protect_batch(&self.store, None, pkts, now)
    }

    /// As [`Engine::srtcp_protect_batch`], refusing keys whose purpose does not fit `use_`.
    pub fn srtcp_protect_batch_for(
        &self,
        use_: SrtcpUse,
        pkts: &mut [TxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        datapath::protect_batch(&self.store, Some(use_), pkts, now)
    }

    /// Fan-out: protects one RTCP packet `plain` toward several recipients, each with its
    /// own key (a CSK per client for unicast, or SPKs toward peer servers). Each target's
    /// buffer receives a copy of `plain` and is protected in place; `TxPacket::len` is set to
    /// `plain.len()` and the result goes to `TxPacket::result`. A target whose buffer cannot
    /// hold the protected packet gets [`crate::srtcp::Error::BufferTooSmall`]; a target that
    /// fails is left with zeros where the plaintext was copied. Returns how many succeeded.
    /// (A multicast group shares one MuSiK: protect once and send that packet to every
    /// member.)
    pub fn srtcp_fan_out(
        &self,
        use_: SrtcpUse,
        plain: &[u8],
        targets: &mut [TxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        datapath::fan_out(&self.store, use_, plain, targets, now)
    }

    /// Unprotects the SRTCP packet `buf` in place: the key comes from the MKI at its tail.
    /// On error `buf` and the handle's state are unchanged.
    pub fn srtcp_unprotect(&mut self, buf: &mut [u8], now: Timestamp) -> Result<Processed, Error> {
        datapath::unprotect(&self.store, self.config, &mut self.rx, None, buf, now)
    }

    /// As [`Engine::srtcp_unprotect`], refusing a key whose purpose does not fit `use_`.
    pub fn srtcp_unprotect_for(
        &mut self,
        use_: SrtcpUse,
        buf: &mut [u8],
        now: Timestamp,
    ) -> Result<Processed, Error> {
        datapath::unprotect(&self.store, self.config, &mut self.rx, Some(use_), buf, now)
    }

    /// Unprotects a batch of packets, each found by its own MKI. Every packet gets its own
    /// result in `RxPacket::result` (the plaintext length is `Processed::len`); a failed
    /// packet and its stream are left unchanged and do not stop the others. Returns how many
    /// succeeded.
    ///
    /// The key and replay-window lookups of a group of packets are issued before any of them
    /// is processed, so the cache misses of cold keys overlap instead of adding up.
    pub fn srtcp_unprotect_batch(&mut self, pkts: &mut [RxPacket<'_>], now: Timestamp) -> usize {
        datapath::unprotect_batch(&self.store, self.config, &mut self.rx, None, pkts, now)
    }

    /// As [`Engine::srtcp_unprotect_batch`], refusing keys whose purpose does not fit `use_`.
    pub fn srtcp_unprotect_batch_for(
        &mut self,
        use_: SrtcpUse,
        pkts: &mut [RxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        datapath::unprotect_batch(
            &self.store,
            self.config,
            &mut self.rx,
            Some(use_),
            pkts,
            now,
        )
    }

    /// Drops the receive state of keys that left the store, at once, at a probe per window (the
    /// packet calls do it too, spread over as many packets as the handle holds windows).
    pub fn prune(&mut self) {
        let snap = self.store.read();
        self.rx.sweep(&snap, self.store.removals());
    }
}
