//! Which packet is which: every packet of a run has a global index `g`; its stream is
//! `g % streams`, its place in the stream `g / streams`, and a hash of (seed, `g`) picks
//! whether it is genuine or hostile and which message it carries. Sender and verifier
//! compute the same answers, so the verifier rebuilds the exact packet it expects.
//!
//! The identifier travels in a Track Info field (TS 24.380 §8.2.3.13; TS 24.581 has the
//! same layout) that every message carries first, with participant type `pktgen` and three
//! floor participant references: the run's tag, `g` (top bit set on hostile packets) and
//! the send time in µs since the run began (the scheduled time on an open-loop run). The
//! field is laid out the same in every message, so its references sit at [`REF_AT`].

use mcx_engine::floor::video::{VideoBuilder, VideoField, VideoMessage};
use mcx_engine::floor::{
    App, Builder, FieldId, INDICATOR_BROADCAST, INDICATOR_EMERGENCY, INDICATOR_IMMINENT_PERIL,
    INDICATOR_NORMAL, MessageType, Profile,
};

use super::scenario::Scenario;

/// Where the three Track Info references start: the 12-octet APP header, the field's ID
/// and length, queueing capability, participant type length, `pktgen` padded to 8.
pub const REF_AT: usize = 24;
/// The first octet after the references.
pub const REF_END: usize = REF_AT + 12;
/// The bit of `g` that marks a hostile packet.
pub const HOSTILE: u32 = 0x8000_0000;

/// What a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Client → server.
    Uplink(u32),
    /// Server → client.
    Downlink(u32),
    /// Server → group: one packet for the group address and every member.
    Group(u32),
    /// MBMS subchannel control toward a group's MBMS bearer.
    Mbms(u32),
}

/// The streams of a scenario, in index order.
pub fn streams(s: &Scenario) -> Vec<StreamKind> {
    let mut v = Vec::new();
    for c in 0..s.clients {
        v.push(StreamKind::Uplink(c));
        v.push(StreamKind::Downlink(c));
    }
    for j in 0..s.groups {
        v.push(StreamKind::Group(j));
        if s.mbms {
            v.push(StreamKind::Mbms(j));
        }
    }
    v
}

/// What a slot sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A genuine message: its variant (an index into the stream's templates).
    Genuine(u8),
    /// A genuine-looking packet with a flipped octet after protection.
    Forged,
    /// The stream's last genuine packet again.
    Replayed,
    /// A packet cut short after protection.
    Truncated,
    /// A packet under a key the relay does not have.
    UnknownKey,
}

/// The traffic class a latency is counted under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Emergency or imminent-peril indicator.
    Emergency,
    /// The rest.
    Normal,
}

/// SplitMix64: the per-slot hash.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// One message a stream may carry: how to build it for a sender SSRC and an identity form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The message's name (for the pcap test and the docs).
    pub name: &'static str,
    /// Its class.
    pub class: Class,
    build: Build,
    weight: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Build {
    Floor(MessageType, u16),
    Video(VideoMessage, u16),
    MbmsMap,
    MbmsUnmap,
}

/// Identities as one side of the proxy knows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Inside the proxy's domain.
    Internal,
    /// Outside it.
    External,
}

/// A client's identity in `form`.
pub fn user(c: u32, form: Form) -> String {
    match form {
        Form::Internal => format!("sip:user{c}@ptt.pktgen.internal"),
        Form::External => format!("sip:user{c}@pktgen.example"),
    }
}

/// A group's identity in `form`.
pub fn group(j: u32, form: Form) -> String {
    match form {
        Form::Internal => format!("sip:group{j}@ptt.pktgen.internal"),
        Form::External => format!("sip:group{j}@pktgen.example"),
    }
}

