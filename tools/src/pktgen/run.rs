//! The generator threads: each owns its sockets on one `mcx-io` backend, sends its
//! streams' packets when they are due (open loop: the schedule, not the replies, sets the
//! pace) and verifies every datagram that reaches its sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mcx_engine::keys::{KeyId, Purpose, SrtcpUse};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig};
use mcx_io::backend::{Backend, BackendStats, Dest, IoKind, Outgoing, Received};
use mcx_io::bufs::{SLOT_SIZE, Slab, SlotRef};
use mcx_io::sock::{UdpSocket, Waker};

use super::schedule::Schedule;
use super::setup::{ClientKeys, KeyRef, Stream};
use super::traffic::{self, Class, HOSTILE, Plan, REF_AT, REF_END, Slot};

/// A latency histogram in µs, 1 µs to 60 s, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// How long a key stays acceptable after the rollover that replaced it ended (packets in
/// flight under it).
pub const ROLLOVER_GRACE_US: u64 = 50_000;

/// What the threads share.
pub struct Shared {
    /// The run's plan.
    pub plan: Plan,
    /// The streams.
    pub streams: Vec<Stream>,
    /// The generator's key store.
    pub store: Arc<mcx_engine::store::KeyStore>,
    /// The clients' CSKs.
    pub keys: Arc<ClientKeys>,
    /// The run's tag (in every packet).
    pub tag: u32,
    /// The schedule (`None`: as fast as possible for `flat_us`).
    pub schedule: Option<Schedule>,
    /// The run's length in µs when flat out.
    pub flat_us: u64,
    /// Report interval in µs.
    pub report_us: u64,
    /// Packets the pcap may still take.
    pub pcap_left: AtomicUsize,
    /// Stops every thread early: set by the coordinator (a failed rollover, an interrupt)
    /// or by a thread that failed.
    pub abort: AtomicBool,
    /// Threads still sending: the others keep receiving until it is 0.
    pub sending: AtomicUsize,
    /// Datagrams per send and per receive.
    pub batch: usize,
}

/// One report interval of one thread.
#[derive(Debug)]
pub struct Interval {
    /// Which interval (0 from the start).
    pub index: u64,
    /// The thread.
    pub thread: usize,
    /// Datagrams sent in it.
    pub sent: u64,
    /// Verified deliveries in it.
    pub received: u64,
    /// Their latencies.
    pub latency: Histogram<u64>,
    /// The thread's last report.
    pub last: bool,
}

impl Interval {
    /// An empty interval `index` of `thread`.
    fn new(index: u64, thread: usize) -> Interval {
        Interval {
            index,
            thread,
            sent: 0,
            received: 0,
            latency: histogram(),
            last: false,
        }
    }
}

/// The verifier's record of one (stream, target).
#[derive(Clone, Debug, Default)]
pub struct Track {
    bits: Vec<u64>,
    /// Verified, first copies.
    pub delivered: u64,
    /// Arrived after a later packet of the same stream.
    pub reordered: u64,
    /// Second copies of a genuine packet (not replays the plan sent).
    pub duplicated: u64,
    next: u64,
}

impl Track {
    /// Whether packet `k` arrived.
    pub fn has(&self, k: u64) -> bool {
        self.bits
            .get((k / 64) as usize)
            .is_some_and(|w| w >> (k % 64) & 1 == 1)
    }

    /// Records `k`; false when it was there already.
    fn set(&mut self, k: u64) -> bool {
        let w = (k / 64) as usize;
        if w >= self.bits.len() {
            self.bits.resize((w + 1).next_power_of_two(), 0);
        }
        let m = 1u64 << (k % 64);
        let fresh = self.bits[w] & m == 0;
        self.bits[w] |= m;
        fresh
    }
}

