//! The proxy roles in one process, packets passed by hand: a client in domain A, its CS
//! proxy, domain A's IS proxy, domain B's IS proxy and domain B's server. A Floor Request
//! goes from the client to the server and the Floor Granted comes back; at every hop the
//! packet on the wire is opened by libsrtp (the independent peer) under that hop's key and
//! compared, octet for octet, with the packet the hop must carry, built independently here.
//! Then: what each edge hides, a multicast fan-out under a MuSiK with an emergency Floor
//! Request, a security gateway, and the refusals.

use std::net::SocketAddr;
use std::sync::Arc;

use mcx_engine::floor::video::{self, VideoBuilder, VideoField, VideoMessage};
use mcx_engine::floor::{
    Builder, FieldId, INDICATOR_EMERGENCY, INDICATOR_NORMAL, MessageType, Options, Unknown, Value,
    parse,
};
use mcx_engine::keys::Service;
use mcx_engine::proxy::{
    Drop, GatewayMode, IdentityMap, Proxy, Role, Session, SessionSpec, SideSpec, Verdict,
};
use mcx_engine::store::{KeyStore, SrtpInstall, StoreConfig};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig};
use mcx_tests::relay::HopKey;

const CLIENTS: u16 = 0;
const CORE: u16 = 1;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A proxy with its own key store and engine handle (another box in the network).
struct Node {
    proxy: Proxy,
    engine: Engine,
}

impl Node {
    fn new(role: Role, map: IdentityMap, keys: &[HopKey]) -> Node {
        let store = Arc::new(KeyStore::new(StoreConfig::default()));
        for k in keys {
            install(&store, k);
        }
        Node {
            proxy: Proxy::new(role, map),
            engine: Engine::new(store, EngineConfig::default()).unwrap(),
        }
    }

    /// Hands `pkt` to the proxy; returns (leg, destination, bytes out).
    fn pass(&mut self, leg: u16, from: SocketAddr, pkt: &[u8]) -> (u16, SocketAddr, Vec<u8>) {
        let mut buf = vec![0u8; 2048];
        buf[..pkt.len()].copy_from_slice(pkt);
        match self.proxy.handle_datagram(
            &mut self.engine,
            Timestamp::now(),
            leg,
            from,
            &mut buf,
            pkt.len(),
        ) {
            Verdict::Forward { leg, to, len } => (leg, to, buf[..len].to_vec()),
            other => panic!("expected a forward, got {other:?}"),
        }
    }

    fn verdict(&mut self, leg: u16, from: SocketAddr, pkt: &[u8]) -> Verdict {
        let mut buf = vec![0u8; 2048];
        buf[..pkt.len()].copy_from_slice(pkt);
        self.proxy.handle_datagram(
            &mut self.engine,
            Timestamp::now(),
            leg,
            from,
            &mut buf,
            pkt.len(),
        )
    }
}

fn install(store: &KeyStore, k: &HopKey) {
    store
        .install_srtp(
            &SrtpInstall::new(&k.key, &k.salt, k.key_id(), Service::Mcptt),
            Timestamp::now(),
        )
        .unwrap();
}

/// Opens `pkt` with libsrtp under `k`.
fn open(k: &HopKey, pkt: &[u8]) -> Vec<u8> {
    let mut rx = k.receiver();
    let mut b = pkt.to_vec();
    let n = rx
        .unprotect(&mut b)
        .expect("libsrtp opens the hop's packet");
    b.truncate(n);
    b
}

/// Protects `pkt` with libsrtp under `k`.
fn seal(k: &HopKey, pkt: &[u8]) -> Vec<u8> {
    let mut tx = k.sender();
    let mut b = pkt.to_vec();
    b.resize(pkt.len() + 64, 0);
    let n = tx.protect(&mut b, pkt.len()).expect("libsrtp protects");
    b.truncate(n);
    b
}

fn side(leg: u16, peer: &str, keys: &[&HopKey]) -> SideSpec {
    let ids: Vec<_> = keys.iter().map(|k| k.key_id()).collect();
    SideSpec::new(leg, addr(peer), &ids)
}

fn session(inside: SideSpec, outside: SideSpec) -> SessionSpec {
    SessionSpec {
        inside,
        outside: vec![outside],
        alias: None,
    }
}

/// A session whose proxy SSRCs are given (the README's walk-through uses these).
fn fixed(mut s: SessionSpec, inside: u32, outside: u32) -> SessionSpec {
    s.inside.ssrc = Some(inside);
    s.outside[0].ssrc = Some(outside);
    s
}

fn text(m: &[u8], id: FieldId) -> Option<String> {
    match parse(m, Options::default()).unwrap().field(id) {
        Some(Value::Text(t)) => Some(t.to_owned()),
        _ => None,
    }
}

// Where everyone is.
const CLIENT: &str = "127.0.0.10:5000";
const CS_A_CORE: &str = "127.0.0.20:6001";
const IS_A_OUT: &str = "127.0.0.30:7000";
const IS_A_CORE: &str = "127.0.0.30:7001";
const IS_B_OUT: &str = "127.0.0.40:8000";
const SERVER_B: &str = "127.0.0.50:9000";

