//! The pool's own tests: fault injection (a test-only hook in the worker), back-pressure,
//! shutdown. The stress and shutdown-under-load tests are in `tests/tests/pool.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::BytesMut;

use super::{Job, Packet, Pool, PoolConfig, RejectReason};
use crate::Error;
use crate::keys::{KeyId, Purpose, Service};
use crate::srtcp::MAX_SRTCP_TRAILER;
use crate::store::{KeyInstall, KeyStore, Owner, StoreConfig};
use crate::time::Timestamp;

/// Packets with this SSRC make the worker panic in the middle of their part (0: off).
static PANIC_SSRC: AtomicU32 = AtomicU32::new(0);

/// The worker's hook: whether this part carries the poisoned SSRC.
pub(super) fn inject_panic<B: super::PacketBuf>(
    packets: &mut super::worker::PartPackets<B>,
) -> bool {
    let poison = PANIC_SSRC.load(Ordering::Relaxed);
    let mut hit = false;
    packets
        .for_each(|p| hit |= poison != 0 && crate::srtcp::ssrc_of(p.buf.bytes()) == Some(poison));
    hit
}

/// Parts with a packet of this SSRC make the worker sleep 300 ms first (0: off).
static DELAY_SSRC: AtomicU32 = AtomicU32::new(0);

