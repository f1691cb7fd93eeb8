//! The engine-level SRTCP data path: packets addressed by MC key ID.
//!
//! [`Engine::srtcp_protect`] takes a key ID and an RTCP packet: the SSRC comes from the
//! packet, the transmit index from the key's per-SSRC counter (shared by every handle and by
//! the key's successors, so an index is never used twice under a key), the MKI is the key ID
//! (GMK-ID ‖ GUK-ID for a GMK). [`Engine::srtcp_unprotect`] reads the MKI from the packet's
//! tail, finds the key, checks purpose, status and time, and only then authenticates.
//!
//! Each `Engine` handle owns its receive state — one replay window per (key, SSRC) — and is
//! used through `&mut` from one thread (ARCHITECTURE.md, concurrency model: a stream's
//! receive state has one owner). [`Engine::handle`] makes another handle on the same key
//! store for another thread; route each stream to one handle (the pool shards by
//! hash(key ID, SSRC)). A replay window is created only after a packet authenticated, and a
//! key has at most [`EngineConfig::max_streams_per_key`] of them, so forged packets cannot
//! make memory grow. Handles hold no key material: a revoked key's bytes go with the last
//! store snapshot that holds them.

use std::sync::Arc;

use core::fmt;

use crate::idhash::IdMap;
use crate::keys::store::{KeyEntry, TimeError};
use crate::keys::{KeyId, KeyStatus, KeyStore, Purpose, SrtcpUse, Timestamp};
use crate::srtcp::{
    self, ConfigError, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW, ReplayWindow, SealItem, Unprotected,
    open_checked_4, open_in_place, seal_checked_4, seal_in_place, ssrc_of,
};

/// Why an engine data-path call failed. The call changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The SRTCP layer refused the packet (framing, authentication, replay …).
    Srtcp(srtcp::Error),
    /// No installed key has this ID / the packet's MKI names none.
    UnknownKey,
    /// The key's purpose does not allow this use (e.g. a MuSiK for unicast).
    WrongPurpose(Purpose),
    /// The key was revoked.
    Revoked,
    /// The key was replaced: it no longer protects, and its grace period for unprotect is
    /// over.
    Superseded,
    /// The key's activation time has not come.
    NotYetValid,
    /// The key's expiry time has passed.
    Expired,
    /// This key already has the most receive streams (SSRCs) allowed, or the most transmit
    /// SSRCs.
    TooManyStreams,
    /// The worker processing this packet failed (a bug caught at the pool's panic
    /// boundary); what became of the packet is unknown, so drop it.
    Internal,
    /// An XML document of a pool job was refused ([`crate::xml::Error`]).
    Xml(crate::xml::Error),
    /// An MCData payload of a pool job was refused ([`crate::mcdata::Error`]).
    Mcdata(crate::mcdata::Error),
}

impl From<srtcp::Error> for Error {
    fn from(e: srtcp::Error) -> Error {
        Error::Srtcp(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Srtcp(e) => write!(f, "{e}"),
            Error::UnknownKey => f.write_str("no installed key has this ID"),
            Error::WrongPurpose(p) => write!(f, "a {p} key may not be used for this"),
            Error::Revoked => f.write_str("key revoked"),
            Error::Superseded => f.write_str("key superseded by a newer one"),
            Error::NotYetValid => f.write_str("key not yet valid"),
            Error::Expired => f.write_str("key expired"),
            Error::TooManyStreams => f.write_str("too many SSRCs for this key"),
            Error::Internal => f.write_str("internal error in the worker (panic caught)"),
            Error::Xml(e) => write!(f, "{e}"),
            Error::Mcdata(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Error {}

/// Per-handle settings.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// Replay window per (key, SSRC), 64..=32768. Default 128.
    pub replay_window: u32,
    /// Most receive streams (SSRCs) one key may have in a handle. Default 64.
    pub max_streams_per_key: u32,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            replay_window: srtcp::DEFAULT_REPLAY_WINDOW,
            max_streams_per_key: 64,
        }
    }
}

/// What a data-path call processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Processed {
    /// Length of the result (SRTCP after protect, RTCP after unprotect).
    pub len: usize,
    /// The key used.
    pub key_id: KeyId,
    /// Its purpose.
    pub purpose: Purpose,
    /// The SRTCP index of the packet.
    pub index: u32,
    /// Whether the packet is encrypted (E=1).
    pub encrypted: bool,
}

