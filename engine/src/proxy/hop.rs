//! One hop through the proxy: find the packet's session, unprotect under the key of the side
//! it came from, rewrite SSRCs and identities, protect under the key of the side it goes
//! to. In place, no allocation, no lock.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::floor::{self, App, Options, Unknown};
use crate::keys::KeyId;
use crate::srtcp::{MAX_SRTCP_TRAILER, check_rtcp_compound};
use crate::time::Timestamp;
use crate::{Engine, RxPacket, StreamId, TxPacket};

use super::session::{Entry, Learn, Proxy, Session, Side};
use super::topology::{Direction, HopRewrite, IdentityMap};
use super::{Drop, Verdict};

/// A datagram of a batch ([`Proxy::handle_batch`]): where it came from, its buffer (with
/// [`MAX_SRTCP_TRAILER`] octets of room after `len` at least), and the verdict the call
/// fills in.
#[derive(Debug)]
pub struct Datagram<'a> {
    /// The leg it arrived on.
    pub leg: u16,
    /// Its source.
    pub source: SocketAddr,
    /// The buffer; the packet is `buf[..len]`, and the result is written in place.
    pub buf: &'a mut [u8],
    /// The datagram's length.
    pub len: usize,
    /// What to do with it; `None` until a call processed it.
    pub verdict: Option<Verdict>,
}

impl<'a> Datagram<'a> {
    /// A received datagram.
    pub fn new(leg: u16, source: SocketAddr, buf: &'a mut [u8], len: usize) -> Datagram<'a> {
        Datagram {
            leg,
            source,
            buf,
            len,
            verdict: None,
        }
    }
}

/// Packets per group in [`Proxy::handle_batch`].
const GROUP: usize = 32;

/// Where a packet of a batch stands between the steps.
#[derive(Clone, Copy)]
enum Step {
    Done,
    /// Found its session; keyed (to unprotect) or clear.
    Found {
        keyed: bool,
    },
    /// Plaintext of this length, ready to rewrite.
    Plain(usize),
}

/// Whether a datagram belongs to a session of the proxy ([`Proxy::classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// A keyed session side: the stream whose owner must unprotect it.
    Keyed(StreamId),
    /// A side in clear: any worker may take it.
    Clear,
    /// No session.
    None,
}

impl Proxy {
    /// Whether the datagram `pkt` from `source` on `leg` belongs to a session, and under
    /// which stream: what a relay needs to steer it to the owner of its replay window before
    /// anything is checked.
    pub fn classify(&self, leg: u16, source: &SocketAddr, pkt: &[u8]) -> Match {
        let g = self.read();
        match self.entry_for(&g, leg, source, pkt) {
            Some(e) if e.key.is_some() => StreamId::of_srtcp(pkt).map_or(Match::None, Match::Keyed),
            Some(_) => Match::Clear,
            None => Match::None,
        }
    }

