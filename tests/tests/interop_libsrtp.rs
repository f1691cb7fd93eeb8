//! Interop with libsrtp 2 (Debian's libsrtp2, an independent C implementation of RFC 7714).
//!
//! For each mode, random master keys, salts, MKIs and SSRCs, and random valid RTCP packets
//! (single and compound, 8 to 1500 octets):
//!
//! - libsrtp protects and mcx unprotects; mcx's own protect at the same index must give the
//!   same bytes;
//! - mcx protects and libsrtp unprotects;
//! - a flipped bit is rejected by both.
//!
//! Every AES-GCM provider this CPU runs goes through each mode, in this one process.
//! Counts are printed (run with `--nocapture` to see them) and asserted.

use mcx_engine::aead::Provider;
use mcx_engine::keys::{CsId, KeyId, Purpose, derive_srtp_master};
use mcx_engine::secret::{MasterKey, MasterSalt};
use mcx_engine::srtcp::{Mki, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext};
use mcx_tests::libsrtp::{self, Direction, Session};
use mcx_tests::packets::random_rtcp;
use mcx_tests::rng::Rng;

#[derive(Default, Debug)]
struct Counts {
    libsrtp_to_mcx: usize,
    mcx_to_libsrtp: usize,
    identical_bytes: usize,
    tamper_rejected: usize,
}

struct Mode {
    name: &'static str,
    key_len: usize,
    mki_len: usize,
    auth_only: bool,
    sessions: usize,
    packets: usize,
}

fn esrtcp_index(pkt: &[u8], mki_len: usize) -> u32 {
    let at = pkt.len() - mki_len - 4;
    u32::from_be_bytes(pkt[at..at + 4].try_into().unwrap()) & 0x7fff_ffff
}

fn run_session(
    rng: &mut Rng,
    mode: &Mode,
    provider: Provider,
    key: &[u8],
    salt: &[u8],
    counts: &mut Counts,
) {
    let mki = rng.bytes(mode.mki_len);
    let ssrc = rng.next_u64() as u32;
    let mk = MasterKey::from_slice(key).unwrap();
    let ms = MasterSalt::from_slice(salt).unwrap();
    let keys = SrtcpKeys::from_master(&mk, &ms, provider);
    let m = Mki::from_slice(&mki).unwrap();
    let mut txc = TxConfig::new(m);
    let mut rxc = RxConfig::new(m);
    if mode.auth_only {
        txc = txc.auth_only();
        rxc = rxc.auth_only();
    }

    let mut lib_tx = Session::new(Direction::Outbound, key, salt, &mki, mode.auth_only).unwrap();
    let mut lib_rx = Session::new(Direction::Inbound, key, salt, &mki, mode.auth_only).unwrap();
    let mut mcx_rx = RxContext::new(keys.clone(), rxc).unwrap();
    let mut mcx_tx = TxContext::new(keys.clone(), txc);

    for _ in 0..mode.packets {
        let len = 8 + 4 * rng.below(374) as usize;
        let plain = random_rtcp(rng, ssrc, len);

        // libsrtp protects, mcx unprotects.
        let mut wire = vec![0u8; len + 64];
        wire[..len].copy_from_slice(&plain);
        let n = lib_tx.protect(&mut wire, len).expect("libsrtp protect");
        wire.truncate(n);
        let index = esrtcp_index(&wire, mode.mki_len);

        // mcx at the same index produces the same bytes.
        let mut same = TxContext::try_new(keys.clone(), txc.initial_index(index)).unwrap();
        let mut ours = vec![0u8; n];
        let p = same.protect(&plain, &mut ours).unwrap();
        assert_eq!(p.len, n, "{}: protected length", mode.name);
        assert_eq!(
            ours, wire,
            "{}: mcx and libsrtp differ at index {index}",
            mode.name
        );
        counts.identical_bytes += 1;

        // A flipped bit is rejected by mcx and leaves it able to take the real packet.
        let mut bad = wire.clone();
        let bit = rng.below(8 * (n - mode.mki_len) as u64) as usize;
        bad[bit / 8] ^= 1 << (bit % 8);
        let mut out = vec![0u8; n];
        assert!(
            mcx_rx.unprotect(&bad, &mut out).is_err(),
            "{}: flipped bit {bit} accepted",
            mode.name
        );

        let u = mcx_rx
            .unprotect(&wire, &mut out)
            .expect("mcx unprotects libsrtp's packet");
        assert_eq!(&out[..u.len], &plain[..], "{}", mode.name);
        assert_eq!(u.index, index);
        assert_eq!(u.encrypted, !mode.auth_only);
        counts.libsrtp_to_mcx += 1;

        // mcx protects, libsrtp unprotects.
        let mut sent = vec![0u8; n];
        let p = mcx_tx.protect(&plain, &mut sent).unwrap();
        let mut bad = sent.clone();
        let bit = rng.below(8 * (p.len - mode.mki_len) as u64) as usize;
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(
            lib_rx.unprotect(&mut bad).is_err(),
            "{}: libsrtp took a flipped bit",
            mode.name
        );
        counts.tamper_rejected += 2;

        let got = lib_rx
            .unprotect(&mut sent)
            .expect("libsrtp unprotects mcx's packet");
        assert_eq!(&sent[..got], &plain[..], "{}", mode.name);
        counts.mcx_to_libsrtp += 1;
    }
}

