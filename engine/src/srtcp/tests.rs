//! RFC 7714 §17 vectors and the context rules, beside the code.

use hex_literal::hex;

use super::*;
use crate::aead::Provider;
use crate::secret::{SessionKey, SessionSalt};

// RFC 7714 §17: the sample RTCP packet's length field says 13 words (56 octets) but the
// packet has 52, so the vector tests use `LengthCheck::Lenient`; the strict default rejects
// the sample (checked below). Session key 00..0f (AES-128) or 00..1f (AES-256), session salt
// "Quid pro quo", SSRC 4d617273, SRTCP index 0x5d4, no MKI. These vectors use the session
// key and salt directly; they do not exercise the KDF.
const K128: [u8; 16] = hex!("000102030405060708090a0b0c0d0e0f");
const K256: [u8; 32] = hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
const SALT: [u8; 12] = *b"Quid pro quo";
const INDEX: u32 = 0x5d4;
const PLAIN: [u8; 52] = hex!(
    "81c8000d4d6172734e5450314e545032"
    "525450200000042a0000e9304c756e61"
    "deadbeefdeadbeefdeadbeefdeadbeef"
    "deadbeef"
);
// RFC 7714 §17.1, "Encrypted and tagged packet".
const SEALED_128: [u8; 72] = hex!(
    "81c8000d4d61727363e94885dcdab67c"
    "a727d7662f6b7e997ff5c0f76c06f32d"
    "c676a5f1730d6fda4ce09b4686303ded"
    "0bb9275bc84aa45896cf4d2fc5abf872"
    "45d9eade800005d4"
);
// RFC 7714 §17.2, the protected packet verified and decrypted.
const SEALED_256: [u8; 72] = hex!(
    "81c8000d4d617273d50ae4d1f5ce5d30"
    "4ba297e47d470c282c3ece5dbffe0a50"
    "a2eaa5c1110555be8415f658c61de047"
    "6f1b6fad1d1eb30c4446839f57ff6f6c"
    "b26ac3be800005d4"
);
// RFC 7714 §17.3, "Tagged packet" (E=0).
const TAGGED_128: [u8; 72] = hex!(
    "81c8000d4d6172734e5450314e545032"
    "525450200000042a0000e9304c756e61"
    "deadbeefdeadbeefdeadbeefdeadbeef"
    "deadbeef841dd9683dd78ec92ae58790"
    "125f62b3000005d4"
);
// RFC 7714 §17.4, the packet whose tag is verified (E=0).
const TAGGED_256: [u8; 72] = hex!(
    "81c8000d4d6172734e5450314e545032"
    "525450200000042a0000e9304c756e61"
    "deadbeefdeadbeefdeadbeefdeadbeef"
    "deadbeef91db4afbfeee5a978fab4393"
    "ed2615fe000005d4"
);

fn keys(k: &[u8]) -> SrtcpKeys {
    keys_on(k, Provider::detect())
}

fn keys_on(k: &[u8], p: Provider) -> SrtcpKeys {
    SrtcpKeys::from_session(
        &SessionKey::from_slice(k).unwrap(),
        &SessionSalt::new(SALT),
        p,
    )
}

#[test]
fn strict_framing_rejects_the_rfc_sample() {
    let mut tx = TxContext::new(keys(&K128), TxConfig::new(Mki::NONE));
    let mut out = [0u8; 100];
    assert_eq!(tx.protect(&PLAIN, &mut out), Err(Error::LengthMismatch));
    let mut rx = RxContext::new(keys(&K128), RxConfig::new(Mki::NONE)).unwrap();
    assert_eq!(
        rx.unprotect(&SEALED_128, &mut out),
        Err(Error::LengthMismatch)
    );
}

/// Every provider this CPU runs reproduces the vector.
fn check_vector(k: &[u8], auth_only: bool, sealed: &[u8]) {
    for p in Provider::available() {
        check_vector_on(k, auth_only, sealed, p);
    }
}

fn check_vector_on(k: &[u8], auth_only: bool, sealed: &[u8], provider: Provider) {
    let keys = |k| keys_on(k, provider);
    let mut cfg = TxConfig::new(Mki::NONE)
        .initial_index(INDEX)
        .length_check(LengthCheck::Lenient);
    let mut rcfg = RxConfig::new(Mki::NONE).length_check(LengthCheck::Lenient);
    if auth_only {
        cfg = cfg.auth_only();
        rcfg = rcfg.auth_only();
    }
    let mut tx = TxContext::try_new(keys(k), cfg).unwrap();
    let mut buf = [0u8; 100];
    buf[..PLAIN.len()].copy_from_slice(&PLAIN);
    let p = tx.protect_in_place(&mut buf, PLAIN.len()).unwrap();
    assert_eq!(p.index, INDEX);
    assert_eq!(&buf[..p.len], sealed);

    let mut rx = RxContext::new(keys(k), rcfg).unwrap();
    let mut out = [0u8; 100];
    let u = rx.unprotect(sealed, &mut out).unwrap();
    assert_eq!(
        u,
        Unprotected {
            len: PLAIN.len(),
            index: INDEX,
            encrypted: !auth_only
        }
    );
    assert_eq!(&out[..u.len], &PLAIN);
}

