//! The execution layer (ARCHITECTURE.md, layer 3): a pool of worker threads pinned to
//! cores, fed through bounded lock-free rings.
//!
//! ```text
//!  submitter ──submit(job)──► split by hash(key, SSRC) ──► ring of worker k ──► worker k
//!      ▲                                                                        │ engine handle k:
//!      └──poll()/wait()── reassemble ◄── completion ring of the submitter ◄─────┘ replay windows
//! ```
//!
//! - **Sharding.** A job's packets are split by hash(key ID, SSRC) into one part per worker
//!   it touches. Worker k owns the receive state (replay windows) of the streams that hash
//!   to it, in its own [`Engine`] handle, so no receive state is ever shared; the transmit
//!   index of a (key, SSRC) is an atomic in the key store. Parts go through each worker's
//!   ring in submission order, so the packets of one stream are processed in the order they
//!   were submitted.
//! - **Hand-off.** Each worker has a bounded ring ([`crate::sync::Ring`]); each submitter
//!   has a bounded completion ring. A submit reserves room in every ring it needs first, so
//!   it takes the whole job or none of it: a full ring answers [`RejectReason::Busy`] and the
//!   job comes back. A submitter never has more parts in flight than its completion ring
//!   holds, so a worker always has room to hand a part back: no completion is lost and no
//!   worker waits on a submitter.
//! - **Jobs.** Protect, unprotect and fan-out, each part through the engine's batch calls
//!   (key and window lookups of a group issued together, the multi-buffer kernel where it
//!   pays). Buffers are `bytes::BytesMut` and move in and out without copies.
//! - **Faults.** A panic inside a part is caught at the worker's boundary: the part's
//!   unfinished packets complete with [`Error::Internal`], the completion says so, and the
//!   worker serves on.
//! - **Shutdown.** [`Pool::shutdown`] (or drop) refuses new work, waits for submits in
//!   progress, lets every worker drain its ring, and joins the threads; completions stay
//!   in the submitters' rings to be polled.
//! - **Sleeping.** An idle worker polls a little, yields, then parks; a submit unparks the
//!   workers it fed. A submitter blocked in [`Submitter::wait`] is woken once half of its
//!   parts in flight are back (one wake-up, a system call on a worker's core, for many
//!   parts); [`Submitter::wait_next`] wakes at the first part, and [`Submitter::poll`]
//!   never blocks.
//!
//! A CS proxy's receive thread hands each burst of client packets to the pool and polls for
//! what is done between receives:
//!
//! ```
//! use std::sync::Arc;
//! use bytes::BytesMut;
//! use mcx_engine::keys::{KeyId, Purpose, Service};
//! use mcx_engine::store::{KeyInstall, KeyStore, Owner, StoreConfig};
//! use mcx_engine::time::Timestamp;
//! use mcx_engine::pool::{Job, Packet, Pool, PoolConfig, RejectReason};
//! use mcx_engine::srtcp::MAX_SRTCP_TRAILER;
//!
//! let store = Arc::new(KeyStore::new(StoreConfig::default()));
//! let now = Timestamp::now();
//! let csk_id = KeyId::new(0x2000_0a11)?;
//! let alice = Owner::new("sip:alice@example.org");
//! store.install(&KeyInstall::new(&[7; 16], csk_id, &[1; 16], Service::Mcptt, alice,
//!                                "sip:mcptt.example.org"), now)?;
//!
//! // One worker per core, pinned; each owns the replay windows of its shard of streams.
//! let pool = Pool::new(Arc::clone(&store), PoolConfig::default())?;
//! let mut submitter = pool.submitter(); // one per submitting thread
//!
//! // A burst of floor-control packets toward alice: protect them with her CSK. Leave room
//! // for the SRTCP trailer so the buffers never move.
//! let burst: Vec<Packet> = (0..4u8)
//!     .map(|i| {
//!         let mut b = BytesMut::with_capacity(12 + MAX_SRTCP_TRAILER);
//!         b.extend_from_slice(&[0x80, 0xcc, 0x00, 0x02, 0xca, 0xfe, 0x00, i, b'M', b'C', b'P', b'T']);
//!         Packet::protect(csk_id, b)
//!     })
//!     .collect();
//! match submitter.submit(Job::protect(burst, now)) {
//!     Ok(_ticket) => {}
//!     Err(r) if r.reason == RejectReason::Busy => { /* back-pressure: poll, then resubmit r.job */ }
//!     Err(r) => return Err(r.into()),
//! }
//!
//! // Between receives: take what is done (never blocks); or `wait` when idle.
//! let done = loop {
//!     if let Some(c) = submitter.poll() {
//!         break c;
//!     }
//!     # std::thread::yield_now();
//! };
//! for p in &done.packets {
//!     let sent = p.result.unwrap()?; // per-packet result; p.buf is the SRTCP packet
//!     assert_eq!(&p.buf[sent.len - 4..], &csk_id.get().to_be_bytes()); // MKI = CSK-ID
//! }
//! let stats = pool.shutdown(); // drains accepted work, joins the workers
//! assert_eq!(stats.total().packets, 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod job;
mod stats;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use crossbeam_utils::CachePadded;
use crossbeam_utils::sync::{Parker, Unparker};

