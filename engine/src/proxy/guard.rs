//! The storm guard's parts (TR 33.880 §7.2.5.3.3.3: a signalling proxy watches how much
//! signalling of which kind enters the MC domain and blocks, throttles or prioritises it,
//! keeping the most critical services going), as pure code with time an argument:
//!
//! - [`Gcra`]: one budget, a rate and a burst (the generic cell rate algorithm of ITU-T
//!   I.371, as token buckets without a timer); a refused packet changes nothing.
//! - [`Buckets`]: a fixed number of budgets addressed by a keyed hash (of a source address,
//!   a prefix, a key ID or a user), so that a flood from ever new sources or users fills
//!   nothing: its memory is fixed when the guard is made.
//! - [`classify`]: the class of an authenticated floor-control or transmission-control
//!   packet from its Floor Indicator and Floor Priority.
//! - [`early_drop`]: whether a normal or bulk packet goes, from how long it has waited.
//! - [`Guard`]: the budgets together. Before authentication: the worker's, the source's and
//!   its prefix's (which protect the loop), and a key's budget of failed authentications
//!   (charged only by packets that failed, so forgeries never spend a user's budget).
//!   After authentication: reserved budgets for emergency and imminent peril, each capped
//!   per user; a shared budget split by weight between priority, normal and bulk; per
//!   service and per user limits. [`Guard::admit`] answers the SIP side with the same
//!   budgets and a randomised Retry-After.
//!
//! The relay does not call the guard yet.

use std::net::{IpAddr, SocketAddr};

use crate::floor::{
    FieldId, INDICATOR_EMERGENCY, INDICATOR_IMMINENT_PERIL, Message, MessageType, Value,
};
use crate::keys::{KeyId, Service};

/// A rate and the burst it tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Packets per second; 0: nothing passes.
    pub per_s: u32,
    /// Packets that may come at once.
    pub burst: u32,
}

impl Rate {
    /// No limit.
    pub const UNLIMITED: Rate = Rate {
        per_s: u32::MAX,
        burst: u32::MAX,
    };

    /// `per_s` with a burst of `burst`.
    pub const fn new(per_s: u32, burst: u32) -> Rate {
        Rate { per_s, burst }
    }

    fn interval_ns(self) -> u64 {
        if self.per_s == 0 {
            u64::MAX
        } else {
            1_000_000_000 / u64::from(self.per_s)
        }
    }
}

/// One budget: the theoretical arrival time of the next packet (GCRA).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gcra {
    tat_ns: u64,
}

impl Gcra {
    /// Whether a packet at `now_ns` fits `rate`; if it does, it is charged.
    pub fn take(&mut self, rate: Rate, now_ns: u64) -> bool {
        let Some(tat) = self.check(rate, now_ns) else {
            return false;
        };
        self.tat_ns = tat;
        true
    }

    /// What [`Gcra::take`] would set, without charging; `None`: it does not fit.
    fn check(&self, rate: Rate, now_ns: u64) -> Option<u64> {
        if rate == Rate::UNLIMITED {
            return Some(self.tat_ns);
        }
        if rate.per_s == 0 || rate.burst == 0 {
            return None;
        }
        let t = rate.interval_ns();
        let tolerance = t.saturating_mul(u64::from(rate.burst - 1));
        let tat = self.tat_ns.max(now_ns);
        if tat - now_ns > tolerance {
            return None;
        }
        Some(tat.saturating_add(t))
    }

    /// When a packet would fit again, ns from `now_ns` (0: now).
    pub fn wait_ns(&self, rate: Rate, now_ns: u64) -> u64 {
        if self.check(rate, now_ns).is_some() {
            return 0;
        }
        if rate.per_s == 0 || rate.burst == 0 {
            return u64::MAX;
        }
        let tolerance = rate.interval_ns().saturating_mul(u64::from(rate.burst - 1));
        self.tat_ns.saturating_sub(now_ns).saturating_sub(tolerance)
    }
}

