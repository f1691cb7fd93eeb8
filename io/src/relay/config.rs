//! The relay's configuration file (`relay.toml`) and its built-in default.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `io` in `[relay]`: which kernel interface moves the packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoChoice {
    /// io_uring where this kernel and process allow it, else `recvmmsg`/`sendmmsg`.
    #[default]
    Auto,
    /// io_uring; start-up fails where it is not available.
    Uring,
    /// `recvmmsg`/`sendmmsg`.
    Mmsg,
}

/// The `[relay]` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySection {
    /// Pinned workers; 0 (or absent): one per core.
    #[serde(default)]
    pub workers: usize,
    /// `auto`, `uring` or `mmsg`.
    #[serde(default)]
    pub io: IoChoice,
    /// Path of the control socket (a Unix stream socket); empty: none.
    #[serde(default = "default_control")]
    pub control: PathBuf,
    /// Pin each worker to a core.
    #[serde(default = "yes")]
    pub pin: bool,
    /// The cores to pin to, in worker order (default: every core, in order).
    #[serde(default)]
    pub cores: Vec<usize>,
    /// Datagrams received per socket call (and the largest batch a turn processes).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Once a sleeping worker has a datagram, how long it waits for the rest of a batch
    /// before it goes on, in µs (0: never). A burst then costs one wake-up, not one per
    /// datagram; a lone packet waits this much longer.
    #[serde(default = "default_batch_wait")]
    pub batch_wait_us: u64,
    /// After a turn that had packets, how long a worker keeps looking without sleeping, in
    /// µs (0: it sleeps as soon as nothing is there). Spinning costs CPU; a wake-up costs
    /// more when the next packets are a few µs away.
    #[serde(default)]
    pub poll_us: u64,
    /// Send equal-sized packets to one destination as one GSO train where the kernel allows.
    #[serde(default = "yes")]
    pub gso: bool,
    /// Receive coalesced datagrams (UDP GRO) where the kernel allows.
    #[serde(default = "yes")]
    pub gro: bool,
    /// `SO_RCVBUF`/`SO_SNDBUF` of each socket in octets (0: the kernel's default).
    #[serde(default = "default_socket_buffer")]
    pub socket_buffer: usize,
    /// Replay window per (key, SSRC), 64..=32768.
    #[serde(default = "default_replay")]
    pub replay_window: u32,
    /// Most receive streams (SSRCs) per key.
    #[serde(default = "default_streams")]
    pub max_streams_per_key: u32,
    /// Packets that may wait in each worker's hand-off ring.
    #[serde(default = "default_handoff")]
    pub handoff_ring: usize,
}

/// One `[[leg]]`: a named address the relay listens on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegConfig {
    /// The leg's name, used by routes.
    pub name: String,
    /// The address to bind (port 0: one the kernel chooses, shown by `stats` and `legs`).
    pub listen: SocketAddr,
}

/// The whole file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// `[relay]`.
    pub relay: RelaySection,
    /// `[[leg]]`.
    #[serde(rename = "leg")]
    pub legs: Vec<LegConfig>,
    /// `[proxy]`: the relay plays a proxy role on its legs (sessions, topology hiding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<super::proxy::ProxySection>,
}

fn yes() -> bool {
    true
}
fn default_control() -> PathBuf {
    PathBuf::from("/run/mcx/relay.sock")
}
fn default_batch() -> usize {
    32
}
fn default_batch_wait() -> u64 {
    0
}
fn default_socket_buffer() -> usize {
    4 << 20
}
fn default_replay() -> u32 {
    mcx_engine::srtcp::DEFAULT_REPLAY_WINDOW
}
fn default_streams() -> u32 {
    4096
}
fn default_handoff() -> usize {
    1024
}

/// Most workers a relay runs.
pub const MAX_WORKERS: usize = 256;
/// Most legs.
pub const MAX_LEGS: usize = 64;
/// Longest leg name.
pub const MAX_LEG_NAME: usize = 64;

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Default for RelayConfig {
    /// Two legs on loopback: `clients` on 127.0.0.1:40000 and `core` on 127.0.0.1:40002.
    fn default() -> RelayConfig {
        RelayConfig {
            relay: RelaySection {
                workers: 0,
                io: IoChoice::Auto,
                control: default_control(),
                pin: true,
                cores: Vec::new(),
                batch: default_batch(),
                batch_wait_us: default_batch_wait(),
                poll_us: 0,
                gso: true,
                gro: true,
                socket_buffer: default_socket_buffer(),
                replay_window: default_replay(),
                max_streams_per_key: default_streams(),
                handoff_ring: default_handoff(),
            },
            legs: vec![
                LegConfig {
                    name: "clients".into(),
                    listen: "127.0.0.1:40000".parse().expect("address"),
                },
                LegConfig {
                    name: "core".into(),
                    listen: "127.0.0.1:40002".parse().expect("address"),
                },
            ],
            proxy: None,
        }
    }
}

