//! TS 24.380 floor control: the RTCP APP packets ("MCPT") that carry floor requests, grants,
//! releases and the like (§8.2), as TLV fields (Field ID, Length, value, padding to 32
//! bits; a Field ID from 192 on has a two-octet Length).
//!
//! ```text
//! | V=2 | P | subtype (5) | PT=204 | length (16)  |
//! | SSRC of the sender                           |
//! | name "MCPT"                                  |
//! | field ID | len | value … | padding to 32 bits |  repeated
//! ```
//!
//! - [`parse`]: one packet, strictly: a bad length, a truncated field, non-zero padding,
//!   an unknown message type or field ID is an [`Error`]. No allocation.
//! - [`Builder`]: every message type with every field; what it builds, the parser accepts.
//! - [`rewrite`]: identities and SSRCs replaced in place, for topology hiding.
//!
//! **Field IDs.** The current Table 8.2.3.1-2 numbers the fields 0 (Floor Priority) to 20
//! (List of Locations); Wireshark's RTCP dissector decodes those. Early Rel-13 texts used
//! 102–116; peers that still send them are read and written with [`Profile::Legacy`].
//! The subtype's low four bits are the message type (Table 8.2.2-1), its 0x10 bit asks for
//! an acknowledgement.

mod build;
mod field;
mod parse;
pub(crate) mod rewrite;
pub mod video;

use core::fmt;

pub use build::{Builder, FloorPacket, floor_granted, floor_request};
pub use field::{FieldId, Location, Profile, Value, location_len};
pub use parse::{
    ACK_REQUIRED, App, Field, HEADER_LEN, Message, MessageType, Options, PT_APP, Unknown, parse,
};
pub use rewrite::{MAX_REWRITE, Rewrite, Rewritten, rewrite};

/// Floor Indicator bit: normal call (§8.2.3.15).
pub const INDICATOR_NORMAL: u16 = 0x8000;
/// Floor Indicator bit: broadcast group call.
pub const INDICATOR_BROADCAST: u16 = 0x4000;
/// Floor Indicator bit: system call.
pub const INDICATOR_SYSTEM: u16 = 0x2000;
/// Floor Indicator bit: emergency call.
pub const INDICATOR_EMERGENCY: u16 = 0x1000;
/// Floor Indicator bit: imminent peril call.
pub const INDICATOR_IMMINENT_PERIL: u16 = 0x0800;

/// An APP packet with no fields (V=2, PT=204, `subtype`, `ssrc`, name "MCPT" and then
/// `fields` as they are, a multiple of 4 octets): for tests that need a packet of a given
/// size.
pub fn app_packet(subtype: u8, ssrc: u32, fields: &[u8]) -> Vec<u8> {
    debug_assert!(
        fields.len().is_multiple_of(4),
        "APP data is a multiple of 32 bits"
    );
    let mut p = build::header(App::FloorControl, subtype, ssrc, fields.len()).to_vec();
    p.extend_from_slice(fields);
    p
}

/// Why a floor-control packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Shorter than its header, or a field runs past the end.
    Truncated,
    /// Not RTP version 2.
    Version,
    /// The P bit is set: TS 24.380 APP packets carry no padding.
    Padding,
    /// Not an APP packet (this packet type).
    NotApp(u8),
    /// The length word does not give the packet's size (or the packet is a compound).
    Length,
    /// The name is not one the parser reads (MCPT, MCPC, MCMC; MCV0–MCV2 for
    /// [`video::parse`]).
    UnknownName,
    /// A subtype that names no floor-control message (or asks an acknowledgement of one
    /// that cannot have it).
    UnknownMessage(u8),
    /// A field ID the profile does not define.
    UnknownField(u8),
    /// A field's value does not have its layout (wrong length, a list that does not add up,
    /// an unknown location type).
    BadField(FieldId),
    /// A text field is not UTF-8.
    BadText(FieldId),
    /// An MCVideo field's value does not have its layout (or its text is not UTF-8).
    BadVideoField(video::VideoField),
    /// Padding after a field is not zero.
    NonZeroPadding,
    /// A value over its field's length limit, or a packet over its limit.
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated floor-control packet or field"),
            Error::Version => f.write_str("not RTP version 2"),
            Error::Padding => f.write_str("padding bit set (floor-control APP packets have none)"),
            Error::NotApp(pt) => write!(f, "packet type {pt} is not APP (204)"),
            Error::Length => f.write_str("length word does not match the packet's size"),
            Error::UnknownName => f.write_str("APP name is not one this parser reads"),
            Error::UnknownMessage(s) => write!(f, "subtype {s} names no floor-control message"),
            Error::UnknownField(id) => write!(f, "unknown field ID {id}"),
            Error::BadField(id) => write!(f, "{id}: value does not have the field's layout"),
            Error::BadText(id) => write!(f, "{id}: text is not UTF-8"),
            Error::BadVideoField(id) => write!(f, "{id}: value does not have the field's layout"),
            Error::NonZeroPadding => f.write_str("non-zero padding after a field"),
            Error::TooLong => f.write_str("value or packet over its length limit"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests;
