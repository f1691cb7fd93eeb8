//! Per-worker counters: written by their worker alone, read without locks.

use crate::sync::{AtomicU64, AtomicUsize, Ordering};

use super::Error;
use crate::Error as DatapathError;
use crate::srtcp;

/// Why a packet failed, for the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// Not a valid RTCP/SRTCP packet (too short, bad version, lengths).
    Malformed,
    /// No room for the result.
    BufferTooSmall,
    /// The key ID / MKI names no installed key.
    UnknownKey,
    /// The tag did not verify (forged or damaged).
    AuthenticationFailed,
    /// Replayed, or older than the replay window.
    Replayed,
    /// Key used outside its purpose, or E=0 where encryption is required.
    Policy,
    /// The key is revoked, or superseded past its grace period.
    Revoked,
    /// Outside the key's activation/expiry times.
    Time,
    /// Stream bound reached or transmit index exhausted.
    Limit,
    /// A worker panic caught at the pool's boundary.
    Internal,
}

impl Cause {
    /// Every cause, in counter order.
    pub const ALL: [Cause; 10] = [
        Cause::Malformed,
        Cause::BufferTooSmall,
        Cause::UnknownKey,
        Cause::AuthenticationFailed,
        Cause::Replayed,
        Cause::Policy,
        Cause::Revoked,
        Cause::Time,
        Cause::Limit,
        Cause::Internal,
    ];

    /// The cause of a data-path error.
    pub fn of(e: Error) -> Cause {
        match e {
            Error::Datapath(d) => Cause::of_datapath(d),
            Error::Internal => Cause::Internal,
            Error::Xml(x) => match x {
                crate::xml::Error::AuthenticationFailed => Cause::AuthenticationFailed,
                crate::xml::Error::WrongKey | crate::xml::Error::AlgorithmMismatch => {
                    Cause::UnknownKey
                }
                crate::xml::Error::TooLarge
                | crate::xml::Error::TooDeep
                | crate::xml::Error::TooManyAttributes => Cause::Limit,
                crate::xml::Error::RandomUnavailable => Cause::Internal,
                _ => Cause::Malformed,
            },
            Error::Mcdata(m) => match m {
                crate::mcdata::Error::AuthenticationFailed => Cause::AuthenticationFailed,
                crate::mcdata::Error::WrongKey { .. } | crate::mcdata::Error::AlgorithmMismatch => {
                    Cause::UnknownKey
                }
                crate::mcdata::Error::BufferTooSmall => Cause::BufferTooSmall,
                crate::mcdata::Error::TooLong => Cause::Limit,
                crate::mcdata::Error::RandomUnavailable => Cause::Internal,
                _ => Cause::Malformed,
            },
        }
    }

    /// The cause of a data-path error.
    pub fn of_datapath(e: DatapathError) -> Cause {
        use srtcp::Error as S;
        match e {
            DatapathError::Srtcp(S::TooShort | S::BadVersion | S::LengthMismatch) => {
                Cause::Malformed
            }
            DatapathError::Srtcp(S::BufferTooSmall) => Cause::BufferTooSmall,
            DatapathError::Srtcp(S::UnknownMki) | DatapathError::UnknownKey => Cause::UnknownKey,
            DatapathError::Srtcp(S::AuthenticationFailed) => Cause::AuthenticationFailed,
            DatapathError::Srtcp(S::Replayed | S::TooOld) => Cause::Replayed,
            DatapathError::Srtcp(S::NotEncrypted) | DatapathError::WrongPurpose(_) => Cause::Policy,
            DatapathError::Revoked | DatapathError::Superseded => Cause::Revoked,
            DatapathError::NotYetValid | DatapathError::Expired => Cause::Time,
            DatapathError::Srtcp(S::KeyExhausted) | DatapathError::TooManyStreams => Cause::Limit,
        }
    }

    /// A short stable name for logs and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Cause::Malformed => "malformed",
            Cause::BufferTooSmall => "buffer_too_small",
            Cause::UnknownKey => "unknown_key",
            Cause::AuthenticationFailed => "authentication_failed",
            Cause::Replayed => "replayed",
            Cause::Policy => "policy",
            Cause::Revoked => "revoked",
            Cause::Time => "time",
            Cause::Limit => "limit",
            Cause::Internal => "internal",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// One worker's figures since the pool started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// The core the worker is pinned to, if pinning is on and succeeded.
    pub core: Option<usize>,
    /// Job parts processed (a job is split into one part per worker it touches).
    pub parts: u64,
    /// Packets processed, failed ones included.
    pub packets: u64,
    /// Octets of the packets that succeeded, as they left the worker.
    pub bytes: u64,
    /// Failed packets by [`Cause`] (index: position in [`Cause::ALL`]).
    pub failures: [u64; Cause::ALL.len()],
    /// Panics caught.
    pub panics: u64,
    /// Nanoseconds spent processing parts (the rest of the worker's time it waited for
    /// work): busy time over wall time is the worker's load.
    pub busy_ns: u64,
    /// Most parts the worker's ring held at once.
    pub ring_high_water: usize,
    /// The ring's capacity.
    pub ring_capacity: usize,
    /// Receive streams (replay windows) the worker held after its last part.
    pub rx_streams: usize,
}

