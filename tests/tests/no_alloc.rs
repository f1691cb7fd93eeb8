//! No allocation per packet: after set-up, protect and unprotect (in place and out of place,
//! E=1 and E=0, failures included) must not touch the heap (ARCHITECTURE.md invariant).
//!
//! A counting global allocator counts allocations made by the current thread while armed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mcx_engine::keys::{CsId, KeyId, Purpose, derive_srtp_master};
use mcx_engine::srtcp::{Mki, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if ARMED.with(Cell::get) {
        COUNT.with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (r, COUNT.with(Cell::get))
}

#[test]
fn the_counter_sees_allocations() {
    // The check can fail: a Vec made while armed is counted.
    let (v, n) = counted(|| vec![1u8; 64]);
    assert_eq!(v.len(), 64);
    assert!(n >= 1);
}

#[test]
fn protect_and_unprotect_do_not_allocate() {
    let csk_id = KeyId::from_parts(Purpose::Csk, 0x0ddd_5bf0);
    let (mk, ms) =
        derive_srtp_master(&[7; 16], CsId::CskSrtcpMcptt, csk_id.get(), &[9; 16]).unwrap();
    let keys = SrtcpKeys::from_master(&mk, &ms, mcx_engine::aead::Provider::detect());
    let mki = Mki::from_key_id(csk_id);
    let mut tx = TxContext::new(keys.clone(), TxConfig::new(mki));
    let mut tx0 = TxContext::new(keys.clone(), TxConfig::new(mki).auth_only());
    let mut rx = RxContext::new(keys.clone(), RxConfig::new(mki)).unwrap();
    let mut rx0 =
        RxContext::new(keys, RxConfig::new(mki).auth_only().replay_window(32768)).unwrap();

    // A floor-control APP packet of 64 octets, and a 1200-octet one.
    let mut small = [0u8; 64];
    small[..4].copy_from_slice(&[0x80, 0xcc, 0x00, 0x0f]);
    let mut large = [0u8; 1200];
    large[..4].copy_from_slice(&[0x81, 0xcc, 0x01, 0x2b]);
    let mut buf = [0u8; 1300];
    let mut out = [0u8; 1300];

    let ((), n) = counted(|| {
        for i in 0..2000 {
            let plain: &[u8] = if i % 2 == 0 { &small } else { &large };
            let p = tx.protect(plain, &mut buf).unwrap();
            let u = rx.unprotect(&buf[..p.len], &mut out).unwrap();
            assert_eq!(u.len, plain.len());
            // Failures take no allocation either: replay and a forged tag.
            assert!(rx.unprotect(&buf[..p.len], &mut out).is_err());
            buf[20] ^= 1;
            let p2 = tx0.protect_in_place(&mut buf, plain.len()).unwrap();
            rx0.unprotect_in_place(&mut buf[..p2.len]).unwrap();
            buf[10] ^= 0x80;
            assert!(rx0.unprotect_in_place(&mut buf[..p2.len]).is_err());
        }
    });
    assert_eq!(n, 0, "allocations on the data path");
}

/// An engine handle on a key store with `n` CSKs (IDs 1..=n, key octets = the ID).
fn engine_with_csks(n: u32) -> (mcx_engine::Engine, Vec<KeyId>) {
    use mcx_engine::keys::Service;
    use mcx_engine::store::{KeyInstall, KeyStore, Owner, StoreConfig};
    use mcx_engine::time::Timestamp;
    use mcx_engine::{Engine, EngineConfig};
    use std::sync::Arc;

    let store = Arc::new(KeyStore::new(StoreConfig::default()));
    let ids = (1..=n)
        .map(|i| {
            let id = KeyId::from_parts(Purpose::Csk, i);
            let key = [i as u8; 16];
            let k = KeyInstall::new(
                &key,
                id,
                &[7; 16],
                Service::Mcptt,
                Owner::new(format!("u{i}")),
                "srv",
            );
            store.install(&k, Timestamp(0)).unwrap();
            id
        })
        .collect();
    (Engine::new(store, EngineConfig::default()).unwrap(), ids)
}

#[test]
fn the_engine_path_does_not_allocate_in_steady_state() {
    use mcx_engine::time::Timestamp;

    let (mut e, ids) = engine_with_csks(50);
    let mut buf = [0u8; 128];
    let packet = |buf: &mut [u8; 128]| {
        buf[..12].copy_from_slice(&[0x80, 0xcc, 0x00, 0x02, 0, 0, 0, 1, b'M', b'C', b'P', b'T']);
    };
    // Set-up: every stream's first packet creates its replay window.
    for &id in &ids {
        packet(&mut buf);
        let p = e.srtcp_protect(id, &mut buf, 12, Timestamp(1)).unwrap();
        e.srtcp_unprotect(&mut buf[..p.len], Timestamp(1)).unwrap();
    }
    let ((), n) = counted(|| {
        for i in 0..5000 {
            let id = ids[i % ids.len()];
            packet(&mut buf);
            let p = e.srtcp_protect(id, &mut buf, 12, Timestamp(1)).unwrap();
            let u = e.srtcp_unprotect(&mut buf[..p.len], Timestamp(1)).unwrap();
            assert_eq!(u.key_id, id);
            // A forgery is refused without allocating either.
            buf[9] ^= 1;
            let q = e.srtcp_protect(id, &mut buf, 12, Timestamp(1)).unwrap();
            buf[20] ^= 1;
            assert!(e.srtcp_unprotect(&mut buf[..q.len], Timestamp(1)).is_err());
        }
    });
    assert_eq!(n, 0, "allocations on the engine path");
}

#[test]
fn batch_calls_and_aead_batches_do_not_allocate() {
    use mcx_engine::aead::{Gcm, OpenJob, Provider, SealJob, open_batch, seal_batch};
    use mcx_engine::time::Timestamp;
    use mcx_engine::{Engine, RxPacket, TxPacket};

    let (mut e, ids) = engine_with_csks(20);
    let plain = [0x80, 0xcc, 0x00, 0x02, 0, 0, 0, 1, b'M', b'C', b'P', b'T'];
    let mut bufs = [[0u8; 64]; 20];
    let run = |bufs: &mut [[u8; 64]; 20], e: &mut Engine| {
        for b in bufs.iter_mut() {
            b[..12].copy_from_slice(&plain);
        }
        let mut lens = [0usize; 20];
        {
            let mut it = bufs.iter_mut().zip(ids.iter());
            let mut tx: [TxPacket<'_>; 20] = core::array::from_fn(|_| {
                let (b, id) = it.next().unwrap();
                TxPacket::new(*id, b, 12)
            });
            assert_eq!(e.srtcp_protect_batch(&mut tx, Timestamp(1)), 20);
            for (l, p) in lens.iter_mut().zip(tx.iter()) {
                *l = p.result.unwrap().unwrap().len;
            }
        }
        let mut it = bufs.iter_mut().zip(lens.iter());
        let mut rx: [RxPacket<'_>; 20] = core::array::from_fn(|_| {
            let (b, l) = it.next().unwrap();
            RxPacket::new(&mut b[..*l])
        });
        assert_eq!(e.srtcp_unprotect_batch(&mut rx, Timestamp(1)), 20);
    };
    // Set-up: the first round creates the replay windows.
    run(&mut bufs, &mut e);
    let ((), n) = counted(|| {
        for _ in 0..200 {
            run(&mut bufs, &mut e);
        }
    });
    assert_eq!(n, 0, "allocations in the engine's batch calls");

    for backend in Provider::available() {
        let keys: Vec<Gcm> = (0..8u8)
            .map(|i| Gcm::with_provider(&[i; 16], backend).unwrap())
            .collect();
        let mut data = [[0u8; 64]; 8];
        let mut tags = [[0u8; 16]; 8];
        let ((), n) = counted(|| {
            for _ in 0..100 {
                {
                    let mut it = keys.iter().zip(data.iter_mut().zip(tags.iter_mut()));
                    let mut jobs: [SealJob<'_>; 8] = core::array::from_fn(|_| {
                        let (g, (d, t)) = it.next().unwrap();
                        SealJob {
                            gcm: g,
                            iv: [1; 12],
                            aad: [b"hdr12345", b"word"],
                            data: d,
                            tag: t,
                        }
                    });
                    seal_batch(&mut jobs);
                }
                let mut it = keys.iter().zip(data.iter_mut().zip(tags.iter()));
                let mut jobs: [OpenJob<'_>; 8] = core::array::from_fn(|_| {
                    let (g, (d, t)) = it.next().unwrap();
                    OpenJob {
                        gcm: g,
                        iv: [1; 12],
                        aad: [b"hdr12345", b"word"],
                        data: d,
                        tag: *t,
                        ok: false,
                    }
                });
                open_batch(&mut jobs);
                assert!(jobs.iter().all(|j| j.ok));
            }
        });
        assert_eq!(n, 0, "allocations in aead batches on {backend}");
        assert!(
            data.iter().all(|d| d == &[0u8; 64]),
            "round trips restore the data"
        );
    }
}