/// What one thread reports at the end.
pub struct ThreadResult {
    /// The thread.
    pub thread: usize,
    /// Per stream: slots sent (its next `k`), 0 for other threads' streams.
    pub sent_k: Vec<u64>,
    /// Per stream: the `k` range sent while the rollover ran (plus its grace).
    pub rollover_k: Vec<(u64, u64)>,
    /// Per (stream, target index): the verifier's record, for the targets this thread owns.
    pub tracks: Vec<((usize, usize), Track)>,
    /// Datagrams sent, by slot kind: genuine, forged, replayed, truncated, unknown key.
    pub sent: [u64; 5],
    /// Verified deliveries.
    pub received: u64,
    /// Datagrams that failed verification, by reason.
    pub corrupted: Corrupted,
    /// Hostile packets that came through.
    pub forged_delivered: u64,
    /// The same SRTCP packet arriving twice (the replay window refused the copy).
    pub wire_duplicates: u64,
    /// Packets the generator's own protect refused (sent as nothing).
    pub protect_failed: u64,
    /// Slots not sent because their CSK was being replaced.
    pub rollover_unsent: u64,
    /// Latency, all, emergency, normal.
    pub latency: [Histogram<u64>; 3],
    /// Times a due packet waited for a free slot.
    pub backpressure: u64,
    /// The backend's counters.
    pub io: BackendStats,
    /// CPU time of the thread, ns.
    pub cpu_ns: u64,
    /// The first packets sent, in clear: (µs, from, to, plaintext).
    pub pcap: Vec<(u64, SocketAddr, SocketAddr, Vec<u8>)>,
}

/// Why datagrams failed verification.
#[derive(Clone, Copy, Debug, Default)]
pub struct Corrupted {
    /// Did not unprotect under any key the generator holds.
    pub unprotect: u64,
    /// Under a key the stream does not use now.
    pub wrong_key: u64,
    /// Not the run's packet (tag, identifier or stream).
    pub unknown: u64,
    /// At a socket that is not the stream's receiver.
    pub misrouted: u64,
    /// An octet differs from what was expected.
    pub content: u64,
}

impl Corrupted {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.unprotect + self.wrong_key + self.unknown + self.misrouted + self.content
    }

    /// Adds `o`.
    pub fn add(&mut self, o: &Corrupted) {
        self.unprotect += o.unprotect;
        self.wrong_key += o.wrong_key;
        self.unknown += o.unknown;
        self.misrouted += o.misrouted;
        self.content += o.content;
    }
}

/// CPU time of the calling thread in ns.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn use_of(key: KeyId) -> SrtcpUse {
    match key.purpose() {
        Purpose::Spk => SrtcpUse::ServerToServer,
        Purpose::Musik | Purpose::Mkfc => SrtcpUse::Multicast,
        Purpose::Mscck => SrtcpUse::MbmsSubchannel,
        _ => SrtcpUse::Unicast,
    }
}

fn key_now(keys: &ClientKeys, r: KeyRef) -> KeyId {
    match r {
        KeyRef::Fixed(k) => k,
        KeyRef::Client(c) => {
            KeyId::new(keys.current[c as usize].load(Ordering::Acquire)).expect("a CSK ID")
        }
    }
}

/// Whether `got` is a key `r` may arrive under, for a packet sent at `sent_us`: the CSK the
/// client has now or is moving to, or the one it had for packets sent before the rollover
/// ended (and its grace: what the relay protected under it may still be on its way).
fn key_ok(keys: &ClientKeys, r: KeyRef, got: KeyId, sent_us: u64) -> bool {
    match r {
        KeyRef::Fixed(k) => k == got,
        KeyRef::Client(c) => {
            let c = c as usize;
            if keys.current[c].load(Ordering::Acquire) == got.get()
                || keys.next[c].load(Ordering::Acquire) == got.get()
            {
                return true;
            }
            let end = keys.roll_end_us.load(Ordering::Acquire);
            keys.previous[c].load(Ordering::Acquire) == got.get()
                && (end == 0 || sent_us < end + ROLLOVER_GRACE_US)
        }
    }
}

