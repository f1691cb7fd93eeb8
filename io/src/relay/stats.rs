//! The relay's counters: each worker counts in its own memory during a turn and publishes
//! once per turn into atomics that only it writes, so readers (`stats`) take no lock and the
//! data path shares no cache line between workers.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::backend::BackendStats;

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Drop {
    /// Not an SRTCP packet the relay can address (too short, too long, bad version, no MKI).
    Malformed,
    /// No route for (leg, key ID).
    NoRoute,
    /// The MKI names no installed key.
    UnknownKey,
    /// The authentication tag did not verify.
    Auth,
    /// Replayed or older than the replay window.
    Replay,
    /// The key is revoked, expired, superseded or not yet valid.
    KeyState,
    /// The key's purpose does not allow it on this path.
    WrongPurpose,
    /// The key has as many streams as it may.
    TooManyStreams,
    /// The owning worker's hand-off ring was full.
    HandoffFull,
    /// No packet slot was free (or no room in the turn for more fan-out targets).
    SlabFull,
    /// Re-protecting under the egress key failed (the key left, or its index ran out).
    Protect,
    /// A proxy session's peer sent under another SSRC than the one the session learned.
    SsrcChanged,
    /// A proxy session's packet was not TS 24.380 floor control (an SR, RR or SDES would
    /// carry names across the proxy).
    NotFloorControl,
}

impl Drop {
    /// Every reason, in counter order.
    pub const ALL: [Drop; 13] = [
        Drop::Malformed,
        Drop::NoRoute,
        Drop::UnknownKey,
        Drop::Auth,
        Drop::Replay,
        Drop::KeyState,
        Drop::WrongPurpose,
        Drop::TooManyStreams,
        Drop::HandoffFull,
        Drop::SlabFull,
        Drop::Protect,
        Drop::SsrcChanged,
        Drop::NotFloorControl,
    ];

    /// The name in `stats`.
    pub fn name(self) -> &'static str {
        match self {
            Drop::Malformed => "malformed",
            Drop::NoRoute => "no_route",
            Drop::UnknownKey => "unknown_key",
            Drop::Auth => "auth",
            Drop::Replay => "replay",
            Drop::KeyState => "key_state",
            Drop::WrongPurpose => "wrong_purpose",
            Drop::TooManyStreams => "too_many_streams",
            Drop::HandoffFull => "handoff_full",
            Drop::SlabFull => "slab_full",
            Drop::Protect => "protect",
            Drop::SsrcChanged => "ssrc_changed",
            Drop::NotFloorControl => "not_floor_control",
        }
    }
}

/// Counter slots of a worker, beside the per-leg and per-reason ones.
pub(crate) const C_RX: usize = 0;
pub(crate) const C_FORWARDED: usize = 1;
pub(crate) const C_HANDOFF_OUT: usize = 2;
pub(crate) const C_HANDOFF_IN: usize = 3;
pub(crate) const C_TURNS: usize = 4;
pub(crate) const C_COALESCED: usize = 5;
pub(crate) const C_RECV_FAILED: usize = 6;
const C_BACKEND: usize = 7;
const N_BACKEND: usize = 10;
const C_DROPS: usize = C_BACKEND + N_BACKEND;
const C_LEGS: usize = C_DROPS + Drop::ALL.len();

/// A worker's counters as the worker keeps them during a turn.
#[derive(Debug)]
pub(crate) struct Local {
    pub(crate) v: Vec<u64>,
}

