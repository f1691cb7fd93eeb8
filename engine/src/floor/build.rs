//! Building floor-control APP packets (TS 24.380 §8.1.2, §8.2): a [`Builder`] takes fields
//! one by one in their value layouts and checks the finished packet with the parser, so
//! that what it hands out is a packet [`super::parse`] accepts.

use super::Error;
use super::field::{FieldId, Location, Profile};
use super::parse::{ACK_REQUIRED, App, HEADER_LEN, MessageType, Options, PT_APP, Unknown, parse};

/// Builds one APP packet.
#[derive(Clone, Debug)]
pub struct Builder {
    bytes: Vec<u8>,
    profile: Profile,
    error: Option<Error>,
}

impl Builder {
    /// A packet of `app` with `subtype` from `ssrc`, fields numbered by `profile`.
    pub fn new(app: App, subtype: u8, ssrc: u32, profile: Profile) -> Builder {
        Builder::named(app.name(), subtype, ssrc, profile)
    }

    /// A packet named `name` (another protocol's APP packets with the same TLV fields).
    pub(crate) fn named(name: &[u8; 4], subtype: u8, ssrc: u32, profile: Profile) -> Builder {
        let mut bytes = Vec::with_capacity(64);
        bytes.push(0x80 | (subtype & 0x1f));
        bytes.push(PT_APP);
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&ssrc.to_be_bytes());
        bytes.extend_from_slice(name);
        Builder {
            bytes,
            profile,
            error: if subtype > 0x1f {
                Some(Error::UnknownMessage(subtype))
            } else {
                None
            },
        }
    }

    /// A floor-control message (`ack`: the receiver is asked to acknowledge).
    pub fn floor(message: MessageType, ack: bool, ssrc: u32) -> Builder {
        let subtype = message as u8 | if ack { ACK_REQUIRED } else { 0 };
        Builder::new(App::FloorControl, subtype, ssrc, Profile::Current)
    }

    /// Numbers the fields that follow by `profile`.
    pub fn profile(mut self, profile: Profile) -> Builder {
        self.profile = profile;
        self
    }

    fn fail(&mut self, e: Error) {
        self.error.get_or_insert(e);
    }

    /// Appends a field by wire ID with its value octets as they are: ID, length (two octets
    /// for IDs from 192), value, zero padding to 32 bits.
    pub fn raw(mut self, wire_id: u8, value: &[u8]) -> Builder {
        let long = wire_id >= 192;
        if value.len() > if long { 0xffff } else { 0xff } {
            self.fail(Error::TooLong);
            return self;
        }
        self.bytes.push(wire_id);
        if long {
            self.bytes
                .extend_from_slice(&(value.len() as u16).to_be_bytes());
        } else {
            self.bytes.push(value.len() as u8);
        }
        self.bytes.extend_from_slice(value);
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        self
    }

    /// Appends field `id` with its value octets.
    pub fn value(self, id: FieldId, value: &[u8]) -> Builder {
        let wire = id.wire(self.profile);
        self.raw(wire, value)
    }

    /// A 16-bit field (Duration, Permission to Request, Queue Size, Sequence-Number,
    /// Source, Floor Indicator).
    pub fn u16(self, id: FieldId, v: u16) -> Builder {
        self.value(id, &v.to_be_bytes())
    }

    /// A one-octet field with its spare octet (Floor Priority, Message Type).
    pub fn u8(self, id: FieldId, v: u8) -> Builder {
        self.value(id, &[v, 0])
    }

    /// A text field (an identity or a functional alias).
    pub fn text(self, id: FieldId, s: &str) -> Builder {
        self.value(id, s.as_bytes())
    }

    /// Reject Cause.
    pub fn reject_cause(self, cause: u16, phrase: &str) -> Builder {
        let mut v = cause.to_be_bytes().to_vec();
        v.extend_from_slice(phrase.as_bytes());
        self.value(FieldId::RejectCause, &v)
    }

    /// Queue Info.
    pub fn queue_info(self, position: u8, priority: u8) -> Builder {
        self.value(FieldId::QueueInfo, &[position, priority])
    }

    /// Track Info: the participant type is padded to 32 bits, then the references follow.
    pub fn track_info(
        mut self,
        queueing: u8,
        participant_type: &str,
        references: &[u32],
    ) -> Builder {
        let t = participant_type.as_bytes();
        if t.len() > 255 {
            self.fail(Error::TooLong);
            return self;
        }
        let mut v = vec![queueing, t.len() as u8];
        v.extend_from_slice(t);
        v.resize(2 + t.len().next_multiple_of(4), 0);
        for r in references {
            v.extend_from_slice(&r.to_be_bytes());
        }
        self.value(FieldId::TrackInfo, &v)
    }

    /// SSRC (with its two spare octets).
    pub fn ssrc(self, ssrc: u32) -> Builder {
        let b = ssrc.to_be_bytes();
        self.value(FieldId::Ssrc, &[b[0], b[1], b[2], b[3], 0, 0])
    }

    /// A list of texts: List of Granted Users or List of Functional Aliases.
    pub fn texts(mut self, id: FieldId, entries: &[&str]) -> Builder {
        if entries.len() > 255 || entries.iter().any(|e| e.len() > 255) {
            self.fail(Error::TooLong);
            return self;
        }
        let mut v = vec![entries.len() as u8];
        for e in entries {
            v.push(e.len() as u8);
            v.extend_from_slice(e.as_bytes());
        }
        self.value(id, &v)
    }

    /// List of SSRCs.
    pub fn ssrcs(mut self, ssrcs: &[u32]) -> Builder {
        if ssrcs.len() > 255 {
            self.fail(Error::TooLong);
            return self;
        }
        let mut v = vec![ssrcs.len() as u8, 0, 0];
        for s in ssrcs {
            v.extend_from_slice(&s.to_be_bytes());
        }
        self.value(FieldId::ListOfSsrcs, &v)
    }

    /// Location.
    pub fn location(self, loc: Location<'_>) -> Builder {
        let mut v = vec![loc.kind];
        v.extend_from_slice(loc.value);
        self.value(FieldId::Location, &v)
    }

    /// List of Locations.
    pub fn locations(mut self, locs: &[Location<'_>]) -> Builder {
        if locs.len() > 255 {
            self.fail(Error::TooLong);
            return self;
        }
        let mut v = vec![locs.len() as u8];
        for l in locs {
            v.push(l.kind);
            v.extend_from_slice(l.value);
        }
        self.value(FieldId::ListOfLocations, &v)
    }

    /// The packet, checked by the parser (unknown raw fields allowed).
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        let options = Options {
            profile: self.profile,
            unknown: Unknown::Keep,
        };
        let bytes = self.framed()?;
        parse(&bytes, options)?;
        Ok(bytes)
    }

    /// The packet with its length word set, not parsed: for the callers that check it with
    /// their own parser.
    pub(crate) fn framed(mut self) -> Result<Vec<u8>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let words = self.bytes.len() / 4 - 1;
        if words > 0xffff {
            return Err(Error::TooLong);
        }
        self.bytes[2..4].copy_from_slice(&(words as u16).to_be_bytes());
        Ok(self.bytes)
    }
}

