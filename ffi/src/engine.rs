//! `mcx_engine`: a key store and the SRTCP data path behind one opaque handle.
//!
//! Thread safety (copied into `mcx.h`): one engine may be used from any number of threads
//! at once. Protect calls share nothing but per-(key, SSRC) atomic transmit indices. Receive
//! state (replay windows) has one owner per stream: for a lock-free receive path, give each
//! receiving thread its own `mcx_receiver` and steer each stream to one of them with
//! `mcx_stream_shard` (the rule the pool and the relay use). The engine-level unprotect
//! calls keep their windows in `MCX_RX_STRIPES` stripes chosen by the same rule, each behind
//! a mutex. Key installs and revocations never block packet calls.

use std::ffi::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ::mcx_engine::aead::Provider;
use ::mcx_engine::store::{KeyStore, StoreConfig, StoreEvent};
use ::mcx_engine::{Engine, EngineConfig};

use crate::status::mcx_status;
use crate::{boundary, read_config};

/// Number of independently locked receive-state stripes of the engine-level unprotect calls.
pub const MCX_RX_STRIPES: usize = 16;

/// Engine settings. Start with `struct_size = sizeof(mcx_engine_config)`; fields past
/// `struct_size` take their defaults, so a program built against an older header keeps
/// working.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mcx_engine_config {
    /// `sizeof(mcx_engine_config)` as the caller knows it.
    pub struct_size: u32,
    /// Replay window per (key, SSRC), 64..32768; 0: default (128).
    pub replay_window: u32,
    /// Most receive streams (SSRCs) per key over the engine's stripes, its receivers and its
    /// pools together (give them all the same limit); 0: default (4096).
    pub max_streams_per_key: u32,
    /// Flags: `MCX_ENGINE_OFF_NETWORK` accepts GMK and PCK keys.
    pub flags: u32,
    /// How long a replaced key still unprotects, in milliseconds; 0: default (10 s).
    pub grace_period_ms: u64,
    /// The AES-GCM provider: `MCX_AEAD_DEFAULT` (0: the fastest this CPU runs, measured at
    /// start-up; the environment variable `MCX_AEAD_BACKEND` overrides it),
    /// `MCX_AEAD_PORTABLE`, `MCX_AEAD_AESNI` or `MCX_AEAD_VAES` (one this CPU cannot run:
    /// `MCX_UNSUPPORTED`).
    pub aead_provider: u32,
    /// Most SSRCs one key sends on, 1..65536; 0: default (4096).
    pub tx_ssrcs_per_key: u32,
    /// The transmit index at which a (key, SSRC) raises `MCX_EVENT_INDEX_SOFT_LIMIT`,
    /// at most 2^31 - 1; 0: default (2^31 - 2^24).
    pub index_soft_limit: u32,
    /// How many retired key IDs the engine remembers, with the last transmit index each
    /// used, so that a key ID installed again continues above it; 0: default (100000).
    pub retired_keys: u32,
}

/// `mcx_engine_config.aead_provider`: the start-up measurement (or `MCX_AEAD_BACKEND`).
pub const MCX_AEAD_DEFAULT: u32 = 0;
/// `mcx_engine_config.aead_provider`: RustCrypto `aes` + `ghash`, every CPU.
pub const MCX_AEAD_PORTABLE: u32 = 1;
/// `mcx_engine_config.aead_provider`: x86_64 AES-NI + PCLMULQDQ.
pub const MCX_AEAD_AESNI: u32 = 2;
/// `mcx_engine_config.aead_provider`: AES-NI plus the VAES four-lane batch kernel.
pub const MCX_AEAD_VAES: u32 = 3;

/// `mcx_engine_config.flags`: accept GMK and PCK keys (off-network SRTCP).
pub const MCX_ENGINE_OFF_NETWORK: u32 = 1;

/// Counters since the engine was created (the direct calls; a pool counts its own).
/// Start with `struct_size = sizeof(mcx_stats)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct mcx_stats {
    /// `sizeof(mcx_stats)` as the caller knows it; the library fills that much.
    pub struct_size: u32,
    /// Keys installed now (replaced keys in their grace period included).
    pub keys: u32,
    /// Packets protected.
    pub protected_packets: u64,
    /// Packets unprotected.
    pub unprotected_packets: u64,
    /// Protect calls that failed.
    pub protect_failed: u64,
    /// Unprotect calls that failed (forged, replayed, unknown key …).
    pub unprotect_failed: u64,
    /// Receive streams (replay windows) the engine-level unprotect calls hold (receivers
    /// and pools count their own: `mcx_receiver_streams`).
    pub rx_streams: u64,
    /// Events raised (`mcx_event_poll`), polled or not.
    pub events_raised: u64,
}