impl Local {
    pub(crate) fn new(legs: usize) -> Local {
        Local {
            v: vec![0; C_LEGS + 2 * legs],
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, i: usize, n: u64) {
        self.v[i] += n;
    }

    #[inline]
    pub(crate) fn drop(&mut self, why: Drop, n: u64) {
        self.v[C_DROPS + why as usize] += n;
    }

    #[inline]
    pub(crate) fn leg_rx(&mut self, leg: usize) {
        self.v[C_LEGS + 2 * leg] += 1;
    }

    #[inline]
    pub(crate) fn leg_tx(&mut self, leg: usize, n: u64) {
        self.v[C_LEGS + 2 * leg + 1] += n;
    }

    pub(crate) fn set_backend(&mut self, b: &BackendStats) {
        let vals = [
            b.recv_calls,
            b.send_calls,
            b.sent,
            b.send_errors,
            b.gso_sends,
            b.gso_fallbacks,
            b.enobufs,
            b.rearms,
            b.recv_errors,
            b.truncated,
        ];
        self.v[C_BACKEND..C_BACKEND + N_BACKEND].copy_from_slice(&vals);
    }
}

/// The published copy of a worker's counters (written by that worker only).
#[derive(Debug)]
pub(crate) struct Published {
    v: Box<[AtomicU64]>,
    pub(crate) tid: AtomicU64,
    pub(crate) core: AtomicU64,
}

impl Published {
    pub(crate) fn new(legs: usize) -> Published {
        Published {
            v: (0..C_LEGS + 2 * legs).map(|_| AtomicU64::new(0)).collect(),
            tid: AtomicU64::new(0),
            core: AtomicU64::new(u64::MAX),
        }
    }

    pub(crate) fn publish(&self, l: &Local) {
        for (a, &x) in self.v.iter().zip(&l.v) {
            // Single writer: a plain store of the worker's own running total.
            a.store(x, Ordering::Relaxed);
        }
    }

    fn get(&self, i: usize) -> u64 {
        self.v[i].load(Ordering::Relaxed)
    }
}

/// Packets dropped, by reason.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Drops {
    /// Not addressable SRTCP.
    pub malformed: u64,
    /// No route.
    pub no_route: u64,
    /// Unknown key.
    pub unknown_key: u64,
    /// Tag did not verify.
    pub auth: u64,
    /// Replayed or too old.
    pub replay: u64,
    /// Revoked, expired, superseded or not yet valid key.
    pub key_state: u64,
    /// Key purpose not allowed.
    pub wrong_purpose: u64,
    /// Too many streams for the key.
    pub too_many_streams: u64,
    /// Owner's hand-off ring full.
    pub handoff_full: u64,
    /// No packet slot free.
    pub slab_full: u64,
    /// Egress protect failed.
    pub protect: u64,
    /// A proxy session's peer changed SSRC.
    pub ssrc_changed: u64,
    /// A proxy session's packet was not floor control.
    pub not_floor_control: u64,
    /// The kernel refused the send.
    pub send: u64,
}

impl Drops {
    fn from_counts(c: &[u64], send: u64) -> Drops {
        Drops {
            malformed: c[Drop::Malformed as usize],
            no_route: c[Drop::NoRoute as usize],
            unknown_key: c[Drop::UnknownKey as usize],
            auth: c[Drop::Auth as usize],
            replay: c[Drop::Replay as usize],
            key_state: c[Drop::KeyState as usize],
            wrong_purpose: c[Drop::WrongPurpose as usize],
            too_many_streams: c[Drop::TooManyStreams as usize],
            handoff_full: c[Drop::HandoffFull as usize],
            slab_full: c[Drop::SlabFull as usize],
            protect: c[Drop::Protect as usize],
            ssrc_changed: c[Drop::SsrcChanged as usize],
            not_floor_control: c[Drop::NotFloorControl as usize],
            send,
        }
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.malformed
            + self.no_route
            + self.unknown_key
            + self.auth
            + self.replay
            + self.key_state
            + self.wrong_purpose
            + self.too_many_streams
            + self.handoff_full
            + self.slab_full
            + self.protect
            + self.ssrc_changed
            + self.not_floor_control
            + self.send
    }

    fn add(&mut self, o: &Drops) {
        self.malformed += o.malformed;
        self.no_route += o.no_route;
        self.unknown_key += o.unknown_key;
        self.auth += o.auth;
        self.replay += o.replay;
        self.key_state += o.key_state;
        self.wrong_purpose += o.wrong_purpose;
        self.too_many_streams += o.too_many_streams;
        self.handoff_full += o.handoff_full;
        self.slab_full += o.slab_full;
        self.protect += o.protect;
        self.ssrc_changed += o.ssrc_changed;
        self.not_floor_control += o.not_floor_control;
        self.send += o.send;
    }
}

