//! `pool/protect_batch/64/workers=N`: SRTCP protect through the worker pool — batches of 64
//! packets (64-octet payloads, 64 CSKs, one per packet, as `srtcp/protect_batch/64`), several
//! batches in flight, time per packet (throughput in packets/s). `pool/inline_batch/64` is the
//! same batch through `Engine::srtcp_protect_batch` on the calling thread, measured beside it
//! so that the ratio comes from one run.
//!
//! The submitter is the benchmark thread, unpinned; workers are pinned to cores 0, 1, ….
//! Targets (issue 5, on 2 cores): workers=2 ≥ 1.8× the packets/s of workers=1; the pool per
//! packet ≤ 1.25× the inline batch.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcx_benches::{rtcp_packet, store_with_csks};
use mcx_engine::keys::KeyId;
use mcx_engine::pool::{Job, Packet, Pool, PoolConfig, Submitter};
use mcx_engine::srtcp::MAX_SRTCP_TRAILER;
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig, TxPacket};

const BATCH: usize = 64;
/// Batches in flight per worker: `MCX_POOL_DEPTH`, default 64.
fn depth() -> usize {
    std::env::var("MCX_POOL_DEPTH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn slot_size() -> usize {
    std::env::var("MCX_POOL_SLOT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn batch(ids: &[KeyId], plain: &[u8]) -> Vec<Packet> {
    ids.iter()
        .map(|&id| {
            let mut b = BytesMut::with_capacity(slot_size().max(plain.len() + MAX_SRTCP_TRAILER));
            b.extend_from_slice(plain);
            Packet::protect(id, b)
        })
        .collect()
}

/// Runs `jobs` batches through the pool, `depth` in flight, re-using each completed batch's
/// buffers (cut back to the RTCP length: the header stays clear, so it is a valid packet).
fn pump(
    s: &mut Submitter,
    spare: &mut Vec<Vec<Packet>>,
    jobs: usize,
    plain_len: usize,
) -> Duration {
    let depth = spare.len();
    let t0 = Instant::now();
    let (mut sent, mut done) = (0, 0);
    while done < jobs {
        while sent < jobs && sent - done < depth {
            let Some(pkts) = spare.pop() else {
                unreachable!("depth batches")
            };
            match s.submit(Job::protect(pkts, Timestamp(1))) {
                Ok(_) => sent += 1,
                Err(r) => {
                    spare.push(r.job.into_packets());
                    break;
                }
            }
        }
        if let Some(c) = s.wait(None) {
            debug_assert_eq!(c.succeeded(), BATCH);
            let mut pkts = c.packets;
            for p in &mut pkts {
                p.buf.truncate(plain_len);
            }
            spare.push(pkts);
            done += 1;
        }
    }
    t0.elapsed()
}

fn pool(c: &mut Criterion) {
    let (store, ids) = store_with_csks(BATCH as u32);
    let plain = rtcp_packet(64);
    let mut g = c.benchmark_group("pool");
    g.throughput(Throughput::Elements(1));

    let engine =
        Engine::new(store.clone(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
    let mut bufs: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| {
            let mut b = plain.clone();
            b.resize(plain.len() + MAX_SRTCP_TRAILER, 0);
            b
        })
        .collect();
    g.bench_function(BenchmarkId::new("inline_batch", 64), |b| {
        b.iter_custom(|iters| {
            let calls = (iters as usize).div_ceil(BATCH);
            let mut pkts: Vec<TxPacket<'_>> = bufs
                .iter_mut()
                .zip(ids.iter())
                .map(|(b, id)| TxPacket::new(*id, b, plain.len()))
                .collect();
            let t0 = Instant::now();
            for _ in 0..calls {
                black_box(engine.srtcp_protect_batch(black_box(&mut pkts), Timestamp(1)));
            }
            t0.elapsed().mul_f64(iters as f64 / (calls * BATCH) as f64)
        })
    });

    for workers in [1usize, 2] {
        let pool = Pool::new(
            store.clone(),
            PoolConfig {
                workers,
                pin: std::env::var_os("MCX_POOL_NOPIN").is_none(),
                ..PoolConfig::default()
            },
        )
        .unwrap_or_else(|_| unreachable!());
        let mut s = pool.submitter();
        let mut spare: Vec<Vec<Packet>> = (0..depth() * workers)
            .map(|_| batch(&ids, &plain))
            .collect();
        g.bench_function(
            BenchmarkId::new("protect_batch", format!("64/workers={workers}")),
            |b| {
                b.iter_custom(|iters| {
                    let jobs = (iters as usize).div_ceil(BATCH);
                    pump(&mut s, &mut spare, jobs, plain.len())
                        .mul_f64(iters as f64 / (jobs * BATCH) as f64)
                })
            },
        );
        let stats = pool.shutdown();
        let per: Vec<(u64, f64)> = stats
            .workers
            .iter()
            .map(|w| (w.packets, w.busy_ns as f64 / w.packets.max(1) as f64))
            .collect();
        eprintln!(
            "pool/protect_batch/64/workers={workers}: (packets, busy ns per packet) per worker {per:?}"
        );
    }
    g.finish();
}

criterion_group!(benches, pool);
criterion_main!(benches);
