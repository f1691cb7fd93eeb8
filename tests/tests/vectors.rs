//! Published vectors through the public API, each with its source.

use hex_literal::hex;
use mcx_engine::keys::kdf::{self, FC_DPCK};
use mcx_engine::keys::{CsId, KeyId, derive_srtp_master};
use mcx_engine::secret::{SessionKey, SessionSalt};
use mcx_engine::srtcp::{
    LengthCheck, Mki, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext, aes_cm_prf,
};

/// Digest §11.1: MIKEY TGK → TEK / salt with PRF-HMAC-SHA-256; matches Streamwide
/// sw_mikey_sakke `unit_tests/test_key_deriv.cc`.
#[test]
fn digest_11_1_mikey_tgk_to_master() {
    let (k, s) = derive_srtp_master(
        &hex!("A27B7D578EEB9B1EE7705E385996D300"),
        CsId::McpttGroupCall,
        0x0633_F457,
        &hex!("4339F62F55AAC86348846A482C893802"),
    )
    .unwrap();
    assert_eq!(k.expose(), hex!("59AAA49EBB54813602B7CC165961B4E8"));
    assert_eq!(s.expose(), &hex!("745EB4DF7D155C473114A799"));
}

/// Digest §11.2: GUK-ID (TS 33.180 F.1.3); matches the CSB ID in Streamwide's
/// "Test 1: GMK" I_MESSAGE.
#[test]
fn digest_11_2_guk_id() {
    let gmk = hex!("07d1a1677ac36d8e81620484689b3c2d");
    let gmk_id = KeyId::new(0x0df9_bc39).unwrap();
    assert_eq!(
        kdf::guk_id(gmk_id, &gmk, b"sip:alice@streamwide.com").unwrap(),
        0x06a1_2aea
    );
    assert_eq!(
        kdf::guk_id(gmk_id, &gmk, b"gms@streamwide.com").unwrap(),
        0x029f_3103
    );
}

/// Digest §11.3: DPCK (FC 0x53, TS 33.180 F.1.5); matches Streamwide
/// `unit_tests/test_vectors.cc`. The vector's DPPK-ID deadbaad has the undefined purpose tag
/// 0xd, so the raw KDF is used.
#[test]
fn digest_11_3_dpck() {
    let out = kdf::kdf(
        &hex!("000102030405060708090a0b0c0d0e0f"),
        FC_DPCK,
        &[&hex!("deadbaad")],
    )
    .unwrap();
    assert_eq!(out[16..], hex!("d853d0bd6916ffc9837e2a2012a39491"));
}

/// RFC 3711 Appendix B.3 key derivation (AES-CM PRF, labels 0x00 and 0x02).
#[test]
fn rfc3711_b3_key_derivation() {
    let mk = hex!("E1F97A0D3E018BE0D64FA32C06DE4139");
    let ms = hex!("0EC675AD498AFEEBB6960B3AABE6");
    let mut k = [0u8; 16];
    aes_cm_prf(&mk, &ms, 0x00, &mut k).unwrap();
    assert_eq!(k, hex!("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut s = [0u8; 14];
    aes_cm_prf(&mk, &ms, 0x02, &mut s).unwrap();
    assert_eq!(s, hex!("30CBBC08863D8C85D49DB34A9AE1"));
}

/// RFC 7714 §17.1 (AES-128, E=1) and §17.3 (AES-128, E=0) through the public API, on every
/// AES-GCM provider this CPU runs. The RFC's sample RTCP length field (13) does not match its
/// 52 octets, hence `LengthCheck::Lenient`.
#[test]
fn rfc7714_17_1_and_17_3() {
    for provider in mcx_tests::providers() {
        rfc7714_17_1_and_17_3_on(provider);
    }
}

fn rfc7714_17_1_and_17_3_on(provider: mcx_engine::aead::Provider) {
    let plain = hex!(
        "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61"
        "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"
    );
    let keys = SrtcpKeys::from_session(
        &SessionKey::from_slice(&hex!("000102030405060708090a0b0c0d0e0f")).unwrap(),
        &SessionSalt::new(*b"Quid pro quo"),
        provider,
    );
    let cfg = TxConfig::new(Mki::NONE)
        .initial_index(0x5d4)
        .length_check(LengthCheck::Lenient);
    let mut out = [0u8; 72];
    TxContext::try_new(keys.clone(), cfg)
        .unwrap()
        .protect(&plain, &mut out)
        .unwrap();
    assert_eq!(
        out,
        hex!(
            "81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32d"
            "c676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf872"
            "45d9eade800005d4"
        )
    );
    TxContext::try_new(keys.clone(), cfg.auth_only())
        .unwrap()
        .protect(&plain, &mut out)
        .unwrap();
    assert_eq!(out[52..], hex!("841dd9683dd78ec92ae58790125f62b3000005d4"));
    let mut rx = RxContext::new(
        keys,
        RxConfig::new(Mki::NONE)
            .auth_only()
            .length_check(LengthCheck::Lenient),
    )
    .unwrap();
    let mut back = [0u8; 52];
    rx.unprotect(&out, &mut back).unwrap();
    assert_eq!(back, plain);
}
