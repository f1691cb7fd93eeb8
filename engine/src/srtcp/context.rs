//! Transmit and receive contexts: one sender's SRTCP index, one receiver's replay window.

use super::layout::{LengthCheck, MAX_INDEX, Mki};
use super::transform::{Policy, open, open_in_place, seal, seal_in_place};
use super::{ConfigError, Error, ReplayWindow, SrtcpKeys};

/// Smallest replay window (RFC 3711 §3.3.2 asks for at least 64).
pub const MIN_REPLAY_WINDOW: u32 = 64;
/// Largest replay window.
pub const MAX_REPLAY_WINDOW: u32 = 32768;
/// Default replay window.
pub const DEFAULT_REPLAY_WINDOW: u32 = 128;
/// Default soft limit: from this index on, protect reports that the key should be replaced
/// (16,777,216 packets before the hard limit of 2^31).
pub const DEFAULT_SOFT_LIMIT: u32 = MAX_INDEX - 0x00ff_ffff;

/// Whether SRTCP packets are encrypted (E=1) or only authenticated (E=0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protection {
    /// E=1: octets 9..end are encrypted, everything is authenticated.
    #[default]
    Encrypted,
    /// E=0: the packet travels in clear and is authenticated.
    AuthOnly,
}

/// How a [`TxContext`] protects.
#[derive(Clone, Copy, Debug)]
pub struct TxConfig {
    /// E=1 or E=0.
    pub protection: Protection,
    /// The MKI appended to every packet.
    pub mki: Mki,
    /// The SRTCP index of the first packet (0 for a new sender; the next unused index when
    /// a sender continues after a key replacement, since the index is never reset).
    pub initial_index: u32,
    /// From this index on, [`Protected::soft_limit_reached`] is set.
    pub soft_limit: u32,
    /// How strictly the RTCP framing is checked before protecting.
    pub length_check: LengthCheck,
}

impl TxConfig {
    /// Encrypted, index from 0, the default soft limit.
    pub fn new(mki: Mki) -> TxConfig {
        TxConfig {
            protection: Protection::Encrypted,
            mki,
            initial_index: 0,
            soft_limit: DEFAULT_SOFT_LIMIT,
            length_check: LengthCheck::Strict,
        }
    }

    /// Sets E=0 (authenticated only).
    pub fn auth_only(mut self) -> TxConfig {
        self.protection = Protection::AuthOnly;
        self
    }

    /// Starts at `index`.
    pub fn initial_index(mut self, index: u32) -> TxConfig {
        self.initial_index = index;
        self
    }

    /// Sets the soft limit.
    pub fn soft_limit(mut self, index: u32) -> TxConfig {
        self.soft_limit = index;
        self
    }

    /// Sets how strictly the RTCP framing is checked.
    pub fn length_check(mut self, check: LengthCheck) -> TxConfig {
        self.length_check = check;
        self
    }

    /// The per-packet part of the configuration.
    pub fn policy(&self) -> Policy {
        Policy {
            protection: self.protection,
            mki: self.mki,
            length_check: self.length_check,
        }
    }
}

/// What protect did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protected {
    /// Length of the SRTCP packet written.
    pub len: usize,
    /// The SRTCP index it carries.
    pub index: u32,
    /// The index reached the soft limit: replace the key soon.
    pub soft_limit_reached: bool,
}

/// A sender's SRTCP state for one (key, SSRC): the keys and the next index.
///
/// Deliberately not `Clone`: two copies would send the same indices, and so reuse GCM IVs,
/// under one key (RFC 7714 §9.4). Move it, or share it behind `&mut`.
#[derive(Debug)]
pub struct TxContext {
    keys: SrtcpKeys,
    config: TxConfig,
    /// Next index to use; `MAX_INDEX + 1` once exhausted.
    next: u32,
}

impl TxContext {
    /// A sender context. Panics never; an out-of-range initial index is clamped to
    /// "exhausted" — use [`TxContext::try_new`] to get an error instead.
    pub fn new(keys: SrtcpKeys, config: TxConfig) -> TxContext {
        let next = config.initial_index.min(MAX_INDEX + 1);
        TxContext { keys, config, next }
    }

    /// A sender context; the initial index must be below 2^31.
    pub fn try_new(keys: SrtcpKeys, config: TxConfig) -> Result<TxContext, ConfigError> {
        if config.initial_index > MAX_INDEX {
            return Err(ConfigError::InitialIndex(config.initial_index));
        }
        Ok(TxContext::new(keys, config))
    }

    /// The index the next packet will carry, or `None` when the index space is used up.
    pub fn next_index(&self) -> Option<u32> {
        (self.next <= MAX_INDEX).then_some(self.next)
    }

    /// The configuration.
    pub fn config(&self) -> &TxConfig {
        &self.config
    }