const ALICE_OUT: &str = "sip:alice@a.example";
const ALICE_IN: &str = "sip:alice@ptt.a.internal";
const DISPATCH_IN: &str = "sip:dispatch@ptt.b.internal";
const DISPATCH_OUT: &str = "sip:dispatch@b.example";

struct TwoDomains {
    csk: HopKey,
    spk_a: HopKey,
    spk_ab1: HopKey,
    spk_ab2: HopKey,
    cs_a: Node,
    is_a: Node,
    is_b: Node,
    s_cs_a: Arc<Session>,
    s_is_a: Arc<Session>,
    s_is_b: Arc<Session>,
}

fn two_domains() -> TwoDomains {
    let csk = HopKey::new(0x2a11_ce01);
    let spk_a = HopKey::new(0x3000_0a01);
    let spk_ab1 = HopKey::new(0x3000_ab01);
    let spk_ab2 = HopKey::new(0x3000_ab02);
    let map_a = IdentityMap::new()
        .pair(ALICE_IN, ALICE_OUT)
        .unwrap()
        .hide_domain("a.internal")
        .external("sip:proxy@a.example")
        .unwrap();
    let map_b = IdentityMap::new()
        .pair(DISPATCH_IN, DISPATCH_OUT)
        .unwrap()
        .hide_domain("b.internal")
        .external("sip:proxy@b.example")
        .unwrap();
    let cs_a = Node::new(
        Role::CsProxy {
            trusted_core: false,
        },
        map_a.clone(),
        &[csk, spk_a],
    );
    let is_a = Node::new(
        Role::IsProxy {
            trusted_core: false,
        },
        map_a,
        &[spk_a, spk_ab1, spk_ab2],
    );
    let is_b = Node::new(
        Role::IsProxy { trusted_core: true },
        map_b,
        &[spk_ab1, spk_ab2],
    );
    let s_cs_a = cs_a
        .proxy
        .add(&fixed(
            session(
                side(CORE, IS_A_CORE, &[&spk_a]),
                side(CLIENTS, CLIENT, &[&csk]),
            ),
            0xc5a0_0001,
            0xc5a0_0002,
        ))
        .unwrap();
    let s_is_a = is_a
        .proxy
        .add(&fixed(
            session(
                side(CORE, CS_A_CORE, &[&spk_a]),
                side(CLIENTS, IS_B_OUT, &[&spk_ab1, &spk_ab2]),
            ),
            0x15a0_0001,
            0x15a0_0002,
        ))
        .unwrap();
    // Domain B's core is trusted: the server is reached in clear. The interconnection
    // accepts both SPKs, listed the other way round: it answers under the one A used.
    let s_is_b = is_b
        .proxy
        .add(&fixed(
            session(
                side(CORE, SERVER_B, &[]),
                side(CLIENTS, IS_A_OUT, &[&spk_ab2, &spk_ab1]),
            ),
            0x15b0_0001,
            0x15b0_0002,
        ))
        .unwrap();
    TwoDomains {
        csk,
        spk_a,
        spk_ab1,
        spk_ab2,
        cs_a,
        is_a,
        is_b,
        s_cs_a,
        s_is_a,
        s_is_b,
    }
}

fn request(ssrc: u32, user: &str) -> Vec<u8> {
    Builder::floor(MessageType::FloorRequest, false, ssrc)
        .u8(FieldId::FloorPriority, 5)
        .text(FieldId::UserId, user)
        .u16(FieldId::FloorIndicator, INDICATOR_NORMAL)
        .u16(FieldId::SequenceNumber, 1)
        .finish()
        .unwrap()
}

fn granted(ssrc: u32, user: &str, granted_ssrc: u32, alias: &str) -> Vec<u8> {
    Builder::floor(MessageType::FloorGranted, false, ssrc)
        .u16(FieldId::Duration, 30)
        .u8(FieldId::FloorPriority, 5)
        .text(FieldId::UserId, user)
        .ssrc(granted_ssrc)
        .text(FieldId::FunctionalAlias, alias)
        .u16(FieldId::SequenceNumber, 1)
        .finish()
        .unwrap()
}

