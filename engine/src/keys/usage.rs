//! Which key serves which SRTCP use, and with which CS-ID (TS 33.180 §7.4, Table E.1.3-1;
//! digest §2.3, §2.5).

use super::{CsId, Purpose};

/// The MC service a key protects; with the purpose it fixes the CS-ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// MCPTT.
    Mcptt,
    /// MCVideo.
    Mcvideo,
    /// MCData.
    Mcdata,
}

/// The CS-ID for SRTCP with a key of `purpose` in `service` (TS 33.180 Table E.1.3-1, digest
/// §2.3). `None` where the table has no entry (SPK, MKFC, MSCCK, PCK, MCData): install such a
/// key with an explicit CS-ID (`store::KeyInstall::cs_id`).
pub const fn srtcp_cs_id(purpose: Purpose, service: Service) -> Option<CsId> {
    match (purpose, service) {
        (Purpose::Csk, Service::Mcptt) => Some(CsId::CskSrtcpMcptt),
        (Purpose::Csk, Service::Mcvideo) => Some(CsId::CskSrtcpMcvideo),
        (Purpose::Musik, Service::Mcptt) => Some(CsId::MusikSrtcpMcptt),
        (Purpose::Musik, Service::Mcvideo) => Some(CsId::MusikSrtcpMcvideo),
        // Off-network group SRTCP uses the group's media key (33.179 §7.6).
        (Purpose::Gmk, Service::Mcptt) => Some(CsId::McpttGroupCall),
        (Purpose::Gmk, Service::Mcvideo) => Some(CsId::McvideoGroupCall),
        _ => None,
    }
}

/// What an SRTCP packet is for; each use admits some purposes (digest §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SrtcpUse {
    /// Client ↔ server over unicast: CSK.
    Unicast,
    /// Server → group over multicast / MBMS: MuSiK, or MKFC where the call has no MuSiK.
    Multicast,
    /// MBMS subchannel control: MSCCK.
    MbmsSubchannel,
    /// Server ↔ server: SPK.
    ServerToServer,
    /// Off-network private or group call: PCK or GMK.
    OffNetwork,
}

impl SrtcpUse {
    /// Whether a key of `purpose` may serve this use.
    pub const fn allows(self, purpose: Purpose) -> bool {
        matches!(
            (self, purpose),
            (SrtcpUse::Unicast, Purpose::Csk)
                | (SrtcpUse::Multicast, Purpose::Musik | Purpose::Mkfc)
                | (SrtcpUse::MbmsSubchannel, Purpose::Mscck)
                | (SrtcpUse::ServerToServer, Purpose::Spk)
                | (SrtcpUse::OffNetwork, Purpose::Gmk | Purpose::Pck)
        )
    }

    /// The use a key of `purpose` serves.
    pub const fn of(purpose: Purpose) -> SrtcpUse {
        match purpose {
            Purpose::Csk => SrtcpUse::Unicast,
            Purpose::Musik | Purpose::Mkfc => SrtcpUse::Multicast,
            Purpose::Mscck => SrtcpUse::MbmsSubchannel,
            Purpose::Spk => SrtcpUse::ServerToServer,
            Purpose::Gmk | Purpose::Pck => SrtcpUse::OffNetwork,
        }
    }
}
