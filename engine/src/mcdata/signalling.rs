//! TS 24.282 clause 15 MCData signalling messages, in clear: a strict walk over the
//! information elements, and the rewrite of those that name users and groups (what a proxy
//! hiding its domain's topology changes between the client hop and the server hop).
//!
//! The coding follows the MONP rules of TS 24.379 Annex I (TS 24.282 §15.1.1): a message
//! type octet, the mandatory fixed-length (V) elements of that message, then optional
//! elements each named by an IEI: TV with a half-octet IEI (`0x8-` … `0xD-`, one octet in
//! all), TV of a fixed length (InReplyTo message ID, Application ID) and TLV-E (IEI, a
//! two-octet length, the value).
//!
//! Sources. SDS SIGNALLING PAYLOAD is laid out as TS 24.282 Table 15.1.2.1-1 lists it (read
//! on itecspec.com, Rel-18). The other messages' mandatory parts, the message type values
//! and the IEIs past that table come from implementations, because the later tables could
//! not be read: Wireshark's `packet-mcdata.c` (written against V18.8.0) and the
//! Nemergent-derived Lua dissector (V18.11.0), which agree on every value used here. The
//! README's MCData section says which is which.
//!
//! Identities rewritten: Sender MCData user ID (`0x51`, and the IEI-less LV-E sender of the
//! off-network messages), Recipient MCData user ID (`0x7C`), MCData group ID (`0x7B`). The
//! other elements are copied as they are; a FILEURL payload's host, free-text metadata and
//! a Deferred FD signalling payload (`0x52`, an opaque nested message) are not looked into.

use core::fmt;

/// Message type octet: bit 8, the message is authenticated (Wireshark `packet-mcdata.c`).
pub const AUTHENTICATED: u8 = 0x80;
/// Message type octet: bit 7, the message is protected (TS 33.180 §8.5.4): its body is a
/// protected payload, not elements.
pub const PROTECTED: u8 = 0x40;

/// The messages this module walks (the message type octet's low six bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 1: SDS SIGNALLING PAYLOAD.
    SdsSignalling,
    /// 2: FD SIGNALLING PAYLOAD.
    FdSignalling,
    /// 3: DATA PAYLOAD.
    DataPayload,
    /// 5: SDS NOTIFICATION.
    SdsNotification,
    /// 6: FD NOTIFICATION.
    FdNotification,
    /// 7: SDS OFF-NETWORK MESSAGE.
    SdsOffNetwork,
    /// 8: SDS OFF-NETWORK NOTIFICATION.
    SdsOffNetworkNotification,
    /// 9: FD NETWORK NOTIFICATION.
    FdNetworkNotification,
    /// 13: FD HTTP TERMINATION.
    FdHttpTermination,
}

/// One mandatory element of a message's fixed part.
#[derive(Clone, Copy)]
enum Fixed {
    /// A V element of this many octets.
    V(usize),
    /// The number of Payload elements that follow (one octet).
    Count,
    /// The off-network messages' sender MCData user ID: LV-E, no IEI.
    Sender,
}

use Fixed::{Count, Sender, V};

/// Date and time (5), Conversation ID (16), Message ID (16).
const DATE_CONV_MSG: &[Fixed] = &[V(5), V(16), V(16)];

impl Kind {
    /// The kind of a message type octet (flags ignored).
    pub fn from_octet(o: u8) -> Option<Kind> {
        Some(match o & 0x3f {
            1 => Kind::SdsSignalling,
            2 => Kind::FdSignalling,
            3 => Kind::DataPayload,
            5 => Kind::SdsNotification,
            6 => Kind::FdNotification,
            7 => Kind::SdsOffNetwork,
            8 => Kind::SdsOffNetworkNotification,
            9 => Kind::FdNetworkNotification,
            13 => Kind::FdHttpTermination,
            _ => return None,
        })
    }

    /// The message type value.
    pub fn value(self) -> u8 {
        match self {
            Kind::SdsSignalling => 1,
            Kind::FdSignalling => 2,
            Kind::DataPayload => 3,
            Kind::SdsNotification => 5,
            Kind::FdNotification => 6,
            Kind::SdsOffNetwork => 7,
            Kind::SdsOffNetworkNotification => 8,
            Kind::FdNetworkNotification => 9,
            Kind::FdHttpTermination => 13,
        }
    }

