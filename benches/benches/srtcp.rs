//! Criterion group `srtcp`: `srtcp/protect/N` and `srtcp/unprotect/N` for N = 16, 64, 128,
//! 256, 1200 payload octets after the 8-octet RTCP header (AES-128-GCM, E=1, 4-octet MKI);
//! the batch calls `srtcp/protect_batch/N` and `srtcp/unprotect_batch/N` (64 packets per call,
//! throughput per packet); `srtcp/reject/64`; and the many-key engine path.
//!
//! protect: in place on one buffer, as libsrtp's harness does (the header stays valid, so the
//! ciphertext of one round is the plaintext of the next). unprotect: out of place over rounds
//! of 4096 distinct protected packets, a fresh receive context per round (replay window);
//! only the unprotect calls are timed.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcx_benches::{
    SIZES, bench_keys, csk_keys, csk_keys_n, random_picks, rtcp_packet, store_with_csks,
    time_in_rounds,
};
use mcx_engine::keys::KeyId;
use mcx_engine::srtcp::{
    MAX_SRTCP_TRAILER, RxConfig, RxContext, TxConfig, TxContext, protected_len,
};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig, RxPacket, TxPacket};

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
                time_in_rounds(
                    iters,
                    ROUND,
                    || {
                        RxContext::new(keys.clone(), RxConfig::new(mki))
                            .unwrap_or_else(|_| unreachable!())
                    },
                    |rx, i| {
                        let u = rx.unprotect(black_box(&wire[i]), &mut out);
                        black_box(u.map(|u| u.len).unwrap_or(0));
                    },
                )
            })
        });
    }
    g.finish();
}

/// `srtcp/unprotect_by_mki/64`: the engine path — MKI → key store lookup among 10,000 CSKs
/// → purpose, status and time checks → replay window of (key, SSRC) → unprotect — with a
/// random key each packet. Every stream already has its replay window (warmed untimed), as a
/// proxy's would in steady state. `srtcp/unprotect_by_mki_batch/64`: the same packets through
/// the batch call, 64 per call.
fn unprotect_by_mki(c: &mut Criterion) {
    let keys_n = bench_keys();
    // The same number of distinct packets per round as the raw `unprotect` benchmark, so that
    // both read packets from the same cache level.
    const POOL: usize = ROUND;
    let (store, ids) = store_with_csks(keys_n);
    let tx = Engine::new(store.clone(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
    let plain = rtcp_packet(64);
    let protect = |id: KeyId| {
        let mut b = plain.clone();
        b.resize(plain.len() + MAX_SRTCP_TRAILER, 0);
        let Ok(p) = tx.srtcp_protect(id, &mut b, plain.len(), Timestamp(1)) else {
            unreachable!("installed key")
        };
        b.truncate(p.len);
        b
    };
    let warm: Vec<Vec<u8>> = ids.iter().map(|&id| protect(id)).collect();
    let pool: Vec<Vec<u8>> = random_picks(ids.len(), POOL)
        .into_iter()
        .map(|i| protect(ids[i]))
        .collect();
    // A fresh receive handle whose every stream already has its window (untimed).
    let warmed = || {
        let mut rx = tx.handle();
        let mut work = [0u8; 128];
        for w in &warm {
            work[..w.len()].copy_from_slice(w);
            let _ = rx.srtcp_unprotect(&mut work[..w.len()], Timestamp(1));
        }
        rx
    };
    let mut g = c.benchmark_group("srtcp");
    g.throughput(Throughput::Elements(1));
    // The same path through the batch call: calls of 64 packets, each packet under a random
    // one of the 10,000 keys; time per packet.
    const BATCH: usize = 64;
    g.bench_function(BenchmarkId::new("unprotect_by_mki_batch", 64), |b| {
        b.iter_custom(|iters| {
            let calls = (iters as usize).div_ceil(BATCH);
            let setup = || (warmed(), vec![[0u8; 128]; BATCH]);
            let t = time_in_rounds(calls as u64, POOL / BATCH, setup, |(rx, bufs), call| {
                let src = &pool[call * BATCH..(call + 1) * BATCH];
                let mut it = bufs.iter_mut().zip(src);
                let mut pkts: [RxPacket<'_>; BATCH] = core::array::from_fn(|_| {
                    let Some((b, w)) = it.next() else {
                        unreachable!("BATCH buffers")
                    };
                    b[..w.len()].copy_from_slice(w);
                    RxPacket::new(&mut b[..w.len()])
                });
                black_box(rx.srtcp_unprotect_batch(black_box(&mut pkts), Timestamp(1)));
            });
            // Per packet: scale the time of `calls * BATCH` packets to `iters`.
            t.mul_f64(iters as f64 / (calls * BATCH) as f64)
        })
    });
    g.bench_function(BenchmarkId::new("unprotect_by_mki", 64), |b| {
        b.iter_custom(|iters| {
            let setup = || (warmed(), [0u8; 128]);
            time_in_rounds(iters, POOL, setup, |(rx, work), i| {
                // The copy stands in for the receive into the buffer; it is part of the loop
                // for both this and the raw-context comparison below.
                let w = &pool[i];
                work[..w.len()].copy_from_slice(w);
                let r = rx.srtcp_unprotect(black_box(&mut work[..w.len()]), Timestamp(1));
                black_box(r.map(|p| p.len).unwrap_or(0));
            })
        })
    });
    g.finish();
}

/// `srtcp/unprotect_random_ctx/64`: the baseline for the engine path under the same cache
/// conditions — 10,000 raw `RxContext`s (one per key, no store, no checks), a random one per
/// packet, in place after the same copy.
fn unprotect_random_ctx(c: &mut Criterion) {
    let keys_n = bench_keys();
    let plain = rtcp_packet(64);
    let keys: Vec<_> = (0..keys_n).map(csk_keys_n).collect();
    let picks = random_picks(keys.len(), ROUND);
    let mut senders: Vec<TxContext> = keys
        .iter()
        .map(|(k, mki)| TxContext::new(k.clone(), TxConfig::new(*mki)))
        .collect();
    let len = protected_len(plain.len(), 4);
    let mut protect = |i: usize| {
        let mut w = vec![0u8; len];
        let Ok(_) = senders[i].protect(&plain, &mut w) else {
            unreachable!("valid packet")
        };
        w
    };
    let warm: Vec<Vec<u8>> = (0..keys.len()).map(&mut protect).collect();
    let pool: Vec<(usize, Vec<u8>)> = picks.iter().map(|&i| (i, protect(i))).collect();
    let mut g = c.benchmark_group("srtcp");
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("unprotect_random_ctx", 64), |b| {
        b.iter_custom(|iters| {
            let setup = || {
                let mut rx: Vec<RxContext> = keys
                    .iter()
                    .map(|(k, mki)| {
                        RxContext::new(k.clone(), RxConfig::new(*mki))
                            .unwrap_or_else(|_| unreachable!())
                    })
                    .collect();
                let mut work = [0u8; 128];
                for (i, w) in warm.iter().enumerate() {
                    work[..w.len()].copy_from_slice(w);
                    let _ = rx[i].unprotect_in_place(&mut work[..w.len()]);
                }
                (rx, work)
            };
            time_in_rounds(iters, pool.len(), setup, |(rx, work), n| {
                let (i, w) = &pool[n];
                work[..w.len()].copy_from_slice(w);
                let r = rx[*i].unprotect_in_place(black_box(&mut work[..w.len()]));
                black_box(r.map(|u| u.len).unwrap_or(0));
            })
        })
    });
    g.finish();
}

