//! MCVideo transmission and reception control (TS 24.581 §9): RTCP APP packets with the
//! same header and the same TLV fields as TS 24.380 floor control (field ID, length, value,
//! zero padding to 32 bits), under their own names, message tables and field table.
//!
//! - `MCV0`: messages the transmission participant sends (Table 9.2.2.1-1);
//! - `MCV1`: messages the transmission control server sends (Table 9.2.2.1-2);
//! - `MCV2`: messages either sends (Table 9.2.2.1-3).
//!
//! The subtype's low four bits are the message, its 0x10 bit asks for a Transmission Control
//! Ack (TS 36.579-1 Table 5.5.11.1.1-1: Transmission Request is `00000`, `10000` when it asks
//! for one).
//!
//! Sources. The header (Table 9.1.2-1) and the acknowledgement bit were read in 3GPP text.
//! The names, the message values and the field table (Table 9.2.3.1-1) could not be: they
//! come from two independent open-source decoders that cite those tables, the Alea-SRL fork
//! of Nemergent's Wireshark dissector (TS 24.581 v18.5.0) and the `nexlin/cims` message
//! definitions (V18.8.0), which agree on every value used here but one: the Video SSRC of
//! the transmitting user is field 24 in the first and 23 in the second. The parser reads
//! both as Video SSRC and the builder writes 23. The legacy Transmission Cancel Request
//! (`MCV0` 5) and Response (`MCV1` 9), which the newer text drops, are refused, and so is
//! `MCV3` (MBMS subchannel control), which only one source describes.

use core::fmt;

use super::Error;
use super::build::Builder as TlvBuilder;
use super::field::{FieldId, Profile, Value};
use super::parse::{ACK_REQUIRED, HEADER_LEN, Unknown, app_header, tlv};
use super::rewrite::{MAX_REWRITE, Rewrite, Rewritten};

/// The MCVideo transmission control name of an APP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoApp {
    /// `MCV0`: sent by the transmission participant.
    Participant,
    /// `MCV1`: sent by the transmission control server.
    Server,
    /// `MCV2`: sent by either.
    Both,
}

impl VideoApp {
    /// The 4-octet name.
    pub const fn name(self) -> &'static [u8; 4] {
        match self {
            VideoApp::Participant => b"MCV0",
            VideoApp::Server => b"MCV1",
            VideoApp::Both => b"MCV2",
        }
    }

    /// The application of a 4-octet name.
    pub fn from_name(name: &[u8]) -> Option<VideoApp> {
        match name {
            b"MCV0" => Some(VideoApp::Participant),
            b"MCV1" => Some(VideoApp::Server),
            b"MCV2" => Some(VideoApp::Both),
            _ => None,
        }
    }
}

macro_rules! messages {
    ($($m:ident = ($app:ident, $v:expr, $name:expr),)*) => {
        /// An MCVideo transmission or reception control message.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum VideoMessage {
            $(
                #[doc = $name]
                $m,
            )*
        }

        impl VideoMessage {
            /// Every message, by name and value.
            pub const ALL: &'static [VideoMessage] = &[$(VideoMessage::$m,)*];

            /// The name it is sent under.
            pub const fn app(self) -> VideoApp {
                match self {
                    $(VideoMessage::$m => VideoApp::$app,)*
                }
            }

            /// Its value: the subtype's low four bits.
            pub const fn value(self) -> u8 {
                match self {
                    $(VideoMessage::$m => $v,)*
                }
            }

            /// The name TS 24.581 gives it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(VideoMessage::$m => $name,)*
                }
            }
        }
    };
}