    /// The message's name as TS 24.282 writes it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::SdsSignalling => "SDS SIGNALLING PAYLOAD",
            Kind::FdSignalling => "FD SIGNALLING PAYLOAD",
            Kind::DataPayload => "DATA PAYLOAD",
            Kind::SdsNotification => "SDS NOTIFICATION",
            Kind::FdNotification => "FD NOTIFICATION",
            Kind::SdsOffNetwork => "SDS OFF-NETWORK MESSAGE",
            Kind::SdsOffNetworkNotification => "SDS OFF-NETWORK NOTIFICATION",
            Kind::FdNetworkNotification => "FD NETWORK NOTIFICATION",
            Kind::FdHttpTermination => "FD HTTP TERMINATION",
        }
    }

    /// The mandatory part after the message type octet.
    fn fixed(self) -> &'static [Fixed] {
        match self {
            Kind::SdsSignalling | Kind::FdSignalling => DATE_CONV_MSG,
            Kind::DataPayload => &[Count],
            // The disposition or notification type first.
            Kind::SdsNotification | Kind::FdNotification | Kind::FdNetworkNotification => {
                &[V(1), V(5), V(16), V(16)]
            }
            Kind::SdsOffNetwork => &[V(5), Count, V(16), V(16), Sender],
            Kind::SdsOffNetworkNotification => &[V(1), V(5), V(16), V(16), Sender],
            // No date and time; the termination information type last.
            Kind::FdHttpTermination => &[V(16), V(16), V(1)],
        }
    }
}

/// IEI: InReplyTo message ID (TV, 17 octets).
pub const IEI_IN_REPLY_TO: u8 = 0x21;
/// IEI: Application ID (TV, 2 octets).
pub const IEI_APPLICATION_ID: u8 = 0x22;
/// IEI: Sender MCData user ID (TLV-E).
pub const IEI_SENDER: u8 = 0x51;
/// IEI: Payload (TLV-E: content type octet, data).
pub const IEI_PAYLOAD: u8 = 0x78;
/// IEI: MCData group ID (TLV-E).
pub const IEI_GROUP: u8 = 0x7b;
/// IEI: Recipient MCData user ID (TLV-E).
pub const IEI_RECIPIENT: u8 = 0x7c;

/// The TLV-E elements: Sender MCData user ID, Deferred FD signalling payload, Application
/// metadata container, Payload, Metadata, Security parameters and Payload, MCData group
/// ID, Recipient MCData user ID, Extended application ID, User location, Organization name.
const TLV_E: [u8; 11] = [
    0x51, 0x52, 0x53, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f,
];

/// Whether an element names a user or a group (and so goes through the identity map).
fn is_identity(iei: u8) -> bool {
    matches!(iei, IEI_SENDER | IEI_GROUP | IEI_RECIPIENT)
}

/// Why a message was refused. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Empty, or an element runs past the end.
    Truncated,
    /// A message type this module does not know.
    UnknownMessage(u8),
    /// The message is protected: its body is a protected payload (open it first).
    Protected,
    /// An IEI this module does not know (its length cannot be known either).
    UnknownIe(u8),
    /// A TLV-E element with an empty value (every one holds at least one octet).
    EmptyValue(u8),
    /// An identity that is not UTF-8.
    BadText(u8),
    /// The number of Payload elements is not the one the message announced.
    PayloadCount {
        /// What the message said.
        announced: u8,
        /// What it carried.
        found: usize,
    },
    /// A rewritten identity longer than a length field holds.
    TooLong,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("MCData message truncated"),
            Error::UnknownMessage(t) => write!(f, "unknown MCData message type {t}"),
            Error::Protected => f.write_str("MCData message is protected; unprotect it first"),
            Error::UnknownIe(i) => write!(f, "unknown MCData information element {i:#04x}"),
            Error::EmptyValue(i) => write!(f, "MCData information element {i:#04x} is empty"),
            Error::BadText(i) => write!(f, "MCData identity {i:#04x} is not UTF-8"),
            Error::PayloadCount { announced, found } => {
                write!(
                    f,
                    "MCData message announces {announced} payloads, carries {found}"
                )
            }
            Error::TooLong => f.write_str("rewritten MCData identity too long"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
        }
    }
}

