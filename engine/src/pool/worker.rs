//! A worker: pops job parts from its ring, runs them through its own engine handle (which
//! owns the replay windows of the streams its shard holds), and pushes each finished part to
//! the submitter's completion ring.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::sync::Parker;

use super::Error;
use super::job::{App, JobKind, Packet};
use super::{Done, PacketBuf, PartDone, Shared};
use crate::keys::SrtcpUse;
use crate::srtcp::MAX_SRTCP_TRAILER;
use crate::sync::{Ordering, Share};
use crate::time::Timestamp;
use crate::{Engine, Processed, RxPacket, TxPacket};

/// A job's share for one worker: the packets that hash to its shard, in submission order.
pub(super) struct Part<B> {
    pub(super) ticket: u64,
    pub(super) kind: JobKind,
    pub(super) use_: Option<SrtcpUse>,
    pub(super) now: Timestamp,
    pub(super) plain: bytes::Bytes,
    pub(super) packets: PartPackets<B>,
    pub(super) app: Option<Arc<App>>,
    pub(super) done: Arc<Done<B>>,
}

/// Polls before the worker yields its core, and yields before it sleeps.
const SPINS: u32 = 8;
const YIELDS: u32 = 2;
/// Longest sleep without work; a submit wakes the worker at once.
const NAP: Duration = Duration::from_millis(20);

pub(super) struct Worker<B> {
    pub(super) shared: Arc<Shared<B>>,
    pub(super) me: usize,
    pub(super) engine: Engine,
    pub(super) parker: Parker,
    pub(super) core: Option<core_affinity::CoreId>,
    /// Reused between parts (capacity only; emptied after each part).
    results: Vec<Option<Result<Processed, crate::Error>>>,
    lens: Vec<usize>,
    /// XML and MCData results before they are copied back (wiped after each).
    scratch: Vec<u8>,
    tx: Vec<TxPacket<'static>>,
    rx: Vec<RxPacket<'static>>,
}

/// Empties a vector of borrowed packets and re-types it for another borrow, keeping its
/// allocation (the element types differ only in lifetime, so the collect reuses it in place).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!("empty")).collect()
}

impl<B: PacketBuf> Worker<B> {
    pub(super) fn new(
        shared: Arc<Shared<B>>,
        me: usize,
        engine: Engine,
        parker: Parker,
        core: Option<core_affinity::CoreId>,
    ) -> Worker<B> {
        Worker {
            shared,
            me,
            engine,
            parker,
            core,
            results: Vec::new(),
            lens: Vec::new(),
            scratch: Vec::new(),
            tx: Vec::new(),
            rx: Vec::new(),
        }
    }

