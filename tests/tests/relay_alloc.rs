//! No allocation per packet in the relay (ARCHITECTURE.md invariant): once the streams exist,
//! relaying packets — kept, handed to another worker, replayed, forged — makes no allocation
//! on any thread. A counting global allocator counts every allocation in the process while
//! armed; this file holds one test, so no other test runs beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use mcx_io::relay::IoChoice;
use mcx_tests::relay::{HopKey, collect, leg, loopback_relay, protected, route, socket};

struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// two atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
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

#[test]
fn relaying_allocates_nothing_per_packet() {
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let relay = loopback_relay(io, 2);
        let c = relay.control();
        let sink = socket("127.0.0.1:0");
        let (csk, spk) = (HopKey::new(0x2000_0f01), HopKey::new(0x3000_0f01));
        csk.install(&c);
        spk.install(&c);
        c.add_route(&route(
            "clients",
            &csk,
            "core",
            sink.local_addr().unwrap(),
            &spk,
        ))
        .unwrap();
        let clients = leg(&c, "clients");
        // Senders on several source ports, so that the kernel spreads them over both workers
        // and some packets are handed to their owner.
        let senders: Vec<_> = (0..6).map(|_| socket("127.0.0.1:0")).collect();
        let ssrcs = [0x0a0a_0001u32, 0x0a0a_0002, 0x0a0a_0003, 0x0a0a_0004];
        // Streams owned by both workers: whichever worker the kernel steers a port to, some
        // of its packets belong to the other, so hand-offs happen in every run.
        let owners: std::collections::BTreeSet<usize> = ssrcs
            .iter()
            .map(|&s| mcx_engine::StreamId::new(csk.key_id(), s).shard(2))
            .collect();
        assert_eq!(owners.len(), 2, "pick SSRCs that both workers own");
        let mut tx = csk.sender();
        let mut protect = |ssrc: u32, seq: u32| protected(&mut tx, ssrc, seq, 72);
        // Warm-up: every stream exists (receive windows, transmit counters) on its owner.
        let mut n = 0;
        for seq in 0..8 {
            for (i, &ssrc) in ssrcs.iter().enumerate() {
                let p = protect(ssrc, seq);
                senders[(i + seq as usize) % senders.len()]
                    .send_to(&p, clients)
                    .unwrap();
                n += 1;
            }
        }
        assert_eq!(collect(&sink, n, Duration::from_secs(2)).len(), n);
        // Everything the measured window sends is built before it.
        let mut good = Vec::new();
        for seq in 8..200 {
            for &ssrc in &ssrcs {
                good.push(protect(ssrc, seq));
            }
        }
        let mut bad = Vec::new();
        for (i, p) in good.iter().take(100).enumerate() {
            let mut f = p.clone();
            f[20] ^= 1 + i as u8; // forged
            bad.push(f);
            bad.push(p.clone()); // replayed (after the original)
        }
        let mut buf = [0u8; 2048];
        ARMED.store(true, Ordering::SeqCst);
        let mut got = 0;
        for (i, p) in good.iter().enumerate() {
            senders[i % senders.len()].send_to(p, clients).unwrap();
            if i % 8 == 7 {
                while sink.recv(&mut buf).is_ok() {
                    got += 1;
                    if got + 8 > i {
                        break;
                    }
                }
            }
        }
        for (i, p) in bad.iter().enumerate() {
            senders[(i + 1) % senders.len()]
                .send_to(p, clients)
                .unwrap();
        }
        while got < good.len() {
            if sink.recv(&mut buf).is_err() {
                break;
            }
            got += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
        ARMED.store(false, Ordering::SeqCst);
        let count = COUNT.swap(0, Ordering::SeqCst);
        assert_eq!(got, good.len(), "every good packet relayed");
        let s = c.stats();
        assert_eq!(
            s.dropped.auth + s.dropped.replay,
            bad.len() as u64,
            "{:?}",
            s.dropped
        );
        let handed: u64 = s.workers.iter().map(|w| w.handed_off).sum();
        assert!(handed > 0, "some packets crossed between workers");
        assert_eq!(count, 0, "{io:?}: allocations while relaying");
        drop(relay);
    }
}
