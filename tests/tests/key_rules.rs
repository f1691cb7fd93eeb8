//! The MC key rules the proxy roles need: CSK aliases across a proxy's URIs (TR 33.880
//! §7.2.5.3.3.5), key download discarding the previous CSK for a server URI (TS 33.180 key
//! download, seed `003` §5.2.X.1), the MSK / MuSiK selected by key ID, the two purpose-tag
//! numberings, SPKs with a CS-ID and raw SPKs bound to their interconnection end-point, and
//! algorithm negotiation (TS 33.180 §4.3.4.1, §5.4, §5.8).

use std::sync::Arc;

use mcx_engine::floor::{Builder, FieldId, MessageType};
use mcx_engine::keys::{CsId, KeyId, Purpose, Service, SrtcpUse};
use mcx_engine::secret::KeyLen;
use mcx_engine::srtcp::MAX_SRTCP_TRAILER;
use mcx_engine::store::{
    Algorithms, KeyInstall, KeyStore, Owner, PurposeTags, SrtcpAlgorithm, SrtpInstall, StoreConfig,
    StoreError, Upload,
};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig, Error};

const T0: Timestamp = Timestamp(1_800_000_000_000);
const URI_A: &str = "sip:cs-proxy-a@a.example";
const URI_B: &str = "sip:cs-proxy-b@a.example";
const ALICE: &str = "sip:alice@a.example";
const IMPU: &str = "sip:+4930123@ims.a.example";

fn store(tags: PurposeTags) -> Arc<KeyStore> {
    Arc::new(KeyStore::new(StoreConfig {
        grace_period_ms: 2_000,
        purpose_tags: tags,
        ..StoreConfig::default()
    }))
}

fn id(v: u32) -> KeyId {
    KeyId::new(v).unwrap()
}

fn alice(impu: Option<&str>) -> Owner {
    Owner {
        user_id: ALICE.into(),
        impu: impu.map(Into::into),
    }
}

fn csk<'a>(key: &'a [u8], key_id: u32, owner: Owner, uri: &str) -> KeyInstall<'a> {
    KeyInstall::new(key, id(key_id), &[0x77; 16], Service::Mcptt, owner, uri)
}

/// A floor packet protected under `key` by a peer holding the same keys, then opened by
/// `rx` (the proxy's handle).
fn through(peer: &Engine, rx: &mut Engine, key: KeyId, ssrc: u32) -> Result<KeyId, Error> {
    let p = Builder::floor(MessageType::FloorRelease, false, ssrc)
        .u16(FieldId::SequenceNumber, 1)
        .finish()
        .unwrap();
    let mut b = p.clone();
    b.resize(p.len() + MAX_SRTCP_TRAILER, 0);
    let sent = peer.srtcp_protect(key, &mut b, p.len(), T0)?;
    let got = rx.srtcp_unprotect(&mut b[..sent.len], T0)?;
    assert_eq!(b[..got.len], p[..]);
    Ok(got.key_id)
}

