//! The key store's rules (issue: key store with MC key semantics), one test per rule, plus
//! grace period, alias, revocation racing with traffic and the memory bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use mcx_engine::floor::app_packet;
use mcx_engine::keys::{CsId, KeyId, Purpose, Service, SrtcpUse, derive_srtp_master};
use mcx_engine::secret::KeyLen;
use mcx_engine::srtcp::{MAX_SRTCP_TRAILER, Mki, SrtcpKeys, TxConfig, TxContext};
use mcx_engine::store::{KeyInstall, KeyStatus, KeyStore, Owner, StoreConfig, StoreError};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig, Error};
use mcx_tests::rng::Rng;

const T0: Timestamp = Timestamp(1_800_000_000_000);
const SERVER: &str = "mcptt-server.example.org";

fn store(off_network: bool) -> Arc<KeyStore> {
    Arc::new(KeyStore::new(StoreConfig {
        grace_period_ms: 2_000,
        off_network,
        ..StoreConfig::default()
    }))
}

fn engine(s: &Arc<KeyStore>) -> Engine {
    Engine::new(Arc::clone(s), EngineConfig::default()).unwrap()
}

/// Installs a key of `purpose` for `user` with a random key and RAND; returns its ID.
fn install(s: &KeyStore, rng: &mut Rng, purpose: Purpose, user: &str) -> KeyId {
    let id = KeyId::from_parts(purpose, rng.next_u64() as u32);
    let key = rng.bytes(16);
    let rand = rng.bytes(16);
    let mut k = KeyInstall::new(&key, id, &rand, Service::Mcptt, Owner::new(user), SERVER);
    if matches!(
        purpose,
        Purpose::Spk | Purpose::Mkfc | Purpose::Mscck | Purpose::Pck
    ) {
        // No CS-ID in Table E.1.3-1: the caller names one.
        k.cs_id = Some(CsId::CskSrtcpMcptt);
    }
    if purpose == Purpose::Gmk {
        k.guk_id = Some(rng.next_u64() as u32 & 0x0fff_ffff);
    }
    s.install(&k, T0).unwrap();
    id
}

fn packet(ssrc: u32) -> Vec<u8> {
    let mut p = app_packet(
        0,
        ssrc,
        &[102, 2, 5, 0, 109, 4, b'a', b'l', b'i', b'c', 0, 0],
    );
    let len = p.len();
    p.resize(len + MAX_SRTCP_TRAILER, 0);
    p
}

const PLAIN_LEN: usize = 24;

fn protect(e: &Engine, id: KeyId, ssrc: u32, now: Timestamp) -> Result<Vec<u8>, Error> {
    let mut b = packet(ssrc);
    let p = e.srtcp_protect(id, &mut b, PLAIN_LEN, now)?;
    b.truncate(p.len);
    Ok(b)
}

// ---- Purpose rules -------------------------------------------------------------------

#[test]
fn unicast_needs_a_csk() {
    let s = store(false);
    let mut rng = Rng::new(1);
    let csk = install(&s, &mut rng, Purpose::Csk, "sip:alice@example.org");
    let musik = install(&s, &mut rng, Purpose::Musik, "group-1");
    let e = engine(&s);
    let mut b = packet(1);
    assert!(
        e.srtcp_protect_for(SrtcpUse::Unicast, csk, &mut b, PLAIN_LEN, T0)
            .is_ok()
    );
    let mut b = packet(1);
    assert_eq!(
        e.srtcp_protect_for(SrtcpUse::Unicast, musik, &mut b, PLAIN_LEN, T0),
        Err(Error::WrongPurpose(Purpose::Musik))
    );
}

