//! `proxy/…`: the cost of one proxy hop on a 64-octet SRTCP floor-control packet (a Floor
//! Request whose User ID the identity map rewrites), against the same packet unprotected
//! and re-protected without the proxy (the target: the rewrite adds at most 10 %).
//!
//! - `proxy/unprotect+protect/64`: `Engine::srtcp_unprotect` under the client's CSK, then
//!   `Engine::srtcp_protect` under the SPK toward the core.
//! - `proxy/hop/64`: `Proxy::handle_datagram`: session lookup, the same unprotect, the SSRC
//!   and identity rewrite, the same protect.
//! - `proxy/hop-batch/64`: `Proxy::handle_batch` over 32 such packets, per packet.
//!
//! Every packet is a fresh one (its own SRTCP index), protected beforehand by a peer outside
//! the timed part; each iteration copies it into the working buffer (in all three).

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use mcx_engine::floor::{Builder, FieldId, INDICATOR_NORMAL, MessageType};
use mcx_engine::keys::{KeyId, Service};
use mcx_engine::proxy::{Datagram, IdentityMap, Proxy, Role, SessionSpec, SideSpec, Verdict};
use mcx_engine::store::{KeyStore, SrtpInstall, StoreConfig};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig};

const CSK: u32 = 0x2a00_0001;
const SPK: u32 = 0x3000_0001;
/// Packets protected per refill.
const POOL: usize = 4096;
const WIRE: usize = 64;

fn key(id: u32) -> KeyId {
    KeyId::new(id).unwrap_or_else(|_| unreachable!("a CSK or SPK ID"))
}

fn store() -> Arc<KeyStore> {
    let s = Arc::new(KeyStore::new(StoreConfig::default()));
    for id in [CSK, SPK] {
        let (mk, ms) = ([id as u8; 16], [!id as u8; 12]);
        let k = SrtpInstall::new(&mk, &ms, key(id), Service::Mcptt);
        s.install_srtp(&k, Timestamp::now())
            .unwrap_or_else(|e| panic!("install: {e:?}"));
    }
    s
}

/// The plaintext: 40 octets, so that with the 24-octet trailer (tag, index, MKI) the
/// packet on the wire is 64.
fn plain() -> Vec<u8> {
    let p = Builder::floor(MessageType::FloorRequest, false, 0xc11e_0001)
        .u8(FieldId::FloorPriority, 5)
        .text(FieldId::UserId, "sip:a@ex.x.org")
        .u16(FieldId::FloorIndicator, INDICATOR_NORMAL)
        .u16(FieldId::SequenceNumber, 1)
        .finish()
        .unwrap_or_else(|e| panic!("build: {e}"));
    assert_eq!(p.len() + 24, WIRE);
    p
}

/// Fresh protected packets from the client.
struct Feed {
    peer: Engine,
    plain: Vec<u8>,
    pool: Vec<[u8; 128]>,
    len: usize,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            peer: Engine::new(store(), EngineConfig::default()).unwrap_or_else(|_| unreachable!()),
            plain: plain(),
            pool: vec![[0u8; 128]; POOL],
            len: 0,
        }
    }

    fn refill(&mut self, now: Timestamp) {
        for b in &mut self.pool {
            b[..self.plain.len()].copy_from_slice(&self.plain);
            let p = self
                .peer
                .srtcp_protect(key(CSK), b, self.plain.len(), now)
                .unwrap_or_else(|e| panic!("protect: {e}"));
            self.len = p.len;
        }
    }
}

/// Times `op` over `iters` fresh packets; the refills are not timed.
fn timed(iters: u64, feed: &mut Feed, mut op: impl FnMut(&mut [u8; 2048], usize)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    let mut buf = [0u8; 2048];
    let now = Timestamp::now();
    while done < iters {
        feed.refill(now);
        let n = (iters - done).min(POOL as u64) as usize;
        let t = Instant::now();
        for p in &feed.pool[..n] {
            buf[..feed.len].copy_from_slice(&p[..feed.len]);
            op(&mut buf, feed.len);
        }
        total += t.elapsed();
        done += n as u64;
    }
    total
}

