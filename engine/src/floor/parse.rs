//! Reading one floor-control APP packet: the header, the message type, and the fields,
//! each checked against its layout before anything is returned.

use super::Error;
use super::field::{FieldId, Profile, Value};

/// Octets of the APP header: V/P/subtype, PT, length, SSRC, name.
pub const HEADER_LEN: usize = 12;
/// RTCP packet type APP (RFC 3550 §6.7).
pub const PT_APP: u8 = 204;
/// Subtype bit: the receiver is asked to acknowledge (TS 24.380 §8.2.2).
pub const ACK_REQUIRED: u8 = 0x10;

/// The application a TS 24.380 APP packet belongs to, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum App {
    /// "MCPT": floor control (§8.2).
    FloorControl,
    /// "MCPC": pre-established session call control (§8.3). The TLV framing is checked; its
    /// message types and field IDs are not interpreted (every field is kept raw).
    CallControl,
    /// "MCMC": MBMS subchannel control (§8.4), likewise.
    MbmsControl,
}

impl App {
    /// The 4-octet name.
    pub const fn name(self) -> &'static [u8; 4] {
        match self {
            App::FloorControl => b"MCPT",
            App::CallControl => b"MCPC",
            App::MbmsControl => b"MCMC",
        }
    }

    /// The application of a 4-octet name.
    pub fn from_name(name: &[u8]) -> Option<App> {
        match name {
            b"MCPT" => Some(App::FloorControl),
            b"MCPC" => Some(App::CallControl),
            b"MCMC" => Some(App::MbmsControl),
            _ => None,
        }
    }
}

/// A floor-control message type: the low 4 bits of the subtype (TS 24.380 Table 8.2.2-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Floor Request.
    FloorRequest = 0,
    /// Floor Granted.
    FloorGranted = 1,
    /// Floor Taken.
    FloorTaken = 2,
    /// Floor Deny.
    FloorDeny = 3,
    /// Floor Release.
    FloorRelease = 4,
    /// Floor Idle.
    FloorIdle = 5,
    /// Floor Revoke.
    FloorRevoke = 6,
    /// Floor Queue Position Request.
    QueuePositionRequest = 8,
    /// Floor Queue Position Info.
    QueuePositionInfo = 9,
    /// Floor Ack.
    FloorAck = 10,
    /// Unicast Media Flow Control.
    UnicastMediaFlowControl = 11,
    /// Floor Queued Cancel.
    QueuedCancel = 14,
    /// Floor Release Multi Talker.
    ReleaseMultiTalker = 15,
}

impl MessageType {
    /// Every message type.
    pub const ALL: [MessageType; 13] = [
        MessageType::FloorRequest,
        MessageType::FloorGranted,
        MessageType::FloorTaken,
        MessageType::FloorDeny,
        MessageType::FloorRelease,
        MessageType::FloorIdle,
        MessageType::FloorRevoke,
        MessageType::QueuePositionRequest,
        MessageType::QueuePositionInfo,
        MessageType::FloorAck,
        MessageType::UnicastMediaFlowControl,
        MessageType::QueuedCancel,
        MessageType::ReleaseMultiTalker,
    ];

    /// The message type of the low 4 bits of a subtype.
    pub fn from_value(v: u8) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|m| *m as u8 == v)
    }

    /// The message type named `name` (as [`MessageType::name`] writes it).
    pub fn from_name(name: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether this message may ask for an acknowledgement (the subtype's 0x10 bit).
    pub const fn may_require_ack(self) -> bool {
        matches!(
            self,
            MessageType::FloorGranted
                | MessageType::FloorTaken
                | MessageType::FloorDeny
                | MessageType::FloorRelease
                | MessageType::FloorIdle
                | MessageType::QueuePositionInfo
                | MessageType::UnicastMediaFlowControl
                | MessageType::QueuedCancel
        )
    }

    /// The name TS 24.380 gives it.
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::FloorRequest => "Floor Request",
            MessageType::FloorGranted => "Floor Granted",
            MessageType::FloorTaken => "Floor Taken",
            MessageType::FloorDeny => "Floor Deny",
            MessageType::FloorRelease => "Floor Release",
            MessageType::FloorIdle => "Floor Idle",
            MessageType::FloorRevoke => "Floor Revoke",
            MessageType::QueuePositionRequest => "Floor Queue Position Request",
            MessageType::QueuePositionInfo => "Floor Queue Position Info",
            MessageType::FloorAck => "Floor Ack",
            MessageType::UnicastMediaFlowControl => "Unicast Media Flow Control",
            MessageType::QueuedCancel => "Floor Queued Cancel",
            MessageType::ReleaseMultiTalker => "Floor Release Multi Talker",
        }
    }
}

/// What to do with a field ID the profile does not define.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unknown {
    /// Refuse the packet ([`Error::UnknownField`]). The default.
    #[default]
    Reject,
    /// Keep the field as it is ([`Field::id`] is `None`): what a relay that must pass fields
    /// of later releases through chooses.
    Keep,
}

/// How [`parse`] reads a packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The field-ID numbering.
    pub profile: Profile,
    /// Unknown field IDs.
    pub unknown: Unknown,
}

/// One field of a parsed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The ID on the wire.
    pub wire_id: u8,
    /// The field it names; `None` for an unknown ID kept by [`Unknown::Keep`].
    pub id: Option<FieldId>,
    /// The value octets (without the ID, length and padding).
    pub raw: &'a [u8],
    /// The checked value; `None` for an unknown ID.
    pub value: Option<Value<'a>>,
}