impl RelayConfig {
    /// Parses and checks a `relay.toml`.
    pub fn from_toml(text: &str) -> Result<RelayConfig, ConfigError> {
        let c: RelayConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// The effective configuration as TOML (`workers` resolved).
    pub fn to_toml(&self) -> String {
        let mut c = self.clone();
        c.relay.workers = c.workers();
        toml::to_string(&c).unwrap_or_default()
    }

    /// The number of workers: the setting, or one per core.
    pub fn workers(&self) -> usize {
        if self.relay.workers > 0 {
            self.relay.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
        .min(MAX_WORKERS)
    }

    /// Checks the limits and that leg names are unique.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.relay;
        if r.workers > MAX_WORKERS {
            return Err(ConfigError(format!(
                "workers = {}: at most {MAX_WORKERS}",
                r.workers
            )));
        }
        if !(1..=256).contains(&r.batch) {
            return Err(ConfigError(format!("batch = {}: 1 to 256", r.batch)));
        }
        if r.poll_us > 100_000 {
            return Err(ConfigError(format!(
                "poll_us = {}: at most 100000",
                r.poll_us
            )));
        }
        if r.batch_wait_us > 10_000 {
            return Err(ConfigError(format!(
                "batch_wait_us = {}: at most 10000",
                r.batch_wait_us
            )));
        }
        if !(16..=1 << 20).contains(&r.handoff_ring) {
            return Err(ConfigError(format!(
                "handoff_ring = {}: 16 to 1048576",
                r.handoff_ring
            )));
        }
        if !(mcx_engine::srtcp::MIN_REPLAY_WINDOW..=mcx_engine::srtcp::MAX_REPLAY_WINDOW)
            .contains(&r.replay_window)
        {
            return Err(ConfigError(format!(
                "replay_window = {}: 64 to 32768",
                r.replay_window
            )));
        }
        if r.max_streams_per_key == 0 {
            return Err(ConfigError("max_streams_per_key must be at least 1".into()));
        }
        if self.legs.is_empty() {
            return Err(ConfigError("at least one [[leg]] is needed".into()));
        }
        if self.legs.len() > MAX_LEGS {
            return Err(ConfigError(format!("at most {MAX_LEGS} legs")));
        }
        for (i, l) in self.legs.iter().enumerate() {
            if l.name.is_empty() || l.name.len() > MAX_LEG_NAME {
                return Err(ConfigError(format!(
                    "leg {}: a name of 1 to {MAX_LEG_NAME} octets is needed",
                    i + 1
                )));
            }
            if self.legs[..i].iter().any(|o| o.name == l.name) {
                return Err(ConfigError(format!("two legs are named {:?}", l.name)));
            }
        }
        if let Some(p) = &self.proxy {
            let legs: Vec<String> = self.legs.iter().map(|l| l.name.clone()).collect();
            p.build(&legs)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_example_parses_and_prints_back() {
        let text = r#"
            [relay]
            workers = 2
            io = "auto"
            control = "/run/mcx/relay.sock"
            [[leg]]
            name = "clients"
            listen = "127.0.0.1:40000"
            [[leg]]
            name = "core"
            listen = "127.0.0.1:40002"
        "#;
        let c = RelayConfig::from_toml(text).unwrap();
        assert_eq!(c.workers(), 2);
        assert_eq!(c.relay.io, IoChoice::Auto);
        assert_eq!(c.legs[1].listen, "127.0.0.1:40002".parse().unwrap());
        let again = RelayConfig::from_toml(&c.to_toml()).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
        let d = RelayConfig::default();
        assert_eq!(d.legs.len(), 2);
        d.validate().unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for (text, says) in [
            (
                "[relay]\nio = \"epoll\"\n[[leg]]\nname='a'\nlisten='127.0.0.1:1'",
                "epoll",
            ),
            ("[relay]\n[[leg]]\nname='a'\nlisten='nowhere'", "address"),
            (
                "[relay]\nbogus = 1\n[[leg]]\nname='a'\nlisten='127.0.0.1:1'",
                "bogus",
            ),
            ("[relay]\n", "leg"),
            ("[relay]\nleg = []\n", "leg"),
            (
                "[relay]\n[[leg]]\nname='a'\nlisten='127.0.0.1:1'\n[[leg]]\nname='a'\nlisten='127.0.0.1:2'",
                "two legs",
            ),
            (
                "[relay]\nbatch = 0\n[[leg]]\nname='a'\nlisten='127.0.0.1:1'",
                "batch",
            ),
            (
                "[relay]\nworkers = 100000\n[[leg]]\nname='a'\nlisten='127.0.0.1:1'",
                "workers",
            ),
            (
                "[relay]\nreplay_window = 1\n[[leg]]\nname='a'\nlisten='127.0.0.1:1'",
                "replay",
            ),
            ("[relay]\n[[leg]]\nname=''\nlisten='127.0.0.1:1'", "name"),
        ] {
            let e = RelayConfig::from_toml(text).unwrap_err();
            assert!(e.0.contains(says), "{text:?}: {e}");
        }
    }
}
