//! One worker's run-to-completion loop.
//!
//! A turn: take packets other workers handed over → receive a batch from this worker's
//! sockets → for each datagram (each GRO segment): address it by `StreamId` (key ID from the
//! MKI, SSRC), find its route, and either keep it (this worker owns the stream), hand it to
//! the owner over the owner's bounded ring (before anything is checked), or drop it →
//! unprotect the kept packets in a batch under their ingress keys (this worker's replay
//! windows) → re-protect each under its route's egress key (the store's transmit index per
//! (egress key, SSRC)) → send the batch, equal-sized packets to one destination as one GSO
//! train. Nothing allocates and nothing locks per packet: the packets live in the worker's
//! slab, the batch arrays are on the stack, routes are read through the lock-free table.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mcx_engine::datapath::Error as DpError;
use mcx_engine::srtcp::Error as SrtcpError;
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, Processed, RxPacket, StreamId, TxPacket};

use super::stats::{
    C_COALESCED, C_FORWARDED, C_HANDOFF_IN, C_HANDOFF_OUT, C_RECV_FAILED, C_RX, C_TURNS, Drop,
    Local,
};
use super::{Handoff, Route, Shared, forward_key, route_key};
use mcx_engine::proxy::{Datagram, Drop as ProxyDrop, Match, Proxy, Session, Verdict};

use crate::backend::{Backend, Outgoing, Received};
use crate::bufs::{SLOT_SIZE, Slab, SlotRef};
use crate::sock::MAX_GSO_SEGMENTS;

/// The most payload one GSO train carries (a UDP datagram's limit, with room for headers).
const MAX_GSO_BYTES: usize = 65_000;
/// Packets unprotected and protected per batch call.
const CHUNK: usize = 32;
/// How long an idle worker sleeps in its receive call before looking at the stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// The longest datagram taken: room must stay in a slot for the egress trailer.
pub(crate) const MAX_DATAGRAM: usize = SLOT_SIZE - 64;

/// A packet of this turn.
#[derive(Clone, Copy)]
struct Work {
    slot: SlotRef,
    len: usize,
    /// Where it goes: socket (leg) index, destination, egress key (None: forwarded as is).
    /// For a proxy packet not yet processed, `sock` is the leg it arrived on.
    route: Route,
    /// A proxy session's packet, from this source, for the proxy step.
    proxied: Option<std::net::SocketAddr>,
}

pub(crate) struct Worker {
    pub(crate) id: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) engine: Engine,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) rx: Vec<Received>,
    st: State,
    out: Vec<Outgoing>,
    out_slots: Vec<SlotRef>,
    batch: usize,
}

/// What a turn changes besides the backend.
struct State {
    id: usize,
    slab: Slab,
    work: Vec<Work>,
    woke: Vec<bool>,
    local: Local,
}

impl Worker {
    pub(crate) fn new(
        id: usize,
        shared: Arc<Shared>,
        engine: Engine,
        backend: Box<dyn Backend>,
        batch: usize,
    ) -> Worker {
        let n = shared.inbox.len();
        let legs = shared.legs.len();
        // Per turn: a receive batch, GRO runs of up to 64 segments each, and one batch from
        // the hand-off ring; the slab has room for two turns in flight.
        let per_turn = batch * MAX_GSO_SEGMENTS + batch;
        let slots = 2 * per_turn;
        Worker {
            id,
            engine,
            backend,
            rx: Vec::with_capacity(batch),
            st: State {
                id,
                slab: Slab::new(slots),
                work: Vec::with_capacity(per_turn),
                woke: vec![false; n],
                local: Local::new(legs),
            },
            out: Vec::with_capacity(per_turn),
            out_slots: Vec::with_capacity(per_turn),
            batch,
            shared,
        }
    }

    /// Runs turns until the relay stops, then finishes the turn in hand and returns.
    /// With `poll` > 0, a worker that had packets looks again without sleeping until `poll`
    /// has passed with none: a burst that is still arriving costs no wake-up.
    pub(crate) fn run(&mut self, poll: Duration) {
        let mut last = std::time::Instant::now();
        let mut busy = false;
        while !self.shared.stop.load(Ordering::Acquire) {
            let wait = if busy && last.elapsed() < poll {
                Duration::ZERO
            } else {
                IDLE_WAIT
            };
            if self.turn(wait) > 0 {
                busy = true;
                last = std::time::Instant::now();
            }
        }
        // Drain: what is queued already goes out, and the sends in flight complete.
        self.turn(Duration::ZERO);
        self.backend.finish(&mut self.st.slab);
        self.publish();
    }