#[test]
fn multicast_needs_a_musik_or_mkfc() {
    let s = store(false);
    let mut rng = Rng::new(2);
    let musik = install(&s, &mut rng, Purpose::Musik, "group-1");
    let mkfc = install(&s, &mut rng, Purpose::Mkfc, "group-2");
    let csk = install(&s, &mut rng, Purpose::Csk, "sip:alice@example.org");
    let e = engine(&s);
    for ok in [musik, mkfc] {
        let mut b = packet(1);
        assert!(
            e.srtcp_protect_for(SrtcpUse::Multicast, ok, &mut b, PLAIN_LEN, T0)
                .is_ok()
        );
    }
    let mut b = packet(1);
    assert_eq!(
        e.srtcp_protect_for(SrtcpUse::Multicast, csk, &mut b, PLAIN_LEN, T0),
        Err(Error::WrongPurpose(Purpose::Csk))
    );
}

#[test]
fn mbms_subchannel_control_needs_an_mscck() {
    let s = store(false);
    let mut rng = Rng::new(3);
    let mscck = install(&s, &mut rng, Purpose::Mscck, "bearer-1");
    let musik = install(&s, &mut rng, Purpose::Musik, "group-1");
    let e = engine(&s);
    let mut b = packet(1);
    assert!(
        e.srtcp_protect_for(SrtcpUse::MbmsSubchannel, mscck, &mut b, PLAIN_LEN, T0)
            .is_ok()
    );
    let mut b = packet(1);
    assert_eq!(
        e.srtcp_protect_for(SrtcpUse::MbmsSubchannel, musik, &mut b, PLAIN_LEN, T0),
        Err(Error::WrongPurpose(Purpose::Musik))
    );
}

#[test]
fn server_to_server_needs_an_spk() {
    let s = store(false);
    let mut rng = Rng::new(4);
    let spk = install(&s, &mut rng, Purpose::Spk, "partner-domain");
    let csk = install(&s, &mut rng, Purpose::Csk, "sip:alice@example.org");
    let mut e = engine(&s);
    let wire = {
        let mut b = packet(9);
        let p = e
            .srtcp_protect_for(SrtcpUse::ServerToServer, spk, &mut b, PLAIN_LEN, T0)
            .unwrap();
        b.truncate(p.len);
        b
    };
    // The receiver asking for server-to-server refuses a CSK-protected packet.
    let mut csk_wire = protect(&e, csk, 9, T0).unwrap();
    assert_eq!(
        e.srtcp_unprotect_for(SrtcpUse::ServerToServer, &mut csk_wire, T0),
        Err(Error::WrongPurpose(Purpose::Csk))
    );
    let mut w = wire.clone();
    let got = e
        .srtcp_unprotect_for(SrtcpUse::ServerToServer, &mut w, T0)
        .unwrap();
    assert_eq!((got.key_id, got.purpose), (spk, Purpose::Spk));
}

#[test]
fn gmk_and_pck_only_with_off_network_enabled() {
    let s = store(false);
    let mut rng = Rng::new(5);
    let id = KeyId::from_parts(Purpose::Gmk, 0x0df9_bc39);
    let mut k = KeyInstall::new(
        &[1; 16],
        id,
        &[2; 16],
        Service::Mcptt,
        Owner::new("group-1"),
        SERVER,
    );
    k.guk_id = Some(0x06a1_2aea);
    assert_eq!(
        s.install(&k, T0),
        Err(StoreError::OffNetworkDisabled(Purpose::Gmk))
    );
    let pck = KeyId::from_parts(Purpose::Pck, 7);
    let kp = KeyInstall::new(
        &[1; 16],
        pck,
        &[2; 16],
        Service::Mcptt,
        Owner::new("u"),
        SERVER,
    );
    assert_eq!(
        s.install(&kp, T0),
        Err(StoreError::OffNetworkDisabled(Purpose::Pck))
    );
    assert!(s.is_empty());

    // Enabled: a GMK member key protects with the 8-octet MKI GMK-ID ‖ GUK-ID and is found by it.
    let s = store(true);
    s.install(&k, T0).unwrap();
    let mut e = engine(&s);
    let mut w = protect(&e, id, 3, T0).unwrap();
    assert_eq!(
        w[w.len() - 8..],
        [0x0d, 0xf9, 0xbc, 0x39, 0x06, 0xa1, 0x2a, 0xea]
    );
    let got = e.srtcp_unprotect(&mut w, T0).unwrap();
    assert_eq!((got.key_id, got.purpose), (id, Purpose::Gmk));
    // One member entry per GMK: a second GUK-ID for the same GMK-ID is refused.
    k.guk_id = Some(0x0111_1111);
    assert_eq!(s.install(&k, T0), Err(StoreError::DuplicateKeyId(id)));
    // Revoking the GMK removes it under both of its names; protect by ID hears why.
    s.revoke(id).unwrap();
    assert_eq!(protect(&e, id, 3, T0), Err(Error::Revoked));
    assert!(s.status(id).is_none());
    // A GMK without its GUK-ID is refused.
    k.guk_id = None;
    assert_eq!(s.install(&k, T0), Err(StoreError::MissingGukId));
    let _ = install(&s, &mut rng, Purpose::Pck, "u");
}