#[test]
fn rfc7714_17_1_aes128_encrypt() {
    check_vector(&K128, false, &SEALED_128);
}

#[test]
fn rfc7714_17_2_aes256_decrypt() {
    check_vector(&K256, false, &SEALED_256);
}

#[test]
fn rfc7714_17_3_aes128_tag_only() {
    check_vector(&K128, true, &TAGGED_128);
}

#[test]
fn rfc7714_17_4_aes256_tag_only() {
    check_vector(&K256, true, &TAGGED_256);
}

/// The RFC sample with its length field corrected to 12 (52 octets).
const FRAMED: [u8; 52] = {
    let mut p = PLAIN;
    p[3] = 12;
    p
};

fn pair(mki: Mki) -> (TxContext, RxContext) {
    let k = keys(&K128);
    (
        TxContext::new(k.clone(), TxConfig::new(mki)),
        RxContext::new(k, RxConfig::new(mki)).unwrap(),
    )
}

#[test]
fn mki_sits_after_the_esrtcp_word() {
    let mki = Mki::from_slice(&hex!("2ddd5bf0")).unwrap();
    let (mut tx, mut rx) = pair(mki);
    let mut buf = [0u8; 100];
    buf[..FRAMED.len()].copy_from_slice(&FRAMED);
    let p = tx.protect_in_place(&mut buf, FRAMED.len()).unwrap();
    assert_eq!(p.len, FRAMED.len() + 16 + 4 + 4);
    assert_eq!(&buf[p.len - 8..p.len], &hex!("80000000 2ddd5bf0"));
    let u = rx.unprotect_in_place(&mut buf[..p.len]).unwrap();
    assert_eq!(&buf[..u.len], &FRAMED);

    // An 8-octet MKI (GMK-ID ‖ GUK-ID) and the same packet: only the tail differs.
    let (mut tx8, mut rx8) = pair(Mki::from_slice(&hex!("0df9bc3906a12aea")).unwrap());
    let mut b8 = [0u8; 100];
    b8[..FRAMED.len()].copy_from_slice(&FRAMED);
    let p8 = tx8.protect_in_place(&mut b8, FRAMED.len()).unwrap();
    assert_eq!(p8.len, p.len + 4);
    assert_eq!(
        b8[..p.len - 4],
        buf_after_protect(&FRAMED, mki)[..p.len - 4]
    );
    rx8.unprotect_in_place(&mut b8[..p8.len]).unwrap();
    // A receiver expecting another MKI says so.
    let mut again = buf_after_protect(&FRAMED, mki);
    assert_eq!(rx8.unprotect_in_place(&mut again), Err(Error::UnknownMki));
}

fn buf_after_protect(plain: &[u8], mki: Mki) -> Vec<u8> {
    let mut tx = TxContext::new(keys(&K128), TxConfig::new(mki));
    let mut v = vec![0u8; protected_len(plain.len(), mki.len())];
    tx.protect(plain, &mut v).unwrap();
    v
}

#[test]
fn index_counts_from_zero_and_refuses_at_2_pow_31() {
    let (mut tx, _) = pair(Mki::NONE);
    let mut buf = [0u8; 100];
    for want in 0..3 {
        buf[..FRAMED.len()].copy_from_slice(&FRAMED);
        assert_eq!(
            tx.protect_in_place(&mut buf, FRAMED.len()).unwrap().index,
            want
        );
    }
    let cfg = TxConfig::new(Mki::NONE)
        .initial_index(MAX_INDEX - 1)
        .soft_limit(MAX_INDEX);
    let mut tx = TxContext::try_new(keys(&K128), cfg).unwrap();
    let mut out = [0u8; 100];
    let a = tx.protect(&FRAMED, &mut out).unwrap();
    assert_eq!((a.index, a.soft_limit_reached), (MAX_INDEX - 1, false));
    let b = tx.protect(&FRAMED, &mut out).unwrap();
    assert_eq!((b.index, b.soft_limit_reached), (MAX_INDEX, true));
    assert_eq!(tx.next_index(), None);
    let before = out;
    assert_eq!(tx.protect(&FRAMED, &mut out), Err(Error::KeyExhausted));
    assert_eq!(out, before);
    buf[..FRAMED.len()].copy_from_slice(&FRAMED);
    assert_eq!(
        tx.protect_in_place(&mut buf, FRAMED.len()),
        Err(Error::KeyExhausted)
    );
    assert_eq!(buf[..FRAMED.len()], FRAMED);
    assert_eq!(
        TxContext::try_new(keys(&K128), TxConfig::new(Mki::NONE).initial_index(1 << 31))
            .unwrap_err(),
        ConfigError::InitialIndex(1 << 31)
    );
}

