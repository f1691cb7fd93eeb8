//! Proxy sessions: which (leg, peer address, key) pairs with which, under which keys each
//! side is protected, and the SSRCs the proxy shows on each side. The control plane adds
//! and removes sessions; the data path finds them without locks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use core::fmt;

use crate::floor::Profile;
use crate::keys::{KeyId, Purpose};
use crate::sync::{EMPTY_KEY, Table};

use super::role::{GatewayMode, Role};
use super::topology::{IdentityMap, MapError};

/// One side of a session as the control plane gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideSpec {
    /// The leg (socket) the side is reached on.
    pub leg: u16,
    /// The peer's transport address on that leg.
    pub peer: SocketAddr,
    /// The keys the peer may protect with; the proxy answers under the one the peer used
    /// last (the first until then). Empty: the side is in clear (a trusted core, or the
    /// external system of a security gateway).
    pub keys: Vec<KeyId>,
    /// The SSRC the proxy sends with toward this side; `None`: a random one.
    pub ssrc: Option<u32>,
    /// The peer's SSRC, if known; otherwise learned from its first packet that goes through
    /// (authenticated, and rewritten without error).
    pub peer_ssrc: Option<u32>,
    /// The peer's floor-control field numbering.
    pub profile: Profile,
}

impl SideSpec {
    /// A side on `leg` toward `peer` under `keys` (empty: clear), SSRCs chosen and learned.
    pub fn new(leg: u16, peer: SocketAddr, keys: &[KeyId]) -> SideSpec {
        SideSpec {
            leg,
            peer,
            keys: keys.to_vec(),
            ssrc: None,
            peer_ssrc: None,
            profile: Profile::Current,
        }
    }
}

/// A session: an inside side (the proxy's domain) and one outside side (a unicast hop, both
/// ways) or several (a downlink fan-out: one multicast group under a MuSiK, MKFC or MSCCK,
/// and unicast recipients each under its CSK; inside to outside only). A lone outside side
/// under a multicast key (an MBMS bearer with nobody on unicast) is a fan-out of one: a
/// multicast address never sends, so nothing is received from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    /// Toward the proxy's domain.
    pub inside: SideSpec,
    /// Toward the outside.
    pub outside: Vec<SideSpec>,
    /// A per-session identity pair, (inside form, outside form), applied before the map. A security
    /// gateway's MC identity for one external user, for instance.
    pub alias: Option<(String, String)>,
}

/// One side of a running session.
#[derive(Debug)]
pub struct Side {
    /// The leg.
    pub leg: u16,
    /// The peer.
    pub peer: SocketAddr,
    /// The keys the peer may use; empty in clear.
    pub keys: Vec<KeyId>,
    /// The proxy's SSRC toward this side.
    pub ssrc: u32,
    /// The peer's field numbering.
    pub profile: Profile,
    /// The key the proxy protects with toward this side: index into `keys`.
    current: AtomicU32,
    /// The peer's SSRC: bit 32 set once known.
    peer_ssrc: AtomicU64,
}

const KNOWN: u64 = 1 << 32;

impl Side {
    fn new(s: &SideSpec, ssrc: u32) -> Side {
        Side {
            leg: s.leg,
            peer: s.peer,
            keys: s.keys.clone(),
            ssrc,
            profile: s.profile,
            current: AtomicU32::new(0),
            peer_ssrc: AtomicU64::new(s.peer_ssrc.map_or(0, |p| KNOWN | u64::from(p))),
        }
    }

    #[cfg(test)]
    pub(crate) fn new_for_test(leg: u16, keys: &[KeyId]) -> Side {
        Side::new(
            &SideSpec::new(leg, SocketAddr::from(([127, 0, 0, 1], 1)), keys),
            1,
        )
    }

    /// The key toward this side (`None` in clear).
    pub fn key(&self) -> Option<KeyId> {
        self.keys
            .get(self.current.load(Ordering::Relaxed) as usize)
            .copied()
    }

    /// Whether the side is in clear.
    pub fn is_clear(&self) -> bool {
        self.keys.is_empty()
    }

    /// The peer's SSRC, once known.
    pub fn peer_ssrc(&self) -> Option<u32> {
        let v = self.peer_ssrc.load(Ordering::Relaxed);
        (v & KNOWN != 0).then_some(v as u32)
    }

