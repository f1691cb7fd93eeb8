//! The keyed SRTCP data path (ARCHITECTURE.md, layer 2): packets addressed by MC key ID,
//! checked against the key store, protected and unprotected with the stream state of
//! (key, SSRC).
//!
//! - [`stream`]: [`StreamId`] and its one shard rule; a handle's replay windows.
//! - `tx`: protect — key checks, the (key, SSRC) transmit index from the store, sealing one
//!   packet, a batch (four at a time through the multi-buffer kernel where it pays) or a
//!   fan-out.
//! - `rx`: unprotect — MKI → key, checks, read-only replay check, authenticate, then decrypt
//!   and commit; batches likewise.
//!
//! Every call takes `now`; nothing here reads a clock or allocates per packet. A failed call
//! changes no state. [`crate::Engine`] is the façade over these.

mod rx;
pub mod stream;
mod tx;

use core::fmt;

use crate::keys::{KeyId, Purpose, SrtcpUse};
use crate::srtcp::{self, Unprotected};
use crate::store::{KeyEntry, KeyStatus, KeyStore, Retired, TimeError};
use crate::time::Timestamp;

pub(crate) use rx::{unprotect, unprotect_batch};
pub(crate) use stream::RxState;
pub use stream::StreamId;
pub(crate) use tx::{fan_out, protect, protect_batch};

/// Why a data-path call failed. The call changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The SRTCP layer refused the packet (framing, authentication, replay …).
    Srtcp(srtcp::Error),
    /// No installed key has this ID / the packet's MKI names none.
    UnknownKey,
    /// The key's purpose does not allow this use (e.g. a MuSiK for unicast).
    WrongPurpose(Purpose),
    /// The key was revoked.
    Revoked,
    /// The key was replaced: it no longer protects, and its grace period for unprotect is
    /// over.
    Superseded,
    /// The key's activation time has not come.
    NotYetValid,
    /// The key's expiry time has passed.
    Expired,
    /// This key already has the most receive streams (SSRCs) allowed, or the most transmit
    /// SSRCs.
    TooManyStreams,
}

impl From<srtcp::Error> for Error {
    fn from(e: srtcp::Error) -> Error {
        Error::Srtcp(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Srtcp(e) => write!(f, "{e}"),
            Error::UnknownKey => f.write_str("no installed key has this ID"),
            Error::WrongPurpose(p) => write!(f, "a {p} key may not be used for this"),
            Error::Revoked => f.write_str("key revoked"),
            Error::Superseded => f.write_str("key superseded by a newer one"),
            Error::NotYetValid => f.write_str("key not yet valid"),
            Error::Expired => f.write_str("key expired"),
            Error::TooManyStreams => f.write_str("too many SSRCs for this key"),
        }
    }
}

impl core::error::Error for Error {}

/// Per-handle settings.
#[derive(Clone, Copy, Debug)]
pub struct EngineConfig {
    /// Replay window per (key, SSRC), 64..=32768. Default 128.
    pub replay_window: u32,
    /// Most receive streams (SSRCs) one key may have, counted over every handle on the store
    /// (and every worker of a pool on it); each handle applies its own setting to that count,
    /// so give them all the same. Default 4096: an SPK trunk from a peer server carries a
    /// stream per client. A window is made only for a packet that authenticated, so forged
    /// traffic cannot claim any; a stream costs about 80 octets at the default window.
    pub max_streams_per_key: u32,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            replay_window: srtcp::DEFAULT_REPLAY_WINDOW,
            max_streams_per_key: 4096,
        }
    }
}

/// What a data-path call processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Processed {
    /// Length of the result (SRTCP after protect, RTCP after unprotect).
    pub len: usize,
    /// The key used.
    pub key_id: KeyId,
    /// Its purpose.
    pub purpose: Purpose,
    /// The SRTCP index of the packet.
    pub index: u32,
    /// Whether the packet is encrypted (E=1).
    pub encrypted: bool,
}

/// A packet of a batch protect or fan-out: the key to protect it with, its buffer (with
/// room for the trailer after `len`), the RTCP length, and the result the call fills in.
#[derive(Debug)]
pub struct TxPacket<'a> {
    /// Key to protect with.
    pub key_id: KeyId,
    /// The packet, with [`srtcp::MAX_SRTCP_TRAILER`] octets of room after `len`.
    pub buf: &'a mut [u8],
    /// Length of the RTCP packet in `buf` (fan-out sets it).
    pub len: usize,
    /// What happened to this packet; `None` until a call processed it.
    pub result: Option<Result<Processed, Error>>,
}

