//! Criterion group `keys`:
//!
//! - `keys/lookup` — a key-ID lookup in a store of 10,000 CSKs (RCU read, index probe,
//!   status load), a random key each time;
//! - `keys/install/N` — installing one more CSK into a store that holds N (1,000, 10,000,
//!   100,000): checks, the MIKEY and session-key derivations, publication. The key is
//!   revoked again, untimed, so that the store keeps its size;
//! - `keys/install_many/1000` — per key, a bulk install of 1,000 CSKs into a store of
//!   100,000 (one writer lock, the index sized once), revoked again untimed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcx_benches::{random_picks, store_with_csks};
use mcx_engine::keys::{KeyId, Purpose, Service};
use mcx_engine::store::{KeyInstall, Owner};
use mcx_engine::time::Timestamp;

fn lookup(c: &mut Criterion) {
    let (store, ids) = store_with_csks(10_000);
    let picks: Vec<_> = random_picks(ids.len(), 1 << 16)
        .into_iter()
        .map(|i| ids[i])
        .collect();
    let mut g = c.benchmark_group("keys");
    g.throughput(Throughput::Elements(1));
    let mut n = 0usize;
    g.bench_function("lookup", |b| {
        b.iter(|| {
            n = (n + 1) & (picks.len() - 1);
            black_box(store.status(black_box(picks[n])))
        })
    });
    g.finish();
}

/// The `i`-th key installed by the install benchmarks (IDs above those of the fill).
fn extra(i: u32) -> KeyId {
    KeyId::from_parts(Purpose::Csk, 0x0800_0000 + (i & 0x07ff_ffff))
}

/// Store sizes of the install benchmarks.
const SIZES: [u32; 3] = [1_000, 10_000, 100_000];

fn install(c: &mut Criterion) {
    let mut g = c.benchmark_group("keys");
    g.throughput(Throughput::Elements(1));
    let owners: Vec<String> = (0..1000).map(|i| format!("sip:new{i}@x")).collect();
    for n in SIZES {
        // Filled on first use: a filtered-out size costs nothing.
        let mut filled = None;
        let mut next = 0u32;
        g.bench_function(BenchmarkId::new("install", n), |b| {
            let (store, _) = filled.get_or_insert_with(|| store_with_csks(n));
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let id = extra(next);
                    let owner = Owner::new(owners[(next % 1000) as usize].as_str());
                    next = next.wrapping_add(1);
                    let k = KeyInstall::new(&[7; 16], id, &[3; 16], Service::Mcptt, owner, "s");
                    let t0 = Instant::now();
                    let r = store.install(black_box(&k), Timestamp(1));
                    timed += t0.elapsed();
                    assert!(r.is_ok());
                    assert!(store.revoke(id).is_ok());
                }
                timed
            })
        });
        if n == 100_000 {
            g.throughput(Throughput::Elements(1000));
            g.bench_function(BenchmarkId::new("install_many", 1000), |b| {
                let (store, _) = filled.get_or_insert_with(|| store_with_csks(n));
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let ids: Vec<KeyId> = (0..1000).map(|i| extra(next + i)).collect();
                        next = next.wrapping_add(1000);
                        let ks: Vec<KeyInstall<'_>> = ids
                            .iter()
                            .zip(&owners)
                            .map(|(id, o)| {
                                let owner = Owner::new(o.as_str());
                                KeyInstall::new(&[7; 16], *id, &[3; 16], Service::Mcptt, owner, "s")
                            })
                            .collect();
                        let t0 = Instant::now();
                        let r = store.install_many(black_box(&ks), Timestamp(1));
                        timed += t0.elapsed();
                        assert!(r.iter().all(Result::is_ok));
                        for id in ids {
                            assert!(store.revoke(id).is_ok());
                        }
                    }
                    timed
                })
            });
            g.throughput(Throughput::Elements(1));
        }
    }
    g.finish();
}

criterion_group!(benches, lookup, install);
criterion_main!(benches);