#[test]
fn a_client_through_two_proxy_uris_keeps_one_csk() {
    // TR 33.880 §7.2.5.3.3.5: alice uploads CSK_A through URI A, then CSK_B through URI B.
    let s = store(PurposeTags::AnnexG);
    let (ka, kb) = ([0xa1; 16], [0xb2; 16]);
    let up = s.csk_upload(&csk(&ka, 0x2a00_000a, alice(Some(IMPU)), URI_A), T0);
    assert!(matches!(up, Ok(Upload::Installed(_))), "{up:?}");
    let up = s.csk_upload(&csk(&kb, 0x2b00_000b, alice(Some(IMPU)), URI_B), T0);
    // The proxy recognises her by MC Service user ID and IMPU: CSK_B := CSK_A.
    assert_eq!(
        up,
        Ok(Upload::Aliased {
            csk: id(0x2a00_000a)
        })
    );
    assert_eq!(s.key_for(Purpose::Csk, ALICE, URI_B), Some(id(0x2a00_000a)));
    assert_eq!(s.key_for(Purpose::Csk, ALICE, URI_A), Some(id(0x2a00_000a)));
    assert!(s.info(id(0x2b00_000b)).is_none(), "CSK_B was not installed");
    assert_eq!(s.len(), 1);
    // CSK_A protects her signalling whichever URI she uses.
    let peer_store = store(PurposeTags::AnnexG);
    peer_store
        .install(&csk(&ka, 0x2a00_000a, alice(Some(IMPU)), URI_A), T0)
        .unwrap();
    let peer = Engine::new(peer_store, EngineConfig::default()).unwrap();
    let mut rx = Engine::new(Arc::clone(&s), EngineConfig::default()).unwrap();
    assert_eq!(
        through(&peer, &mut rx, id(0x2a00_000a), 1),
        Ok(id(0x2a00_000a))
    );

    // Another IMPU, or none, is another client: its CSK is installed.
    let kc = [0xc3; 16];
    let up = s.csk_upload(
        &csk(&kc, 0x2c00_000c, alice(Some("sip:other@ims")), URI_B),
        T0,
    );
    assert!(matches!(up, Ok(Upload::Installed(_))), "{up:?}");
    let kd = [0xd4; 16];
    let s2 = KeyStore::new(StoreConfig::default());
    assert!(matches!(
        s2.csk_upload(&csk(&kd, 0x2d00_000d, alice(None), URI_A), T0),
        Ok(Upload::Installed(_))
    ));
    assert!(matches!(
        s2.csk_upload(&csk(&kc, 0x2c00_000c, alice(None), URI_B), T0),
        Ok(Upload::Installed(_))
    ));
    // Through the same URI again, an upload replaces the client's CSK as usual.
    let ke = [0xe5; 16];
    let up = s.csk_upload(&csk(&ke, 0x2e00_000e, alice(Some(IMPU)), URI_A), T0);
    assert!(
        matches!(up, Ok(Upload::Installed(i)) if i.superseded == Some(id(0x2a00_000a))),
        "{up:?}"
    );
    // Only CSKs are uploaded.
    let spk = KeyInstall {
        cs_id: Some(CsId::CskSrtcpMcptt),
        ..csk(&ke, 0x3000_0001, alice(Some(IMPU)), URI_A)
    };
    assert_eq!(
        s.csk_upload(&spk, T0),
        Err(StoreError::WrongPurpose(Purpose::Spk))
    );
}

#[test]
fn key_download_discards_the_previous_csk_for_that_server() {
    let s = store(PurposeTags::AnnexG);
    let peer_store = store(PurposeTags::AnnexG);
    let (k1, k2) = ([0x11; 16], [0x22; 16]);
    for st in [&s, &peer_store] {
        st.install(&csk(&k1, 0x2000_0001, alice(None), URI_A), T0)
            .unwrap();
    }
    let peer = Engine::new(Arc::clone(&peer_store), EngineConfig::default()).unwrap();
    let mut rx = Engine::new(Arc::clone(&s), EngineConfig::default()).unwrap();
    assert!(through(&peer, &mut rx, id(0x2000_0001), 7).is_ok());
    // A key download of CSK 2 for the same server URI: CSK 1 is gone at once.
    let done = s
        .key_download(&csk(&k2, 0x2000_0002, alice(None), URI_A), T0)
        .unwrap();
    assert_eq!(done.superseded, Some(id(0x2000_0001)));
    assert!(
        s.info(id(0x2000_0001)).is_none(),
        "discarded, no grace period"
    );
    assert_eq!(
        through(&peer, &mut rx, id(0x2000_0001), 7),
        Err(Error::Superseded)
    );
    assert_eq!(s.key_for(Purpose::Csk, ALICE, URI_A), Some(id(0x2000_0002)));
    // A plain install (an upload) keeps the old key for its grace period instead.
    let k3 = [0x33; 16];
    s.install(&csk(&k3, 0x2000_0003, alice(None), URI_A), T0)
        .unwrap();
    assert!(
        s.info(id(0x2000_0002)).is_some(),
        "superseded, still in its grace period"
    );
    // Another server URI's CSK is untouched by either.
    let k4 = [0x44; 16];
    s.install(&csk(&k4, 0x2000_0004, alice(None), URI_B), T0)
        .unwrap();
    let k5 = [0x55; 16];
    s.key_download(&csk(&k5, 0x2000_0005, alice(None), URI_A), T0)
        .unwrap();
    assert!(s.info(id(0x2000_0004)).is_some());
}

