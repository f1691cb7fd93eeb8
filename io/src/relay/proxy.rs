//! The `[proxy]` table of `relay.toml` and the sessions of `session.add`: a relay that
//! plays a proxy role (`mcx_engine::proxy`) on its legs.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use mcx_engine::floor::Profile;
use mcx_engine::keys::KeyId;
use mcx_engine::proxy::{GatewayMode, IdentityMap, Proxy, Role, SessionSpec, SideSpec};

use super::config::ConfigError;

/// One `[[proxy.identity]]`: an internal identity and the one the outside sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityPair {
    /// As the proxy's domain knows it.
    pub internal: String,
    /// As the outside sees it.
    pub external: String,
}

/// One side of a session: `{leg, peer, keys, ssrc, peer_ssrc, profile}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideConfig {
    /// The leg's name.
    pub leg: String,
    /// The peer's address on it.
    pub peer: SocketAddr,
    /// Key IDs (8 hex digits each) the peer may protect with; empty: in clear.
    #[serde(default)]
    pub keys: Vec<String>,
    /// The SSRC the proxy sends with toward this side (default: random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssrc: Option<u32>,
    /// The peer's SSRC (default: learned from its first packet that goes through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ssrc: Option<u32>,
    /// The peer's floor-control field numbering: `current` (default) or `legacy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// One `[[proxy.session]]`, or the body of a `session.add`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Toward the proxy's domain.
    pub inside: SideConfig,
    /// Toward the outside: one side, or a fan-out's targets.
    pub outside: Vec<SideConfig>,
    /// `[inside form, outside form]`: a per-session identity pair, applied before the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<[String; 2]>,
}

/// The `[proxy]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    /// `cs-proxy`, `is-proxy`, `gateway-single-client` (TR 33.880 solution 7.1) or
    /// `gateway-client-per-user` (7.2).
    pub role: String,
    /// The core may be reached in clear (§7.2.5.3.2.3).
    #[serde(default)]
    pub trusted_core: bool,
    /// The one MC identity of a `gateway-single-client`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_identity: Option<String>,
    /// The proxy's own external identity: what identities of hidden domains become.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_identity: Option<String>,
    /// Domains whose identities never leave unreplaced.
    #[serde(default)]
    pub hide_domains: Vec<String>,
    /// `[[proxy.identity]]`.
    #[serde(default)]
    pub identity: Vec<IdentityPair>,
    /// `[[proxy.session]]`: sessions present from the start.
    #[serde(default)]
    pub session: Vec<SessionConfig>,
}

fn err(s: impl Into<String>) -> ConfigError {
    ConfigError(s.into())
}

impl ProxySection {
    /// The role it names.
    pub fn role(&self) -> Result<Role, ConfigError> {
        Ok(match self.role.as_str() {
            "cs-proxy" => Role::CsProxy {
                trusted_core: self.trusted_core,
            },
            "is-proxy" => Role::IsProxy {
                trusted_core: self.trusted_core,
            },
            "gateway-single-client" => Role::SecurityGateway(GatewayMode::SingleClient {
                identity: self
                    .gateway_identity
                    .clone()
                    .ok_or_else(|| err("gateway-single-client needs gateway_identity"))?,
            }),
            "gateway-client-per-user" => Role::SecurityGateway(GatewayMode::ClientPerUser),
            other => {
                return Err(err(format!(
                    "role = {other:?}: cs-proxy, is-proxy, gateway-single-client or \
                     gateway-client-per-user"
                )));
            }
        })
    }

    /// The identity map it describes.
    pub fn map(&self) -> Result<IdentityMap, ConfigError> {
        let mut m = IdentityMap::new();
        for p in &self.identity {
            m = m
                .pair(&p.internal, &p.external)
                .map_err(|e| err(format!("[[proxy.identity]]: {e}")))?;
        }
        for d in &self.hide_domains {
            if d.is_empty() {
                return Err(err("hide_domains: an empty domain"));
            }
            m = m.hide_domain(d);
        }
        if let Some(x) = &self.external_identity {
            m = m
                .external(x)
                .map_err(|e| err(format!("external_identity: {e}")))?;
        }
        Ok(m)
    }

    /// The proxy, with the file's sessions added (their legs looked up in `legs`).
    pub fn build(&self, legs: &[String]) -> Result<Proxy, ConfigError> {
        let p = Proxy::new(self.role()?, self.map()?);
        for (i, s) in self.session.iter().enumerate() {
            let spec = s
                .spec(legs)
                .map_err(|e| err(format!("[[proxy.session]] {}: {e}", i + 1)))?;
            p.add(&spec)
                .map_err(|e| err(format!("[[proxy.session]] {}: {e}", i + 1)))?;
        }
        Ok(p)
    }
}

