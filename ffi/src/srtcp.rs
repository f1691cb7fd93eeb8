//! SRTCP protect and unprotect on the engine: one packet, a batch, a fan-out; and the
//! stream rule (`mcx_stream_shard`) that steers packets to their receivers.
//!
//! Batches go through the engine in chunks of [`CHUNK`] packets held on the stack: no call
//! here allocates.

use ::mcx_engine::keys::{KeyId, Purpose, SrtcpUse};
use ::mcx_engine::time::Timestamp;
use ::mcx_engine::{Engine, Processed, RxPacket, StreamId, TxPacket};

use crate::boundary;
use crate::engine::{Counters, mcx_engine};
use crate::status::{mcx_status, of_engine};

/// Packets per engine call of a batch (stack arrays, no allocation).
pub(crate) const CHUNK: usize = 32;

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

/// `now_ms` as a time: 0 reads the system clock (once per call).
pub(crate) fn time_of(now_ms: u64) -> Timestamp {
    if now_ms == 0 {
        Timestamp::now()
    } else {
        Timestamp(now_ms)
    }
}

pub(crate) fn finish(p: &mut mcx_packet, r: Option<Result<Processed, ::mcx_engine::Error>>) {
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
/// `len + MCX_SRTCP_MAX_TRAILER`. On error `buf` is unchanged. Reads the system clock; see
/// `mcx_srtcp_protect_at` to pass the time.
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
    // SAFETY: forwarded caller contract.
    unsafe { mcx_srtcp_protect_at(e, key_id, buf, len, cap, 0, out_len) }
}

/// As `mcx_srtcp_protect`, at time `now_ms` (milliseconds since the Unix epoch, the clock
/// key validity is checked against; 0 reads the system clock).
///
/// # Safety
/// As `mcx_srtcp_protect`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_srtcp_protect_at(
    e: *mut mcx_engine,
    key_id: u32,
    buf: *mut u8,
    len: usize,
    cap: usize,
    now_ms: u64,
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
            e.counters.count(true, 0, 1);
            return mcx_status::MCX_UNKNOWN_KEY;
        };
        match e.tx.srtcp_protect(id, b, len, time_of(now_ms)) {
            Ok(p) => {
                e.counters.count(true, 1, 0);
                // SAFETY: `out_len` is writable (caller contract).
                unsafe { out_len.write(p.len) };
                mcx_status::MCX_OK
            }
            Err(err) => {
                e.counters.count(true, 0, 1);
                of_engine(err)
            }
        }
    })
}

/// Unprotects the SRTCP packet `buf[0..len)` in place: the MKI at its tail names the key,
/// which is checked (purpose, status, time) before the packet is authenticated and its
/// replay window consulted. `*out_len` receives the RTCP length, `*key_id_out` (if not
/// NULL) the key used. On error `buf` and the engine's state are unchanged. Calls on
/// streams of one stripe serialize on its mutex; `mcx_receiver_unprotect` takes none.
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
        e.counters
            .count(false, u64::from(r.is_ok()), u64::from(r.is_err()));
        // SAFETY: `out_len` is writable, `key_id_out` NULL or writable (caller contract).
        unsafe { deliver(r, out_len, key_id_out) }
    })
}

/// The status of an unprotect, its RTCP length into `*out_len` and its key into
/// `*key_id_out` (if not NULL) on success.
///
/// # Safety
/// `out_len` is writable; `key_id_out` is NULL or writable.
pub(crate) unsafe fn deliver(
    r: Result<Processed, ::mcx_engine::Error>,
    out_len: *mut usize,
    key_id_out: *mut u32,
) -> mcx_status {
    match r {
        Ok(p) => {
            // SAFETY: as the caller promises.
            unsafe {
                out_len.write(p.len);
                if !key_id_out.is_null() {
                    key_id_out.write(p.key_id.get());
                }
            }
            mcx_status::MCX_OK
        }
        Err(err) => of_engine(err),
    }
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
pub(crate) fn tally(c: &Counters, protect: bool, ps: &[mcx_packet]) {
    let ok = ps
        .iter()
        .filter(|p| p.status == mcx_status::MCX_OK as i32)
        .count() as u64;
    c.count(protect, ok, ps.len() as u64 - ok);
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
        let now = Timestamp::now();
        for chunk in ps.chunks_mut(CHUNK) {
            protect_chunk(&e.tx, fan_out, plain, chunk, now);
        }
        tally(&e.counters, true, ps);
        mcx_status::MCX_OK
    })
}

/// A stand-in key ID for the unused places of a chunk.
const NO_KEY: KeyId = KeyId::from_parts(Purpose::Csk, 0);