pub use error::Error;
pub use job::{Completion, Job, JobKind, Packet, RejectReason, Rejected, Ticket};
pub use stats::{Cause, PoolStats, WorkerStats};

use crate::datapath::StreamId;
use crate::srtcp::ConfigError;
use crate::store::KeyStore;
use crate::sync::{AtomicBool, AtomicUsize, Gather, Ordering, Ring, fence, scatter, spin_wait};
use crate::{Engine, EngineConfig};
use stats::Counters;
use worker::{Part, PartPackets, Worker};

/// A packet buffer the pool can work in: `bytes::BytesMut` (the default), or the caller's
/// own memory (the C ABI lends the caller's buffers this way). Protect needs room for the
/// trailer after the packet: a buffer that cannot take it fails that packet with
/// `BufferTooSmall`; `BytesMut` grows instead (one copy).
pub trait PacketBuf: Send + 'static {
    /// The packet's octets.
    fn bytes(&self) -> &[u8];
    /// The packet's octets, writable.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Sets the length to `len`, octets past the old length zero; `false` (and unchanged)
    /// when the buffer cannot hold `len` octets.
    fn set_len_zeroed(&mut self, len: usize) -> bool;
    /// Shortens the packet to `len` octets (no effect if it is not longer).
    fn truncate(&mut self, len: usize);
}

impl PacketBuf for BytesMut {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn set_len_zeroed(&mut self, len: usize) -> bool {
        self.resize(len, 0);
        true
    }
    fn truncate(&mut self, len: usize) {
        BytesMut::truncate(self, len);
    }
}

/// Most workers a pool runs (more are cut to this).
pub const MAX_WORKERS: usize = 1024;

/// Most parts a worker's ring or a submitter's completion ring holds (larger settings are
/// cut to this).
pub const MAX_RING_CAPACITY: usize = 1 << 20;

/// Most packets in one job; a larger job is refused with [`RejectReason::TooLarge`].
pub const MAX_JOB_PACKETS: usize = 1 << 16;

/// How the pool is built.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Number of workers; 0: one per core available to the process. At most
    /// [`MAX_WORKERS`].
    pub workers: usize,
    /// Cores to pin workers to, in worker order (worker i gets `cores[i % len]`); empty: the
    /// cores available to the process, in the order the OS lists them.
    pub cores: Vec<usize>,
    /// Pin each worker to its core (default on). Off: the OS schedules them.
    pub pin: bool,
    /// Job parts each worker's ring holds (rounded up to a power of two, at most
    /// [`MAX_RING_CAPACITY`]). Default 1024.
    pub ring_capacity: usize,
    /// Job parts a submitter may have in flight (its completion ring; rounded up to a power
    /// of two, at least the number of workers, at most [`MAX_RING_CAPACITY`]). Default 1024.
    pub completion_capacity: usize,
    /// Settings of the workers' engine handles (replay window, streams per key).
    pub engine: EngineConfig,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            workers: 0,
            cores: Vec::new(),
            pin: true,
            ring_capacity: 1024,
            completion_capacity: 1024,
            engine: EngineConfig::default(),
        }
    }
}

/// Why a pool could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// The engine settings are invalid.
    Engine(ConfigError),
    /// The OS refused to start a worker thread.
    Spawn(std::io::Error),
}

impl core::fmt::Display for PoolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PoolError::Engine(e) => write!(f, "engine settings: {e}"),
            PoolError::Spawn(e) => write!(f, "cannot start a worker thread: {e}"),
        }
    }
}

impl core::error::Error for PoolError {}