fn proxy_for(client: SocketAddr, core: SocketAddr) -> Proxy {
    let map = IdentityMap::new()
        .pair("sip:a@in.x.org", "sip:a@ex.x.org")
        .unwrap_or_else(|e| panic!("{e}"));
    let p = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        map,
    );
    p.add(&SessionSpec {
        inside: SideSpec::new(1, core, &[key(SPK)]),
        outside: vec![SideSpec::new(0, client, &[key(CSK)])],
        alias: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    p
}

fn proxy(c: &mut Criterion) {
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap_or_else(|_| unreachable!());
    let core: SocketAddr = "127.0.0.1:9000".parse().unwrap_or_else(|_| unreachable!());
    let mut g = c.benchmark_group("proxy");
    g.throughput(Throughput::Elements(1));

    g.bench_function(BenchmarkId::new("unprotect+protect", WIRE), |b| {
        let mut feed = Feed::new();
        let mut engine =
            Engine::new(store(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
        b.iter_custom(|iters| {
            let now = Timestamp::now();
            timed(iters, &mut feed, |buf, len| {
                let p = engine
                    .srtcp_unprotect(&mut buf[..len], now)
                    .unwrap_or_else(|e| panic!("unprotect: {e}"));
                black_box(engine.srtcp_protect(key(SPK), buf, p.len, now).is_ok());
            })
        })
    });

    // The rewrite alone, on the plaintext: what the hop adds to the crypto, less the
    // session lookup.
    g.bench_function(BenchmarkId::new("rewrite", 40), |b| {
        struct Map;
        impl mcx_engine::floor::Rewrite for Map {
            fn identity(&self, id: &[u8]) -> Option<&[u8]> {
                (id == b"sip:a@ex.x.org").then_some(b"sip:a@in.x.org")
            }
            fn ssrc(&self, _: u32) -> Option<u32> {
                None
            }
        }
        let plain = plain();
        let mut buf = [0u8; 2048];
        b.iter(|| {
            buf[..plain.len()].copy_from_slice(&plain);
            black_box(mcx_engine::floor::rewrite(
                &mut buf,
                plain.len(),
                7,
                mcx_engine::floor::Options::default(),
                mcx_engine::floor::Profile::Current,
                &Map,
            ))
        })
    });

    g.bench_function(BenchmarkId::new("hop", WIRE), |b| {
        let mut feed = Feed::new();
        let mut engine =
            Engine::new(store(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
        let p = proxy_for(client, core);
        b.iter_custom(|iters| {
            let now = Timestamp::now();
            timed(iters, &mut feed, |buf, len| {
                let v = p.handle_datagram(&mut engine, now, 0, client, buf, len);
                assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
            })
        })
    });

    g.bench_function(BenchmarkId::new("hop-batch", WIRE), |b| {
        let mut feed = Feed::new();
        let mut engine =
            Engine::new(store(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
        let p = proxy_for(client, core);
        b.iter_custom(|iters| {
            // Whole batches of 32; the time is per packet as for the others.
            let batches = iters.div_ceil(32);
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let now = Timestamp::now();
            let mut bufs = vec![[0u8; 2048]; 32];
            while done < batches * 32 {
                feed.refill(now);
                let t = Instant::now();
                let len = feed.len;
                for chunk in feed.pool.chunks_exact(32) {
                    let mut it = bufs.iter_mut();
                    let mut dg: [Datagram<'_>; 32] = core::array::from_fn(|i| {
                        let b = it.next().unwrap_or_else(|| unreachable!("32 buffers"));
                        b[..len].copy_from_slice(&chunk[i][..len]);
                        Datagram::new(0, client, &mut b[..], len)
                    });
                    p.handle_batch(&mut engine, now, &mut dg);
                    assert!(
                        dg.iter()
                            .all(|d| matches!(d.verdict, Some(Verdict::Forward { .. })))
                    );
                }
                total += t.elapsed();
                done += POOL as u64;
            }
            total.mul_f64(iters as f64 / done as f64)
        })
    });
    g.finish();
}

/// The two variants interleaved, round after round on fresh packets, so that a slow spell of
/// the machine falls on both: the medians of per-packet times and their ratio.
fn ratio() {
    let client: SocketAddr = "127.0.0.1:5000".parse().unwrap_or_else(|_| unreachable!());
    let core: SocketAddr = "127.0.0.1:9000".parse().unwrap_or_else(|_| unreachable!());
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(41);
    let mut fa = Feed::new();
    let mut fb = Feed::new();
    let mut ea = Engine::new(store(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
    let mut eb = Engine::new(store(), EngineConfig::default()).unwrap_or_else(|_| unreachable!());
    let p = proxy_for(client, core);
    let (mut base, mut hop) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let now = Timestamp::now();
        let t = timed(POOL as u64 * 4, &mut fa, |buf, len| {
            let q = ea
                .srtcp_unprotect(&mut buf[..len], now)
                .unwrap_or_else(|e| panic!("unprotect: {e}"));
            black_box(ea.srtcp_protect(key(SPK), buf, q.len, now).is_ok());
        });
        base.push(t.as_nanos() as f64 / (POOL * 4) as f64);
        let t = timed(POOL as u64 * 4, &mut fb, |buf, len| {
            let v = p.handle_datagram(&mut eb, now, 0, client, buf, len);
            assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        });
        hop.push(t.as_nanos() as f64 / (POOL * 4) as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (b, h) = (median(&mut base), median(&mut hop));
    println!(
        "proxy/ratio/64: unprotect+protect {b:.1} ns, hop {h:.1} ns, hop / unprotect+protect = \
         {:.3} (medians of {rounds} interleaved rounds of {} packets)",
        h / b,
        POOL * 4
    );
}

criterion_group!(benches, proxy);

fn main() {
    if std::env::var_os("RATIO_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    ratio();
}
