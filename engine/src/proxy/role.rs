//! The roles a proxy plays, and which keys each allows on which side of a session (TR
//! 33.880 §7.2.5.3 for the signalling proxies, §7.8 for the security gateway; digest §2.5).

use crate::keys::Purpose;

use super::session::{SessionError, SessionSpec, SideSpec, purposes};

/// How a security gateway represents the users of the external system (TR 33.880 §7.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayMode {
    /// Solution 7.1: one MC client identity for every external user.
    SingleClient {
        /// That identity (each session's alias maps its external user to it).
        identity: String,
    },
    /// Solution 7.2: one MC client identity per external user.
    ClientPerUser,
}

/// What a proxy is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Client-facing signalling proxy (TR 33.880 §7.2.5.3): the outside is MC clients, each
    /// under its CSK (unicast), with downlink fan-out to multicast groups under a MuSiK or
    /// MKFC and MBMS subchannel control under an MSCCK; the inside is the MC domain's core
    /// under an SPK, or in clear when the core is trusted (§7.2.5.3.2.3).
    CsProxy {
        /// The core leg may be in clear.
        trusted_core: bool,
    },
    /// Inter-domain signalling proxy (§7.2.5.3.3.7): the outside is interconnection
    /// end-points, each under one or more SPKs (the peer picks which); the inside is the
    /// domain's core under an SPK, or in clear when trusted.
    IsProxy {
        /// The core leg may be in clear.
        trusted_core: bool,
    },
    /// MC security gateway (§7.8): the outside is an external system without MC security,
    /// in clear; the inside is the MC domain under the gateway's CSK (it acts as MC client).
    SecurityGateway(GatewayMode),
}

fn refuse(what: &str) -> SessionError {
    SessionError::Role(what.to_owned())
}

fn only(side: &SideSpec, allowed: &[Purpose], clear: bool, what: &str) -> Result<(), SessionError> {
    if side.keys.is_empty() && !clear {
        return Err(refuse(&format!("{what} may not be in clear")));
    }
    if let Some(p) = purposes(side).find(|p| !allowed.contains(p)) {
        return Err(refuse(&format!("{what} may not use a {p} key")));
    }
    Ok(())
}

impl Role {
    /// The role's name in configurations.
    pub fn name(&self) -> &'static str {
        match self {
            Role::CsProxy { .. } => "cs-proxy",
            Role::IsProxy { .. } => "is-proxy",
            Role::SecurityGateway(GatewayMode::SingleClient { .. }) => "gateway-single-client",
            Role::SecurityGateway(GatewayMode::ClientPerUser) => "gateway-client-per-user",
        }
    }

    /// Checks a session against the role.
    pub(crate) fn check(&self, spec: &SessionSpec) -> Result<(), SessionError> {
        let fan_out = spec.is_fan_out();
        match self {
            Role::CsProxy { trusted_core } => {
                only(
                    &spec.inside,
                    &[Purpose::Spk],
                    *trusted_core,
                    "the core side",
                )?;
                for o in &spec.outside {
                    let allowed: &[Purpose] = if fan_out {
                        &[Purpose::Csk, Purpose::Musik, Purpose::Mkfc, Purpose::Mscck]
                    } else {
                        &[Purpose::Csk]
                    };
                    only(o, allowed, false, "a client side")?;
                }
                Ok(())
            }
            Role::IsProxy { trusted_core } => {
                only(
                    &spec.inside,
                    &[Purpose::Spk],
                    *trusted_core,
                    "the core side",
                )?;
                if fan_out {
                    return Err(refuse("an IS proxy session has one interconnection peer"));
                }
                only(
                    &spec.outside[0],
                    &[Purpose::Spk],
                    false,
                    "the interconnection side",
                )
            }
            Role::SecurityGateway(mode) => {
                if fan_out {
                    return Err(refuse("a gateway session has one external peer"));
                }
                if !spec.outside[0].keys.is_empty() {
                    return Err(refuse(
                        "the external side has no MC security: it is in clear",
                    ));
                }
                only(&spec.inside, &[Purpose::Csk], false, "the MC side")?;
                let Some((mc, _external)) = &spec.alias else {
                    return Err(refuse(
                        "a gateway session names its external user and MC identity (alias)",
                    ));
                };
                if let GatewayMode::SingleClient { identity } = mode
                    && mc != identity
                {
                    return Err(refuse(&format!(
                        "solution 7.1 represents every external user as {identity}"
                    )));
                }
                Ok(())
            }
        }
    }
}