#[test]
fn the_two_purpose_tag_numberings() {
    // Default (Annex G as the digest tabulates it): tag 4 MKFC, 5 MSCCK, 6 MuSiK.
    let key = [0x42; 16];
    let mk = |tags, key_id: u32| {
        let s = store(tags);
        let mut k = KeyInstall::new(
            &key,
            id(key_id),
            &[1; 16],
            Service::Mcptt,
            Owner::new("sip:group-1@a.example"),
            URI_A,
        );
        k.cs_id = Some(CsId::MusikSrtcpMcptt);
        let r = s.install(&k, T0);
        (s, r)
    };
    for tag in [0x4000_0001, 0x5000_0001, 0x6000_0001] {
        assert!(mk(PurposeTags::AnnexG, tag).1.is_ok(), "{tag:08x}");
    }
    // The earlier numbering: 4 is the MSK, 5 void, 6 undefined.
    assert_eq!(
        mk(PurposeTags::EarlyMsk, 0x5000_0001).1,
        Err(StoreError::UndefinedPurpose(5))
    );
    assert_eq!(
        mk(PurposeTags::EarlyMsk, 0x6000_0001).1,
        Err(StoreError::UndefinedPurpose(6))
    );
    // The MSK protects multicast signalling and MBMS subchannel control; the MKFC of the
    // default numbering only floor control over multicast.
    let p = Builder::floor(MessageType::FloorIdle, false, 9)
        .finish()
        .unwrap();
    for (tags, mbms_ok) in [(PurposeTags::EarlyMsk, true), (PurposeTags::AnnexG, false)] {
        let (s, r) = mk(tags, 0x4000_0007);
        r.unwrap();
        assert_eq!(s.info(id(0x4000_0007)).unwrap().msk, mbms_ok);
        let e = Engine::new(s, EngineConfig::default()).unwrap();
        let mut b = p.clone();
        b.resize(p.len() + MAX_SRTCP_TRAILER, 0);
        assert!(
            e.srtcp_protect_for(SrtcpUse::Multicast, id(0x4000_0007), &mut b, p.len(), T0)
                .is_ok()
        );
        let mbms = e.srtcp_protect_for(
            SrtcpUse::MbmsSubchannel,
            id(0x4000_0007),
            &mut b,
            p.len(),
            T0,
        );
        assert_eq!(mbms.is_ok(), mbms_ok, "{tags:?}: {mbms:?}");
        if !mbms_ok {
            assert_eq!(mbms.err(), Some(Error::WrongPurpose(Purpose::Mkfc)));
        }
    }
}

#[test]
fn musiks_are_selected_by_key_id() {
    // Two groups' MuSiKs: each packet opens under the one its MKI names.
    let s = store(PurposeTags::AnnexG);
    let peer_store = store(PurposeTags::AnnexG);
    for (k, key_id, group) in [
        ([0x61; 16], 0x6000_0001, "sip:g1@a.example"),
        ([0x62; 16], 0x6000_0002, "sip:g2@a.example"),
    ] {
        let i = KeyInstall::new(
            &k,
            id(key_id),
            &[3; 16],
            Service::Mcptt,
            Owner::new(group),
            URI_A,
        );
        s.install(&i, T0).unwrap();
        peer_store.install(&i, T0).unwrap();
    }
    let peer = Engine::new(peer_store, EngineConfig::default()).unwrap();
    let mut rx = Engine::new(s, EngineConfig::default()).unwrap();
    assert_eq!(
        through(&peer, &mut rx, id(0x6000_0002), 5),
        Ok(id(0x6000_0002))
    );
    assert_eq!(
        through(&peer, &mut rx, id(0x6000_0001), 5),
        Ok(id(0x6000_0001))
    );
}