impl WorkerStats {
    /// Failed packets of one cause.
    pub fn failed(&self, cause: Cause) -> u64 {
        self.failures[cause.slot()]
    }

    /// Failed packets, all causes.
    pub fn failed_total(&self) -> u64 {
        self.failures.iter().sum()
    }
}

/// The whole pool's figures: one entry per worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Per worker, in worker order.
    pub workers: Vec<WorkerStats>,
}

impl PoolStats {
    /// The workers' figures added up (`core`: none; high-water mark: the largest).
    pub fn total(&self) -> WorkerStats {
        let mut t = WorkerStats::default();
        for w in &self.workers {
            t.parts += w.parts;
            t.packets += w.packets;
            t.bytes += w.bytes;
            t.panics += w.panics;
            t.busy_ns += w.busy_ns;
            for (a, b) in t.failures.iter_mut().zip(w.failures) {
                *a += b;
            }
            t.ring_high_water = t.ring_high_water.max(w.ring_high_water);
            t.ring_capacity = t.ring_capacity.max(w.ring_capacity);
            t.rx_streams += w.rx_streams;
        }
        t
    }
}

/// The live counters. One writer (the worker), so an add is a load and a store, not a
/// locked read-modify-write; readers take `Relaxed` snapshots.
#[derive(Debug)]
pub(super) struct Counters {
    core: AtomicUsize,
    parts: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
    failures: [AtomicU64; Cause::ALL.len()],
    panics: AtomicU64,
    busy_ns: AtomicU64,
    high_water: AtomicUsize,
    rx_streams: AtomicUsize,
}

const NO_CORE: usize = usize::MAX;

fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl Counters {
    pub(super) fn new() -> Counters {
        Counters {
            core: AtomicUsize::new(NO_CORE),
            parts: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failures: core::array::from_fn(|_| AtomicU64::new(0)),
            panics: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            high_water: AtomicUsize::new(0),
            rx_streams: AtomicUsize::new(0),
        }
    }

    pub(super) fn set_core(&self, core: usize) {
        self.core.store(core, Ordering::Relaxed);
    }

    pub(super) fn ring_len(&self, len: usize) {
        if len > self.high_water.load(Ordering::Relaxed) {
            self.high_water.store(len, Ordering::Relaxed);
        }
    }

    /// Counts a processed packet (its result is set).
    pub(super) fn packet<B: super::PacketBuf>(&self, p: &super::Packet<B>) {
        bump(&self.packets, 1);
        match p.result {
            Some(Ok(_)) => bump(&self.bytes, p.buf.bytes().len() as u64),
            Some(Err(e)) => bump(&self.failures[Cause::of(e).slot()], 1),
            None => bump(&self.failures[Cause::Internal.slot()], 1),
        }
    }

    /// Counts a processed part that took `busy_ns`, after which the worker held
    /// `rx_streams` receive streams.
    pub(super) fn part(&self, panicked: bool, busy_ns: u64, rx_streams: usize) {
        self.rx_streams.store(rx_streams, Ordering::Relaxed);
        bump(&self.parts, 1);
        bump(&self.busy_ns, busy_ns);
        bump(&self.panics, u64::from(panicked));
    }

    pub(super) fn snapshot(&self, ring_capacity: usize) -> WorkerStats {
        let core = self.core.load(Ordering::Relaxed);
        WorkerStats {
            core: (core != NO_CORE).then_some(core),
            parts: self.parts.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            failures: core::array::from_fn(|i| self.failures[i].load(Ordering::Relaxed)),
            panics: self.panics.load(Ordering::Relaxed),
            busy_ns: self.busy_ns.load(Ordering::Relaxed),
            ring_high_water: self.high_water.load(Ordering::Relaxed),
            ring_capacity,
            rx_streams: self.rx_streams.load(Ordering::Relaxed),
        }
    }
}
