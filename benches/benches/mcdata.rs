//! `mcdata/protect/N` and `mcdata/unprotect/N` (N = 16 … 1200, the figure is
//! N = 256): an MCData protected payload (TS 33.180 §8.5.4) of N plaintext octets under an
//! AES-128 DPCK, one message per iteration, out of place into a preallocated buffer.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcx_benches::SIZES;
use mcx_engine::keys::KeyId;
use mcx_engine::mcdata::{Header, PayloadKey, protect, protected_len, unprotect};

fn mcdata(c: &mut Criterion) {
    let Ok(id) = KeyId::new(0x1000_0042) else {
        unreachable!("a PCK-ID")
    };
    let Ok(key) = PayloadKey::from_dppk(&[0x42; 16], id) else {
        unreachable!("a 16-octet DPPK")
    };
    let Ok(header) = Header::new(0x43, 0x01_0203_0405, 7, 0, 0) else {
        unreachable!("OS randomness")
    };
    let mut g = c.benchmark_group("mcdata");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let plain: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let mut msg = vec![0u8; protected_len(n)];
        g.bench_function(BenchmarkId::new("protect", n), |b| {
            b.iter(|| black_box(protect(&key, black_box(&header), &plain, &mut msg)))
        });
        let mut back = vec![0u8; n];
        g.bench_function(BenchmarkId::new("unprotect", n), |b| {
            b.iter(|| black_box(unprotect(&key, black_box(&msg), &mut back)))
        });
    }
    g.finish();
}

criterion_group!(benches, mcdata);
criterion_main!(benches);