    pub(super) fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let slot = &shared.workers[self.me];
        if let Some(core) = self.core
            && core_affinity::set_for_current(core)
        {
            slot.counters.set_core(core.id);
        }
        let mut idle = 0u32;
        loop {
            if let Some(part) = slot.ring.pop() {
                slot.counters.ring_len(slot.ring.len() + 1);
                slot.reserved.fetch_sub(1, Ordering::Release);
                self.finish(part);
                idle = 0;
                continue;
            }
            if shared.stop.load(Ordering::Acquire) {
                // Every accepted submit finished pushing before `stop` was set: drain what
                // is left, then leave.
                while let Some(part) = slot.ring.pop() {
                    slot.reserved.fetch_sub(1, Ordering::Release);
                    self.finish(part);
                }
                return;
            }
            idle = idle.saturating_add(1);
            if idle < SPINS {
                core::hint::spin_loop();
            } else if idle < SPINS + YIELDS {
                std::thread::yield_now();
            } else {
                // A submit unparks after its push, so a part pushed after the pop above
                // ends this park at once.
                self.parker.park_timeout(NAP);
            }
        }
    }

    /// Runs a part behind the panic boundary and hands it back, whatever happened.
    fn finish(&mut self, mut part: Part<B>) {
        let t0 = std::time::Instant::now();
        let panicked = catch_unwind(AssertUnwindSafe(|| self.apply(&mut part))).is_err();
        if panicked {
            // Borrowed scratch may be half filled; start the next part clean.
            self.results.clear();
            self.lens.clear();
            self.tx = Vec::new();
            self.rx = Vec::new();
            // It may hold a decrypted document or payload.
            zeroize::Zeroize::zeroize(&mut self.scratch);
        }
        let counters = &self.shared.workers[self.me].counters;
        part.packets.for_each(|p| {
            if p.result.is_none() {
                p.result = Some(Err(Error::Internal));
            }
            counters.packet(p);
        });
        counters.part(
            panicked,
            t0.elapsed().as_nanos() as u64,
            self.engine.rx_streams(),
        );
        let Part {
            ticket,
            packets,
            done,
            ..
        } = part;
        let mut d = PartDone {
            ticket,
            // A share is dropped here, before the push: the submitter gathers the job's
            // vector once it has every part back.
            packets: match packets {
                PartPackets::Whole(v) => Some(v),
                PartPackets::Share(share) => {
                    drop(share);
                    None
                }
            },
            panicked,
        };
        // The submitter bounds its parts in flight by this ring's capacity, so the push
        // finds room; the loop only guards that bound.
        loop {
            match done.ring.push(d) {
                Ok(()) => break,
                Err(back) => {
                    d = back;
                    std::thread::yield_now();
                }
            }
        }
        done.pushed();
    }

    fn apply(&mut self, part: &mut Part<B>) {
        #[cfg(test)]
        super::tests::inject_delay(&mut part.packets);
        // The packets were last written on the submitter's core: ask for all their lines at
        // once (descriptors, then buffers) so that the transfers overlap.
        match &mut part.packets {
            PartPackets::Whole(v) => crate::sync::prefetch(&v[..]),
            PartPackets::Share(s) => s.iter_mut().for_each(|p| crate::sync::prefetch(p)),
        }
        part.packets.for_each(|p| {
            crate::sync::prefetch(p.buf.bytes());
            p.result = None;
        });
        match part.kind {
            JobKind::Protect => self.protect(part, false),
            JobKind::FanOut => self.protect(part, true),
            JobKind::Unprotect => self.unprotect(part),
            JobKind::XmlProtect
            | JobKind::XmlUnprotect
            | JobKind::McdataProtect
            | JobKind::McdataUnprotect => self.app(part),
        }
    }

    /// XML and MCData jobs: each buffer through the engine's pure functions, the result
    /// copied back into it; a failure leaves the buffer as it was. The scratch buffer is the
    /// worker's, reused, and wiped after each use (it held plaintext).
    fn app(&mut self, part: &mut Part<B>) {
        use zeroize::Zeroize;
        let Some(app) = part.app.clone() else {
            part.packets
                .for_each(|p| p.result = Some(Err(Error::Internal)));
            return;
        };
        #[cfg(test)]
        let inject = super::tests::inject_panic(&mut part.packets);
        #[cfg(test)]
        if inject {
            panic!("fault injected by a test");
        }
        let kind = part.kind;
        let scratch = &mut self.scratch;
        part.packets.for_each(|p| {
            scratch.clear();
            let r = run_app(kind, &app, p.buf.bytes(), scratch);
            p.result = Some(r.and_then(|(key_id, items)| {
                if !p.buf.set_len_zeroed(scratch.len()) {
                    return Err(match *app {
                        App::Xml { .. } => Error::Xml(crate::xml::Error::TooLarge),
                        App::Mcdata { .. } => Error::Mcdata(crate::mcdata::Error::BufferTooSmall),
                    });
                }
                p.buf.bytes_mut().copy_from_slice(scratch);
                Ok(Processed {
                    len: scratch.len(),
                    key_id,
                    purpose: key_id.purpose(),
                    index: items,
                    encrypted: true,
                })
            }));
            scratch.zeroize();
        });
    }

    fn protect(&mut self, part: &mut Part<B>, fan_out: bool) {
        let plain = &part.plain[..];
        #[cfg(test)]
        let inject = super::tests::inject_panic(&mut part.packets);
        let mut tx: Vec<TxPacket<'_>> = recycle(core::mem::take(&mut self.tx));
        let lens = &mut self.lens;
        part.packets.for_each(|p| {
            let len = if fan_out {
                plain.len()
            } else {
                p.buf.bytes().len()
            };
            lens.push(p.buf.bytes().len());
            let Some(key) = p.key_id else {
                p.result = Some(Err(crate::Error::UnknownKey.into()));
                return;
            };
            let room = len.checked_add(MAX_SRTCP_TRAILER);
            if !room.is_some_and(|n| p.buf.set_len_zeroed(n)) {
                p.result = Some(Err(crate::srtcp::Error::BufferTooSmall.into()));
                return;
            }
            tx.push(TxPacket::new(key, p.buf.bytes_mut(), len));
        });
        let (use_, now) = (part.use_, part.now);
        match (fan_out, use_) {
            (true, Some(u)) => {
                self.engine.srtcp_fan_out(u, plain, &mut tx, now);
            }
            (_, Some(u)) => {
                self.engine.srtcp_protect_batch_for(u, &mut tx, now);
            }
            (_, None) => {
                self.engine.srtcp_protect_batch(&mut tx, now);
            }
        }
        #[cfg(test)]
        if inject {
            panic!("fault injected by a test");
        }
        self.results.extend(tx.iter().map(|t| t.result));
        self.tx = recycle(tx);
        let mut results = self.results.drain(..);
        let mut lens = self.lens.drain(..);
        part.packets.for_each(|p| {
            let len = lens.next().unwrap_or(0);
            if p.result.is_some() {
                return;
            }
            let r = results
                .next()
                .flatten()
                .map_or(Err(Error::Internal), |r| r.map_err(Error::from));
            match r {
                Ok(done) => p.buf.truncate(done.len),
                Err(_) if fan_out => {
                    // The plaintext was copied in before the key was checked: wipe it.
                    p.buf.bytes_mut().fill(0);
                    p.buf.truncate(0);
                }
                Err(_) => p.buf.truncate(len),
            }
            p.result = Some(r);
        });
    }

    fn unprotect(&mut self, part: &mut Part<B>) {
        #[cfg(test)]
        let inject = super::tests::inject_panic(&mut part.packets);
        let mut rx: Vec<RxPacket<'_>> = recycle(core::mem::take(&mut self.rx));
        part.packets
            .for_each(|p| rx.push(RxPacket::new(p.buf.bytes_mut())));
        match part.use_ {
            Some(u) => self.engine.srtcp_unprotect_batch_for(u, &mut rx, part.now),
            None => self.engine.srtcp_unprotect_batch(&mut rx, part.now),
        };
        #[cfg(test)]
        if inject {
            panic!("fault injected by a test");
        }
        self.results.extend(rx.iter().map(|r| r.result));
        self.rx = recycle(rx);
        let mut results = self.results.drain(..);
        part.packets.for_each(|p| {
            let r = results
                .next()
                .flatten()
                .map_or(Err(Error::Internal), |r| r.map_err(Error::from));
            if let Ok(done) = r {
                p.buf.truncate(done.len);
            }
            p.result = Some(r);
        });
    }
}