/// A handle on the engine: the shared key store plus this handle's receive state.
///
/// A CS proxy installs a client's CSK when the CSK upload arrives and protects floor control
/// toward the client with it:
///
/// ```
/// use std::sync::Arc;
/// use mcx_engine::keys::{KeyId, KeyInstall, KeyStore, Owner, Purpose, Service, SrtcpUse,
///                        StoreConfig, Timestamp};
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

/// Packets processed per group in the batch calls: their lookups are issued together.
const BATCH_GROUP: usize = 8;

/// A receive stream: (store lookup key from the MKI, SSRC).
pub(crate) type Stream = (u64, u32);

/// One handle's receive state.
#[derive(Default)]
struct RxState {
    /// Replay window per (key, SSRC).
    windows: IdMap<Stream, ReplayWindow>,
    /// Number of windows per key.
    streams: IdMap<u64, u32>,
}

/// The per-call settings of an unprotect.
struct RxCtx {
    use_: Option<SrtcpUse>,
    now: Timestamp,
    off_network: bool,
    grace_ms: u64,
    config: EngineConfig,
}

impl RxState {
    /// Checks purpose, status and time of `entry`, then authenticates and decrypts `buf`
    /// against the window of `stream`, creating the window (within the per-key bound) only
    /// after the packet authenticated.
    fn unprotect(
        &mut self,
        ctx: &RxCtx,
        entry: &KeyEntry,
        stream: Stream,
        buf: &mut [u8],
    ) -> Result<Unprotected, Error> {
        check_rx(ctx, entry)?;
        // One probe of the window map for a known stream; a new stream's window is inserted
        // only after its first packet authenticated, within the per-key bound.
        let u = match self.windows.get_mut(&stream) {
            Some(w) => {
                let u = open_in_place(&entry.keys, &entry.policy, Some(w), buf)?;
                w.commit(u.index);
                u
            }
            None => {
                if self.streams.get(&entry.lookup).copied().unwrap_or(0)
                    >= ctx.config.max_streams_per_key
                {
                    // Authenticate first anyway: a forged packet must read as a forgery, and
                    // only a genuine new stream over the limit is refused for the limit.
                    open_check_only(entry, buf)?;
                    return Err(Error::TooManyStreams);
                }
                let u = open_in_place(&entry.keys, &entry.policy, None, buf)?;
                let Ok(mut w) = ReplayWindow::new(ctx.config.replay_window) else {
                    unreachable!("window size checked in Engine::new")
                };
                w.commit(u.index);
                self.windows.insert(stream, w);
                *self.streams.entry(entry.lookup).or_insert(0) += 1;
                u
            }
        };
        // The caller adds key ID and purpose: a 16-octet result comes back in registers,
        // where the 24-octet `Processed` would go through memory and be read back wider
        // than it was written (a store-forwarding stall per packet).
        Ok(u)
    }
}