    /// Whether `ssrc` is the peer's: learned now if the peer has none yet
    /// ([`Learn::New`], to be [`Side::forget`]ed if the packet is refused after all).
    pub(crate) fn learn(&self, ssrc: u32) -> Learn {
        let want = KNOWN | u64::from(ssrc);
        match self.peer_ssrc.load(Ordering::Relaxed) {
            v if v == want => Learn::Known,
            0 => {
                match self
                    .peer_ssrc
                    .compare_exchange(0, want, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => Learn::New,
                    Err(v) if v == want => Learn::Known,
                    Err(_) => Learn::Mismatch,
                }
            }
            _ => Learn::Mismatch,
        }
    }

    /// Undoes a [`Learn::New`] of `ssrc`.
    pub(crate) fn forget(&self, ssrc: u32) {
        let _ = self.peer_ssrc.compare_exchange(
            KNOWN | u64::from(ssrc),
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The peer's packet under `key` went through: the proxy answers under that key.
    pub(crate) fn answer_under(&self, key: Option<KeyId>) {
        if self.keys.len() > 1
            && let Some(k) = key
            && let Some(i) = self.keys.iter().position(|x| *x == k)
            && self.current.load(Ordering::Relaxed) != i as u32
        {
            self.current.store(i as u32, Ordering::Relaxed);
        }
    }

    /// [`Side::learn`] and, when it holds, [`Side::answer_under`].
    #[cfg(test)]
    pub(crate) fn saw(&self, ssrc: u32, key: Option<KeyId>) -> bool {
        let ok = self.learn(ssrc) != Learn::Mismatch;
        if ok {
            self.answer_under(key);
        }
        ok
    }
}

/// See [`Proxy::pin`].
pub struct Pinned<'a> {
    _guard: crate::sync::TableGuard<'a, Entry>,
}

impl fmt::Debug for Pinned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pinned")
    }
}

/// What [`Side::learn`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Learn {
    /// The peer's SSRC, known before.
    Known,
    /// The peer had none: this one is learned.
    New,
    /// The peer's SSRC is another.
    Mismatch,
}

/// A running session.
#[derive(Debug)]
pub struct Session {
    /// Its number (what the control plane names it by).
    pub id: u64,
    /// Toward the proxy's domain.
    pub inside: Side,
    /// Toward the outside: one side, or a fan-out's targets.
    pub outside: Vec<Side>,
    /// The per-session identity pair (inside form, outside form), applied before the map.
    pub alias: Option<(String, String)>,
}

impl SessionSpec {
    /// Whether this is a downlink fan-out: more than one outside target, or one under a
    /// multicast key.
    pub fn is_fan_out(&self) -> bool {
        fan_out(
            self.outside.len(),
            self.outside.first().map(|o| o.keys.as_slice()),
        )
    }
}

/// Whether `n` outside targets, the first under `first_keys`, make a fan-out.
fn fan_out(n: usize, first_keys: Option<&[KeyId]>) -> bool {
    n > 1
        || first_keys.is_some_and(|k| {
            !k.is_empty()
                && k.iter()
                    .all(|k| matches!(k.purpose(), Purpose::Musik | Purpose::Mkfc | Purpose::Mscck))
        })
}

impl Session {
    /// Whether this is a downlink fan-out: more than one outside target, or one under a
    /// multicast key.
    pub fn is_fan_out(&self) -> bool {
        fan_out(
            self.outside.len(),
            self.outside.first().map(|o| o.keys.as_slice()),
        )
    }

    pub(crate) fn outside_peer_ssrc(&self) -> Option<u32> {
        match self.outside.as_slice() {
            [one] => one.peer_ssrc(),
            _ => None,
        }
    }

    pub(crate) fn inside_peer_ssrc(&self) -> Option<u32> {
        self.inside.peer_ssrc()
    }

    /// The SSRC the proxy shows outside (a fan-out's targets share the first one's).
    pub(crate) fn outside_ssrc(&self) -> u32 {
        self.outside[0].ssrc
    }
}