messages! {
    TransmissionRequest = (Participant, 0, "Transmission Request"),
    TransmissionRelease = (Participant, 2, "Transmission Release"),
    QueuePositionRequest = (Participant, 3, "Queue Position Request"),
    ReceiveMediaRequest = (Participant, 4, "Receive Media Request"),
    RemoteTransmissionRequest = (Participant, 7, "Remote Transmission Request"),
    RemoteTransmissionCancelRequest = (Participant, 8, "Remote Transmission Cancel Request"),
    TransmissionGranted = (Server, 0, "Transmission Granted"),
    TransmissionRejected = (Server, 1, "Transmission Rejected"),
    TransmissionArbitrationTaken = (Server, 2, "Transmission Arbitration Taken"),
    TransmissionArbitrationRelease = (Server, 3, "Transmission Arbitration Release"),
    TransmissionRevoked = (Server, 4, "Transmission Revoked"),
    QueuePositionInfo = (Server, 5, "Queue Position Info"),
    MediaTransmissionNotification = (Server, 6, "Media Transmission Notification"),
    ReceiveMediaResponse = (Server, 7, "Receive Media Response"),
    MediaReceptionNotification = (Server, 8, "Media Reception Notification"),
    TransmissionCancelRequestNotify = (Server, 10, "Transmission Cancel Request Notify"),
    RemoteTransmissionResponse = (Server, 11, "Remote Transmission Response"),
    RemoteTransmissionCancelResponse = (Server, 12, "Remote Transmission Cancel Response"),
    MediaReceptionOverrideNotification = (Server, 13, "Media Reception Override Notification"),
    TransmissionEndNotify = (Server, 14, "Transmission End Notify"),
    TransmissionIdle = (Server, 15, "Transmission Idle"),
    TransmissionEndRequest = (Both, 0, "Transmission End Request"),
    TransmissionEndResponse = (Both, 1, "Transmission End Response"),
    MediaReceptionEndRequest = (Both, 2, "Media Reception End Request"),
    MediaReceptionEndResponse = (Both, 3, "Media Reception End Response"),
    TransmissionControlAck = (Both, 4, "Transmission Control Ack"),
}

impl VideoMessage {
    /// The message `app` sends with `value` (the subtype's low four bits).
    pub fn from_value(app: VideoApp, value: u8) -> Option<VideoMessage> {
        VideoMessage::ALL
            .iter()
            .copied()
            .find(|m| m.app() == app && m.value() == value)
    }

    /// The message named `name`.
    pub fn from_name(name: &str) -> Option<VideoMessage> {
        VideoMessage::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Whether it may ask for an acknowledgement: all but the acknowledgement itself.
    pub const fn may_require_ack(self) -> bool {
        !matches!(self, VideoMessage::TransmissionControlAck)
    }
}

macro_rules! video_fields {
    ($($f:ident = ($id:expr, $layout:ident, $name:expr),)*) => {
        /// A transmission control field (TS 24.581 Table 9.2.3.1-1).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum VideoField {
            $(
                #[doc = $name]
                $f,
            )*
        }

        impl VideoField {
            /// Every field, in ID order.
            pub const ALL: &'static [VideoField] = &[$(VideoField::$f,)*];

            /// The ID the builder writes.
            pub const fn wire(self) -> u8 {
                match self {
                    $(VideoField::$f => $id,)*
                }
            }

            /// The name TS 24.581 gives it.
            pub const fn name(self) -> &'static str {
                match self {
                    $(VideoField::$f => $name,)*
                }
            }

            /// The TS 24.380 field whose value layout it has; `None` for Message Name (four
            /// ASCII octets and two spare).
            pub const fn layout(self) -> Option<FieldId> {
                match self {
                    $(VideoField::$f => layout!($layout),)*
                }
            }
        }
    };
}

macro_rules! layout {
    (Name) => {
        None
    };
    ($f:ident) => {
        Some(FieldId::$f)
    };
}