#[test]
fn spks_take_a_cs_id_and_raw_ones_bind_to_their_end_point() {
    let s = store(PurposeTags::AnnexG);
    let key = [0x30; 16];
    let mut k = KeyInstall::new(
        &key,
        id(0x3000_0001),
        &[4; 16],
        Service::Mcptt,
        Owner::new("sip:mcptt-server@a.example"),
        "is-proxy.b.example",
    );
    // Table E.1.3-1 has no CS-ID for an SPK: one must be configured.
    assert_eq!(
        s.install(&k, T0),
        Err(StoreError::NoCsId(Purpose::Spk, Service::Mcptt))
    );
    k.cs_id = Some(CsId::CskSrtcpMcptt);
    s.install(&k, T0).unwrap();
    // A raw SPK bound to its interconnection end-point: found by it, replaced by the next.
    let (mk1, mk2, salt) = ([0x31; 16], [0x32; 16], [0x33; 12]);
    let mut r = SrtpInstall::new(&mk1, &salt, id(0x3000_ab01), Service::Mcptt);
    r.peer = Some("is-proxy.b.example:7000".into());
    s.install_srtp(&r, T0).unwrap();
    assert_eq!(
        s.key_for(Purpose::Spk, "", "is-proxy.b.example:7000"),
        Some(id(0x3000_ab01))
    );
    let mut r2 = SrtpInstall::new(&mk2, &salt, id(0x3000_ab02), Service::Mcptt);
    r2.peer = Some("is-proxy.b.example:7000".into());
    let done = s.install_srtp(&r2, T0).unwrap();
    assert_eq!(done.superseded, Some(id(0x3000_ab01)));
    assert_eq!(
        s.key_for(Purpose::Spk, "", "is-proxy.b.example:7000"),
        Some(id(0x3000_ab02))
    );
    // Without an end-point a raw key binds to nothing and replaces nothing.
    let r3 = SrtpInstall::new(&mk1, &[0x34; 12], id(0x3000_ab03), Service::Mcptt);
    assert_eq!(s.install_srtp(&r3, T0).unwrap().superseded, None);
}

#[test]
fn algorithm_negotiation_follows_the_selected_algorithm() {
    let s = store(PurposeTags::AnnexG);
    let peer_store = store(PurposeTags::AnnexG);
    let key = [0x5a; 16];
    // The upload: the client supports both, selects AES-128-GCM.
    let both = vec![SrtcpAlgorithm::Aes128Gcm, SrtcpAlgorithm::Aes256Gcm];
    let mut up = csk(&key, 0x2000_0010, alice(Some(IMPU)), URI_A);
    up.algorithms = Some(Algorithms {
        supported: both.clone(),
        selected: SrtcpAlgorithm::Aes128Gcm,
    });
    s.csk_upload(&up, T0).unwrap();
    assert_eq!(s.info(id(0x2000_0010)).unwrap().key_len, KeyLen::Aes128);
    assert_eq!(s.algorithms(id(0x2000_0010)).unwrap().supported, both);
    // The server forces AES-256-GCM in a key download: the client's list is kept, and the
    // SRTCP keys are AES-256 though the CSK is 16 octets.
    let key2 = [0x6b; 16];
    let mut down = csk(&key2, 0x2000_0011, alice(Some(IMPU)), URI_A);
    down.algorithms = Some(Algorithms {
        supported: Vec::new(),
        selected: SrtcpAlgorithm::Aes256Gcm,
    });
    s.key_download(&down, T0).unwrap();
    assert_eq!(s.info(id(0x2000_0011)).unwrap().key_len, KeyLen::Aes256);
    assert_eq!(
        s.algorithms(id(0x2000_0011)),
        Some(Algorithms {
            supported: both,
            selected: SrtcpAlgorithm::Aes256Gcm
        })
    );
    // Both ends derive the same AES-256 context: packets go through.
    peer_store.key_download(&down, T0).unwrap();
    let peer = Engine::new(peer_store, EngineConfig::default()).unwrap();
    let mut rx = Engine::new(Arc::clone(&s), EngineConfig::default()).unwrap();
    assert_eq!(
        through(&peer, &mut rx, id(0x2000_0011), 3),
        Ok(id(0x2000_0011))
    );
    // A download without a selection keeps the selected algorithm.
    let key3 = [0x7c; 16];
    s.key_download(&csk(&key3, 0x2000_0012, alice(Some(IMPU)), URI_A), T0)
        .unwrap();
    assert_eq!(s.info(id(0x2000_0012)).unwrap().key_len, KeyLen::Aes256);
    // A client that supports only AES-128-GCM cannot be forced to AES-256-GCM.
    let s2 = store(PurposeTags::AnnexG);
    let mut only = csk(&key, 0x2000_0020, alice(Some(IMPU)), URI_A);
    only.algorithms = Some(Algorithms {
        supported: vec![SrtcpAlgorithm::Aes128Gcm],
        selected: SrtcpAlgorithm::Aes128Gcm,
    });
    s2.csk_upload(&only, T0).unwrap();
    let mut force = csk(&key2, 0x2000_0021, alice(Some(IMPU)), URI_A);
    // Not even by a download that brings a list of its own: the client's list stands.
    force.algorithms = Some(Algorithms {
        supported: vec![SrtcpAlgorithm::Aes256Gcm],
        selected: SrtcpAlgorithm::Aes256Gcm,
    });
    assert_eq!(
        s2.key_download(&force, T0),
        Err(StoreError::AlgorithmNotOffered(SrtcpAlgorithm::Aes256Gcm))
    );
    assert_eq!(
        s2.key_for(Purpose::Csk, ALICE, URI_A),
        Some(id(0x2000_0020))
    );
}

