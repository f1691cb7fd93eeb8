//! The proxy roles on the relay, with real sockets on loopback: three relays (domain A's CS
//! proxy and IS proxy, domain B's IS proxy, two workers each, one on io_uring where the
//! kernel allows and one on recvmmsg), a client socket protecting with libsrtp and a
//! server socket in clear. A Floor Request goes from the client to the server and the
//! Floor Granted comes back; what arrives at each end is compared octet for octet with
//! the packet built independently here, and the sessions were added over the control
//! socket's JSON.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use mcx_engine::floor::{Builder, FieldId, INDICATOR_NORMAL, MessageType};
use mcx_engine::keys::Service;
use mcx_engine::store::SrtpInstall;
use mcx_engine::time::Timestamp;
use mcx_io::relay::{Control, IoChoice, ProxySection, Relay};
use mcx_tests::relay::{HopKey, config, leg, socket};
use serde_json::Value;

fn proxy_relay(
    io: IoChoice,
    role: &str,
    trusted_core: bool,
    map: &[(&str, &str)],
    hide: &str,
) -> Relay {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut c = config(io, 2, any, any);
    c.proxy = Some(ProxySection {
        role: role.into(),
        trusted_core,
        // Domain x's internal names are under x.internal, its external ones under x.example.
        external_identity: Some(format!(
            "sip:proxy@{}",
            hide.replace(".internal", ".example")
        )),
        hide_domains: vec![hide.into()],
        identity: map
            .iter()
            .map(|(i, e)| mcx_io::relay::IdentityPair {
                internal: (*i).into(),
                external: (*e).into(),
            })
            .collect(),
        ..ProxySection::default()
    });
    Relay::start(&c).expect("relay starts")
}

fn install(c: &Control, k: &HopKey) {
    c.store()
        .install_srtp(
            &SrtpInstall::new(&k.key, &k.salt, k.key_id(), Service::Mcptt),
            Timestamp::now(),
        )
        .unwrap();
}

fn side(leg: &str, peer: SocketAddr, keys: &[&HopKey]) -> Value {
    let keys: Vec<String> = keys.iter().map(|k| format!("{:08x}", k.id)).collect();
    serde_json::json!({"leg": leg, "peer": peer.to_string(), "keys": keys})
}

/// Adds a session over the control socket's JSON; returns (inside SSRC, outside SSRC).
fn add(c: &Control, inside: Value, outside: Value) -> (u32, u32) {
    let line = serde_json::json!({"op": "session.add", "inside": inside, "outside": [outside]});
    let r: Value = serde_json::from_str(&c.handle_line(&line.to_string())).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    (
        r["inside_ssrc"].as_u64().unwrap() as u32,
        r["outside_ssrcs"][0].as_u64().unwrap() as u32,
    )
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
        .text(FieldId::UserId, user)
        .ssrc(granted_ssrc)
        .text(FieldId::FunctionalAlias, alias)
        .finish()
        .unwrap()
}

fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut b = [0u8; 2048];
    for _ in 0..20 {
        if let Ok((n, _)) = s.recv_from(&mut b) {
            return b[..n].to_vec();
        }
    }
    panic!("nothing arrived");
}

