//! SRTCP protect and unprotect: one packet, a batch, a fan-out.

use std::sync::atomic::Ordering;

use ::mcx_engine::keys::{KeyId, SrtcpUse, Timestamp};
use ::mcx_engine::{Processed, RxPacket, TxPacket};

use crate::boundary;
use crate::engine::mcx_engine;
use crate::status::{mcx_status, of_engine};

/// Most octets protect adds to an RTCP packet: tag 16, E‖index 4, MKI up to 8 (a GMK's).
/// Leave this much room after the packet (`cap >= len + MCX_SRTCP_MAX_TRAILER`).
pub const MCX_SRTCP_MAX_TRAILER: usize = 28;
const _: () = assert!(MCX_SRTCP_MAX_TRAILER == ::mcx_engine::srtcp::MAX_SRTCP_TRAILER);

/// `mcx_srtcp_fan_out` use: client ↔ server unicast (CSK).
pub const MCX_USE_UNICAST: u32 = 0;
/// Server → group multicast (MuSiK, MKFC).
pub const MCX_USE_MULTICAST: u32 = 1;
/// MBMS subchannel control (MSCCK).
pub const MCX_USE_MBMS_SUBCHANNEL: u32 = 2;
/// Server ↔ server (SPK).
pub const MCX_USE_SERVER_TO_SERVER: u32 = 3;
/// Off-network (PCK, GMK).
pub const MCX_USE_OFF_NETWORK: u32 = 4;

/// One packet of a batch. The library reads `buf`, `len`, `cap` and `key_id`, and writes
/// `status`, `out_len` and `out_key_id`. Buffers of one batch must not overlap.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mcx_packet {
    /// The packet (protect: RTCP; unprotect: SRTCP), processed in place.
    pub buf: *mut u8,
    /// Its length.
    pub len: usize,
    /// Octets writable at `buf` (protect: at least `len + MCX_SRTCP_MAX_TRAILER`).
    pub cap: usize,
    /// Protect: the key to use. Unprotect: ignored (the MKI names the key).
    pub key_id: u32,
    /// This packet's result.
    pub status: i32,
    /// On success: the SRTCP length (protect) or RTCP length (unprotect).
    pub out_len: usize,
    /// On success: the key used.
    pub out_key_id: u32,
}

pub(crate) fn use_of(u: u32) -> Option<SrtcpUse> {
    match u {
        MCX_USE_UNICAST => Some(SrtcpUse::Unicast),
        MCX_USE_MULTICAST => Some(SrtcpUse::Multicast),
        MCX_USE_MBMS_SUBCHANNEL => Some(SrtcpUse::MbmsSubchannel),
        MCX_USE_SERVER_TO_SERVER => Some(SrtcpUse::ServerToServer),
        MCX_USE_OFF_NETWORK => Some(SrtcpUse::OffNetwork),
        _ => None,
    }
}

/// A caller's writable buffer of `cap` octets, or `None` for NULL with a non-zero `cap`.
///
/// # Safety
/// `p` is NULL or writable for `cap` octets, and no other reference to them exists.
pub(crate) unsafe fn buffer<'a>(p: *mut u8, cap: usize) -> Option<&'a mut [u8]> {
    if cap == 0 {
        return Some(&mut []);
    }
    if p.is_null() || cap > crate::MAX_LEN {
        return None;
    }
    // SAFETY: writable for `cap` octets and not aliased (caller contract).
    Some(unsafe { core::slice::from_raw_parts_mut(p, cap) })
}

fn count(e: &mcx_engine, protect: bool, ok: u64, failed: u64) {
    let (good, bad) = if protect {
        (&e.protected, &e.protect_failed)
    } else {
        (&e.unprotected, &e.unprotect_failed)
    };
    if ok > 0 {
        good.fetch_add(ok, Ordering::Relaxed);
    }
    if failed > 0 {
        bad.fetch_add(failed, Ordering::Relaxed);
    }
}

fn finish(p: &mut mcx_packet, r: Option<Result<Processed, ::mcx_engine::Error>>) {
    match r {
        Some(Ok(done)) => {
            p.status = mcx_status::MCX_OK.into();
            p.out_len = done.len;
            p.out_key_id = done.key_id.get();
        }
        Some(Err(err)) => p.status = of_engine(err).into(),
        None => p.status = mcx_status::MCX_INTERNAL.into(),
    }
}