    fn publish(&mut self) {
        let b = self.backend.stats();
        self.st.local.set_backend(&b);
        self.shared.published[self.id].publish(&self.st.local);
    }

    /// One turn; returns how many packets it took in.
    pub(crate) fn turn(&mut self, wait: Duration) -> usize {
        let shared = Arc::clone(&self.shared);
        self.st.work.clear();
        self.st.local.add(C_TURNS, 1);

        let inbox = &shared.inbox[self.id];
        let wait = if inbox.is_empty() {
            wait
        } else {
            Duration::ZERO
        };
        let mut rx = std::mem::take(&mut self.rx);
        if self.backend.recv(&mut self.st.slab, &mut rx, wait).is_err() {
            self.st.local.add(C_RECV_FAILED, 1);
        }
        // Routes are read after the wait, so that a removal's grace period never waits on an
        // idle worker, and held until this turn's sends are queued: once `remove_route`
        // returns, no packet goes out on the route.
        let routes = shared.routes.read();
        // Likewise the proxy's sessions: once `session.remove` returns, none of its packets
        // goes out.
        let pinned = shared.proxy.as_ref().map(|p| p.pin());
        let now = Timestamp::now();

        // Hand-offs first: they waited longest. Their route is looked up here, by the owner.
        let mut taken = 0;
        while taken < self.batch {
            let Some(h) = inbox.pop() else { break };
            taken += 1;
            self.st.local.add(C_HANDOFF_IN, 1);
            if h.route_key == 0 {
                let len = h.len as usize;
                self.st.keep_proxied(&h.data[..len], h.sock, h.src);
                continue;
            }
            let Some(route) = routes.get(h.route_key) else {
                self.st.local.drop(Drop::NoRoute, 1);
                continue;
            };
            let len = h.len as usize;
            self.st.keep(&h.data[..len], *route);
        }
        let n_workers = shared.inbox.len();
        let mut got = 0;
        for r in &rx {
            if r.len == 0 {
                // An empty datagram: received, and not SRTCP.
                got += 1;
                self.st.local.add(C_RX, 1);
                self.st.local.leg_rx(r.sock as usize);
                self.st.local.drop(Drop::Malformed, 1);
                continue;
            }
            let seg = r.segment.max(1);
            if seg < r.len {
                self.st.local.add(C_COALESCED, r.len.div_ceil(seg) as u64);
            }
            let mut off = 0;
            while off < r.len {
                let len = seg.min(r.len - off);
                let start = r.off + off;
                off += len;
                got += 1;
                self.st.local.add(C_RX, 1);
                self.st.local.leg_rx(r.sock as usize);
                let data = &self.backend.rx_data()[start..start + len];
                self.st
                    .classify(&shared, &routes, r.sock, r.src, data, n_workers);
            }
        }
        self.rx = rx;
        self.backend.release();
        for (w, woke) in self.st.woke.iter_mut().enumerate() {
            if std::mem::take(woke) {
                shared.wakers[w].wake();
            }
        }

        self.crypt(now);
        if let Some(p) = &shared.proxy {
            self.proxy_step(p, now);
        }
        self.free_failed();
        self.send();
        drop(pinned);
        drop(routes);
        self.publish();
        got + taken
    }

    /// Unprotects, then re-protects, the kept packets, a chunk at a time. A packet that fails
    /// gets `len = 0` and its slot back.
    fn crypt(&mut self, now: Timestamp) {
        let mut start = 0;
        while start < self.st.work.len() {
            let end = (start + CHUNK).min(self.st.work.len());
            self.crypt_chunk(start, end, now);
            start = end;
        }
    }

    /// Gives the slots of failed packets back.
    fn free_failed(&mut self) {
        for w in &mut self.st.work {
            if w.len == 0 {
                self.st.slab.free(w.slot);
            }
        }
    }