impl SideConfig {
    fn spec(&self, legs: &[String]) -> Result<SideSpec, String> {
        let leg = legs
            .iter()
            .position(|l| *l == self.leg)
            .ok_or_else(|| format!("no leg named {:?}", self.leg))?;
        let mut keys = Vec::new();
        for k in &self.keys {
            keys.push(key_id(k)?);
        }
        let profile = match &self.profile {
            None => Profile::Current,
            Some(p) => {
                Profile::from_name(p).ok_or_else(|| format!("profile {p:?}: current or legacy"))?
            }
        };
        Ok(SideSpec {
            leg: leg as u16,
            peer: self.peer,
            keys,
            ssrc: self.ssrc,
            peer_ssrc: self.peer_ssrc,
            profile,
        })
    }
}

impl SessionConfig {
    /// The engine's session description, legs resolved by name.
    pub fn spec(&self, legs: &[String]) -> Result<SessionSpec, String> {
        Ok(SessionSpec {
            inside: self.inside.spec(legs)?,
            outside: self
                .outside
                .iter()
                .map(|o| o.spec(legs))
                .collect::<Result<_, _>>()?,
            alias: self.alias.clone().map(|[a, b]| (a, b)),
        })
    }
}

/// A key ID written as 8 hex digits.
pub(crate) fn key_id(s: &str) -> Result<KeyId, String> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("key ID {s:?}: 8 hex digits expected"));
    }
    let n = u32::from_str_radix(s, 16).map_err(|_| format!("key ID {s:?}: not hex"))?;
    KeyId::new(n).map_err(|e| format!("key ID {s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use crate::relay::RelayConfig;

    const CS: &str = r#"
        [relay]
        workers = 1
        [[leg]]
        name = "clients"
        listen = "127.0.0.1:0"
        [[leg]]
        name = "core"
        listen = "127.0.0.1:0"

        [proxy]
        role = "cs-proxy"
        external_identity = "sip:proxy@a.example"
        hide_domains = ["a.internal"]
        [[proxy.identity]]
        internal = "sip:alice@ptt.a.internal"
        external = "sip:alice@a.example"
        [[proxy.session]]
        inside = { leg = "core", peer = "127.0.0.1:9000", keys = ["30000a01"] }
        outside = [{ leg = "clients", peer = "127.0.0.1:5000", keys = ["2a11ce01"] }]
    "#;

    #[test]
    fn a_cs_proxy_file_builds_its_proxy() {
        let c = RelayConfig::from_toml(CS).unwrap();
        let p = c.proxy.as_ref().unwrap();
        let legs: Vec<String> = c.legs.iter().map(|l| l.name.clone()).collect();
        let proxy = p.build(&legs).unwrap();
        assert_eq!(proxy.len(), 1);
        assert_eq!(proxy.role().name(), "cs-proxy");
        let again = RelayConfig::from_toml(&c.to_toml()).unwrap();
        assert_eq!(again.proxy, c.proxy);
    }

    /// The first TOML block after `heading` in the README.
    fn readme_toml(heading: &str) -> String {
        let readme = include_str!("../../../README.md");
        let at = readme.find(heading).expect("the README has the section");
        let start = readme[at..].find("```toml\n").expect("a TOML block") + at + 8;
        let end = readme[start..].find("```").expect("closed") + start;
        readme[start..end].to_owned()
    }

    #[test]
    fn the_readme_s_proxy_configurations_build() {
        let cs = RelayConfig::from_toml(&readme_toml("### A CS proxy")).unwrap();
        let legs: Vec<String> = cs.legs.iter().map(|l| l.name.clone()).collect();
        let p = cs.proxy.as_ref().unwrap().build(&legs).unwrap();
        assert_eq!((p.role().name(), p.len()), ("cs-proxy", 2));
        let head = "[relay]\n[[leg]]\nname = \"clients\"\nlisten = \"127.0.0.1:0\"\n\
                    [[leg]]\nname = \"core\"\nlisten = \"127.0.0.1:0\"\n";
        let is =
            RelayConfig::from_toml(&format!("{head}{}", readme_toml("### An IS proxy"))).unwrap();
        let p = is.proxy.as_ref().unwrap().build(&legs).unwrap();
        assert_eq!((p.role().name(), p.len()), ("is-proxy", 1));
        assert_eq!(p.list()[0].outside[0].ssrc, 0x15b0_0002);
    }

    #[test]
    fn bad_proxy_tables_are_refused_with_a_reason() {
        for (from, to, says) in [
            ("role = \"cs-proxy\"", "role = \"router\"", "router"),
            // An SPK toward a client.
            ("keys = [\"2a11ce01\"]", "keys = [\"3000ab01\"]", "SPK"),
            ("keys = [\"2a11ce01\"]", "keys = [\"2a11ce0\"]", "8 hex"),
            ("leg = \"clients\"", "leg = \"nowhere\"", "nowhere"),
            (
                "hide_domains = [\"a.internal\"]",
                "hide_domains = [\"\"]",
                "empty",
            ),
            (
                "role = \"cs-proxy\"",
                "role = \"gateway-single-client\"",
                "gateway_identity",
            ),
            ("[[proxy.session]]", "bogus = 1\n[[proxy.session]]", "bogus"),
        ] {
            let text = CS.replacen(from, to, 1);
            assert_ne!(text, CS);
            let e = RelayConfig::from_toml(&text).unwrap_err();
            assert!(e.0.contains(says), "{says}: {e}");
        }
    }
}