/// `mcx_event.kind`: a (key, SSRC) took the transmit index `index_soft_limit` (or a new or
/// inherited stream starts past it): move the stream to a new SSRC before its indices run
/// out at 2^31 (a successor key continues each SSRC's indices).
pub const MCX_EVENT_INDEX_SOFT_LIMIT: u32 = 1;

/// An event of the engine (`mcx_event_poll`). Set `struct_size = sizeof(mcx_event)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct mcx_event {
    /// `sizeof(mcx_event)` as the caller knows it; the library fills that much.
    pub struct_size: u32,
    /// `MCX_EVENT_INDEX_SOFT_LIMIT`.
    pub kind: u32,
    /// The key.
    pub key_id: u32,
    /// The SSRC.
    pub ssrc: u32,
    /// The transmit index taken.
    pub index: u32,
}

/// Packet counters of an engine and its receivers.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) protected: AtomicU64,
    pub(crate) unprotected: AtomicU64,
    pub(crate) protect_failed: AtomicU64,
    pub(crate) unprotect_failed: AtomicU64,
}

/// One receiver's unprotect counters: written by its one thread at a time (a load and a
/// store, no locked instruction), read by `mcx_stats_get`.
#[derive(Default)]
pub(crate) struct RxCounters {
    pub(crate) ok: AtomicU64,
    pub(crate) failed: AtomicU64,
}

impl RxCounters {
    /// Adds `ok` successes and `failed` failures; only the receiver's thread calls this.
    #[inline]
    pub(crate) fn count(&self, ok: u64, failed: u64) {
        let bump = |c: &AtomicU64, n: u64| {
            if n > 0 {
                c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
            }
        };
        bump(&self.ok, ok);
        bump(&self.failed, failed);
    }
}

impl Counters {
    /// Adds `ok` successes and `failed` failures of protect (or unprotect).
    pub(crate) fn count(&self, protect: bool, ok: u64, failed: u64) {
        let (good, bad) = if protect {
            (&self.protected, &self.protect_failed)
        } else {
            (&self.unprotected, &self.unprotect_failed)
        };
        if ok > 0 {
            good.fetch_add(ok, Ordering::Relaxed);
        }
        if failed > 0 {
            bad.fetch_add(failed, Ordering::Relaxed);
        }
    }
}

/// The opaque engine handle.
pub struct mcx_engine {
    pub(crate) store: Arc<KeyStore>,
    pub(crate) tx: Engine,
    pub(crate) rx: Box<[Mutex<Engine>]>,
    pub(crate) counters: Arc<Counters>,
    /// The counters of the live receivers (a freed receiver adds its own to `counters`, under
    /// this lock, which `mcx_stats_get` takes too).
    pub(crate) receivers: Arc<Mutex<Vec<Arc<RxCounters>>>>,
}

impl mcx_engine {
    /// The receive stripe of a packet: its stream's shard among the stripes. Unparsable
    /// packets go to stripe 0, which refuses them.
    pub(crate) fn stripe(&self, pkt: &[u8]) -> usize {
        ::mcx_engine::StreamId::of_srtcp(pkt).map_or(0, |s| s.shard(self.rx.len()))
    }
}

fn default_config() -> mcx_engine_config {
    mcx_engine_config {
        struct_size: core::mem::size_of::<mcx_engine_config>() as u32,
        replay_window: 0,
        max_streams_per_key: 0,
        flags: 0,
        grace_period_ms: 0,
        aead_provider: MCX_AEAD_DEFAULT,
        tx_ssrcs_per_key: 0,
        index_soft_limit: 0,
        retired_keys: 0,
    }
}