impl core::error::Error for Error {}

/// An element of a checked message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ie<'a> {
    /// The IEI; for a half-octet IEI, its high nibble (`0x80` … `0xd0`). `0` for the
    /// off-network messages' IEI-less sender.
    pub iei: u8,
    /// The value; for a half-octet IEI, the whole octet's low nibble as one octet.
    pub value: &'a [u8],
}

/// A checked message: its kind, its type octet, and its elements.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// What it is.
    pub kind: Kind,
    /// The message type octet as received (with [`AUTHENTICATED`]).
    pub type_octet: u8,
    /// The mandatory part after the type octet, as received.
    pub fixed: &'a [u8],
    /// The sender of an off-network message (the IEI-less LV-E), if the kind has one.
    pub sender: Option<&'a [u8]>,
    optional: &'a [u8],
}

impl<'a> Message<'a> {
    /// The optional elements, in order.
    pub fn ies(&self) -> impl Iterator<Item = Ie<'a>> + 'a {
        let mut rest = self.optional;
        core::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            // Checked by `parse`.
            let (ie, n) = element(rest).ok()?;
            rest = &rest[n..];
            Some(ie)
        })
    }
}

/// One optional element at the start of `b`: the element and its length on the wire.
fn element(b: &[u8]) -> Result<(Ie<'_>, usize), Error> {
    let iei = *b.first().ok_or(Error::Truncated)?;
    if iei >= 0x80 {
        return match iei & 0xf0 {
            0x80..=0xd0 => Ok((
                Ie {
                    iei: iei & 0xf0,
                    value: &b[..1],
                },
                1,
            )),
            _ => Err(Error::UnknownIe(iei)),
        };
    }
    let tv = match iei {
        IEI_IN_REPLY_TO => Some(17),
        IEI_APPLICATION_ID => Some(2),
        _ => None,
    };
    if let Some(n) = tv {
        let v = b.get(1..n).ok_or(Error::Truncated)?;
        return Ok((Ie { iei, value: v }, n));
    }
    if !TLV_E.contains(&iei) {
        return Err(Error::UnknownIe(iei));
    }
    let len = b.get(1..3).ok_or(Error::Truncated)?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    if len == 0 {
        return Err(Error::EmptyValue(iei));
    }
    let v = b.get(3..3 + len).ok_or(Error::Truncated)?;
    if is_identity(iei) && core::str::from_utf8(v).is_err() {
        return Err(Error::BadText(iei));
    }
    Ok((Ie { iei, value: v }, 3 + len))
}

/// Checks `msg` element by element: the message type, its mandatory part, every optional
/// element's IEI and length, identities as UTF-8, the payload count where the message has
/// one, and nothing left over.
pub fn parse(msg: &[u8]) -> Result<Message<'_>, Error> {
    let type_octet = *msg.first().ok_or(Error::Truncated)?;
    if type_octet & PROTECTED != 0 {
        return Err(Error::Protected);
    }
    let kind = Kind::from_octet(type_octet).ok_or(Error::UnknownMessage(type_octet & 0x3f))?;
    let mut i = 1;
    let mut count = None;
    let mut sender = None;
    for f in kind.fixed() {
        match *f {
            V(n) => {
                msg.get(i..i + n).ok_or(Error::Truncated)?;
                i += n;
            }
            Count => {
                count = Some(*msg.get(i).ok_or(Error::Truncated)?);
                i += 1;
            }
            Sender => {
                let len = msg.get(i..i + 2).ok_or(Error::Truncated)?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                if len == 0 {
                    return Err(Error::EmptyValue(0));
                }
                let v = msg.get(i + 2..i + 2 + len).ok_or(Error::Truncated)?;
                core::str::from_utf8(v).map_err(|_| Error::BadText(0))?;
                sender = Some(v);
                i += 2 + len;
            }
        }
    }
    let fixed_end = match kind.fixed().last() {
        Some(Sender) => i - 2 - sender.map_or(0, <[u8]>::len),
        _ => i,
    };
    let optional = &msg[i..];
    let mut rest = optional;
    let mut payloads = 0usize;
    while !rest.is_empty() {
        let (ie, n) = element(rest)?;
        payloads += usize::from(ie.iei == IEI_PAYLOAD);
        rest = &rest[n..];
    }
    if let Some(announced) = count
        && usize::from(announced) != payloads
    {
        return Err(Error::PayloadCount {
            announced,
            found: payloads,
        });
    }
    Ok(Message {
        kind,
        type_octet,
        fixed: &msg[1..fixed_end],
        sender,
        optional,
    })
}