/// A checked floor-control APP packet (no allocation: the fields are read again, already
/// checked, each time [`Message::fields`] is called).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The application (name).
    pub app: App,
    /// The 5-bit subtype.
    pub subtype: u8,
    /// The sender's SSRC.
    pub ssrc: u32,
    body: &'a [u8],
    options: Options,
}

impl<'a> Message<'a> {
    /// The message type; `None` for applications other than floor control.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.app {
            App::FloorControl => MessageType::from_value(self.subtype & 0x0f),
            _ => None,
        }
    }

    /// Whether the sender asks for an acknowledgement.
    pub fn ack_required(&self) -> bool {
        self.app == App::FloorControl && self.subtype & ACK_REQUIRED != 0
    }

    /// The message's name ("Floor Granted"; empty for other applications).
    pub fn name(&self) -> &'static str {
        self.message_type().map_or("", MessageType::name)
    }

    /// The profile it was read with.
    pub fn options(&self) -> Options {
        self.options
    }

    /// The fields, in packet order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + 'a {
        let options = self.options;
        let mut rest = self.body;
        let interpret = self.app == App::FloorControl;
        core::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            // Checked by `parse`.
            let (f, r) = next_field(rest, options, interpret).ok()?;
            rest = r;
            Some(f)
        })
    }

    /// The first field `id`, if present.
    pub fn field(&self, id: FieldId) -> Option<Value<'a>> {
        self.fields()
            .find(|f| f.id == Some(id))
            .and_then(|f| f.value)
    }
}

/// Reads one APP packet: exactly `pkt`, no compound, no padding, a known name; for floor
/// control a known message type; every field checked against its layout.
pub fn parse(pkt: &[u8], options: Options) -> Result<Message<'_>, Error> {
    let (app, subtype, ssrc) = header_of(pkt)?;
    let body = &pkt[HEADER_LEN..];
    let mut rest = body;
    let interpret = app == App::FloorControl;
    while !rest.is_empty() {
        rest = next_field(rest, options, interpret)?.1;
    }
    Ok(Message {
        app,
        subtype,
        ssrc,
        body,
        options,
    })
}

/// Checks the APP header of `pkt` (which must be exactly one packet): application, subtype
/// and sender SSRC.
pub(crate) fn header_of(pkt: &[u8]) -> Result<(App, u8, u32), Error> {
    let (subtype, ssrc) = app_header(pkt)?;
    let app = App::from_name(&pkt[8..12]).ok_or(Error::UnknownName)?;
    if app == App::FloorControl {
        let t = MessageType::from_value(subtype & 0x0f).ok_or(Error::UnknownMessage(subtype))?;
        if subtype & ACK_REQUIRED != 0 && !t.may_require_ack() {
            return Err(Error::UnknownMessage(subtype));
        }
    }
    Ok((app, subtype, ssrc))
}

/// The framing of one APP packet, whatever its name: version 2, no padding, PT 204, a
/// length word that gives exactly `pkt`'s size. Returns the subtype and the sender SSRC.
pub(crate) fn app_header(pkt: &[u8]) -> Result<(u8, u32), Error> {
    if pkt.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    if pkt[0] >> 6 != 2 {
        return Err(Error::Version);
    }
    if pkt[0] & 0x20 != 0 {
        return Err(Error::Padding);
    }
    if pkt[1] != PT_APP {
        return Err(Error::NotApp(pkt[1]));
    }
    let words = u16::from_be_bytes([pkt[2], pkt[3]]) as usize + 1;
    if words * 4 != pkt.len() {
        return Err(Error::Length);
    }
    Ok((
        pkt[0] & 0x1f,
        u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
    ))
}

/// The TLV at the front of `b`: its wire ID, its value and what follows it (after its
/// padding). Framing only: the length (one octet, two from ID 192 on), the padding to 32
/// bits, and that the padding is zero.
pub(crate) fn tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), Error> {
    let wire_id = *b.first().ok_or(Error::Truncated)?;
    let (len, head) = if wire_id >= 192 {
        if b.len() < 3 {
            return Err(Error::Truncated);
        }
        (u16::from_be_bytes([b[1], b[2]]) as usize, 3)
    } else {
        if b.len() < 2 {
            return Err(Error::Truncated);
        }
        (b[1] as usize, 2)
    };
    let end = head + len;
    let padded = end.next_multiple_of(4);
    if b.len() < padded {
        return Err(Error::Truncated);
    }
    if b[end..padded].iter().any(|&x| x != 0) {
        return Err(Error::NonZeroPadding);
    }
    Ok((wire_id, &b[head..end], &b[padded..]))
}

/// The field at the front of `b` and what follows it (after its padding); with `interpret`
/// false the field is kept raw (another application's field IDs).
pub(crate) fn next_field(
    b: &[u8],
    options: Options,
    interpret: bool,
) -> Result<(Field<'_>, &[u8]), Error> {
    let (wire_id, raw, rest) = tlv(b)?;
    let id = FieldId::from_wire(wire_id, options.profile).filter(|_| interpret);
    let value = match id {
        Some(id) => Some(Value::parse(id, raw)?),
        None if options.unknown == Unknown::Keep || !interpret => None,
        None => return Err(Error::UnknownField(wire_id)),
    };
    Ok((
        Field {
            wire_id,
            id,
            raw,
            value,
        },
        rest,
    ))
}