/// What workers and submitters share.
pub(crate) struct Shared<B> {
    workers: Box<[WorkerSlot<B>]>,
    /// Submits between their `closing` check and their last push.
    submitting: CachePadded<AtomicUsize>,
    /// Set by shutdown: submits are refused from now on.
    closing: AtomicBool,
    /// Set once no submit is in progress any more: workers drain their rings and leave.
    stop: AtomicBool,
    completion_capacity: usize,
}

struct WorkerSlot<B> {
    ring: Ring<Part<B>>,
    /// Ring positions promised to submits (pushed or about to be).
    reserved: CachePadded<AtomicUsize>,
    unparker: Unparker,
    counters: CachePadded<Counters>,
}

/// A submitter's completion ring and the means to wake it.
pub(crate) struct Done<B> {
    ring: Ring<PartDone<B>>,
    unparker: Unparker,
    /// While the submitter sleeps: how many parts in the ring should wake it (`usize::MAX`
    /// when it is awake). A worker wakes it only then, so one wake-up (a system call on the
    /// worker's core) serves several parts.
    wake_at: CachePadded<AtomicUsize>,
}

impl<B> Done<B> {
    /// After a worker pushed a part: wakes the submitter if it waits for this many.
    fn pushed(&self) {
        // Store-buffering with `Submitter::park_until`: the push, then the check here; the
        // submitter's `wake_at`, then its check of the ring. With a SeqCst fence on each
        // side one of the two checks sees the other's write, so a wake-up is never missed.
        fence(Ordering::SeqCst);
        if self.ring.len() >= self.wake_at.load(Ordering::Relaxed) {
            self.unparker.unpark();
        }
    }
}

/// A part handed back by a worker.
struct PartDone<B> {
    ticket: u64,
    /// The job's vector, when the part was the whole job (a share is dropped by the worker).
    packets: Option<Vec<Packet<B>>>,
    panicked: bool,
}

/// The worker pool. Dropping it shuts it down (see [`Pool::shutdown`]).
pub struct Pool<B: PacketBuf = BytesMut> {
    shared: Arc<Shared<B>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl<B: PacketBuf> core::fmt::Debug for Pool<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.shared.workers.len())
            .field("closing", &self.shared.closing.load(Ordering::Relaxed))
            .finish()
    }
}

impl<B: PacketBuf> Pool<B> {
    /// Starts the workers on `store`.
    pub fn new(store: Arc<KeyStore>, config: PoolConfig) -> Result<Pool<B>, PoolError> {
        let template = Engine::new(store, config.engine).map_err(PoolError::Engine)?;
        let available = core_affinity::get_core_ids().unwrap_or_default();
        let cores: Vec<core_affinity::CoreId> = if config.cores.is_empty() {
            available
        } else {
            config
                .cores
                .iter()
                .map(|&id| core_affinity::CoreId { id })
                .collect()
        };
        let n = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(MAX_WORKERS);
        let parkers: Vec<Parker> = (0..n).map(|_| Parker::new()).collect();
        let shared = Arc::new(Shared {
            workers: parkers
                .iter()
                .map(|p| WorkerSlot {
                    ring: Ring::new(config.ring_capacity.min(MAX_RING_CAPACITY)),
                    reserved: CachePadded::new(AtomicUsize::new(0)),
                    unparker: p.unparker().clone(),
                    counters: CachePadded::new(Counters::new()),
                })
                .collect(),
            submitting: CachePadded::new(AtomicUsize::new(0)),
            closing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            // A job may touch every worker: a submitter must be able to have that many parts
            // out, or such a job would be refused for ever.
            completion_capacity: config
                .completion_capacity
                .clamp(n.max(2), MAX_RING_CAPACITY)
                .next_power_of_two(),
        });
        let mut pool = Pool {
            shared: Arc::clone(&shared),
            threads: Vec::with_capacity(n),
        };
        for (me, parker) in parkers.into_iter().enumerate() {
            let core = (config.pin && !cores.is_empty()).then(|| cores[me % cores.len()]);
            let w = Worker::new(Arc::clone(&shared), me, template.handle(), parker, core);
            let t = std::thread::Builder::new()
                .name(format!("mcx-worker-{me}"))
                .spawn(move || w.run())
                .map_err(PoolError::Spawn)?;
            pool.threads.push(t);
        }
        Ok(pool)
    }