/// The worker's hook: sleeps when this part carries the slow SSRC.
pub(super) fn inject_delay<B: super::PacketBuf>(packets: &mut super::worker::PartPackets<B>) {
    let slow = DELAY_SSRC.load(Ordering::Relaxed);
    let mut hit = false;
    packets.for_each(|p| hit |= slow != 0 && crate::srtcp::ssrc_of(p.buf.bytes()) == Some(slow));
    if hit {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

const T0: Timestamp = Timestamp(1_000);

fn store(n: u32) -> (Arc<KeyStore>, Vec<KeyId>) {
    store_with(Arc::new(KeyStore::new(StoreConfig::default())), n)
}

/// `n` CSKs installed in `store`.
fn store_with(store: Arc<KeyStore>, n: u32) -> (Arc<KeyStore>, Vec<KeyId>) {
    let ids: Vec<KeyId> = (0..n)
        .map(|i| {
            let id = KeyId::from_parts(Purpose::Csk, 0x700 + i);
            let user = format!("sip:pool{i}@example.org");
            let key = [i as u8 + 1; 16];
            let k = KeyInstall::new(
                &key,
                id,
                &[7; 16],
                Service::Mcptt,
                Owner::new(&user),
                "sip:server@example.org",
            );
            assert!(store.install(&k, T0).is_ok());
            id
        })
        .collect();
    (store, ids)
}

/// An RTCP APP packet of 16 octets with this SSRC, with room for the trailer.
fn rtcp(ssrc: u32, tag: u8) -> BytesMut {
    let mut b = BytesMut::with_capacity(16 + MAX_SRTCP_TRAILER);
    b.extend_from_slice(&[0x80, 0xcc, 0x00, 0x03]);
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.extend_from_slice(b"MCPT");
    b.extend_from_slice(&[tag; 4]);
    b
}

fn config(workers: usize) -> PoolConfig {
    PoolConfig {
        workers,
        pin: false,
        ..PoolConfig::default()
    }
}

#[test]
fn protect_then_unprotect_round_trip() {
    let (store, ids) = store(8);
    let pool = Pool::new(store, config(2)).unwrap();
    let mut s = pool.submitter();
    let packets = ids
        .iter()
        .enumerate()
        .map(|(i, &k)| Packet::protect(k, rtcp(0x1000 + i as u32, i as u8)))
        .collect();
    let done = s.run(Job::protect(packets, T0)).unwrap();
    assert!(done.clean);
    assert_eq!(done.succeeded(), 8);
    for (i, p) in done.packets.iter().enumerate() {
        let r = p.result.unwrap().unwrap();
        assert_eq!(r.key_id, ids[i], "submission order kept");
        assert_eq!(p.buf.len(), 16 + 16 + 4 + 4);
        assert_eq!(&p.buf[p.buf.len() - 4..], &ids[i].get().to_be_bytes());
    }
    let back = done
        .packets
        .into_iter()
        .map(|p| Packet::unprotect(p.buf))
        .collect();
    let open = s.run(Job::unprotect(back, T0)).unwrap();
    for (i, p) in open.packets.iter().enumerate() {
        assert_eq!(p.result.unwrap().unwrap().key_id, ids[i]);
        assert_eq!(&p.buf[..], &rtcp(0x1000 + i as u32, i as u8)[..]);
    }
    let stats = pool.shutdown();
    assert_eq!(stats.total().packets, 16);
    assert_eq!(stats.total().failed_total(), 0);
}

#[test]
fn a_panic_fails_its_part_and_the_worker_serves_on() {
    const POISON: u32 = 0xdead_0001;
    let (store, ids) = store(4);
    let pool = Pool::new(store, config(1)).unwrap();
    let mut s = pool.submitter();
    PANIC_SSRC.store(POISON, Ordering::Relaxed);
    let poisoned = vec![
        Packet::protect(ids[0], rtcp(5, 1)),
        Packet::protect(ids[1], rtcp(POISON, 2)),
    ];
    let done = s.run(Job::protect(poisoned, T0)).unwrap();
    assert!(!done.clean, "the completion reports the panic");
    assert_eq!(done.packets.len(), 2, "no packet lost");
    for p in &done.packets {
        assert_eq!(p.result, Some(Err(super::Error::Internal)));
    }
    // The same worker keeps serving, and the key's index went on (no reuse after a panic).
    let ok = s
        .run(Job::protect(vec![Packet::protect(ids[0], rtcp(5, 3))], T0))
        .unwrap();
    assert!(ok.clean);
    assert_eq!(ok.succeeded(), 1);
    let stats = pool.shutdown();
    PANIC_SSRC.store(0, Ordering::Relaxed);
    let w = &stats.workers[0];
    assert_eq!(w.panics, 1);
    assert_eq!(w.failed(super::Cause::Internal), 2);
    assert_eq!(w.packets, 3);
}

#[test]
fn full_rings_answer_busy_and_give_the_job_back() {
    let (store, ids) = store(1);
    let pool = Pool::new(
        store,
        PoolConfig {
            completion_capacity: 2,
            ..config(1)
        },
    )
    .unwrap();
    let mut s = pool.submitter();
    let job = || Job::protect(vec![Packet::protect(ids[0], rtcp(9, 0))], T0);
    assert!(s.submit(job()).is_ok());
    assert!(s.submit(job()).is_ok());
    // Two parts in flight fill this submitter's completion ring: the third must wait.
    let busy = s.submit(job()).unwrap_err();
    assert_eq!(busy.reason, RejectReason::Busy);
    assert_eq!(busy.job.packets().len(), 1, "job given back whole");
    let mut got = 0;
    while got < 2 {
        got += usize::from(s.wait(None).is_some());
    }
    assert!(s.submit(busy.job).is_ok());
    assert!(s.wait(None).is_some());
}

#[test]
fn shutdown_refuses_new_work_and_keeps_completions() {
    let (store, ids) = store(2);
    let pool = Pool::new(store, config(2)).unwrap();
    let mut s = pool.submitter();
    let t = s
        .submit(Job::protect(
            vec![
                Packet::protect(ids[0], rtcp(1, 0)),
                Packet::protect(ids[1], rtcp(2, 0)),
            ],
            T0,
        ))
        .unwrap();
    let stats = pool.shutdown();
    assert_eq!(stats.total().packets, 2, "accepted work was drained");
    let c = s.poll().expect("the completion outlives the pool");
    assert_eq!((c.ticket, c.succeeded()), (t, 2));
    let refused = s
        .submit(Job::protect(vec![Packet::protect(ids[0], rtcp(1, 0))], T0))
        .unwrap_err();
    assert_eq!(refused.reason, RejectReason::Closed);
}

#[test]
fn settings_and_inputs_at_the_edges_are_answered_not_panicked() {
    let (store, ids) = store(16);
    // A completion ring smaller than the number of workers is raised to it: a job that
    // touches every worker still goes through.
    let pool = Pool::new(
        store,
        PoolConfig {
            workers: 4,
            completion_capacity: 1,
            ring_capacity: usize::MAX,
            ..config(4)
        },
    )
    .unwrap();
    let mut s = pool.submitter();
    let all: Vec<Packet> = ids
        .iter()
        .enumerate()
        .map(|(i, &k)| Packet::protect(k, rtcp(0x4000 + i as u32, 0)))
        .collect();
    let done = s.run(Job::protect(all, T0)).unwrap();
    assert_eq!(done.succeeded(), 16);
    // A job over the size limit is refused and given back whole.
    let huge: Vec<Packet> = (0..=super::MAX_JOB_PACKETS)
        .map(|_| Packet::default())
        .collect();
    let r = s.submit(Job::protect(huge, T0)).unwrap_err();
    assert_eq!(r.reason, RejectReason::TooLarge);
    assert_eq!(r.job.packets().len(), super::MAX_JOB_PACKETS + 1);
    // Timeouts too long to add to the clock mean "no timeout"; with nothing in flight the
    // waits return at once.
    assert!(s.wait(Some(std::time::Duration::MAX)).is_none());
    assert!(s.wait_next(Some(std::time::Duration::MAX)).is_none());
    // wait_next returns the job as soon as its part is back.
    assert!(
        s.submit(Job::protect(vec![Packet::protect(ids[0], rtcp(7, 7))], T0))
            .is_ok()
    );
    let c = s.wait_next(None).unwrap();
    assert_eq!(c.succeeded(), 1);
    // A packet to protect without a key, and one that is not RTCP, fail alone.
    let odd = vec![
        Packet::unprotect(rtcp(8, 8)),
        Packet::protect(ids[1], BytesMut::from(&b"not rtcp"[..])),
        Packet::protect(ids[2], rtcp(9, 9)),
    ];
    let c = s.run(Job::protect(odd, T0)).unwrap();
    assert_eq!(
        c.packets[0].result,
        Some(Err(super::Error::Datapath(Error::UnknownKey)))
    );
    assert!(matches!(
        c.packets[1].result,
        Some(Err(super::Error::Datapath(Error::Srtcp(_))))
    ));
    assert_eq!(
        &c.packets[1].buf[..],
        b"not rtcp",
        "a refused packet is left as it was"
    );
    assert!(matches!(c.packets[2].result, Some(Ok(_))));
}

/// The pool routes every packet by [`crate::StreamId::shard`]: a protect, a fan-out target
/// and the unprotect of what they made go to the same worker, GMKs included.
#[test]
fn routing_follows_the_stream_rule() {
    use super::{JobKind, shard_of};
    use crate::StreamId;
    let store = Arc::new(KeyStore::new(StoreConfig {
        off_network: true,
        ..StoreConfig::default()
    }));
    let gmk = KeyId::from_parts(Purpose::Gmk, 0x0bad_cafe);
    let mut k = KeyInstall::new(&[5; 16], gmk, &[1; 16], Service::Mcptt, Owner::new("g"), "");
    k.guk_id = Some(0x0000_0042);
    store.install(&k, T0).unwrap();
    let (_, ids) = store_with(Arc::clone(&store), 4);
    let engine = crate::Engine::new(Arc::clone(&store), crate::EngineConfig::default()).unwrap();
    for (i, id) in ids.iter().chain([&gmk]).enumerate() {
        for ssrc in [1u32, 0x8000_0000, 0xdead_beef, i as u32 * 77] {
            let plain = [
                0x80,
                0xcc,
                0,
                2,
                (ssrc >> 24) as u8,
                (ssrc >> 16) as u8,
                (ssrc >> 8) as u8,
                ssrc as u8,
                b'M',
                b'C',
                b'P',
                b'T',
            ];
            let mut buf = BytesMut::from(&plain[..]);
            let mut wire = plain.to_vec();
            wire.resize(12 + MAX_SRTCP_TRAILER, 0);
            let n = engine.srtcp_protect(*id, &mut wire, 12, T0).unwrap().len;
            wire.truncate(n);
            for workers in 1..=8 {
                let want = StreamId::new(*id, ssrc).shard(workers);
                let protect = Packet::protect(*id, buf.clone());
                let target = Packet::protect(*id, BytesMut::new());
                let unprotect = Packet::unprotect(BytesMut::from(&wire[..]));
                assert_eq!(shard_of(JobKind::Protect, &protect, &[], workers), want);
                assert_eq!(shard_of(JobKind::FanOut, &target, &plain, workers), want);
                assert_eq!(
                    shard_of(JobKind::Unprotect, &unprotect, &[], workers),
                    want,
                    "{id}"
                );
            }
            buf.clear();
        }
    }
}

/// Completions come back in submission order: a job held up on one worker keeps the jobs
/// after it (done on the other worker) waiting, and then comes out first.
#[test]
fn completions_come_back_in_submission_order() {
    use crate::StreamId;
    const SLOW: u32 = 0x5107_0001;
    let (store, ids) = store(2);
    let pool: Pool = Pool::new(
        Arc::clone(&store),
        PoolConfig {
            workers: 2,
            pin: false,
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let mut s = pool.submitter();
    let owner = StreamId::new(ids[0], SLOW).shard(2);
    let fast = (1..u32::MAX)
        .find(|&ssrc| StreamId::new(ids[1], ssrc).shard(2) != owner)
        .unwrap();
    DELAY_SSRC.store(SLOW, Ordering::Relaxed);
    let mut tickets = vec![
        s.submit(Job::protect(
            vec![Packet::protect(ids[0], rtcp(SLOW, 0))],
            T0,
        ))
        .unwrap(),
    ];
    for i in 0..4 {
        tickets.push(
            s.submit(Job::protect(
                vec![Packet::protect(ids[1], rtcp(fast, i))],
                T0,
            ))
            .unwrap(),
        );
    }
    // The fast jobs finish at once; none is handed out before the slow one.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(s.poll().is_none(), "a later job came back before the first");
    let mut got = Vec::new();
    while got.len() < tickets.len() {
        let c = s
            .wait(Some(std::time::Duration::from_secs(10)))
            .expect("a completion");
        got.push(c.ticket);
    }
    DELAY_SSRC.store(0, Ordering::Relaxed);
    assert_eq!(got, tickets);
}