/// The backend over `socks`.
pub fn backend(
    io: IoKind,
    socks: Vec<UdpSocket>,
    batch: usize,
) -> Result<Box<dyn Backend>, String> {
    let waker = Arc::new(Waker::new().map_err(|e| format!("eventfd: {e}"))?);
    let tx_max = batch * 2;
    Ok(match io {
        IoKind::Uring => Box::new(
            mcx_io::uring::Uring::new(socks, waker, batch, tx_max, Duration::ZERO)
                .map_err(|e| format!("io_uring: {e}"))?,
        ),
        IoKind::Mmsg => Box::new(mcx_io::mmsg::Mmsg::new(
            socks,
            waker,
            batch,
            tx_max,
            Duration::ZERO,
        )),
    })
}

/// A generator thread's state.
struct Gen<'a> {
    sh: &'a Shared,
    tx: Engine,
    rx: Engine,
    start: Instant,
    /// This thread's streams, in index order.
    mine: Vec<usize>,
    dests: Vec<Dest>,
    last_genuine: Vec<Vec<u8>>,
    /// Per stream: the index of each target this thread owns, by socket.
    by_sock: Vec<Vec<(u16, usize)>>,
    tracks: Vec<Option<Vec<Track>>>,
    r: ThreadResult,
    interval: Interval,
    scratch: Vec<u8>,
    roll_seen: (bool, bool),
}

