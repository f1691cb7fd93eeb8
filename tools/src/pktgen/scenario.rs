//! What a run sends: clients, groups, the traffic mix, the shares of hostile packets, the
//! rate over time and the key rollover, from a TOML file or the built-in defaults.
//!
//! ```toml
//! clients = 16            # each with its own CSK and a session through the relay
//! groups = 2              # each with its MuSiK: a fan-out to a group address and members
//! mbms = true             # each group also has MBMS subchannel control under an MSCCK
//! duration_s = 3.0
//! rate_pps = 20000        # 0: as fast as the generator goes
//! ramp_from_pps = 0       # > 0: the rate climbs linearly from this to rate_pps
//! steps = []              # [[seconds, pps], …]: a step profile instead of rate and ramp
//! rollover_at_s = 1.5     # 0: none; else every client gets a new CSK by key download
//! threads = 1             # generator threads, each with its own sockets and ring
//! cores = []              # pin the generator threads to these cores
//! batch = 64
//! io = "auto"             # auto, uring or mmsg
//! seed = 1
//!
//! [mix]                   # weights of the genuine traffic
//! floor = 80              # TS 24.380 floor control
//! transmission = 10       # TS 24.581 MCVideo transmission control
//! emergency = 0.05        # share of floor and transmission requests that are emergency
//! imminent_peril = 0.02   # … and imminent peril
//!
//! [attack]                # shares of all packets sent
//! forged = 0.0            # a genuine packet with an octet flipped after protection
//! replayed = 0.0          # a copy of the stream's last genuine packet
//! truncated = 0.0         # a genuine packet cut short
//! unknown_key = 0.0       # a packet under a key the relay does not have
//! ```

use serde::{Deserialize, Serialize};

/// The most clients a scenario has (two sockets each).
pub const MAX_CLIENTS: u32 = 4096;
/// The most groups.
pub const MAX_GROUPS: u32 = 256;
/// The longest run, in seconds.
pub const MAX_DURATION_S: f64 = 3600.0;
/// The most packets one run sends (the verifier keeps a bit per packet and target).
pub const MAX_PACKETS: u64 = 1 << 30;

/// Traffic weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mix {
    /// TS 24.380 floor control.
    pub floor: u32,
    /// TS 24.581 transmission control.
    pub transmission: u32,
    /// Share of requests with the emergency indicator.
    pub emergency: f64,
    /// Share of requests with the imminent-peril indicator.
    pub imminent_peril: f64,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            floor: 80,
            transmission: 10,
            emergency: 0.05,
            imminent_peril: 0.02,
        }
    }
}

/// Shares of hostile packets, each of all packets sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Attack {
    /// A genuine packet with one octet of its encrypted part flipped after protection.
    pub forged: f64,
    /// A copy of the stream's last genuine packet, sent again.
    pub replayed: f64,
    /// A genuine packet cut short.
    pub truncated: f64,
    /// A packet under a key the relay does not have.
    pub unknown_key: f64,
}

impl Attack {
    /// The sum of the shares.
    pub fn total(&self) -> f64 {
        self.forged + self.replayed + self.truncated + self.unknown_key
    }
}

/// A scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Clients, each with a CSK, an uplink and a downlink stream.
    pub clients: u32,
    /// Groups, each with a MuSiK and a downlink fan-out.
    pub groups: u32,
    /// Whether each group also has an MBMS subchannel control stream under an MSCCK.
    pub mbms: bool,
    /// Seconds of traffic.
    pub duration_s: f64,
    /// Packets per second at the end of the ramp (the whole run without one); 0: as fast
    /// as the generator goes.
    pub rate_pps: f64,
    /// Where a linear ramp starts (0: no ramp).
    pub ramp_from_pps: f64,
    /// `[[seconds, pps], …]`: a step profile that replaces `rate_pps` and the ramp.
    pub steps: Vec<[f64; 2]>,
    /// When every client's CSK is replaced by a key download (0: never).
    pub rollover_at_s: f64,
    /// Generator threads.
    pub threads: usize,
    /// Cores to pin the threads to (empty: not pinned).
    pub cores: Vec<usize>,
    /// Datagrams per send and per receive.
    pub batch: usize,
    /// `auto`, `uring` or `mmsg`.
    pub io: String,
    /// Seed of the traffic pattern (which packet is which message).
    pub seed: u64,
    /// Traffic weights.
    pub mix: Mix,
    /// Hostile shares.
    pub attack: Attack,
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            clients: 16,
            groups: 2,
            mbms: true,
            duration_s: 3.0,
            rate_pps: 20_000.0,
            ramp_from_pps: 0.0,
            steps: Vec::new(),
            rollover_at_s: 0.0,
            threads: 1,
            cores: Vec::new(),
            batch: 64,
            io: "auto".into(),
            seed: 1,
            mix: Mix::default(),
            attack: Attack::default(),
        }
    }
}

fn share(name: &str, v: f64) -> Result<(), String> {
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{name} = {v}: a share from 0 to 1"));
    }
    Ok(())
}

impl Scenario {
    /// Parses and checks a scenario file.
    pub fn from_toml(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        s.validate()?;
        Ok(s)
    }