/// What [`rewrite`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// The new message's length.
    pub len: usize,
    /// Identities replaced.
    pub identities: u32,
}

/// Writes `msg` into `out` with every identity (sender, recipient, group) that `map`
/// replaces replaced, everything else as it was. `msg` is checked whole first ([`parse`]);
/// on an error `out` holds nothing of use.
pub fn rewrite<'m>(
    msg: &[u8],
    map: impl Fn(&[u8]) -> Option<&'m [u8]>,
    out: &mut [u8],
) -> Result<Rewritten, Error> {
    let m = parse(msg)?;
    let mut w = Out { out, n: 0 };
    let mut done = Rewritten::default();
    w.put(&msg[..1 + m.fixed.len()])?;
    if let Some(s) = m.sender {
        let s = counted(&mut done, map(s), s);
        w.put(&len16(s)?)?;
        w.put(s)?;
    }
    for ie in m.ies() {
        match ie.iei {
            i if i >= 0x80 => w.put(ie.value)?,
            IEI_IN_REPLY_TO | IEI_APPLICATION_ID => {
                w.put(&[ie.iei])?;
                w.put(ie.value)?;
            }
            i => {
                let v = if is_identity(i) {
                    counted(&mut done, map(ie.value), ie.value)
                } else {
                    ie.value
                };
                if v.is_empty() {
                    return Err(Error::EmptyValue(i));
                }
                w.put(&[i])?;
                w.put(&len16(v)?)?;
                w.put(v)?;
            }
        }
    }
    done.len = w.n;
    Ok(done)
}

/// The length [`rewrite`] gives `msg` under `map`: the output buffer it needs.
pub fn rewritten_len<'m>(
    msg: &[u8],
    map: impl Fn(&[u8]) -> Option<&'m [u8]>,
) -> Result<usize, Error> {
    let m = parse(msg)?;
    let mut n = msg.len();
    let ids = m
        .sender
        .into_iter()
        .chain(m.ies().filter(|i| is_identity(i.iei)).map(|i| i.value));
    for old in ids {
        if let Some(new) = map(old) {
            n = n - old.len() + new.len();
        }
    }
    Ok(n)
}

fn counted<'v>(done: &mut Rewritten, new: Option<&'v [u8]>, old: &'v [u8]) -> &'v [u8] {
    match new {
        Some(v) => {
            done.identities += 1;
            v
        }
        None => old,
    }
}

fn len16(v: &[u8]) -> Result<[u8; 2], Error> {
    u16::try_from(v.len())
        .map(u16::to_be_bytes)
        .map_err(|_| Error::TooLong)
}

