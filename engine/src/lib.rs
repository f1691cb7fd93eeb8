//! # mcx-engine
//!
//! Data-plane cryptography for 3GPP Mission Critical (MCPTT, MCVideo, MCData) signalling.
//!
//! This crate is the pure core of the engine (see `ARCHITECTURE.md`, layer 1):
//!
//! - [`keys`]: MC key identifiers and their purpose tags (TS 33.180 Annex G), the MIKEY
//!   PRF-HMAC-SHA-256 that turns an MC key into an SRTP master key and salt (RFC 3830 §4.1.2,
//!   RFC 6043 §6.1, TS 33.180 §7.4), and the TS 33.220 Annex B KDF with its MC uses
//!   (TS 33.180 Annex F.1).
//! - [`srtcp`]: RFC 3711 SRTCP with the RFC 7714 AEAD_AES_128_GCM / AEAD_AES_256_GCM
//!   transforms — session keys, packet layout, transmit and receive contexts, replay window.
//! - [`aead`]: the AES-GCM primitive the SRTCP layer runs on.
//! - [`mcdata`]: the MCData protected payload (TS 33.180 §8.5.4) under the DPCK.
//! - [`xml`]: XML bodies of SIP messages (element encryption, signatures, C14N).
//! - [`floor`]: TS 24.380 floor-control packets.
//!
//! Above it, state and decisions (layer 2): [`store`] (the key store) and [`datapath`] (the
//! keyed SRTCP path, [`StreamId`]) and [`proxy`] (the CS proxy, IS proxy and security
//! gateway roles); then [`pool`] (layer 3, worker threads). [`time`] and
//! [`startup`] serve the surfaces: the only clock and environment reads of the crate.
//!
//! Nothing in layers 1 and 2 does I/O, spawns threads or reads a clock or the environment,
//! and nothing allocates per packet.
//!
//! ```
//! use mcx_engine::keys::{CsId, KeyId, Purpose, derive_srtp_master};
//! use mcx_engine::srtcp::{Mki, Protection, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext};
//!
//! // A client's CSK as installed by the CSK upload procedure (TS 33.180 §5.4).
//! let csk = [0x11u8; 16];
//! let csk_id = KeyId::random(Purpose::Csk).unwrap();
//! let rand = [0x22u8; 16];
//! let (master_key, master_salt) =
//!     derive_srtp_master(&csk, CsId::CskSrtcpMcptt, csk_id.get(), &rand).unwrap();
//! let keys = SrtcpKeys::from_master(&master_key, &master_salt, mcx_engine::aead::Provider::detect());
//!
//! let mut tx = TxContext::new(keys.clone(), TxConfig::new(Mki::from_key_id(csk_id)));
//! let mut rx = RxContext::new(keys, RxConfig::new(Mki::from_key_id(csk_id))).unwrap();
//!
//! // An MCPTT floor-control APP packet (TS 24.380 §8.1.2): V=2, subtype 0, PT=204, length 2.
//! let plain = [0x80, 0xcc, 0x00, 0x02, 0xde, 0xad, 0xbe, 0xef, b'M', b'C', b'P', b'T'];
//! let mut buf = [0u8; 12 + mcx_engine::srtcp::MAX_SRTCP_TRAILER];
//! buf[..12].copy_from_slice(&plain);
//! let sent = tx.protect_in_place(&mut buf, plain.len()).unwrap();
//! let got = rx.unprotect_in_place(&mut buf[..sent.len]).unwrap();
//! assert_eq!(&buf[..got.len], &plain);
//! assert_eq!(rx_protection(&got), Protection::Encrypted);
//! # fn rx_protection(u: &mcx_engine::srtcp::Unprotected) -> Protection {
//! #     if u.encrypted { Protection::Encrypted } else { Protection::AuthOnly }
//! # }
//! ```
#![deny(unsafe_code)]

pub mod aead;
pub mod datapath;
mod engine;
pub mod floor;
mod idhash;
pub mod keys;
pub mod mcdata;
#[cfg(feature = "pool")]
pub mod pool;
pub mod proxy;
pub mod secret;
pub mod srtcp;
pub mod startup;
pub mod store;
// The one place outside the AES kernels where `unsafe` is allowed: the RCU publication
// primitive and the key store's index (raw pointers and grace periods), each checked by a
// loom model.
#[allow(unsafe_code)]
pub mod sync;
pub mod time;
pub mod xml;

pub use datapath::{EngineConfig, Error, Processed, RxPacket, StreamId, TxPacket};
pub use engine::Engine;