video_fields! {
    TransmissionPriority = (0, FloorPriority, "Transmission Priority"),
    Duration = (1, Duration, "Duration"),
    RejectCause = (2, RejectCause, "Reject Cause"),
    QueueInfo = (3, QueueInfo, "Queue Info"),
    TransmittingUserId = (4, GrantedPartyIdentity, "User ID of the Transmitting User"),
    PermissionToRequest = (5, PermissionToRequest, "Permission to Request the Transmission"),
    UserId = (6, UserId, "User ID"),
    QueueSize = (7, QueueSize, "Queue Size"),
    SequenceNumber = (8, SequenceNumber, "Message Sequence Number"),
    QueuedUserId = (9, QueuedUserId, "Queued User ID"),
    Source = (10, Source, "Source"),
    TrackInfo = (11, TrackInfo, "Track Info"),
    MessageType = (12, MessageType, "Message Type"),
    TransmissionIndicator = (13, FloorIndicator, "Transmission Indicator"),
    AudioSsrc = (14, Ssrc, "Audio SSRC of the Transmitting User"),
    Result = (15, Duration, "Result"),
    MessageName = (16, Name, "Message Name"),
    OverridingId = (17, UserId, "Overriding ID"),
    OverriddenId = (18, UserId, "Overridden ID"),
    ReceptionPriority = (19, FloorPriority, "Reception Priority"),
    GroupIdentity = (20, UserId, "MCVideo Group Identity"),
    FunctionalAlias = (21, FunctionalAlias, "Functional Alias"),
    ReceptionMode = (22, Duration, "Reception Mode"),
    VideoSsrc = (23, Ssrc, "Video SSRC of the Transmitting User"),
}

impl VideoField {
    /// The field a wire ID names (23 and 24 both Video SSRC, see the module's sources).
    pub fn from_wire(id: u8) -> Option<VideoField> {
        match id {
            24 => Some(VideoField::VideoSsrc),
            _ => VideoField::ALL.get(usize::from(id)).copied(),
        }
    }

    /// The field named `name`.
    pub fn from_name(name: &str) -> Option<VideoField> {
        VideoField::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Whether it names a user, a group or a function: what topology hiding rewrites.
    pub const fn is_identity(self) -> bool {
        matches!(
            self,
            VideoField::TransmittingUserId
                | VideoField::UserId
                | VideoField::QueuedUserId
                | VideoField::OverridingId
                | VideoField::OverriddenId
                | VideoField::GroupIdentity
                | VideoField::FunctionalAlias
        )
    }

    /// Whether it carries an SSRC.
    pub const fn is_ssrc(self) -> bool {
        matches!(self, VideoField::AudioSsrc | VideoField::VideoSsrc)
    }

    /// Checks `v`, the field's value, and views it: the TS 24.380 value of the same layout;
    /// Message Name as [`Value::Text`] of its four ASCII octets.
    pub fn parse(self, v: &[u8]) -> Result<Value<'_>, Error> {
        let bad = Error::BadVideoField(self);
        match self.layout() {
            Some(f) => Value::parse(f, v).map_err(|_| bad),
            None => match v {
                [n @ .., _, _] if n.len() == 4 && n.is_ascii() => {
                    core::str::from_utf8(n).map(Value::Text).map_err(|_| bad)
                }
                _ => Err(bad),
            },
        }
    }
}

impl fmt::Display for VideoField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One field of a parsed MCVideo message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoFieldView<'a> {
    /// The ID on the wire.
    pub wire_id: u8,
    /// The field; `None` for an unknown ID kept by [`Unknown::Keep`].
    pub id: Option<VideoField>,
    /// The value octets.
    pub raw: &'a [u8],
    /// The checked value; `None` for an unknown ID.
    pub value: Option<Value<'a>>,
}

/// A checked MCVideo transmission control packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Video<'a> {
    /// The message.
    pub message: VideoMessage,
    /// Whether the sender asks for an acknowledgement.
    pub ack_required: bool,
    /// The sender's SSRC.
    pub ssrc: u32,
    body: &'a [u8],
    unknown: Unknown,
}

impl<'a> Video<'a> {
    /// The fields, in packet order.
    pub fn fields(&self) -> impl Iterator<Item = VideoFieldView<'a>> + 'a {
        let mut rest = self.body;
        let unknown = self.unknown;
        core::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            // Checked by `parse`.
            let (f, r) = next(rest, unknown).ok()?;
            rest = r;
            Some(f)
        })
    }

    /// The first field `id`, if present.
    pub fn field(&self, id: VideoField) -> Option<Value<'a>> {
        self.fields()
            .find(|f| f.id == Some(id))
            .and_then(|f| f.value)
    }
}