/// Protects the RTCP packet `buf[0..len)` in place with key `key_id` (the use its purpose
/// implies); `*out_len` receives the SRTCP length. `cap` is the room at `buf`, at least
/// `len + MCX_SRTCP_MAX_TRAILER`. On error `buf` is unchanged.
///
/// # Safety
/// `e` is a live engine; `buf` is writable for `cap` octets; `out_len` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_srtcp_protect(
    e: *mut mcx_engine,
    key_id: u32,
    buf: *mut u8,
    len: usize,
    cap: usize,
    out_len: *mut usize,
) -> mcx_status {
    boundary(|| {
        if e.is_null() || out_len.is_null() || len > cap {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle; `buf` writable for `cap` (caller contract).
        let (e, b) = unsafe { (&*e, buffer(buf, cap)) };
        let Some(b) = b else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let Ok(id) = KeyId::new(key_id) else {
            count(e, true, 0, 1);
            return mcx_status::MCX_UNKNOWN_KEY;
        };
        match e.tx.srtcp_protect(id, b, len, Timestamp::now()) {
            Ok(p) => {
                count(e, true, 1, 0);
                // SAFETY: `out_len` is writable (caller contract).
                unsafe { out_len.write(p.len) };
                mcx_status::MCX_OK
            }
            Err(err) => {
                count(e, true, 0, 1);
                of_engine(err)
            }
        }
    })
}

/// Unprotects the SRTCP packet `buf[0..len)` in place: the MKI at its tail names the key,
/// which is checked (purpose, status, time) before the packet is authenticated and its
/// replay window consulted. `*out_len` receives the RTCP length, `*key_id_out` (if not
/// NULL) the key used. On error `buf` and the engine's state are unchanged.
///
/// # Safety
/// `e` is a live engine; `buf` is writable for `len` octets; `out_len` is writable;
/// `key_id_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_srtcp_unprotect(
    e: *mut mcx_engine,
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
    key_id_out: *mut u32,
) -> mcx_status {
    boundary(|| {
        if e.is_null() || out_len.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle; `buf` writable for `len` (caller contract).
        let (e, b) = unsafe { (&*e, buffer(buf, len)) };
        let Some(b) = b else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let r = match e.rx[e.stripe(b)].lock() {
            Ok(mut rx) => rx.srtcp_unprotect(b, Timestamp::now()),
            // A panic inside a locked call poisoned the stripe; its windows may be half
            // updated, so refuse rather than guess.
            Err(_) => return mcx_status::MCX_INTERNAL,
        };
        match r {
            Ok(p) => {
                count(e, false, 1, 0);
                // SAFETY: `out_len` is writable, `key_id_out` NULL or writable.
                unsafe {
                    out_len.write(p.len);
                    if !key_id_out.is_null() {
                        key_id_out.write(p.key_id.get());
                    }
                }
                mcx_status::MCX_OK
            }
            Err(err) => {
                count(e, false, 0, 1);
                of_engine(err)
            }
        }
    })
}

/// The engine and packet array of a batch call, or `None` when either is unusable.
///
/// # Safety
/// `e` is NULL or a live engine; `pkts` is NULL or points to `n` writable packets.
unsafe fn batch_args<'a>(
    e: *mut mcx_engine,
    pkts: *mut mcx_packet,
    n: usize,
) -> Option<(&'a mcx_engine, &'a mut [mcx_packet])> {
    if e.is_null() {
        return None;
    }
    // SAFETY: a live handle and `n` packets (caller contract).
    unsafe { Some((&*e, packets(pkts, n)?)) }
}

/// Counts a batch's packets by their status.
fn tally(e: &mcx_engine, protect: bool, ps: &[mcx_packet]) {
    let ok = ps
        .iter()
        .filter(|p| p.status == mcx_status::MCX_OK as i32)
        .count() as u64;
    count(e, protect, ok, ps.len() as u64 - ok);
}

/// The caller's packet array, or `None` for NULL with `n > 0`.
///
/// # Safety
/// `p` is NULL or points to `n` writable `mcx_packet`s.
pub(crate) unsafe fn packets<'a>(p: *mut mcx_packet, n: usize) -> Option<&'a mut [mcx_packet]> {
    if n == 0 {
        return Some(&mut []);
    }
    if p.is_null() || n > crate::MAX_LEN / core::mem::size_of::<mcx_packet>() {
        return None;
    }
    // SAFETY: `n` writable packets (caller contract).
    Some(unsafe { core::slice::from_raw_parts_mut(p, n) })
}

/// Protects `n` packets, each with its own `key_id`; each packet's `status` says how it
/// went. Returns `MCX_OK` when the call itself was valid.
///
/// # Safety
/// `e` is a live engine; `pkts` points to `n` packets whose buffers are writable for their
/// `cap` and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_srtcp_protect_batch(
    e: *mut mcx_engine,
    pkts: *mut mcx_packet,
    n: usize,
) -> mcx_status {
    // SAFETY: forwarded caller contract.
    unsafe { protect_many(e, None, core::ptr::null(), 0, pkts, n) }
}

