use super::*;

/// A Floor Taken carrying one of every field, by current IDs.
fn every_field(profile: Profile) -> Vec<u8> {
    Builder::floor(MessageType::FloorTaken, true, 0x1122_3344)
        .profile(profile)
        .u8(FieldId::FloorPriority, 7)
        .u16(FieldId::Duration, 30)
        .reject_cause(3, "no")
        .queue_info(2, 9)
        .text(FieldId::GrantedPartyIdentity, "sip:alice@a.example")
        .u16(FieldId::PermissionToRequest, 1)
        .text(FieldId::UserId, "sip:bob@a.example")
        .u16(FieldId::QueueSize, 4)
        .u16(FieldId::SequenceNumber, 0x1234)
        .text(FieldId::QueuedUserId, "sip:carol@a.example")
        .u16(FieldId::Source, 2)
        .track_info(1, "participating", &[0xa1a2_a3a4, 5])
        .u8(FieldId::MessageType, 1)
        .u16(FieldId::FloorIndicator, INDICATOR_EMERGENCY)
        .ssrc(0xcafe_f00d)
        .texts(FieldId::ListOfGrantedUsers, &["sip:d@a", "sip:e@a"])
        .ssrcs(&[1, 2, 0x1122_3344])
        .text(FieldId::FunctionalAlias, "driver@a")
        .texts(FieldId::ListOfFunctionalAliases, &["x", "yy"])
        .location(Location {
            kind: 6,
            value: &[1, 2, 3, 4, 5, 6],
        })
        .locations(&[
            Location {
                kind: 5,
                value: &[9],
            },
            Location {
                kind: 0,
                value: &[],
            },
        ])
        .finish()
        .unwrap()
}