    /// The scenario as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every limit.
    pub fn validate(&self) -> Result<(), String> {
        if self.clients == 0 || self.clients > MAX_CLIENTS {
            return Err(format!("clients = {}: 1 to {MAX_CLIENTS}", self.clients));
        }
        if self.groups > MAX_GROUPS || self.groups > self.clients {
            return Err(format!(
                "groups = {}: at most {MAX_GROUPS} and at most the number of clients",
                self.groups
            ));
        }
        if !(self.duration_s > 0.0 && self.duration_s <= MAX_DURATION_S) && self.steps.is_empty() {
            return Err(format!(
                "duration_s = {}: more than 0, at most {MAX_DURATION_S}",
                self.duration_s
            ));
        }
        let rate_ok = |r: f64| r.is_finite() && (0.0..=50_000_000.0).contains(&r);
        if !rate_ok(self.rate_pps) || !rate_ok(self.ramp_from_pps) {
            return Err("rate_pps and ramp_from_pps: 0 to 50 000 000".into());
        }
        if self.ramp_from_pps > 0.0 && self.rate_pps == 0.0 {
            return Err("a ramp needs rate_pps".into());
        }
        let mut total = 0.0;
        for [d, r] in &self.steps {
            if d.is_nan() || *d <= 0.0 || !rate_ok(*r) || *r == 0.0 {
                return Err(format!(
                    "steps: [{d}, {r}]: seconds more than 0, a rate from 1 to 50 000 000"
                ));
            }
            total += d;
        }
        if total > MAX_DURATION_S {
            return Err(format!("steps: {total} s in all, at most {MAX_DURATION_S}"));
        }
        if self.rollover_at_s.is_nan()
            || self.rollover_at_s < 0.0
            || self.rollover_at_s >= self.length_s()
        {
            return Err(format!(
                "rollover_at_s = {}: 0 (none) or within the run",
                self.rollover_at_s
            ));
        }
        if self.threads == 0 || self.threads > 64 {
            return Err(format!("threads = {}: 1 to 64", self.threads));
        }
        if self.batch == 0 || self.batch > 1024 {
            return Err(format!("batch = {}: 1 to 1024", self.batch));
        }
        if !["auto", "uring", "mmsg"].contains(&self.io.as_str()) {
            return Err(format!("io = {:?}: auto, uring or mmsg", self.io));
        }
        if self.mix.floor > 10_000 || self.mix.transmission > 10_000 {
            return Err("mix: floor and transmission weigh 0 to 10 000".into());
        }
        if self.mix.floor + self.mix.transmission == 0 {
            return Err("mix: floor and transmission cannot both be 0".into());
        }
        share("mix.emergency", self.mix.emergency)?;
        share("mix.imminent_peril", self.mix.imminent_peril)?;
        if self.mix.emergency + self.mix.imminent_peril > 1.0 {
            return Err("mix: emergency + imminent_peril over 1".into());
        }
        let a = &self.attack;
        for (n, v) in [
            ("attack.forged", a.forged),
            ("attack.replayed", a.replayed),
            ("attack.truncated", a.truncated),
            ("attack.unknown_key", a.unknown_key),
        ] {
            share(n, v)?;
        }
        if a.total() > 0.5 {
            return Err("attack: the shares add up to more than 0.5".into());
        }
        Ok(())
    }

    /// The run's length in seconds.
    pub fn length_s(&self) -> f64 {
        if self.steps.is_empty() {
            self.duration_s
        } else {
            self.steps.iter().map(|s| s[0]).sum()
        }
    }

    /// Whether the run goes as fast as it can instead of on a schedule.
    pub fn flat_out(&self) -> bool {
        self.steps.is_empty() && self.rate_pps == 0.0
    }

    /// The streams: an uplink and a downlink per client, a fan-out per group, and an MBMS
    /// stream per group when `mbms`.
    pub fn streams(&self) -> u32 {
        2 * self.clients + self.groups * if self.mbms { 2 } else { 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_and_the_module_example_are_valid() {
        Scenario::default().validate().unwrap();
        let doc = include_str!("scenario.rs");
        let start = doc.find("//! ```toml\n").unwrap() + 12;
        let end = doc[start..].find("//! ```").unwrap() + start;
        let text: String = doc[start..end]
            .lines()
            .map(|l| l.strip_prefix("//! ").unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let s = Scenario::from_toml(&text).unwrap();
        assert_eq!(s.rollover_at_s, 1.5);
        assert_eq!(Scenario::from_toml(&s.to_toml()).unwrap(), s);
    }

    #[test]
    fn bad_scenarios_are_refused_with_a_reason() {
        for (text, says) in [
            ("clients = 0", "clients"),
            ("groups = 40\nclients = 4", "groups"),
            ("duration_s = -1", "duration_s"),
            ("rate_pps = 1e12", "rate_pps"),
            ("steps = [[1.0, 0.0]]", "steps"),
            ("rollover_at_s = 9", "rollover_at_s"),
            ("io = \"dpdk\"", "io"),
            ("[attack]\nforged = 2.0", "attack.forged"),
            ("[attack]\nforged = 0.3\nreplayed = 0.3", "0.5"),
            ("[mix]\nfloor = 0\ntransmission = 0", "mix"),
            ("bogus = 1", "bogus"),
            ("threads = 0", "threads"),
        ] {
            let e = Scenario::from_toml(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
