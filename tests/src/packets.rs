//! RTCP packets for tests: random single and compound reports (floor-control APP packets
//! come from the engine's `floor` builders).

use crate::rng::Rng;

/// One RTCP packet with the given PT and `body_len` random octets after the SSRC
/// (`body_len` a multiple of 4).
pub fn rtcp(rng: &mut Rng, pt: u8, ssrc: u32, body_len: usize) -> Vec<u8> {
    assert!(body_len.is_multiple_of(4));
    let words = ((8 + body_len) / 4 - 1) as u16;
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&words.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&rng.bytes(body_len));
    p
}

/// A random valid RTCP packet of exactly `len` octets (`len` ≥ 8 and a multiple of 4): a
/// single packet, or a compound of two or three (SR, SDES, APP) when it is long enough.
pub fn random_rtcp(rng: &mut Rng, ssrc: u32, len: usize) -> Vec<u8> {
    assert!(len >= 8 && len.is_multiple_of(4));
    let parts = if len >= 24 {
        1 + rng.below(3) as usize
    } else {
        1
    };
    let mut out = Vec::with_capacity(len);
    let mut left = len;
    for i in 0..parts {
        let this = if i + 1 == parts {
            left
        } else {
            // Leave at least 8 octets for each later part.
            let max_words = (left - 8 * (parts - i - 1)) / 4;
            4 * (2 + rng.below((max_words - 1) as u64) as usize)
        };
        let pt = [200u8, 202, 204][i % 3];
        out.extend_from_slice(&rtcp(rng, pt, ssrc, this - 8));
        left -= this;
    }
    debug_assert_eq!(out.len(), len);
    out
}
