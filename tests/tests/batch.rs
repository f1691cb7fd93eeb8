//! Batch SRTCP and fan-out (issue: hardware-accelerated AES-GCM, batch SRTCP): batches that
//! mix sizes, keys (AES-128 and AES-256, E=1 and E=0) and failures, checked packet by packet
//! against the single-packet calls.
//!
//! The AES-GCM provider is a value of the key store: every test runs once per provider the
//! CPU supports, all in this process, and `each_store_runs_its_provider` checks that a store
//! really uses the one it was given.

use std::sync::Arc;

use mcx_engine::aead::Provider;
use mcx_engine::keys::{KeyId, Purpose, Service, SrtcpUse};
use mcx_engine::srtcp::{self, MAX_SRTCP_TRAILER, Protection};
use mcx_engine::store::{KeyInstall, KeyStore, Owner, StoreConfig};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig, Error, RxPacket, TxPacket};
use mcx_tests::packets::random_rtcp;
use mcx_tests::rng::Rng;

const T0: Timestamp = Timestamp(1_800_000_000_000);
const SERVER: &str = "mcptt-server.example.org";

#[test]
fn each_store_runs_its_provider() {
    let mut rng = Rng::from_env_or_time("batch");
    let providers = mcx_tests::providers();
    assert!(providers.contains(&Provider::Portable));
    for p in providers {
        let k = keys(&mut rng, 2, p);
        assert_eq!(k.store.provider(), p);
        assert_eq!(engine(&k.store).provider(), p);
    }
}

struct Keys {
    store: Arc<KeyStore>,
    ids: Vec<KeyId>,
}

/// `n` CSKs for distinct users: even ones AES-128, odd ones AES-256; every third E=0.
fn keys(rng: &mut Rng, n: usize, provider: Provider) -> Keys {
    let store = Arc::new(KeyStore::new(StoreConfig {
        provider,
        ..StoreConfig::default()
    }));
    let mut ids = Vec::new();
    for i in 0..n {
        let id = KeyId::from_parts(Purpose::Csk, 0x100 + i as u32);
        let key = rng.bytes(if i % 2 == 0 { 16 } else { 32 });
        let rand = rng.bytes(16);
        let user = format!("sip:user{i}@example.org");
        let mut k = KeyInstall::new(&key, id, &rand, Service::Mcptt, Owner::new(&user), SERVER);
        if i % 3 == 2 {
            k.protection = Protection::AuthOnly;
        }
        store.install(&k, T0).unwrap();
        ids.push(id);
    }
    Keys { store, ids }
}

fn engine(s: &Arc<KeyStore>) -> Engine {
    Engine::new(Arc::clone(s), EngineConfig::default()).unwrap()
}

/// A random RTCP packet of 8 + 4k octets (k < 300) with room for the trailer.
fn plain(rng: &mut Rng, ssrc: u32) -> Vec<u8> {
    let len = 8 + 4 * rng.below(300) as usize;
    random_rtcp(rng, ssrc, len)
}