/// The variants of a stream kind under the scenario's mix; at most 255.
pub fn variants(kind: StreamKind, s: &Scenario) -> Vec<Variant> {
    let m = &s.mix;
    let (f, t) = (m.floor, m.transmission);
    // Requests split by indicator per the emergency and imminent-peril shares.
    let req = |w: u32| {
        let e = (f64::from(w) * m.emergency * 100.0).round() as u32;
        let p = (f64::from(w) * m.imminent_peril * 100.0).round() as u32;
        (w * 100 - (e + p).min(w * 100), e, p)
    };
    let v = |name, class, build, weight| Variant {
        name,
        class,
        build,
        weight,
    };
    use Build::*;
    use Class::*;
    let mut out = match kind {
        StreamKind::Uplink(_) => {
            let (n, e, p) = req(f * 4);
            let (vn, ve, vp) = req(t * 6);
            vec![
                v(
                    "Floor Request",
                    Normal,
                    Floor(MessageType::FloorRequest, INDICATOR_NORMAL),
                    n,
                ),
                v(
                    "Floor Request",
                    Emergency,
                    Floor(MessageType::FloorRequest, INDICATOR_EMERGENCY),
                    e,
                ),
                v(
                    "Floor Request",
                    Emergency,
                    Floor(MessageType::FloorRequest, INDICATOR_IMMINENT_PERIL),
                    p,
                ),
                v(
                    "Floor Release",
                    Normal,
                    Floor(MessageType::FloorRelease, INDICATOR_NORMAL),
                    f * 300,
                ),
                v(
                    "Floor Queue Position Request",
                    Normal,
                    Floor(MessageType::QueuePositionRequest, 0),
                    f * 100,
                ),
                v(
                    "Transmission Request",
                    Normal,
                    Video(VideoMessage::TransmissionRequest, INDICATOR_NORMAL),
                    vn,
                ),
                v(
                    "Transmission Request",
                    Emergency,
                    Video(VideoMessage::TransmissionRequest, INDICATOR_EMERGENCY),
                    ve,
                ),
                v(
                    "Transmission Request",
                    Emergency,
                    Video(VideoMessage::TransmissionRequest, INDICATOR_IMMINENT_PERIL),
                    vp,
                ),
                v(
                    "Transmission Release",
                    Normal,
                    Video(VideoMessage::TransmissionRelease, 0),
                    t * 400,
                ),
            ]
        }
        StreamKind::Downlink(_) => vec![
            v(
                "Floor Granted",
                Normal,
                Floor(MessageType::FloorGranted, 0),
                f * 300,
            ),
            v(
                "Floor Deny",
                Normal,
                Floor(MessageType::FloorDeny, 0),
                f * 50,
            ),
            v(
                "Floor Taken",
                Normal,
                Floor(MessageType::FloorTaken, INDICATOR_NORMAL),
                f * 250,
            ),
            v(
                "Floor Taken",
                Emergency,
                Floor(MessageType::FloorTaken, INDICATOR_EMERGENCY),
                (f64::from(f) * 250.0 * m.emergency).round() as u32,
            ),
            v(
                "Floor Idle",
                Normal,
                Floor(MessageType::FloorIdle, INDICATOR_NORMAL),
                f * 200,
            ),
            v(
                "Floor Revoke",
                Normal,
                Floor(MessageType::FloorRevoke, 0),
                f * 50,
            ),
            v(
                "Floor Queue Position Info",
                Normal,
                Floor(MessageType::QueuePositionInfo, 0),
                f * 150,
            ),
            v(
                "Transmission Granted",
                Normal,
                Video(VideoMessage::TransmissionGranted, 0),
                t * 400,
            ),
            v(
                "Transmission Rejected",
                Normal,
                Video(VideoMessage::TransmissionRejected, 0),
                t * 100,
            ),
            v(
                "Transmission Arbitration Taken",
                Normal,
                Video(VideoMessage::TransmissionArbitrationTaken, 0),
                t * 300,
            ),
            v(
                "Transmission Idle",
                Normal,
                Video(VideoMessage::TransmissionIdle, 0),
                t * 200,
            ),
        ],
        StreamKind::Group(_) => vec![
            v(
                "Floor Taken",
                Normal,
                Floor(
                    MessageType::FloorTaken,
                    INDICATOR_NORMAL | INDICATOR_BROADCAST,
                ),
                1000,
            ),
            v(
                "Floor Taken",
                Emergency,
                Floor(MessageType::FloorTaken, INDICATOR_EMERGENCY),
                (1000.0 * m.emergency).round() as u32,
            ),
            v(
                "Floor Idle",
                Normal,
                Floor(MessageType::FloorIdle, INDICATOR_NORMAL),
                800,
            ),
        ],
        StreamKind::Mbms(_) => vec![
            v("Map Group To Bearer", Normal, MbmsMap, 600),
            v("Unmap Group To Bearer", Normal, MbmsUnmap, 400),
        ],
    };
    out.retain(|v| v.weight > 0);
    out
}

