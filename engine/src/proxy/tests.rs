use super::*;
use crate::keys::KeyId;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn key(id: u32) -> KeyId {
    KeyId::new(id).unwrap()
}

#[test]
fn identity_map_is_one_to_one_and_hides_domains() {
    let m = IdentityMap::new()
        .pair("sip:a@x.internal", "sip:a@x.example")
        .unwrap()
        .hide_domain("x.internal")
        .external("sip:proxy@x.example")
        .unwrap();
    let map = |id: &str, dir| {
        m.map(id.as_bytes(), dir)
            .map(|v| std::str::from_utf8(v).unwrap())
    };
    assert_eq!(
        map("sip:a@x.internal", Direction::Outward),
        Some("sip:a@x.example")
    );
    assert_eq!(
        map("sip:a@x.example", Direction::Inward),
        Some("sip:a@x.internal")
    );
    // Not in the map but in a hidden domain (or a subdomain): the proxy's identity.
    for id in [
        "sip:b@x.internal",
        "sip:c@ptt.X.Internal;user=x",
        "d@x.internal",
    ] {
        assert_eq!(
            map(id, Direction::Outward),
            Some("sip:proxy@x.example"),
            "{id}"
        );
    }
    // Other domains, or a domain that merely ends the same way, pass.
    for id in ["sip:b@y.example", "sip:b@notx.internal", "tel:+4930123"] {
        assert_eq!(map(id, Direction::Outward), None, "{id}");
    }
    assert_eq!(map("sip:b@x.internal", Direction::Inward), None);
    // One to one.
    assert!(
        m.clone()
            .pair("sip:a@x.internal", "sip:z@x.example")
            .is_err()
    );
    assert!(
        m.clone()
            .pair("sip:z@x.internal", "sip:a@x.example")
            .is_err()
    );
    // A pair removed: both ways gone, the rest kept; removing it again is refused.
    let less = m.clone().without("sip:a@x.internal").unwrap();
    assert_eq!(less.map(b"sip:a@x.example", Direction::Inward), None);
    assert_eq!(less.len(), 0);
    assert_eq!(
        less.clone().without("sip:a@x.internal").err(),
        Some(MapError::NotMapped("sip:a@x.internal".into()))
    );
    assert_eq!(
        m.pairs().collect::<Vec<_>>(),
        [(&b"sip:a@x.internal"[..], &b"sip:a@x.example"[..])]
    );
    assert!(IdentityMap::new().pair("", "x").is_err());
    assert!(IdentityMap::new().pair("x", &"y".repeat(256)).is_err());
}

fn cs_session(client: &str, csk: u32, core: &str, spk: u32) -> SessionSpec {
    SessionSpec {
        inside: SideSpec::new(1, addr(core), &[key(spk)]),
        outside: vec![SideSpec::new(0, addr(client), &[key(csk)])],
        alias: None,
    }
}

#[test]
fn sessions_add_remove_and_follow_a_rekey() {
    let p = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new(),
    );
    let a = p
        .add(&cs_session(
            "10.0.0.1:1",
            0x2000_0001,
            "10.0.1.1:1",
            0x3000_0001,
        ))
        .unwrap();
    let b = p
        .add(&cs_session(
            "10.0.0.2:1",
            0x2000_0002,
            "10.0.1.1:2",
            0x3000_0001,
        ))
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(p.len(), 2);
    let g = p.read();
    assert!(
        p.find(&g, 0, &addr("10.0.0.1:1"), Some(key(0x2000_0001)))
            .is_some()
    );
    assert!(
        p.find(&g, 0, &addr("10.0.0.1:1"), Some(key(0x2000_0002)))
            .is_none()
    );
    drop(g);
    // A rekey the role refuses (an SPK toward a client) changes nothing.
    assert!(matches!(
        p.rekey(key(0x2000_0001), key(0x3000_0009)),
        Err(SessionError::Role(_))
    ));
    let g = p.read();
    assert!(
        p.find(&g, 0, &addr("10.0.0.1:1"), Some(key(0x2000_0001)))
            .is_some()
    );
    drop(g);
    assert_eq!(p.len(), 2);
    // A CSK replaced by key download: the session follows it, keeping its number and SSRCs.
    assert_eq!(p.rekey(key(0x2000_0001), key(0x2000_0011)).unwrap(), 1);
    let g = p.read();
    assert!(
        p.find(&g, 0, &addr("10.0.0.1:1"), Some(key(0x2000_0001)))
            .is_none()
    );
    let e = p
        .find(&g, 0, &addr("10.0.0.1:1"), Some(key(0x2000_0011)))
        .unwrap();
    assert_eq!(e.session.inside.ssrc, a.inside.ssrc);
    assert_eq!(e.session.outside[0].ssrc, a.outside[0].ssrc);
    let id = e.session.id;
    assert_eq!(id, a.id);
    drop(g);
    p.remove(id).unwrap();
    assert_eq!(p.remove(id), Err(SessionError::Unknown(id)));
    assert_eq!(p.len(), 1);
    // An SSRC the proxy was told to use twice.
    let mut c = cs_session("10.0.0.3:1", 0x2000_0003, "10.0.1.1:3", 0x3000_0001);
    c.inside.ssrc = Some(b.inside.ssrc);
    assert_eq!(
        p.add(&c).err(),
        Some(SessionError::SsrcTaken(b.inside.ssrc))
    );
}