    /// Protects the RTCP packet in `buf[..len]` in place. `buf` must have room for
    /// [`super::protected_len`]`(len, mki_len)` octets ([`super::MAX_SRTCP_TRAILER`] more is always
    /// enough).
    pub fn protect_in_place(&mut self, buf: &mut [u8], len: usize) -> Result<Protected, Error> {
        let index = self.take_index_checked()?;
        let out_len = seal_in_place(&self.keys, &self.config.policy(), buf, len, index)?;
        Ok(self.commit(out_len, index))
    }

    /// Protects `input` into `output`; `input` is not changed. On error `output` is not
    /// touched.
    pub fn protect(&mut self, input: &[u8], output: &mut [u8]) -> Result<Protected, Error> {
        let index = self.take_index_checked()?;
        let out_len = seal(&self.keys, &self.config.policy(), input, output, index)?;
        Ok(self.commit(out_len, index))
    }

    fn take_index_checked(&self) -> Result<u32, Error> {
        if self.next > MAX_INDEX {
            return Err(Error::KeyExhausted);
        }
        Ok(self.next)
    }

    fn commit(&mut self, len: usize, index: u32) -> Protected {
        self.next = index + 1;
        Protected {
            len,
            index,
            soft_limit_reached: index >= self.config.soft_limit,
        }
    }
}

/// How an [`RxContext`] accepts packets.
#[derive(Clone, Copy, Debug)]
pub struct RxConfig {
    /// `Encrypted`: packets must have E=1. `AuthOnly`: E=0 and E=1 are both accepted
    /// (RFC 3711 §3.4 lets the sender choose per packet).
    pub protection: Protection,
    /// The MKI packets must carry.
    pub mki: Mki,
    /// Replay window size, 64..=32768.
    pub replay_window: u32,
    /// How strictly the clear RTCP header is checked.
    pub length_check: LengthCheck,
}

impl RxConfig {
    /// Requires encryption, window of [`DEFAULT_REPLAY_WINDOW`].
    pub fn new(mki: Mki) -> RxConfig {
        RxConfig {
            protection: Protection::Encrypted,
            mki,
            replay_window: DEFAULT_REPLAY_WINDOW,
            length_check: LengthCheck::Strict,
        }
    }

    /// Also accepts E=0 (authenticated-only) packets.
    pub fn auth_only(mut self) -> RxConfig {
        self.protection = Protection::AuthOnly;
        self
    }

    /// Sets the replay window size.
    pub fn replay_window(mut self, size: u32) -> RxConfig {
        self.replay_window = size;
        self
    }

    /// Sets how strictly the clear RTCP header is checked.
    pub fn length_check(mut self, check: LengthCheck) -> RxConfig {
        self.length_check = check;
        self
    }

    /// The per-packet part of the configuration.
    pub fn policy(&self) -> Policy {
        Policy {
            protection: self.protection,
            mki: self.mki,
            length_check: self.length_check,
        }
    }
}

/// What unprotect found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unprotected {
    /// Length of the RTCP packet recovered (at the start of the buffer).
    pub len: usize,
    /// Its SRTCP index.
    pub index: u32,
    /// Whether it was encrypted (E=1) or only authenticated (E=0).
    pub encrypted: bool,
}

/// A receiver's SRTCP state for one (key, SSRC): the keys and the replay window.
///
/// Not `Clone`: a copy would accept again what the original already accepted.
#[derive(Debug)]
pub struct RxContext {
    keys: SrtcpKeys,
    config: RxConfig,
    window: ReplayWindow,
}

impl RxContext {
    /// A receiver context.
    pub fn new(keys: SrtcpKeys, config: RxConfig) -> Result<RxContext, ConfigError> {
        Ok(RxContext {
            window: ReplayWindow::new(config.replay_window)?,
            keys,
            config,
        })
    }

    /// The replay window.
    pub fn window(&self) -> &ReplayWindow {
        &self.window
    }

    /// The configuration.
    pub fn config(&self) -> &RxConfig {
        &self.config
    }

    /// Unprotects the SRTCP packet `buf` in place; the RTCP packet is `buf[..len]` of the
    /// result. On error `buf` and the context are unchanged.
    pub fn unprotect_in_place(&mut self, buf: &mut [u8]) -> Result<Unprotected, Error> {
        let u = open_in_place(&self.keys, &self.config.policy(), Some(&self.window), buf)?;
        self.window.commit(u.index);
        Ok(u)
    }

    /// Unprotects `input` into `output`. On error neither `output` nor the context changes.
    pub fn unprotect(&mut self, input: &[u8], output: &mut [u8]) -> Result<Unprotected, Error> {
        let u = open(
            &self.keys,
            &self.config.policy(),
            Some(&self.window),
            input,
            output,
        )?;
        self.window.commit(u.index);
        Ok(u)
    }
}