/// The provider a config names; `Err` for an unknown number or one this CPU cannot run.
fn provider_of(n: u32) -> Result<Provider, mcx_status> {
    let p = match n {
        MCX_AEAD_DEFAULT => return Ok(::mcx_engine::startup::provider_from_env().provider),
        MCX_AEAD_PORTABLE => Provider::Portable,
        MCX_AEAD_AESNI => Provider::AesNi,
        MCX_AEAD_VAES => Provider::Vaes,
        _ => return Err(mcx_status::MCX_INVALID_ARGUMENT),
    };
    if p.is_available() {
        Ok(p)
    } else {
        Err(mcx_status::MCX_UNSUPPORTED)
    }
}

/// Creates an engine. `cfg` may be NULL (defaults). On success `*out` owns the engine:
/// free it with `mcx_engine_free`.
///
/// # Safety
/// `cfg` is NULL or points to a readable `mcx_engine_config` of at least `cfg->struct_size`
/// octets; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_engine_new(
    cfg: *const mcx_engine_config,
    out: *mut *mut mcx_engine,
) -> mcx_status {
    boundary(|| {
        if out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: the caller passes NULL or a config at least `struct_size` long.
        let c = match unsafe { read_config(cfg, default_config()) } {
            Some(c) if c.flags & !MCX_ENGINE_OFF_NETWORK == 0 => c,
            _ => return mcx_status::MCX_INVALID_ARGUMENT,
        };
        let provider = match provider_of(c.aead_provider) {
            Ok(p) => p,
            Err(status) => return status,
        };
        let d = StoreConfig::default();
        let or = |v: u32, default: u32| if v == 0 { default } else { v };
        let store_cfg = StoreConfig {
            grace_period_ms: if c.grace_period_ms == 0 {
                d.grace_period_ms
            } else {
                c.grace_period_ms
            },
            off_network: c.flags & MCX_ENGINE_OFF_NETWORK != 0,
            provider,
            tx_ssrcs_per_key: or(c.tx_ssrcs_per_key, d.tx_ssrcs_per_key),
            index_soft_limit: or(c.index_soft_limit, d.index_soft_limit),
            retired_keys: match c.retired_keys {
                0 => d.retired_keys,
                n => n as usize,
            },
            purpose_tags: d.purpose_tags,
        };
        if c.tx_ssrcs_per_key > ::mcx_engine::store::MAX_TX_SSRCS
            || c.index_soft_limit > ::mcx_engine::srtcp::MAX_INDEX
        {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        let mut engine_cfg = EngineConfig::default();
        if c.replay_window != 0 {
            engine_cfg.replay_window = c.replay_window;
        }
        if c.max_streams_per_key != 0 {
            engine_cfg.max_streams_per_key = c.max_streams_per_key;
        }
        let store = Arc::new(KeyStore::new(store_cfg));
        let Ok(tx) = Engine::new(Arc::clone(&store), engine_cfg) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let rx = (0..MCX_RX_STRIPES)
            .map(|_| Mutex::new(tx.handle()))
            .collect();
        let e = Box::new(mcx_engine {
            store,
            tx,
            rx,
            counters: Arc::new(Counters::default()),
            receivers: Arc::new(Mutex::new(Vec::new())),
        });
        // SAFETY: `out` is non-NULL and writable (caller contract).
        unsafe { out.write(Box::into_raw(e)) };
        mcx_status::MCX_OK
    })
}

/// Frees an engine. Its keys are zeroized once the engine and every pool made from it are
/// freed (a pool keeps using the engine's keys). NULL is a no-op. No other call on the
/// engine may be running or start afterwards.
///
/// # Safety
/// `e` is NULL or a handle from `mcx_engine_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_engine_free(e: *mut mcx_engine) {
    let _ = boundary(|| {
        if !e.is_null() {
            // SAFETY: `e` came from `Box::into_raw` in `mcx_engine_new` and is freed once.
            drop(unsafe { Box::from_raw(e) });
        }
        mcx_status::MCX_OK
    });
}

/// The AES-GCM provider the engine's keys run on ("aesni", "vaes" or "portable";
/// "unknown" should the library add one this version does not name), a static string. NULL
/// for a NULL engine.
///
/// # Safety
/// `e` is NULL or a live engine handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_engine_backend(e: *const mcx_engine) -> *const c_char {
    if e.is_null() {
        return core::ptr::null();
    }
    // SAFETY: a live handle (caller contract).
    let e = unsafe { &*e };
    match std::panic::catch_unwind(|| e.store.provider().name()) {
        Ok("aesni") => c"aesni".as_ptr(),
        Ok("vaes") => c"vaes".as_ptr(),
        Ok("portable") => c"portable".as_ptr(),
        _ => c"unknown".as_ptr(),
    }
}

