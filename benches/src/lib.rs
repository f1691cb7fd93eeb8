//! Shared set-up for the mcx-engine criterion benchmarks (`benches/`).
//!
//! The SRTCP benchmarks use RTCP packets of an 8-octet header plus N payload octets,
//! AEAD_AES_128_GCM, a 4-octet MKI, as `../shared/peers/srtp_bench.c` does for libsrtp, so
//! the figures compare directly.

use mcx_engine::keys::{CsId, KeyId, Purpose, derive_srtp_master};
use mcx_engine::srtcp::{Mki, SrtcpKeys};

/// Payload sizes after the 8-octet RTCP header that MC signalling uses (STYLE.md rule 8).
pub const SIZES: [usize; 5] = [16, 64, 128, 256, 1200];

/// An RTCP packet (PT 201, SSRC deadbeef) with `payload` octets after the header.
pub fn rtcp_packet(payload: usize) -> Vec<u8> {
    assert!(payload.is_multiple_of(4));
    let total = 8 + payload;
    let mut p = vec![0x80, 201];
    p.extend_from_slice(&((total / 4 - 1) as u16).to_be_bytes());
    p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    p.extend((0..payload).map(|i| i as u8));
    p
}

/// AES-128 SRTCP keys derived from a CSK through the MC chain, and the MKI (the CSK-ID).
pub fn csk_keys() -> (SrtcpKeys, Mki) {
    let id = KeyId::from_parts(Purpose::Csk, 0x0ddd_5bf0);
    let Ok((mk, ms)) = derive_srtp_master(&[0x11; 16], CsId::CskSrtcpMcptt, id.get(), &[0x22; 16])
    else {
        unreachable!("fixed valid inputs")
    };
    (SrtcpKeys::from_master(&mk, &ms), Mki::from_key_id(id))
}