#[test]
fn protect_batch_mixes_sizes_keys_and_failures() {
    let mut rng = Rng::from_env_or_time("batch");
    for provider in mcx_tests::providers() {
        let k = keys(&mut rng, 8, provider);
        let revoked = k.ids[7];
        k.store.revoke(revoked).unwrap();
        let musik = KeyId::from_parts(Purpose::Musik, 0x42);
        k.store
            .install(
                &KeyInstall::new(
                    &[9; 16],
                    musik,
                    &[1; 16],
                    Service::Mcptt,
                    Owner::new("group-1"),
                    SERVER,
                ),
                T0,
            )
            .unwrap();
        let tx = engine(&k.store);
        let mut rx = engine(&k.store);

        for round in 0..20 {
            // (key, plaintext, buffer room, expected failure)
            let mut cases: Vec<(KeyId, Vec<u8>, usize, Option<Error>)> = Vec::new();
            for i in 0..70 {
                let ssrc = 1000 + i as u32 % 5;
                // Even rounds: mostly what the four-lane kernel takes where the backend has it
                // (the E=1 AES-128 keys 0 and 4, at most 96 octets after the header).
                if round % 2 == 0 && rng.below(8) != 0 {
                    let len = 8 + 4 * rng.below(24) as usize;
                    let id = k.ids[[0, 4][rng.below(2) as usize]];
                    cases.push((
                        id,
                        random_rtcp(&mut rng, ssrc, len),
                        MAX_SRTCP_TRAILER,
                        None,
                    ));
                    continue;
                }
                let p = plain(&mut rng, ssrc);
                match rng.below(12) {
                    0 => cases.push((
                        KeyId::from_parts(Purpose::Csk, 0xdead),
                        p,
                        MAX_SRTCP_TRAILER,
                        Some(Error::UnknownKey),
                    )),
                    // A revoked key has left the store, and the store says why.
                    1 => cases.push((revoked, p, MAX_SRTCP_TRAILER, Some(Error::Revoked))),
                    2 => cases.push((
                        k.ids[rng.below(7) as usize],
                        p,
                        3,
                        Some(Error::Srtcp(srtcp::Error::BufferTooSmall)),
                    )),
                    3 => cases.push((
                        musik,
                        p,
                        MAX_SRTCP_TRAILER,
                        Some(Error::WrongPurpose(Purpose::Musik)),
                    )),
                    _ => cases.push((k.ids[rng.below(7) as usize], p, MAX_SRTCP_TRAILER, None)),
                }
            }
            let mut bufs: Vec<Vec<u8>> = cases
                .iter()
                .map(|(_, p, room, _)| {
                    let mut b = p.clone();
                    b.resize(p.len() + room, 0xee);
                    b
                })
                .collect();
            let before = bufs.clone();
            let mut pkts: Vec<TxPacket<'_>> = bufs
                .iter_mut()
                .zip(cases.iter())
                .map(|(b, (id, p, _, _))| TxPacket::new(*id, b, p.len()))
                .collect();
            let n_ok = tx.srtcp_protect_batch_for(SrtcpUse::Unicast, &mut pkts, T0);
            let results: Vec<_> = pkts.iter().map(|p| p.result.unwrap()).collect();
            drop(pkts);
            assert_eq!(n_ok, results.iter().filter(|r| r.is_ok()).count());
            for (i, ((id, p, _, fail), r)) in cases.iter().zip(results.iter()).enumerate() {
                match fail {
                    Some(e) => {
                        assert_eq!(r, &Err(*e), "round {round} packet {i}");
                        assert_eq!(bufs[i], before[i], "a refused packet is left unchanged");
                    }
                    None => {
                        let done = r.unwrap_or_else(|e| panic!("round {round} packet {i}: {e}"));
                        assert_eq!(done.key_id, *id);
                        // The single-packet path opens what the batch sealed, and gives back
                        // the plaintext.
                        let mut w = bufs[i][..done.len].to_vec();
                        let got = rx.srtcp_unprotect(&mut w, T0).unwrap();
                        assert_eq!(&w[..got.len], &p[..], "round {round} packet {i}");
                        assert_eq!(got.index, done.index);
                        assert_eq!(got.encrypted, done.encrypted);
                    }
                }
            }
        }
    }
}

