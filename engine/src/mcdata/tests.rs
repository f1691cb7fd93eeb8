use hex_literal::hex;

use super::*;

const PLAIN: &[u8] = b"MCData SDS: floor 2, status ok";

fn header(seq: u8, iv: [u8; IV_LEN]) -> Header {
    Header {
        message_type: 0x43,
        date_time: 0x01_0203_0405,
        payload_id: 0x0a0b_0c0d,
        sequence: seq,
        iv,
        iei: 0,
    }
}

fn iv_from(first: u8) -> [u8; IV_LEN] {
    core::array::from_fn(|i| first + i as u8)
}

/// AES-128: the DPCK of digest §11.3 (DPPK 00…0f, DPPK-ID deadbaad, Streamwide's
/// `test_vectors.cc`); the message computed with an independent implementation, Python
/// `cryptography` 48 (OpenSSL) `AESGCM` with the 16-octet nonce and the 32 header octets
/// as AAD.
const DPCK_128: [u8; 16] = hex!("d853d0bd6916ffc9837e2a2012a39491");
const MSG_128: [u8; 81] = hex!(
    "4301020304050a0b0c0d0701101112131415161718191a1b1c1d1e1fdeadbaad00002e"
    "c64a512cb511b11582edcecf99bd222d82f45dc0abd222ab5146c7e840ec7a4c49812e7b572c1e90e5f095e9f86d"
);

/// AES-256: DPPK 00…1f and DPPK-ID 1eadbaad (a PCK-ID) through FC 0x53, all 256 bits kept;
/// DPCK and message computed with Python `hmac`/`hashlib` and `cryptography` as above.
const DPCK_256: [u8; 32] = hex!("bf82d9fb19c2076cbbba6f358234132cee985980971f379db771676a4ce7d48b");
const MSG_256: [u8; 81] = hex!(
    "4301020304050a0b0c0d0802202122232425262728292a2b2c2d2e2f1eadbaad00002e"
    "cd7e505693bfccf74ecf44cd2895bf7e91fdbd2e7b26551bb4ae055b32e027dd1923451d47bbee4858834984a677"
);

#[test]
fn independent_vectors_both_ways() {
    let k128 = PayloadKey::from_dpck(&DPCK_128, 0xdead_baad).unwrap();
    let mut out = [0u8; 81];
    assert_eq!(
        protect(&k128, &header(7, iv_from(0x10)), PLAIN, &mut out),
        Ok(81)
    );
    assert_eq!(out, MSG_128);
    let mut plain = [0u8; 30];
    let o = unprotect(&k128, &MSG_128, &mut plain).unwrap();
    assert_eq!(
        (&plain[..o.len], o.algorithm, o.dppk_id),
        (PLAIN, PayloadAlgorithm::Aes128Gcm, 0xdead_baad)
    );
    assert_eq!(o.header, header(7, iv_from(0x10)));

    // The DPCK derived by the engine from the DPPK matches the vector's.
    let k256 = PayloadKey::from_dppk(
        &core::array::from_fn::<u8, 32, _>(|i| i as u8),
        KeyId::new(0x1ead_baad).unwrap(),
    )
    .unwrap();
    assert_eq!(k256.algorithm(), PayloadAlgorithm::Aes256Gcm);
    assert_eq!(
        protect(&k256, &header(8, iv_from(0x20)), PLAIN, &mut out),
        Ok(81)
    );
    assert_eq!(out, MSG_256);
    let k256_direct = PayloadKey::from_dpck(&DPCK_256, 0x1ead_baad).unwrap();
    let o = unprotect(&k256_direct, &MSG_256, &mut plain).unwrap();
    assert_eq!(&plain[..o.len], PLAIN);
}

#[test]
fn every_flipped_bit_outside_the_iei_is_refused_and_nothing_is_written() {
    let k = PayloadKey::from_dpck(&DPCK_128, 0xdead_baad).unwrap();
    for bit in 0..MSG_128.len() * 8 {
        let mut m = MSG_128;
        m[bit / 8] ^= 1 << (bit % 8);
        let mut out = [0x5au8; 30];
        let r = unprotect(&k, &m, &mut out);
        if bit / 8 == HEADER_LEN {
            // The TLV-E's IEI is outside the AAD (digest §5.2: the AAD is the 32 header
            // octets): the format does not protect it, and the opened header shows it as
            // received.
            assert_eq!(r.map(|o| o.header.iei), Ok(1 << (bit % 8)), "bit {bit}");
            continue;
        }
        assert!(r.is_err(), "bit {bit} accepted");
        assert_eq!(out, [0x5a; 30], "bit {bit}: output written on failure");
    }
}