impl Gen<'_> {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Lays slot `g`'s packet into `buf`; its length.
    fn fill(&mut self, g: u64, t_us: u64, buf: &mut [u8], now: Timestamp) -> Option<usize> {
        let n = self.sh.plan.streams();
        let s = (g % n) as usize;
        let st = &self.sh.streams[s];
        let slot = self.sh.plan.slot(g);
        let (variant, id, key) = match slot {
            Slot::Genuine(v) => (v, g as u32, key_now(&self.sh.keys, st.key)),
            Slot::UnknownKey => (
                self.sh.plan.hostile_variant(g),
                g as u32 | HOSTILE,
                st.unknown_key,
            ),
            Slot::Replayed if !self.last_genuine[s].is_empty() => {
                let p = &self.last_genuine[s];
                buf[..p.len()].copy_from_slice(p);
                self.r.sent[2] += 1;
                return Some(p.len());
            }
            _ => (
                self.sh.plan.hostile_variant(g),
                g as u32 | HOSTILE,
                key_now(&self.sh.keys, st.key),
            ),
        };
        let tpl = &st.templates[variant as usize];
        let len = tpl.len();
        buf[..len].copy_from_slice(tpl);
        traffic::stamp(&mut buf[..len], self.sh.tag, id, t_us as u32);
        if self
            .sh
            .pcap_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            self.r
                .pcap
                .push((t_us, st.from, st.to, buf[..len].to_vec()));
        }
        let Ok(p) = self.tx.srtcp_protect_for(use_of(key), key, buf, len, now) else {
            // While the CSKs roll over, the old one stops protecting once the new one is in
            // the generator's store, before the relay's sessions move: such a slot is not
            // sent, and counts as lost in the rollover window.
            let keys = &self.sh.keys;
            let end = keys.roll_end_us.load(Ordering::Acquire);
            if keys.roll_start_us.load(Ordering::Acquire) != 0
                && (end == 0 || t_us < end + ROLLOVER_GRACE_US)
            {
                self.r.rollover_unsent += 1;
            } else {
                self.r.protect_failed += 1;
            }
            return None;
        };
        let mut out = p.len;
        match slot {
            Slot::Genuine(_) => {
                self.r.sent[0] += 1;
                // Kept for the replays, when the plan has any.
                if self.sh.plan.replays() {
                    let l = &mut self.last_genuine[s];
                    l.clear();
                    l.extend_from_slice(&buf[..out]);
                }
            }
            Slot::Truncated => {
                out -= 1 + (g % 8) as usize;
                self.r.sent[3] += 1;
            }
            Slot::UnknownKey => self.r.sent[4] += 1,
            _ => {
                // Forged (or a replay with nothing to replay yet): one octet of the
                // encrypted part flipped.
                buf[REF_AT] ^= 0x5a;
                self.r.sent[1] += 1;
            }
        }
        Some(out)
    }

    fn verify(&mut self, sock: u16, data: &[u8], now: Timestamp, now_us: u64) {
        let c = &mut self.r.corrupted;
        if data.len() > self.scratch.len() {
            c.unknown += 1;
            return;
        }
        let buf = &mut self.scratch[..data.len()];
        buf.copy_from_slice(data);
        let p = match self.rx.srtcp_unprotect(buf, now) {
            Ok(p) => p,
            Err(mcx_engine::Error::Srtcp(mcx_engine::srtcp::Error::Replayed)) => {
                // The same SRTCP packet twice: a duplicate on the way, not a forgery.
                self.r.wire_duplicates += 1;
                return;
            }
            Err(_) => {
                c.unprotect += 1;
                return;
            }
        };
        let pt = &self.scratch[..p.len];
        let Some((tag, id, t)) = traffic::refs(pt) else {
            c.unknown += 1;
            return;
        };
        if tag != self.sh.tag {
            c.unknown += 1;
            return;
        }
        if id & HOSTILE != 0 {
            self.r.forged_delivered += 1;
            return;
        }
        let n = self.sh.plan.streams();
        let g = u64::from(id);
        let limit = self
            .sh
            .schedule
            .as_ref()
            .map_or(super::scenario::MAX_PACKETS, Schedule::total);
        if g >= limit {
            c.unknown += 1;
            return;
        }
        let (s, k) = ((g % n) as usize, g / n);
        let Some(ti) = self.by_sock[s]
            .iter()
            .find(|(x, _)| *x == sock)
            .map(|x| x.1)
        else {
            c.misrouted += 1;
            return;
        };
        let st = &self.sh.streams[s];
        let target = &st.targets[ti];
        if !key_ok(&self.sh.keys, target.key, p.key_id, u64::from(t)) {
            c.wrong_key += 1;
            return;
        }
        let Slot::Genuine(v) = self.sh.plan.slot(g) else {
            c.unknown += 1;
            return;
        };
        let tpl = &target.templates[v as usize];
        let t_ok = match &self.sh.schedule {
            Some(sc) => u64::from(t) == sc.time_us(g),
            None => u64::from(t) <= now_us,
        };
        if pt.len() != tpl.len()
            || pt[..REF_AT] != tpl[..REF_AT]
            || pt[REF_END..] != tpl[REF_END..]
            || !t_ok
        {
            if std::env::var_os("MCX_PKTGEN_DEBUG").is_some() && c.content < 3 {
                eprintln!(
                    "mcx-pktgen: stream {s} ({:?}) target {ti} variant {v}:\n got  {}\n want {}",
                    st.kind,
                    hex::encode(pt),
                    hex::encode(tpl)
                );
            }
            c.content += 1;
            return;
        }
        let tracks = self.tracks[s].as_mut().expect("a target of this thread");
        let tr = &mut tracks[ti];
        if !tr.set(k) {
            if self.sh.plan.is_replay_of(g % n, k) {
                self.r.forged_delivered += 1;
            } else {
                tr.duplicated += 1;
            }
            return;
        }
        tr.delivered += 1;
        if k + 1 < tr.next {
            tr.reordered += 1;
        } else {
            tr.next = k + 1;
        }
        let lat = now_us.saturating_sub(u64::from(t)).max(1);
        let class = self.sh.plan.variants[s][v as usize].class;
        let _ = self.r.latency[0].record(lat);
        let _ = self.r.latency[if class == Class::Emergency { 1 } else { 2 }].record(lat);
        let _ = self.interval.latency.record(lat);
        self.interval.received += 1;
        self.r.received += 1;
    }
}