/// What a session's entry in the lookup table points at: the session and which side the
/// packets under this (leg, peer, key) come from.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) session: Arc<Session>,
    /// Whether the packets come from the (one) outside side; else from the inside.
    pub(crate) from_outside: bool,
    pub(crate) leg: u16,
    pub(crate) peer: SocketAddr,
    pub(crate) key: Option<KeyId>,
}

/// Why a session was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// A (leg, peer, key) another session already receives on.
    Taken {
        /// The leg.
        leg: u16,
        /// The peer.
        peer: SocketAddr,
    },
    /// The role does not allow this key (or clear) on this side (what, in words).
    Role(String),
    /// No session has this number.
    Unknown(u64),
    /// A session needs at least one outside side, and a fan-out targets with keys.
    Shape(&'static str),
    /// An SSRC the proxy was told to use is used by another session.
    SsrcTaken(u32),
    /// The operating system's random source failed.
    RandomUnavailable,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Taken { leg, peer } => {
                write!(
                    f,
                    "leg {leg} already has a session from {peer} under that key"
                )
            }
            SessionError::Role(what) => write!(f, "the role does not allow this: {what}"),
            SessionError::Unknown(id) => write!(f, "no session {id}"),
            SessionError::Shape(what) => f.write_str(what),
            SessionError::SsrcTaken(s) => write!(f, "SSRC {s:#010x} is another session's"),
            SessionError::RandomUnavailable => f.write_str("the OS random source failed"),
        }
    }
}

impl core::error::Error for SessionError {}

/// The table key of (leg, peer, key): a 64-bit mix of them (the entry holds them in full,
/// so a lookup that lands on another triple's entry is told apart).
pub(crate) fn lookup_key(leg: u16, peer: &SocketAddr, key: Option<KeyId>) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    let mut mix = |x: u64| {
        h = (h ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    };
    mix(u64::from(leg) << 32 | u64::from(key.map_or(0, KeyId::get)));
    match peer {
        SocketAddr::V4(a) => mix(u64::from(u32::from(*a.ip())) << 16 | u64::from(a.port())),
        SocketAddr::V6(a) => {
            let o = a.ip().octets();
            mix(u64::from_be_bytes(o[..8].try_into().unwrap_or_default()));
            mix(u64::from_be_bytes(o[8..].try_into().unwrap_or_default()));
            mix(u64::from(a.port()) | 1 << 20);
        }
    }
    if h == EMPTY_KEY { h ^ 1 } else { h }
}

/// A proxy: its role, its identity map and its sessions. Shared by the data path of every
/// worker (`Arc<Proxy>`); each worker passes its own [`crate::Engine`] handle (its replay
/// windows) to the packet calls ([`Proxy::handle_datagram`]).
pub struct Proxy {
    role: Role,
    /// Replaced whole by [`Proxy::update_map`]; a packet (or a batch) reads the version
    /// current when it started.
    map: crate::sync::Rcu<IdentityMap>,
    lookup: Table<Entry>,
    /// Sessions by the proxy's inside SSRC.
    by_inside_ssrc: Table<Session>,
    control: Mutex<Control>,
}

#[derive(Default)]
struct Control {
    sessions: BTreeMap<u64, Arc<Session>>,
    /// Every SSRC a session side of the proxy sends with.
    ssrcs: std::collections::HashSet<u32>,
    next_id: u64,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("role", &self.role)
            .field("sessions", &self.lookup.len())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy with no sessions yet, playing `role`, hiding what `map` says.
    pub fn new(role: Role, map: IdentityMap) -> Proxy {
        Proxy {
            role,
            map: crate::sync::Rcu::new(map),
            lookup: Table::new(),
            by_inside_ssrc: Table::new(),
            control: Mutex::new(Control {
                next_id: 1,
                ..Control::default()
            }),
        }
    }

