//! The worker pool under load (issue 5): several submitter threads, a million packets, every
//! completion accounted for and the order of each stream checked; and shutdown while
//! submitters are still pushing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use mcx_engine::keys::{KeyId, Purpose, Service};
use mcx_engine::pool::{
    Completion, Job, JobKind, Packet, Pool, PoolConfig, RejectReason, Submitter,
};
use mcx_engine::srtcp::MAX_SRTCP_TRAILER;
use mcx_engine::store::{KeyInstall, KeyStore, Owner, StoreConfig};
use mcx_engine::time::Timestamp;
use mcx_tests::rng::Rng;

const T0: Timestamp = Timestamp(1_000);
const KEYS: u32 = 64;

fn store() -> (Arc<KeyStore>, Vec<KeyId>) {
    let store = Arc::new(KeyStore::new(StoreConfig::default()));
    let ids = (0..KEYS)
        .map(|i| {
            let id = KeyId::from_parts(Purpose::Csk, 0x900 + i);
            let user = format!("sip:load{i}@example.org");
            let key = [i as u8 ^ 0x5a; 16];
            let k = KeyInstall::new(
                &key,
                id,
                &[3; 16],
                Service::Mcptt,
                Owner::new(&user),
                "sip:server@example.org",
            );
            store.install(&k, T0).unwrap();
            id
        })
        .collect();
    (store, ids)
}

/// A 24-octet RTCP APP packet whose body carries the stream and its sequence number.
fn rtcp(ssrc: u32, key: u32, seq: u32) -> BytesMut {
    let mut b = BytesMut::with_capacity(24 + MAX_SRTCP_TRAILER);
    b.extend_from_slice(&[0x80, 0xcc, 0x00, 0x05]);
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.extend_from_slice(b"MCPT");
    b.extend_from_slice(&key.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&[0xee; 4]);
    b
}

fn body(buf: &[u8]) -> (u32, u32, u32) {
    let word = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    (word(4), word(12), word(16))
}

type Seqs = HashMap<u64, Vec<u32>>;

/// Submits `job`, taking completions (handed to `on_done`) while the pool is busy.
fn submit(
    s: &mut Submitter,
    job: Job,
    on_done: &mut impl FnMut(&mut Submitter, Completion, &mut Seqs),
    seqs: &mut Seqs,
) -> u64 {
    let mut job = job;
    loop {
        match s.submit(job) {
            Ok(t) => return t.get(),
            Err(r) => {
                assert_eq!(r.reason, RejectReason::Busy);
                job = r.job;
                if let Some(c) = s.wait(Some(Duration::from_millis(5))) {
                    on_done(s, c, seqs);
                }
            }
        }
    }
}