#[test]
fn floor_request_to_a_remote_domain_and_the_grant_back() {
    let mut d = two_domains();
    let alice_ssrc = 0xa11c_e000;
    let server_ssrc = 0x5e4b_0001;

    // 1. Client -> CS proxy A, under alice's CSK.
    let sent = request(alice_ssrc, ALICE_OUT);
    let wire = seal(&d.csk, &sent);
    assert!(
        !contains(&wire, ALICE_OUT.as_bytes()),
        "encrypted on the wire"
    );
    let (leg, to, hop1) = d.cs_a.pass(CLIENTS, addr(CLIENT), &wire);
    assert_eq!((leg, to), (CORE, addr(IS_A_CORE)));
    // CS proxy A -> IS proxy A under SPK_a: the proxy's SSRC, alice's internal identity.
    let want1 = request(d.s_cs_a.inside.ssrc, ALICE_IN);
    assert_eq!(open(&d.spk_a, &hop1), want1);

    // 2. IS proxy A -> IS proxy B under SPK_ab1 (the first it lists): the external identity.
    let (leg, to, hop2) = d.is_a.pass(CORE, addr(CS_A_CORE), &hop1);
    assert_eq!((leg, to), (CLIENTS, addr(IS_B_OUT)));
    let want2 = request(d.s_is_a.outside[0].ssrc, ALICE_OUT);
    assert_eq!(open(&d.spk_ab1, &hop2), want2);

    // 3. IS proxy B -> server B in clear (trusted core): B's SSRC for the session.
    let (leg, to, hop3) = d.is_b.pass(CLIENTS, addr(IS_A_OUT), &hop2);
    assert_eq!((leg, to), (CORE, addr(SERVER_B)));
    let want3 = request(d.s_is_b.inside.ssrc, ALICE_OUT);
    assert_eq!(hop3, want3);

    // 4. The server grants the floor: it names the granted participant by the SSRC it
    // knows (IS proxy B's inside SSRC) and adds its dispatcher's functional alias.
    let grant = granted(server_ssrc, ALICE_OUT, d.s_is_b.inside.ssrc, DISPATCH_IN);
    let (leg, to, hop4) = d.is_b.pass(CORE, addr(SERVER_B), &grant);
    assert_eq!((leg, to), (CLIENTS, addr(IS_A_OUT)));
    // Under SPK_ab1, the key A chose; the SSRC field now names what A showed B.
    let want4 = granted(
        d.s_is_b.outside[0].ssrc,
        ALICE_OUT,
        d.s_is_a.outside[0].ssrc,
        DISPATCH_OUT,
    );
    assert_eq!(open(&d.spk_ab1, &hop4), want4);

    // 5. IS proxy A -> CS proxy A under SPK_a: back to internal names and A's SSRCs.
    let (leg, to, hop5) = d.is_a.pass(CLIENTS, addr(IS_B_OUT), &hop4);
    assert_eq!((leg, to), (CORE, addr(CS_A_CORE)));
    let want5 = granted(
        d.s_is_a.inside.ssrc,
        ALICE_IN,
        d.s_cs_a.inside.ssrc,
        DISPATCH_OUT,
    );
    assert_eq!(open(&d.spk_a, &hop5), want5);

    // 6. CS proxy A -> client under the CSK: the client sees itself granted.
    let (leg, to, hop6) = d.cs_a.pass(CORE, addr(IS_A_CORE), &hop5);
    assert_eq!((leg, to), (CLIENTS, addr(CLIENT)));
    let want6 = granted(
        d.s_cs_a.outside[0].ssrc,
        ALICE_OUT,
        alice_ssrc,
        DISPATCH_OUT,
    );
    assert_eq!(open(&d.csk, &hop6), want6);

    // The README's walk-through, value for value.
    let walk = |p: &[u8]| -> (u32, Option<String>, Option<u32>, Option<String>) {
        let m = parse(p, Options::default()).unwrap();
        let ssrc = match m.field(FieldId::Ssrc) {
            Some(Value::Ssrc(s)) => Some(s),
            _ => None,
        };
        (
            m.ssrc,
            text(p, FieldId::UserId),
            ssrc,
            text(p, FieldId::FunctionalAlias),
        )
    };
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(walk(&sent), (0xa11c_e000, s(ALICE_OUT), None, None));
    assert_eq!(walk(&want1), (0xc5a0_0001, s(ALICE_IN), None, None));
    assert_eq!(walk(&want2), (0x15a0_0002, s(ALICE_OUT), None, None));
    assert_eq!(walk(&want3), (0x15b0_0001, s(ALICE_OUT), None, None));
    assert_eq!(
        walk(&grant),
        (0x5e4b_0001, s(ALICE_OUT), Some(0x15b0_0001), s(DISPATCH_IN))
    );
    assert_eq!(
        walk(&want4),
        (
            0x15b0_0002,
            s(ALICE_OUT),
            Some(0x15a0_0002),
            s(DISPATCH_OUT)
        )
    );
    assert_eq!(
        walk(&want5),
        (0x15a0_0001, s(ALICE_IN), Some(0xc5a0_0001), s(DISPATCH_OUT))
    );
    assert_eq!(
        walk(&want6),
        (
            0xc5a0_0002,
            s(ALICE_OUT),
            Some(0xa11c_e000),
            s(DISPATCH_OUT)
        )
    );

    // What each edge hides. Domain A's internal names never leave A, B's never leave B.
    for p in [&want2, &want3, &want4, &want6] {
        assert!(
            !contains(p, b"a.internal"),
            "A's internal name crossed an edge"
        );
    }
    for p in [&want4, &want2, &want6] {
        assert!(
            !contains(p, b"b.internal"),
            "B's internal name crossed an edge"
        );
    }
    // SSRCs: the server never sees alice's, alice never sees the server's, and each hop
    // carries the sending proxy's own SSRC.
    let ssrcs = |p: &[u8]| -> Vec<u32> {
        let m = parse(p, Options::default()).unwrap();
        let mut v = vec![m.ssrc];
        if let Some(Value::Ssrc(s)) = m.field(FieldId::Ssrc) {
            v.push(s);
        }
        v
    };
    assert!(!ssrcs(&want3).contains(&alice_ssrc));
    assert!(!ssrcs(&want6).contains(&server_ssrc));
    assert!(!ssrcs(&want4).contains(&server_ssrc));
    let all = [
        d.s_cs_a.inside.ssrc,
        d.s_cs_a.outside[0].ssrc,
        d.s_is_a.inside.ssrc,
        d.s_is_a.outside[0].ssrc,
        d.s_is_b.inside.ssrc,
        d.s_is_b.outside[0].ssrc,
    ];
    for (i, a) in all.iter().enumerate() {
        assert!(
            !all[i + 1..].contains(a),
            "each proxy side has its own SSRC"
        );
    }
    // The peer's choice of SPK: IS proxy B lists SPK_ab2 first but answered under SPK_ab1.
    assert_eq!(
        d.s_is_b.outside[0].key(),
        Some(d.spk_ab1.key_id()),
        "B answers under the key A used"
    );
    let _ = d.spk_ab2;
}

