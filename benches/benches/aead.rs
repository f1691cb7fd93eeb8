//! Criterion group `aead`: the raw AES-128-GCM primitive per backend, the figure to compare
//! with the raw-AEAD peers (ipsec-mb, OpenSSL EVP, RustCrypto aes-gcm).
//!
//! `aead/seal/<backend>/N` encrypts N octets in place with a 12-octet AAD (the SRTCP E=1 AAD
//! size); `aead/open/<backend>/N` verifies and decrypts; `aead/seal_batch/<backend>/N` seals
//! 64 packets under 64 keys per call (throughput in packets: divide the time by 64).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcx_engine::aead::{Gcm, Provider, SealJob, seal_batch};

fn aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("aead");
    for backend in Provider::available() {
        let Ok(gcm) = Gcm::with_provider(&[0x42; 16], backend) else {
            unreachable!("available backend, valid key")
        };
        for n in [16usize, 64, 1200] {
            g.throughput(Throughput::Bytes(n as u64));
            let iv = [7u8; 12];
            let aad = [1u8; 12];
            let mut buf = vec![0u8; n];
            g.bench_function(BenchmarkId::new(format!("seal/{backend}"), n), |b| {
                b.iter(|| black_box(gcm.seal_in_place(black_box(&iv), &[&aad], &mut buf)))
            });
            let mut sealed = vec![0u8; n];
            let tag = gcm.seal_in_place(&iv, &[&aad], &mut sealed);
            // Opening in place needs fresh ciphertext each time: copy it into a reused buffer
            // (a 64-octet copy, a nanosecond or two, is part of the figure).
            let mut x = vec![0u8; n];
            g.bench_function(BenchmarkId::new(format!("open/{backend}"), n), |b| {
                b.iter(|| {
                    x.copy_from_slice(&sealed);
                    black_box(gcm.open_in_place(black_box(&iv), &[&aad], &mut x, &tag))
                })
            });
        }
        // 64 packets per call, 64 keys, reported per packet.
        let keys: Vec<Gcm> = (0..64u8)
            .map(|i| Gcm::with_provider(&[i; 16], backend).unwrap_or_else(|_| unreachable!()))
            .collect();
        for n in [64usize, 1200] {
            let mut bufs = vec![vec![0u8; n]; 64];
            let mut tags = vec![[0u8; 16]; 64];
            let aad = [1u8; 12];
            g.throughput(Throughput::Elements(64));
            g.bench_function(BenchmarkId::new(format!("seal_batch/{backend}"), n), |b| {
                b.iter(|| {
                    let mut jobs: Vec<SealJob<'_>> = keys
                        .iter()
                        .zip(bufs.iter_mut().zip(tags.iter_mut()))
                        .enumerate()
                        .map(|(i, (k, (d, t)))| SealJob {
                            gcm: k,
                            iv: [i as u8; 12],
                            aad: [&aad[..8], &aad[8..]],
                            data: d.as_mut_slice(),
                            tag: t,
                        })
                        .collect();
                    seal_batch(black_box(&mut jobs));
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, aead);
criterion_main!(benches);