    /// The role.
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// The identity map as it is now (held while the guard lives).
    pub fn map(&self) -> crate::sync::RcuGuard<'_, IdentityMap> {
        self.map.read()
    }

    /// Changes the identity map: `f` gets the current one and returns its successor, which
    /// packets read from then on; or refuses, and nothing changes. Returns once no packet
    /// still reads the old one.
    pub fn update_map(
        &self,
        f: impl FnOnce(&IdentityMap) -> Result<IdentityMap, MapError>,
    ) -> Result<(), MapError> {
        self.map
            .try_update(|m| f(m).map(|next| (Box::new(next), ())))
            .map(drop)
    }

    fn control(&self) -> impl core::ops::DerefMut<Target = Control> + '_ {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a session after checking it against the role; returns it (with the SSRCs the
    /// proxy chose).
    pub fn add(&self, spec: &SessionSpec) -> Result<Arc<Session>, SessionError> {
        let mut c = self.control();
        self.check_locked(&c, spec, None)?;
        let inside_ssrc = self.pick_ssrc(&c, spec.inside.ssrc)?;
        let outside_ssrc = self.pick_ssrc(&c, spec.outside[0].ssrc)?;
        if inside_ssrc == outside_ssrc {
            return Err(SessionError::SsrcTaken(inside_ssrc));
        }
        let id = c.next_id;
        c.next_id += 1;
        Ok(self.insert_locked(&mut c, spec, id, inside_ssrc, outside_ssrc))
    }

    /// Everything [`Proxy::add`] checks before it changes anything; `replacing` names a
    /// session whose triples and SSRCs the spec may reuse (a rekey).
    fn check_locked(
        &self,
        c: &Control,
        spec: &SessionSpec,
        replacing: Option<u64>,
    ) -> Result<(), SessionError> {
        if spec.outside.is_empty() {
            return Err(SessionError::Shape("a session needs an outside side"));
        }
        if spec.is_fan_out() {
            let first = &spec.outside[0];
            for t in &spec.outside {
                if t.keys.len() != 1 {
                    return Err(SessionError::Shape(
                        "each fan-out target needs exactly one key",
                    ));
                }
                if t.profile != first.profile || (t.ssrc.is_some() && t.ssrc != first.ssrc) {
                    return Err(SessionError::Shape(
                        "a fan-out's targets share one SSRC and one field numbering: the \
                         packet is rewritten once",
                    ));
                }
            }
        }
        if let Some((a, b)) = &spec.alias
            && [a, b].iter().any(|x| x.is_empty() || x.len() > 255)
        {
            return Err(SessionError::Shape(
                "an alias is two identities of 1 to 255 octets",
            ));
        }
        self.role.check(spec)?;
        if let (Role::SecurityGateway(GatewayMode::ClientPerUser), Some((mc, ext))) =
            (&self.role, &spec.alias)
            && c.sessions
                .values()
                .filter(|s| Some(s.id) != replacing)
                .filter_map(|s| s.alias.as_ref())
                .any(|(m, e)| m == mc && e != ext)
        {
            return Err(SessionError::Role(format!(
                "solution 7.2: {mc} already stands for another external user"
            )));
        }
        let triples = receive_triples(spec);
        let snap = self.lookup.read();
        for (k, (leg, peer, key, _)) in triples.iter().enumerate() {
            let taken = SessionError::Taken {
                leg: *leg,
                peer: *peer,
            };
            if triples[..k]
                .iter()
                .any(|(l, p, y, _)| l == leg && p == peer && y == key)
            {
                return Err(taken);
            }
            // Another session's triple, or another triple mixed to the same 64 bits
            // (astronomically rare): refused either way.
            if let Some(e) = snap.get(lookup_key(*leg, peer, *key))
                && Some(e.session.id) != replacing
            {
                return Err(taken);
            }
        }
        Ok(())
    }

    /// Publishes a checked session.
    fn insert_locked(
        &self,
        c: &mut Control,
        spec: &SessionSpec,
        id: u64,
        inside_ssrc: u32,
        outside_ssrc: u32,
    ) -> Arc<Session> {
        let (session, entries) = built(spec, id, inside_ssrc, outside_ssrc);
        for (k, e) in entries {
            let inserted = self.lookup.insert(k, e);
            debug_assert!(inserted.is_ok(), "checked under the writer lock");
        }
        let _ = self
            .by_inside_ssrc
            .insert(u64::from(inside_ssrc), Arc::clone(&session));
        c.ssrcs.insert(inside_ssrc);
        c.ssrcs.insert(outside_ssrc);
        c.sessions.insert(id, Arc::clone(&session));
        session
    }

    /// An SSRC for the proxy's side of a new session: `wanted`, or a random one no session
    /// uses.
    fn pick_ssrc(&self, c: &Control, wanted: Option<u32>) -> Result<u32, SessionError> {
        let used = |s: u32| c.ssrcs.contains(&s);
        if let Some(s) = wanted {
            return if used(s) {
                Err(SessionError::SsrcTaken(s))
            } else {
                Ok(s)
            };
        }
        loop {
            let mut b = [0u8; 4];
            getrandom::fill(&mut b).map_err(|_| SessionError::RandomUnavailable)?;
            let s = u32::from_be_bytes(b);
            if !used(s) {
                return Ok(s);
            }
        }
    }

    /// Removes session `id`: once this returns, no packet is matched to it.
    pub fn remove(&self, id: u64) -> Result<(), SessionError> {
        let mut c = self.control();
        self.remove_locked(&mut c, id)
            .map(drop)
            .ok_or(SessionError::Unknown(id))
    }

    fn remove_locked(&self, c: &mut Control, id: u64) -> Option<Arc<Session>> {
        let s = c.sessions.remove(&id)?;
        c.ssrcs.remove(&s.inside.ssrc);
        c.ssrcs.remove(&s.outside_ssrc());
        let keys: Vec<u64> = receive_triples_of(&s)
            .into_iter()
            .map(|(leg, peer, key)| lookup_key(leg, &peer, key))
            .collect();
        drop(self.lookup.remove_many(&keys));
        drop(self.by_inside_ssrc.remove(u64::from(s.inside.ssrc)));
        Some(s)
    }

    /// Moves every session side that accepts `from` to `to` (a key replaced by key download:
    /// the sessions follow it, keeping their numbers, their SSRCs, the peer SSRCs they
    /// learned and the key each side answers under). Every session is checked first; a
    /// refusal changes nothing. Returns how many sessions changed.
    pub fn rekey(&self, from: KeyId, to: KeyId) -> Result<usize, SessionError> {
        let mut c = self.control();
        let changed: Vec<(Arc<Session>, SessionSpec)> = c
            .sessions
            .values()
            .filter(|s| {
                s.inside.keys.contains(&from) || s.outside.iter().any(|o| o.keys.contains(&from))
            })
            .map(|s| (Arc::clone(s), spec_of(s, from, to)))
            .collect();
        let mut all = Vec::new();
        for (s, spec) in &changed {
            self.check_locked(&c, spec, Some(s.id))?;
            for t in receive_triples(spec) {
                if all.contains(&t) {
                    return Err(SessionError::Taken {
                        leg: t.0,
                        peer: t.1,
                    });
                }
                all.push(t);
            }
        }
        for (old, spec) in &changed {
            let (new, entries) = built(spec, old.id, old.inside.ssrc, old.outside_ssrc());
            for (n, o) in core::iter::once((&new.inside, &old.inside))
                .chain(new.outside.iter().zip(&old.outside))
            {
                n.current
                    .store(o.current.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            // Swapped in place: a packet of the session finds the old entry or the new one,
            // never none.
            let gone: Vec<u64> = receive_triples_of(old)
                .into_iter()
                .map(|(leg, peer, key)| lookup_key(leg, &peer, key))
                .collect();
            drop(self.lookup.replace_many(entries, &gone));
            drop(
                self.by_inside_ssrc
                    .replace_many(vec![(u64::from(new.inside.ssrc), Arc::clone(&new))], &[]),
            );
            c.sessions.insert(old.id, new);
        }
        Ok(changed.len())
    }

    /// The running sessions.
    pub fn list(&self) -> Vec<Arc<Session>> {
        self.control().sessions.values().cloned().collect()
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.control().sessions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The session and side that packets from `peer` on `leg` under `key` belong to.
    pub(crate) fn find<'g>(
        &self,
        guard: &'g crate::sync::TableGuard<'_, Entry>,
        leg: u16,
        peer: &SocketAddr,
        key: Option<KeyId>,
    ) -> Option<&'g Entry> {
        guard
            .get(lookup_key(leg, peer, key))
            .filter(|e| e.leg == leg && e.peer == *peer && e.key == key)
    }

    pub(crate) fn read(&self) -> crate::sync::TableGuard<'_, Entry> {
        self.lookup.read()
    }

    /// Holds the session table as it is now: while a `Pinned` lives, [`Proxy::remove`] (and
    /// a rekey) does not return. A relay holds one from before a turn's packets are matched
    /// until they are sent, so that once `remove` returns no packet of the session goes out.
    pub fn pin(&self) -> Pinned<'_> {
        Pinned {
            _guard: self.lookup.read(),
        }
    }

    /// Whether any session receives on `leg` from `peer` in clear.
    pub fn has_clear(&self, leg: u16, peer: &SocketAddr) -> bool {
        let g = self.lookup.read();
        self.find(&g, leg, peer, None).is_some()
    }

    /// The SSRC the outside knows the session of inside SSRC `ssrc` by: its outside peer's.
    pub(crate) fn outside_view_of(&self, ssrc: u32) -> Option<u32> {
        self.by_inside_ssrc
            .read()
            .get(u64::from(ssrc))
            .and_then(Session::outside_peer_ssrc)
    }
}

