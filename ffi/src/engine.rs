//! `mcx_engine`: a key store and the SRTCP data path behind one opaque handle.
//!
//! Thread safety (copied into `mcx.h`): one engine may be used from any number of threads
//! at once. Protect calls share nothing but per-(key, SSRC) atomic transmit indices.
//! Unprotect calls keep replay windows: the engine holds them in `MCX_RX_STRIPES` stripes,
//! each behind its own mutex, chosen by hash(MKI, SSRC), so calls on different streams
//! rarely meet and calls on one stream are serialized (as replay protection needs). Key
//! installs and revocations publish a new store snapshot and never block packet calls.

use std::ffi::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ::mcx_engine::keys::{KeyStore, StoreConfig};
use ::mcx_engine::{Engine, EngineConfig};

use crate::status::mcx_status;
use crate::{boundary, read_config};

/// Number of independently locked receive-state stripes in an engine.
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
    /// Most receive streams (SSRCs) per key; 0: default (64).
    pub max_streams_per_key: u32,
    /// Flags: `MCX_ENGINE_OFF_NETWORK` accepts GMK and PCK keys.
    pub flags: u32,
    /// How long a replaced key still unprotects, in milliseconds; 0: default (10 s).
    pub grace_period_ms: u64,
}

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
    /// Receive streams (replay windows) held.
    pub rx_streams: u64,
}

/// The opaque engine handle.
pub struct mcx_engine {
    pub(crate) store: Arc<KeyStore>,
    pub(crate) tx: Engine,
    pub(crate) rx: Box<[Mutex<Engine>]>,
    pub(crate) protected: AtomicU64,
    pub(crate) unprotected: AtomicU64,
    pub(crate) protect_failed: AtomicU64,
    pub(crate) unprotect_failed: AtomicU64,
}

impl mcx_engine {
    /// The receive stripe of a packet: hash of its last four octets (the MKI's end) and
    /// its SSRC. Unparsable packets go to stripe 0, which refuses them.
    pub(crate) fn stripe(&self, pkt: &[u8]) -> usize {
        let mki = ::mcx_engine::srtcp::tail_mki4(pkt).map_or(0, u32::from_be_bytes);
        let ssrc = ::mcx_engine::srtcp::ssrc_of(pkt).unwrap_or(0);
        let h = (u64::from(mki) << 32 | u64::from(ssrc)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize % self.rx.len()
    }
}

fn default_config() -> mcx_engine_config {
    mcx_engine_config {
        struct_size: core::mem::size_of::<mcx_engine_config>() as u32,
        replay_window: 0,
        max_streams_per_key: 0,
        flags: 0,
        grace_period_ms: 0,
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
        let mut store_cfg = StoreConfig::default();
        if c.grace_period_ms != 0 {
            store_cfg.grace_period_ms = c.grace_period_ms;
        }
        store_cfg.off_network = c.flags & MCX_ENGINE_OFF_NETWORK != 0;
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
            protected: AtomicU64::new(0),
            unprotected: AtomicU64::new(0),
            protect_failed: AtomicU64::new(0),
            unprotect_failed: AtomicU64::new(0),
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

/// The AES-GCM backend in use ("aesni", "vaes" or "portable"; "unknown" should the
/// library add one this version does not name), a static string. NULL for a NULL engine.
///
/// # Safety
/// `e` is NULL or a live engine handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_engine_backend(e: *const mcx_engine) -> *const c_char {
    if e.is_null() {
        return core::ptr::null();
    }
    match std::panic::catch_unwind(|| ::mcx_engine::aead::active_backend().name()) {
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
        let rx_streams =
            e.rx.iter()
                .map(|m| m.lock().map_or(0, |g| g.rx_streams() as u64))
                .sum();
        let s = mcx_stats {
            struct_size: size.min(core::mem::size_of::<mcx_stats>()) as u32,
            keys: e.store.len() as u32,
            protected_packets: e.protected.load(Ordering::Relaxed),
            unprotected_packets: e.unprotected.load(Ordering::Relaxed),
            protect_failed: e.protect_failed.load(Ordering::Relaxed),
            unprotect_failed: e.unprotect_failed.load(Ordering::Relaxed),
            rx_streams,
        };
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