#[test]
fn keys_without_a_table_cs_id_need_one() {
    let s = store(false);
    let id = KeyId::from_parts(Purpose::Spk, 1);
    let k = KeyInstall::new(
        &[1; 16],
        id,
        &[2; 16],
        Service::Mcptt,
        Owner::new("peer"),
        SERVER,
    );
    assert_eq!(
        s.install(&k, T0),
        Err(StoreError::NoCsId(Purpose::Spk, Service::Mcptt))
    );
    let csk = KeyId::from_parts(Purpose::Csk, 1);
    let k = KeyInstall::new(
        &[1; 16],
        csk,
        &[2; 16],
        Service::Mcdata,
        Owner::new("u"),
        SERVER,
    );
    assert_eq!(
        s.install(&k, T0),
        Err(StoreError::NoCsId(Purpose::Csk, Service::Mcdata))
    );
    let k = KeyInstall::new(
        &[1; 15],
        csk,
        &[2; 16],
        Service::Mcptt,
        Owner::new("u"),
        SERVER,
    );
    assert!(matches!(s.install(&k, T0), Err(StoreError::Derive(_))));
    assert!(s.is_empty());
}

#[test]
fn the_engine_path_is_the_mc_chain_byte_for_byte() {
    // Engine protect = MIKEY(CSK, CS-ID 6, CSK-ID, RAND) → RFC 3711 KDF → RFC 7714 at index 0,
    // MKI = CSK-ID: the same bytes as the foundation's contexts.
    let s = store(false);
    let (key, rand) = ([0x42u8; 16], [0x24u8; 16]);
    let id = KeyId::from_parts(Purpose::Csk, 0x0ddd_5bf0);
    let k = KeyInstall::new(
        &key,
        id,
        &rand,
        Service::Mcptt,
        Owner::new("sip:a@x"),
        SERVER,
    );
    s.install(&k, T0).unwrap();
    let e = engine(&s);
    let via_engine = protect(&e, id, 0xdead_beef, T0).unwrap();
    let (mk, ms) = derive_srtp_master(&key, CsId::CskSrtcpMcptt, id.get(), &rand).unwrap();
    let mut tx = TxContext::new(
        SrtcpKeys::from_master(&mk, &ms, s.provider()),
        TxConfig::new(Mki::from_key_id(id)),
    );
    let mut out = vec![0u8; via_engine.len()];
    tx.protect(&packet(0xdead_beef)[..PLAIN_LEN], &mut out)
        .unwrap();
    assert_eq!(via_engine, out);
}

// ---- Replacement and grace ------------------------------------------------------------

