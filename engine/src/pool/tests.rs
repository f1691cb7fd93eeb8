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

const T0: Timestamp = Timestamp(1_000);

fn store(n: u32) -> (Arc<KeyStore>, Vec<KeyId>) {
    let store = Arc::new(KeyStore::new(StoreConfig::default()));
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