/// SipHash-like mixing of a key under a secret (SplitMix64 rounds): which bucket a key
/// lands in cannot be chosen by a sender who does not know the secret.
fn mix(secret: u64, x: u64) -> u64 {
    let mut z = x ^ secret;
    for _ in 0..2 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

/// A fixed number of budgets, addressed by a keyed hash. Keys that collide share a budget:
/// the table never grows, whatever arrives.
#[derive(Clone, Debug)]
pub struct Buckets {
    slots: Box<[Gcra]>,
    secret: u64,
}

impl Buckets {
    /// `n` budgets (rounded up to a power of two, at least 1) under `secret`.
    pub fn new(n: usize, secret: u64) -> Buckets {
        Buckets {
            slots: vec![Gcra::default(); n.max(1).next_power_of_two()].into_boxed_slice(),
            secret,
        }
    }

    /// Number of budgets.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Always false: a table has at least one budget.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn index(&self, key: u64) -> usize {
        (mix(self.secret, key) as usize) & (self.slots.len() - 1)
    }

    /// [`Gcra::take`] on `key`'s budget.
    pub fn take(&mut self, key: u64, rate: Rate, now_ns: u64) -> bool {
        let i = self.index(key);
        self.slots[i].take(rate, now_ns)
    }

    /// Whether `key`'s budget would take a packet now, without charging it: the charge to
    /// [`Buckets::commit`] if it would.
    pub fn probe(&self, key: u64, rate: Rate, now_ns: u64) -> Option<Charge> {
        let i = self.index(key);
        self.slots[i]
            .check(rate, now_ns)
            .map(|tat_ns| Charge { slot: i, tat_ns })
    }

    /// Charges what [`Buckets::probe`] found.
    pub fn commit(&mut self, c: Charge) {
        self.slots[c.slot].tat_ns = c.tat_ns;
    }

    /// [`Gcra::wait_ns`] on `key`'s budget.
    pub fn wait_ns(&self, key: u64, rate: Rate, now_ns: u64) -> u64 {
        self.slots[self.index(key)].wait_ns(rate, now_ns)
    }
}

/// A charge [`Buckets::probe`] found room for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge {
    slot: usize,
    tat_ns: u64,
}

/// A source address as a hash key (address and port).
pub fn source_key(a: &SocketAddr) -> u64 {
    let ip = ip_bits(a.ip());
    ip.0 ^ ip.1.rotate_left(17) ^ u64::from(a.port()).rotate_left(48)
}

/// The source's prefix as a hash key: the /24 of an IPv4 address, the /64 of an IPv6 one.
pub fn prefix_key(a: &SocketAddr) -> u64 {
    match a.ip() {
        IpAddr::V4(v) => u64::from(u32::from(v) & 0xffff_ff00) | 1 << 40,
        IpAddr::V6(v) => (u128::from(v) >> 64) as u64 ^ 2 << 60,
    }
}

fn ip_bits(ip: IpAddr) -> (u64, u64) {
    match ip {
        IpAddr::V4(v) => (u64::from(u32::from(v)), 4),
        IpAddr::V6(v) => {
            let n = u128::from(v);
            ((n >> 64) as u64, n as u64)
        }
    }
}

/// The guard's traffic classes, most critical first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Emergency: the Floor Indicator's emergency bit, or the emergency priority.
    Emergency,
    /// Imminent peril.
    ImminentPeril,
    /// A configured priority user or group.
    Priority,
    /// The rest of floor and transmission control.
    Normal,
    /// Reports and other bulk signalling.
    Bulk,
}

impl Class {
    /// Every class, in order.
    pub const ALL: [Class; 5] = [
        Class::Emergency,
        Class::ImminentPeril,
        Class::Priority,
        Class::Normal,
        Class::Bulk,
    ];