/// One XML document or MCData payload of an app job into `out`: the key ID it used and the
/// number of items (elements encrypted or decrypted; 1 for MCData).
fn run_app(
    kind: JobKind,
    app: &App,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(crate::keys::KeyId, u32), Error> {
    use crate::{mcdata, xml};
    match (kind, app) {
        (
            JobKind::XmlProtect | JobKind::XmlUnprotect,
            App::Xml {
                key,
                elements,
                limits,
            },
        ) => {
            let id = crate::keys::KeyId::new(key.xpk_id())
                .map_err(|_| Error::Datapath(crate::Error::UnknownKey))?;
            let n = if kind == JobKind::XmlProtect {
                xml::protect(key, input, elements, limits, out)
            } else {
                xml::unprotect(key, input, limits, out)
            }
            .map_err(Error::Xml)?;
            Ok((id, u32::try_from(n).unwrap_or(u32::MAX)))
        }
        (JobKind::McdataProtect, App::Mcdata { key, header }) => {
            let id = crate::keys::KeyId::new(key.dppk_id())
                .map_err(|_| Error::Datapath(crate::Error::UnknownKey))?;
            let h = mcdata::Header::new(
                header.message_type,
                header.date_time,
                header.payload_id,
                header.sequence,
                header.iei,
            )
            .map_err(Error::Mcdata)?;
            out.resize(mcdata::protected_len(input.len()), 0);
            let n = mcdata::protect(key, &h, input, out).map_err(Error::Mcdata)?;
            out.truncate(n);
            Ok((id, 1))
        }
        (JobKind::McdataUnprotect, App::Mcdata { key, .. }) => {
            let id = crate::keys::KeyId::new(key.dppk_id())
                .map_err(|_| Error::Datapath(crate::Error::UnknownKey))?;
            out.resize(input.len(), 0);
            let o = mcdata::unprotect(key, input, out).map_err(Error::Mcdata)?;
            out.truncate(o.len);
            Ok((id, 1))
        }
        _ => Err(Error::Internal),
    }
}

/// A part's packets: the whole job's vector (the job went to one worker), or this worker's
/// share of it.
pub(super) enum PartPackets<B> {
    Whole(Vec<Packet<B>>),
    Share(Share<Packet<B>>),
}

impl<B> PartPackets<B> {
    /// Calls `f` on each packet, in job order, lending it for as long as `self` is borrowed
    /// (so that `f` may keep references to several at once).
    pub(super) fn for_each<'a>(&'a mut self, mut f: impl FnMut(&'a mut Packet<B>)) {
        match self {
            PartPackets::Whole(v) => v.iter_mut().for_each(&mut f),
            PartPackets::Share(s) => s.iter_mut().for_each(&mut f),
        }
    }
}