fn next(b: &[u8], unknown: Unknown) -> Result<(VideoFieldView<'_>, &[u8]), Error> {
    let (wire_id, raw, rest) = tlv(b)?;
    let id = VideoField::from_wire(wire_id);
    let value = match id {
        Some(f) => Some(f.parse(raw)?),
        None if unknown == Unknown::Keep => None,
        None => return Err(Error::UnknownField(wire_id)),
    };
    Ok((
        VideoFieldView {
            wire_id,
            id,
            raw,
            value,
        },
        rest,
    ))
}

/// The message of an MCVideo packet's header; checks the framing as [`super::parse`] does.
fn header(pkt: &[u8]) -> Result<(VideoMessage, bool, u32), Error> {
    let (subtype, ssrc) = app_header(pkt)?;
    let app = VideoApp::from_name(&pkt[8..12]).ok_or(Error::UnknownName)?;
    let m = VideoMessage::from_value(app, subtype & 0x0f).ok_or(Error::UnknownMessage(subtype))?;
    let ack = subtype & ACK_REQUIRED != 0;
    if ack && !m.may_require_ack() {
        return Err(Error::UnknownMessage(subtype));
    }
    Ok((m, ack, ssrc))
}

/// Reads one MCVideo transmission control packet, strictly: exactly `pkt`, version 2, no
/// padding, an `MCV0`–`MCV2` name and a message of that name, every field checked against
/// its layout; an unknown field ID is refused unless `unknown` keeps it.
pub fn parse(pkt: &[u8], unknown: Unknown) -> Result<Video<'_>, Error> {
    let (message, ack_required, ssrc) = header(pkt)?;
    let body = &pkt[HEADER_LEN..];
    let mut rest = body;
    while !rest.is_empty() {
        rest = next(rest, unknown)?.1;
    }
    Ok(Video {
        message,
        ack_required,
        ssrc,
        body,
        unknown,
    })
}

/// Builds one MCVideo packet; what it hands out, [`parse`] accepts.
#[derive(Clone, Debug)]
pub struct VideoBuilder {
    inner: TlvBuilder,
}

impl VideoBuilder {
    /// `message` from `ssrc`; `ack`: the receiver is asked to acknowledge.
    pub fn new(message: VideoMessage, ack: bool, ssrc: u32) -> VideoBuilder {
        let subtype = message.value() | if ack { ACK_REQUIRED } else { 0 };
        VideoBuilder {
            inner: TlvBuilder::named(message.app().name(), subtype, ssrc, Profile::Current),
        }
    }

    /// A field by wire ID, its value as it is.
    pub fn raw(self, wire_id: u8, value: &[u8]) -> VideoBuilder {
        VideoBuilder {
            inner: self.inner.raw(wire_id, value),
        }
    }

    /// Field `f` with its value octets.
    pub fn value(self, f: VideoField, value: &[u8]) -> VideoBuilder {
        self.raw(f.wire(), value)
    }

    /// A 16-bit field (Duration, Permission, Queue Size, Sequence Number, Source,
    /// Transmission Indicator, Result, Reception Mode).
    pub fn u16(self, f: VideoField, v: u16) -> VideoBuilder {
        self.value(f, &v.to_be_bytes())
    }

    /// A one-octet field with its spare octet (Transmission or Reception Priority, Message
    /// Type).
    pub fn u8(self, f: VideoField, v: u8) -> VideoBuilder {
        self.value(f, &[v, 0])
    }

    /// A text field (an identity, a group, a functional alias).
    pub fn text(self, f: VideoField, s: &str) -> VideoBuilder {
        self.value(f, s.as_bytes())
    }

    /// An SSRC field (Audio or Video SSRC) with its two spare octets.
    pub fn ssrc(self, f: VideoField, ssrc: u32) -> VideoBuilder {
        let b = ssrc.to_be_bytes();
        self.value(f, &[b[0], b[1], b[2], b[3], 0, 0])
    }

    /// Message Name: the name of the message acknowledged, and two spare octets.
    pub fn message_name(self, app: VideoApp) -> VideoBuilder {
        let n = app.name();
        self.value(VideoField::MessageName, &[n[0], n[1], n[2], n[3], 0, 0])
    }