#[test]
fn protect_rejects_bad_rtcp_and_small_buffers_without_using_an_index() {
    let (mut tx, _) = pair(Mki::NONE);
    let mut out = [0u8; 100];
    assert_eq!(tx.protect(&FRAMED[..7], &mut out), Err(Error::TooShort));
    let mut bad = FRAMED;
    bad[0] = 0x41;
    assert_eq!(tx.protect(&bad, &mut out), Err(Error::BadVersion));
    assert_eq!(
        tx.protect(&FRAMED[..48], &mut out),
        Err(Error::LengthMismatch)
    );
    assert_eq!(
        tx.protect(&FRAMED, &mut out[..71]),
        Err(Error::BufferTooSmall)
    );
    let mut small = [0u8; 60];
    small[..52].copy_from_slice(&FRAMED);
    assert_eq!(
        tx.protect_in_place(&mut small, 52),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(small[..52], FRAMED);
    assert_eq!(
        tx.protect_in_place(&mut small, 61),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(tx.next_index(), Some(0));
}

#[test]
fn unprotect_errors_change_nothing() {
    let (mut tx, mut rx) = pair(Mki::NONE);
    let mut good = [0u8; 72];
    tx.protect(&FRAMED, &mut good).unwrap();

    let cases: [(usize, u8, Error); 4] = [
        (0, 0x40, Error::BadVersion),            // version 2 -> 3
        (3, 0x20, Error::LengthMismatch),        // first length beyond the packet
        (20, 0x01, Error::AuthenticationFailed), // ciphertext
        (68, 0x80, Error::NotEncrypted),         // E flag cleared
    ];
    for (at, flip, want) in cases {
        let mut pkt = good;
        pkt[at] ^= flip;
        let copy = pkt;
        let mut out = [0xa5u8; 72];
        assert_eq!(rx.unprotect(&pkt, &mut out), Err(want), "octet {at}");
        assert_eq!(out, [0xa5; 72]);
        assert_eq!(rx.unprotect_in_place(&mut pkt), Err(want), "octet {at}");
        assert_eq!(pkt, copy);
        assert_eq!(rx.window().highest(), None);
    }
    assert_eq!(
        rx.unprotect(&good[..27], &mut [0; 72]),
        Err(Error::TooShort)
    );
    assert_eq!(
        rx.unprotect(&good, &mut [0; 51]),
        Err(Error::BufferTooSmall)
    );

    let mut out = [0u8; 72];
    rx.unprotect(&good, &mut out).unwrap();
    assert_eq!(rx.unprotect(&good, &mut out), Err(Error::Replayed));
    assert_eq!(rx.window().highest(), Some(0));
}

#[test]
fn auth_only_receiver_takes_both_kinds() {
    let k = keys(&K128);
    let mut enc = TxContext::new(k.clone(), TxConfig::new(Mki::NONE));
    let mut clear = TxContext::new(
        k.clone(),
        TxConfig::new(Mki::NONE).auth_only().initial_index(1),
    );
    let mut rx = RxContext::new(k, RxConfig::new(Mki::NONE).auth_only()).unwrap();
    let mut a = [0u8; 72];
    let mut b = [0u8; 72];
    enc.protect(&FRAMED, &mut a).unwrap();
    clear.protect(&FRAMED, &mut b).unwrap();
    assert_eq!(b[..52], FRAMED);
    let mut out = [0u8; 72];
    assert!(rx.unprotect(&a, &mut out).unwrap().encrypted);
    assert!(!rx.unprotect(&b, &mut out).unwrap().encrypted);
    assert_eq!(out[..52], FRAMED);
}

#[test]
fn replay_window_config_is_checked() {
    let k = keys(&K128);
    assert_eq!(
        RxContext::new(k.clone(), RxConfig::new(Mki::NONE).replay_window(32)).unwrap_err(),
        ConfigError::ReplayWindow(32)
    );
    let rx = RxContext::new(k, RxConfig::new(Mki::NONE).replay_window(32768)).unwrap();
    assert_eq!(rx.window().size(), 32768);
}
