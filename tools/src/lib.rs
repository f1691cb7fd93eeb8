//! The library behind the mcx tools: the packet generator and verifier that `mcx-pktgen`
//! and `mcx demo` share ([`pktgen`]).

pub mod pktgen;