impl RxState {
    /// Unprotects four packets of a batch together through the multi-buffer kernel, when all
    /// four can go: keys on the `vaes` backend that pass their checks, four distinct streams
    /// that already have replay windows (so that neither a duplicate inside the four nor a
    /// new stream's bound needs the one-by-one order), E=1 packets that pass the checks before
    /// the tag. Returns `false`, having changed nothing, when they cannot; the caller then
    /// processes them one by one.
    fn unprotect_4(
        &mut self,
        ctx: &RxCtx,
        found: &[Result<(&KeyEntry, Stream), Error>],
        pkts: &mut [RxPacket<'_>],
    ) -> bool {
        let ([Ok(a), Ok(b), Ok(c), Ok(d)], [pa, pb, pc, pd]) = (found, pkts) else {
            return false;
        };
        let four = [*a, *b, *c, *d];
        if !four
            .iter()
            .all(|(e, _)| e.keys.gcm().has_lanes() && check_rx(ctx, e).is_ok())
        {
            return false;
        }
        let st = four.map(|(_, st)| st);
        if st[0] == st[1]
            || st[0] == st[2]
            || st[0] == st[3]
            || st[1] == st[2]
            || st[1] == st[3]
            || st[2] == st[3]
        {
            return false;
        }
        let (Some(wa), Some(wb), Some(wc), Some(wd)) = (
            self.windows.get(&st[0]),
            self.windows.get(&st[1]),
            self.windows.get(&st[2]),
            self.windows.get(&st[3]),
        ) else {
            return false;
        };
        let [(ea, _), (eb, _), (ec, _), (ed, _)] = four;
        let Some(results) = open_checked_4([
            (&ea.keys, &ea.policy, wa, &mut *pa.buf),
            (&eb.keys, &eb.policy, wb, &mut *pb.buf),
            (&ec.keys, &ec.policy, wc, &mut *pc.buf),
            (&ed.keys, &ed.policy, wd, &mut *pd.buf),
        ]) else {
            return false;
        };
        for ((r, (e, st)), p) in results.into_iter().zip(four).zip([pa, pb, pc, pd]) {
            p.result = Some(match r {
                Ok(u) => {
                    if let Some(w) = self.windows.get_mut(&st) {
                        w.commit(u.index);
                    }
                    Ok(processed_rx(e, u))
                }
                Err(err) => Err(Error::Srtcp(err)),
            });
        }
        true
    }
}

/// A packet of a batch protect or fan-out: the key to protect it with, its buffer (with
/// room for the trailer after `len`), the RTCP length, and the result the call fills in.
#[derive(Debug)]
pub struct TxPacket<'a> {
    /// Key to protect with.
    pub key_id: KeyId,
    /// The packet, with [`srtcp::MAX_SRTCP_TRAILER`] octets of room after `len`.
    pub buf: &'a mut [u8],
    /// Length of the RTCP packet in `buf` (fan-out sets it).
    pub len: usize,
    /// What happened to this packet; `None` until a call processed it.
    pub result: Option<Result<Processed, Error>>,
}

impl<'a> TxPacket<'a> {
    /// A packet of `len` octets in `buf`, to protect with `key_id`.
    pub fn new(key_id: KeyId, buf: &'a mut [u8], len: usize) -> TxPacket<'a> {
        TxPacket {
            key_id,
            buf,
            len,
            result: None,
        }
    }
}

/// A packet of a batch unprotect: the received SRTCP packet (exactly its length) and the
/// result the call fills in.
#[derive(Debug)]
pub struct RxPacket<'a> {
    /// The SRTCP packet; on success its first `Processed::len` octets are the RTCP packet.
    pub buf: &'a mut [u8],
    /// What happened to this packet; `None` until a call processed it.
    pub result: Option<Result<Processed, Error>>,
}

impl<'a> RxPacket<'a> {
    /// A received packet.
    pub fn new(buf: &'a mut [u8]) -> RxPacket<'a> {
        RxPacket { buf, result: None }
    }
}

/// The receive stream a packet names: its MKI's lookup key and its SSRC.
pub(crate) fn stream_of(buf: &[u8]) -> Result<Stream, Error> {
    let lookup = mki_lookup(buf).ok_or(Error::UnknownKey)?;
    let ssrc = ssrc_of(buf).ok_or(srtcp::Error::TooShort)?;
    Ok((lookup, ssrc))
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("keys", &self.store.len())
            .field("rx_streams", &self.rx.windows.len())
            .field("backend", &crate::aead::backend_name())
            .finish()
    }
}

impl Engine {
    /// A handle on `store`.
    pub fn new(store: Arc<KeyStore>, config: EngineConfig) -> Result<Engine, ConfigError> {
        if !(MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&config.replay_window) {
            return Err(ConfigError::ReplayWindow(config.replay_window));
        }
        Ok(Engine {
            store,
            config,
            rx: RxState::default(),
        })
    }

