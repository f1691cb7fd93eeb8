//! `xml/protect_doc/1.6k`, `xml/unprotect_doc/1.6k`, `xml/sign/1.6k` and `xml/verify/1.6k`:
//! the whole-document cost of protecting one element (`mcptt-calling-user-id`) of the 1.66 KB
//! MCPTT document in `../shared/peers/mcptt_doc.xml` (a copy lives in the engine's test data),
//! decrypting it again, and signing / verifying the document, with an `XmlKey` derived once
//! and an output `Vec` reused across iterations. The peer figure is
//! `../shared/peers/xmlsec_gcm_bench.c` (xmlsec1 in process, same document and element).
//! `xml/protect_doc_all/1.6k` encrypts the six default elements.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mcx_engine::keys::KeyId;
use mcx_engine::xml::{self, Elements, Limits, XmlKey};

const DOC: &[u8] = include_bytes!("../../engine/src/xml/testdata/mcptt_doc.xml");

fn xml(c: &mut Criterion) {
    let Ok(id) = KeyId::new(0x2ddd_5bf0) else {
        unreachable!("a CSK-ID")
    };
    let Ok(key) = XmlKey::derive(
        &[0x5a; 16],
        id,
        b"sip:alice.fieldunit.0042@mcptt.example.org",
    ) else {
        unreachable!("a 16-octet CSK")
    };
    let limits = Limits::default();
    let one = Elements::new(["mcptt-calling-user-id"]);
    let all = Elements::default();
    let mut g = c.benchmark_group("xml");
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(8192);
    g.bench_function(BenchmarkId::new("check", "1.6k"), |b| {
        b.iter(|| black_box(xml::check(black_box(DOC), &limits)))
    });
    g.bench_function(BenchmarkId::new("protect_doc", "1.6k"), |b| {
        b.iter(|| {
            out.clear();
            black_box(xml::protect(&key, black_box(DOC), &one, &limits, &mut out))
        })
    });
    let mut enc = Vec::new();
    let Ok(1) = xml::protect(&key, DOC, &one, &limits, &mut enc) else {
        unreachable!("the document has the element")
    };
    g.bench_function(BenchmarkId::new("unprotect_doc", "1.6k"), |b| {
        b.iter(|| {
            out.clear();
            black_box(xml::unprotect(&key, black_box(&enc), &limits, &mut out))
        })
    });
    g.bench_function(BenchmarkId::new("protect_doc_all", "1.6k"), |b| {
        b.iter(|| {
            out.clear();
            black_box(xml::protect(&key, black_box(DOC), &all, &limits, &mut out))
        })
    });
    g.bench_function(BenchmarkId::new("sign", "1.6k"), |b| {
        b.iter(|| {
            out.clear();
            black_box(xml::sign(
                &key,
                "info@mcptt.example.org",
                black_box(DOC),
                &limits,
                &mut out,
            ))
        })
    });
    let mut sigs = Vec::new();
    let Ok(()) = xml::sign(&key, "info@mcptt.example.org", DOC, &limits, &mut sigs) else {
        unreachable!("a well-formed document")
    };
    let bodies = [("info@mcptt.example.org", DOC)];
    g.bench_function(BenchmarkId::new("verify", "1.6k"), |b| {
        b.iter(|| black_box(xml::verify(&key, black_box(&sigs), &bodies, &limits)))
    });
    g.finish();
}

criterion_group!(benches, xml);
criterion_main!(benches);