#[test]
fn each_hop_drops_what_is_not_its_sessions() {
    let mut d = two_domains();
    let alice_ssrc = 0xa11c_e000;
    let wire = seal(&d.csk, &request(alice_ssrc, ALICE_OUT));
    // From another address, on another leg: no session.
    assert_eq!(
        d.cs_a.verdict(CLIENTS, addr("127.0.0.11:5000"), &wire),
        Verdict::Drop(Drop::NoSession)
    );
    assert_eq!(
        d.cs_a.verdict(CORE, addr(CLIENT), &wire),
        Verdict::Drop(Drop::NoSession)
    );
    // A forged tag.
    let mut forged = wire.clone();
    forged[14] ^= 1;
    assert!(matches!(
        d.cs_a.verdict(CLIENTS, addr(CLIENT), &forged),
        Verdict::Drop(Drop::Unprotect(_))
    ));
    // The real one passes, its replay does not.
    d.cs_a.pass(CLIENTS, addr(CLIENT), &wire);
    assert!(matches!(
        d.cs_a.verdict(CLIENTS, addr(CLIENT), &wire),
        Verdict::Drop(Drop::Unprotect(_))
    ));
    // Another SSRC in the same session (after alice's was learned) is refused.
    let mut tx = d.csk.sender();
    let other = request(0x0bad_0001, ALICE_OUT);
    let mut b = other.clone();
    b.resize(other.len() + 64, 0);
    let n = tx.protect(&mut b, other.len()).unwrap();
    assert_eq!(
        d.cs_a.verdict(CLIENTS, addr(CLIENT), &b[..n]),
        Verdict::Drop(Drop::SsrcChanged)
    );
    // An SDES would carry a CNAME across: dropped, after it authenticated (index 1 of
    // alice's stream: index 0 is spent).
    let sdes = [
        0x81, 202, 0, 3, 0xa1, 0x1c, 0xe0, 0x00, 1, 3, b'a', b'b', b'c', 0, 0, 0,
    ];
    let mut tx = d.csk.sender();
    let mut b = vec![0u8; 128];
    let first = request(alice_ssrc, ALICE_OUT);
    b[..first.len()].copy_from_slice(&first);
    tx.protect(&mut b, first.len()).unwrap();
    b[..sdes.len()].copy_from_slice(&sdes);
    let n = tx.protect(&mut b, sdes.len()).unwrap();
    assert_eq!(
        d.cs_a.verdict(CLIENTS, addr(CLIENT), &b[..n]),
        Verdict::Drop(Drop::NotFloorControl)
    );
    // A refused packet teaches a session nothing: a fresh session whose first packet is an
    // SDES still learns its peer's SSRC from the first floor packet.
    let csk2 = HopKey::new(0x2a11_ce02);
    install(d.cs_a.engine.keys(), &csk2);
    let s2 = d
        .cs_a
        .proxy
        .add(&session(
            side(CORE, "127.0.0.31:7001", &[&d.spk_a]),
            side(CLIENTS, "127.0.0.13:5000", &[&csk2]),
        ))
        .unwrap();
    let mut sdes2 = sdes;
    sdes2[4..8].copy_from_slice(&0x0bad_0002u32.to_be_bytes());
    assert_eq!(
        d.cs_a
            .verdict(CLIENTS, addr("127.0.0.13:5000"), &seal(&csk2, &sdes2)),
        Verdict::Drop(Drop::NotFloorControl)
    );
    assert_eq!(s2.outside[0].peer_ssrc(), None);
    let mut tx2 = csk2.sender();
    let r2 = request(0x600d_0001, ALICE_OUT);
    let mut b2 = r2.clone();
    b2.resize(r2.len() + 64, 0);
    let n2 = tx2.protect(&mut b2, r2.len()).unwrap();
    assert!(matches!(
        d.cs_a.verdict(CLIENTS, addr("127.0.0.13:5000"), &b2[..n2]),
        Verdict::Forward { .. }
    ));
    assert_eq!(s2.outside[0].peer_ssrc(), Some(0x600d_0001));
    // A packet in clear on the trusted core of B from the wrong address.
    assert_eq!(
        d.is_b
            .verdict(CORE, addr("127.0.0.51:9000"), &request(1, DISPATCH_IN)),
        Verdict::Drop(Drop::NoSession)
    );
}