    /// Another handle on the same key store, with its own (empty) receive state.
    pub fn handle(&self) -> Engine {
        Engine {
            store: Arc::clone(&self.store),
            config: self.config,
            rx: RxState::default(),
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

    /// The AES-GCM backend in use.
    pub fn backend(&self) -> &'static str {
        crate::aead::backend_name()
    }

    /// Number of receive streams this handle holds.
    pub fn rx_streams(&self) -> usize {
        self.rx.windows.len()
    }

    /// Protects the RTCP packet `buf[..len]` in place with key `key_id`, for the use its
    /// purpose implies. `buf` needs [`srtcp::MAX_SRTCP_TRAILER`] octets of room after `len`.
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
        let snap = self.store.read();
        let entry = snap.entry_of(key_id).ok_or(Error::UnknownKey)?;
        entry.prefetch();
        self.protect_entry(entry, use_, buf, len, now)
    }

    fn protect_entry(
        &self,
        entry: &KeyEntry,
        use_: SrtcpUse,
        buf: &mut [u8],
        len: usize,
        now: Timestamp,
    ) -> Result<Processed, Error> {
        let index = self.take_index(entry, use_, buf, len, now)?;
        let n = seal_in_place(&entry.keys, &entry.policy, buf, len, index)?;
        Ok(processed_tx(entry, n, index))
    }

    /// Checks key and packet for a protect and takes the packet's SRTCP index: after `Ok`,
    /// `buf[..len]` is a valid RTCP packet and `buf` holds its protected length.
    fn take_index(
        &self,
        entry: &KeyEntry,
        use_: SrtcpUse,
        buf: &[u8],
        len: usize,
        now: Timestamp,
    ) -> Result<u32, Error> {
        check_use(entry, use_, self.store.config().off_network)?;
        match entry.status() {
            KeyStatus::Active => {}
            KeyStatus::Superseded(_) => return Err(Error::Superseded),
            KeyStatus::Revoked => return Err(Error::Revoked),
        }
        check_time(entry, now)?;
        // Check the packet before taking an index, so that a refused packet wastes none.
        let plain = buf.get(..len).ok_or(srtcp::Error::BufferTooSmall)?;
        let ssrc = ssrc_of(plain).ok_or(srtcp::Error::TooShort)?;
        srtcp::check_outgoing(plain, entry.policy.length_check)?;
        if buf.len() < srtcp::protected_len(len, entry.policy.mki.len()) {
            return Err(srtcp::Error::BufferTooSmall.into());
        }
        match entry.tx.take(ssrc) {
            Ok(Some(i)) => Ok(i),
            Ok(None) => Err(srtcp::Error::KeyExhausted.into()),
            Err(()) => Err(Error::TooManyStreams),
        }
    }