/// The (leg, peer, key, from outside) triples a session receives on: every inside key (or
/// clear), and for a unicast session every outside key.
fn receive_triples(spec: &SessionSpec) -> Vec<(u16, SocketAddr, Option<KeyId>, bool)> {
    let mut t = Vec::new();
    let mut side = |s: &SideSpec, outside: bool| {
        if s.keys.is_empty() {
            t.push((s.leg, s.peer, None, outside));
        }
        for k in &s.keys {
            t.push((s.leg, s.peer, Some(*k), outside));
        }
    };
    side(&spec.inside, false);
    if let [one] = spec.outside.as_slice()
        && !spec.is_fan_out()
    {
        side(one, true);
    }
    t
}

fn receive_triples_of(s: &Session) -> Vec<(u16, SocketAddr, Option<KeyId>)> {
    receive_triples(&spec_of_session(s))
        .into_iter()
        .map(|(l, p, k, _)| (l, p, k))
        .collect()
}

fn side_spec(s: &Side) -> SideSpec {
    SideSpec {
        leg: s.leg,
        peer: s.peer,
        keys: s.keys.clone(),
        ssrc: Some(s.ssrc),
        peer_ssrc: s.peer_ssrc(),
        profile: s.profile,
    }
}

fn spec_of_session(s: &Session) -> SessionSpec {
    SessionSpec {
        inside: side_spec(&s.inside),
        outside: s.outside.iter().map(side_spec).collect(),
        alias: s.alias.clone(),
    }
}