#[test]
fn a_new_csk_supersedes_the_old_one_with_grace_and_continuing_index() {
    let s = store(false);
    let mut rng = Rng::new(6);
    let old = install(&s, &mut rng, Purpose::Csk, "sip:alice@example.org");
    let mut rx = engine(&s);
    let tx = engine(&s);
    let mut in_flight = Vec::new();
    for _ in 0..5 {
        in_flight.push(protect(&tx, old, 77, T0).unwrap());
    }
    assert_eq!(
        s.key_for(Purpose::Csk, "sip:alice@example.org", SERVER),
        Some(old)
    );

    let new = KeyId::from_parts(Purpose::Csk, 0x0abc_def0);
    let (key, rand) = (rng.bytes(16), rng.bytes(16));
    let k = KeyInstall::new(
        &key,
        new,
        &rand,
        Service::Mcptt,
        Owner::new("sip:alice@example.org"),
        SERVER,
    );
    let t1 = T0.plus_ms(100);
    assert_eq!(s.install(&k, t1).unwrap().superseded, Some(old));
    assert_eq!(
        s.key_for(Purpose::Csk, "sip:alice@example.org", SERVER),
        Some(new)
    );
    assert_eq!(s.info(old).unwrap().status, KeyStatus::Superseded(t1));

    // Never again for protect.
    assert_eq!(protect(&tx, old, 77, t1), Err(Error::Superseded));
    // The index continues: the new key's first packet on SSRC 77 has index 5.
    let w = protect(&tx, new, 77, t1).unwrap();
    let n = w.len();
    assert_eq!(
        u32::from_be_bytes(w[n - 8..n - 4].try_into().unwrap()) & 0x7fff_ffff,
        5
    );

    // In-flight packets under the old key still unprotect during the grace period…
    let mut p = in_flight.pop().unwrap();
    assert!(rx.srtcp_unprotect(&mut p, t1.plus_ms(1_999)).is_ok());
    // …and not after it.
    let mut p = in_flight.pop().unwrap();
    assert_eq!(
        rx.srtcp_unprotect(&mut p, t1.plus_ms(2_000)),
        Err(Error::Superseded)
    );
    // A purge after the grace period removes the old key.
    assert_eq!(s.purge(t1.plus_ms(2_000)), vec![old]);
    assert!(s.info(old).is_none());
}

// ---- Alias ---------------------------------------------------------------------------

#[test]
fn alias_binds_a_second_identity_to_one_csk() {
    let s = store(false);
    let mut rng = Rng::new(7);
    let a = install(&s, &mut rng, Purpose::Csk, "sip:alice@example.org");
    let b = install(&s, &mut rng, Purpose::Csk, "sip:alice-2@example.org");
    let r = s
        .alias(a, &Owner::new("sip:alice-2@example.org"), T0)
        .unwrap();
    assert_eq!(r.superseded, Some(b));
    assert_eq!(
        s.key_for(Purpose::Csk, "sip:alice-2@example.org", SERVER),
        Some(a)
    );
    assert_eq!(
        s.key_for(Purpose::Csk, "sip:alice@example.org", SERVER),
        Some(a)
    );
    assert!(matches!(
        s.info(b).unwrap().status,
        KeyStatus::Superseded(_)
    ));
    assert_eq!(
        s.alias(KeyId::from_parts(Purpose::Csk, 9), &Owner::new("x"), T0),
        Err(StoreError::UnknownKey(KeyId::from_parts(Purpose::Csk, 9)))
    );
}

// ---- Revocation, time, generation ------------------------------------------------------

#[test]
fn revocation_takes_effect_for_the_next_packet() {
    let s = store(false);
    let mut rng = Rng::new(8);
    let id = install(&s, &mut rng, Purpose::Csk, "sip:alice@example.org");
    let mut e = engine(&s);
    let mut first = protect(&e, id, 5, T0).unwrap();
    e.srtcp_unprotect(&mut first, T0).unwrap();
    assert_eq!(e.rx_streams(), 1);
    let mut w = protect(&e, id, 5, T0).unwrap();
    s.revoke(id).unwrap();
    // The key has left the store, and the store remembers why.
    assert_eq!(protect(&e, id, 5, T0), Err(Error::Revoked));
    let before = w.clone();
    assert_eq!(e.srtcp_unprotect(&mut w, T0), Err(Error::Revoked));
    assert_eq!(w, before, "a refused packet is left as it was");
    // Its receive state went with it.
    assert_eq!(e.rx_streams(), 0);
    assert_eq!(s.revoke(id), Err(StoreError::UnknownKey(id)));
    assert!(
        s.key_for(Purpose::Csk, "sip:alice@example.org", SERVER)
            .is_none()
    );
}