    fn crypt_chunk(&mut self, start: usize, end: usize, now: Timestamp) {
        let work = &mut self.st.work[start..end];
        // Only keyed routes go through the crypto; forwarded packets stay as they are.
        let mut idx = [0u32; CHUNK];
        let mut pos = [0usize; CHUNK];
        let mut m = 0;
        for (k, w) in work.iter().enumerate() {
            if w.route.key_out.is_some() {
                idx[m] = w.slot.index;
                pos[m] = k;
                m += 1;
            }
        }
        if m == 0 {
            return;
        }
        let (mut views, lent) = self.st.slab.views_mut::<CHUNK>(&idx[..m]);
        debug_assert_eq!(lent, m);
        let mut results: [Option<Result<Processed, DpError>>; CHUNK] = [None; CHUNK];
        {
            let mut pkts: [RxPacket<'_>; CHUNK] = core::array::from_fn(|_| RxPacket::new(&mut []));
            for (j, v) in views[..m].iter_mut().enumerate() {
                pkts[j] = RxPacket::new(&mut v[..work[pos[j]].len]);
            }
            self.engine.srtcp_unprotect_batch(&mut pkts[..m], now);
            for j in 0..m {
                results[j] = pkts[j].result;
            }
        }
        let mut tx_pos = [0usize; CHUNK];
        let mut t = 0;
        {
            let placeholder = mcx_engine::keys::KeyId::new(0x1000_0001).expect("key id");
            let mut pkts: [TxPacket<'_>; CHUNK] =
                core::array::from_fn(|_| TxPacket::new(placeholder, &mut [], 0));
            for (j, v) in views[..m].iter_mut().enumerate() {
                let w = &mut work[pos[j]];
                match results[j] {
                    Some(Ok(p)) => {
                        let key_out = w.route.key_out.expect("keyed route");
                        pkts[t] = TxPacket::new(key_out, &mut v[..], p.len);
                        tx_pos[t] = pos[j];
                        t += 1;
                    }
                    Some(Err(e)) => {
                        self.st.local.drop(why(e), 1);
                        w.len = 0;
                    }
                    None => {
                        self.st.local.drop(Drop::Malformed, 1);
                        w.len = 0;
                    }
                }
            }
            self.engine.srtcp_protect_batch(&mut pkts[..t], now);
            for k in 0..t {
                let w = &mut work[tx_pos[k]];
                match pkts[k].result {
                    Some(Ok(p)) => w.len = p.len,
                    _ => {
                        self.st.local.drop(Drop::Protect, 1);
                        w.len = 0;
                    }
                }
            }
        }
    }

    /// Runs the proxy's hop over this turn's proxy packets, a chunk at a time: unprotect,
    /// rewrite, protect, and for a fan-out one more slot per extra target. A packet the proxy
    /// drops gets `len = 0` and its slot back.
    fn proxy_step(&mut self, proxy: &Proxy, now: Timestamp) {
        let mut start = 0;
        let total = self.st.work.len();
        while start < total {
            let mut idx = [0u32; CHUNK];
            let mut pos = [0usize; CHUNK];
            let mut m = 0;
            let mut k = start;
            while k < total && m < CHUNK {
                if self.st.work[k].proxied.is_some() {
                    idx[m] = self.st.work[k].slot.index;
                    pos[m] = k;
                    m += 1;
                }
                k += 1;
            }
            start = k;
            if m == 0 {
                continue;
            }
            let mut verdicts: [Option<Verdict>; CHUNK] = [const { None }; CHUNK];
            {
                let (mut views, lent) = self.st.slab.views_mut::<CHUNK>(&idx[..m]);
                debug_assert_eq!(lent, m);
                let placeholder = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
                let mut dg: [Datagram<'_>; CHUNK] =
                    core::array::from_fn(|_| Datagram::new(0, placeholder, &mut [], 0));
                for (j, v) in views[..m].iter_mut().enumerate() {
                    let w = &self.st.work[pos[j]];
                    dg[j] = Datagram::new(
                        w.route.sock,
                        w.proxied.unwrap_or(placeholder),
                        &mut v[..],
                        w.len,
                    );
                }
                proxy.handle_batch(&mut self.engine, now, &mut dg[..m]);
                for j in 0..m {
                    verdicts[j] = dg[j].verdict.take();
                }
            }
            for j in 0..m {
                let at = pos[j];
                self.st.work[at].proxied = None;
                match verdicts[j].take() {
                    Some(Verdict::Forward { leg, to, len }) => {
                        let w = &mut self.st.work[at];
                        w.route = Route::plain(leg, to);
                        w.len = len;
                    }
                    Some(Verdict::FanOut { session, len }) => {
                        self.fan_out(proxy, now, at, &session, len);
                    }
                    Some(Verdict::Drop(d)) => {
                        self.st.local.drop(proxy_drop(d), 1);
                        self.st.work[at].len = 0;
                    }
                    None => {
                        self.st.local.drop(Drop::Malformed, 1);
                        self.st.work[at].len = 0;
                    }
                }
            }
        }
    }

    /// Protects the fan-out plaintext in the slot of `work[at]` once per target: the first
    /// target reuses the slot, each further one takes a new slot.
    fn fan_out(&mut self, proxy: &Proxy, now: Timestamp, at: usize, session: &Session, len: usize) {
        let src = self.st.work[at].slot;
        let mut plain = [0u8; SLOT_SIZE];
        plain[..len].copy_from_slice(&self.st.slab.get_mut(src.index)[..len]);
        for t in 0..session.outside.len() {
            let slot = if t == 0 {
                src
            } else if self.st.work.len() == self.st.work.capacity() {
                // The turn's work list is sized for a receive batch; it does not grow on the
                // data path.
                self.st.local.drop(Drop::SlabFull, 1);
                continue;
            } else {
                match self.st.slab.alloc() {
                    Some(s) => s,
                    None => {
                        self.st.local.drop(Drop::SlabFull, 1);
                        continue;
                    }
                }
            };
            let out = self.st.slab.get_mut(slot.index);
            let v = proxy.protect_target(&self.engine, now, session, t, &plain[..len], out);
            let (route, n) = match v {
                Verdict::Forward { leg, to, len } => (Route::plain(leg, to), len),
                Verdict::Drop(d) => {
                    self.st.local.drop(proxy_drop(d), 1);
                    (self.st.work[at].route, 0)
                }
                Verdict::FanOut { .. } => (self.st.work[at].route, 0),
            };
            if t == 0 {
                let w = &mut self.st.work[at];
                w.route = route;
                w.len = n;
            } else if n == 0 {
                self.st.slab.free(slot);
            } else {
                self.st.work.push(Work {
                    slot,
                    len: n,
                    route,
                    proxied: None,
                });
            }
        }
    }

    /// Groups the packets that survived into messages and sends them.
    fn send(&mut self) {
        self.out.clear();
        self.out_slots.clear();
        for w in &self.st.work {
            if w.len == 0 {
                continue;
            }
            self.st.local.add(C_FORWARDED, 1);
            self.st.local.leg_tx(w.route.sock as usize, 1);
            let i = self.out_slots.len() as u32;
            self.out_slots.push(w.slot);
            if let Some(last) = self.out.last_mut() {
                let joins = last.sock == w.route.sock
                    && last.dst == w.route.dst
                    && last.last_len == last.seg_len
                    && w.len <= last.seg_len as usize
                    && (last.count as usize) < MAX_GSO_SEGMENTS
                    && (last.count as usize + 1) * last.seg_len as usize <= MAX_GSO_BYTES
                    && self.backend.gso(w.route.sock);
                if joins {
                    last.count += 1;
                    last.last_len = w.len as u16;
                    continue;
                }
            }
            self.out.push(Outgoing {
                sock: w.route.sock,
                dst: w.route.dst,
                first: i,
                count: 1,
                seg_len: w.len as u16,
                last_len: w.len as u16,
            });
        }
        if !self.out.is_empty() {
            self.backend
                .send(&mut self.st.slab, &self.out, &self.out_slots);
        }
    }
}

impl State {
    /// Addresses one datagram and keeps it, hands it over, or drops it.
    fn classify(
        &mut self,
        shared: &Shared,
        routes: &mcx_engine::sync::TableGuard<'_, Route>,
        sock: u16,
        src: std::net::SocketAddr,
        data: &[u8],
        n_workers: usize,
    ) {
        if data.len() > MAX_DATAGRAM {
            self.local.drop(Drop::Malformed, 1);
            return;
        }
        if let Some(p) = &shared.proxy {
            match p.classify(sock, &src, data) {
                Match::Clear => return self.keep_proxied(data, sock, src),
                Match::Keyed(sid) => {
                    let owner = sid.shard(n_workers);
                    if owner == self.id {
                        return self.keep_proxied(data, sock, src);
                    }
                    return self.hand_off(shared, owner, 0, sock, src, data);
                }
                Match::None => {}
            }
        }
        if let Some(f) = routes.get(forward_key(sock)) {
            let route = *f;
            self.keep(data, route);
            return;
        }
        let Some(sid) = StreamId::of_srtcp(data) else {
            self.local.drop(Drop::Malformed, 1);
            return;
        };
        let key = route_key(sock, sid.key_id);
        let Some(route) = routes.get(key) else {
            self.local.drop(Drop::NoRoute, 1);
            return;
        };
        let route = *route;
        let owner = sid.shard(n_workers);
        if owner != self.id {
            return self.hand_off(shared, owner, key, sock, src, data);
        }
        self.keep(data, route);
    }

    fn hand_off(
        &mut self,
        shared: &Shared,
        owner: usize,
        route_key: u64,
        sock: u16,
        src: std::net::SocketAddr,
        data: &[u8],
    ) {
        let mut h = Handoff {
            route_key,
            sock,
            src,
            len: data.len() as u16,
            data: [0; MAX_DATAGRAM],
        };
        h.data[..data.len()].copy_from_slice(data);
        if shared.inbox[owner].push(h).is_err() {
            self.local.drop(Drop::HandoffFull, 1);
        } else {
            self.local.add(C_HANDOFF_OUT, 1);
            self.woke[owner] = true;
        }
    }

    /// Keeps a proxy session's datagram for the proxy step.
    fn keep_proxied(&mut self, data: &[u8], sock: u16, src: std::net::SocketAddr) {
        let Some(slot) = self.slab.alloc() else {
            self.local.drop(Drop::SlabFull, 1);
            return;
        };
        self.slab.get_mut(slot.index)[..data.len()].copy_from_slice(data);
        self.work.push(Work {
            slot,
            len: data.len(),
            route: Route::plain(sock, src),
            proxied: Some(src),
        });
    }

    fn keep(&mut self, data: &[u8], route: Route) {
        let Some(slot) = self.slab.alloc() else {
            self.local.drop(Drop::SlabFull, 1);
            return;
        };
        self.slab.get_mut(slot.index)[..data.len()].copy_from_slice(data);
        self.work.push(Work {
            slot,
            len: data.len(),
            route,
            proxied: None,
        });
    }
}

/// The drop reason for a proxy's drop.
fn proxy_drop(d: ProxyDrop) -> Drop {
    match d {
        ProxyDrop::NoSession => Drop::NoRoute,
        ProxyDrop::Unprotect(e) => why(e),
        ProxyDrop::SsrcChanged => Drop::SsrcChanged,
        ProxyDrop::NotFloorControl => Drop::NotFloorControl,
        ProxyDrop::Protect(_) => Drop::Protect,
        _ => Drop::Malformed,
    }
}

/// The drop reason for a data-path error.
fn why(e: DpError) -> Drop {
    match e {
        DpError::UnknownKey => Drop::UnknownKey,
        DpError::Revoked | DpError::Superseded | DpError::NotYetValid | DpError::Expired => {
            Drop::KeyState
        }
        DpError::WrongPurpose(_) => Drop::WrongPurpose,
        DpError::TooManyStreams => Drop::TooManyStreams,
        DpError::Srtcp(SrtcpError::AuthenticationFailed) => Drop::Auth,
        DpError::Srtcp(SrtcpError::Replayed) | DpError::Srtcp(SrtcpError::TooOld) => Drop::Replay,
        DpError::Srtcp(SrtcpError::UnknownMki) => Drop::UnknownKey,
        _ => Drop::Malformed,
    }
}