/// Fills `*out` with the engine's counters, up to `out->struct_size` octets (which the
/// caller sets first; the library sets it to the size it filled, at most
/// `sizeof(mcx_stats)`). Protect and unprotect counts are per packet, batches included;
/// a packet refused for its arguments counts as failed.
///
/// # Safety
/// `e` is a live engine handle; `out` points to a writable `mcx_stats` of at least
/// `out->struct_size` octets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_stats_get(e: *const mcx_engine, out: *mut mcx_stats) -> mcx_status {
    boundary(|| {
        if e.is_null() || out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle (caller contract).
        let e = unsafe { &*e };
        // SAFETY: `out` is readable for its first field (caller contract).
        let size = unsafe { (*out).struct_size } as usize;
        if size < core::mem::size_of::<u32>() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // The stripes' windows, after dropping those of keys that left the engine.
        let rx_streams =
            e.rx.iter()
                .map(|m| {
                    m.lock().map_or(0, |mut g| {
                        g.prune();
                        g.rx_streams() as u64
                    })
                })
                .sum();
        let c = &e.counters;
        // Under the receivers' lock: a receiver being freed moves its counts to `c` under it.
        let list = e.receivers.lock().unwrap_or_else(|p| p.into_inner());
        let (rx_ok, rx_failed) = list.iter().fold((0, 0), |(a, b), r| {
            (
                a + r.ok.load(Ordering::Relaxed),
                b + r.failed.load(Ordering::Relaxed),
            )
        });
        let s = mcx_stats {
            struct_size: size.min(core::mem::size_of::<mcx_stats>()) as u32,
            keys: e.store.len() as u32,
            protected_packets: c.protected.load(Ordering::Relaxed),
            unprotected_packets: c.unprotected.load(Ordering::Relaxed) + rx_ok,
            protect_failed: c.protect_failed.load(Ordering::Relaxed),
            unprotect_failed: c.unprotect_failed.load(Ordering::Relaxed) + rx_failed,
            rx_streams,
            events_raised: e.store.events_raised(),
        };
        drop(list);
        let n = size.min(core::mem::size_of::<mcx_stats>());
        // SAFETY: `out` is writable for `struct_size` octets and `n` is no more than that
        // nor than the size of `s`; the regions do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (&s as *const mcx_stats).cast::<u8>(),
                out.cast::<u8>(),
                n,
            )
        };
        mcx_status::MCX_OK
    })
}

/// Takes the oldest event not yet polled into `*out` (up to `out->struct_size` octets, which
/// the caller sets first): `MCX_OK`, or `MCX_NOT_READY` when none waits. At most 4096 wait;
/// beyond that the oldest are dropped (`mcx_stats.events_raised` counts them all). Any
/// thread may poll.
///
/// # Safety
/// `e` is a live engine; `out` points to a writable `mcx_event` of at least
/// `out->struct_size` octets.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_event_poll(e: *const mcx_engine, out: *mut mcx_event) -> mcx_status {
    boundary(|| {
        if e.is_null() || out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle; `out` readable for its first field (caller contract).
        let (e, size) = unsafe { (&*e, (*out).struct_size as usize) };
        // Every field of the first version: an event is not taken unless it can be told.
        if size < core::mem::size_of::<mcx_event>() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        let Some(ev) = e.store.poll_event() else {
            return mcx_status::MCX_NOT_READY;
        };
        let n = size.min(core::mem::size_of::<mcx_event>());
        let v = match ev {
            StoreEvent::IndexSoftLimit {
                key_id,
                ssrc,
                index,
            } => mcx_event {
                struct_size: n as u32,
                kind: MCX_EVENT_INDEX_SOFT_LIMIT,
                key_id: key_id.get(),
                ssrc,
                index,
            },
            _ => return mcx_status::MCX_INTERNAL,
        };
        // SAFETY: `out` is writable for `struct_size >= n` octets; `v` is `n` or more.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (&v as *const mcx_event).cast::<u8>(),
                out.cast::<u8>(),
                n,
            )
        };
        mcx_status::MCX_OK
    })
}
