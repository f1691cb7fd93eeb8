//! Criterion group `srtcp`: `srtcp/protect/N` and `srtcp/unprotect/N` for N = 16, 64, 128,
//! 256, 1200 payload octets after the 8-octet RTCP header (AES-128-GCM, E=1, 4-octet MKI).
//!
//! protect: in place on one buffer, as libsrtp's harness does (the header stays valid, so the
//! ciphertext of one round is the plaintext of the next). unprotect: out of place over rounds
//! of 4096 distinct protected packets, a fresh receive context per round (replay window);
//! only the unprotect calls are timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcx_benches::{SIZES, csk_keys, rtcp_packet};
use mcx_engine::srtcp::{
    MAX_SRTCP_TRAILER, RxConfig, RxContext, TxConfig, TxContext, protected_len,
};

const ROUND: usize = 4096;

fn srtcp(c: &mut Criterion) {
    let (keys, mki) = csk_keys();
    let mut g = c.benchmark_group("srtcp");
    for n in SIZES {
        let plain = rtcp_packet(n);
        g.throughput(Throughput::Elements(1));

        let mut tx = TxContext::new(keys.clone(), TxConfig::new(mki));
        let mut buf = plain.clone();
        buf.resize(plain.len() + MAX_SRTCP_TRAILER, 0);
        g.bench_function(BenchmarkId::new("protect", n), |b| {
            b.iter(|| {
                let p = tx.protect_in_place(black_box(&mut buf), plain.len());
                black_box(p.map(|p| p.len).unwrap_or(0))
            })
        });

        let len = protected_len(plain.len(), mki.len());
        let mut sender = TxContext::new(keys.clone(), TxConfig::new(mki));
        let wire: Vec<Vec<u8>> = (0..ROUND)
            .map(|_| {
                let mut w = vec![0u8; len];
                let Ok(_) = sender.protect(&plain, &mut w) else {
                    unreachable!("valid packet")
                };
                w
            })
            .collect();
        let mut out = vec![0u8; plain.len()];
        g.bench_function(BenchmarkId::new("unprotect", n), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let take = left.min(ROUND);
                    let Ok(mut rx) = RxContext::new(keys.clone(), RxConfig::new(mki)) else {
                        unreachable!("default config")
                    };
                    let t0 = Instant::now();
                    for w in &wire[..take] {
                        let u = rx.unprotect(black_box(w), &mut out);
                        black_box(u.map(|u| u.len).unwrap_or(0));
                    }
                    timed += t0.elapsed();
                    left -= take;
                }
                timed
            })
        });
    }
    g.finish();
}

criterion_group!(benches, srtcp);
criterion_main!(benches);
