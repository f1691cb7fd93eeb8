//! Test support for mcx-engine: the libsrtp 2 peer used by the interop tests, packet
//! builders and a deterministic random source.
//!
//! The tests themselves live in `tests/` of this crate: vectors, interop, properties, the
//! allocation check and the CLI.

pub mod libsrtp;
pub mod packets;
pub mod rng;