/// Picks a variant by weight from a hash.
fn pick(variants: &[Variant], h: u64) -> u8 {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    let mut x = h % total.max(1);
    for (i, v) in variants.iter().enumerate() {
        if x < u64::from(v.weight) {
            return i as u8;
        }
        x -= u64::from(v.weight);
    }
    0
}

/// The deterministic plan of a run: which slot is what.
#[derive(Clone, Debug)]
pub struct Plan {
    seed: u64,
    forged: f64,
    replayed: f64,
    truncated: f64,
    unknown: f64,
    /// The run's streams.
    pub kinds: Vec<StreamKind>,
    /// Each stream's variants.
    pub variants: Vec<Vec<Variant>>,
}

impl Plan {
    /// The plan of `s`.
    pub fn new(s: &Scenario) -> Plan {
        let kinds = streams(s);
        let variants = kinds.iter().map(|k| variants(*k, s)).collect();
        Plan {
            seed: s.seed,
            forged: s.attack.forged,
            replayed: s.attack.replayed,
            truncated: s.attack.truncated,
            unknown: s.attack.unknown_key,
            kinds,
            variants,
        }
    }

    /// Whether any slot is a replay.
    pub fn replays(&self) -> bool {
        self.replayed > 0.0
    }

    /// Number of streams.
    pub fn streams(&self) -> u64 {
        self.kinds.len() as u64
    }

    /// What slot `g` sends.
    pub fn slot(&self, g: u64) -> Slot {
        let h = mix64(self.seed ^ g.wrapping_mul(0xd1b5_4a32_d192_ed03));
        let u = unit(h);
        let mut edge = self.forged;
        if u < edge {
            return Slot::Forged;
        }
        edge += self.replayed;
        if u < edge {
            return Slot::Replayed;
        }
        edge += self.truncated;
        if u < edge {
            return Slot::Truncated;
        }
        edge += self.unknown;
        if u < edge {
            return Slot::UnknownKey;
        }
        let s = (g % self.streams()) as usize;
        Slot::Genuine(pick(&self.variants[s], mix64(h)))
    }

    /// The variant a hostile slot's packet is built from (what it would carry).
    pub fn hostile_variant(&self, g: u64) -> u8 {
        let s = (g % self.streams()) as usize;
        pick(&self.variants[s], mix64(g ^ self.seed))
    }

    /// Whether a copy of stream `s`'s packet `k` is a replay the plan sent: the first
    /// non-genuine slot after `k` on the stream is a replay and every slot between is
    /// hostile (a replay resends the stream's last genuine packet).
    pub fn is_replay_of(&self, s: u64, k: u64) -> bool {
        let n = self.streams();
        let mut j = k + 1;
        // Hostile runs are short (each slot is hostile with probability at most 0.5).
        for _ in 0..64 {
            match self.slot(j * n + s) {
                Slot::Replayed => return true,
                Slot::Genuine(_) => return false,
                _ => j += 1,
            }
        }
        false
    }
}

/// The Track Info value: queueing capability 0, participant type `pktgen`, references.
fn track_info(refs: [u32; 3]) -> Vec<u8> {
    let mut v = vec![0, 6];
    v.extend_from_slice(b"pktgen\0\0");
    for r in refs {
        v.extend_from_slice(&r.to_be_bytes());
    }
    v
}

