//! TS 24.380 floor control: the RTCP APP packets ("MCPT") that carry floor requests, grants,
//! releases and the like (TS 24.380 §8.2), as TLV fields (Field ID, Length, value, padding to
//! 32 bits).
//!
//! ```text
//! | V=2 | P | subtype (5) | PT=204 | length (16)  |
//! | SSRC of the sender                           |
//! | name "MCPT"                                  |
//! | field ID | len | value … | padding to 32 bits |  repeated
//! ```
//!
//! [`build`]: builders for the messages the demo, the tests and the benchmarks send. The
//! parser and the identity-field rewrite of the proxy roles come with that issue.

pub mod build;

pub use build::{
    FLOOR_GRANTED, FLOOR_REQUEST, FloorPacket, app_packet, floor_granted, floor_request, push_field,
};

/// Field ID: Floor Priority (TS 24.380 §8.2.3.2).
pub const FIELD_FLOOR_PRIORITY: u8 = 102;
/// Field ID: Duration (§8.2.3.3).
pub const FIELD_DURATION: u8 = 103;
/// Field ID: User ID (§8.2.3.8).
pub const FIELD_USER_ID: u8 = 109;
/// Field ID: Message Sequence-Number (§8.2.3.10).
pub const FIELD_SEQUENCE_NUMBER: u8 = 111;
/// Field ID: Floor Indicator (§8.2.3.15).
pub const FIELD_FLOOR_INDICATOR: u8 = 116;

/// Floor Indicator bit "Normal call".
pub const FLOOR_INDICATOR_NORMAL: u16 = 0x8000;