    /// Protects a batch of packets, each with its own key (`TxPacket::key_id`), for the use
    /// each key's purpose implies. Every packet gets its own result in `TxPacket::result`;
    /// a failed packet is left unchanged and does not stop the others. Returns how many
    /// succeeded.
    ///
    /// The key lookups of a group of packets are issued before any of them is processed, so
    /// the cache misses of cold keys overlap instead of adding up.
    pub fn srtcp_protect_batch(&self, pkts: &mut [TxPacket<'_>], now: Timestamp) -> usize {
        self.protect_batch_inner(None, pkts, now)
    }

    /// As [`Engine::srtcp_protect_batch`], refusing keys whose purpose does not fit `use_`.
    pub fn srtcp_protect_batch_for(
        &self,
        use_: SrtcpUse,
        pkts: &mut [TxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        self.protect_batch_inner(Some(use_), pkts, now)
    }

    fn protect_batch_inner(
        &self,
        use_: Option<SrtcpUse>,
        pkts: &mut [TxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        for p in pkts.iter_mut() {
            p.result = None;
        }
        self.protect_pending(use_, pkts, now)
    }

    /// Protects the packets of `pkts` that have no result yet.
    fn protect_pending(
        &self,
        use_: Option<SrtcpUse>,
        pkts: &mut [TxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        let snap = self.store.read();
        let mut ok = 0;
        for group in pkts.chunks_mut(BATCH_GROUP) {
            let mut entries: [Option<&KeyEntry>; BATCH_GROUP] = [None; BATCH_GROUP];
            for p in group.iter() {
                if p.result.is_none() && p.key_id.purpose() != Purpose::Gmk {
                    snap.prefetch(u64::from(p.key_id.get()));
                }
            }
            for (e, p) in entries.iter_mut().zip(group.iter()) {
                if p.result.is_none() {
                    *e = snap.entry_of(p.key_id);
                    if let Some(e) = e {
                        e.prefetch();
                    }
                }
            }
            // Checks and indices first; then the sealing, four packets at a time, so that
            // the batch kernel can take them together.
            let mut ready: [Option<(&KeyEntry, u32)>; BATCH_GROUP] = [None; BATCH_GROUP];
            for ((e, r), p) in entries.iter().zip(ready.iter_mut()).zip(group.iter_mut()) {
                if p.result.is_some() {
                    continue;
                }
                let taken = e.ok_or(Error::UnknownKey).and_then(|e| {
                    let u = use_.unwrap_or(SrtcpUse::of(e.purpose));
                    Ok((e, self.take_index(e, u, p.buf, p.len, now)?))
                });
                match taken {
                    Ok(t) => *r = Some(t),
                    Err(err) => p.result = Some(Err(err)),
                }
            }
            let mut todo = group
                .iter_mut()
                .zip(ready.iter())
                .filter_map(|(p, r)| r.map(|r| (p, r)));
            loop {
                let four: [Option<_>; 4] = core::array::from_fn(|_| todo.next());
                let full = four.iter().all(Option::is_some);
                let lanes = four.iter().all(|x| {
                    x.as_ref()
                        .is_some_and(|(_, (e, _))| e.keys.gcm().has_lanes())
                });
                match (lanes, four) {
                    (true, [Some(a), Some(b), Some(c), Some(d)]) => {
                        let [(ia, ra, pa), (ib, rb, pb), (ic, rc, pc), (id, rd, pd)] = [a, b, c, d]
                            .map(|(p, (e, index))| {
                                let TxPacket {
                                    buf, len, result, ..
                                } = p;
                                let n = srtcp::protected_len(*len, e.policy.mki.len());
                                let item = SealItem {
                                    keys: &e.keys,
                                    policy: &e.policy,
                                    out: &mut buf[..n],
                                    len: *len,
                                    index,
                                };
                                (item, result, processed_tx(e, n, index))
                            });
                        seal_checked_4([ia, ib, ic, id]);
                        for (r, done) in [(ra, pa), (rb, pb), (rc, pc), (rd, pd)] {
                            *r = Some(Ok(done));
                        }
                        ok += 4;
                    }
                    (_, four) => {
                        for (p, (e, index)) in four.into_iter().flatten() {
                            let r = seal_in_place(&e.keys, &e.policy, p.buf, p.len, index)
                                .map(|n| processed_tx(e, n, index))
                                .map_err(Error::from);
                            ok += usize::from(r.is_ok());
                            p.result = Some(r);
                        }
                        if !full {
                            break;
                        }
                    }
                }
            }
        }
        ok
    }

    /// Fan-out: protects one RTCP packet `plain` toward several recipients, each with its
    /// own key (a CSK per client for unicast, or SPKs toward peer servers). Each target's
    /// buffer receives a copy of `plain` and is protected in place; `TxPacket::len` is set to
    /// `plain.len()` and the result goes to `TxPacket::result`. A target whose buffer cannot
    /// hold the protected packet gets [`srtcp::Error::BufferTooSmall`]; a target that fails
    /// is left with zeros where the plaintext was copied. Returns how many succeeded. (A multicast group shares one MuSiK: protect once and send that packet to
    /// every member.)
    pub fn srtcp_fan_out(
        &self,
        use_: SrtcpUse,
        plain: &[u8],
        targets: &mut [TxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        for t in targets.iter_mut() {
            t.len = plain.len();
            t.result = None;
            match t.buf.get_mut(..plain.len()) {
                Some(b) => b.copy_from_slice(plain),
                None => t.result = Some(Err(srtcp::Error::BufferTooSmall.into())),
            }
        }
        let ok = self.protect_pending(Some(use_), targets, now);
        // A target that failed got the plaintext copied in before its key was checked:
        // wipe it, so that a refused recipient's buffer never holds the clear packet.
        for t in targets.iter_mut() {
            if matches!(t.result, Some(Err(_)))
                && let Some(b) = t.buf.get_mut(..plain.len())
            {
                b.fill(0);
            }
        }
        ok
    }

    /// Unprotects the SRTCP packet `buf` in place: the key comes from the MKI at its tail.
    /// On error `buf` and the handle's state are unchanged.
    pub fn srtcp_unprotect(&mut self, buf: &mut [u8], now: Timestamp) -> Result<Processed, Error> {
        self.unprotect_inner(None, buf, now)
    }

    /// As [`Engine::srtcp_unprotect`], refusing a key whose purpose does not fit `use_`.
    pub fn srtcp_unprotect_for(
        &mut self,
        use_: SrtcpUse,
        buf: &mut [u8],
        now: Timestamp,
    ) -> Result<Processed, Error> {
        self.unprotect_inner(Some(use_), buf, now)
    }

    fn unprotect_inner(
        &mut self,
        use_: Option<SrtcpUse>,
        buf: &mut [u8],
        now: Timestamp,
    ) -> Result<Processed, Error> {
        // The map keys come from the packet itself (MKI, SSRC), so the store probe and the
        // replay-window probe do not wait for the key entry to arrive from memory.
        let stream = stream_of(buf)?;
        let snap = self.store.read();
        let entry = snap.entry(stream.0).ok_or(Error::UnknownKey)?;
        entry.prefetch();
        let ctx = self.rx_ctx(use_, now);
        let u = self.rx.unprotect(&ctx, entry, stream, buf)?;
        Ok(processed_rx(entry, u))
    }

    fn rx_ctx(&self, use_: Option<SrtcpUse>, now: Timestamp) -> RxCtx {
        RxCtx {
            use_,
            now,
            off_network: self.store.config().off_network,
            grace_ms: self.store.config().grace_period_ms,
            config: self.config,
        }
    }

    /// Unprotects a batch of packets, each found by its own MKI. Every packet gets its own
    /// result in `RxPacket::result` (the plaintext length is `Processed::len`); a failed
    /// packet and its stream are left unchanged and do not stop the others. Returns how many
    /// succeeded.
    ///
    /// The key and replay-window lookups of a group of packets are issued before any of them
    /// is processed, so the cache misses of cold keys overlap instead of adding up.
    pub fn srtcp_unprotect_batch(&mut self, pkts: &mut [RxPacket<'_>], now: Timestamp) -> usize {
        self.unprotect_batch_inner(None, pkts, now)
    }

    /// As [`Engine::srtcp_unprotect_batch`], refusing keys whose purpose does not fit `use_`.
    pub fn srtcp_unprotect_batch_for(
        &mut self,
        use_: SrtcpUse,
        pkts: &mut [RxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        self.unprotect_batch_inner(Some(use_), pkts, now)
    }

    fn unprotect_batch_inner(
        &mut self,
        use_: Option<SrtcpUse>,
        pkts: &mut [RxPacket<'_>],
        now: Timestamp,
    ) -> usize {
        let snap = self.store.read();
        let ctx = self.rx_ctx(use_, now);
        let mut ok = 0;
        for group in pkts.chunks_mut(BATCH_GROUP) {
            let mut found: [Result<(&KeyEntry, Stream), Error>; BATCH_GROUP] =
                [Err(Error::UnknownKey); BATCH_GROUP];
            // Three passes, so that each level's cache misses overlap across the group: the
            // index slots, then the entries and replay windows, then the packets.
            let mut streams: [Result<Stream, Error>; BATCH_GROUP] =
                [Err(Error::UnknownKey); BATCH_GROUP];
            for (st, p) in streams.iter_mut().zip(group.iter()) {
                *st = stream_of(p.buf);
                if let Ok(st) = st {
                    snap.prefetch(st.0);
                }
            }
            for (f, st) in found.iter_mut().zip(streams.iter()) {
                *f = st.and_then(|st| {
                    let e = snap.entry(st.0).ok_or(Error::UnknownKey)?;
                    e.prefetch();
                    if let Some(w) = self.rx.windows.get(&st) {
                        crate::sync::prefetch::<ReplayWindow>(w);
                    }
                    Ok((e, st))
                });
            }
            for (found, pkts) in found.chunks(4).zip(group.chunks_mut(4)) {
                if !self.rx.unprotect_4(&ctx, found, pkts) {
                    for (f, p) in found.iter().zip(pkts.iter_mut()) {
                        p.result = Some(match *f {
                            Ok((e, st)) => self
                                .rx
                                .unprotect(&ctx, e, st, p.buf)
                                .map(|u| processed_rx(e, u)),
                            Err(err) => Err(err),
                        });
                    }
                }
                ok += pkts
                    .iter()
                    .filter(|p| matches!(p.result, Some(Ok(_))))
                    .count();
            }
        }
        ok
    }

    /// Drops receive state of keys no longer in the store (revoked, purged).
    pub fn prune(&mut self) {
        let snap = self.store.read();
        self.rx
            .windows
            .retain(|(k, _), _| snap.keys.contains_key(k));
        self.rx.streams.retain(|k, _| snap.keys.contains_key(k));
    }
}

/// Verifies a packet without touching it or any state (for the stream-limit path).
fn open_check_only(entry: &KeyEntry, buf: &[u8]) -> Result<(), Error> {
    srtcp::verify_only(&entry.keys, &entry.policy, buf).map_err(Error::Srtcp)
}

/// The store-map key an SRTCP packet's MKI names: its 4-octet key ID, or GMK-ID ‖ GUK-ID
/// when the last four octets carry the GMK purpose tag (a GUK-ID keeps the GMK's tag 0).
fn mki_lookup(pkt: &[u8]) -> Option<u64> {
    let last = u32::from_be_bytes(srtcp::tail_mki4(pkt)?);
    if last >> 28 != u32::from(Purpose::Gmk.tag()) {
        return Some(u64::from(last));
    }
    if pkt.len() < srtcp::protected_len(srtcp::RTCP_HEADER_LEN, 8) {
        return None;
    }
    let b = &pkt[pkt.len() - 8..pkt.len() - 4];
    Some(crate::keys::store::gmk_lookup(
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        last,
    ))
}

/// What an unprotect under `entry` reports.
fn processed_rx(entry: &KeyEntry, u: Unprotected) -> Processed {
    Processed {
        len: u.len,
        key_id: entry.id,
        purpose: entry.purpose,
        index: u.index,
        encrypted: u.encrypted,
    }
}

/// What a protect of `entry` at `index` reports, `n` octets long.
fn processed_tx(entry: &KeyEntry, n: usize, index: u32) -> Processed {
    Processed {
        len: n,
        key_id: entry.id,
        purpose: entry.purpose,
        index,
        encrypted: entry.policy.protection == srtcp::Protection::Encrypted,
    }
}

/// The key checks of an unprotect: purpose for the use, status (a superseded key within
/// its grace period still opens), time.
fn check_rx(ctx: &RxCtx, entry: &KeyEntry) -> Result<(), Error> {
    let use_ = ctx.use_.unwrap_or(SrtcpUse::of(entry.purpose));
    check_use(entry, use_, ctx.off_network)?;
    match entry.status() {
        KeyStatus::Active => {}
        KeyStatus::Superseded(at) => {
            if ctx.now >= at.plus_ms(ctx.grace_ms) {
                return Err(Error::Superseded);
            }
        }
        KeyStatus::Revoked => return Err(Error::Revoked),
    }
    check_time(entry, ctx.now)
}

fn check_use(entry: &KeyEntry, use_: SrtcpUse, off_network: bool) -> Result<(), Error> {
    if !use_.allows(entry.purpose) {
        return Err(Error::WrongPurpose(entry.purpose));
    }
    if use_ == SrtcpUse::OffNetwork && !off_network {
        return Err(Error::WrongPurpose(entry.purpose));
    }
    Ok(())
}

fn check_time(entry: &KeyEntry, now: Timestamp) -> Result<(), Error> {
    entry.time_check(now).map_err(|e| match e {
        TimeError::NotYetValid => Error::NotYetValid,
        TimeError::Expired => Error::Expired,
    })
}