/// Builds `variant` of stream `kind` from `ssrc` with identities in `form`; the references
/// are zero (the sender and verifier patch them at [`REF_AT`]).
pub fn build(
    kind: StreamKind,
    variant: &Variant,
    clients: u32,
    ssrc: u32,
    form: Form,
) -> Result<Vec<u8>, String> {
    let ti = track_info([0; 3]);
    // Whom the message is about: the stream's client, or for a group the member that
    // holds the floor.
    let (me, other) = match kind {
        StreamKind::Uplink(c) | StreamKind::Downlink(c) => {
            (user(c, form), user((c + 1) % clients, form))
        }
        StreamKind::Group(j) | StreamKind::Mbms(j) => (user(j, form), user(j, form)),
    };
    let e = |e: mcx_engine::floor::Error| format!("{}: {e}", variant.name);
    let bytes = match variant.build {
        Build::Floor(m, indicator) => {
            let b = Builder::floor(m, false, ssrc).value(FieldId::TrackInfo, &ti);
            let b = match m {
                MessageType::FloorRequest => b
                    .u8(
                        FieldId::FloorPriority,
                        if indicator == INDICATOR_NORMAL { 5 } else { 15 },
                    )
                    .text(FieldId::UserId, &me)
                    .u16(FieldId::FloorIndicator, indicator),
                MessageType::FloorRelease => {
                    b.text(FieldId::UserId, &me).u16(FieldId::SequenceNumber, 7)
                }
                MessageType::QueuePositionRequest => b.text(FieldId::UserId, &me),
                MessageType::FloorGranted => b
                    .u16(FieldId::Duration, 30)
                    .u8(FieldId::FloorPriority, 5)
                    .text(FieldId::UserId, &me)
                    .u16(FieldId::QueueSize, 1)
                    .text(FieldId::QueuedUserId, &other)
                    .u16(FieldId::SequenceNumber, 9),
                MessageType::FloorDeny => b
                    .reject_cause(4, "another user holds the floor")
                    .text(FieldId::UserId, &me),
                MessageType::FloorTaken => b
                    .text(FieldId::GrantedPartyIdentity, &other)
                    .u16(FieldId::PermissionToRequest, 1)
                    .u16(FieldId::SequenceNumber, 11)
                    .u16(FieldId::FloorIndicator, indicator),
                MessageType::FloorIdle => b
                    .u16(FieldId::SequenceNumber, 12)
                    .u16(FieldId::FloorIndicator, indicator),
                MessageType::FloorRevoke => b.reject_cause(2, "media burst too long"),
                MessageType::QueuePositionInfo => b.text(FieldId::UserId, &me).queue_info(2, 5),
                _ => b,
            };
            b.finish().map_err(e)?
        }
        Build::Video(m, indicator) => {
            let b = VideoBuilder::new(m, false, ssrc).value(VideoField::TrackInfo, &ti);
            let b = match m {
                VideoMessage::TransmissionRequest => b
                    .u8(
                        VideoField::TransmissionPriority,
                        if indicator == INDICATOR_NORMAL { 5 } else { 15 },
                    )
                    .text(VideoField::UserId, &me)
                    .u16(VideoField::TransmissionIndicator, indicator),
                VideoMessage::TransmissionRelease => b.text(VideoField::UserId, &me),
                VideoMessage::TransmissionGranted => b
                    .u16(VideoField::Duration, 60)
                    .text(VideoField::UserId, &me)
                    .u16(VideoField::SequenceNumber, 3),
                VideoMessage::TransmissionRejected => {
                    b.value(VideoField::RejectCause, &[0, 3, b'b', b'u', b's', b'y'])
                }
                VideoMessage::TransmissionArbitrationTaken => b
                    .text(VideoField::TransmittingUserId, &other)
                    .u16(VideoField::PermissionToRequest, 1),
                VideoMessage::TransmissionIdle => b.u16(VideoField::SequenceNumber, 4),
                _ => b,
            };
            b.finish().map_err(e)?
        }
        Build::MbmsMap | Build::MbmsUnmap => {
            let subtype = if variant.build == Build::MbmsMap {
                0
            } else {
                1
            };
            let b = Builder::new(App::MbmsControl, subtype, ssrc, Profile::Current)
                .raw(FieldId::TrackInfo.wire(Profile::Current), &ti);
            // MBMS subchannel control passes a proxy with its fields as they are (the
            // engine checks its framing only), so it names the group as the members know
            // it on both sides.
            let b = mbms_fields(
                b,
                variant.build == Build::MbmsMap,
                &group(grp_of(kind), Form::External),
            );
            b.finish().map_err(e)?
        }
    };
    debug_assert_eq!(&bytes[REF_AT - 8..REF_AT], b"pktgen\0\0");
    Ok(bytes)
}

fn grp_of(kind: StreamKind) -> u32 {
    match kind {
        StreamKind::Group(j) | StreamKind::Mbms(j) => j,
        _ => 0,
    }
}