fn spec_of(s: &Session, from: KeyId, to: KeyId) -> SessionSpec {
    let mut spec = spec_of_session(s);
    for side in core::iter::once(&mut spec.inside).chain(spec.outside.iter_mut()) {
        for k in &mut side.keys {
            if *k == from {
                *k = to;
            }
        }
    }
    spec
}

/// A session from its checked spec, and its lookup entries (not yet published).
fn built(
    spec: &SessionSpec,
    id: u64,
    inside_ssrc: u32,
    outside_ssrc: u32,
) -> (Arc<Session>, Vec<(u64, Arc<Entry>)>) {
    let session = Arc::new(Session {
        id,
        inside: Side::new(&spec.inside, inside_ssrc),
        outside: spec
            .outside
            .iter()
            .map(|s| Side::new(s, outside_ssrc))
            .collect(),
        alias: spec.alias.clone(),
    });
    let entries = receive_triples(spec)
        .into_iter()
        .map(|(leg, peer, key, from_outside)| {
            let e = Arc::new(Entry {
                session: Arc::clone(&session),
                from_outside,
                leg,
                peer,
                key,
            });
            (lookup_key(leg, &peer, key), e)
        })
        .collect();
    (session, entries)
}

/// What purpose a key of this side has, for the role checks.
pub(crate) fn purposes(s: &SideSpec) -> impl Iterator<Item = Purpose> + '_ {
    s.keys.iter().map(|k| k.purpose())
}

/// What the plaintext of an MCData protected payload is, for [`Proxy::reprotect_mcdata`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McdataContent {
    /// Not interpreted: it crosses as it is.
    Opaque,
    /// A TS 24.282 message: its identities are rewritten for the direction it crosses in.
    Message(super::Direction),
}