/// Protects (or fans out to) up to [`CHUNK`] packets through one engine call.
fn protect_chunk(
    engine: &Engine,
    fan_out: Option<SrtcpUse>,
    plain: &[u8],
    ps: &mut [mcx_packet],
    now: Timestamp,
) {
    let mut tx: [TxPacket<'_>; CHUNK] = core::array::from_fn(|_| TxPacket::new(NO_KEY, &mut [], 0));
    let mut taken = [0usize; CHUNK];
    let mut k = 0;
    for (i, p) in ps.iter_mut().enumerate() {
        p.out_len = 0;
        p.out_key_id = 0;
        let len = if fan_out.is_some() {
            plain.len()
        } else {
            p.len
        };
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
        tx[k] = TxPacket::new(id, b, len);
        taken[k] = i;
        k += 1;
    }
    match fan_out {
        Some(u) => engine.srtcp_fan_out(u, plain, &mut tx[..k], now),
        None => engine.srtcp_protect_batch(&mut tx[..k], now),
    };
    let mut results = [None; CHUNK];
    for (r, t) in results.iter_mut().zip(&tx[..k]) {
        *r = t.result;
    }
    for (&i, r) in taken[..k].iter().zip(results) {
        finish(&mut ps[i], r);
    }
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
        for p in ps.iter_mut() {
            p.out_len = 0;
            p.out_key_id = 0;
            // SAFETY: only checks `buf` against `len`; the octets are not touched here.
            let usable = unsafe { buffer(p.buf, p.len) }.is_some();
            p.status = if usable {
                mcx_status::MCX_NOT_READY
            } else {
                mcx_status::MCX_INVALID_ARGUMENT
            }
            .into();
        }
        let now = Timestamp::now();
        // Stripe by stripe, in chunks: one lock per chunk, no allocation. Each stream lies
        // in one stripe, so its packets keep their order.
        for k in 0..e.rx.len() {
            let mut start = 0;
            while start < ps.len() {
                let (next, held) = unprotect_chunk(e, k, &mut ps[start..], now);
                start += next;
                if !held {
                    break;
                }
            }
        }
        tally(&e.counters, false, ps);
        mcx_status::MCX_OK
    })
}

/// Unprotects, under stripe `k`'s lock, up to [`CHUNK`] packets of `ps` that belong to that
/// stripe and wait (`MCX_NOT_READY`). Returns how far into `ps` it looked, and whether it
/// stopped because the chunk was full (more may follow).
fn unprotect_chunk(
    e: &mcx_engine,
    k: usize,
    ps: &mut [mcx_packet],
    now: Timestamp,
) -> (usize, bool) {
    let mut rx: [RxPacket<'_>; CHUNK] = core::array::from_fn(|_| RxPacket::new(&mut []));
    let mut taken = [0usize; CHUNK];
    let mut n = 0;
    let mut looked = ps.len();
    for (i, p) in ps.iter().enumerate() {
        if p.status != mcx_status::MCX_NOT_READY as i32 {
            continue;
        }
        // SAFETY: writable for `len`, not overlapping (caller contract); checked non-NULL
        // above when `len > 0`.
        let b = unsafe { buffer(p.buf, p.len) }.unwrap_or(&mut []);
        if e.stripe(b) != k {
            continue;
        }
        rx[n] = RxPacket::new(b);
        taken[n] = i;
        n += 1;
        if n == CHUNK {
            looked = i + 1;
            break;
        }
    }
    if n == 0 {
        return (looked, false);
    }
    let mut results = [None; CHUNK];
    // A panic inside a locked call poisons the stripe: then refuse (no result) rather than
    // guess.
    if let Ok(mut h) = e.rx[k].lock() {
        h.srtcp_unprotect_batch(&mut rx[..n], now);
        for (r, p) in results.iter_mut().zip(&rx[..n]) {
            *r = p.result;
        }
    }
    for (&i, r) in taken[..n].iter().zip(results) {
        finish(&mut ps[i], r);
    }
    (looked, n == CHUNK)
}

/// The receiver (of `n`) that owns the stream of the SRTCP packet `srtcp[0..len)`: the
/// stream's shard, by the rule the engine's stripes, the pool and the relay use. Steer each
/// received packet to the `mcx_receiver` of that number. 0 for a packet too short to name a
/// stream, and when `n` is 0.
///
/// # Safety
/// `srtcp` is readable for `len` octets (or NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_stream_shard(srtcp: *const u8, len: usize, n: u32) -> u32 {
    // SAFETY: readable for `len` (caller contract).
    let Some(b) = (unsafe { crate::keys::bytes(srtcp, len) }) else {
        return 0;
    };
    StreamId::of_srtcp(b).map_or(0, |s| s.shard(n as usize) as u32)
}

/// As `mcx_stream_shard`, for an RTCP packet about to be protected with `key_id` (the same
/// stream as the SRTCP packet protect makes of it).
///
/// # Safety
/// `rtcp` is readable for `len` octets (or NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_stream_shard_rtcp(
    key_id: u32,
    rtcp: *const u8,
    len: usize,
    n: u32,
) -> u32 {
    // SAFETY: readable for `len` (caller contract).
    let (Some(b), Ok(id)) = (unsafe { crate::keys::bytes(rtcp, len) }, KeyId::new(key_id)) else {
        return 0;
    };
    StreamId::of_rtcp(id, b).map_or(0, |s| s.shard(n as usize) as u32)
}