#[test]
fn xml_bodies_move_from_the_client_hop_to_the_server_hop_in_one_call() {
    use mcx_engine::proxy::{Direction, IdentityMap, Proxy, Role};
    use mcx_engine::store::BodyError;
    use mcx_engine::xml::{Elements, Limits, XmlKey, protect, unprotect};
    let s = store(PurposeTags::AnnexG);
    let (csk_key, spk_key) = ([0x21; 16], [0x31; 16]);
    let server = "sip:mcptt-server@ptt.a.internal";
    s.install(&csk(&csk_key, 0x2000_0042, alice(None), URI_A), T0)
        .unwrap();
    let mut spk = KeyInstall::new(
        &spk_key,
        id(0x3000_0042),
        &[9; 16],
        Service::Mcptt,
        Owner::new(server),
        "core.a.internal",
    );
    spk.cs_id = Some(CsId::CskSrtcpMcptt);
    s.install(&spk, T0).unwrap();
    let proxy = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new()
            .pair("sip:alice@ptt.a.internal", ALICE)
            .unwrap(),
    );
    // The client protects its body under its CSK's XML keys (TS 33.180 F.1.4, P0 = its MC
    // Service user ID), derived here on its own.
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><mcpttinfo xmlns="urn:3gpp:ns:mcpttInfo:1.0"><mcptt-Params><mcptt-calling-user-id type="Normal"><mcpttURI>{ALICE}</mcpttURI></mcptt-calling-user-id><mcptt-request-uri type="Normal"><mcpttURI>sip:group-1@a.example</mcpttURI></mcptt-request-uri></mcptt-Params></mcpttinfo>"#
    );
    let client_key = XmlKey::derive(&csk_key, id(0x2000_0042), ALICE.as_bytes()).unwrap();
    let (els, lim) = (Elements::default(), Limits::default());
    let mut from_client = Vec::new();
    protect(&client_key, body.as_bytes(), &els, &lim, &mut from_client).unwrap();
    assert!(!String::from_utf8_lossy(&from_client).contains("alice"));
    // The proxy: CSK hop in, SPK hop out, alice's internal identity inside.
    let mut to_server = Vec::new();
    proxy
        .reprotect_xml(
            &s,
            &from_client,
            id(0x2000_0042),
            id(0x3000_0042),
            Direction::Inward,
            &els,
            &lim,
            T0,
            &mut to_server,
        )
        .unwrap();
    assert!(!String::from_utf8_lossy(&to_server).contains("alice"));
    // The server opens it under the SPK's XML keys (P0 = the SPK owner's identity).
    let server_key = XmlKey::derive(&spk_key, id(0x3000_0042), server.as_bytes()).unwrap();
    let mut opened = Vec::new();
    unprotect(&server_key, &to_server, &lim, &mut opened).unwrap();
    assert_eq!(
        String::from_utf8(opened).unwrap(),
        body.replace(ALICE, "sip:alice@ptt.a.internal")
    );
    // Under the client's keys it does not open.
    assert!(unprotect(&client_key, &to_server, &lim, &mut Vec::new()).is_err());
    // The XML keys die with their CSK; a MuSiK has none; raw SPK material has none.
    let mut out = b"kept".to_vec();
    let musik = [0x61; 16];
    s.install(
        &KeyInstall::new(
            &musik,
            id(0x6000_0042),
            &[1; 16],
            Service::Mcptt,
            Owner::new("g"),
            URI_A,
        ),
        T0,
    )
    .unwrap();
    let r = proxy.reprotect_xml(
        &s,
        &from_client,
        id(0x6000_0042),
        id(0x3000_0042),
        Direction::Inward,
        &els,
        &lim,
        T0,
        &mut out,
    );
    assert_eq!(r, Err(BodyError::Key(Error::WrongPurpose(Purpose::Musik))));
    let raw = SrtpInstall::new(&[0x71; 16], &[0x72; 12], id(0x3000_0043), Service::Mcptt);
    s.install_srtp(&raw, T0).unwrap();
    let r = proxy.reprotect_xml(
        &s,
        &from_client,
        id(0x2000_0042),
        id(0x3000_0043),
        Direction::Inward,
        &els,
        &lim,
        T0,
        &mut out,
    );
    assert_eq!(r, Err(BodyError::NoBodyKeys(id(0x3000_0043))));
    s.revoke(id(0x2000_0042)).unwrap();
    let r = proxy.reprotect_xml(
        &s,
        &from_client,
        id(0x2000_0042),
        id(0x3000_0042),
        Direction::Inward,
        &els,
        &lim,
        T0,
        &mut out,
    );
    assert_eq!(r, Err(BodyError::Key(Error::Revoked)));
    assert_eq!(out, b"kept", "nothing written on a refusal");
}