    /// The packet, checked by [`parse`] (unknown raw fields allowed).
    pub fn finish(self) -> Result<Vec<u8>, Error> {
        let bytes = self.inner.framed()?;
        parse(&bytes, Unknown::Keep)?;
        Ok(bytes)
    }
}

/// Rewrites the MCVideo packet `buf[..len]` as [`super::rewrite`] does a floor-control one:
/// the sender SSRC becomes `sender`, identity fields and SSRC fields go through `map`, the
/// rest is copied. The result starts at `buf[0]`; on an error `buf[..len]` is unchanged.
pub fn rewrite(
    buf: &mut [u8],
    len: usize,
    sender: u32,
    unknown: Unknown,
    map: &impl Rewrite,
) -> Result<Rewritten, Error> {
    let pkt = buf.get(..len).ok_or(Error::Truncated)?;
    parse(pkt, unknown)?;
    if len > MAX_REWRITE {
        return Err(Error::TooLong);
    }
    let mut out = [0u8; MAX_REWRITE];
    let mut n = HEADER_LEN;
    out[..HEADER_LEN].copy_from_slice(&pkt[..HEADER_LEN]);
    out[4..8].copy_from_slice(&sender.to_be_bytes());
    let mut done = Rewritten::default();
    let mut rest = &pkt[HEADER_LEN..];
    while !rest.is_empty() {
        let (f, r) = next(rest, unknown)?;
        rest = r;
        let mut ssrc = [0u8; 6];
        let value: &[u8] = match (f.id, f.value) {
            (Some(id), Some(Value::Text(t))) if id.is_identity() => {
                match map.identity(t.as_bytes()) {
                    Some(new) => {
                        done.identities += 1;
                        new
                    }
                    None => f.raw,
                }
            }
            (Some(id), Some(Value::Ssrc(s))) if id.is_ssrc() => {
                let s = match map.ssrc(s) {
                    Some(new) => {
                        done.ssrcs += 1;
                        new
                    }
                    None => s,
                };
                ssrc[..4].copy_from_slice(&s.to_be_bytes());
                &ssrc
            }
            _ => f.raw,
        };
        let long = f.wire_id >= 192;
        if value.len() > if long { 0xffff } else { 0xff } {
            return Err(Error::TooLong);
        }
        let head = if long { 3 } else { 2 };
        let end = n + head + value.len();
        let padded = end.next_multiple_of(4);
        let dst = out.get_mut(n..padded).ok_or(Error::TooLong)?;
        dst[0] = f.wire_id;
        if long {
            dst[1..3].copy_from_slice(&(value.len() as u16).to_be_bytes());
        } else {
            dst[1] = value.len() as u8;
        }
        dst[head..head + value.len()].copy_from_slice(value);
        dst[head + value.len()..].fill(0);
        n = padded;
    }
    if n > buf.len() {
        return Err(Error::TooLong);
    }
    out[2..4].copy_from_slice(&((n / 4 - 1) as u16).to_be_bytes());
    buf[..n].copy_from_slice(&out[..n]);
    done.len = n;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::floor::{Options, parse as floor_parse};
    use proptest::prelude::*;

    /// Every field with a value of its layout.
    fn every_field() -> VideoBuilder {
        VideoBuilder::new(VideoMessage::TransmissionGranted, true, 0x5e1f_0001)
            .u8(VideoField::TransmissionPriority, 7)
            .u16(VideoField::Duration, 30)
            .raw(2, b"\x00\x05receive only")
            .raw(3, &[254, 3])
            .text(VideoField::TransmittingUserId, "sip:alice@in.x.org")
            .u16(VideoField::PermissionToRequest, 1)
            .text(VideoField::UserId, "sip:alice@in.x.org")
            .u16(VideoField::QueueSize, 2)
            .u16(VideoField::SequenceNumber, 0x0102)
            .text(VideoField::QueuedUserId, "sip:bob@in.x.org")
            .u16(VideoField::Source, 2)
            .raw(11, b"\x01\x04ctrl\x00\x00\x00\x09")
            .u8(VideoField::MessageType, 0x10)
            .u16(VideoField::TransmissionIndicator, 0x9000)
            .ssrc(VideoField::AudioSsrc, 0xa0d1_0001)
            .u16(VideoField::Result, 1)
            .message_name(VideoApp::Participant)
            .text(VideoField::OverridingId, "sip:carol@in.x.org")
            .text(VideoField::OverriddenId, "sip:dave@in.x.org")
            .u8(VideoField::ReceptionPriority, 3)
            .text(VideoField::GroupIdentity, "sip:video-group@in.x.org")
            .text(VideoField::FunctionalAlias, "sip:engine-3@in.x.org")
            .u16(VideoField::ReceptionMode, 1)
            .ssrc(VideoField::VideoSsrc, 0x71de_0001)
    }

    #[test]
    fn every_message_round_trips_with_and_without_ack() {
        for &m in VideoMessage::ALL {
            for ack in [false, true] {
                let b = VideoBuilder::new(m, ack, 0x1234_5678)
                    .u16(VideoField::SequenceNumber, 9)
                    .finish();
                if ack && !m.may_require_ack() {
                    assert_eq!(b.err(), Some(Error::UnknownMessage(m.value() | 0x10)));
                    continue;
                }
                let p = b.unwrap();
                assert_eq!(&p[8..12], m.app().name());
                assert_eq!(p[0], 0x80 | m.value() | if ack { 0x10 } else { 0 });
                let v = parse(&p, Unknown::Reject).unwrap();
                assert_eq!((v.message, v.ack_required, v.ssrc), (m, ack, 0x1234_5678));
                assert_eq!(VideoMessage::from_name(m.name()), Some(m));
            }
        }
        // TS 36.579-1 Table 5.5.11.1.1-1: Transmission Request is subtype 00000, or 10000
        // when it asks for a Transmission Control Ack.
        let r = |ack| VideoBuilder::new(VideoMessage::TransmissionRequest, ack, 1).finish();
        assert_eq!(r(false).unwrap()[0] & 0x1f, 0b00000);
        assert_eq!(r(true).unwrap()[0] & 0x1f, 0b10000);
    }

    #[test]
    fn every_field_reads_back_as_written() {
        let p = every_field().finish().unwrap();
        let v = parse(&p, Unknown::Reject).unwrap();
        let ids: Vec<u8> = v.fields().map(|f| f.wire_id).collect();
        assert_eq!(ids, (0..=23).collect::<Vec<u8>>());
        assert_eq!(v.fields().filter(|f| f.id.is_none()).count(), 0);
        assert_eq!(
            v.field(VideoField::TransmissionPriority),
            Some(Value::U8(7))
        );
        assert_eq!(
            v.field(VideoField::RejectCause),
            Some(Value::RejectCause {
                cause: 5,
                phrase: "receive only"
            })
        );
        assert_eq!(
            v.field(VideoField::QueueInfo),
            Some(Value::QueueInfo {
                position: 254,
                priority: 3
            })
        );
        assert_eq!(
            v.field(VideoField::GroupIdentity),
            Some(Value::Text("sip:video-group@in.x.org"))
        );
        assert_eq!(v.field(VideoField::MessageName), Some(Value::Text("MCV0")));
        assert_eq!(
            v.field(VideoField::AudioSsrc),
            Some(Value::Ssrc(0xa0d1_0001))
        );
        assert_eq!(
            v.field(VideoField::VideoSsrc),
            Some(Value::Ssrc(0x71de_0001))
        );
        assert_eq!(
            v.field(VideoField::TransmissionIndicator),
            Some(Value::U16(0x9000))
        );
        for &f in VideoField::ALL {
            assert_eq!(VideoField::from_name(f.name()), Some(f));
            assert_eq!(VideoField::from_wire(f.wire()), Some(f));
        }
        // The other numbering of the Video SSRC reads the same.
        let p = VideoBuilder::new(VideoMessage::TransmissionGranted, false, 1)
            .raw(24, &[1, 2, 3, 4, 0, 0])
            .finish()
            .unwrap();
        let v = parse(&p, Unknown::Reject).unwrap();
        assert_eq!(
            v.field(VideoField::VideoSsrc),
            Some(Value::Ssrc(0x0102_0304))
        );
    }

    #[test]
    fn refusals_say_why() {
        // Sequence Number at 12..16, User ID at 16..24 with one octet of padding.
        let ok = VideoBuilder::new(VideoMessage::TransmissionRequest, false, 1)
            .u16(VideoField::SequenceNumber, 1)
            .text(VideoField::UserId, "sip:a")
            .finish()
            .unwrap();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut p = ok.clone();
            f(&mut p);
            parse(&p, Unknown::Reject).err()
        };
        // Legacy cancel messages, values no table has, and an unknown name.
        assert_eq!(with(&|p| p[0] = 0x85), Some(Error::UnknownMessage(5)));
        assert_eq!(with(&|p| p[0] = 0x81), Some(Error::UnknownMessage(1)));
        assert_eq!(
            with(&|p| {
                p[8..12].copy_from_slice(b"MCV1");
                p[0] = 0x89;
            }),
            Some(Error::UnknownMessage(9))
        );
        assert_eq!(
            with(&|p| p[8..12].copy_from_slice(b"MCV3")),
            Some(Error::UnknownName)
        );
        assert_eq!(
            with(&|p| {
                p[8..12].copy_from_slice(b"MCV2");
                p[0] = 0x94;
            }),
            Some(Error::UnknownMessage(0x14)),
            "a Transmission Control Ack asks for no acknowledgement"
        );
        assert_eq!(with(&|p| p[0] = 0xa0), Some(Error::Padding));
        assert_eq!(with(&|p| p[3] += 1), Some(Error::Length));
        assert_eq!(with(&|p| p[23] = 1), Some(Error::NonZeroPadding));
        assert_eq!(
            with(&|p| p[13] = 6),
            Some(Error::BadVideoField(VideoField::SequenceNumber))
        );
        assert_eq!(with(&|p| p[13] = 13), Some(Error::Truncated));
        assert_eq!(with(&|p| p[12] = 25), Some(Error::UnknownField(25)));
        let mut kept = ok.clone();
        kept[12] = 25;
        let v = parse(&kept, Unknown::Keep).unwrap();
        assert_eq!(
            v.fields().next().map(|f| (f.wire_id, f.id)),
            Some((25, None))
        );
        // Layouts: an SSRC of 4 octets, a Message Name that is not ASCII.
        let bad = |f: VideoField, v: &[u8]| {
            VideoBuilder::new(VideoMessage::TransmissionGranted, false, 1)
                .value(f, v)
                .finish()
                .err()
        };
        assert_eq!(
            bad(VideoField::AudioSsrc, &[1, 2, 3, 4]),
            Some(Error::BadVideoField(VideoField::AudioSsrc))
        );
        assert_eq!(
            bad(VideoField::MessageName, &[0xff, b'C', b'V', b'0', 0, 0]),
            Some(Error::BadVideoField(VideoField::MessageName))
        );
        assert_eq!(
            bad(VideoField::UserId, &[0xc3, 0x28]),
            Some(Error::BadVideoField(VideoField::UserId))
        );
        // Each parser keeps to its own names.
        assert_eq!(
            floor_parse(&ok, Options::default()).err(),
            Some(Error::UnknownName)
        );
        let mcpt = crate::floor::floor_request(1, "sip:a@b", 1, 0x8000).unwrap();
        assert_eq!(
            parse(&mcpt.bytes, Unknown::Reject).err(),
            Some(Error::UnknownName)
        );
    }

    struct Map;
    impl Rewrite for Map {
        fn identity(&self, id: &[u8]) -> Option<&[u8]> {
            match id {
                b"sip:alice@in.x.org" => Some(b"sip:proxy@ex.x.org"),
                b"sip:bob@in.x.org" => Some(b"sip:ext-7@ex.x.org"),
                b"sip:video-group@in.x.org" => Some(b"sip:vg@ex.x.org"),
                _ => None,
            }
        }
        fn ssrc(&self, ssrc: u32) -> Option<u32> {
            (ssrc == 0xa0d1_0001).then_some(0x0e0e_0001)
        }
    }

    #[test]
    fn rewrite_replaces_identities_and_ssrcs_and_nothing_else() {
        let p = VideoBuilder::new(VideoMessage::TransmissionGranted, false, 0x5e1f_0001)
            .u16(VideoField::Duration, 30)
            .text(VideoField::TransmittingUserId, "sip:alice@in.x.org")
            .text(VideoField::QueuedUserId, "sip:bob@in.x.org")
            .ssrc(VideoField::AudioSsrc, 0xa0d1_0001)
            .ssrc(VideoField::VideoSsrc, 0x71de_0001)
            .text(VideoField::GroupIdentity, "sip:video-group@in.x.org")
            .text(VideoField::FunctionalAlias, "sip:engine-3@elsewhere.org")
            .finish()
            .unwrap();
        let want = VideoBuilder::new(VideoMessage::TransmissionGranted, false, 0x0a0a_0001)
            .u16(VideoField::Duration, 30)
            .text(VideoField::TransmittingUserId, "sip:proxy@ex.x.org")
            .text(VideoField::QueuedUserId, "sip:ext-7@ex.x.org")
            .ssrc(VideoField::AudioSsrc, 0x0e0e_0001)
            .ssrc(VideoField::VideoSsrc, 0x71de_0001)
            .text(VideoField::GroupIdentity, "sip:vg@ex.x.org")
            .text(VideoField::FunctionalAlias, "sip:engine-3@elsewhere.org")
            .finish()
            .unwrap();
        let mut buf = p.clone();
        buf.resize(256, 0xee);
        let r = rewrite(&mut buf, p.len(), 0x0a0a_0001, Unknown::Reject, &Map).unwrap();
        assert_eq!((r.identities, r.ssrcs), (3, 1));
        assert_eq!(&buf[..r.len], &want[..]);
        // A refused packet leaves the buffer as it was.
        let mut bad = p.clone();
        bad[13] = 3;
        let before = bad.clone();
        assert!(rewrite(&mut bad, before.len(), 9, Unknown::Reject, &Map).is_err());
        assert_eq!(bad, before);
        // Too little room for what grows.
        let mut tight = every_field().finish().unwrap();
        let n = tight.len();
        struct Grow;
        impl Rewrite for Grow {
            fn identity(&self, _: &[u8]) -> Option<&[u8]> {
                Some(&[b'x'; 200])
            }
            fn ssrc(&self, _: u32) -> Option<u32> {
                None
            }
        }
        let before = tight.clone();
        assert_eq!(
            rewrite(&mut tight, n, 1, Unknown::Reject, &Grow).err(),
            Some(Error::TooLong)
        );
        assert_eq!(tight, before);
    }

    proptest! {
        /// Mutated packets: no panic; what parses, rewrites under a map that changes nothing
        /// to itself with the new sender.
        #[test]
        fn mutated_packets_are_refused_or_kept(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        ) {
            let mut p = every_field().finish().unwrap();
            for (at, v) in edits {
                let at = at % p.len();
                p[at] = v;
            }
            struct Same;
            impl Rewrite for Same {
                fn identity(&self, _: &[u8]) -> Option<&[u8]> { None }
                fn ssrc(&self, _: u32) -> Option<u32> { None }
            }
            let parsed = parse(&p, Unknown::Keep).is_ok();
            let mut buf = p.clone();
            buf.resize(p.len() + 64, 0);
            match rewrite(&mut buf, p.len(), 0x0102_0304, Unknown::Keep, &Same) {
                Ok(r) => {
                    prop_assert!(parsed);
                    let mut want = p.clone();
                    want[4..8].copy_from_slice(&[1, 2, 3, 4]);
                    let got = &buf[..r.len];
                    // Spare SSRC octets are written as zero; otherwise every octet is kept.
                    let spare_set = parse(&want, Unknown::Keep).unwrap().fields().any(|f| {
                        f.id.is_some_and(VideoField::is_ssrc) && f.raw[4..] != [0, 0]
                    });
                    prop_assert_eq!(got.len(), want.len());
                    if !spare_set {
                        prop_assert_eq!(got, &want[..]);
                    }
                }
                Err(_) => prop_assert!(!parsed),
            }
        }
    }
}