/// A floor-control packet and where its Message Sequence-Number value sits, so that a sender
/// can number each packet without building it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloorPacket {
    /// The RTCP APP packet.
    pub bytes: Vec<u8>,
    seq_at: usize,
}

impl FloorPacket {
    /// Sets the Message Sequence-Number.
    pub fn set_sequence(&mut self, seq: u16) {
        self.bytes[self.seq_at..self.seq_at + 2].copy_from_slice(&seq.to_be_bytes());
    }

    /// A packet whose last field is the Message Sequence-Number (as [`floor_request`] and
    /// [`floor_granted`] build them).
    fn ending_in_sequence(bytes: Vec<u8>) -> FloorPacket {
        let seq_at = bytes.len() - 2;
        FloorPacket { bytes, seq_at }
    }
}

/// Floor Request from a client: Floor Priority, User ID, Floor Indicator (`indicator`: 0x8000
/// normal, 0x1000 emergency …), Sequence-Number. Fails for a user ID over 255 octets.
pub fn floor_request(
    ssrc: u32,
    user_id: &str,
    priority: u8,
    indicator: u16,
) -> Result<FloorPacket, Error> {
    let b = Builder::floor(MessageType::FloorRequest, false, ssrc)
        .u8(FieldId::FloorPriority, priority)
        .text(FieldId::UserId, user_id)
        .u16(FieldId::FloorIndicator, indicator)
        .u16(FieldId::SequenceNumber, 0);
    Ok(FloorPacket::ending_in_sequence(b.finish()?))
}

/// Floor Granted from the server: Duration, Floor Priority, User ID of the granted party,
/// Sequence-Number.
pub fn floor_granted(
    ssrc: u32,
    duration_s: u16,
    priority: u8,
    granted: &str,
) -> Result<FloorPacket, Error> {
    let b = Builder::floor(MessageType::FloorGranted, false, ssrc)
        .u16(FieldId::Duration, duration_s)
        .u8(FieldId::FloorPriority, priority)
        .text(FieldId::UserId, granted)
        .u16(FieldId::SequenceNumber, 0);
    Ok(FloorPacket::ending_in_sequence(b.finish()?))
}

/// The header of an APP packet of `fields` octets (a multiple of 4).
pub(crate) fn header(app: App, subtype: u8, ssrc: u32, fields: usize) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = 0x80 | (subtype & 0x1f);
    h[1] = PT_APP;
    h[2..4].copy_from_slice(&(((HEADER_LEN + fields) / 4 - 1) as u16).to_be_bytes());
    h[4..8].copy_from_slice(&ssrc.to_be_bytes());
    h[8..12].copy_from_slice(app.name());
    h
}
