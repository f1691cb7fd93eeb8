//! `mcx_receiver`: one thread's receive state, for a lock-free unprotect path.
//!
//! A receiver owns the replay windows of the streams steered to it, as a pool worker does,
//! and is used by one thread at a time: no lock, no clock read per packet (the caller passes
//! the time), and no allocation once a stream exists (its first packet makes its window). Steer each received packet by `mcx_stream_shard(pkt, len,
//! n)` to receiver number 0..n, so that every packet of a stream meets the same window; a
//! stream seen by two receivers would have two windows, and a packet replayed from one to
//! the other would be accepted. The per-key stream limit (`max_streams_per_key`) holds over
//! the engine and all its receivers together.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use ::mcx_engine::Engine;
use ::mcx_engine::RxPacket;

use crate::boundary;
use crate::engine::{Counters, RxCounters, mcx_engine};
use crate::srtcp::{CHUNK, buffer, deliver, finish, mcx_packet, packets, time_of};
use crate::status::mcx_status;

/// The opaque receiver handle.
pub struct mcx_receiver {
    engine: Engine,
    /// This receiver's counts, listed in the engine's `receivers` while it lives.
    counters: Arc<RxCounters>,
    /// The engine's counters, which take this receiver's counts when it is freed.
    totals: Arc<Counters>,
    /// The engine's list of live receivers' counters.
    list: Arc<Mutex<Vec<Arc<RxCounters>>>>,
}

impl Drop for mcx_receiver {
    fn drop(&mut self) {
        use core::sync::atomic::Ordering::Relaxed;
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|c| !Arc::ptr_eq(c, &self.counters));
        let (ok, failed) = (
            self.counters.ok.load(Relaxed),
            self.counters.failed.load(Relaxed),
        );
        self.totals.count(false, ok, failed);
    }
}

/// Creates a receiver on the engine's keys; free it with `mcx_receiver_free` before the
/// engine. Any thread may create one; each receiver is then used by one thread at a time.
///
/// # Safety
/// `e` is a live engine; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_receiver_new(
    e: *const mcx_engine,
    out: *mut *mut mcx_receiver,
) -> mcx_status {
    boundary(|| {
        if e.is_null() || out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle (caller contract).
        let e = unsafe { &*e };
        let counters = Arc::new(RxCounters::default());
        e.receivers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&counters));
        let r = Box::new(mcx_receiver {
            engine: e.tx.handle(),
            counters,
            totals: Arc::clone(&e.counters),
            list: Arc::clone(&e.receivers),
        });
        // SAFETY: `out` is writable (caller contract).
        unsafe { out.write(Box::into_raw(r)) };
        mcx_status::MCX_OK
    })
}

/// Frees a receiver (its streams count no more against their keys' limit). NULL is a
/// no-op.
///
/// # Safety
/// `r` is NULL or a receiver not yet freed, not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_receiver_free(r: *mut mcx_receiver) {
    let _ = boundary(|| {
        if !r.is_null() {
            // SAFETY: `r` came from `Box::into_raw` in `mcx_receiver_new` and is freed once.
            drop(unsafe { Box::from_raw(r) });
        }
        mcx_status::MCX_OK
    });
}

/// Unprotects the SRTCP packet `buf[0..len)` in place with the receiver's windows, at time
/// `now_ms` (milliseconds since the Unix epoch; 0 reads the system clock). As
/// `mcx_srtcp_unprotect` otherwise: `*out_len` receives the RTCP length, `*key_id_out` (if
/// not NULL) the key; on error `buf` and the receiver are unchanged.
///
/// # Safety
/// `r` is a live receiver used by no other thread now; `buf` is writable for `len`;
/// `out_len` is writable; `key_id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_receiver_unprotect(
    r: *mut mcx_receiver,
    buf: *mut u8,
    len: usize,
    now_ms: u64,
    out_len: *mut usize,
    key_id_out: *mut u32,
) -> mcx_status {
    boundary(|| {
        if r.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live receiver of this thread; `buf` writable for `len` (contract).
        let (r, b) = unsafe { (&mut *r, buffer(buf, len)) };
        let Some(b) = b else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let got = r.engine.srtcp_unprotect(b, time_of(now_ms));
        r.counters
            .count(u64::from(got.is_ok()), u64::from(got.is_err()));
        // SAFETY: `out_len` is writable, `key_id_out` NULL or writable (caller contract).
        unsafe { deliver(got, out_len, key_id_out) }
    })
}

/// Unprotects `n` packets with the receiver's windows at time `now_ms` (0: the system
/// clock, read once); each packet's `status` says how it went. Returns `MCX_OK` when the
/// call itself was valid.
///
/// # Safety
/// `r` is a live receiver used by no other thread now; `pkts` points to `n` packets whose
/// buffers are writable for their `len` and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_receiver_unprotect_batch(
    r: *mut mcx_receiver,
    pkts: *mut mcx_packet,
    n: usize,
    now_ms: u64,
) -> mcx_status {
    boundary(|| {
        if r.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live receiver of this thread; `n` packets (caller contract).
        let (r, ps) = unsafe { (&mut *r, packets(pkts, n)) };
        let Some(ps) = ps else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let now = time_of(now_ms);
        for chunk in ps.chunks_mut(CHUNK) {
            let mut rx: [RxPacket<'_>; CHUNK] = core::array::from_fn(|_| RxPacket::new(&mut []));
            let mut taken = [0usize; CHUNK];
            let mut k = 0;
            for (i, p) in chunk.iter_mut().enumerate() {
                p.out_len = 0;
                p.out_key_id = 0;
                // SAFETY: writable for `len`, not overlapping (caller contract).
                match unsafe { buffer(p.buf, p.len) } {
                    Some(b) => {
                        rx[k] = RxPacket::new(b);
                        taken[k] = i;
                        k += 1;
                    }
                    None => p.status = mcx_status::MCX_INVALID_ARGUMENT.into(),
                }
            }
            r.engine.srtcp_unprotect_batch(&mut rx[..k], now);
            let mut results = [None; CHUNK];
            for (res, p) in results.iter_mut().zip(&rx[..k]) {
                *res = p.result;
            }
            for (&i, res) in taken[..k].iter().zip(results) {
                finish(&mut chunk[i], res);
            }
        }
        let ok = ps
            .iter()
            .filter(|p| p.status == mcx_status::MCX_OK as i32)
            .count() as u64;
        r.counters.count(ok, ps.len() as u64 - ok);
        mcx_status::MCX_OK
    })
}

/// The receive streams (replay windows) the receiver holds, after dropping those of keys
/// that left the engine. 0 for NULL.
///
/// # Safety
/// `r` is NULL or a live receiver used by no other thread now.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_receiver_streams(r: *mut mcx_receiver) -> usize {
    if r.is_null() {
        return 0;
    }
    // SAFETY: a live receiver of this thread (caller contract).
    let r = unsafe { &mut *r };
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        r.engine.prune();
        r.engine.rx_streams()
    }))
    .unwrap_or(0)
}
