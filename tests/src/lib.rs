//! Test support for mcx-engine: the libsrtp 2 peer used by the interop tests, packet
//! builders, a deterministic random source and the relay tests' helpers.
//!
//! The tests themselves live in `tests/` of this crate: vectors, interop, properties, the
//! allocation check and the CLI.

/// Every AES-GCM provider this CPU runs: the SRTCP suites run each of them in one process.
pub fn providers() -> Vec<mcx_engine::aead::Provider> {
    mcx_engine::aead::Provider::available().collect()
}

pub mod libsrtp;
pub mod packets;
pub mod relay;
pub mod rng;
