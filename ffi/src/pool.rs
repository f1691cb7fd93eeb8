//! The worker pool from C: submit batches, poll completions. The caller's buffers are lent
//! to the workers without copies, and stay the caller's to keep valid until the job's
//! completion has been polled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::mcx_engine::EngineConfig;
use ::mcx_engine::keys::KeyId;
use ::mcx_engine::pool::{
    Job, Packet, PacketBuf, Pool, PoolConfig, RejectReason, Rejected, Submitter,
};
use ::mcx_engine::time::Timestamp;

use crate::engine::mcx_engine;
use crate::srtcp::{mcx_packet, use_of};
use crate::status::{mcx_status, of_pool};
use crate::{boundary, read_config};

/// A caller's buffer lent to the pool: `len` octets of packet at `ptr`, `cap` writable.
struct CBuf {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

// SAFETY: the caller keeps the memory valid and leaves it alone until the job's completion
// is polled (the contract of `mcx_pool_submit`); meanwhile exactly one worker holds the
// packet, so the buffer moves between threads like an owned one.
unsafe impl Send for CBuf {}

impl PacketBuf for CBuf {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` is valid for `cap >= len` octets while the job runs (see `Send`).
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as above, and writable; `&mut self` makes the access exclusive.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    fn set_len_zeroed(&mut self, len: usize) -> bool {
        if len > self.cap {
            return false;
        }
        if len > self.len {
            // SAFETY: `[len, new len)` lies within the `cap` writable octets at `ptr`.
            unsafe { core::ptr::write_bytes(self.ptr.add(self.len), 0, len - self.len) };
        }
        self.len = len;
        true
    }
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// Pool settings. Start with `struct_size = sizeof(mcx_pool_config)`; zero fields take
/// their defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mcx_pool_config {
    /// `sizeof(mcx_pool_config)` as the caller knows it.
    pub struct_size: u32,
    /// Workers; 0: one per core available to the process.
    pub workers: u32,
    /// `MCX_POOL_NO_PIN`: leave the workers to the OS scheduler instead of pinning them.
    pub flags: u32,
    /// Job parts each worker queues; 0: 1024.
    pub ring_capacity: u32,
    /// Job parts one submitter may have in flight; 0: 1024.
    pub completion_capacity: u32,
    /// Replay window per (key, SSRC) in the workers; 0: 128.
    pub replay_window: u32,
    /// Most receive streams per key, counted over every worker, receiver and engine stripe on
    /// the same keys (give them all the same limit); 0: 4096.
    pub max_streams_per_key: u32,
}

/// `mcx_pool_config.flags`: do not pin workers to cores.
pub const MCX_POOL_NO_PIN: u32 = 1;

/// `mcx_pool_submit` kind: protect each packet with its `key_id`.
pub const MCX_JOB_PROTECT: u32 = 0;
/// `mcx_pool_submit` kind: unprotect each packet with the key its MKI names.
pub const MCX_JOB_UNPROTECT: u32 = 1;
/// `mcx_pool_submit` kind: protect `plain` once per packet (recipient) into its `buf`.
pub const MCX_JOB_FAN_OUT: u32 = 2;
/// `mcx_pool_submit` use: whatever each key's purpose implies (protect, unprotect).
pub const MCX_USE_ANY: u32 = 0xffff_ffff;

/// Most packets in one pool job (a larger one is refused with `MCX_INVALID_ARGUMENT`).
pub const MCX_MAX_JOB_PACKETS: usize = 65536;
const _: () = assert!(MCX_MAX_JOB_PACKETS == ::mcx_engine::pool::MAX_JOB_PACKETS);

/// The opaque pool handle: workers pinned to cores, fed through lock-free rings.
pub struct mcx_pool {
    pool: Pool<CBuf>,
}

/// The opaque submitter handle: submits jobs and collects their completions.
pub struct mcx_submitter {
    s: Submitter<CBuf>,
    /// Each job's packet array, to write the results into at completion.
    arrays: HashMap<u64, (*mut mcx_packet, usize)>,
}

fn default_pool_config() -> mcx_pool_config {
    mcx_pool_config {
        struct_size: core::mem::size_of::<mcx_pool_config>() as u32,
        workers: 0,
        flags: 0,
        ring_capacity: 0,
        completion_capacity: 0,
        replay_window: 0,
        max_streams_per_key: 0,
    }
}

/// Starts a pool on the engine's keys (installs and revocations through the engine reach
/// the workers at their next job). `cfg` may be NULL (defaults). Free with `mcx_pool_free`.
///
/// # Safety
/// `e` is a live engine; `cfg` is NULL or readable for `cfg->struct_size` octets; `out` is
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_pool_new(
    e: *const mcx_engine,
    cfg: *const mcx_pool_config,
    out: *mut *mut mcx_pool,
) -> mcx_status {
    boundary(|| {
        if e.is_null() || out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live handle; `cfg` NULL or readable (caller contract).
        let (e, c) = unsafe { (&*e, read_config(cfg, default_pool_config())) };
        let Some(c) = c.filter(|c| c.flags & !MCX_POOL_NO_PIN == 0) else {
            return mcx_status::MCX_INVALID_ARGUMENT;
        };
        let mut engine = EngineConfig::default();
        if c.replay_window != 0 {
            engine.replay_window = c.replay_window;
        }
        if c.max_streams_per_key != 0 {
            engine.max_streams_per_key = c.max_streams_per_key;
        }
        let d = PoolConfig::default();
        let config = PoolConfig {
            workers: c.workers as usize,
            pin: c.flags & MCX_POOL_NO_PIN == 0,
            ring_capacity: match c.ring_capacity {
                0 => d.ring_capacity,
                n => n as usize,
            },
            completion_capacity: match c.completion_capacity {
                0 => d.completion_capacity,
                n => n as usize,
            },
            engine,
            ..d
        };
        match Pool::new(Arc::clone(&e.store), config) {
            Ok(pool) => {
                // SAFETY: `out` is writable (caller contract).
                unsafe { out.write(Box::into_raw(Box::new(mcx_pool { pool }))) };
                mcx_status::MCX_OK
            }
            // Invalid engine settings; or the OS refused a thread (no status of its own yet).
            Err(_) => mcx_status::MCX_INVALID_ARGUMENT,
        }
    })
}

/// Shuts the pool down: refuses new work, finishes every job already accepted, stops the
/// workers and frees the pool. Completions stay pollable on their submitters. NULL is a
/// no-op.
///
/// # Safety
/// `p` is NULL or a pool from `mcx_pool_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_pool_free(p: *mut mcx_pool) {
    let _ = boundary(|| {
        if !p.is_null() {
            // SAFETY: from `Box::into_raw` in `mcx_pool_new`, freed once.
            let p = unsafe { Box::from_raw(p) };
            p.pool.shutdown();
        }
        mcx_status::MCX_OK
    });
}

/// Makes a submitter on `p`: one per thread that submits (a submitter is used by one
/// thread at a time; it may move between threads). Free with `mcx_submitter_free`.
///
/// # Safety
/// `p` is a live pool; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_submitter_new(
    p: *const mcx_pool,
    out: *mut *mut mcx_submitter,
) -> mcx_status {
    boundary(|| {
        if p.is_null() || out.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live pool (caller contract).
        let s = unsafe { &*p }.pool.submitter();
        let h = Box::new(mcx_submitter {
            s,
            arrays: HashMap::new(),
        });
        // SAFETY: `out` is writable (caller contract).
        unsafe { out.write(Box::into_raw(h)) };
        mcx_status::MCX_OK
    })
}

/// Frees a submitter. Jobs still in flight are waited for first (their buffers are in use
/// until then); their results are written but not reported. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a live submitter, not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_submitter_free(s: *mut mcx_submitter) {
    let _ = boundary(|| {
        if !s.is_null() {
            // SAFETY: from `Box::into_raw` in `mcx_submitter_new`, freed once. Held in
            // `ManuallyDrop` until every job is back: should the wait panic, the submitter
            // leaks rather than let workers write into buffers the caller frees next.
            let mut h = core::mem::ManuallyDrop::new(unsafe { Box::from_raw(s) });
            while h.s.in_flight() > 0 {
                if let Some(c) = h.s.wait(None) {
                    // SAFETY: the job's array is still the caller's (submit contract).
                    unsafe { h.report(c.ticket.get(), &c.packets) };
                }
            }
            drop(core::mem::ManuallyDrop::into_inner(h));
        }
        mcx_status::MCX_OK
    });
}