#[test]
fn unprotect_batch_matches_single_calls() {
    let mut rng = Rng::from_env_or_time("batch");
    for provider in mcx_tests::providers() {
        let k = keys(&mut rng, 6, provider);
        let tx = engine(&k.store);
        let mut batch_rx = engine(&k.store);
        let mut single_rx = engine(&k.store);

        for round in 0..20 {
            let mut wire: Vec<Vec<u8>> = Vec::new();
            let mut plains = Vec::new();
            let mut refused = false;
            for i in 0..70 {
                // Even rounds: what the four-lane kernel takes where the backend has it — the two
                // E=1 AES-128 keys (0 and 4), packets of at most 96 octets after the header, more
                // SSRCs so that groups of four distinct streams are common.
                let (id, p) = if round % 2 == 0 {
                    let len = 8 + 4 * rng.below(24) as usize;
                    let id = k.ids[[0, 4][rng.below(2) as usize]];
                    (id, random_rtcp(&mut rng, 2000 + i % 8, len))
                } else {
                    (k.ids[rng.below(6) as usize], plain(&mut rng, 2000 + i % 3))
                };
                let mut b = p.clone();
                b.resize(p.len() + MAX_SRTCP_TRAILER, 0);
                let done = tx.srtcp_protect(id, &mut b, p.len(), T0).unwrap();
                b.truncate(done.len);
                // Fewer refused packets in the even rounds, so that many groups of four are clean.
                // The last packet of a round with none refused yet is tampered: every round has
                // both outcomes (at 1 in 40 a round of 70 had none about once in 200 rounds).
                let choice = if i == 69 && !refused {
                    0
                } else {
                    rng.below(if round % 2 == 0 { 40 } else { 10 })
                };
                refused |=
                    choice == 0 || choice == 2 || choice == 3 || (choice == 1 && !wire.is_empty());
                match choice {
                    // Tampered: a flipped bit anywhere before the MKI.
                    0 => {
                        let at = rng.below(b.len() as u64 - 4) as usize;
                        b[at] ^= 1 << rng.below(8);
                    }
                    // A replay of an earlier packet of this batch.
                    1 if !wire.is_empty() => {
                        let j = rng.below(wire.len() as u64) as usize;
                        b = wire[j].clone();
                    }
                    // Unknown MKI.
                    2 => {
                        let n = b.len();
                        b[n - 4..].copy_from_slice(&0x2fff_fff0u32.to_be_bytes());
                    }
                    // Truncated.
                    3 => b.truncate(rng.below(12) as usize),
                    _ => {}
                }
                wire.push(b);
                plains.push(p);
            }
            // Reference: one call per packet, in order, on a handle with the same history.
            let mut single = wire.clone();
            let want: Vec<_> = single
                .iter_mut()
                .map(|b| single_rx.srtcp_unprotect(b, T0))
                .collect();
            let mut batch = wire.clone();
            let mut pkts: Vec<RxPacket<'_>> = batch.iter_mut().map(|b| RxPacket::new(b)).collect();
            let n_ok = batch_rx.srtcp_unprotect_batch(&mut pkts, T0);
            let got: Vec<_> = pkts.iter().map(|p| p.result.unwrap()).collect();
            drop(pkts);
            assert_eq!(got, want, "round {round}");
            assert_eq!(n_ok, got.iter().filter(|r| r.is_ok()).count());
            assert!(got.iter().any(|r| r.is_err()) && n_ok > 0);
            for (i, r) in got.iter().enumerate() {
                match r {
                    Ok(u) => {
                        assert_eq!(
                            &batch[i][..u.len],
                            &plains[i][..],
                            "round {round} packet {i}"
                        );
                        assert_eq!(batch[i], single[i]);
                    }
                    Err(_) => assert_eq!(batch[i], wire[i], "a refused packet is left unchanged"),
                }
            }
            assert_eq!(batch_rx.rx_streams(), single_rx.rx_streams());
        }
    }
}

#[test]
fn fan_out_reaches_every_recipient_with_its_own_key() {
    let mut rng = Rng::from_env_or_time("batch");
    for provider in mcx_tests::providers() {
        let k = keys(&mut rng, 9, provider);
        let tx = engine(&k.store);
        let mut rx = engine(&k.store);
        let p = random_rtcp(&mut rng, 0xfeed, 64);
        let mut bufs: Vec<Vec<u8>> = (0..k.ids.len() + 2)
            .map(|i| vec![0u8; if i == 3 { 20 } else { 64 + MAX_SRTCP_TRAILER }])
            .collect();
        let mut targets: Vec<TxPacket<'_>> = bufs
            .iter_mut()
            .enumerate()
            .map(|(i, b)| {
                let id = match i {
                    9 => KeyId::from_parts(Purpose::Csk, 0xbad),
                    10 => KeyId::from_parts(Purpose::Spk, 0xbad),
                    _ => k.ids[i],
                };
                TxPacket::new(id, b, 0)
            })
            .collect();
        let n = tx.srtcp_fan_out(SrtcpUse::Unicast, &p, &mut targets, T0);
        let results: Vec<_> = targets.iter().map(|t| t.result.unwrap()).collect();
        drop(targets);
        assert_eq!(n, 8);
        assert_eq!(results[3], Err(Error::Srtcp(srtcp::Error::BufferTooSmall)));
        assert_eq!(results[9], Err(Error::UnknownKey));
        assert_eq!(results[10], Err(Error::UnknownKey));
        let mut mkis = std::collections::HashSet::new();
        for (i, r) in results.iter().enumerate().take(9) {
            if i == 3 {
                continue;
            }
            let done = r.unwrap();
            assert_eq!(done.key_id, k.ids[i]);
            let mut w = bufs[i][..done.len].to_vec();
            assert!(
                mkis.insert(w[w.len() - 4..].to_vec()),
                "each copy carries its key's MKI"
            );
            let got = rx.srtcp_unprotect(&mut w, T0).unwrap();
            assert_eq!(got.key_id, k.ids[i]);
            assert_eq!(&w[..got.len], &p[..]);
        }
    }
}