    /// The session entry for a datagram: under the key its MKI names, or in clear.
    fn entry_for<'g>(
        &self,
        guard: &'g crate::sync::TableGuard<'_, Entry>,
        leg: u16,
        source: &SocketAddr,
        pkt: &[u8],
    ) -> Option<&'g Entry> {
        if let Some(sid) = StreamId::of_srtcp(pkt)
            && let Ok(k) = KeyId::new(sid.key_id)
            && let Some(e) = self.find(guard, leg, source, Some(k))
        {
            return Some(e);
        }
        self.find(guard, leg, source, None)
    }

    /// Handles one datagram that arrived on `leg` from `source`: `buf[..len]` is replaced by
    /// what goes out (see [`Verdict`]). `buf` needs [`MAX_SRTCP_TRAILER`] octets of room after
    /// `len` and room for identities longer than the ones they replace. `engine` is the
    /// caller's handle: it holds the replay windows of the streams this caller owns
    /// (`StreamId::shard`). A dropped packet changes no session state; a packet dropped after
    /// it authenticated has advanced its replay window, as any received packet does.
    pub fn handle_datagram(
        &self,
        engine: &mut Engine,
        now: Timestamp,
        leg: u16,
        source: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Verdict {
        if len > buf.len() {
            return Verdict::Drop(Drop::Malformed);
        }
        let guard = self.read();
        let Some(e) = self.entry_for(&guard, leg, &source, &buf[..len]) else {
            return Verdict::Drop(Drop::NoSession);
        };
        let plain = match open(engine, e, &mut buf[..len], now) {
            Ok(n) => n,
            Err(d) => return Verdict::Drop(d),
        };
        let map = self.map();
        self.finish(engine, now, e, &map, buf, plain)
    }

    /// Handles a batch: as [`Proxy::handle_datagram`] for each, with the unprotects and the
    /// protects of each group of 32 in one batch call each.
    pub fn handle_batch(&self, engine: &mut Engine, now: Timestamp, dgrams: &mut [Datagram<'_>]) {
        for group in dgrams.chunks_mut(GROUP) {
            self.handle_group(engine, now, group);
        }
    }

    fn handle_group(&self, engine: &mut Engine, now: Timestamp, dgrams: &mut [Datagram<'_>]) {
        let guard = self.read();
        let mut steps = [Step::Done; GROUP];
        let mut entries: [Option<&Entry>; GROUP] = [None; GROUP];
        for (i, d) in dgrams.iter_mut().enumerate() {
            if d.len > d.buf.len() {
                d.verdict = Some(Verdict::Drop(Drop::Malformed));
                continue;
            }
            match self.entry_for(&guard, d.leg, &d.source, &d.buf[..d.len]) {
                Some(e) => {
                    entries[i] = Some(e);
                    steps[i] = Step::Found {
                        keyed: e.key.is_some(),
                    };
                }
                None => d.verdict = Some(Verdict::Drop(Drop::NoSession)),
            }
        }
        // Unprotect the keyed ones together.
        {
            let mut at = [0usize; GROUP];
            let mut m = 0;
            let mut pkts: [RxPacket<'_>; GROUP] = core::array::from_fn(|_| RxPacket::new(&mut []));
            for (i, d) in dgrams.iter_mut().enumerate() {
                match steps[i] {
                    Step::Found { keyed: true } => {
                        pkts[m] = RxPacket::new(&mut d.buf[..d.len]);
                        at[m] = i;
                        m += 1;
                    }
                    Step::Found { keyed: false } => match check_rtcp_compound(&d.buf[..d.len]) {
                        Ok(()) => steps[i] = Step::Plain(d.len),
                        Err(_) => {
                            steps[i] = Step::Done;
                            d.verdict = Some(Verdict::Drop(Drop::Malformed));
                        }
                    },
                    _ => {}
                }
            }
            engine.srtcp_unprotect_batch(&mut pkts[..m], now);
            let mut results = [None; GROUP];
            for j in 0..m {
                results[j] = pkts[j].result;
            }
            for j in 0..m {
                let i = at[j];
                let want = entries[i].and_then(|e| e.key);
                match results[j] {
                    Some(Ok(p)) if Some(p.key_id) == want => steps[i] = Step::Plain(p.len),
                    Some(Ok(_)) => drop_with(&mut dgrams[i], &mut steps[i], Drop::NoSession),
                    Some(Err(err)) => {
                        drop_with(&mut dgrams[i], &mut steps[i], Drop::Unprotect(err))
                    }
                    None => drop_with(&mut dgrams[i], &mut steps[i], Drop::Malformed),
                }
            }
        }
        // Rewrite, then protect the unicast ones together.
        let map = self.map();
        let mut at = [0usize; GROUP];
        let mut m = 0;
        let placeholder = KeyId::new(0x2000_0001).unwrap_or_else(|_| unreachable!("a CSK ID"));
        let mut pkts: [TxPacket<'_>; GROUP] =
            core::array::from_fn(|_| TxPacket::new(placeholder, &mut [], 0));
        let mut outs: [Option<(u16, SocketAddr)>; GROUP] = [None; GROUP];
        for (i, d) in dgrams.iter_mut().enumerate() {
            let (Step::Plain(n), Some(e)) = (steps[i], entries[i]) else {
                continue;
            };
            let (to, n) = match self.rewrite_hop(e, &map, d.buf, n) {
                Ok(x) => x,
                Err(drop) => {
                    d.verdict = Some(Verdict::Drop(drop));
                    continue;
                }
            };
            if e.session.is_fan_out() && !e.from_outside {
                d.verdict = Some(Verdict::FanOut {
                    session: Arc::clone(&e.session),
                    len: n,
                });
                continue;
            }
            match to.key() {
                None => {
                    d.verdict = Some(Verdict::Forward {
                        leg: to.leg,
                        to: to.peer,
                        len: n,
                    })
                }
                Some(k) => {
                    outs[m] = Some((to.leg, to.peer));
                    pkts[m] = TxPacket::new(k, &mut d.buf[..], n);
                    at[m] = i;
                    m += 1;
                }
            }
        }
        engine.srtcp_protect_batch(&mut pkts[..m], now);
        let mut results = [None; GROUP];
        for j in 0..m {
            results[j] = pkts[j].result;
        }
        for j in 0..m {
            let Some((leg, to)) = outs[j] else { continue };
            dgrams[at[j]].verdict = Some(match results[j] {
                Some(Ok(p)) => Verdict::Forward {
                    leg,
                    to,
                    len: p.len,
                },
                Some(Err(err)) => Verdict::Drop(Drop::Protect(err)),
                None => Verdict::Drop(Drop::Malformed),
            });
        }
    }

    /// After the packet of entry `e` opened to `plain` octets: rewrite and protect.
    fn finish(
        &self,
        engine: &mut Engine,
        now: Timestamp,
        e: &Entry,
        map: &IdentityMap,
        buf: &mut [u8],
        plain: usize,
    ) -> Verdict {
        let (to, n) = match self.rewrite_hop(e, map, buf, plain) {
            Ok(x) => x,
            Err(d) => return Verdict::Drop(d),
        };
        if e.session.is_fan_out() && !e.from_outside {
            return Verdict::FanOut {
                session: Arc::clone(&e.session),
                len: n,
            };
        }
        seal(engine, now, to, buf, n)
    }

    /// Checks the sender's SSRC and rewrites the plaintext `buf[..n]` for the side it goes
    /// to; returns that side and the new length.
    fn rewrite_hop<'s>(
        &self,
        e: &'s Entry,
        map: &IdentityMap,
        buf: &mut [u8],
        n: usize,
    ) -> Result<(&'s Side, usize), Drop> {
        let s = &e.session;
        let (from, to, dir) = if e.from_outside {
            (&s.outside[0], &s.inside, Direction::Inward)
        } else {
            (&s.inside, &s.outside[0], Direction::Outward)
        };
        if n < 8 {
            return Err(Drop::NotFloorControl);
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let learn = from.learn(ssrc);
        if learn == Learn::Mismatch {
            return Err(Drop::SsrcChanged);
        }
        let room = buf.len().saturating_sub(MAX_SRTCP_TRAILER);
        let r = if n > room {
            Err(Drop::TooLong)
        } else {
            rewrite(self, map, s, dir, from, to, &mut buf[..room], n)
        };
        match r {
            Ok(n) => {
                from.answer_under(e.key);
                Ok((to, n))
            }
            Err(d) => {
                // A refused packet teaches the session nothing.
                if learn == Learn::New {
                    from.forget(ssrc);
                }
                Err(d)
            }
        }
    }

    /// Protects the plaintext `plain` (what a [`Verdict::FanOut`] left in the buffer) once
    /// per target of `session` into `outs[i]` (each with room for the packet and
    /// [`MAX_SRTCP_TRAILER`] octets), and says where each goes. `outs` shorter than the
    /// targets leaves the rest out. A target whose key fails gets [`Verdict::Drop`].
    pub fn fan_out(
        &self,
        engine: &Engine,
        now: Timestamp,
        session: &Session,
        plain: &[u8],
        outs: &mut [&mut [u8]],
        verdicts: &mut [Option<Verdict>],
    ) {
        for (i, (out, v)) in outs.iter_mut().zip(verdicts).enumerate() {
            *v = Some(self.protect_target(engine, now, session, i, plain, out));
        }
    }

    /// Protects `plain` for target `i` of the fan-out `session` into `out`.
    pub fn protect_target(
        &self,
        engine: &Engine,
        now: Timestamp,
        session: &Session,
        i: usize,
        plain: &[u8],
        out: &mut [u8],
    ) -> Verdict {
        let Some(t) = session.outside.get(i) else {
            return Verdict::Drop(Drop::NoSession);
        };
        if out.len() < plain.len() + MAX_SRTCP_TRAILER || plain.len() < 8 {
            return Verdict::Drop(Drop::TooLong);
        }
        out[..plain.len()].copy_from_slice(plain);
        out[4..8].copy_from_slice(&t.ssrc.to_be_bytes());
        seal(engine, now, t, out, plain.len())
    }
}

fn drop_with(d: &mut Datagram<'_>, step: &mut Step, why: Drop) {
    d.verdict = Some(Verdict::Drop(why));
    *step = Step::Done;
}

/// Unprotects (or, in clear, checks) the packet of entry `e`; returns the plaintext length.
fn open(engine: &mut Engine, e: &Entry, pkt: &mut [u8], now: Timestamp) -> Result<usize, Drop> {
    match e.key {
        None => {
            check_rtcp_compound(pkt).map_err(|_| Drop::Malformed)?;
            Ok(pkt.len())
        }
        Some(k) => {
            let p = engine.srtcp_unprotect(pkt, now).map_err(Drop::Unprotect)?;
            // The entry was found under the MKI's key, so this holds; checked all the same.
            if p.key_id != k {
                return Err(Drop::NoSession);
            }
            Ok(p.len)
        }
    }
}

/// Protects `buf[..n]` toward `to` (or leaves it in clear).
fn seal(engine: &Engine, now: Timestamp, to: &Side, buf: &mut [u8], n: usize) -> Verdict {
    match to.key() {
        None => Verdict::Forward {
            leg: to.leg,
            to: to.peer,
            len: n,
        },
        Some(k) => match engine.srtcp_protect(k, buf, n, now) {
            Ok(p) => Verdict::Forward {
                leg: to.leg,
                to: to.peer,
                len: p.len,
            },
            Err(e) => Verdict::Drop(Drop::Protect(e)),
        },
    }
}

/// The SSRC and identity rewrite of one plaintext RTCP packet crossing in `dir`: floor
/// control and MCVideo transmission control fully; other TS 24.380 applications get the
/// proxy's SSRC only; anything else
/// (SR, RR, SDES with its CNAME, compounds) would carry the other side's names across and
/// is dropped.
#[allow(clippy::too_many_arguments)]
fn rewrite(
    proxy: &Proxy,
    map: &IdentityMap,
    s: &Session,
    dir: Direction,
    from: &Side,
    to: &Side,
    buf: &mut [u8],
    n: usize,
) -> Result<usize, Drop> {
    let pkt = &buf[..n];
    if pkt.len() < floor::HEADER_LEN || pkt[1] != floor::PT_APP {
        return Err(Drop::NotFloorControl);
    }
    let own_out = match dir {
        Direction::Inward => s.inside.ssrc,
        Direction::Outward => s.outside_ssrc(),
    };
    let r = HopRewrite {
        dir,
        session: s,
        proxy,
        map,
        own_out,
    };
    match App::from_name(&pkt[8..12]) {
        Some(App::FloorControl) => {
            let options = Options {
                profile: from.profile,
                unknown: Unknown::Keep,
            };
            floor::rewrite(buf, n, own_out, options, to.profile, &r)
                .map(|r| r.len)
                .map_err(Drop::Floor)
        }
        Some(_) => {
            // Framing is checked; the fields are not interpreted, only the sender is the
            // proxy.
            floor::parse(pkt, Options::default()).map_err(Drop::Floor)?;
            buf[4..8].copy_from_slice(&own_out.to_be_bytes());
            Ok(n)
        }
        None if floor::video::VideoApp::from_name(&pkt[8..12]).is_some() => {
            floor::video::rewrite(buf, n, own_out, Unknown::Keep, &r)
                .map(|r| r.len)
                .map_err(Drop::Floor)
        }
        None => Err(Drop::NotFloorControl),
    }
}