/// Runs `mode` on every provider; each must reach `at_least` packets both ways.
fn run(mode: Mode, at_least: usize) {
    let mut rng = Rng::from_env_or_time(mode.name);
    for provider in mcx_tests::providers() {
        let mut counts = Counts::default();
        for _ in 0..mode.sessions {
            let key = rng.bytes(mode.key_len);
            let salt = rng.bytes(12);
            run_session(&mut rng, &mode, provider, &key, &salt, &mut counts);
        }
        eprintln!(
            "{} on {provider} ({}): {counts:?}",
            mode.name,
            libsrtp::version()
        );
        assert_both_ways(&counts, at_least);
    }
}

fn assert_both_ways(c: &Counts, at_least: usize) {
    assert!(c.libsrtp_to_mcx >= at_least, "{c:?}");
    assert!(c.mcx_to_libsrtp >= at_least, "{c:?}");
    assert_eq!(c.identical_bytes, c.libsrtp_to_mcx);
}

#[test]
fn aes128_gcm_encrypted_mki4() {
    run(
        Mode {
            name: "AEAD_AES_128_GCM E=1 MKI 4",
            key_len: 16,
            mki_len: 4,
            auth_only: false,
            sessions: 8,
            packets: 150,
        },
        1000,
    );
}

#[test]
fn aes128_gcm_auth_only_mki4() {
    run(
        Mode {
            name: "AEAD_AES_128_GCM E=0 MKI 4",
            key_len: 16,
            mki_len: 4,
            auth_only: true,
            sessions: 8,
            packets: 150,
        },
        1000,
    );
}

#[test]
fn aes256_gcm_and_other_mki_sizes() {
    for (key_len, mki_len, auth_only) in [
        (32, 4, false),
        (32, 4, true),
        (16, 8, false),
        (16, 0, false),
    ] {
        run(
            Mode {
                name: "AEAD_AES_*_GCM other profiles",
                key_len,
                mki_len,
                auth_only,
                sessions: 2,
                packets: 100,
            },
            200,
        );
    }
}

/// The whole MC chain: a CSK and its MIKEY RAND give the master key and salt (TS 33.180
/// §7.4); libsrtp, given that master key and salt, must agree with mcx packet for packet.
#[test]
fn mc_chain_csk_to_libsrtp() {
    let mut rng = Rng::from_env_or_time("mc_chain");
    for provider in mcx_tests::providers() {
        let mut counts = Counts::default();
        for _ in 0..4 {
            let csk = rng.bytes(16);
            let csk_id = KeyId::from_parts(Purpose::Csk, rng.next_u64() as u32);
            let rand = rng.bytes(16);
            let (mk, ms) =
                derive_srtp_master(&csk, CsId::CskSrtcpMcptt, csk_id.get(), &rand).unwrap();
            let mode = Mode {
                name: "MC chain CSK -> master -> SRTCP",
                key_len: 16,
                mki_len: 4,
                auth_only: false,
                sessions: 1,
                packets: 50,
            };
            run_session(
                &mut rng,
                &mode,
                provider,
                mk.expose(),
                ms.expose(),
                &mut counts,
            );
        }
        eprintln!(
            "MC chain CSK -> master -> SRTCP on {provider} ({}): {counts:?}",
            libsrtp::version()
        );
        assert_both_ways(&counts, 200);
    }
}