/// A store with a CSK (the client hop) and an SPK (the server hop) for MCData, and the
/// payload keys each end derives on its own: F.1.5 with the hop key in the DPPK's place.
fn mcdata_hop() -> (
    Arc<KeyStore>,
    mcx_engine::mcdata::PayloadKey,
    mcx_engine::mcdata::PayloadKey,
) {
    use mcx_engine::keys::kdf;
    use mcx_engine::mcdata::PayloadKey;
    let s = store(PurposeTags::AnnexG);
    let (csk_key, spk_key) = ([0x23; 16], [0x33; 16]);
    s.install(&csk(&csk_key, 0x2000_0052, alice(None), URI_A), T0)
        .unwrap();
    let mut spk = KeyInstall::new(
        &spk_key,
        id(0x3000_0052),
        &[9; 16],
        Service::Mcdata,
        Owner::new("sip:mcdata-server@a.example"),
        "core.a.internal",
    );
    spk.cs_id = Some(CsId::CskSrtcpMcptt);
    s.install(&spk, T0).unwrap();
    let end = |k: &[u8], key_id: u32| {
        let d = kdf::dpck(k, id(key_id)).unwrap();
        PayloadKey::from_dpck(d.expose(), key_id).unwrap()
    };
    let (client, server) = (end(&csk_key, 0x2000_0052), end(&spk_key, 0x3000_0052));
    (s, client, server)
}

#[test]
fn mcdata_signalling_payloads_move_from_the_client_hop_to_the_server_hop() {
    use mcx_engine::mcdata::{Header, protect, protected_len, unprotect};
    use mcx_engine::proxy::{IdentityMap, McdataContent, Proxy, Role};
    use mcx_engine::store::BodyError;
    let (s, client, server) = mcdata_hop();
    let proxy = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new(),
    );
    let payload = b"SDS signalling payload: conversation 42";
    let h = Header::new(0x01, 0x01_0203_0405, 77, 3, 0x7a).unwrap();
    let mut up = vec![0u8; protected_len(payload.len())];
    protect(&client, &h, payload, &mut up).unwrap();
    let mut out = vec![0u8; up.len()];
    let n = proxy
        .reprotect_mcdata(
            &s,
            &up,
            id(0x2000_0052),
            id(0x3000_0052),
            McdataContent::Opaque,
            T0,
            &mut out,
        )
        .unwrap();
    let mut back = vec![0u8; payload.len()];
    let o = unprotect(&server, &out[..n], &mut back).unwrap();
    assert_eq!(&back[..o.len], payload);
    assert_eq!(
        (
            o.header.message_type,
            o.header.date_time,
            o.header.payload_id,
            o.header.sequence
        ),
        (0x01, 0x01_0203_0405, 77, 3)
    );
    assert_ne!(o.header.iv, h.iv, "a fresh IV on the server hop");
    assert!(unprotect(&client, &out[..n], &mut back).is_err());
    // Tampered on the client hop: refused. The SPK revoked: refused.
    let mut bad = up.clone();
    bad[40] ^= 1;
    assert!(matches!(
        proxy.reprotect_mcdata(
            &s,
            &bad,
            id(0x2000_0052),
            id(0x3000_0052),
            McdataContent::Opaque,
            T0,
            &mut out
        ),
        Err(BodyError::Mcdata(_))
    ));
    s.revoke(id(0x3000_0052)).unwrap();
    assert_eq!(
        proxy.reprotect_mcdata(
            &s,
            &up,
            id(0x2000_0052),
            id(0x3000_0052),
            McdataContent::Opaque,
            T0,
            &mut out
        ),
        Err(BodyError::Key(Error::Revoked))
    );
}