impl Proxy {
    /// Re-protects an XML body of a SIP message crossing the proxy, in one call: opens it
    /// under the XML keys of store key `from` (the client hop's CSK, or an SPK), rewrites its
    /// identities (`mcpttURI` / `mcdataURI` contents) through the identity map for `dir`, and
    /// protects the elements `elements` under the XML keys of `to` (the server hop's SPK, or
    /// a CSK). The keys are looked up on every call, so a revoked CSK or SPK stops its XML
    /// keys at once. On an error `out` is as it was; the plaintext in between is zeroized.
    #[allow(clippy::too_many_arguments)]
    pub fn reprotect_xml(
        &self,
        store: &crate::store::KeyStore,
        doc: &[u8],
        from: KeyId,
        to: KeyId,
        dir: super::Direction,
        elements: &crate::xml::Elements,
        limits: &crate::xml::Limits,
        now: crate::time::Timestamp,
        out: &mut Vec<u8>,
    ) -> Result<usize, crate::store::BodyError> {
        // Sized so that they do not grow (a grown Vec would leave plaintext behind in the
        // memory it left).
        let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(doc.len()));
        store.xml_unprotect(from, doc, limits, now, &mut plain)?;
        let mut moved = zeroize::Zeroizing::new(Vec::with_capacity(plain.len() + 4096));
        let map = self.map();
        crate::xml::rewrite_identities(&plain, limits, |id| map.map(id, dir), &mut moved)
            .map_err(crate::store::BodyError::Xml)?;
        store.xml_protect(to, &moved, elements, limits, now, out)
    }

    /// Re-protects an MCData signalling payload crossing the proxy, in one call: opened under
    /// the payload key of store key `from` (the client hop's CSK), protected under `to`'s (the
    /// server hop's SPK) with a fresh IV and the same message type, date and time, payload ID,
    /// sequence number and IEI. With [`McdataContent::Message`] the plaintext is a TS 24.282
    /// message, checked element by element and its sender, recipient and group identities
    /// rewritten through the identity map ([`crate::mcdata::signalling`]); with
    /// [`McdataContent::Opaque`] it crosses as it is. Returns the length written to `out`. On
    /// an error nothing useful is in `out`; the plaintext in between is wiped.
    #[allow(clippy::too_many_arguments)]
    pub fn reprotect_mcdata(
        &self,
        store: &crate::store::KeyStore,
        msg: &[u8],
        from: KeyId,
        to: KeyId,
        content: McdataContent,
        now: crate::time::Timestamp,
        out: &mut [u8],
    ) -> Result<usize, crate::store::BodyError> {
        use crate::store::BodyError;
        let mut plain = zeroize::Zeroizing::new(vec![0u8; msg.len()]);
        let o = store.mcdata_unprotect(from, msg, now, &mut plain)?;
        let h = crate::mcdata::Header::new(
            o.header.message_type,
            o.header.date_time,
            o.header.payload_id,
            o.header.sequence,
            o.header.iei,
        )
        .map_err(BodyError::Mcdata)?;
        let McdataContent::Message(dir) = content else {
            return store.mcdata_protect(to, &h, &plain[..o.len], now, out);
        };
        let mut moved = zeroize::Zeroizing::new(Vec::new());
        self.rewrite_mcdata(&plain[..o.len], dir, &mut moved)
            .map_err(BodyError::Signalling)?;
        store.mcdata_protect(to, &h, &moved, now, out)
    }

    /// Rewrites the identities of a TS 24.282 MCData message in clear (toward a trusted core,
    /// or once opened) through the identity map for `dir`, into `out` (its contents replaced;
    /// memory it gives up is not wiped, so pass an empty one for plaintext). Returns the
    /// number of identities replaced.
    pub fn rewrite_mcdata(
        &self,
        msg: &[u8],
        dir: super::Direction,
        out: &mut Vec<u8>,
    ) -> Result<u32, crate::mcdata::signalling::Error> {
        use crate::mcdata::signalling;
        let map = self.map();
        let n = signalling::rewritten_len(msg, |id| map.map(id, dir))?;
        out.clear();
        out.resize(n, 0);
        let r = signalling::rewrite(msg, |id| map.map(id, dir), out)?;
        out.truncate(r.len);
        Ok(r.identities)
    }
}