#[test]
fn a_million_packets_from_three_submitters() {
    const SUBMITTERS: u32 = 3;
    const PACKETS: u32 = 1_000_000;
    const BATCH: u32 = 64;
    const SSRCS: u32 = 4;
    let (store, ids) = store();
    let pool = Pool::new(
        store,
        PoolConfig {
            workers: 3,
            pin: false,
            ring_capacity: 16,
            completion_capacity: 32,
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let seed = Rng::from_env_or_time("pool stress").next_u64();
    let threads: Vec<_> = (0..SUBMITTERS)
        .map(|t| {
            let mut s = pool.submitter();
            let ids = ids.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ u64::from(t));
                let per = PACKETS / SUBMITTERS + u32::from(t < PACKETS % SUBMITTERS);
                // Per stream (key, SSRC): the SRTCP index given to each sequence number.
                let mut index: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
                let mut next_seq: HashMap<(u32, u32), u32> = HashMap::new();
                // Sequence numbers of each protect job's packets (the body is encrypted
                // when it comes back).
                let mut seqs: Seqs = HashMap::new();
                let (mut protected, mut opened) = (0u32, 0u32);
                let mut on_done = |s: &mut Submitter, c: Completion, seqs: &mut Seqs| {
                    assert!(c.clean);
                    match c.kind {
                        JobKind::Protect => {
                            let mut back = Vec::with_capacity(c.packets.len());
                            let sent = seqs.remove(&c.ticket.get()).unwrap();
                            for (p, seq) in c.packets.into_iter().zip(sent) {
                                let r = p.result.unwrap().unwrap();
                                let ssrc =
                                    u32::from_be_bytes([p.buf[4], p.buf[5], p.buf[6], p.buf[7]]);
                                let key = r.key_id.get();
                                let mki = &p.buf[p.buf.len() - 4..];
                                assert_eq!(mki, &key.to_be_bytes());
                                let v = index.entry((key, ssrc)).or_default();
                                if v.len() <= seq as usize {
                                    v.resize(seq as usize + 1, u32::MAX);
                                }
                                v[seq as usize] = r.index;
                                protected += 1;
                                back.push(Packet::unprotect(p.buf));
                            }
                            // Straight back through the pool to be opened.
                            match s.submit(Job::unprotect(back, T0)) {
                                Ok(_) => {}
                                Err(r) => {
                                    // Busy: open them with the blocking call instead.
                                    let c = s.run(r.job).unwrap();
                                    opened += check_opened(&c);
                                }
                            }
                        }
                        JobKind::Unprotect => opened += check_opened(&c),
                        other => unreachable!("{other:?}"),
                    }
                };
                let mut sent = 0;
                while sent < per {
                    let n = BATCH.min(per - sent);
                    let mut job_seqs = Vec::with_capacity(n as usize);
                    let packets = (0..n)
                        .map(|_| {
                            let key = ids[rng.below(u64::from(KEYS)) as usize];
                            let ssrc = (t << 16) | rng.below(u64::from(SSRCS)) as u32;
                            let seq = next_seq.entry((key.get(), ssrc)).or_insert(0);
                            let p = Packet::protect(key, rtcp(ssrc, key.get(), *seq));
                            job_seqs.push(*seq);
                            *seq += 1;
                            p
                        })
                        .collect();
                    let ticket = submit(&mut s, Job::protect(packets, T0), &mut on_done, &mut seqs);
                    // A job completes only after this call returns, on a later poll.
                    seqs.insert(ticket, job_seqs);
                    sent += n;
                    while let Some(c) = s.poll() {
                        on_done(&mut s, c, &mut seqs);
                    }
                }
                while s.in_flight() > 0 {
                    if let Some(c) = s.wait(None) {
                        on_done(&mut s, c, &mut seqs);
                    }
                }
                // Packets of a stream were indexed in the order they were submitted.
                for ((key, ssrc), v) in &index {
                    if let Some(at) = v.windows(2).position(|w| w[0] >= w[1]) {
                        panic!(
                            "stream {key:08x}/{ssrc:08x} out of order: sequence {} got index {}, \
                             sequence {} got {}",
                            at,
                            v[at],
                            at + 1,
                            v[at + 1]
                        );
                    }
                    assert_eq!(v.len() as u32, next_seq[&(*key, *ssrc)]);
                }
                (protected, opened, per)
            })
        })
        .collect();
    let mut total = 0;
    for th in threads {
        let (protected, opened, per) = th.join().unwrap();
        assert_eq!(protected, per, "every protect completion came back");
        assert_eq!(opened, per, "every unprotect completion came back");
        total += per;
    }
    assert_eq!(total, PACKETS);
    let stats = pool.shutdown();
    let all = stats.total();
    assert_eq!(all.packets, 2 * u64::from(PACKETS));
    assert_eq!(all.failed_total(), 0);
    assert_eq!(all.panics, 0);
    assert!(
        stats.workers.iter().all(|w| w.packets > 0),
        "every worker got a shard: {stats:?}"
    );
    assert!(all.ring_high_water <= all.ring_capacity);
}

/// Every packet of an unprotect completion opened to the RTCP packet it came from.
fn check_opened(c: &Completion) -> u32 {
    assert!(c.clean);
    for p in &c.packets {
        let r = p.result.unwrap().unwrap();
        let (ssrc, key, seq) = body(&p.buf);
        assert_eq!(r.key_id.get(), key);
        assert_eq!(&p.buf[..], &rtcp(ssrc, key, seq)[..]);
    }
    c.packets.len() as u32
}

