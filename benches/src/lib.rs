//! Shared set-up for the mcx-engine criterion benchmarks (`benches/`).
//!
//! The SRTCP benchmarks use RTCP packets of an 8-octet header plus N payload octets,
//! AEAD_AES_128_GCM, a 4-octet MKI, as `../shared/peers/srtp_bench.c` does for libsrtp, so
//! the figures compare directly.

use mcx_engine::aead::Provider;
use mcx_engine::keys::{CsId, KeyId, Purpose, derive_srtp_master};
use mcx_engine::srtcp::{Mki, SrtcpKeys};

/// The AES-GCM provider the benchmarks run on: the surfaces' default (the start-up
/// measurement), or `MCX_AEAD_BACKEND`.
pub fn provider() -> Provider {
    mcx_engine::startup::provider_from_env().provider
}

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
    (
        SrtcpKeys::from_master(&mk, &ms, provider()),
        Mki::from_key_id(id),
    )
}

/// The SRTCP keys and MKI of the `i`-th of many CSKs (as [`csk_keys`], with distinct keys).
pub fn csk_keys_n(i: u32) -> (SrtcpKeys, Mki) {
    let id = KeyId::from_parts(Purpose::Csk, i + 1);
    let mut key = [0x11u8; 16];
    key[..4].copy_from_slice(&i.to_be_bytes());
    let Ok((mk, ms)) = derive_srtp_master(&key, CsId::CskSrtcpMcptt, id.get(), &[0x22; 16]) else {
        unreachable!("fixed valid inputs")
    };
    (
        SrtcpKeys::from_master(&mk, &ms, provider()),
        Mki::from_key_id(id),
    )
}

/// A key store with `n` CSKs (random keys, IDs 0x2000_0001 …) and an engine handle on it.
pub fn store_with_csks(n: u32) -> (std::sync::Arc<mcx_engine::store::KeyStore>, Vec<KeyId>) {
    use mcx_engine::keys::Service;
    use mcx_engine::store::{KeyInstall, KeyStore, Owner, StoreConfig};
    use mcx_engine::time::Timestamp;
    let store = std::sync::Arc::new(KeyStore::new(StoreConfig {
        provider: provider(),
        ..StoreConfig::default()
    }));
    let mut ids = Vec::with_capacity(n as usize);
    let mut x: u64 = 0x1234_5678_9abc_def0;
    for i in 0..n {
        let mut key = [0u8; 16];
        for b in key.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let id = KeyId::from_parts(Purpose::Csk, i + 1);
        let k = KeyInstall::new(
            &key,
            id,
            &[0x22; 16],
            Service::Mcptt,
            Owner::new(format!("sip:u{i}@x")),
            "server",
        );
        let Ok(_) = store.install(&k, Timestamp(0)) else {
            unreachable!("distinct valid keys")
        };
        ids.push(id);
    }
    (store, ids)
}

/// A reproducible sequence of indices into a list of `n` items.
pub fn random_picks(n: usize, count: usize) -> Vec<usize> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        })
        .collect()
}

/// Number of keys for the many-key benchmarks: `MCX_BENCH_KEYS`, default 10,000.
pub fn bench_keys() -> u32 {
    std::env::var("MCX_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Times `iters` packets in rounds of at most `round`: `setup` makes fresh receive state
/// before each round, untimed (replay windows would refuse a second pass), then `packet` runs
/// timed for the round's packets `0..take`.
pub fn time_in_rounds<S>(
    iters: u64,
    round: usize,
    mut setup: impl FnMut() -> S,
    mut packet: impl FnMut(&mut S, usize),
) -> std::time::Duration {
    let mut timed = std::time::Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let mut state = setup();
        let take = left.min(round);
        let t0 = std::time::Instant::now();
        for i in 0..take {
            packet(&mut state, i);
        }
        timed += t0.elapsed();
        left -= take;
    }
    timed
}