#[test]
fn activation_and_expiry_follow_now() {
    let s = store(false);
    let id = KeyId::from_parts(Purpose::Csk, 0x0123_4567);
    let mut k = KeyInstall::new(
        &[3; 16],
        id,
        &[4; 16],
        Service::Mcptt,
        Owner::new("u"),
        SERVER,
    );
    k.valid_from = Some(T0.plus_ms(1_000));
    k.valid_until = Some(T0.plus_ms(5_000));
    s.install(&k, T0).unwrap();
    let e = engine(&s);
    assert_eq!(protect(&e, id, 1, T0), Err(Error::NotYetValid));
    assert!(protect(&e, id, 1, T0.plus_ms(1_000)).is_ok());
    assert_eq!(protect(&e, id, 1, T0.plus_ms(5_000)), Err(Error::Expired));
}

#[test]
fn generated_keys_have_the_purpose_and_no_collision() {
    let s = store(false);
    let mut rng = Rng::new(9);
    let installed: Vec<KeyId> = (0..200)
        .map(|i| install(&s, &mut rng, Purpose::Csk, &format!("u{i}")))
        .collect();
    for purpose in [Purpose::Csk, Purpose::Musik] {
        for _ in 0..200 {
            let g = s.generate(purpose, KeyLen::Aes128).unwrap();
            assert_eq!(g.key_id.purpose(), purpose);
            assert!(!installed.contains(&g.key_id));
            assert_eq!(g.key.expose().len(), 16);
        }
    }
    // An install of an ID already present is refused and changes nothing.
    let k = KeyInstall::new(
        &[1; 16],
        installed[0],
        &[1; 16],
        Service::Mcptt,
        Owner::new("z"),
        SERVER,
    );
    assert_eq!(
        s.install(&k, T0),
        Err(StoreError::DuplicateKeyId(installed[0]))
    );
    assert_eq!(s.len(), 200);
    assert!(s.key_for(Purpose::Csk, "z", SERVER).is_none());
}

// ---- Receive state and memory --------------------------------------------------------