/// The C ABI's packet calls — single and batch protect, fan-out, engine-level and receiver
/// unprotect — allocate nothing once the streams exist.
#[test]
fn c_abi_packet_calls_do_not_allocate() {
    use mcx::*;
    const N: usize = 40;
    let mut e: *mut mcx_engine = core::ptr::null_mut();
    let mut r: *mut mcx_receiver = core::ptr::null_mut();
    // SAFETY: valid out-pointers; NULL config for the defaults.
    unsafe {
        assert_eq!(
            mcx_engine_new(core::ptr::null(), &mut e),
            mcx_status::MCX_OK
        );
        assert_eq!(mcx_receiver_new(e, &mut r), mcx_status::MCX_OK);
    }
    let ids: Vec<u32> = (0..N as u32).map(|i| 0x2000_1000 + i).collect();
    for (i, id) in ids.iter().enumerate() {
        // SAFETY: key and salt readable for their lengths.
        let s = unsafe {
            mcx_key_install_srtp(
                e,
                *id,
                [i as u8; 16].as_ptr(),
                16,
                [1u8; 12].as_ptr(),
                12,
                0,
            )
        };
        assert_eq!(s, mcx_status::MCX_OK);
    }
    let plain = [0x80u8, 0xcc, 0x00, 0x02, 0, 0, 0, 9, b'M', b'C', b'P', b'T'];
    let mut bufs = vec![[0u8; 12 + 28]; N];
    let mut fan = vec![[0u8; 12 + 28]; N];
    let run = |bufs: &mut Vec<[u8; 40]>, fan: &mut Vec<[u8; 40]>| {
        let mut pkts: [mcx_packet; N] = core::array::from_fn(|_| mcx_packet {
            buf: core::ptr::null_mut(),
            len: 0,
            cap: 0,
            key_id: 0,
            status: 0,
            out_len: 0,
            out_key_id: 0,
        });
        for (i, (p, b)) in pkts.iter_mut().zip(bufs.iter_mut()).enumerate() {
            b[..12].copy_from_slice(&plain);
            b[7] = i as u8;
            p.buf = b.as_mut_ptr();
            p.len = 12;
            p.cap = b.len();
            p.key_id = ids[i];
        }
        let mut targets = pkts;
        for (t, b) in targets.iter_mut().zip(fan.iter_mut()) {
            t.buf = b.as_mut_ptr();
        }
        // SAFETY: every packet's buffer is writable for its `cap`, none overlaps another.
        unsafe {
            assert_eq!(
                mcx_srtcp_protect_batch(e, pkts.as_mut_ptr(), N),
                mcx_status::MCX_OK
            );
            assert_eq!(
                mcx_srtcp_fan_out(
                    e,
                    MCX_USE_UNICAST,
                    plain.as_ptr(),
                    12,
                    targets.as_mut_ptr(),
                    N
                ),
                mcx_status::MCX_OK
            );
        }
        for p in pkts.iter_mut() {
            assert_eq!(p.status, 0);
            p.len = p.out_len;
        }
        for t in targets.iter_mut() {
            assert_eq!(t.status, 0);
            t.len = t.out_len;
        }
        // SAFETY: as above; each buffer holds `len` octets of SRTCP.
        unsafe {
            assert_eq!(
                mcx_srtcp_unprotect_batch(e, pkts.as_mut_ptr(), N),
                mcx_status::MCX_OK
            );
            assert_eq!(
                mcx_receiver_unprotect_batch(r, targets.as_mut_ptr(), N, 1),
                mcx_status::MCX_OK
            );
            let b = &mut bufs[0];
            b[..12].copy_from_slice(&plain);
            let (mut out, mut got) = (0usize, 0usize);
            assert_eq!(
                mcx_srtcp_protect_at(e, ids[0], b.as_mut_ptr(), 12, 40, 1, &mut out),
                mcx_status::MCX_OK
            );
            assert_eq!(
                mcx_receiver_unprotect(r, b.as_mut_ptr(), out, 1, &mut got, core::ptr::null_mut()),
                mcx_status::MCX_OK
            );
        }
        assert!(pkts.iter().chain(targets.iter()).all(|p| p.status == 0));
    };
    run(&mut bufs, &mut fan);
    let ((), n) = counted(|| {
        for _ in 0..50 {
            run(&mut bufs, &mut fan);
        }
    });
    assert_eq!(n, 0, "allocations in the C ABI's packet calls");
    // SAFETY: live handles, freed once, receiver first.
    unsafe {
        mcx_receiver_free(r);
        mcx_engine_free(e);
    }
}