/// `srtcp/protect_batch/N` and `srtcp/unprotect_batch/N`: the engine's batch calls, 64
/// packets per call, each under its own CSK (64 clients), throughput in packets (time per
/// packet = time per call / 64). `srtcp/reject/64`: cost of refusing a forged packet (one
/// flipped tag bit) on a raw receive context.
fn batches(c: &mut Criterion) {
    const BATCH: usize = 64;
    const CALLS_PER_ROUND: usize = 64;
    let (store, ids) = store_with_csks(BATCH as u32);
    let tx = Engine::new(store.clone(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
    let mut g = c.benchmark_group("srtcp");
    for n in SIZES {
        let plain = rtcp_packet(n);
        g.throughput(Throughput::Elements(BATCH as u64));

        let mut bufs: Vec<Vec<u8>> = (0..BATCH)
            .map(|_| {
                let mut b = plain.clone();
                b.resize(plain.len() + MAX_SRTCP_TRAILER, 0);
                b
            })
            .collect();
        let mut pkts: Vec<TxPacket<'_>> = bufs
            .iter_mut()
            .zip(ids.iter())
            .map(|(b, id)| TxPacket::new(*id, b, plain.len()))
            .collect();
        g.bench_function(BenchmarkId::new("protect_batch", n), |b| {
            b.iter(|| black_box(tx.srtcp_protect_batch(black_box(&mut pkts), Timestamp(1))))
        });
        drop(pkts);

        // Rounds of 64 calls of 64 distinct packets; a fresh handle per round (replay
        // windows), untimed. The copy into the work buffers stands in for the receive.
        let wire: Vec<Vec<Vec<u8>>> = (0..CALLS_PER_ROUND)
            .map(|_| {
                ids.iter()
                    .map(|&id| {
                        let mut b = plain.clone();
                        b.resize(plain.len() + MAX_SRTCP_TRAILER, 0);
                        let Ok(p) = tx.srtcp_protect(id, &mut b, plain.len(), Timestamp(1)) else {
                            unreachable!("installed key")
                        };
                        b.truncate(p.len);
                        b
                    })
                    .collect()
            })
            .collect();
        let mut work: Vec<Vec<u8>> = wire[0].clone();
        g.bench_function(BenchmarkId::new("unprotect_batch", n), |b| {
            b.iter_custom(|iters| {
                time_in_rounds(
                    iters,
                    CALLS_PER_ROUND,
                    || tx.handle(),
                    |rx, i| {
                        for (w, src) in work.iter_mut().zip(wire[i].iter()) {
                            w.copy_from_slice(src);
                        }
                        let mut pkts: [RxPacket<'_>; BATCH] = {
                            let mut it = work.iter_mut();
                            core::array::from_fn(|_| {
                                RxPacket::new(it.next().unwrap_or_else(|| unreachable!()))
                            })
                        };
                        black_box(rx.srtcp_unprotect_batch(black_box(&mut pkts), Timestamp(1)));
                    },
                )
            })
        });
    }

    let (keys, mki) = csk_keys();
    let plain = rtcp_packet(64);
    let mut w = vec![0u8; protected_len(plain.len(), mki.len())];
    let mut sender = TxContext::new(keys.clone(), TxConfig::new(mki));
    let Ok(_) = sender.protect(&plain, &mut w) else {
        unreachable!("valid packet")
    };
    w[plain.len()] ^= 1; // first tag octet
    let mut rx = RxContext::new(keys, RxConfig::new(mki)).unwrap_or_else(|_| unreachable!());
    let mut out = vec![0u8; plain.len()];
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("reject", 64), |b| {
        b.iter(|| black_box(rx.unprotect(black_box(&w), &mut out).is_err()))
    });
    g.finish();
}

criterion_group!(
    benches,
    srtcp,
    batches,
    unprotect_by_mki,
    unprotect_random_ctx
);
criterion_main!(benches);