impl<'a> TxPacket<'a> {
    /// A packet of `len` octets in `buf`, to protect with `key_id`.
    pub fn new(key_id: KeyId, buf: &'a mut [u8], len: usize) -> TxPacket<'a> {
        TxPacket {
            key_id,
            buf,
            len,
            result: None,
        }
    }
}

/// A packet of a batch unprotect: the received SRTCP packet (exactly its length) and the
/// result the call fills in.
#[derive(Debug)]
pub struct RxPacket<'a> {
    /// The SRTCP packet; on success its first `Processed::len` octets are the RTCP packet.
    pub buf: &'a mut [u8],
    /// What happened to this packet; `None` until a call processed it.
    pub result: Option<Result<Processed, Error>>,
}

impl<'a> RxPacket<'a> {
    /// A received packet.
    pub fn new(buf: &'a mut [u8]) -> RxPacket<'a> {
        RxPacket { buf, result: None }
    }
}

/// Packets processed per group in the batch calls: their lookups are issued together.
const BATCH_GROUP: usize = 8;

/// What a packet whose key is not in the store is told: why its key left, if it did.
#[cold]
fn missing(store: &KeyStore, lookup: u64) -> Error {
    match store.retired(lookup) {
        Some(Retired::Revoked) => Error::Revoked,
        Some(Retired::Expired) => Error::Expired,
        Some(Retired::Superseded) => Error::Superseded,
        None => Error::UnknownKey,
    }
}

/// What an unprotect under `entry` reports.
fn processed_rx(entry: &KeyEntry, u: Unprotected) -> Processed {
    Processed {
        len: u.len,
        key_id: entry.id,
        purpose: entry.purpose,
        index: u.index,
        encrypted: u.encrypted,
    }
}

/// What a protect of `entry` at `index` reports, `n` octets long.
fn processed_tx(entry: &KeyEntry, n: usize, index: u32) -> Processed {
    Processed {
        len: n,
        key_id: entry.id,
        purpose: entry.purpose,
        index,
        encrypted: entry.policy.protection == srtcp::Protection::Encrypted,
    }
}

/// The per-call settings of an unprotect.
struct RxCtx {
    use_: Option<SrtcpUse>,
    now: Timestamp,
    off_network: bool,
    grace_ms: u64,
    config: EngineConfig,
}

impl RxCtx {
    fn new(
        store: &KeyStore,
        config: EngineConfig,
        use_: Option<SrtcpUse>,
        now: Timestamp,
    ) -> RxCtx {
        RxCtx {
            use_,
            now,
            off_network: store.config().off_network,
            grace_ms: store.config().grace_period_ms,
            config,
        }
    }
}

/// The key checks of an unprotect: purpose for the use, status (a superseded key within
/// its grace period still opens), time.
fn check_rx(ctx: &RxCtx, entry: &KeyEntry) -> Result<(), Error> {
    let use_ = ctx.use_.unwrap_or(SrtcpUse::of(entry.purpose));
    check_use(entry, use_, ctx.off_network)?;
    match entry.status() {
        KeyStatus::Active => {}
        KeyStatus::Superseded(at) => {
            if ctx.now >= at.plus_ms(ctx.grace_ms) {
                return Err(Error::Superseded);
            }
        }
        KeyStatus::Revoked => return Err(Error::Revoked),
    }
    check_time(entry, ctx.now)
}

fn check_use(entry: &KeyEntry, use_: SrtcpUse, off_network: bool) -> Result<(), Error> {
    // The early numbering's MSK protects multicast signalling and MBMS subchannel control.
    let msk = entry.msk && matches!(use_, SrtcpUse::Multicast | SrtcpUse::MbmsSubchannel);
    if !use_.allows(entry.purpose) && !msk {
        return Err(Error::WrongPurpose(entry.purpose));
    }
    if use_ == SrtcpUse::OffNetwork && !off_network {
        return Err(Error::WrongPurpose(entry.purpose));
    }
    Ok(())
}

fn check_time(entry: &KeyEntry, now: Timestamp) -> Result<(), Error> {
    entry.time_check(now).map_err(|e| match e {
        TimeError::NotYetValid => Error::NotYetValid,
        TimeError::Expired => Error::Expired,
    })
}
