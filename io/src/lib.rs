//! `mcx-io`: the data plane of mcx-engine on the wire (ARCHITECTURE.md, layer 4) — the only
//! crate that talks to the kernel.
//!
//! - [`sock`]: UDP sockets (`SO_REUSEPORT`, GSO/GRO probes), the worker waker.
//! - [`bufs`]: the packet slab; a slot is not reused before its send completion is reaped.
//! - [`backend`]: what an I/O backend does; [`uring`] (io_uring) and [`mmsg`]
//!   (`recvmmsg`/`sendmmsg`) implement it.
//! - [`relay`]: the run-to-completion relay, one pinned loop per worker, and its
//!   configuration, routes and statistics.
//! - [`control`]: the relay's control socket (one JSON object per line).
//! - [`signals`]: waiting for SIGINT/SIGTERM.
//! - [`probe`]: single datagrams by hand (`mcx relay send` / `recv`).

pub mod backend;
pub mod bufs;
pub mod control;
pub mod mmsg;
pub mod probe;
pub mod relay;
pub mod signals;
pub mod sock;
pub mod uring;

pub use backend::IoKind;
