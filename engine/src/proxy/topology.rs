//! Topology hiding (TR 33.880 §7.2.5.3.3.2): which identities a proxy replaces on the way
//! out of its domain and back, and the floor-control rewrite of one hop.

use core::fmt;

use crate::floor::Rewrite;
use crate::idhash::BytesMap;

use super::session::{Proxy, Session};

/// Which way a packet crosses the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the outside (clients, a peer domain, an external system) into the proxy's domain.
    Inward,
    /// From the proxy's domain to the outside.
    Outward,
}

/// Why an identity map was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapError {
    /// Two internal identities map to one external identity (the way back would be
    /// ambiguous), or one internal identity to two.
    NotOneToOne(String),
    /// An identity is empty or over 255 octets (a floor-control field's limit).
    BadIdentity(String),
    /// No pair has this internal identity.
    NotMapped(String),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::NotOneToOne(id) => write!(f, "identity {id:?} is mapped twice"),
            MapError::BadIdentity(id) => {
                write!(f, "identity {id:?} is empty or over 255 octets")
            }
            MapError::NotMapped(id) => write!(f, "identity {id:?} is not in the map"),
        }
    }
}

impl core::error::Error for MapError {}

/// The identities a proxy hides: pairs of (internal, external) identity, one to one, and
/// the domains whose identities never leave unreplaced.
///
/// Outward, an identity in the map becomes its external form; an identity of a hidden
/// domain that is not in the map becomes the proxy's own external identity (so no internal
/// name leaks, though the way back is lost for it). Inward, an external form becomes its
/// internal identity again. Anything else passes unchanged.
#[derive(Clone, Debug, Default)]
pub struct IdentityMap {
    outward: BytesMap,
    inward: BytesMap,
    hidden_domains: Vec<String>,
    external: Option<String>,
}

fn check(id: &str) -> Result<(), MapError> {
    if id.is_empty() || id.len() > 255 {
        return Err(MapError::BadIdentity(id.to_owned()));
    }
    Ok(())
}

impl IdentityMap {
    /// An empty map: nothing is replaced.
    pub fn new() -> IdentityMap {
        IdentityMap::default()
    }

    /// Adds the pair (`internal`, `external`).
    pub fn pair(mut self, internal: &str, external: &str) -> Result<IdentityMap, MapError> {
        check(internal)?;
        check(external)?;
        if self.outward.contains_key(internal.as_bytes()) {
            return Err(MapError::NotOneToOne(internal.to_owned()));
        }
        if self.inward.contains_key(external.as_bytes()) {
            return Err(MapError::NotOneToOne(external.to_owned()));
        }
        let i: Box<[u8]> = internal.as_bytes().into();
        let e: Box<[u8]> = external.as_bytes().into();
        self.outward.insert(i.clone(), e.clone());
        self.inward.insert(e, i);
        Ok(self)
    }

    /// Removes the pair whose internal identity is `internal`.
    pub fn without(mut self, internal: &str) -> Result<IdentityMap, MapError> {
        let external = self
            .outward
            .remove(internal.as_bytes())
            .ok_or_else(|| MapError::NotMapped(internal.to_owned()))?;
        self.inward.remove(&external);
        Ok(self)
    }

    /// The pairs (internal, external), in no particular order.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.outward.iter().map(|(i, e)| (&i[..], &e[..]))
    }

    /// Identities whose host part is `domain` (or a subdomain of it) are internal: outward,
    /// one not in the map becomes [`IdentityMap::external`].
    pub fn hide_domain(mut self, domain: &str) -> IdentityMap {
        self.hidden_domains.push(domain.to_ascii_lowercase());
        self
    }

    /// The proxy's own external identity.
    pub fn external(mut self, identity: &str) -> Result<IdentityMap, MapError> {
        check(identity)?;
        self.external = Some(identity.to_owned());
        Ok(self)
    }

    /// The proxy's own external identity, if set.
    pub fn external_identity(&self) -> Option<&str> {
        self.external.as_deref()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.outward.len()
    }

    /// Whether the map has no pairs.
    pub fn is_empty(&self) -> bool {
        self.outward.is_empty()
    }

    /// What `id` (as a packet carries it) becomes crossing the proxy in `dir`; `None`
    /// keeps it.
    pub fn map(&self, id: &[u8], dir: Direction) -> Option<&[u8]> {
        match dir {
            Direction::Outward => self.outward.get(id).map(|v| &v[..]).or_else(|| {
                self.in_hidden_domain(id)
                    .then_some(self.external.as_deref()?.as_bytes())
            }),
            Direction::Inward => self.inward.get(id).map(|v| &v[..]),
        }
    }

    /// Whether `id` (a SIP or tel URI, or a bare `user@host`) names a host in a hidden
    /// domain.
    fn in_hidden_domain(&self, id: &[u8]) -> bool {
        if self.hidden_domains.is_empty() {
            return false;
        }
        let Some(at) = id.iter().rposition(|&b| b == b'@') else {
            return false;
        };
        let host = &id[at + 1..];
        let host = host
            .split(|b| matches!(b, b';' | b'>' | b':' | b'?'))
            .next()
            .unwrap_or(host);
        self.hidden_domains.iter().any(|d| {
            let d = d.as_bytes();
            host.len() >= d.len()
                && host[host.len() - d.len()..].eq_ignore_ascii_case(d)
                && (host.len() == d.len() || host[host.len() - d.len() - 1] == b'.')
        })
    }
}

/// The floor-control rewrite of one packet of `session` crossing in `dir`.
pub(crate) struct HopRewrite<'a> {
    pub(crate) dir: Direction,
    pub(crate) session: &'a Session,
    pub(crate) proxy: &'a Proxy,
    pub(crate) map: &'a IdentityMap,
    /// The proxy's own SSRC toward the side the packet goes to.
    pub(crate) own_out: u32,
}

impl Rewrite for HopRewrite<'_> {
    fn identity(&self, id: &[u8]) -> Option<&[u8]> {
        if let Some((inside, outside)) = &self.session.alias {
            match self.dir {
                Direction::Outward if id == inside.as_bytes() => return Some(outside.as_bytes()),
                Direction::Inward if id == outside.as_bytes() => return Some(inside.as_bytes()),
                _ => {}
            }
        }
        self.map.map(id, self.dir)
    }

    fn ssrc(&self, ssrc: u32) -> Option<u32> {
        let s = self.session;
        match self.dir {
            Direction::Inward => {
                // The outside peer's own SSRC is the proxy's inside SSRC in here; the SSRC
                // the proxy shows outside stands for the inside peer.
                if Some(ssrc) == s.outside_peer_ssrc() {
                    return Some(s.inside.ssrc);
                }
                if ssrc == s.outside_ssrc() {
                    return s.inside_peer_ssrc();
                }
                None
            }
            Direction::Outward => {
                if ssrc == s.inside.ssrc {
                    return s.outside_peer_ssrc();
                }
                if Some(ssrc) == s.inside_peer_ssrc() {
                    return Some(self.own_out);
                }
                // Another session's inside SSRC (a Floor Taken naming who holds the floor):
                // the SSRC of that session's outside peer, as the outside knows it.
                self.proxy.outside_view_of(ssrc)
            }
        }
    }
}