/// Fan-out: protects the RTCP packet `plain[0..plain_len)` once per target, each with its
/// own `key_id`, into the target's `buf` (capacity `cap`); `use` is one of `MCX_USE_*` and
/// every key must fit it (a CSK per client for unicast, an SPK per peer server). Each
/// target's `status` says how it went.
///
/// # Safety
/// `e` is a live engine; `plain` is readable for `plain_len`; `targets` points to `n`
/// packets whose buffers are writable for their `cap` and overlap neither each other nor
/// `plain`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_srtcp_fan_out(
    e: *mut mcx_engine,
    use_: u32,
    plain: *const u8,
    plain_len: usize,
    targets: *mut mcx_packet,
    n: usize,
) -> mcx_status {
    let Some(u) = use_of(use_) else {
        return mcx_status::MCX_INVALID_ARGUMENT;
    };
    if plain.is_null() {
        return mcx_status::MCX_INVALID_ARGUMENT;
    }
    // SAFETY: forwarded caller contract.
    unsafe { protect_many(e, Some(u), plain, plain_len, targets, n) }
}

/// Protect batch (`fan_out` None) or fan-out.
///
/// # Safety
/// As the two callers.
unsafe fn protect_many(
    e: *mut mcx_engine,
    fan_out: Option<SrtcpUse>,
    plain: *const u8,
    plain_len: usize,
    pkts: *mut mcx_packet,
    n: usize,
) -> mcx_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let Some((e, ps)) = (unsafe { batch_args(e, pkts, n) }) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let plain = match fan_out {
            // SAFETY: `plain` is readable for `plain_len` (caller contract; it is read only
            // for a fan-out, whose caller checked it is not NULL).
            Some(_) => match unsafe { crate::keys::bytes(plain, plain_len) } {
                Some(p) => p,
                None => return mcx_status::MCX_INVALID_ARGUMENT,
            },
            None => &[][..],
        };
        let mut tx: Vec<TxPacket<'_>> = Vec::with_capacity(ps.len());
        let mut taken: Vec<usize> = Vec::with_capacity(ps.len());
        for (i, p) in ps.iter_mut().enumerate() {
            p.out_len = 0;
            p.out_key_id = 0;
            let len = if fan_out.is_some() { plain_len } else { p.len };
            if fan_out.is_none() && p.len > p.cap {
                p.status = mcx_status::MCX_INVALID_ARGUMENT.into();
                continue;
            }
            // SAFETY: each packet's buffer is writable for `cap` and overlaps no other
            // (caller contract).
            let Some(b) = (unsafe { buffer(p.buf, p.cap) }) else {
                p.status = mcx_status::MCX_INVALID_ARGUMENT.into();
                continue;
            };
            let Ok(id) = KeyId::new(p.key_id) else {
                p.status = mcx_status::MCX_UNKNOWN_KEY.into();
                continue;
            };
            tx.push(TxPacket::new(id, b, len));
            taken.push(i);
        }
        let now = Timestamp::now();
        match fan_out {
            Some(u) => e.tx.srtcp_fan_out(u, plain, &mut tx, now),
            None => e.tx.srtcp_protect_batch(&mut tx, now),
        };
        let results: Vec<_> = tx.iter().map(|t| t.result).collect();
        drop(tx);
        for (&i, r) in taken.iter().zip(results) {
            finish(&mut ps[i], r);
        }
        tally(e, true, ps);
        mcx_status::MCX_OK
    })
}

/// Unprotects `n` packets, each with the key its MKI names; each packet's `status` says
/// how it went. Returns `MCX_OK` when the call itself was valid.
///
/// # Safety
/// `e` is a live engine; `pkts` points to `n` packets whose buffers are writable for their
/// `len` and do not overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_srtcp_unprotect_batch(
    e: *mut mcx_engine,
    pkts: *mut mcx_packet,
    n: usize,
) -> mcx_status {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let Some((e, ps)) = (unsafe { batch_args(e, pkts, n) }) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        // Group by receive stripe: one lock and one batch call per stripe.
        let mut by_stripe: Vec<Vec<usize>> = vec![Vec::new(); e.rx.len()];
        for (i, p) in ps.iter_mut().enumerate() {
            p.out_len = 0;
            p.out_key_id = 0;
            if p.buf.is_null() && p.len > 0 {
                p.status = mcx_status::MCX_INVALID_ARGUMENT.into();
                continue;
            }
            // SAFETY: readable for `len` (caller contract).
            let b = unsafe { buffer(p.buf, p.len) }.unwrap_or(&mut []);
            by_stripe[e.stripe(b)].push(i);
        }
        let now = Timestamp::now();
        for (k, idx) in by_stripe.iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            let results: Vec<_> = {
                let mut rx: Vec<RxPacket<'_>> = idx
                    .iter()
                    .map(|&i| {
                        // SAFETY: writable for `len`, not overlapping (caller contract).
                        RxPacket::new(unsafe { buffer(ps[i].buf, ps[i].len) }.unwrap_or(&mut []))
                    })
                    .collect();
                match e.rx[k].lock() {
                    Ok(mut h) => {
                        h.srtcp_unprotect_batch(&mut rx, now);
                        rx.iter().map(|r| r.result).collect()
                    }
                    Err(_) => vec![None; rx.len()],
                }
            };
            for (&i, r) in idx.iter().zip(results) {
                finish(&mut ps[i], r);
            }
        }
        tally(e, false, ps);
        mcx_status::MCX_OK
    })
}