/// One worker's figures.
#[derive(Clone, Debug, Serialize)]
pub struct WorkerStats {
    /// Worker index.
    pub worker: usize,
    /// The core it is pinned to, if pinned.
    pub core: Option<usize>,
    /// Its thread ID (for `/proc/self/task/TID`).
    pub tid: u64,
    /// Datagrams received from its sockets.
    pub received: u64,
    /// Packets the kernel took for sending.
    pub sent: u64,
    /// Packets handed to their owning worker.
    pub handed_off: u64,
    /// Packets taken from other workers.
    pub taken_over: u64,
    /// Loop turns.
    pub turns: u64,
    /// Datagrams that arrived coalesced with others (GRO).
    pub coalesced: u64,
    /// Receive calls that failed as a whole (the worker goes on).
    pub recv_failed: u64,
    /// Drops by reason.
    pub dropped: Drops,
    /// Receive calls (ring enters for io_uring).
    pub recv_calls: u64,
    /// Send calls (submissions for io_uring).
    pub send_calls: u64,
    /// GSO sends.
    pub gso_sends: u64,
    /// GSO refused by the kernel, turned off.
    pub gso_fallbacks: u64,
    /// io_uring receives that found no buffer.
    pub enobufs: u64,
    /// Multishot receives armed again.
    pub rearms: u64,
    /// Receive errors.
    pub recv_errors: u64,
    /// Datagrams too large for a buffer.
    pub truncated: u64,
}

/// One leg's figures over every worker.
#[derive(Clone, Debug, Serialize)]
pub struct LegStats {
    /// Name.
    pub name: String,
    /// Bound address.
    pub listen: String,
    /// Datagrams received on it.
    pub received: u64,
    /// Packets routed out of it.
    pub sent: u64,
}

/// Everything `stats` reports.
#[derive(Clone, Debug, Serialize)]
pub struct RelayStats {
    /// The I/O backend running.
    pub io: String,
    /// Why it was chosen.
    pub io_reason: String,
    /// Received datagrams, all workers.
    pub received: u64,
    /// Sent packets, all workers.
    pub sent: u64,
    /// Drops, all workers.
    pub dropped: Drops,
    /// Keys installed.
    pub keys: usize,
    /// Routes installed.
    pub routes: usize,
    /// Per worker.
    pub workers: Vec<WorkerStats>,
    /// Per leg.
    pub legs: Vec<LegStats>,
}

pub(crate) fn collect(
    published: &[Published],
    legs: &[(String, String)],
) -> (Vec<WorkerStats>, Vec<LegStats>, Drops) {
    let mut ws = Vec::new();
    let mut ls: Vec<LegStats> = legs
        .iter()
        .map(|(n, a)| LegStats {
            name: n.clone(),
            listen: a.clone(),
            received: 0,
            sent: 0,
        })
        .collect();
    let mut total = Drops::default();
    for (i, p) in published.iter().enumerate() {
        let d: Vec<u64> = (0..Drop::ALL.len()).map(|k| p.get(C_DROPS + k)).collect();
        let b = |k: usize| p.get(C_BACKEND + k);
        let drops = Drops::from_counts(&d, b(3));
        total.add(&drops);
        for (li, l) in ls.iter_mut().enumerate() {
            l.received += p.get(C_LEGS + 2 * li);
            l.sent += p.get(C_LEGS + 2 * li + 1);
        }
        let core = p.core.load(Ordering::Relaxed);
        ws.push(WorkerStats {
            worker: i,
            core: (core != u64::MAX).then_some(core as usize),
            tid: p.tid.load(Ordering::Relaxed),
            received: p.get(C_RX),
            sent: b(2),
            handed_off: p.get(C_HANDOFF_OUT),
            taken_over: p.get(C_HANDOFF_IN),
            turns: p.get(C_TURNS),
            coalesced: p.get(C_COALESCED),
            recv_failed: p.get(C_RECV_FAILED),
            dropped: drops,
            recv_calls: b(0),
            send_calls: b(1),
            gso_sends: b(4),
            gso_fallbacks: b(5),
            enobufs: b(6),
            rearms: b(7),
            recv_errors: b(8),
            truncated: b(9),
        });
    }
    (ws, ls, total)
}
