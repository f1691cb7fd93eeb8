//! Builders of floor-control APP packets (TS 24.380 §8.1.2, §8.2).

use super::{
    FIELD_DURATION, FIELD_FLOOR_INDICATOR, FIELD_FLOOR_PRIORITY, FIELD_SEQUENCE_NUMBER,
    FIELD_USER_ID, FLOOR_INDICATOR_NORMAL,
};

/// Floor Request message type (subtype low bits).
pub const FLOOR_REQUEST: u8 = 0;
/// Floor Granted message type.
pub const FLOOR_GRANTED: u8 = 1;

/// Appends one field: ID, length, value, zero padding to 32 bits. `value` is at most 255
/// octets (longer values are cut there).
pub fn push_field(out: &mut Vec<u8>, id: u8, value: &[u8]) {
    let value = &value[..value.len().min(255)];
    out.push(id);
    out.push(value.len() as u8);
    out.extend_from_slice(value);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// An MCPTT APP packet: V=2, P=0, `subtype`, PT=204, length, `ssrc`, name "MCPT", then
/// `fields` (a multiple of 4 octets, as [`push_field`] leaves them).
pub fn app_packet(subtype: u8, ssrc: u32, fields: &[u8]) -> Vec<u8> {
    debug_assert!(
        fields.len().is_multiple_of(4),
        "APP data is a multiple of 32 bits"
    );
    let total = 12 + fields.len();
    let mut p = Vec::with_capacity(total);
    p.push(0x80 | (subtype & 0x1f));
    p.push(204);
    p.extend_from_slice(&((total / 4 - 1) as u16).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(b"MCPT");
    p.extend_from_slice(fields);
    p
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
}

/// Floor Request from a client: Floor Priority, User ID, Floor Indicator, Sequence-Number.
pub fn floor_request(ssrc: u32, user_id: &str, priority: u8) -> FloorPacket {
    let mut f = Vec::new();
    push_field(&mut f, FIELD_FLOOR_PRIORITY, &[priority, 0]);
    push_field(&mut f, FIELD_USER_ID, user_id.as_bytes());
    push_field(
        &mut f,
        FIELD_FLOOR_INDICATOR,
        &FLOOR_INDICATOR_NORMAL.to_be_bytes(),
    );
    let seq_at = 12 + f.len() + 2;
    push_field(&mut f, FIELD_SEQUENCE_NUMBER, &[0, 0]);
    FloorPacket {
        bytes: app_packet(FLOOR_REQUEST, ssrc, &f),
        seq_at,
    }
}

/// Floor Granted from the server: Duration, Floor Priority, Sequence-Number.
pub fn floor_granted(ssrc: u32, duration_s: u16, priority: u8) -> FloorPacket {
    let mut f = Vec::new();
    push_field(&mut f, FIELD_DURATION, &duration_s.to_be_bytes());
    push_field(&mut f, FIELD_FLOOR_PRIORITY, &[priority, 0]);
    let seq_at = 12 + f.len() + 2;
    push_field(&mut f, FIELD_SEQUENCE_NUMBER, &[0, 0]);
    FloorPacket {
        bytes: app_packet(FLOOR_GRANTED, ssrc, &f),
        seq_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_well_framed_app_packets() {
        let mut r = floor_request(0xdead_beef, "sip:alice@example.org", 5);
        r.set_sequence(0x1234);
        let b = &r.bytes;
        assert_eq!(b.len() % 4, 0);
        assert_eq!((b[0], b[1]), (0x80, 204));
        assert_eq!((u16::from_be_bytes([b[2], b[3]]) as usize + 1) * 4, b.len());
        assert_eq!(&b[8..12], b"MCPT");
        assert_eq!(&b[b.len() - 4..], &[FIELD_SEQUENCE_NUMBER, 2, 0x12, 0x34]);
        let g = floor_granted(1, 30, 5);
        assert_eq!(g.bytes[0] & 0x1f, FLOOR_GRANTED);
        assert_eq!(&g.bytes[12..16], &[FIELD_DURATION, 2, 0, 30]);
        assert!(crate::srtcp::check_rtcp_compound(&g.bytes).is_ok());
    }
}