    /// Its name in counters and configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Class::Emergency => "emergency",
            Class::ImminentPeril => "imminent_peril",
            Class::Priority => "priority",
            Class::Normal => "normal",
            Class::Bulk => "bulk",
        }
    }
}

/// The Floor Priority that marks an emergency request (TS 24.380: the highest, 15).
pub const EMERGENCY_PRIORITY: u8 = 15;

/// The class of an authenticated floor-control message, before the configured priority
/// users: the Floor Indicator's emergency or imminent-peril bit, or the emergency Floor
/// Priority; Floor Ack and Unicast Media Flow Control are bulk; the rest normal.
pub fn classify(m: &Message<'_>) -> Class {
    let mut class = match m.message_type() {
        Some(MessageType::FloorAck | MessageType::UnicastMediaFlowControl) => Class::Bulk,
        _ => Class::Normal,
    };
    for f in m.fields() {
        match (f.id, f.value) {
            (Some(FieldId::FloorIndicator), Some(Value::U16(i))) => {
                if i & INDICATOR_EMERGENCY != 0 {
                    return Class::Emergency;
                }
                if i & INDICATOR_IMMINENT_PERIL != 0 {
                    class = Class::ImminentPeril;
                }
            }
            (Some(FieldId::FloorPriority), Some(Value::U8(p))) if p >= EMERGENCY_PRIORITY => {
                return Class::Emergency;
            }
            _ => {}
        }
    }
    class
}

/// Whether a normal or bulk packet that has waited `delay_us` is dropped early: never
/// below `target_us`, always from `max_us`, and between them with a probability rising
/// linearly with the delay, decided by `rand` (uniform over `u32`).
pub fn early_drop(delay_us: u64, target_us: u64, max_us: u64, rand: u32) -> bool {
    if delay_us <= target_us {
        return false;
    }
    if delay_us >= max_us || max_us <= target_us {
        return true;
    }
    let p = (delay_us - target_us) as f64 / (max_us - target_us) as f64;
    (f64::from(rand) / f64::from(u32::MAX)) < p
}

/// The guard's budgets. Rates are per guard (a relay worker has its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// Everything the worker takes before authentication.
    pub global: Rate,
    /// One source address and port, before authentication.
    pub per_source: Rate,
    /// One /24 or /64, before authentication.
    pub per_prefix: Rate,
    /// Failed authentications under one key ID from peers that are not its session's.
    pub key_failures: Rate,
    /// Emergency, in all.
    pub emergency: Rate,
    /// Emergency, per user.
    pub emergency_per_user: Rate,
    /// Imminent peril, in all.
    pub imminent_peril: Rate,
    /// Imminent peril, per user.
    pub imminent_peril_per_user: Rate,
    /// What priority, normal and bulk share.
    pub shared: Rate,
    /// The share's weights: priority, normal, bulk.
    pub weights: [u32; 3],
    /// Per service: MCPTT, MCVideo, MCData (every class but emergency and imminent peril).
    pub per_service: [Rate; 3],
    /// Per user (every class but emergency and imminent peril).
    pub per_user: Rate,
    /// Early drop of normal and bulk: from this queueing delay …
    pub target_delay_us: u64,
    /// … to certain drop at this one.
    pub max_delay_us: u64,
    /// Budgets in each hashed table.
    pub table: usize,
    /// Retry-After for a refused admission: at least this …
    pub retry_min_s: u32,
    /// … at most this.
    pub retry_max_s: u32,
}

impl Default for GuardConfig {
    fn default() -> GuardConfig {
        GuardConfig {
            global: Rate::new(1_000_000, 4096),
            per_source: Rate::new(2_000, 256),
            per_prefix: Rate::new(50_000, 4096),
            key_failures: Rate::new(100, 32),
            emergency: Rate::new(20_000, 2048),
            emergency_per_user: Rate::new(50, 20),
            imminent_peril: Rate::new(10_000, 1024),
            imminent_peril_per_user: Rate::new(50, 20),
            shared: Rate::new(500_000, 8192),
            weights: [4, 3, 1],
            per_service: [Rate::UNLIMITED; 3],
            per_user: Rate::new(200, 50),
            target_delay_us: 5_000,
            max_delay_us: 50_000,
            table: 4096,
            retry_min_s: 5,
            retry_max_s: 30,
        }
    }
}