/// A store holding the raw SRTP keys `ids` (material derived from each ID).
fn store_with(ids: &[u32]) -> std::sync::Arc<mcx_engine::store::KeyStore> {
    use mcx_engine::store::{KeyStore, SrtpInstall, StoreConfig};
    let s = std::sync::Arc::new(KeyStore::new(StoreConfig::default()));
    for &id in ids {
        let key = [id as u8 ^ 0x5a; 16];
        let salt = [id as u8 ^ 0xa5; 12];
        s.install_srtp(
            &SrtpInstall::new(
                &key,
                &salt,
                KeyId::new(id).unwrap(),
                mcx_engine::keys::Service::Mcptt,
            ),
            mcx_engine::time::Timestamp::now(),
        )
        .unwrap();
    }
    s
}

#[test]
fn the_proxy_hop_does_not_allocate_in_steady_state() {
    use mcx_engine::floor::{Builder, FieldId, MessageType};
    use mcx_engine::proxy::{IdentityMap, Proxy, Role, SessionSpec, SideSpec, Verdict};
    use mcx_engine::{Engine, EngineConfig};
    let (csk, spk, musik) = (0x2a00_0001, 0x3000_0001, 0x6000_0001);
    let ids = [csk, spk, musik];
    let key = |id| KeyId::new(id).unwrap();
    let proxy = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new()
            .pair("sip:a@x.internal", "sip:a@x.example")
            .unwrap()
            .hide_domain("x.internal")
            .external("sip:p@x.example")
            .unwrap(),
    );
    let client: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let core: std::net::SocketAddr = "127.0.0.1:9000".parse().unwrap();
    let core2: std::net::SocketAddr = "127.0.0.1:9001".parse().unwrap();
    proxy
        .add(&SessionSpec {
            inside: SideSpec::new(1, core, &[key(spk)]),
            outside: vec![SideSpec::new(0, client, &[key(csk)])],
            alias: None,
        })
        .unwrap();
    let fan = proxy
        .add(&SessionSpec {
            inside: SideSpec::new(1, core2, &[key(spk)]),
            outside: vec![
                SideSpec::new(0, "239.1.1.1:5000".parse().unwrap(), &[key(musik)]),
                SideSpec::new(0, client, &[key(csk)]),
            ],
            alias: None,
        })
        .unwrap();
    let mut engine = Engine::new(store_with(&ids), EngineConfig::default()).unwrap();
    let peers = Engine::new(store_with(&ids), EngineConfig::default()).unwrap();
    let now = mcx_engine::time::Timestamp::now();
    let up = Builder::floor(MessageType::FloorRequest, false, 0xc1)
        .u8(FieldId::FloorPriority, 5)
        .text(FieldId::UserId, "sip:a@x.example")
        .finish()
        .unwrap();
    let down = Builder::floor(MessageType::FloorTaken, false, 0x5e)
        .text(FieldId::GrantedPartyIdentity, "sip:b@x.internal")
        .text(FieldId::UserId, "sip:a@x.internal")
        .ssrc(0x1234)
        .finish()
        .unwrap();
    let mut wire = [0u8; 2048];
    let mut out_a = [0u8; 2048];
    let mut out_b = [0u8; 2048];
    let mut step = |engine: &mut Engine| -> usize {
        let mut n = 0;
        for (k, leg, from, plain) in [
            (csk, 0, client, &up),
            (spk, 1, core, &down),
            (spk, 1, core2, &down),
        ] {
            wire[..plain.len()].copy_from_slice(plain);
            let p = peers
                .srtcp_protect(key(k), &mut wire, plain.len(), now)
                .unwrap();
            match proxy.handle_datagram(engine, now, leg, from, &mut wire, p.len) {
                Verdict::Forward { .. } => n += 1,
                Verdict::FanOut { session, len } => {
                    let plain = &wire[..len];
                    let mut outs = [&mut out_a[..], &mut out_b[..]];
                    let mut v = [None, None];
                    proxy.fan_out(engine, now, &session, plain, &mut outs, &mut v);
                    n += v
                        .iter()
                        .filter(|v| matches!(v, Some(Verdict::Forward { .. })))
                        .count();
                }
                Verdict::Drop(d) => panic!("{d}"),
            }
        }
        n
    };
    // Warm-up: the replay windows and the learned SSRCs of the three streams.
    assert_eq!(step(&mut engine), 4);
    let (n, allocs) = counted(|| (0..50).map(|_| step(&mut engine)).sum::<usize>());
    assert_eq!(n, 200);
    assert_eq!(allocs, 0, "the proxy hop allocated");
    let _ = fan;
}