#[test]
fn mcdata_messages_cross_with_their_identities_rewritten() {
    use mcx_engine::mcdata::signalling::{self, Error as MsgError};
    use mcx_engine::mcdata::{Header, protect, protected_len, unprotect};
    use mcx_engine::proxy::{Direction, IdentityMap, McdataContent, Proxy, Role};
    use mcx_engine::store::BodyError;
    let (s, client, server) = mcdata_hop();
    let proxy = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new()
            .pair("sip:alice@a.internal", "sip:alice@a.example")
            .unwrap(),
    );
    // An SDS SIGNALLING PAYLOAD (TS 24.282 Table 15.1.2.1-1): type, date and time,
    // conversation ID, message ID, then the Sender MCData user ID (TLV-E).
    let sds = |sender: &[u8]| {
        let mut m = vec![0x01, 0, 0x69, 0x2e, 0x8c, 0x40];
        m.extend_from_slice(&[0xc0; 16]);
        m.extend_from_slice(&[0x3d; 16]);
        m.push(0x51);
        m.extend_from_slice(&(sender.len() as u16).to_be_bytes());
        m.extend_from_slice(sender);
        m
    };
    let from_client = sds(b"sip:alice@a.example");
    let h = Header::new(0x01, 0x692e_8c40, 78, 4, 0x7a).unwrap();
    let mut up = vec![0u8; protected_len(from_client.len())];
    protect(&client, &h, &from_client, &mut up).unwrap();
    let mut out = vec![0u8; up.len() + 64];
    let reprotect = |msg: &[u8], content, out: &mut [u8]| {
        proxy.reprotect_mcdata(&s, msg, id(0x2000_0052), id(0x3000_0052), content, T0, out)
    };
    let n = reprotect(&up, McdataContent::Message(Direction::Inward), &mut out).unwrap();
    let mut back = vec![0u8; n];
    let o = unprotect(&server, &out[..n], &mut back).unwrap();
    assert_eq!(&back[..o.len], &sds(b"sip:alice@a.internal")[..]);
    // Opaque: the same bytes cross unchanged.
    let n = reprotect(&up, McdataContent::Opaque, &mut out).unwrap();
    let o = unprotect(&server, &out[..n], &mut back).unwrap();
    assert_eq!(&back[..o.len], &from_client[..]);
    // A plaintext that is no TS 24.282 message is refused when it must be read.
    let mut bad = vec![0u8; protected_len(5)];
    protect(&client, &h, b"\x04junk", &mut bad).unwrap();
    assert_eq!(
        reprotect(&bad, McdataContent::Message(Direction::Inward), &mut out),
        Err(BodyError::Signalling(MsgError::UnknownMessage(4)))
    );
    // In clear, toward a trusted core: the same rewrite.
    let mut clear = Vec::new();
    assert_eq!(
        proxy.rewrite_mcdata(&from_client, Direction::Inward, &mut clear),
        Ok(1)
    );
    assert_eq!(clear, sds(b"sip:alice@a.internal"));
    assert_eq!(
        signalling::parse(&clear).unwrap().kind,
        signalling::Kind::SdsSignalling
    );
    // Outward, the internal identity becomes the external one again.
    let mut again = Vec::new();
    proxy
        .rewrite_mcdata(&clear, Direction::Outward, &mut again)
        .unwrap();
    assert_eq!(again, from_client);
}