#[test]
fn forged_packets_create_no_state_and_streams_are_bounded() {
    let s = store(false);
    let mut rng = Rng::new(10);
    let id = install(&s, &mut rng, Purpose::Csk, "sip:alice@example.org");
    let mut e = Engine::new(
        Arc::clone(&s),
        EngineConfig {
            max_streams_per_key: 64,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    let genuine = protect(&e, id, 1, T0).unwrap();

    // 100,000 forged packets: the right MKI, random SSRCs, a wrong tag.
    for _ in 0..100_000 {
        let mut f = genuine.clone();
        let ssrc = rng.next_u64() as u32;
        f[4..8].copy_from_slice(&ssrc.to_be_bytes());
        f[20] ^= 1 + (rng.next_u64() as u8 & 0x7f);
        assert_eq!(
            e.srtcp_unprotect(&mut f, T0),
            Err(Error::Srtcp(mcx_engine::srtcp::Error::AuthenticationFailed))
        );
    }
    assert_eq!(e.rx_streams(), 0);

    // The genuine packet still passes, and only it creates a stream.
    let mut g = genuine.clone();
    let p = e.srtcp_unprotect(&mut g, T0).unwrap();
    assert_eq!((p.key_id, p.purpose, p.index), (id, Purpose::Csk, 0));
    assert_eq!(e.rx_streams(), 1);
}

#[test]
fn receive_streams_per_key_are_bounded() {
    let s = store(false);
    let mut rng = Rng::new(11);
    let e_tx = engine(&s);
    let mut rx = Engine::new(
        Arc::clone(&s),
        EngineConfig {
            max_streams_per_key: 8,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    let id = install(&s, &mut rng, Purpose::Csk, "u");
    let mut results = Vec::new();
    for ssrc in 0..12u32 {
        let mut w = protect(&e_tx, id, ssrc, T0).unwrap();
        results.push(rx.srtcp_unprotect(&mut w, T0).map(|p| p.index));
    }
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 8);
    assert_eq!(results[8..], [Err(Error::TooManyStreams); 4]);
    assert_eq!(rx.rx_streams(), 8);
}

// ---- Concurrency -----------------------------------------------------------------------

#[test]
fn revocation_racing_with_traffic() {
    let s = store(false);
    let stop = Arc::new(AtomicBool::new(false));
    // The writer publishes the ID it installed and, once revoked, the ID it revoked.
    let live = Arc::new(AtomicU32::new(0));
    let revoked = Arc::new(AtomicU32::new(0));
    let base = engine(&s);

    let writer = {
        let (s, stop, live, revoked) = (
            Arc::clone(&s),
            Arc::clone(&stop),
            Arc::clone(&live),
            Arc::clone(&revoked),
        );
        std::thread::spawn(move || {
            let mut rng = Rng::new(12);
            for i in 0..2_000u32 {
                let id = KeyId::from_parts(Purpose::Csk, i + 1);
                let (key, rand) = (rng.bytes(16), rng.bytes(16));
                let k = KeyInstall::new(
                    &key,
                    id,
                    &rand,
                    Service::Mcptt,
                    Owner::new(format!("u{i}")),
                    SERVER,
                );
                s.install(&k, T0).unwrap();
                live.store(id.get(), Ordering::SeqCst);
                std::thread::yield_now();
                s.revoke(id).unwrap();
                revoked.store(id.get(), Ordering::SeqCst);
            }
            stop.store(true, Ordering::SeqCst);
        })
    };
    let workers: Vec<_> = (0..2)
        .map(|n| {
            let mut e = base.handle();
            let (stop, live, revoked) =
                (Arc::clone(&stop), Arc::clone(&live), Arc::clone(&revoked));
            std::thread::spawn(move || {
                let (mut ok, mut refused) = (0u32, 0u32);
                while !stop.load(Ordering::SeqCst) {
                    // A key observed as revoked must never protect again.
                    let gone = revoked.load(Ordering::SeqCst);
                    if gone != 0 {
                        let id = KeyId::new(gone).unwrap();
                        let mut b = packet(n);
                        assert!(
                            e.srtcp_protect(id, &mut b, PLAIN_LEN, T0).is_err(),
                            "used after revoke"
                        );
                    }
                    let Ok(id) = KeyId::new(live.load(Ordering::SeqCst)) else {
                        continue;
                    };
                    if id.get() == 0 {
                        continue;
                    }
                    let mut b = packet(n);
                    match e.srtcp_protect(id, &mut b, PLAIN_LEN, T0) {
                        Ok(p) => {
                            b.truncate(p.len);
                            match e.srtcp_unprotect(&mut b, T0) {
                                Ok(u) => {
                                    assert_eq!(&b[..u.len], &packet(n)[..PLAIN_LEN]);
                                    ok += 1;
                                }
                                Err(Error::UnknownKey | Error::Revoked) => refused += 1,
                                Err(other) => panic!("{other}"),
                            }
                        }
                        Err(Error::UnknownKey | Error::Revoked) => refused += 1,
                        Err(other) => panic!("{other}"),
                    }
                }
                (ok, refused)
            })
        })
        .collect();
    writer.join().unwrap();
    let mut total_ok = 0;
    for w in workers {
        let (ok, _refused) = w.join().unwrap();
        total_ok += ok;
    }
    assert!(total_ok > 0, "traffic ran while keys came and went");
    assert!(s.is_empty());
}

// ---- Limits, reclaimed state, reused key IDs ------------------------------------------

fn csk_install(s: &KeyStore, id: KeyId, key: &[u8; 16], user: &str) {
    let k = KeyInstall::new(key, id, &[4; 16], Service::Mcptt, Owner::new(user), SERVER);
    s.install(&k, T0).unwrap();
}

/// The CS proxy's hop toward the server: every client's packets under one SPK.
#[test]
fn one_spk_carries_thousands_of_client_streams() {
    let s = store(false);
    let mut rng = Rng::new(21);
    let spk = install(&s, &mut rng, Purpose::Spk, "sip:peer-server.example.org");
    let e = engine(&s);
    for client in 0..3000u32 {
        assert!(
            protect(&e, spk, 0x1000_0000 + client, T0).is_ok(),
            "client {client}"
        );
    }
    assert_eq!(s.info(spk).unwrap().tx_ssrcs, 3000);
    // A configured limit refuses the next SSRC only.
    let small = Arc::new(KeyStore::new(StoreConfig {
        tx_ssrcs_per_key: 16,
        ..StoreConfig::default()
    }));
    let spk = install(
        &small,
        &mut rng,
        Purpose::Spk,
        "sip:peer-server.example.org",
    );
    let e = engine(&small);
    for ssrc in 0..16 {
        protect(&e, spk, ssrc, T0).unwrap();
    }
    assert_eq!(protect(&e, spk, 16, T0), Err(Error::TooManyStreams));
    assert!(protect(&e, spk, 3, T0).is_ok());
}

/// Install, use and revoke keys many times over: handles and pool workers keep no window
/// for a key that left.
#[test]
fn receive_state_goes_with_the_keys() {
    use mcx_engine::pool::{Job, Packet, Pool, PoolConfig};
    let s = store(false);
    let mut e = engine(&s);
    let pool: Pool = Pool::new(
        Arc::clone(&s),
        PoolConfig {
            workers: 2,
            pin: false,
            ..PoolConfig::default()
        },
    )
    .unwrap();
    let mut sub = pool.submitter();
    for i in 0..20_000u32 {
        let id = KeyId::from_parts(Purpose::Csk, 0x0010_0000 + i);
        csk_install(&s, id, &[i as u8; 16], "sip:cycle@example.org");
        for ssrc in [1, 2, 3] {
            let mut w = protect(&e, id, ssrc, T0).unwrap();
            e.srtcp_unprotect(&mut w, T0).unwrap();
        }
        // The live key's 3 streams, and at most as many left by the key before it, swept as
        // the handle goes on.
        assert!(e.rx_streams() <= 6, "cycle {i}: {} windows", e.rx_streams());
        if i % 20 == 0 {
            let w = protect(&e, id, 9, T0).unwrap();
            let job = Job::unprotect(vec![Packet::unprotect(w[..].into())], T0);
            let done = sub.run(job).unwrap();
            assert!(matches!(done.packets[0].result, Some(Ok(_))));
            assert!(pool.stats().total().rx_streams <= 2);
        }
        s.revoke(id).unwrap();
    }
    e.prune();
    assert_eq!((e.rx_streams(), s.len()), (0, 0));
}

/// A key ID installed again after it left: the handle's windows of the old entry neither
/// refuse the new key's packets nor let its own replays through, and the same material
/// under the same ID never gives the same packet twice.
#[test]
fn a_key_id_reused_after_revocation() {
    // The store forgets the oldest retired IDs beyond `retired_keys`: then the indices
    // start at 0 again, and only the handle's windows stand between the two keys.
    let s = Arc::new(KeyStore::new(StoreConfig {
        retired_keys: 1,
        ..StoreConfig::default()
    }));
    let mut e = engine(&s);
    let id = KeyId::from_parts(Purpose::Csk, 0x0020_0001);
    csk_install(&s, id, &[1; 16], "sip:a@example.org");
    for _ in 0..5 {
        let mut w = protect(&e, id, 7, T0).unwrap();
        e.srtcp_unprotect(&mut w, T0).unwrap();
    }
    s.revoke(id).unwrap();
    let other = KeyId::from_parts(Purpose::Csk, 0x0020_0002);
    csk_install(&s, other, &[2; 16], "sip:b@example.org");
    s.revoke(other).unwrap(); // pushes `id` out of the retired list
    csk_install(&s, id, &[3; 16], "sip:a@example.org");
    assert_eq!(s.next_tx_index(id, 7), None);
    let first = protect(&e, id, 7, T0).unwrap();
    let mut w = first.clone();
    assert_eq!(e.srtcp_unprotect(&mut w, T0).map(|p| p.index), Ok(0));
    let mut again = first;
    assert_eq!(
        e.srtcp_unprotect(&mut again, T0),
        Err(Error::Srtcp(mcx_engine::srtcp::Error::Replayed))
    );

    // Remembered: the same ID and material are refused (old packets would open again);
    // new material continues above the last index.
    let s = store(false);
    let mut e = engine(&s);
    let id = KeyId::from_parts(Purpose::Csk, 0x0020_0003);
    csk_install(&s, id, &[9; 16], "sip:c@example.org");
    let before: Vec<Vec<u8>> = (0..3).map(|_| protect(&e, id, 7, T0).unwrap()).collect();
    s.revoke(id).unwrap();
    let k = KeyInstall::new(
        &[9; 16],
        id,
        &[4; 16],
        Service::Mcptt,
        Owner::new("c"),
        SERVER,
    );
    assert_eq!(s.install(&k, T0), Err(StoreError::ReusedKey(id)));
    csk_install(&s, id, &[10; 16], "sip:c@example.org");
    assert_eq!(s.next_tx_index(id, 7), None);
    let mut after = protect(&e, id, 7, T0).unwrap();
    assert!(!before.contains(&after), "a packet repeated: GCM IV reuse");
    assert_eq!(s.next_tx_index(id, 7), Some(4));
    // A packet of the old key does not open under the new one.
    let mut old = before[2].clone();
    assert_eq!(
        e.srtcp_unprotect(&mut old, T0),
        Err(Error::Srtcp(mcx_engine::srtcp::Error::AuthenticationFailed))
    );
    assert_eq!(e.srtcp_unprotect(&mut after, T0).map(|p| p.index), Ok(3));
}

/// `max_streams_per_key` holds for the key over every handle; a handle's streams go back to
/// the key when it is dropped.
#[test]
fn the_stream_limit_holds_over_every_handle() {
    let s = store(false);
    let mut rng = Rng::new(22);
    let id = install(&s, &mut rng, Purpose::Csk, "sip:dave@example.org");
    let cfg = EngineConfig {
        max_streams_per_key: 4,
        ..EngineConfig::default()
    };
    let tx = engine(&s);
    let mut a = Engine::new(Arc::clone(&s), cfg).unwrap();
    let mut b = a.handle();
    for ssrc in 0..3 {
        let mut w = protect(&tx, id, ssrc, T0).unwrap();
        a.srtcp_unprotect(&mut w, T0).unwrap();
    }
    let mut w = protect(&tx, id, 10, T0).unwrap();
    b.srtcp_unprotect(&mut w, T0).unwrap();
    let mut w = protect(&tx, id, 11, T0).unwrap();
    assert_eq!(b.srtcp_unprotect(&mut w, T0), Err(Error::TooManyStreams));
    assert_eq!(s.info(id).unwrap().rx_streams, 4);
    drop(a);
    assert_eq!(s.info(id).unwrap().rx_streams, 1);
    let mut w = protect(&tx, id, 11, T0).unwrap();
    assert!(b.srtcp_unprotect(&mut w, T0).is_ok());
}

#[test]
fn the_index_soft_limit_raises_an_event() {
    use mcx_engine::store::StoreEvent;
    let s = Arc::new(KeyStore::new(StoreConfig {
        index_soft_limit: 2,
        ..StoreConfig::default()
    }));
    let mut rng = Rng::new(23);
    let id = install(&s, &mut rng, Purpose::Csk, "sip:erin@example.org");
    let e = engine(&s);
    for _ in 0..4 {
        protect(&e, id, 0x55, T0).unwrap();
    }
    assert_eq!(
        s.poll_event(),
        Some(StoreEvent::IndexSoftLimit {
            key_id: id,
            ssrc: 0x55,
            index: 2
        })
    );
    assert_eq!(s.poll_event(), None);
}