/// The fields of an MBMS subchannel control message after the identifier (TS 24.380
/// §8.4.3, as Wireshark 4.0's `dissect_rtcp_app_mccp`, the Nemergent dissector and the MCOP
/// client lay them out): Map Group To Bearer has the MCPTT Group ID, the TMGI (MBMS
/// Service ID and MCC/MNC, TS 24.008 §10.5.6.13) and the MBMS Subchannel (audio and floor
/// m-line numbers, IPv4, floor control port, media port, address); Unmap Group To Bearer
/// the MCPTT Group ID alone.
fn mbms_fields(b: Builder, map: bool, grp: &str) -> Builder {
    let b = b.raw(MBMS_GROUP_ID, grp.as_bytes());
    if map {
        b.raw(MBMS_TMGI, &[0x00, 0x00, 0x2a, 0x62, 0xf2, 0x10]).raw(
            MBMS_SUBCHANNEL,
            &[
                0x12, 0x00, 0x00, 0x00, 0x13, 0x89, 0x00, 0x00, 0x13, 0x88, 239, 1, 2, 3,
            ],
        )
    } else {
        b
    }
}

/// MBMS subchannel control field IDs (TS 24.380 §8.4.3).
const MBMS_SUBCHANNEL: u8 = 0;
const MBMS_TMGI: u8 = 1;
const MBMS_GROUP_ID: u8 = 2;

/// Writes the references into a packet built by [`build`].
pub fn stamp(pkt: &mut [u8], tag: u32, g: u32, t_us: u32) {
    pkt[REF_AT..REF_AT + 4].copy_from_slice(&tag.to_be_bytes());
    pkt[REF_AT + 4..REF_AT + 8].copy_from_slice(&g.to_be_bytes());
    pkt[REF_AT + 8..REF_END].copy_from_slice(&t_us.to_be_bytes());
}

/// The references of a packet: (tag, g, t_us), or `None` when it is too short.
pub fn refs(pkt: &[u8]) -> Option<(u32, u32, u32)> {
    let r = pkt.get(REF_AT..REF_END)?;
    let w = |i: usize| u32::from_be_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    Some((w(0), w(4), w(8)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcx_engine::floor::{Options, parse, video};

    #[test]
    fn every_variant_builds_parses_and_carries_its_identifier_at_the_same_place() {
        let s = Scenario::default();
        let plan = Plan::new(&s);
        for (i, kind) in plan.kinds.iter().enumerate() {
            for v in &plan.variants[i] {
                for form in [Form::Internal, Form::External] {
                    let mut p = build(*kind, v, s.clients, 0x1234_5678, form).unwrap();
                    stamp(&mut p, 0xfeed_f00d, 77, 1000);
                    assert_eq!(refs(&p), Some((0xfeed_f00d, 77, 1000)));
                    if &p[8..12] == b"MCPT" {
                        let m = parse(&p, Options::default()).unwrap();
                        let Some(mcx_engine::floor::Value::TrackInfo { references, .. }) =
                            m.field(FieldId::TrackInfo)
                        else {
                            panic!("{}: no track info", v.name);
                        };
                        assert_eq!(
                            references,
                            &[0xfe, 0xed, 0xf0, 0x0d, 0, 0, 0, 77, 0, 0, 3, 0xe8][..]
                        );
                    } else if p[8..11] == *b"MCV" {
                        video::parse(&p, mcx_engine::floor::Unknown::Reject).unwrap();
                    }
                }
            }
        }
    }

    #[test]
    fn the_plan_is_deterministic_and_honours_the_shares() {
        let mut s = Scenario::default();
        s.attack.forged = 0.1;
        s.attack.replayed = 0.05;
        let p = Plan::new(&s);
        let q = Plan::new(&s);
        let (mut forged, mut replayed, mut emergency) = (0, 0, 0);
        for g in 0..100_000u64 {
            assert_eq!(p.slot(g), q.slot(g));
            match p.slot(g) {
                Slot::Forged => forged += 1,
                Slot::Replayed => replayed += 1,
                Slot::Genuine(v) => {
                    let st = (g % p.streams()) as usize;
                    if p.variants[st][v as usize].class == Class::Emergency {
                        emergency += 1;
                    }
                }
                _ => {}
            }
        }
        assert!((9_000..11_000).contains(&forged), "{forged}");
        assert!((4_000..6_000).contains(&replayed), "{replayed}");
        assert!(emergency > 1_000, "{emergency}");
    }
}
