//! Criterion group `keys`: `keys/lookup` — a key-ID lookup in a store of 10,000 CSKs (RCU
//! read, hash probe, status load), a random key each time.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcx_benches::{random_picks, store_with_csks};

fn keys(c: &mut Criterion) {
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

criterion_group!(benches, keys);
criterion_main!(benches);