/// A raw SRTP master key and salt installed in the key store (`KeyStore::install_srtp`, the
/// path behind the C ABI's `mcx_key_install_srtp`): the engine, addressed by key ID, and
/// libsrtp, given the same master key, salt and the key ID as MKI, open each other's packets,
/// with AES-128 and AES-256, E=1 and E=0.
#[test]
fn raw_srtp_key_in_the_store_interoperates_with_libsrtp() {
    use mcx_engine::keys::Service;
    use mcx_engine::srtcp::{MAX_SRTCP_TRAILER, Protection};
    use mcx_engine::store::{KeyStore, SrtpInstall, StoreConfig};
    use mcx_engine::time::Timestamp;
    use mcx_engine::{Engine, EngineConfig};
    let mut rng = Rng::from_env_or_time("raw_srtp_store");
    let now = Timestamp(1);
    for provider in mcx_tests::providers() {
        let store = std::sync::Arc::new(KeyStore::new(StoreConfig {
            provider,
            ..StoreConfig::default()
        }));
        assert_eq!(store.provider(), provider);
        let mut engine =
            Engine::new(std::sync::Arc::clone(&store), EngineConfig::default()).unwrap();
        let mut checked = 0;
        for (key_len, auth_only) in [(16, false), (32, false), (16, true), (32, true)] {
            let key = rng.bytes(key_len);
            let salt = rng.bytes(12);
            let id = KeyId::from_parts(Purpose::Spk, rng.next_u64() as u32);
            let mut k = SrtpInstall::new(&key, &salt, id, Service::Mcptt);
            if auth_only {
                k.protection = Protection::AuthOnly;
            }
            store.install_srtp(&k, now).unwrap();
            let mki = id.get().to_be_bytes();
            let mut lib_tx =
                Session::new(Direction::Outbound, &key, &salt, &mki, auth_only).unwrap();
            let mut lib_rx =
                Session::new(Direction::Inbound, &key, &salt, &mki, auth_only).unwrap();
            for i in 0..25u32 {
                let plain = mcx_tests::packets::random_rtcp(
                    &mut rng,
                    0x1000 + i % 3,
                    8 + 4 * (i as usize % 20),
                );
                // engine -> libsrtp
                let mut buf = plain.clone();
                buf.resize(plain.len() + MAX_SRTCP_TRAILER, 0);
                let sent = engine
                    .srtcp_protect(id, &mut buf, plain.len(), now)
                    .unwrap();
                let n = lib_rx.unprotect(&mut buf[..sent.len]).unwrap();
                assert_eq!(&buf[..n], &plain[..]);
                // libsrtp -> engine
                let mut buf = plain.clone();
                buf.resize(plain.len() + 64, 0);
                let n = lib_tx.protect(&mut buf, plain.len()).unwrap();
                let got = engine.srtcp_unprotect(&mut buf[..n], now).unwrap();
                assert_eq!((got.key_id, &buf[..got.len]), (id, &plain[..]));
                checked += 2;
            }
        }
        assert_eq!(checked, 200);
        // Wrong lengths are refused and change nothing.
        let id = KeyId::from_parts(Purpose::Spk, 7);
        for (k, s) in [
            (&[0u8; 15][..], &[0u8; 12][..]),
            (&[0u8; 16][..], &[0u8; 14][..]),
        ] {
            assert!(matches!(
                store.install_srtp(&SrtpInstall::new(k, s, id, Service::Mcptt), now),
                Err(mcx_engine::store::StoreError::MasterLength(_))
            ));
        }
        assert_eq!(store.len(), 4);
    }
}