/// Runs generator thread `me` over `socks` until its streams are sent and the last
/// replies are in; reports each interval on `report`.
pub fn thread_main(
    me: usize,
    sh: &Shared,
    io: IoKind,
    socks: Vec<UdpSocket>,
    start: Instant,
    report: &mpsc::Sender<Interval>,
) -> Result<ThreadResult, String> {
    let cpu0 = thread_cpu_ns();
    let batch = sh.batch;
    let mut backend = backend(io, socks, batch)?;
    let mut slab = Slab::new(batch * 4);
    let store = Arc::clone(&sh.store);
    let config = EngineConfig {
        replay_window: 1024,
        ..EngineConfig::default()
    };
    let tx = Engine::new(Arc::clone(&store), config).map_err(|e| e.to_string())?;
    let rx = tx.handle();
    let n = sh.streams.len();
    let mine: Vec<usize> = (0..n).filter(|&s| sh.streams[s].thread == me).collect();
    let mut by_sock = vec![Vec::new(); n];
    let mut tracks: Vec<Option<Vec<Track>>> = vec![None; n];
    for (s, st) in sh.streams.iter().enumerate() {
        for (ti, t) in st.targets.iter().enumerate() {
            if t.thread == me {
                by_sock[s].push((t.sock, ti));
                tracks[s].get_or_insert_with(|| vec![Track::default(); st.targets.len()]);
            }
        }
    }
    let mut g = Gen {
        sh,
        tx,
        rx,
        start,
        dests: sh.streams.iter().map(|s| Dest::new(s.to)).collect(),
        last_genuine: vec![Vec::new(); n],
        by_sock,
        tracks,
        r: ThreadResult {
            thread: me,
            sent_k: vec![0; n],
            rollover_k: vec![(0, 0); n],
            tracks: Vec::new(),
            sent: [0; 5],
            received: 0,
            corrupted: Corrupted::default(),
            forged_delivered: 0,
            wire_duplicates: 0,
            protect_failed: 0,
            rollover_unsent: 0,
            latency: [histogram(), histogram(), histogram()],
            backpressure: 0,
            io: BackendStats::default(),
            cpu_ns: 0,
            pcap: Vec::new(),
        },
        interval: Interval::new(0, me),
        scratch: vec![0u8; SLOT_SIZE],
        roll_seen: (false, false),
        mine,
    };
    let streams = n as u64;
    // Everything is built: wait for the common start.
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    // The next slot: `k` and the position in `mine`.
    let (mut k, mut at) = (0u64, 0usize);
    let total = sh.schedule.as_ref().map(Schedule::total);
    let mut msgs: Vec<Outgoing> = Vec::with_capacity(batch);
    let mut slots: Vec<SlotRef> = Vec::with_capacity(batch);
    let mut rxv: Vec<Received> = Vec::with_capacity(batch);
    let mut done_at: Option<u64> = None;
    let mut all_done_at: Option<u64> = None;
    let mut counted_done = false;
    let mut last_rx_us = 0u64;
    loop {
        let now_us = g.now_us();
        let now = Timestamp::now();
        // Report intervals on this thread's clock.
        let index = now_us / sh.report_us;
        if index > g.interval.index {
            let _ = report.send(std::mem::replace(&mut g.interval, Interval::new(index, me)));
        }
        g.rollover_marks(now_us, k);
        let mut next_due: Option<u64> = None;
        msgs.clear();
        slots.clear();
        if done_at.is_none() && !g.mine.is_empty() {
            while msgs.len() < batch {
                let s = g.mine[at];
                let gi = k * streams + s as u64;
                let t_us = match (&sh.schedule, total) {
                    (Some(sc), Some(tot)) => {
                        if gi >= tot {
                            done_at = Some(now_us);
                            break;
                        }
                        let t = sc.time_us(gi);
                        if t > now_us {
                            next_due = Some(t);
                            break;
                        }
                        t
                    }
                    _ => {
                        if now_us >= sh.flat_us || gi >= super::scenario::MAX_PACKETS {
                            done_at = Some(now_us);
                            break;
                        }
                        now_us
                    }
                };
                let Some(slot) = slab.alloc() else {
                    g.r.backpressure += 1;
                    break;
                };
                let len = g.fill(gi, t_us, slab.get_mut(slot.index), now);
                g.r.sent_k[s] = k + 1;
                at += 1;
                if at == g.mine.len() {
                    at = 0;
                    k += 1;
                }
                let Some(len) = len else {
                    slab.free(slot);
                    continue;
                };
                msgs.push(Outgoing {
                    sock: sh.streams[s].sock,
                    dst: g.dests[s],
                    first: slots.len() as u32,
                    count: 1,
                    seg_len: len as u16,
                    last_len: len as u16,
                });
                slots.push(slot);
                g.interval.sent += 1;
            }
            if !msgs.is_empty() {
                backend.send(&mut slab, &msgs, &slots);
            }
        } else if done_at.is_none() {
            // A thread with no streams to send only receives.
            let end = match (&sh.schedule, total) {
                (Some(sc), Some(tot)) if tot > 0 => sc.time_us(tot - 1),
                _ => sh.flat_us,
            };
            if now_us >= end {
                done_at = Some(now_us);
            }
        }
        if sh.abort.load(Ordering::Relaxed) {
            break;
        }
        if done_at.is_some() && !counted_done {
            counted_done = true;
            sh.sending.fetch_sub(1, Ordering::AcqRel);
        }
        // Once every thread has sent its last packet: wait for the stragglers, 100 ms of
        // quiet or 1 s at most.
        if all_done_at.is_none() && counted_done && sh.sending.load(Ordering::Acquire) == 0 {
            all_done_at = Some(now_us);
        }
        if let Some(d) = all_done_at
            && (now_us > d + 1_000_000 || now_us > last_rx_us.max(d) + 100_000)
        {
            break;
        }
        let timeout = match next_due {
            Some(t) if msgs.len() < batch => Duration::from_micros((t - now_us.min(t)).min(1_000)),
            _ if done_at.is_some() => Duration::from_millis(10),
            _ => Duration::ZERO,
        };
        backend
            .recv(&mut slab, &mut rxv, timeout)
            .map_err(|e| format!("receive: {e}"))?;
        if !rxv.is_empty() {
            let now_us = g.now_us();
            last_rx_us = now_us;
            let data = backend.rx_data();
            for r in &rxv {
                let mut off = r.off;
                let end = r.off + r.len;
                while off < end {
                    let seg = r.segment.min(end - off).max(1);
                    g.verify(r.sock, &data[off..off + seg], now, now_us);
                    off += seg;
                }
            }
            backend.release();
        }
    }
    if !counted_done {
        sh.sending.fetch_sub(1, Ordering::AcqRel);
    }
    backend.finish(&mut slab);
    g.interval.last = true;
    let _ = report.send(std::mem::replace(&mut g.interval, Interval::new(0, me)));
    let mut r = g.r;
    for (s, t) in g.tracks.into_iter().enumerate() {
        if let Some(t) = t {
            for (ti, tr) in t.into_iter().enumerate() {
                if sh.streams[s].targets[ti].thread == me {
                    r.tracks.push(((s, ti), tr));
                }
            }
        }
    }
    r.io = backend.stats();
    r.cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    Ok(r)
}

impl Gen<'_> {
    /// Notes, per stream of this thread, the `k` at which the rollover began and at which
    /// its grace ended.
    fn rollover_marks(&mut self, now_us: u64, k: u64) {
        let keys = &self.sh.keys;
        if !self.roll_seen.0 && keys.roll_start_us.load(Ordering::Acquire) != 0 {
            self.roll_seen.0 = true;
            // Back by the grace: what was sent just before may still be in the relay when
            // the download discards the old key.
            let back = 1 + k * ROLLOVER_GRACE_US / now_us.max(1);
            for &s in &self.mine {
                self.r.rollover_k[s] = (k.saturating_sub(back), u64::MAX);
            }
        }
        let end = keys.roll_end_us.load(Ordering::Acquire);
        if self.roll_seen.0 && !self.roll_seen.1 && end != 0 && now_us > end + ROLLOVER_GRACE_US {
            self.roll_seen.1 = true;
            for &s in &self.mine {
                self.r.rollover_k[s].1 = k + 1;
            }
        }
    }
}