    /// A submitter: one per thread that submits work.
    pub fn submitter(&self) -> Submitter<B> {
        let parker = Parker::new();
        Submitter {
            done: Arc::new(Done {
                ring: Ring::new(self.shared.completion_capacity),
                unparker: parker.unparker().clone(),
                wake_at: CachePadded::new(AtomicUsize::new(usize::MAX)),
            }),
            parker,
            shared: Arc::clone(&self.shared),
            next: 0,
            parts_out: 0,
            pending: BTreeMap::new(),
            ready: BTreeMap::new(),
            route: Vec::new(),
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.shared.workers.len()
    }

    /// The workers' counters now (no lock; each figure is a relaxed snapshot).
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// Refuses new work, lets the workers finish everything already accepted, stops them
    /// and returns the final figures. Completions wait in the submitters' rings.
    pub fn shutdown(mut self) -> PoolStats {
        self.close();
        self.shared.stats()
    }

    fn close(&mut self) {
        let s = &self.shared;
        s.closing.store(true, Ordering::SeqCst);
        // A submit increments `submitting` before it checks `closing` (both SeqCst): either
        // it saw `closing` and refused, or it is counted here and gets to finish its pushes.
        while s.submitting.load(Ordering::SeqCst) != 0 {
            spin_wait();
        }
        s.stop.store(true, Ordering::Release);
        for w in s.workers.iter() {
            w.unparker.unpark();
        }
        for t in self.threads.drain(..) {
            // A worker catches panics per part; a join error would be a panic outside a
            // part, and there is nothing left to do for that thread.
            let _ = t.join();
        }
    }
}

impl<B: PacketBuf> Drop for Pool<B> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.close();
        }
    }
}

impl<B> Shared<B> {
    fn stats(&self) -> PoolStats {
        PoolStats {
            workers: self
                .workers
                .iter()
                .map(|w| w.counters.snapshot(w.ring.capacity()))
                .collect(),
        }
    }
}

/// A job waiting for its parts.
struct Pending<B> {
    kind: JobKind,
    parts_left: usize,
    /// The job's vector, while the workers hold shares of it (a one-part job: `None`, the
    /// vector itself comes back with the part).
    gather: Option<Gather<Packet<B>>>,
    clean: bool,
}

/// Submits jobs and collects their completions. Owned by one thread at a time (it may move
/// between threads); make one per submitting thread with [`Pool::submitter`].
pub struct Submitter<B: PacketBuf = BytesMut> {
    shared: Arc<Shared<B>>,
    done: Arc<Done<B>>,
    parker: Parker,
    next: u64,
    /// Parts submitted and not yet taken from the completion ring.
    parts_out: usize,
    /// Jobs in flight, by ticket.
    pending: BTreeMap<u64, Pending<B>>,
    /// Finished jobs by ticket, handed out in submission order.
    ready: BTreeMap<u64, Completion<B>>,
    /// Scratch: the worker of each packet of the job being submitted.
    route: Vec<u16>,
}

impl<B: PacketBuf> core::fmt::Debug for Submitter<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Submitter")
            .field("parts_in_flight", &self.parts_out)
            .field("jobs_pending", &self.pending.len())
            .field("ready", &self.ready.len())
            .finish()
    }
}

/// The worker whose shard holds the stream of `p` ([`StreamId::shard`]). Unparsable
/// packets go to worker 0, which reports their error.
pub(crate) fn shard_of<B: PacketBuf>(
    kind: JobKind,
    p: &Packet<B>,
    plain: &[u8],
    workers: usize,
) -> usize {
    let stream = match kind {
        JobKind::Protect => p.key_id.and_then(|k| StreamId::of_rtcp(k, p.buf.bytes())),
        // A fan-out's packets carry the plaintext's SSRC: the same stream as a protect of it.
        JobKind::FanOut => p.key_id.and_then(|k| StreamId::of_rtcp(k, plain)),
        JobKind::Unprotect => StreamId::of_srtcp(p.buf.bytes()),
        // Spread by index by the caller; not reached.
        JobKind::XmlProtect
        | JobKind::XmlUnprotect
        | JobKind::McdataProtect
        | JobKind::McdataUnprotect => None,
    };
    stream.map_or(0, |s| s.shard(workers))
}