struct Out<'a> {
    out: &'a mut [u8],
    n: usize,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), Error> {
        let end = self.n + b.len();
        self.out
            .get_mut(self.n..end)
            .ok_or(Error::BufferTooSmall)?
            .copy_from_slice(b);
        self.n = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DATE: [u8; 5] = [0x00, 0x69, 0x2e, 0x8c, 0x40];
    const CONV: [u8; 16] = [0xc0; 16];
    const MSG_ID: [u8; 16] = [0x3d; 16];

    fn tlv_e(iei: u8, v: &[u8]) -> Vec<u8> {
        let mut b = vec![iei];
        b.extend_from_slice(&(v.len() as u16).to_be_bytes());
        b.extend_from_slice(v);
        b
    }

    /// An SDS SIGNALLING PAYLOAD with every element of TS 24.282 Table 15.1.2.1-1, in its
    /// order, with `sender` as the Sender MCData user ID.
    fn sds(sender: &str) -> Vec<u8> {
        let mut m = vec![0x01];
        m.extend_from_slice(&DATE);
        m.extend_from_slice(&CONV);
        m.extend_from_slice(&MSG_ID);
        m.push(IEI_IN_REPLY_TO);
        m.extend_from_slice(&[0x11; 16]);
        m.extend_from_slice(&[IEI_APPLICATION_ID, 0x01]);
        m.push(0x82); // SDS disposition request type: READ
        m.extend(tlv_e(0x7d, b"\x02urn:x-app:dispatch"));
        m.extend(tlv_e(0x7e, &[0x05, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]));
        m.extend(tlv_e(IEI_SENDER, sender.as_bytes()));
        m.extend(tlv_e(0x53, b"meta"));
        m
    }

    /// An SDS OFF-NETWORK MESSAGE: one payload, the LV-E sender, a recipient and a group.
    fn off_network(sender: &str, recipient: &str, group: &str) -> Vec<u8> {
        let mut m = vec![0x07];
        m.extend_from_slice(&DATE);
        m.push(1);
        m.extend_from_slice(&CONV);
        m.extend_from_slice(&MSG_ID);
        m.extend_from_slice(&(sender.len() as u16).to_be_bytes());
        m.extend_from_slice(sender.as_bytes());
        m.extend(tlv_e(IEI_GROUP, group.as_bytes()));
        m.extend(tlv_e(IEI_RECIPIENT, recipient.as_bytes()));
        m.extend(tlv_e(IEI_PAYLOAD, b"\x01status: on scene"));
        m
    }

    fn map(id: &[u8]) -> Option<&'static [u8]> {
        match id {
            b"sip:alice@in.x.org" => Some(b"sip:proxy@ex.x.org"),
            b"sip:bob@in.x.org" => Some(b"sip:b-7@ex.x.org"),
            b"sip:group-9@in.x.org" => Some(b"sip:group-long-name@ex.x.org"),
            _ => None,
        }
    }

    fn rewritten(msg: &[u8]) -> Result<(Vec<u8>, u32), Error> {
        let mut out = vec![0u8; msg.len() + 256];
        let r = rewrite(msg, map, &mut out)?;
        out.truncate(r.len);
        Ok((out, r.identities))
    }

    #[test]
    fn sds_signalling_payload_walks_in_table_order() {
        let m = sds("sip:alice@in.x.org");
        let p = parse(&m).unwrap();
        assert_eq!(p.kind, Kind::SdsSignalling);
        assert_eq!(p.fixed.len(), 5 + 16 + 16);
        assert_eq!(p.sender, None);
        let ies: Vec<(u8, usize)> = p.ies().map(|i| (i.iei, i.value.len())).collect();
        assert_eq!(
            ies,
            [
                (0x21, 16),
                (0x22, 1),
                (0x80, 1),
                (0x7d, 19),
                (0x7e, 7),
                (0x51, 18),
                (0x53, 4)
            ]
        );
    }

    #[test]
    fn the_sender_is_replaced_and_nothing_else_moves() {
        let (out, n) = rewritten(&sds("sip:alice@in.x.org")).unwrap();
        assert_eq!(n, 1);
        assert_eq!(out, sds("sip:proxy@ex.x.org"));
        // An identity the map does not know stays.
        let (out, n) = rewritten(&sds("sip:carol@elsewhere.org")).unwrap();
        assert_eq!((out, n), (sds("sip:carol@elsewhere.org"), 0));
    }

    #[test]
    fn off_network_sender_recipient_and_group_are_replaced_with_their_lengths() {
        let m = off_network(
            "sip:alice@in.x.org",
            "sip:bob@in.x.org",
            "sip:group-9@in.x.org",
        );
        let p = parse(&m).unwrap();
        assert_eq!(p.kind, Kind::SdsOffNetwork);
        assert_eq!(p.sender, Some(&b"sip:alice@in.x.org"[..]));
        let (out, n) = rewritten(&m).unwrap();
        assert_eq!(n, 3);
        assert_eq!(rewritten_len(&m, map), Ok(out.len()));
        assert_eq!(
            out,
            off_network(
                "sip:proxy@ex.x.org",
                "sip:b-7@ex.x.org",
                "sip:group-long-name@ex.x.org"
            )
        );
        parse(&out).unwrap();
    }

    #[test]
    fn every_refusal_names_its_reason() {
        let good = sds("sip:alice@in.x.org");
        let cases: Vec<(Vec<u8>, Error)> = vec![
            (vec![], Error::Truncated),
            (vec![0x04], Error::UnknownMessage(4)),
            (vec![0x41, 0, 0], Error::Protected),
            (good[..30].to_vec(), Error::Truncated),
            (
                [&good[..38], &[0x30, 0, 1, 0]].concat(),
                Error::UnknownIe(0x30),
            ),
            ([&good[..38], &[0xe1]].concat(), Error::UnknownIe(0xe1)),
            (
                [&good[..38], &[0x51, 0, 0]].concat(),
                Error::EmptyValue(0x51),
            ),
            (
                [&good[..38], &[0x51, 0, 9, b'a']].concat(),
                Error::Truncated,
            ),
            ([&good[..38], &[0x21, 1, 2]].concat(), Error::Truncated),
            (
                [&good[..38], &tlv_e(0x51, &[0xff, 0xfe])].concat(),
                Error::BadText(0x51),
            ),
            ([&good[..], &[0x7c]].concat(), Error::Truncated),
        ];
        for (m, want) in cases {
            assert_eq!(parse(&m).err(), Some(want), "{m:02x?}");
            let mut out = [0u8; 512];
            assert_eq!(rewrite(&m, map, &mut out).err(), Some(want));
        }
        // Two payloads announced, one carried; and one more than announced.
        let mut m = off_network("a", "b", "c");
        m[6] = 2;
        assert_eq!(
            parse(&m).err(),
            Some(Error::PayloadCount {
                announced: 2,
                found: 1
            })
        );
        let mut m = vec![0x03, 0];
        m.extend(tlv_e(IEI_PAYLOAD, b"\x02\x00"));
        assert_eq!(
            parse(&m).err(),
            Some(Error::PayloadCount {
                announced: 0,
                found: 1
            })
        );
        m[1] = 1;
        assert_eq!(parse(&m).unwrap().kind, Kind::DataPayload);
        // An output too small for the grown identity.
        let good = sds("sip:group-9@in.x.org");
        let mut out = vec![0u8; good.len()];
        assert_eq!(
            rewrite(&good, map, &mut out).err(),
            Some(Error::BufferTooSmall)
        );
    }

    #[test]
    fn each_mandatory_layout_parses_and_stops_one_octet_short() {
        let body = |k: u8, n: usize| {
            let mut m = vec![k];
            m.extend((0..n).map(|i| i as u8));
            m
        };
        // Message type, then the mandatory part's length.
        for (k, n) in [(2u8, 37), (5, 38), (6, 38), (9, 38), (13, 33)] {
            let m = body(k, n);
            assert!(parse(&m).is_ok(), "type {k}");
            assert_eq!(
                parse(&m[..m.len() - 1]).err(),
                Some(Error::Truncated),
                "type {k}"
            );
            // The authenticated flag does not change the layout.
            let mut a = m.clone();
            a[0] |= AUTHENTICATED;
            assert_eq!(parse(&a).unwrap().type_octet, k | AUTHENTICATED);
        }
        let mut m = body(8, 38);
        m.extend_from_slice(&[0, 3]);
        m.extend_from_slice(b"sip");
        assert_eq!(parse(&m).unwrap().sender, Some(&b"sip"[..]));
        assert_eq!(parse(&m[..m.len() - 1]).err(), Some(Error::Truncated));
    }

    proptest! {
        /// Changed octets, cut or extended: never a panic, and whatever parses rewrites to
        /// itself under a map that changes nothing.
        #[test]
        fn mutated_messages_are_refused_or_kept(
            which in 0usize..2,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<usize>(),
        ) {
            let mut m = if which == 0 {
                sds("sip:alice@in.x.org")
            } else {
                off_network("sip:alice@in.x.org", "sip:bob@in.x.org", "g")
            };
            for (at, v) in edits {
                let at = at % m.len();
                m[at] = v;
            }
            m.truncate(cut % (m.len() + 1));
            let mut out = vec![0u8; m.len() + 64];
            let parsed = parse(&m).is_ok();
            match rewrite(&m, |_| None, &mut out) {
                Ok(r) => {
                    prop_assert!(parsed);
                    prop_assert_eq!(&out[..r.len], &m[..]);
                }
                Err(e) => {
                    prop_assert!(!parsed);
                    prop_assert_eq!(parse(&m).err(), Some(e));
                }
            }
        }
    }
}