#[test]
fn roles_refuse_the_wrong_keys() {
    let csk = HopKey::new(0x2a11_ce01);
    let spk = HopKey::new(0x3000_0a01);
    let musik = HopKey::new(0x6000_0001);
    let cs = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new(),
    );
    // A client under an SPK, a core under a CSK, a core in clear when it is not trusted.
    for spec in [
        session(
            side(CORE, SERVER_B, &[&spk]),
            side(CLIENTS, CLIENT, &[&spk]),
        ),
        session(
            side(CORE, SERVER_B, &[&csk]),
            side(CLIENTS, CLIENT, &[&csk]),
        ),
        session(side(CORE, SERVER_B, &[]), side(CLIENTS, CLIENT, &[&csk])),
        // A lone side under a MuSiK and a CSK: not a multicast target, and a unicast side
        // takes CSKs only.
        session(
            side(CORE, SERVER_B, &[&spk]),
            side(CLIENTS, CLIENT, &[&musik, &csk]),
        ),
    ] {
        assert!(cs.add(&spec).is_err(), "{spec:?}");
    }
    assert!(cs.is_empty());
    // A lone side under a MuSiK alone is a group address with nobody on unicast: a
    // downlink fan-out of one, from which nothing is received.
    let group = cs
        .add(&session(
            side(CORE, SERVER_B, &[&spk]),
            side(CLIENTS, CLIENT, &[&musik]),
        ))
        .unwrap();
    assert!(group.is_fan_out());
    assert!(matches!(
        cs.classify(CLIENTS, &addr(CLIENT), &seal(&musik, &request(1, ALICE_IN))),
        mcx_engine::proxy::Match::None
    ));
    cs.remove(group.id).unwrap();
    assert!(cs.is_empty());
    let is = Proxy::new(
        Role::IsProxy {
            trusted_core: false,
        },
        IdentityMap::new(),
    );
    assert!(
        is.add(&session(
            side(CORE, SERVER_B, &[&spk]),
            side(CLIENTS, CLIENT, &[&csk])
        ))
        .is_err()
    );
    // The same receiving triple twice.
    let ok = session(
        side(CORE, SERVER_B, &[&spk]),
        side(CLIENTS, CLIENT, &[&csk]),
    );
    cs.add(&ok).unwrap();
    assert!(cs.add(&ok).is_err());
    assert_eq!(cs.len(), 1);
    // A security gateway: the external side in clear, the MC side under a CSK, and for
    // solution 7.1 always the one MC identity.
    let gw = Proxy::new(
        Role::SecurityGateway(GatewayMode::SingleClient {
            identity: "sip:segy@a.example".into(),
        }),
        IdentityMap::new(),
    );
    let mut g = session(side(CORE, SERVER_B, &[&csk]), side(CLIENTS, CLIENT, &[]));
    assert!(gw.add(&g).is_err(), "needs the alias");
    g.alias = Some(("sip:other@a.example".into(), "lmr:4711".into()));
    assert!(gw.add(&g).is_err(), "7.1 has one identity");
    g.alias = Some(("sip:segy@a.example".into(), "lmr:4711".into()));
    gw.add(&g).unwrap();
}

#[test]
fn security_gateway_terminates_mc_security() {
    // Solution 7.2: each external user has its MC identity; the external system speaks
    // plain RTCP, the MC domain sees floor control under the gateway's CSK.
    let csk = HopKey::new(0x2a11_ce01);
    let mut gw = Node::new(
        Role::SecurityGateway(GatewayMode::ClientPerUser),
        IdentityMap::new(),
        &[csk],
    );
    let s = gw
        .proxy
        .add(&SessionSpec {
            inside: side(CORE, SERVER_B, &[&csk]),
            outside: vec![side(CLIENTS, "127.0.0.60:4000", &[])],
            alias: Some(("sip:lmr-4711@a.example".into(), "lmr:4711".into())),
        })
        .unwrap();
    let ext = request(0x0e0e_0001, "lmr:4711");
    let (leg, to, out) = gw.pass(CLIENTS, addr("127.0.0.60:4000"), &ext);
    assert_eq!((leg, to), (CORE, addr(SERVER_B)));
    assert_eq!(
        open(&csk, &out),
        request(s.inside.ssrc, "sip:lmr-4711@a.example")
    );
    // And back: the external system gets plain RTCP with its own name.
    let g = granted(
        0x5e4b_0001,
        "sip:lmr-4711@a.example",
        s.inside.ssrc,
        "sip:d@a.example",
    );
    let (leg, to, back) = gw.pass(CORE, addr(SERVER_B), &seal(&csk, &g));
    assert_eq!((leg, to), (CLIENTS, addr("127.0.0.60:4000")));
    assert_eq!(
        back,
        granted(
            s.outside[0].ssrc,
            "lmr:4711",
            0x0e0e_0001,
            "sip:d@a.example"
        )
    );
}

