//! The AES-GCM AEAD the SRTCP layer runs on (NIST SP 800-38D; RFC 7714 §5), with one
//! interface ([`Gcm`]) over several implementations, each a [`Provider`] value:
//!
//! - [`Provider::Portable`]: RustCrypto `aes` + `ghash`, everywhere (ARMv8 crypto instructions
//!   on aarch64 through those crates' own detection). The reference for the others, and
//!   itself checked against the `aes-gcm` crate and the McGrew–Viega test cases.
//! - [`Provider::AesNi`]: x86_64 AES-NI + PCLMULQDQ, one packet at a time, H^1…H^8
//!   precomputed.
//! - [`Provider::Vaes`]: as `AesNi` for single packets, plus a four-lane kernel for
//!   [`seal_batch`] / [`open_batch`]: VAES + VPCLMULQDQ on 512-bit registers, four packets of
//!   up to 96 octets per register, each lane with its own key. The engine's batch calls put
//!   four packets at a time through it.
//!
//! The provider is a value the caller passes: the key store expands its keys for the one in
//! its configuration, and every provider can run side by side in one process (the tests run
//! each). Nothing here reads the environment or a clock: [`Provider::detect`] is the
//! CPU-feature default, and the surfaces' default — a start-up measurement that takes `vaes`
//! only where its four-lane kernel pays, and the `MCX_AEAD_BACKEND` override — lives in
//! `crate::startup`. Dispatch happens per call, never per block: the per-packet code runs
//! inside `#[target_feature]` functions, so a plain `cargo build --release` is fast.
//!
//! [`Gcm`] takes its associated data in several parts, because the SRTCP AAD is not
//! contiguous in the packet: RFC 7714 §17 puts the tag between the RTCP packet and the
//! E‖index word that both belong to the AAD. Verification and decryption are separate steps
//! ([`Gcm::verify`], then [`Gcm::apply_keystream`]) so that callers can authenticate first
//! and change nothing when authentication fails.

mod gcm;
mod portable;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86;

pub use gcm::{AuthError, Gcm, OpenJob, SealJob, open_batch, seal_batch};

/// Length of the GCM authentication tag used by RFC 7714 (16 octets).
pub const TAG_LEN: usize = 16;
/// Length of the GCM IV (nonce) used by RFC 7714 (12 octets).
pub const IV_LEN: usize = 12;

/// An AES-GCM implementation, passed by value to whatever expands keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// RustCrypto `aes` + `ghash`: every CPU.
    Portable,
    /// x86_64 AES-NI + PCLMULQDQ single-buffer kernel.
    AesNi,
    /// x86_64 AES-NI single-buffer kernel plus the VAES + VPCLMULQDQ (AVX-512) multi-buffer
    /// kernel for batches.
    Vaes,
}

impl Provider {
    /// Every provider, best last.
    pub const ALL: [Provider; 3] = [Provider::Portable, Provider::AesNi, Provider::Vaes];

    /// The name used in reports and by `MCX_AEAD_BACKEND`.
    pub const fn name(self) -> &'static str {
        match self {
            Provider::Portable => "portable",
            Provider::AesNi => "aesni",
            Provider::Vaes => "vaes",
        }
    }

    /// A longer description, for `mcx --version`.
    pub const fn description(self) -> &'static str {
        match self {
            Provider::Portable => "portable (RustCrypto aes + ghash)",
            Provider::AesNi => "aesni (x86_64 AES-NI + PCLMULQDQ)",
            Provider::Vaes => {
                "vaes (x86_64 AES-NI + PCLMULQDQ; VAES + VPCLMULQDQ four-lane aead batches)"
            }
        }
    }

    /// The provider called `name`.
    pub fn from_name(name: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether this CPU can run it.
    pub fn is_available(self) -> bool {
        match self {
            Provider::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Provider::AesNi => x86::available(),
            #[cfg(target_arch = "x86_64")]
            Provider::Vaes => x86::available() && x86::vaes_available(),
            #[cfg(not(target_arch = "x86_64"))]
            Provider::AesNi | Provider::Vaes => false,
        }
    }

    /// The providers this CPU can run, best last.
    pub fn available() -> impl Iterator<Item = Provider> {
        Provider::ALL.into_iter().filter(|b| b.is_available())
    }

    /// The most capable provider this CPU can run.
    pub fn best() -> Provider {
        Provider::available().last().unwrap_or(Provider::Portable)
    }

    /// The default from CPU features alone: AES-NI where the CPU has it, else portable.
    /// `vaes` runs single packets as `aesni` does and adds a four-lane batch kernel that pays
    /// only on some CPUs; `crate::startup::fastest_provider` measures that.
    pub fn detect() -> Provider {
        if Provider::AesNi.is_available() {
            Provider::AesNi
        } else {
            Provider::Portable
        }
    }
}

impl core::fmt::Display for Provider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider was asked for that this CPU (or build) cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable(pub Provider);

impl core::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "AES-GCM provider {} is not available on this CPU",
            self.0
        )
    }
}

impl core::error::Error for Unavailable {}