#[test]
fn floor_request_through_three_proxy_relays_and_back() {
    let csk = HopKey::new(0x2a11_ce01);
    let spk_a = HopKey::new(0x3000_0a01);
    let spk_ab = HopKey::new(0x3000_ab01);
    let alice = ("sip:alice@ptt.a.internal", "sip:alice@a.example");
    let dispatch = ("sip:dispatch@ptt.b.internal", "sip:dispatch@b.example");
    let cs_a = proxy_relay(IoChoice::Auto, "cs-proxy", false, &[alice], "a.internal");
    let is_a = proxy_relay(IoChoice::Mmsg, "is-proxy", false, &[alice], "a.internal");
    let is_b = proxy_relay(IoChoice::Auto, "is-proxy", true, &[dispatch], "b.internal");
    let (cs, isa, isb) = (cs_a.control(), is_a.control(), is_b.control());
    install(&cs, &csk);
    install(&cs, &spk_a);
    install(&isa, &spk_a);
    install(&isa, &spk_ab);
    install(&isb, &spk_ab);
    let client = socket("127.0.0.1:0");
    let server = socket("127.0.0.1:0");
    let (c_addr, s_addr) = (client.local_addr().unwrap(), server.local_addr().unwrap());

    // The "clients" leg is each relay's outside, "core" its inside.
    let (cs_in, cs_out) = add(
        &cs,
        side("core", leg(&isa, "core"), &[&spk_a]),
        side("clients", c_addr, &[&csk]),
    );
    let (isa_in, isa_out) = add(
        &isa,
        side("core", leg(&cs, "core"), &[&spk_a]),
        side("clients", leg(&isb, "clients"), &[&spk_ab]),
    );
    let (isb_in, isb_out) = add(
        &isb,
        side("core", s_addr, &[]),
        side("clients", leg(&isa, "clients"), &[&spk_ab]),
    );

    // Up: the client's Floor Request, under its CSK.
    let alice_ssrc = 0xa11c_e000;
    let mut tx = csk.sender();
    let req = request(alice_ssrc, alice.1);
    let mut b = req.clone();
    b.resize(req.len() + 64, 0);
    let n = tx.protect(&mut b, req.len()).unwrap();
    let wire = b[..n].to_vec();
    client.send_to(&wire, leg(&cs, "clients")).unwrap();
    // The server, in domain B's trusted core, gets it in clear from IS proxy B's SSRC;
    // alice's external identity is what crossed into B.
    let at_server = recv(&server);
    assert_eq!(at_server, request(isb_in, alice.1));

    // Down: the grant names the granted party by the SSRC the server knows.
    let g = granted(0x5e4b_0001, alice.1, isb_in, dispatch.0);
    server.send_to(&g, leg(&isb, "core")).unwrap();
    let at_client = recv(&client);
    let mut rx = csk.receiver();
    let mut open = at_client.clone();
    let n = rx
        .unprotect(&mut open)
        .expect("libsrtp opens the client's packet");
    // From CS proxy A's own SSRC, naming alice by her own SSRC, B's dispatcher by its
    // external alias.
    assert_eq!(
        open[..n],
        granted(cs_out, alice.1, alice_ssrc, dispatch.1)[..]
    );
    // Every proxy side showed its own SSRC.
    let all = [cs_in, cs_out, isa_in, isa_out, isb_in, isb_out];
    for (i, a) in all.iter().enumerate() {
        assert!(!all[i + 1..].contains(a));
        assert_ne!(*a, alice_ssrc);
    }

    // The sessions as the control socket lists them; a session's SSRC learned from traffic.
    let l: Value = serde_json::from_str(&cs.handle_line(r#"{"op":"sessions"}"#)).unwrap();
    assert_eq!(l["role"], "cs-proxy");
    assert_eq!(l["sessions"][0]["outside"][0]["peer_ssrc"], alice_ssrc);
    // Forged traffic is counted, not forwarded.
    let mut forged = wire.clone();
    forged[13] ^= 1;
    client.send_to(&forged, leg(&cs, "clients")).unwrap();
    client
        .send_to(&[0x80, 0xcc, 0, 1], leg(&cs, "clients"))
        .unwrap();
    assert!(mcx_tests::relay::eventually(Duration::from_secs(2), || {
        let d = cs.stats().dropped;
        d.auth + d.replay + d.malformed + d.no_route >= 2
    }));
    assert!(
        server.recv_from(&mut [0u8; 64]).is_err(),
        "nothing more reached the server"
    );

    // A session that the role refuses: an SPK toward a client.
    let line = serde_json::json!({"op": "session.add",
        "inside": side("core", s_addr, &[&spk_a]),
        "outside": [side("clients", "127.0.0.1:9".parse().unwrap(), &[&spk_a])]});
    let r: Value = serde_json::from_str(&cs.handle_line(&line.to_string())).unwrap();
    assert_eq!(r["ok"], false, "{r}");
    assert!(r["error"].as_str().unwrap().contains("SPK"), "{r}");
    // Removing the session stops the traffic.
    let id = l["sessions"][0]["id"].as_u64().unwrap();
    let r = cs.handle_line(&format!(r#"{{"op":"session.remove","id":{id}}}"#));
    assert!(r.contains("true"), "{r}");
    let before = cs.stats().dropped.no_route;
    let mut b = req.clone();
    b.resize(req.len() + 64, 0);
    let n = tx.protect(&mut b, req.len()).unwrap();
    client.send_to(&b[..n], leg(&cs, "clients")).unwrap();
    assert!(mcx_tests::relay::eventually(Duration::from_secs(2), || {
        cs.stats().dropped.no_route > before
    }));
}

#[test]
fn fan_out_over_the_relay() {
    // A CS proxy relay serving a group: one MuSiK packet to the group's address (a loopback
    // socket stands for it) and one per unicast recipient under its CSK, from one packet of
    // the server under the SPK.
    let spk = HopKey::new(0x3000_0a01);
    let musik = HopKey::new(0x6000_0007);
    let u1 = HopKey::new(0x2a00_0001);
    let u2 = HopKey::new(0x2a00_0002);
    let cs_a = proxy_relay(IoChoice::Auto, "cs-proxy", false, &[], "a.internal");
    let cs = cs_a.control();
    for k in [&spk, &musik, &u1, &u2] {
        install(&cs, k);
    }
    let server = socket("127.0.0.1:0");
    let group = socket("127.0.0.1:0");
    let r1 = socket("127.0.0.1:0");
    let r2 = socket("127.0.0.1:0");
    let line = serde_json::json!({"op": "session.add",
    "inside": side("core", server.local_addr().unwrap(), &[&spk]),
    "outside": [
        side("clients", group.local_addr().unwrap(), &[&musik]),
        side("clients", r1.local_addr().unwrap(), &[&u1]),
        side("clients", r2.local_addr().unwrap(), &[&u2]),
    ]});
    let r: Value = serde_json::from_str(&cs.handle_line(&line.to_string())).unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let own = r["outside_ssrcs"][0].as_u64().unwrap() as u32;
    let taken = Builder::floor(MessageType::FloorTaken, false, 0x5e4b_0001)
        .text(FieldId::GrantedPartyIdentity, "sip:m2@a.example")
        .u16(
            FieldId::FloorIndicator,
            mcx_engine::floor::INDICATOR_EMERGENCY,
        )
        .text(FieldId::UserId, "sip:boss@ptt.a.internal")
        .finish()
        .unwrap();
    let mut tx = spk.sender();
    let mut b = taken.clone();
    b.resize(taken.len() + 64, 0);
    let n = tx.protect(&mut b, taken.len()).unwrap();
    server.send_to(&b[..n], leg(&cs, "core")).unwrap();
    // The hidden domain's name became the proxy's external identity.
    let want = Builder::floor(MessageType::FloorTaken, false, own)
        .text(FieldId::GrantedPartyIdentity, "sip:m2@a.example")
        .u16(
            FieldId::FloorIndicator,
            mcx_engine::floor::INDICATOR_EMERGENCY,
        )
        .text(FieldId::UserId, "sip:proxy@a.example")
        .finish()
        .unwrap();
    let m = recv(&group);
    for _member in 0..3 {
        let mut rx = musik.receiver();
        let mut p = m.clone();
        let n = rx
            .unprotect(&mut p)
            .expect("every member opens the one packet");
        assert_eq!(p[..n], want[..]);
    }
    for (s, k) in [(&r1, &u1), (&r2, &u2)] {
        let mut p = recv(s);
        let n = k
            .receiver()
            .unprotect(&mut p)
            .expect("the recipient's CSK opens it");
        assert_eq!(p[..n], want[..]);
    }
    assert!(
        group.recv_from(&mut [0u8; 64]).is_err(),
        "one packet to the group"
    );
}

#[test]
fn key_rules_over_the_control_socket() {
    let r = proxy_relay(IoChoice::Mmsg, "cs-proxy", false, &[], "a.internal");
    let c = r.control();
    let line = |s: String| -> Value { serde_json::from_str(&c.handle_line(&s)).unwrap() };
    let upload = |id: &str, key: &str, peer: &str| {
        format!(
            r#"{{"op":"key.install","via":"upload","key":"{key}","key_id":"{id}","rand":"{r}","service":"mcptt","owner":"sip:alice@a.example","impu":"sip:+4930@ims.a.example","peer":"{peer}","algorithms":{{"supported":["aes128-gcm","aes256-gcm"],"selected":"aes128-gcm"}}}}"#,
            r = "77".repeat(16)
        )
    };
    let a = line(upload("2a00000a", &"a1".repeat(16), "sip:cs-a@a.example"));
    assert_eq!(
        (a["ok"].clone(), a["key_id"].clone()),
        (true.into(), "2a00000a".into()),
        "{a}"
    );
    // The same client through URI B: it keeps CSK_A.
    let b = line(upload("2b00000b", &"b2".repeat(16), "sip:cs-b@a.example"));
    assert_eq!(b["aliased"], true, "{b}");
    assert_eq!(b["key_id"], "2a00000a");
    // A key download toward URI A replaces CSK_A there; URI B still uses it, so it stays.
    let download = |id: &str, key: &str, peer: &str| {
        upload(id, key, peer).replace("\"via\":\"upload\"", "\"via\":\"download\"")
    };
    let d = line(download("2c00000c", &"c3".repeat(16), "sip:cs-a@a.example"));
    assert_eq!(d["replaced"], "2a00000a", "{d}");
    let csk_a = mcx_engine::keys::KeyId::new(0x2a00_000a).unwrap();
    assert!(c.store().info(csk_a).is_some());
    // Once URI B gets its own by download too, nothing uses CSK_A: it is discarded.
    let d = line(download("2e00000e", &"e5".repeat(16), "sip:cs-b@a.example"));
    assert_eq!(d["replaced"], "2a00000a", "{d}");
    assert!(c.store().info(csk_a).is_none());
    // Refusals change nothing.
    for (bad, says) in [
        (
            upload("2d00000d", &"d4".repeat(16), "x").replace("upload", "sideways"),
            "via",
        ),
        (
            upload("2d00000d", &"d4".repeat(16), "x").replace("aes128-gcm\"}", "des\"}"),
            "algorithms",
        ),
        (
            upload("2d00000d", &"d4".repeat(16), "x").replace("\"sip:+4930@ims.a.example\"", "7"),
            "impu",
        ),
    ] {
        let r = line(bad);
        assert_eq!(r["ok"], false, "{r}");
        assert!(r["error"].as_str().unwrap().contains(says), "{r}");
    }
    assert!(
        c.store()
            .info(mcx_engine::keys::KeyId::new(0x2d00_000d).unwrap())
            .is_none()
    );
    // A raw SPK bound to its interconnection end-point.
    let s = line(format!(
        r#"{{"op":"key.install_srtp","key_id":"3000ab01","master_key":"{}","master_salt":"{}","peer":"is-b.example:7000"}}"#,
        "31".repeat(16),
        "32".repeat(12)
    ));
    assert_eq!(s["ok"], true, "{s}");
    assert_eq!(
        c.store()
            .key_for(mcx_engine::keys::Purpose::Spk, "", "is-b.example:7000")
            .map(|k| k.get()),
        Some(0x3000_ab01)
    );
}

#[test]
fn identity_pairs_change_while_packets_flow() {
    // A CS proxy relay with an empty map and no hidden domain: bob's identity crosses as
    // it is until a pair for him is added over the control socket, and again once removed.
    let csk = HopKey::new(0x2a11_ce21);
    let spk = HopKey::new(0x3000_0a21);
    let relay = proxy_relay(IoChoice::Auto, "cs-proxy", false, &[], "none.internal");
    let c = relay.control();
    install(&c, &csk);
    install(&c, &spk);
    let client = socket("127.0.0.1:0");
    let core = socket("127.0.0.1:0");
    let (inside, _) = add(
        &c,
        side("core", core.local_addr().unwrap(), &[&spk]),
        side("clients", client.local_addr().unwrap(), &[&csk]),
    );
    let mut tx = csk.sender();
    let mut rx = spk.receiver();
    let mut through = |user: &str| {
        let req = request(0xb0b0_0001, user);
        let mut b = req.clone();
        b.resize(req.len() + 64, 0);
        let n = tx.protect(&mut b, req.len()).unwrap();
        client.send_to(&b[..n], leg(&c, "clients")).unwrap();
        let mut got = recv(&core);
        let n = rx.unprotect(&mut got).expect("libsrtp opens the core hop");
        got.truncate(n);
        got
    };
    let ctl = |line: &str| -> Value { serde_json::from_str(&c.handle_line(line)).unwrap() };
    let (bob_in, bob_out) = ("sip:bob@ptt.a.internal", "sip:bob@a.example");
    assert_eq!(through(bob_out), request(inside, bob_out));

    let r = ctl(&format!(
        r#"{{"op":"identity.add","internal":"{bob_in}","external":"{bob_out}"}}"#
    ));
    assert_eq!(
        (r["ok"].clone(), r["pairs"].clone()),
        (true.into(), 1.into()),
        "{r}"
    );
    assert_eq!(through(bob_out), request(inside, bob_in));
    // Refused, and the map is as it was: a second pair for bob, an empty identity, an
    // unknown one to remove, a missing field.
    for bad in [
        format!(r#"{{"op":"identity.add","internal":"{bob_in}","external":"sip:b2@a.example"}}"#),
        r#"{"op":"identity.add","internal":"","external":"sip:x@a.example"}"#.to_owned(),
        r#"{"op":"identity.remove","internal":"sip:nobody@ptt.a.internal"}"#.to_owned(),
        r#"{"op":"identity.add","internal":"sip:x@ptt.a.internal"}"#.to_owned(),
    ] {
        let r = ctl(&bad);
        assert_eq!(r["ok"], false, "{bad}: {r}");
        assert!(!r["error"].as_str().unwrap().is_empty());
    }
    let l = ctl(r#"{"op":"identities"}"#);
    assert_eq!(
        l["pairs"],
        serde_json::json!([{"internal": bob_in, "external": bob_out}])
    );
    assert_eq!(through(bob_out), request(inside, bob_in));

    let r = ctl(&format!(
        r#"{{"op":"identity.remove","internal":"{bob_in}"}}"#
    ));
    assert_eq!(r["pairs"], 0, "{r}");
    assert_eq!(through(bob_out), request(inside, bob_out));
}