#[test]
fn multicast_floor_control_with_an_emergency_request() {
    // A CS proxy serves a group: the server's floor messages go out once under the
    // group's MuSiK to the multicast address (every member opens the same packet) and once
    // per unicast recipient under its CSK; members request the floor over their own CSK.
    let spk = HopKey::new(0x3000_0a01);
    let musik = HopKey::new(0x6000_0007);
    let members: Vec<HopKey> = (0..4).map(|i| HopKey::new(0x2a00_0010 + i)).collect();
    let unicast = HopKey::new(0x2a00_0099);
    let mut keys = vec![spk, musik, unicast];
    keys.extend(members.iter().copied());
    let mut cs = Node::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new().pair(DISPATCH_IN, DISPATCH_OUT).unwrap(),
        &keys,
    );
    let group = "239.1.2.3:5000";
    let fan = cs
        .proxy
        .add(&SessionSpec {
            inside: side(CORE, SERVER_B, &[&spk]),
            outside: vec![
                side(CLIENTS, group, &[&musik]),
                side(CLIENTS, "127.0.0.99:5000", &[&unicast]),
            ],
            alias: None,
        })
        .unwrap();
    // Member 2 asks for the floor in an emergency over its unicast session.
    let m2 = cs.proxy.add(&session(
        side(CORE, SERVER_B, &[&spk]),
        side(CLIENTS, "127.0.0.12:5000", &[&members[2]]),
    ));
    // The core side (SERVER_B, SPK) is the fan-out's already: a second session cannot
    // receive there under the same key.
    assert!(m2.is_err());
    let spk2 = HopKey::new(0x3000_0a02);
    install(cs.engine.keys(), &spk2);
    let m2 = cs
        .proxy
        .add(&session(
            side(CORE, SERVER_B, &[&spk2]),
            side(CLIENTS, "127.0.0.12:5000", &[&members[2]]),
        ))
        .unwrap();
    let emergency = Builder::floor(MessageType::FloorRequest, false, 0x0e0e_0002)
        .u8(FieldId::FloorPriority, 15)
        .text(FieldId::UserId, "sip:m2@a.example")
        .u16(FieldId::FloorIndicator, INDICATOR_EMERGENCY)
        .finish()
        .unwrap();
    let (leg, to, up) = cs.pass(
        CLIENTS,
        addr("127.0.0.12:5000"),
        &seal(&members[2], &emergency),
    );
    assert_eq!((leg, to), (CORE, addr(SERVER_B)));
    let up = open(&spk2, &up);
    let m = parse(&up, Options::default()).unwrap();
    assert_eq!(
        m.field(FieldId::FloorIndicator),
        Some(Value::U16(INDICATOR_EMERGENCY))
    );
    assert_eq!(m.field(FieldId::FloorPriority), Some(Value::U8(15)));
    assert_eq!(m.ssrc, m2.inside.ssrc);

    // The server announces the floor taken to the group (under the fan-out's SPK).
    let taken = Builder::floor(MessageType::FloorTaken, false, 0x5e4b_0001)
        .text(FieldId::GrantedPartyIdentity, "sip:m2@a.example")
        .u16(FieldId::FloorIndicator, INDICATOR_EMERGENCY)
        .text(FieldId::FunctionalAlias, DISPATCH_IN)
        .finish()
        .unwrap();
    let mut buf = vec![0u8; 2048];
    let wire = seal(&spk, &taken);
    buf[..wire.len()].copy_from_slice(&wire);
    let v = cs.proxy.handle_datagram(
        &mut cs.engine,
        Timestamp::now(),
        CORE,
        addr(SERVER_B),
        &mut buf,
        wire.len(),
    );
    let Verdict::FanOut { session, len } = v else {
        panic!("expected a fan-out, got {v:?}")
    };
    assert_eq!(session.id, fan.id);
    let plain = buf[..len].to_vec();
    let mut a = vec![0u8; 2048];
    let mut b = vec![0u8; 2048];
    let mut outs = [&mut a[..], &mut b[..]];
    let mut verdicts = [None, None];
    cs.proxy.fan_out(
        &cs.engine,
        Timestamp::now(),
        &session,
        &plain,
        &mut outs,
        &mut verdicts,
    );
    let want = Builder::floor(MessageType::FloorTaken, false, fan.outside[0].ssrc)
        .text(FieldId::GrantedPartyIdentity, "sip:m2@a.example")
        .u16(FieldId::FloorIndicator, INDICATOR_EMERGENCY)
        .text(FieldId::FunctionalAlias, DISPATCH_OUT)
        .finish()
        .unwrap();
    let Some(Verdict::Forward { leg, to, len }) = verdicts[0].clone() else {
        panic!("{verdicts:?}")
    };
    assert_eq!((leg, to), (CLIENTS, addr(group)));
    let multicast = a[..len].to_vec();
    // One packet, every member opens it under the MuSiK.
    for _member in &members {
        assert_eq!(open(&musik, &multicast), want);
    }
    let Some(Verdict::Forward { to, len, .. }) = verdicts[1].clone() else {
        panic!("{verdicts:?}")
    };
    assert_eq!(to, addr("127.0.0.99:5000"));
    assert_eq!(open(&unicast, &b[..len]), want);
    assert_eq!(
        text(&want, FieldId::FunctionalAlias).as_deref(),
        Some(DISPATCH_OUT)
    );
}