impl<B: PacketBuf> Submitter<B> {
    /// Hands `job` to the workers. The whole job is accepted, or none of it: on
    /// [`RejectReason::Busy`] poll completions (or wait) and submit again.
    pub fn submit(&mut self, job: Job<B>) -> Result<Ticket, Rejected<B>> {
        let shared = Arc::clone(&self.shared);
        let workers = shared.workers.len();
        if job.packets.is_empty() {
            return self.accept_empty(job, &shared);
        }
        // Which worker takes each packet, and how many parts that makes.
        self.route.clear();
        if job.packets.len() > MAX_JOB_PACKETS {
            return Err(Rejected {
                reason: RejectReason::TooLarge,
                job,
            });
        }
        let mut used = [0usize; 64];
        let mut seen = vec![0usize; 0];
        let counts: &mut [usize] = if workers <= used.len() {
            &mut used[..workers]
        } else {
            seen.resize(workers, 0);
            &mut seen
        };
        for (i, p) in job.packets.iter().enumerate() {
            // XML and MCData jobs have no streams to keep in order: spread them evenly.
            let w = if job.app.is_some() {
                i % workers
            } else {
                shard_of(job.kind, p, &job.plain, workers)
            };
            counts[w] += 1;
            self.route.push(w as u16);
        }
        let parts = counts.iter().filter(|&&c| c > 0).count();
        if self.parts_out + parts > self.done.ring.capacity() {
            return Err(Rejected {
                reason: RejectReason::Busy,
                job,
            });
        }
        shared.submitting.fetch_add(1, Ordering::SeqCst);
        if shared.closing.load(Ordering::SeqCst) {
            shared.submitting.fetch_sub(1, Ordering::SeqCst);
            return Err(Rejected {
                reason: RejectReason::Closed,
                job,
            });
        }
        // Room in every ring this job needs, before anything is pushed.
        for (w, slot) in shared.workers.iter().enumerate() {
            if counts[w] == 0 {
                continue;
            }
            if slot.reserved.fetch_add(1, Ordering::AcqRel) >= slot.ring.capacity() {
                for (c, taken) in counts[..=w].iter().zip(shared.workers.iter()) {
                    if *c > 0 {
                        taken.reserved.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                shared.submitting.fetch_sub(1, Ordering::SeqCst);
                return Err(Rejected {
                    reason: RejectReason::Busy,
                    job,
                });
            }
        }
        let ticket = self.next;
        self.next += 1;
        let Job {
            kind,
            use_,
            now,
            plain,
            packets,
            app,
        } = job;
        let part = |packets: PartPackets<B>| Part {
            ticket,
            kind,
            use_,
            now,
            plain: plain.clone(),
            packets,
            app: app.clone(),
            done: Arc::clone(&self.done),
        };
        let mut gather = None;
        let mut out: Vec<(usize, Part<B>)> = Vec::with_capacity(parts);
        if parts == 1 {
            out.push((
                usize::from(self.route[0]),
                part(PartPackets::Whole(packets)),
            ));
        } else {
            let (g, shares) = scatter(packets, &self.route, workers);
            gather = Some(g);
            for (w, share) in shares.into_iter().enumerate() {
                if let Some(share) = share {
                    out.push((w, part(PartPackets::Share(share))));
                }
            }
        }
        for (w, p) in out {
            let slot = &shared.workers[w];
            let mut p = p;
            // Room was reserved above; the loop only guards that promise.
            while let Err(back) = slot.ring.push(p) {
                p = back;
                spin_wait();
            }
            slot.unparker.unpark();
        }
        shared.submitting.fetch_sub(1, Ordering::SeqCst);
        self.parts_out += parts;
        self.pending.insert(
            ticket,
            Pending {
                kind,
                parts_left: parts,
                gather,
                clean: true,
            },
        );
        Ok(Ticket(ticket))
    }

    fn accept_empty(&mut self, job: Job<B>, shared: &Shared<B>) -> Result<Ticket, Rejected<B>> {
        if shared.closing.load(Ordering::SeqCst) {
            return Err(Rejected {
                reason: RejectReason::Closed,
                job,
            });
        }
        let ticket = Ticket(self.next);
        self.next += 1;
        self.ready.insert(
            ticket.0,
            Completion {
                ticket,
                kind: job.kind,
                packets: Vec::new(),
                clean: true,
            },
        );
        Ok(ticket)
    }

    /// Takes the parts workers handed back; returns whether any arrived.
    fn drain(&mut self) -> bool {
        let mut any = false;
        while let Some(d) = self.done.ring.pop() {
            any = true;
            self.parts_out -= 1;
            let Some(job) = self.pending.get_mut(&d.ticket) else {
                continue;
            };
            job.parts_left -= 1;
            job.clean &= !d.panicked;
            if job.parts_left > 0 {
                continue;
            }
            let Some(job) = self.pending.remove(&d.ticket) else {
                continue;
            };
            let packets = match (d.packets, job.gather) {
                (Some(v), _) => v,
                (None, Some(mut g)) => loop {
                    // Every worker dropped its share before handing its part back, so this
                    // succeeds at once; the loop only guards that order.
                    match g.into_vec() {
                        Ok(v) => break v,
                        Err(back) => {
                            g = back;
                            spin_wait();
                        }
                    }
                },
                (None, None) => Vec::new(),
            };
            self.ready.insert(
                d.ticket,
                Completion {
                    ticket: Ticket(d.ticket),
                    kind: job.kind,
                    packets,
                    clean: job.clean,
                },
            );
        }
        any
    }

    /// The oldest job submitted and not yet returned, if it has finished. Never blocks.
    /// Jobs come back in the order they were submitted (a job that finished early waits for
    /// the ones before it), so the packets of a stream spread over several jobs come back in
    /// order too.
    pub fn poll(&mut self) -> Option<Completion<B>> {
        self.drain();
        let (&first, _) = self.ready.first_key_value()?;
        if self
            .pending
            .first_key_value()
            .is_some_and(|(&p, _)| p < first)
        {
            return None;
        }
        self.ready.remove(&first)
    }

    /// Waits up to `timeout` (`None`: as long as it takes) for a finished job. Returns
    /// `None` at the timeout, or at once when nothing is in flight.
    ///
    /// For throughput, a waiting submitter sleeps until half of its parts in flight are
    /// back, not just the first (a wake-up costs a worker a system call): it then drains
    /// them together. Jobs finish no later for it; this call may return a little later.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Option<Completion<B>> {
        self.wait_for_parts(timeout, |parts_out| (parts_out / 2).max(1))
    }

    /// As [`Submitter::wait`], but woken by the first part a worker hands back: the lowest
    /// latency (floor control waiting on one small job), at the price of a wake-up (a system
    /// call on a worker's core) per part.
    pub fn wait_next(&mut self, timeout: Option<Duration>) -> Option<Completion<B>> {
        self.wait_for_parts(timeout, |_| 1)
    }

    fn wait_for_parts(
        &mut self,
        timeout: Option<Duration>,
        want: impl Fn(usize) -> usize,
    ) -> Option<Completion<B>> {
        // A timeout too long to add to now is no timeout.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(c) = self.poll() {
                return Some(c);
            }
            if self.pending.is_empty() {
                return None;
            }
            self.park_until(deadline, want(self.parts_out))?;
        }
    }

    /// Sleeps until `want` parts wait in the completion ring (or a worker woke it for
    /// less: callers loop), or until `deadline` passes (`None` then).
    fn park_until(&self, deadline: Option<Instant>, want: usize) -> Option<()> {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return None;
        }
        self.done.wake_at.store(want, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.done.ring.len() < want {
            match deadline {
                None => self.parker.park(),
                Some(d) => self.parker.park_timeout(d - now),
            }
        }
        self.done.wake_at.store(usize::MAX, Ordering::Relaxed);
        Some(())
    }

    /// The blocking convenience: submits `job` (waiting while the pool is busy) and waits
    /// for its completion. Completions of other jobs that arrive meanwhile stay queued for
    /// [`Submitter::poll`]. Fails only when the pool is closed.
    pub fn run(&mut self, job: Job<B>) -> Result<Completion<B>, Rejected<B>> {
        let mut job = job;
        let ticket = loop {
            match self.submit(job) {
                Ok(t) => break t,
                Err(Rejected {
                    reason: RejectReason::Busy,
                    job: back,
                }) => {
                    job = back;
                    if !self.drain() {
                        if self.pending.is_empty() {
                            std::thread::yield_now();
                        } else {
                            let soon = Instant::now() + Duration::from_millis(1);
                            let _ = self.park_until(Some(soon), 1);
                        }
                    }
                }
                Err(closed) => return Err(closed),
            }
        };
        loop {
            self.drain();
            if let Some(c) = self.ready.remove(&ticket.0) {
                return Ok(c);
            }
            let _ = self.park_until(None, 1);
        }
    }

    /// Jobs submitted and not yet returned by `poll`, `wait` or `run` (finished ones
    /// waiting to be taken included).
    pub fn in_flight(&self) -> usize {
        self.pending.len() + self.ready.len()
    }
}