#[test]
fn framing_and_key_checks() {
    let k = PayloadKey::from_dpck(&DPCK_128, 0xdead_baad).unwrap();
    let mut out = [0u8; 64];
    assert_eq!(
        unprotect(&k, &MSG_128[..50], &mut out),
        Err(Error::TooShort)
    );
    let mut longer = MSG_128.to_vec();
    longer.push(0);
    assert_eq!(unprotect(&k, &longer, &mut out), Err(Error::LengthMismatch));
    let mut alg = MSG_128;
    alg[11] = 9;
    assert_eq!(
        unprotect(&k, &alg, &mut out),
        Err(Error::UnknownAlgorithm(9))
    );
    let other = PayloadKey::from_dpck(&DPCK_128, 0x1000_0001).unwrap();
    assert_eq!(
        unprotect(&other, &MSG_128, &mut out),
        Err(Error::WrongKey {
            dppk_id: 0xdead_baad
        })
    );
    let k256 = PayloadKey::from_dpck(&DPCK_256, 0xdead_baad).unwrap();
    assert_eq!(
        unprotect(&k256, &MSG_128, &mut out),
        Err(Error::AlgorithmMismatch)
    );
    assert_eq!(
        unprotect(&k, &MSG_128, &mut out[..29]),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(dppk_id_of(&MSG_128), Ok(0xdead_baad));
    let mut small = [0u8; 80];
    assert_eq!(
        protect(&k, &header(1, iv_from(0)), PLAIN, &mut small),
        Err(Error::BufferTooSmall)
    );
    let big = vec![0u8; MAX_PLAINTEXT + 1];
    let mut sink = vec![0u8; protected_len(big.len())];
    assert_eq!(
        protect(&k, &header(1, iv_from(0)), &big, &mut sink),
        Err(Error::TooLong)
    );
    // The largest plaintext fits the 16-bit TLV-E length exactly.
    let max = vec![7u8; MAX_PLAINTEXT];
    let mut m = vec![0u8; protected_len(max.len())];
    assert!(protect(&k, &header(1, iv_from(0)), &max, &mut m).is_ok());
    let mut back = vec![0u8; max.len()];
    assert_eq!(unprotect(&k, &m, &mut back).map(|o| o.len), Ok(max.len()));
    assert_eq!(back, max);
    assert!(PayloadKey::from_dpck(&[0u8; 24], 1).is_err());
}

#[test]
fn fresh_headers_get_fresh_ivs_and_round_trip_every_size() {
    let k = PayloadKey::from_dppk(&[9u8; 16], KeyId::new(0x1000_0042).unwrap()).unwrap();
    let a = Header::new(0x43, 1 << 39 | 5, 1, 0, 0).unwrap();
    let b = Header::new(0x43, 1 << 39 | 5, 1, 0, 0).unwrap();
    assert_ne!(a.iv, b.iv);
    for n in [0usize, 1, 15, 16, 17, 255, 256, 1000] {
        let plain: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let mut m = vec![0u8; protected_len(n)];
        assert_eq!(protect(&k, &a, &plain, &mut m), Ok(protected_len(n)));
        let mut back = vec![0u8; n];
        let o = unprotect(&k, &m, &mut back).unwrap();
        assert_eq!((o.len, o.header, &back[..]), (n, a, &plain[..]));
    }
}

// The DPPK is the PCK (one-to-one) or the GMK (group) (TS 33.180 §8.5.4; digest §5.2):
// DPPK-IDs of other purposes are refused.
#[test]
fn the_dppk_is_a_pck_or_a_gmk() {
    for p in Purpose::ALL {
        let r = PayloadKey::from_dppk(&[9u8; 16], KeyId::from_parts(p, 0x42));
        match p {
            Purpose::Pck | Purpose::Gmk => assert!(r.is_ok(), "{p}"),
            _ => assert_eq!(r.unwrap_err(), KeyError::WrongPurpose(p)),
        }
    }
    let pck = KeyId::from_parts(Purpose::Pck, 0x42);
    assert!(matches!(
        PayloadKey::from_dppk(&[9u8; 20], pck),
        Err(KeyError::Derive(DeriveError::KeyLength(_)))
    ));
}