#[test]
fn batch_and_single_agree() {
    // The same twelve requests through two identical CS proxies, one by one and as a batch.
    let spk = HopKey::new(0x3000_0a01);
    let clients: Vec<HopKey> = (0..12).map(|i| HopKey::new(0x2b00_0000 + i)).collect();
    let mut keys = vec![spk];
    keys.extend(clients.iter().copied());
    let mk = || {
        let n = Node::new(
            Role::CsProxy {
                trusted_core: false,
            },
            IdentityMap::new().pair(ALICE_IN, ALICE_OUT).unwrap(),
            &keys,
        );
        for (i, _) in clients.iter().enumerate() {
            let mut s = session(
                side(CORE, SERVER_B, &[&spk]),
                side(CLIENTS, &format!("127.0.1.{i}:5000"), &[&clients[i]]),
            );
            s.inside.ssrc = Some(0x1000 + i as u32);
            s.outside[0].ssrc = Some(0x2000 + i as u32);
            // Each needs its own core triple.
            s.inside.peer = addr(&format!("127.0.2.{i}:9000"));
            n.proxy.add(&s).unwrap();
        }
        n
    };
    let mut one = mk();
    let mut many = mk();
    let wires: Vec<Vec<u8>> = clients
        .iter()
        .enumerate()
        .map(|(i, k)| seal(k, &request(0xc000 + i as u32, ALICE_OUT)))
        .collect();
    let mut bufs: Vec<Vec<u8>> = wires
        .iter()
        .map(|w| {
            let mut b = vec![0u8; 2048];
            b[..w.len()].copy_from_slice(w);
            b
        })
        .collect();
    // One forged among them.
    bufs[5][20] ^= 0x40;
    let mut dg: Vec<mcx_engine::proxy::Datagram<'_>> = bufs
        .iter_mut()
        .enumerate()
        .map(|(i, b)| {
            let n = wires[i].len();
            mcx_engine::proxy::Datagram::new(CLIENTS, addr(&format!("127.0.1.{i}:5000")), b, n)
        })
        .collect();
    let now = Timestamp::now();
    many.proxy.handle_batch(&mut many.engine, now, &mut dg);
    let batch: Vec<(Verdict, Vec<u8>)> = dg
        .iter()
        .map(|d| {
            let v = d.verdict.clone().unwrap();
            let bytes = match &v {
                Verdict::Forward { len, .. } => d.buf[..*len].to_vec(),
                _ => Vec::new(),
            };
            (v, bytes)
        })
        .collect();
    for (i, w) in wires.iter().enumerate() {
        let mut w = w.clone();
        if i == 5 {
            w[20] ^= 0x40;
        }
        let v = one.verdict(CLIENTS, addr(&format!("127.0.1.{i}:5000")), &w);
        assert_eq!(v, batch[i].0, "packet {i}");
        if i == 5 {
            assert!(matches!(v, Verdict::Drop(Drop::Unprotect(_))));
            continue;
        }
        let Verdict::Forward { .. } = v else { panic!() };
        // Same bytes, as libsrtp opens them.
        assert_eq!(
            open(&spk, &batch[i].1),
            request(0x1000 + i as u32, ALICE_IN)
        );
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// An MCVideo Transmission Request (TS 24.581, `MCV0`) with the requester's identity.
fn video_request(ssrc: u32, user: &str) -> Vec<u8> {
    VideoBuilder::new(VideoMessage::TransmissionRequest, true, ssrc)
        .u8(VideoField::TransmissionPriority, 5)
        .text(VideoField::UserId, user)
        .u16(VideoField::TransmissionIndicator, INDICATOR_NORMAL)
        .u16(VideoField::SequenceNumber, 1)
        .finish()
        .unwrap()
}

/// An MCVideo Transmission Granted (`MCV1`): the transmitter by identity and audio SSRC,
/// the group it sends to.
fn video_granted(ssrc: u32, user: &str, audio: u32, group: &str) -> Vec<u8> {
    VideoBuilder::new(VideoMessage::TransmissionGranted, false, ssrc)
        .u16(VideoField::Duration, 60)
        .text(VideoField::TransmittingUserId, user)
        .ssrc(VideoField::AudioSsrc, audio)
        .text(VideoField::GroupIdentity, group)
        .finish()
        .unwrap()
}

#[test]
fn video_transmission_control_crosses_both_domains_rewritten() {
    let mut d = two_domains();
    let alice_ssrc = 0xa11c_e0f0;
    let server_ssrc = 0x5e4b_0002;
    const FLEET_IN: &str = "sip:fleet@video.b.internal";

    // The request, client to server: each hop's SSRC, alice internal only inside A.
    let wire = seal(&d.csk, &video_request(alice_ssrc, ALICE_OUT));
    let (leg, to, hop1) = d.cs_a.pass(CLIENTS, addr(CLIENT), &wire);
    assert_eq!((leg, to), (CORE, addr(IS_A_CORE)));
    assert_eq!(
        open(&d.spk_a, &hop1),
        video_request(d.s_cs_a.inside.ssrc, ALICE_IN)
    );
    let (_, to, hop2) = d.is_a.pass(CORE, addr(CS_A_CORE), &hop1);
    assert_eq!(to, addr(IS_B_OUT));
    assert_eq!(
        open(&d.spk_ab1, &hop2),
        video_request(d.s_is_a.outside[0].ssrc, ALICE_OUT)
    );
    let (_, to, hop3) = d.is_b.pass(CLIENTS, addr(IS_A_OUT), &hop2);
    assert_eq!(to, addr(SERVER_B));
    assert_eq!(hop3, video_request(d.s_is_b.inside.ssrc, ALICE_OUT));

    // The grant back: the audio SSRC names alice as each side knows her, the group of
    // domain B's hidden domain leaves B as B's external identity.
    let grant = video_granted(server_ssrc, ALICE_OUT, d.s_is_b.inside.ssrc, FLEET_IN);
    let (_, to, hop4) = d.is_b.pass(CORE, addr(SERVER_B), &grant);
    assert_eq!(to, addr(IS_A_OUT));
    assert_eq!(
        open(&d.spk_ab1, &hop4),
        video_granted(
            d.s_is_b.outside[0].ssrc,
            ALICE_OUT,
            d.s_is_a.outside[0].ssrc,
            "sip:proxy@b.example"
        )
    );
    let (_, to, hop5) = d.is_a.pass(CLIENTS, addr(IS_B_OUT), &hop4);
    assert_eq!(to, addr(CS_A_CORE));
    assert_eq!(
        open(&d.spk_a, &hop5),
        video_granted(
            d.s_is_a.inside.ssrc,
            ALICE_IN,
            d.s_cs_a.inside.ssrc,
            "sip:proxy@b.example"
        )
    );
    let (_, to, hop6) = d.cs_a.pass(CORE, addr(IS_A_CORE), &hop5);
    assert_eq!(to, addr(CLIENT));
    let got = open(&d.csk, &hop6);
    assert_eq!(
        got,
        video_granted(
            d.s_cs_a.outside[0].ssrc,
            ALICE_OUT,
            alice_ssrc,
            "sip:proxy@b.example"
        )
    );
    let v = video::parse(&got, Unknown::Reject).unwrap();
    assert_eq!(v.message, VideoMessage::TransmissionGranted);
    // Nothing internal on any hop outside its domain.
    for p in [&hop2, &hop4] {
        let plain = open(&d.spk_ab1, p);
        assert!(!contains(&plain, b"internal"), "{plain:02x?}");
    }
}

#[test]
fn a_rekey_leaves_no_moment_without_the_session() {
    use mcx_engine::proxy::Match;
    let (csk1, csk2, spk) = (
        HopKey::new(0x2a11_ce11),
        HopKey::new(0x2a11_ce12),
        HopKey::new(0x3000_0a11),
    );
    let proxy = Arc::new(Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new(),
    ));
    proxy
        .add(&session(
            side(CORE, IS_A_CORE, &[&spk]),
            side(CLIENTS, CLIENT, &[&csk1]),
        ))
        .unwrap();
    // A packet from the core under the SPK, whose side the rekey of the CSK rebuilds.
    let from_core = seal(&spk, &request(0x5e4b_0009, ALICE_IN));
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let looked = Arc::new(AtomicU64::new(0));
    let reader = {
        let (proxy, stop, looked, pkt) = (
            Arc::clone(&proxy),
            Arc::clone(&stop),
            Arc::clone(&looked),
            from_core.clone(),
        );
        std::thread::spawn(move || {
            let (mut seen, mut missed) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                match proxy.classify(CORE, &addr(IS_A_CORE), &pkt) {
                    Match::Keyed(_) => seen += 1,
                    _ => missed += 1,
                }
                looked.fetch_add(1, Ordering::Relaxed);
            }
            (seen, missed)
        })
    };
    // Rekeys back and forth until the reader has looked up the session many times while they
    // ran and at least 400 rekeys are done; bounded by 20 000 rekeys and 20 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut rekeys = 0u32;
    while rekeys < 20_000 && std::time::Instant::now() < deadline {
        let (from, to) = if rekeys.is_multiple_of(2) {
            (&csk1, &csk2)
        } else {
            (&csk2, &csk1)
        };
        assert_eq!(proxy.rekey(from.key_id(), to.key_id()), Ok(1));
        rekeys += 1;
        if rekeys >= 400 && looked.load(Ordering::Relaxed) >= 10_000 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (seen, missed) = reader.join().unwrap();
    assert!(seen > 0);
    assert_eq!(
        missed,
        0,
        "the session was missing {missed} times of {}",
        seen + missed
    );
}