/// Why the guard refused a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The worker's budget (before authentication).
    Global,
    /// The source's budget.
    Source,
    /// The source prefix's budget.
    Prefix,
    /// Too many failed authentications under this key from outside its sessions.
    KeyFlood,
    /// The class's budget.
    Class(Class),
    /// The user's cap in its class (emergency, imminent peril) or overall.
    User(Class),
    /// The service's budget.
    Service(Service),
    /// Queued too long (early drop).
    Delay(Class),
}

/// What [`Guard::admit`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Admit,
    /// Not now; try again after this many seconds.
    Reject {
        /// Seconds (randomised, so refused clients do not come back in step).
        retry_after: u32,
    },
}

/// What a packet that passes [`Guard::after_auth`] charges: the user's budget, the
/// class's, and (outside emergency and imminent peril) the service's.
#[derive(Clone, Copy, Debug)]
struct Charges {
    user: Charge,
    class_tat: u64,
    service_tat: Option<(usize, u64)>,
}

/// The budgets together, for one worker.
#[derive(Clone, Debug)]
pub struct Guard {
    config: GuardConfig,
    global: Gcra,
    sources: Buckets,
    prefixes: Buckets,
    key_failures: Buckets,
    class: [Gcra; 5],
    users: [Buckets; 3],
    services: [Gcra; 3],
    /// Per class: its budget's rate (the shared one split by weight), from the config.
    class_rates: [Rate; 5],
    /// Refusals so far, by reason (counters for `stats`).
    pub refused: Counters,
    /// Packets passed, by class.
    pub passed: [u64; 5],
}

/// Refusal counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Before authentication: global, source, prefix, key flood.
    pub pre_auth: [u64; 4],
    /// Per class: its budget.
    pub class: [u64; 5],
    /// Per class: a user's cap.
    pub user: [u64; 5],
    /// Per service.
    pub service: [u64; 3],
    /// Per class: early drop.
    pub delay: [u64; 5],
}

/// A class's budget: its own for emergency and imminent peril, the shared one split by
/// weight for the rest.
fn class_rate(c: &GuardConfig, class: Class) -> Rate {
    match class {
        Class::Emergency => c.emergency,
        Class::ImminentPeril => c.imminent_peril,
        _ => {
            if c.shared == Rate::UNLIMITED {
                return Rate::UNLIMITED;
            }
            let w = c.weights;
            let total = u64::from(w[0]) + u64::from(w[1]) + u64::from(w[2]);
            let mine = u64::from(match class {
                Class::Priority => w[0],
                Class::Normal => w[1],
                _ => w[2],
            });
            let part = |x: u32| (u64::from(x) * mine / total.max(1)) as u32;
            Rate::new(part(c.shared.per_s), part(c.shared.burst).max(1))
        }
    }
}

fn class_index(c: Class) -> usize {
    c as usize
}

fn service_index(s: Service) -> usize {
    match s {
        Service::Mcptt => 0,
        Service::Mcvideo => 1,
        Service::Mcdata => 2,
    }
}