impl mcx_submitter {
    /// Writes a completed job's results into the caller's packet array.
    ///
    /// # Safety
    /// The array recorded for `ticket` is still valid and writable (submit contract).
    unsafe fn report(&mut self, ticket: u64, done: &[Packet<CBuf>]) {
        let Some((arr, n)) = self.arrays.remove(&ticket) else {
            return;
        };
        if n == 0 || arr.is_null() {
            return;
        }
        // SAFETY: `n` writable packets (submit contract), not otherwise referenced now.
        let out = unsafe { core::slice::from_raw_parts_mut(arr, n) };
        for (o, p) in out.iter_mut().zip(done) {
            match p.result {
                Some(Ok(r)) => {
                    o.status = mcx_status::MCX_OK as i32;
                    o.out_len = r.len;
                    o.out_key_id = r.key_id.get();
                }
                Some(Err(e)) => {
                    o.status = of_pool(e) as i32;
                    o.out_len = 0;
                    o.out_key_id = 0;
                }
                None => {
                    o.status = mcx_status::MCX_INTERNAL as i32;
                    o.out_len = 0;
                    o.out_key_id = 0;
                }
            }
        }
    }
}

/// Submits a job: `kind` is `MCX_JOB_PROTECT`, `MCX_JOB_UNPROTECT` or `MCX_JOB_FAN_OUT`;
/// `use_` an `MCX_USE_*` value (`MCX_USE_ANY` for protect and unprotect to follow each
/// key's purpose). For a fan-out, `plain` is the RTCP packet (copied) and each packet a
/// recipient: its `key_id`, and `buf`/`cap` to receive the protected packet. The job is
/// accepted whole (`*ticket_out` names it; each packet's `status` reads `MCX_NOT_READY`
/// until then) or refused whole (`MCX_BUSY`: poll, then submit again; `MCX_CLOSED`;
/// `MCX_INVALID_ARGUMENT`, for more than `MCX_MAX_JOB_PACKETS` packets too). A pool keeps
/// its own replay windows: do not unprotect one stream both through the pool and through
/// `mcx_srtcp_unprotect`, or through two pools. Octets between a packet's `len` and its
/// `cap` may be overwritten.
///
/// The packet array and every buffer in it belong to the pool until `mcx_pool_poll`
/// reports the ticket: keep them valid and leave them alone until then.
///
/// # Safety
/// `s` is a live submitter; `pkts` points to `n` packets whose buffers are writable for
/// their `cap` (unprotect: `len`) and do not overlap; `plain` is readable for `plain_len`
/// (fan-out); `ticket_out` is NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn mcx_pool_submit(
    s: *mut mcx_submitter,
    kind: u32,
    use_: u32,
    plain: *const u8,
    plain_len: usize,
    pkts: *mut mcx_packet,
    n: usize,
    ticket_out: *mut u64,
) -> mcx_status {
    boundary(|| {
        if s.is_null() || (pkts.is_null() && n > 0) || n > MCX_MAX_JOB_PACKETS {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live submitter used by this thread alone (caller contract).
        let h = unsafe { &mut *s };
        let use_ = match use_ {
            MCX_USE_ANY => None,
            u => match use_of(u) {
                Some(u) => Some(u),
                None => return mcx_status::MCX_INVALID_ARGUMENT,
            },
        };
        let ps: &[mcx_packet] = if n == 0 {
            &[]
        } else {
            // SAFETY: `pkts` points to `n` packets (caller contract; non-NULL checked).
            unsafe { core::slice::from_raw_parts(pkts, n) }
        };
        let mut packets = Vec::with_capacity(n);
        for p in ps {
            let room = if kind == MCX_JOB_UNPROTECT {
                p.len
            } else {
                p.cap
            };
            if (p.buf.is_null() && room > 0)
                || (kind != MCX_JOB_FAN_OUT && p.len > room)
                || room > crate::MAX_LEN
            {
                return mcx_status::MCX_INVALID_ARGUMENT;
            }
            let len = if kind == MCX_JOB_FAN_OUT { 0 } else { p.len };
            let buf = CBuf {
                ptr: p.buf,
                len,
                cap: room,
            };
            packets.push(Packet {
                key_id: KeyId::new(p.key_id).ok(),
                buf,
                result: None,
            });
        }
        let now = Timestamp::now();
        let job = match kind {
            MCX_JOB_PROTECT => Job::protect(packets, now),
            MCX_JOB_UNPROTECT => {
                for p in &mut packets {
                    p.key_id = None;
                }
                Job::unprotect(packets, now)
            }
            MCX_JOB_FAN_OUT => {
                let Some(u) = use_ else {
                    return mcx_status::MCX_INVALID_ARGUMENT;
                };
                // SAFETY: `plain` readable for `plain_len` (caller contract).
                let Some(bytes) = (unsafe { crate::keys::bytes(plain, plain_len) }) else {
                    return mcx_status::MCX_INVALID_ARGUMENT;
                };
                Job::fan_out(u, bytes::Bytes::copy_from_slice(bytes), packets, now)
            }
            _ => return mcx_status::MCX_INVALID_ARGUMENT,
        };
        let job = match (kind, use_) {
            (MCX_JOB_FAN_OUT, _) | (_, None) => job,
            (_, Some(u)) => job.for_use(u),
        };
        match h.s.submit(job) {
            Ok(t) => {
                // Until the completion: each packet reads "not ready", no outputs.
                // SAFETY: `n` writable packets (caller contract); the workers touch only
                // the buffers, not the array.
                if let Some(out) = unsafe { crate::srtcp::packets(pkts, n) } {
                    for o in out {
                        o.status = mcx_status::MCX_NOT_READY as i32;
                        o.out_len = 0;
                        o.out_key_id = 0;
                    }
                }
                h.arrays.insert(t.get(), (pkts, n));
                if !ticket_out.is_null() {
                    // SAFETY: writable (caller contract).
                    unsafe { ticket_out.write(t.get()) };
                }
                mcx_status::MCX_OK
            }
            Err(Rejected { reason, .. }) => match reason {
                RejectReason::Busy => mcx_status::MCX_BUSY,
                RejectReason::Closed => mcx_status::MCX_CLOSED,
                _ => mcx_status::MCX_INVALID_ARGUMENT,
            },
        }
    })
}

/// Reports a completed job: writes each packet's `status`, `out_len` and `out_key_id` into
/// the array given to `mcx_pool_submit` (the buffers hold the results) and `*ticket_out`
/// names the job; from then on the array and buffers are the caller's again. `timeout_ms`:
/// 0 returns at once, a negative value waits as long as it takes, a positive one waits at
/// most that long. `MCX_NOT_READY` when nothing completed in that time, and at once when
/// the submitter has no job in flight.
///
/// # Safety
/// `s` is a live submitter used by this thread alone; `ticket_out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcx_pool_poll(
    s: *mut mcx_submitter,
    timeout_ms: i32,
    ticket_out: *mut u64,
) -> mcx_status {
    boundary(|| {
        if s.is_null() {
            return mcx_status::MCX_INVALID_ARGUMENT;
        }
        // SAFETY: a live submitter used by this thread alone (caller contract).
        let h = unsafe { &mut *s };
        let done = match timeout_ms {
            0 => h.s.poll(),
            t if t < 0 => h.s.wait_next(None),
            t => h.s.wait_next(Some(Duration::from_millis(t as u64))),
        };
        let Some(c) = done else {
            return mcx_status::MCX_NOT_READY;
        };
        // SAFETY: the job's array is still the caller's to report into (submit contract).
        unsafe { h.report(c.ticket.get(), &c.packets) };
        if !ticket_out.is_null() {
            // SAFETY: writable (caller contract).
            unsafe { ticket_out.write(c.ticket.get()) };
        }
        mcx_status::MCX_OK
    })
}
