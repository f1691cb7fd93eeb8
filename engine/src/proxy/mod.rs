//! The proxy roles (ARCHITECTURE.md, layer 2): what a CS proxy, an IS proxy or a security
//! gateway does with each packet of a hop, as pure code. Time is an argument; the caller
//! brings the packets and its [`crate::Engine`] handle, and sends what the [`Verdict`] says.
//!
//! - [`session`]: a session pairs an inside side (the proxy's domain) with an outside side
//!   (a client, an interconnection peer, an external system), or with several outside
//!   targets for a downlink fan-out (one multicast group under a MuSiK, MKFC or MSCCK, and
//!   unicast recipients under their CSKs). Each side is (leg, peer address, keys); the
//!   proxy shows each side an SSRC of its own (TR 33.880 §7.2.5.3.3.2, topology hiding).
//! - [`role`]: which keys each role allows on which side (digest §2.5; TR 33.880 §7.2.5.3,
//!   §7.8): CSKs toward clients, SPKs between servers and domains (several per
//!   interconnection peer, the peer picks), clear toward a trusted core or an external system.
//! - [`topology`]: the identity map (internal ↔ external identities, hidden domains, the
//!   proxy's external identity) and the floor-control rewrite between unprotect and protect.
//!
//! [`Proxy::handle_datagram`] takes one datagram (its leg and source), [`Proxy::handle_batch`]
//! a batch; both work in place. A datagram that matches no session, fails to authenticate,
//! changes SSRC mid-session, or is not a TS 24.380 APP packet is dropped with a [`Drop`]
//! reason; nothing it carries changes a session.

pub mod guard;
mod hop;
pub mod role;
pub mod session;
pub mod topology;

use core::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

pub use hop::{Datagram, Match};
pub use role::{GatewayMode, Role};
pub use session::{
    McdataContent, Pinned, Proxy, Session, SessionError, SessionSpec, Side, SideSpec,
};
pub use topology::{Direction, IdentityMap, MapError};

/// What to do with a datagram.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Send the first `len` octets of the buffer on `leg` to `to`.
    Forward {
        /// The leg.
        leg: u16,
        /// The destination.
        to: SocketAddr,
        /// Length of what to send.
        len: usize,
    },
    /// The buffer holds the rewritten plaintext (`len` octets) for every target of
    /// `session`: protect it per target with [`Proxy::fan_out`].
    FanOut {
        /// The fan-out session.
        session: Arc<Session>,
        /// The plaintext's length.
        len: usize,
    },
    /// Drop it.
    Drop(Drop),
}

impl PartialEq for Verdict {
    /// Fan-outs are equal when they name the same session (by number) and length.
    fn eq(&self, other: &Verdict) -> bool {
        match (self, other) {
            (
                Verdict::Forward { leg, to, len },
                Verdict::Forward {
                    leg: l,
                    to: t,
                    len: n,
                },
            ) => leg == l && to == t && len == n,
            (Verdict::FanOut { session, len }, Verdict::FanOut { session: s, len: n }) => {
                session.id == s.id && len == n
            }
            (Verdict::Drop(a), Verdict::Drop(b)) => a == b,
            _ => false,
        }
    }
}

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drop {
    /// Not an SRTCP or RTCP packet.
    Malformed,
    /// No session receives from this (leg, source, key).
    NoSession,
    /// Unprotect refused it (authentication, replay, key state …).
    Unprotect(crate::Error),
    /// The peer's SSRC is not the one its session learned.
    SsrcChanged,
    /// Not a TS 24.380 APP packet (an SR, RR or SDES would carry names across).
    NotFloorControl,
    /// The floor-control packet does not parse, or its rewrite does not fit.
    Floor(crate::floor::Error),
    /// Protect refused it.
    Protect(crate::Error),
    /// A fan-out buffer too small.
    TooLong,
}

impl fmt::Display for Drop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drop::Malformed => f.write_str("not an SRTCP or RTCP packet"),
            Drop::NoSession => f.write_str("no session for this leg, source and key"),
            Drop::Unprotect(e) => write!(f, "unprotect: {e}"),
            Drop::SsrcChanged => f.write_str("the peer changed SSRC within a session"),
            Drop::NotFloorControl => f.write_str("not a TS 24.380 APP packet"),
            Drop::Floor(e) => write!(f, "floor control: {e}"),
            Drop::Protect(e) => write!(f, "protect: {e}"),
            Drop::TooLong => f.write_str("fan-out buffer too small"),
        }
    }
}

#[cfg(test)]
mod tests;
