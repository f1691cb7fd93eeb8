//! Time as the engine sees it: a [`Timestamp`] the caller passes in.
//!
//! Nothing in the pure core, the store or the data path reads a clock; every call that
//! depends on time (activation, expiry, grace periods) takes `now`. [`Timestamp::now`] is
//! for the surfaces (CLI, C ABI, tools), which read the system clock once per call or batch.

/// Milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current system time, for surfaces that have no clock of their own.
    pub fn now() -> Timestamp {
        Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        )
    }

    /// `ms` milliseconds later, saturating.
    pub const fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }
}