#[test]
fn shutdown_under_load_completes_everything_it_accepted() {
    let (store, ids) = store();
    let pool = Pool::new(
        store,
        PoolConfig {
            workers: 2,
            pin: false,
            ring_capacity: 8,
            completion_capacity: 16,
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let submitters: Vec<_> = (0..2u32)
        .map(|t| {
            let mut s = pool.submitter();
            let ids = ids.clone();
            std::thread::spawn(move || {
                let (mut accepted, mut packets, mut completed, mut busy) = (0u64, 0u64, 0u64, 0u64);
                let mut seq = 0u32;
                loop {
                    let batch: Vec<Packet> = (0..16)
                        .map(|i| {
                            seq += 1;
                            let key = ids[(seq as usize + i) % ids.len()];
                            Packet::protect(key, rtcp(t, key.get(), seq))
                        })
                        .collect();
                    match s.submit(Job::protect(batch, T0)) {
                        Ok(_) => {
                            accepted += 1;
                            packets += 16;
                        }
                        Err(r) if r.reason == RejectReason::Busy => busy += 1,
                        Err(_) => break,
                    }
                    while let Some(c) = s.poll() {
                        assert_eq!(c.succeeded(), 16);
                        completed += 1;
                    }
                }
                // Closed: whatever was accepted still comes back.
                while let Some(c) = s.wait(Some(Duration::from_secs(10))) {
                    assert_eq!(c.succeeded(), 16);
                    completed += 1;
                }
                assert_eq!(s.in_flight(), 0);
                (accepted, packets, completed, busy)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let stats = pool.shutdown();
    let mut packets_accepted = 0;
    for s in submitters {
        let (accepted, packets, completed, _busy) = s.join().unwrap();
        assert!(accepted > 0);
        assert_eq!(completed, accepted, "a completion was lost");
        packets_accepted += packets;
    }
    assert_eq!(stats.total().packets, packets_accepted);
}

#[test]
fn fan_out_through_the_pool_reaches_each_recipient_under_its_own_key() {
    use mcx_engine::keys::SrtcpUse;
    use mcx_engine::{Engine, EngineConfig, Error};
    let (store, ids) = store();
    let musik = KeyId::from_parts(Purpose::Musik, 0x77);
    store
        .install(
            &KeyInstall::new(
                &[0x33; 16],
                musik,
                &[4; 16],
                Service::Mcptt,
                Owner::new("group-9"),
                "sip:server@example.org",
            ),
            T0,
        )
        .unwrap();
    let pool = Pool::new(
        Arc::clone(&store),
        PoolConfig {
            workers: 2,
            pin: false,
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let mut s = pool.submitter();
    let plain = rtcp(0x5150, 1, 2).freeze();
    // Unicast fan-out to eight clients' CSKs, plus the MuSiK where a CSK belongs: refused.
    let mut keys: Vec<KeyId> = ids[..8].to_vec();
    keys.push(musik);
    let c = s
        .run(Job::fan_out_to(SrtcpUse::Unicast, plain.clone(), &keys, T0))
        .unwrap();
    assert_eq!(c.packets.len(), 9);
    assert_eq!(c.succeeded(), 8);
    assert_eq!(
        c.packets[8].result,
        Some(Err(mcx_engine::pool::Error::Datapath(Error::WrongPurpose(
            Purpose::Musik
        ))))
    );
    assert!(
        c.packets[8].buf.is_empty(),
        "a refused recipient gets no bytes"
    );
    let mut rx = Engine::new(Arc::clone(&store), EngineConfig::default()).unwrap();
    let mut wires = Vec::new();
    for (p, key) in c.packets[..8].iter().zip(&keys) {
        let mut wire = p.buf.to_vec();
        assert!(!wires.contains(&wire), "each recipient's packet differs");
        wires.push(wire.clone());
        let got = rx.srtcp_unprotect(&mut wire, T0).unwrap();
        assert_eq!(got.key_id, *key);
        assert_eq!(&wire[..got.len], &plain[..]);
    }
    // Multicast: one recipient, the group's MuSiK.
    let c = s
        .run(Job::fan_out_to(
            SrtcpUse::Multicast,
            plain.clone(),
            &[musik],
            T0,
        ))
        .unwrap();
    let mut wire = c.packets[0].buf.to_vec();
    assert_eq!(rx.srtcp_unprotect(&mut wire, T0).unwrap().key_id, musik);
    let stats = pool.shutdown();
    assert_eq!(stats.total().packets, 10);
    assert_eq!(
        stats.total().failed(mcx_engine::pool::Cause::Policy),
        1,
        "the refusal is counted by cause"
    );
}

/// XML and MCData jobs (issue 7): documents and payloads spread over two workers, each
/// protected and opened again through the pool; a tampered one fails alone and keeps its
/// octets; the results match the engine's direct calls.
#[test]
fn xml_and_mcdata_jobs_run_through_the_pool() {
    use mcx_engine::mcdata::{self, Header, PayloadKey};
    use mcx_engine::pool::Error;
    use mcx_engine::xml::{self, Elements, Limits, XmlKey};
    let (store, _) = store();
    let pool = Pool::new(
        store,
        PoolConfig {
            workers: 2,
            pin: false,
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let mut s = pool.submitter();
    let key = Arc::new(
        XmlKey::derive(
            &[7; 16],
            KeyId::from_parts(Purpose::Csk, 0x42),
            b"sip:alice@example.org",
        )
        .unwrap(),
    );
    let docs: Vec<String> = (0..16)
        .map(|i| {
            format!(
                "<mcpttinfo xmlns=\"urn:3gpp:ns:mcpttInfo:1.0\"><mcptt-Params>\
                 <mcptt-calling-user-id type=\"Normal\"><mcpttURI>sip:user{i}@example.org</mcpttURI>\
                 </mcptt-calling-user-id></mcptt-Params></mcpttinfo>"
            )
        })
        .collect();
    let packets = docs
        .iter()
        .map(|d| Packet::unprotect(BytesMut::from(d.as_bytes())))
        .collect();
    let job = Job::xml_protect(
        Arc::clone(&key),
        Arc::new(Elements::default()),
        Limits::default(),
        packets,
    );
    let c = s.run(job).unwrap();
    assert_eq!(c.kind, JobKind::XmlProtect);
    assert_eq!(c.succeeded(), 16);
    for (p, d) in c.packets.iter().zip(&docs) {
        let r = p.result.unwrap().unwrap();
        assert_eq!((r.len, r.index), (p.buf.len(), 1));
        let mut direct = Vec::new();
        assert_eq!(
            xml::unprotect(&key, &p.buf, &Limits::default(), &mut direct),
            Ok(1)
        );
        assert_eq!(direct, d.as_bytes());
    }
    let mut packets: Vec<Packet> = c
        .packets
        .into_iter()
        .map(|p| Packet::unprotect(p.buf))
        .collect();
    let cv = packets[3]
        .buf
        .windows(18)
        .position(|w| w == b"<xenc:CipherValue>")
        .unwrap()
        + 30;
    packets[3].buf[cv] = if packets[3].buf[cv] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let tampered = packets[3].buf.clone();
    let c = s
        .run(Job::xml_unprotect(
            Arc::clone(&key),
            Limits::default(),
            packets,
        ))
        .unwrap();
    assert_eq!(c.succeeded(), 15);
    for (i, (p, d)) in c.packets.iter().zip(&docs).enumerate() {
        if i == 3 {
            assert_eq!(
                p.result,
                Some(Err(Error::Xml(xml::Error::AuthenticationFailed)))
            );
            assert_eq!(p.buf, tampered);
        } else {
            assert_eq!(&p.buf[..], d.as_bytes());
        }
    }

    let dppk_id = KeyId::from_parts(Purpose::Pck, 0x99);
    let pk = Arc::new(PayloadKey::from_dppk(&[9; 16], dppk_id).unwrap());
    let header = Header::new(0x43, 0x0001_0203_0405, 7, 1, 0).unwrap();
    let payloads: Vec<Packet> = (0..10u8)
        .map(|i| Packet::unprotect(BytesMut::from(&[i; 40][..])))
        .collect();
    let c = s
        .run(Job::mcdata_protect(Arc::clone(&pk), header, payloads))
        .unwrap();
    assert_eq!(c.succeeded(), 10);
    let ivs: std::collections::HashSet<Vec<u8>> =
        c.packets.iter().map(|p| p.buf[12..28].to_vec()).collect();
    assert_eq!(ivs.len(), 10, "a fresh IV per payload");
    let mut msgs: Vec<Packet> = c
        .packets
        .into_iter()
        .map(|p| Packet::unprotect(p.buf))
        .collect();
    msgs[0].buf[40] ^= 1;
    let c = s.run(Job::mcdata_unprotect(Arc::clone(&pk), msgs)).unwrap();
    assert_eq!(
        c.packets[0].result,
        Some(Err(Error::Mcdata(mcdata::Error::AuthenticationFailed)))
    );
    for (i, p) in c.packets.iter().enumerate().skip(1) {
        assert_eq!(&p.buf[..], &[i as u8; 40][..]);
    }
}