#[test]
fn a_side_learns_its_peer_ssrc_once() {
    let s = Side::new_for_test(1, &[key(0x3000_0001), key(0x3000_0002)]);
    assert_eq!(s.peer_ssrc(), None);
    assert_eq!(s.key(), Some(key(0x3000_0001)));
    assert!(s.saw(7, Some(key(0x3000_0002))));
    assert_eq!(s.peer_ssrc(), Some(7));
    assert_eq!(
        s.key(),
        Some(key(0x3000_0002)),
        "answers under the peer's choice"
    );
    assert!(s.saw(7, None));
    assert!(!s.saw(8, Some(key(0x3000_0001))));
    assert_eq!(
        s.key(),
        Some(key(0x3000_0002)),
        "a refused packet changes nothing"
    );
}

#[test]
fn gateway_7_2_gives_each_external_user_its_own_identity() {
    let p = Proxy::new(
        Role::SecurityGateway(GatewayMode::ClientPerUser),
        IdentityMap::new(),
    );
    let spec = |ext: &str, peer: &str, csk: u32, mc: &str| SessionSpec {
        inside: SideSpec::new(1, addr("10.0.1.1:1"), &[key(csk)]),
        outside: vec![SideSpec::new(0, addr(peer), &[])],
        alias: Some((mc.to_owned(), ext.to_owned())),
    };
    p.add(&spec("lmr:1", "10.0.0.1:1", 0x2000_0001, "sip:g1@a"))
        .unwrap();
    // Another external user may not take the first one's MC identity.
    assert!(matches!(
        p.add(&spec("lmr:2", "10.0.0.2:1", 0x2000_0002, "sip:g1@a")),
        Err(SessionError::Role(_))
    ));
    p.add(&spec("lmr:2", "10.0.0.2:1", 0x2000_0002, "sip:g2@a"))
        .unwrap();
}

#[test]
fn sessions_of_the_wrong_shape_are_refused() {
    let p = Proxy::new(
        Role::CsProxy {
            trusted_core: false,
        },
        IdentityMap::new(),
    );
    // The same key twice on a side.
    let mut twice = cs_session("10.0.0.1:1", 0x2000_0001, "10.0.1.1:1", 0x3000_0001);
    twice.outside[0].keys.push(key(0x2000_0001));
    assert!(matches!(p.add(&twice), Err(SessionError::Taken { .. })));
    // Fan-out targets with their own SSRCs or numberings: the packet is rewritten once.
    let mut fan = cs_session("239.1.1.1:1", 0x6000_0001, "10.0.1.1:2", 0x3000_0001);
    fan.outside
        .push(SideSpec::new(0, addr("10.0.0.2:1"), &[key(0x2000_0002)]));
    let mut own = fan.clone();
    own.outside[1].ssrc = Some(7);
    assert!(matches!(p.add(&own), Err(SessionError::Shape(_))));
    let mut legacy = fan.clone();
    legacy.outside[1].profile = crate::floor::Profile::Legacy;
    assert!(matches!(p.add(&legacy), Err(SessionError::Shape(_))));
    // An empty alias.
    let mut alias = cs_session("10.0.0.3:1", 0x2000_0003, "10.0.1.1:3", 0x3000_0001);
    alias.alias = Some((String::new(), "x".into()));
    assert!(matches!(p.add(&alias), Err(SessionError::Shape(_))));
    assert!(p.is_empty());
    let f = p.add(&fan).unwrap();
    assert_eq!(f.outside[0].ssrc, f.outside[1].ssrc);
    // A lone MBMS bearer under its MSCCK is a fan-out of one: nothing is received from
    // the bearer's address. A lone side under a CSK stays a unicast session.
    let bearer = cs_session("239.1.1.2:1", 0x5000_0001, "10.0.1.1:4", 0x3000_0001);
    let b = p.add(&bearer).unwrap();
    assert!(b.is_fan_out());
    let g = p.read();
    assert!(
        p.find(&g, 0, &addr("239.1.1.2:1"), Some(key(0x5000_0001)))
            .is_none()
    );
    assert!(
        p.find(&g, 1, &addr("10.0.1.1:4"), Some(key(0x3000_0001)))
            .is_some()
    );
    drop(g);
    let unicast = cs_session("10.0.0.9:1", 0x2000_0009, "10.0.1.1:5", 0x3000_0001);
    assert!(!p.add(&unicast).unwrap().is_fan_out());
}