#[test]
fn every_field_reads_back() {
    for profile in [Profile::Current, Profile::Legacy] {
        let p = every_field(profile);
        let m = parse(
            &p,
            Options {
                profile,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(m.message_type(), Some(MessageType::FloorTaken));
        assert!(m.ack_required());
        assert_eq!(m.subtype, 0x12);
        assert_eq!(m.ssrc, 0x1122_3344);
        let ids: Vec<FieldId> = m.fields().map(|f| f.id.unwrap()).collect();
        assert_eq!(ids, FieldId::ALL.to_vec());
        assert_eq!(m.field(FieldId::FloorPriority), Some(Value::U8(7)));
        assert_eq!(
            m.field(FieldId::RejectCause),
            Some(Value::RejectCause {
                cause: 3,
                phrase: "no"
            })
        );
        assert_eq!(
            m.field(FieldId::UserId),
            Some(Value::Text("sip:bob@a.example"))
        );
        assert_eq!(m.field(FieldId::Ssrc), Some(Value::Ssrc(0xcafe_f00d)));
        let t = m.field(FieldId::TrackInfo).unwrap();
        assert_eq!(t.words().collect::<Vec<_>>(), [0xa1a2_a3a4, 5]);
        let g = m.field(FieldId::ListOfGrantedUsers).unwrap();
        assert_eq!(g.texts().collect::<Vec<_>>(), ["sip:d@a", "sip:e@a"]);
        let s = m.field(FieldId::ListOfSsrcs).unwrap();
        assert_eq!(s.words().collect::<Vec<_>>(), [1, 2, 0x1122_3344]);
        let l = m.field(FieldId::ListOfLocations).unwrap();
        assert_eq!(l.locations().map(|l| l.kind).collect::<Vec<_>>(), [5, 0]);
        // Each field's wire ID is the profile's.
        let wires: Vec<u8> = m.fields().map(|f| f.wire_id).collect();
        let want: Vec<u8> = FieldId::ALL.iter().map(|f| f.wire(profile)).collect();
        assert_eq!(wires, want);
    }
}

#[test]
fn layout_on_the_wire() {
    // TS 24.380 §8.1.2 / §8.2.3: a Floor Request with Floor Priority 5 and User ID "ab",
    // written out by hand.
    let p = Builder::floor(MessageType::FloorRequest, false, 0xdead_beef)
        .u8(FieldId::FloorPriority, 5)
        .text(FieldId::UserId, "ab")
        .finish()
        .unwrap();
    assert_eq!(
        p,
        [
            0x80, 204, 0, 4, 0xde, 0xad, 0xbe, 0xef, b'M', b'C', b'P', b'T', // header
            0, 2, 5, 0, // Floor Priority: ID 0, length 2, priority 5, spare
            6, 2, b'a', b'b', // User ID: ID 6, length 2, "ab", no padding needed
        ]
    );
    // A legacy peer's IDs for the same fields.
    let l = Builder::floor(MessageType::FloorRequest, false, 1)
        .profile(Profile::Legacy)
        .u8(FieldId::FloorPriority, 5)
        .text(FieldId::UserId, "ab")
        .finish()
        .unwrap();
    assert_eq!((l[12], l[16]), (102, 109));
    // Read with the wrong profile, 102 is unknown.
    assert_eq!(parse(&l, Options::default()), Err(Error::UnknownField(102)));
}

#[test]
fn all_message_types_build_and_parse() {
    for t in MessageType::ALL {
        for ack in [false, true] {
            let b = Builder::floor(t, ack, 9)
                .u16(FieldId::SequenceNumber, 1)
                .finish();
            if ack && !t.may_require_ack() {
                assert_eq!(b, Err(Error::UnknownMessage(t as u8 | ACK_REQUIRED)));
                continue;
            }
            let b = b.unwrap();
            let m = parse(&b, Options::default()).unwrap();
            assert_eq!((m.message_type(), m.ack_required()), (Some(t), ack));
            assert_eq!(MessageType::from_name(m.name()), Some(t));
        }
    }
    // 7, 12 and 13 name nothing.
    for s in [7u8, 12, 13] {
        let p = app_packet(s, 1, &[]);
        assert_eq!(parse(&p, Options::default()), Err(Error::UnknownMessage(s)));
    }
}

#[test]
fn strict_framing() {
    let good = every_field(Profile::Current);
    let o = Options::default();
    assert!(parse(&good, o).is_ok());
    // Truncated anywhere: the length word disagrees.
    for n in 0..good.len() {
        assert!(parse(&good[..n], o).is_err(), "{n}");
    }
    let mut p = good.clone();
    p[0] = 0x40 | (p[0] & 0x3f);
    assert_eq!(parse(&p, o), Err(Error::Version));
    let mut p = good.clone();
    p[0] |= 0x20;
    assert_eq!(parse(&p, o), Err(Error::Padding));
    let mut p = good.clone();
    p[1] = 201;
    assert_eq!(parse(&p, o), Err(Error::NotApp(201)));
    let mut p = good.clone();
    p[8..12].copy_from_slice(b"XXXX");
    assert_eq!(parse(&p, o), Err(Error::UnknownName));
    // Two packets back to back are not one.
    let mut two = good.clone();
    two.extend_from_slice(&good);
    assert_eq!(parse(&two, o), Err(Error::Length));
    // A field length that runs past the end.
    let mut p = app_packet(0, 1, &[6, 9, b'a', b'b']);
    assert_eq!(parse(&p, o), Err(Error::Truncated));
    // Non-zero padding.
    p = app_packet(0, 1, &[6, 1, b'a', 1]);
    assert_eq!(parse(&p, o), Err(Error::NonZeroPadding));
    // Wrong fixed lengths.
    p = app_packet(0, 1, &[0, 1, 5, 0]);
    assert_eq!(parse(&p, o), Err(Error::BadField(FieldId::FloorPriority)));
    p = app_packet(0, 1, &[14, 4, 1, 2, 3, 4, 0, 0]);
    assert_eq!(parse(&p, o), Err(Error::BadField(FieldId::Ssrc)));
    // A list whose count does not match its entries.
    p = app_packet(0, 1, &[15, 3, 2, 1, b'a', 0, 0, 0]);
    assert_eq!(
        parse(&p, o),
        Err(Error::BadField(FieldId::ListOfGrantedUsers))
    );
    p = app_packet(0, 1, &[16, 7, 2, 0, 0, 1, 2, 3, 4, 0, 0, 0]);
    assert_eq!(parse(&p, o), Err(Error::BadField(FieldId::ListOfSsrcs)));
    // An unknown location type, and a location of the wrong size for its type.
    p = app_packet(0, 1, &[19, 1, 7, 0]);
    assert_eq!(parse(&p, o), Err(Error::BadField(FieldId::Location)));
    p = app_packet(0, 1, &[19, 2, 3, 1]);
    assert_eq!(parse(&p, o), Err(Error::BadField(FieldId::Location)));
    // Text that is not UTF-8.
    p = app_packet(0, 1, &[6, 2, 0xc3, 0x28]);
    assert_eq!(parse(&p, o), Err(Error::BadText(FieldId::UserId)));
    // Unknown field IDs: refused, or kept when asked.
    p = app_packet(0, 1, &[21, 2, 1, 2]);
    assert_eq!(parse(&p, o), Err(Error::UnknownField(21)));
    let keep = Options {
        unknown: Unknown::Keep,
        ..o
    };
    let m = parse(&p, keep).unwrap();
    let f = m.fields().next().unwrap();
    assert_eq!((f.wire_id, f.id, f.raw), (21, None, &[1u8, 2][..]));
}

#[test]
fn ids_from_192_have_a_two_octet_length() {
    // ID 200 with a 300-octet value: 3 header octets, 300 value octets, 1 padding octet.
    let value = [0x5a; 300];
    let p = Builder::floor(MessageType::FloorIdle, false, 1)
        .raw(200, &value)
        .u16(FieldId::SequenceNumber, 7)
        .finish()
        .unwrap();
    assert_eq!(p.len(), 12 + 304 + 4);
    assert_eq!(&p[12..15], &[200, 0x01, 0x2c]);
    let m = parse(
        &p,
        Options {
            unknown: Unknown::Keep,
            ..Options::default()
        },
    )
    .unwrap();
    let f: Vec<Field<'_>> = m.fields().collect();
    assert_eq!((f[0].wire_id, f[0].raw.len()), (200, 300));
    assert_eq!(f[1].value, Some(Value::U16(7)));
    // A one-octet length would have cut the packet wrong.
    assert!(parse(&p, Options::default()).is_err());
}

struct Map;

impl Rewrite for Map {
    fn identity(&self, id: &[u8]) -> Option<&[u8]> {
        match id {
            b"sip:alice@a.example" => Some(b"sip:p1@proxy.example"),
            b"sip:d@a" => Some(b"sip:a-much-longer-external-identity@proxy.example"),
            _ => None,
        }
    }
    fn ssrc(&self, ssrc: u32) -> Option<u32> {
        (ssrc == 0x1122_3344 || ssrc == 0xcafe_f00d).then_some(ssrc ^ 0xffff_ffff)
    }
}

#[test]
fn rewrite_identities_and_ssrcs() {
    let p = every_field(Profile::Current);
    let mut buf = [0u8; 1500];
    buf[..p.len()].copy_from_slice(&p);
    let r = rewrite(
        &mut buf,
        p.len(),
        0x0101_0101,
        Options::default(),
        Profile::Current,
        &Map,
    )
    .unwrap();
    assert_eq!((r.identities, r.ssrcs), (2, 2));
    let m = parse(&buf[..r.len], Options::default()).unwrap();
    assert_eq!(m.ssrc, 0x0101_0101);
    assert_eq!(
        m.field(FieldId::GrantedPartyIdentity),
        Some(Value::Text("sip:p1@proxy.example"))
    );
    assert_eq!(
        m.field(FieldId::UserId),
        Some(Value::Text("sip:bob@a.example"))
    );
    assert_eq!(m.field(FieldId::Ssrc), Some(Value::Ssrc(!0xcafe_f00d)));
    let g = m.field(FieldId::ListOfGrantedUsers).unwrap();
    assert_eq!(
        g.texts().collect::<Vec<_>>(),
        [
            "sip:a-much-longer-external-identity@proxy.example",
            "sip:e@a"
        ]
    );
    let s = m.field(FieldId::ListOfSsrcs).unwrap();
    assert_eq!(s.words().collect::<Vec<_>>(), [1, 2, !0x1122_3344]);
    // Everything else is as it was.
    let before = parse(&p, Options::default()).unwrap();
    for (a, b) in before.fields().zip(m.fields()) {
        if !a.id.unwrap().is_identity()
            && !matches!(a.id, Some(FieldId::Ssrc | FieldId::ListOfSsrcs))
        {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn rewrite_converts_profiles_and_refuses_without_change() {
    let p = every_field(Profile::Legacy);
    let mut buf = p.clone();
    buf.resize(p.len() + 64, 0);
    let legacy = Options {
        profile: Profile::Legacy,
        ..Options::default()
    };
    let r = rewrite(&mut buf, p.len(), 1, legacy, Profile::Current, &NoMap).unwrap();
    assert_eq!(r.len, p.len());
    let want = every_field(Profile::Current);
    assert_eq!(&buf[12..r.len], &want[12..]);
    // No room for a longer identity: refused, the buffer unchanged.
    let mut tight = p.clone();
    let e = rewrite(&mut tight, p.len(), 1, legacy, Profile::Legacy, &Map);
    assert_eq!(e, Err(Error::TooLong));
    assert_eq!(tight, p);
    // A packet that does not parse: refused, unchanged.
    let mut bad = p.clone();
    bad[13] = 0xff;
    let copy = bad.clone();
    assert!(rewrite(&mut bad, p.len(), 1, legacy, Profile::Legacy, &Map).is_err());
    assert_eq!(bad, copy);
}

#[test]
fn an_unknown_field_that_the_other_numbering_knows_does_not_cross() {
    // Current ID 109 is unknown; in the legacy numbering it is the User ID.
    let p = Builder::floor(MessageType::FloorIdle, false, 1)
        .raw(109, b"opaque")
        .finish()
        .unwrap();
    let keep = Options {
        unknown: Unknown::Keep,
        ..Options::default()
    };
    let mut b = p.clone();
    b.resize(p.len() + 64, 0);
    assert_eq!(
        rewrite(&mut b, p.len(), 1, keep, Profile::Legacy, &NoMap),
        Err(Error::UnknownField(109))
    );
    // Kept within one numbering, it passes as it is.
    let r = rewrite(&mut b, p.len(), 1, keep, Profile::Current, &NoMap).unwrap();
    assert_eq!(&b[12..r.len], &p[12..]);
}

struct NoMap;

impl Rewrite for NoMap {
    fn identity(&self, _: &[u8]) -> Option<&[u8]> {
        None
    }
    fn ssrc(&self, _: u32) -> Option<u32> {
        None
    }
}

/// Maps the identities of [`single_fields`] to forms longer, shorter and as long.
struct Lengths;

impl Rewrite for Lengths {
    fn identity(&self, id: &[u8]) -> Option<&[u8]> {
        match id {
            b"sip:a@x" => Some(b"sip:a-longer@x.example"),
            b"sip:b@x.example.org" => Some(b"sip:b@x"),
            b"sip:c@x" => Some(b"sip:C@x"),
            b"fa@x" => Some(b"fa-1@x"),
            _ => None,
        }
    }
    fn ssrc(&self, ssrc: u32) -> Option<u32> {
        (ssrc & 1 == 1).then_some(ssrc.rotate_left(7))
    }
}

/// Packets with single identities and SSRCs (the fast path's), in several orders.
fn single_fields(seed: u32) -> Vec<u8> {
    let ids = ["sip:a@x", "sip:b@x.example.org", "sip:c@x", "sip:other@y"];
    let mut b = Builder::floor(MessageType::FloorTaken, seed & 2 == 0, seed);
    for k in 0..(seed % 5 + 1) {
        b = match (seed >> k) % 6 {
            0 => b.text(FieldId::UserId, ids[(seed as usize + k as usize) % 4]),
            1 => b.ssrc(seed.wrapping_mul(k + 3)),
            2 => b.text(FieldId::GrantedPartyIdentity, ids[k as usize % 4]),
            3 => b.text(FieldId::FunctionalAlias, "fa@x"),
            4 => b.reject_cause(2, "r"),
            _ => b.u16(FieldId::SequenceNumber, k as u16),
        };
    }
    b.finish().unwrap()
}

#[test]
fn the_fast_path_writes_what_the_general_path_writes() {
    for seed in 0..2000u32 {
        let p = single_fields(seed.wrapping_mul(0x9e37_79b9) ^ seed);
        for room in [0usize, 8, 256] {
            let mut a = p.clone();
            a.resize(p.len() + room, 0xee);
            let mut b = a.clone();
            let o = Options::default();
            let ra = rewrite(&mut a, p.len(), 9, o, Profile::Current, &Lengths);
            let rb = rewrite::general(&mut b, p.len(), 9, o, Profile::Current, &Lengths);
            assert_eq!(ra, rb, "seed {seed}, room {room}");
            if let Ok(r) = ra {
                assert_eq!(a[..r.len], b[..r.len], "seed {seed}, room {room}");
                parse(&a[..r.len], o).unwrap();
            } else {
                assert_eq!(a[..p.len()], p[..], "unchanged on error");
            }
        }
    }
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&b, Options::default());
            let _ = parse(&b, Options { profile: Profile::Legacy, unknown: Unknown::Keep });
            let n = b.len();
            let copy = b.clone();
            if rewrite(&mut b, n, 1, Options::default(), Profile::Current, &Map).is_err() {
                prop_assert_eq!(b, copy);
            }
        }

        #[test]
        fn both_paths_agree_on_mutated_packets(seed in any::<u32>(), i in 0usize..200, x in any::<u8>(), room in 0usize..64) {
            let mut p = single_fields(seed);
            let i = i % p.len();
            p[i] = x;
            let mut a = p.clone();
            a.resize(p.len() + room, 0);
            let mut b = a.clone();
            let o = Options::default();
            let ra = rewrite(&mut a, p.len(), 9, o, Profile::Current, &Lengths);
            let rb = rewrite::general(&mut b, p.len(), 9, o, Profile::Current, &Lengths);
            prop_assert_eq!(ra, rb);
            match ra {
                Ok(r) => prop_assert_eq!(&a[..r.len], &b[..r.len]),
                Err(_) => prop_assert_eq!(&a[..p.len()], &p[..]),
            }
        }

        #[test]
        fn mutated_packets_never_panic(i in 12usize..200, x in any::<u8>()) {
            let mut p = every_field(Profile::Current);
            let i = i % p.len();
            p[i] = x;
            if let Ok(m) = parse(&p, Options::default()) {
                prop_assert!(m.fields().count() <= FieldId::ALL.len() + 1);
            }
        }
    }
}