impl Guard {
    /// A guard under `config`; `secret` keys its hashed tables (give each guard a random
    /// one, so a sender cannot aim its flood at another's budget).
    pub fn new(config: GuardConfig, secret: u64) -> Guard {
        let n = config.table;
        let b = |i: u64| Buckets::new(n, mix(secret, i));
        Guard {
            global: Gcra::default(),
            sources: b(1),
            prefixes: b(2),
            key_failures: b(3),
            class: [Gcra::default(); 5],
            users: [b(4), b(5), b(6)],
            services: [Gcra::default(); 3],
            class_rates: Class::ALL.map(|c| class_rate(&config, c)),
            refused: Counters::default(),
            passed: [0; 5],
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Before authentication: the worker's, the source's and its prefix's budgets, and, for
    /// a packet not from a session's peer (`known_peer` false), whether its key has had too
    /// many failed authentications. Charges the budgets it passes.
    pub fn pre_auth(
        &mut self,
        src: &SocketAddr,
        key: Option<KeyId>,
        known_peer: bool,
        now_ns: u64,
    ) -> Result<(), Refusal> {
        let c = &self.config;
        if !known_peer
            && let Some(k) = key
            && self
                .key_failures
                .probe(u64::from(k.get()), c.key_failures, now_ns)
                .is_none()
        {
            self.refused.pre_auth[3] += 1;
            return Err(Refusal::KeyFlood);
        }
        // Check all three, then charge: a refusal charges nothing.
        let Some(global) = self.global.check(c.global, now_ns) else {
            self.refused.pre_auth[0] += 1;
            return Err(Refusal::Global);
        };
        let Some(source) = self.sources.probe(source_key(src), c.per_source, now_ns) else {
            self.refused.pre_auth[1] += 1;
            return Err(Refusal::Source);
        };
        let Some(prefix) = self.prefixes.probe(prefix_key(src), c.per_prefix, now_ns) else {
            self.refused.pre_auth[2] += 1;
            return Err(Refusal::Prefix);
        };
        self.global.tat_ns = global;
        self.sources.commit(source);
        self.prefixes.commit(prefix);
        Ok(())
    }

    /// A packet under `key` failed authentication (from a peer that is not the key's
    /// session's): charges the key's failure budget only.
    pub fn auth_failed(&mut self, key: KeyId, known_peer: bool, now_ns: u64) {
        if !known_peer {
            let r = self.config.key_failures;
            let _ = self.key_failures.take(u64::from(key.get()), r, now_ns);
        }
    }

    /// After authentication: whether a packet of `class` from `user` (a hash of the user's
    /// identity or key) for `service`, which has waited `delay_us`, goes on. `rand` decides
    /// early drops. A refusal charges nothing.
    pub fn after_auth(
        &mut self,
        class: Class,
        user: u64,
        service: Service,
        delay_us: u64,
        rand: u32,
        now_ns: u64,
    ) -> Result<(), Refusal> {
        let ci = class_index(class);
        let r = self.check_after(class, user, service, delay_us, rand, now_ns);
        match r {
            Ok(Charges {
                user: user_charge,
                class_tat,
                service_tat,
            }) => {
                let (ut, _) = self.user_rate(class);
                self.users[ut].commit(user_charge);
                self.class[ci].tat_ns = class_tat;
                if let Some((si, tat)) = service_tat {
                    self.services[si].tat_ns = tat;
                }
                self.passed[ci] += 1;
            }
            Err(Refusal::Class(_)) => self.refused.class[ci] += 1,
            Err(Refusal::User(_)) => self.refused.user[ci] += 1,
            Err(Refusal::Service(s)) => self.refused.service[service_index(s)] += 1,
            Err(Refusal::Delay(_)) => self.refused.delay[ci] += 1,
            Err(_) => {}
        }
        r.map(|_| ())
    }

    fn user_rate(&self, class: Class) -> (usize, Rate) {
        let c = &self.config;
        match class {
            Class::Emergency => (0, c.emergency_per_user),
            Class::ImminentPeril => (1, c.imminent_peril_per_user),
            _ => (2, c.per_user),
        }
    }

    /// What [`Guard::after_auth`] would charge (the user's budget, the class's, the
    /// service's), or why it refuses.
    fn check_after(
        &self,
        class: Class,
        user: u64,
        service: Service,
        delay_us: u64,
        rand: u32,
        now_ns: u64,
    ) -> Result<Charges, Refusal> {
        let critical = matches!(class, Class::Emergency | Class::ImminentPeril);
        if matches!(class, Class::Normal | Class::Bulk)
            && early_drop(
                delay_us,
                self.config.target_delay_us,
                self.config.max_delay_us,
                rand,
            )
        {
            return Err(Refusal::Delay(class));
        }
        let (ut, ur) = self.user_rate(class);
        let user_charge = self.users[ut]
            .probe(user, ur, now_ns)
            .ok_or(Refusal::User(class))?;
        let ci = class_index(class);
        let class_tat = self.class[ci]
            .check(self.class_rates[ci], now_ns)
            .ok_or(Refusal::Class(class))?;
        let service_tat = if critical {
            None
        } else {
            let si = service_index(service);
            let tat = self.services[si]
                .check(self.config.per_service[si], now_ns)
                .ok_or(Refusal::Service(service))?;
            Some((si, tat))
        };
        Ok(Charges {
            user: user_charge,
            class_tat,
            service_tat,
        })
    }

    /// The SIP side's admission for `user` (a hash of the identity), `service` and
    /// `class`, under the same budgets as its packets; a refusal names a Retry-After
    /// between the configured bounds, spread by `rand` and never before the budget frees.
    pub fn admit(
        &mut self,
        user: u64,
        service: Service,
        class: Class,
        rand: u32,
        now_ns: u64,
    ) -> Admit {
        match self.after_auth(class, user, service, 0, rand, now_ns) {
            Ok(()) => Admit::Admit,
            Err(r) => {
                let (lo, hi) = (
                    self.config.retry_min_s,
                    self.config.retry_max_s.max(self.config.retry_min_s),
                );
                let spread = u64::from(hi - lo) + 1;
                let mut s = lo + (u64::from(rand) % spread) as u32;
                // Never sooner than the refusing budget frees (a budget of nothing never
                // does: the spread alone).
                let wait_s = self.wait_s(r, user, now_ns);
                if wait_s < u64::from(u32::MAX) {
                    s = s.max(wait_s as u32);
                }
                Admit::Reject { retry_after: s }
            }
        }
    }

    fn wait_s(&self, r: Refusal, user: u64, now_ns: u64) -> u64 {
        let ns = match r {
            Refusal::User(c) => {
                let (ut, ur) = self.user_rate(c);
                self.users[ut].wait_ns(user, ur, now_ns)
            }
            Refusal::Class(c) => {
                let ci = class_index(c);
                self.class[ci].wait_ns(self.class_rates[ci], now_ns)
            }
            Refusal::Service(s) => {
                let si = service_index(s);
                self.services[si].wait_ns(self.config.per_service[si], now_ns)
            }
            _ => 0,
        };
        if ns == u64::MAX {
            return u64::MAX;
        }
        ns.div_ceil(1_000_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::floor::{Builder, INDICATOR_NORMAL, Options, parse};

    const MS: u64 = 1_000_000;

    #[test]
    fn a_budget_takes_its_burst_then_its_rate_and_a_refusal_charges_nothing() {
        let r = Rate::new(1000, 10);
        let mut g = Gcra::default();
        let t0 = 5_000 * MS;
        assert!((0..10).all(|_| g.take(r, t0)), "the burst");
        let before = g;
        assert!(!g.take(r, t0));
        assert_eq!(g, before, "a refusal changes nothing");
        assert_eq!(g.wait_ns(r, t0), MS, "one interval");
        assert!(g.take(r, t0 + MS));
        // Over a second at the rate, all pass; faster, one in two.
        let mut g = Gcra::default();
        let passed = (0..2000).filter(|i| g.take(r, t0 + i * MS / 2)).count();
        assert!((1000..=1011).contains(&passed), "{passed}");
        assert!(!Gcra::default().take(Rate::new(0, 5), t0));
        assert!((0..100_000).all(|_| g.take(Rate::UNLIMITED, t0)));
    }

    #[test]
    fn hashed_tables_never_grow_and_a_flood_from_new_sources_fills_nothing() {
        let mut b = Buckets::new(1000, 42);
        assert_eq!(b.len(), 1024);
        let r = Rate::new(10, 1);
        let now = 1_000 * MS;
        for i in 0..100_000u64 {
            b.take(i, r, now);
        }
        assert_eq!(b.len(), 1024);
        // A key that floods only spends its own budget (and its slot's sharers').
        let mut g = Guard::new(GuardConfig::default(), 7);
        let flood: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        let user: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let refused = (0..10_000)
            .filter(|_| g.pre_auth(&flood, None, false, now).is_err())
            .count();
        assert!(refused > 9_000, "{refused}");
        assert!(
            g.pre_auth(&user, None, false, now).is_ok(),
            "another source"
        );
        assert_eq!(g.refused.pre_auth[1], refused as u64);
    }

    #[test]
    fn forged_packets_under_a_key_never_spend_a_user_s_budget() {
        let mut g = Guard::new(GuardConfig::default(), 9);
        let key = KeyId::new(0x2000_0001).unwrap();
        let now = 10 * MS;
        let (peer, other): (SocketAddr, SocketAddr) = (
            "10.0.0.1:5000".parse().unwrap(),
            "192.0.2.1:1".parse().unwrap(),
        );
        for i in 0..1000u64 {
            let src: SocketAddr = format!("192.0.{}.{}:{}", i / 250, i % 250, 1000 + i)
                .parse()
                .unwrap();
            if g.pre_auth(&src, Some(key), false, now).is_ok() {
                g.auth_failed(key, false, now);
            }
        }
        // Strangers under that key are refused before any AES runs …
        assert_eq!(
            g.pre_auth(&other, Some(key), false, now),
            Err(Refusal::KeyFlood)
        );
        // … while the key's own session peer goes on, and its user budget is untouched.
        assert!(g.pre_auth(&peer, Some(key), true, now).is_ok());
        let user = 77;
        let passed = (0..50)
            .filter(|_| {
                g.after_auth(Class::Normal, user, Service::Mcptt, 0, 0, now)
                    .is_ok()
            })
            .count();
        assert_eq!(passed, 50, "the per-user burst is whole");
    }

    #[test]
    fn emergency_has_its_own_budget_capped_per_user() {
        let cfg = GuardConfig {
            shared: Rate::new(100, 10),
            ..GuardConfig::default()
        };
        let mut g = Guard::new(cfg, 3);
        let now = 100 * MS;
        // Normal traffic exhausts the shared budget …
        for u in 0..1000 {
            let _ = g.after_auth(Class::Normal, u, Service::Mcptt, 0, 0, now);
        }
        assert!(
            g.after_auth(Class::Normal, 5000, Service::Mcptt, 0, 0, now)
                .is_err()
        );
        // … an emergency still goes; a rogue "emergency" user is held to its cap …
        let rogue = 1;
        let through = (0..1000)
            .filter(|_| {
                g.after_auth(Class::Emergency, rogue, Service::Mcptt, 0, 0, now)
                    .is_ok()
            })
            .count();
        assert_eq!(through, 20, "the per-user burst");
        assert_eq!(g.refused.user[0], 980);
        // … and another user's emergency goes through.
        assert!(
            g.after_auth(Class::Emergency, 2, Service::Mcptt, 0, 0, now)
                .is_ok()
        );
        assert_eq!(g.passed[0], 21);
    }

    #[test]
    fn early_drop_rises_with_delay_and_spares_the_critical_classes() {
        assert!(!early_drop(4_000, 5_000, 50_000, u32::MAX));
        assert!(early_drop(60_000, 5_000, 50_000, 0));
        let share = |d| {
            (0..10_000u32)
                .filter(|i| early_drop(d, 5_000, 50_000, i.wrapping_mul(429_497)))
                .count()
        };
        let (a, b) = (share(10_000), share(40_000));
        assert!(
            a < b && (800..1400).contains(&a) && (7200..8400).contains(&b),
            "{a} {b}"
        );
        let mut g = Guard::new(GuardConfig::default(), 1);
        let now = MS;
        assert_eq!(
            g.after_auth(Class::Normal, 1, Service::Mcptt, 90_000, 0, now),
            Err(Refusal::Delay(Class::Normal))
        );
        assert!(
            g.after_auth(Class::Emergency, 1, Service::Mcptt, 90_000, 0, now)
                .is_ok()
        );
    }

    #[test]
    fn floor_control_is_classed_by_indicator_and_priority() {
        let class = |b: Builder| {
            let p = b.finish().unwrap();
            classify(&parse(&p, Options::default()).unwrap())
        };
        let req = |ind: u16, prio: u8| {
            Builder::floor(MessageType::FloorRequest, false, 1)
                .u8(FieldId::FloorPriority, prio)
                .u16(FieldId::FloorIndicator, ind)
        };
        assert_eq!(class(req(INDICATOR_NORMAL, 5)), Class::Normal);
        assert_eq!(class(req(INDICATOR_EMERGENCY, 5)), Class::Emergency);
        assert_eq!(class(req(INDICATOR_NORMAL, 15)), Class::Emergency);
        assert_eq!(
            class(req(INDICATOR_IMMINENT_PERIL, 5)),
            Class::ImminentPeril
        );
        assert_eq!(
            class(Builder::floor(MessageType::FloorAck, false, 1).u16(FieldId::Source, 1)),
            Class::Bulk
        );
    }

    #[test]
    fn admission_answers_with_a_spread_retry_after() {
        let cfg = GuardConfig {
            per_user: Rate::new(1, 1),
            ..GuardConfig::default()
        };
        let mut g = Guard::new(cfg, 5);
        let now = 1_000 * MS;
        assert_eq!(
            g.admit(9, Service::Mcptt, Class::Normal, 0, now),
            Admit::Admit
        );
        let mut seen = std::collections::BTreeSet::new();
        for r in 0..200u32 {
            match g.admit(
                9,
                Service::Mcptt,
                Class::Normal,
                r.wrapping_mul(2_654_435_761),
                now,
            ) {
                Admit::Reject { retry_after } => {
                    assert!((5..=30).contains(&retry_after), "{retry_after}");
                    seen.insert(retry_after);
                }
                Admit::Admit => panic!("the user's budget is spent"),
            }
        }
        assert!(seen.len() > 10, "spread: {seen:?}");
        // A budget that frees later than the window: never sooner than it.
        let slow = GuardConfig {
            per_user: Rate::new(0, 0),
            emergency_per_user: Rate::new(1, 1),
            ..GuardConfig::default()
        };
        let mut g = Guard::new(slow, 5);
        assert!(matches!(
            g.admit(1, Service::Mcdata, Class::Normal, 0, now),
            Admit::Reject { retry_after: 5 }
        ));
        // With no spread configured, the answer is when the user's budget frees: 1 s.
        let exact = GuardConfig {
            per_user: Rate::new(1, 1),
            retry_min_s: 0,
            retry_max_s: 0,
            ..GuardConfig::default()
        };
        let mut g = Guard::new(exact, 5);
        assert_eq!(
            g.admit(3, Service::Mcptt, Class::Normal, 0, now),
            Admit::Admit
        );
        assert_eq!(
            g.admit(3, Service::Mcptt, Class::Normal, 0, now),
            Admit::Reject { retry_after: 1 }
        );
        assert_eq!(
            g.admit(3, Service::Mcptt, Class::Normal, 0, now + 1_000 * MS),
            Admit::Admit
        );
    }
}
