//! The AES-GCM AEAD the SRTCP layer runs on (NIST SP 800-38D; RFC 7714 §5), with one
//! interface ([`Gcm`]) over several backends ([`Backend`]):
//!
//! - [`Backend::Portable`]: RustCrypto `aes` + `ghash`, everywhere (ARMv8 crypto instructions
//!   on aarch64 through those crates' own detection). The reference for the others, and
//!   itself checked against the `aes-gcm` crate and the McGrew–Viega test cases.
//! - [`Backend::AesNi`]: x86_64 AES-NI + PCLMULQDQ, one packet at a time, H^1…H^8
//!   precomputed.
//! - [`Backend::Vaes`]: as `AesNi` for single packets, plus a four-lane kernel for
//!   [`seal_batch`] / [`open_batch`]: VAES + VPCLMULQDQ on 512-bit registers, four packets of
//!   up to 96 octets per register, each lane with its own key. (On the machine we measure on,
//!   an AMD EPYC that runs 512-bit operations as two 256-bit halves, it is no faster than
//!   the single-buffer kernel yet, so the engine's batch calls use the single-buffer kernel;
//!   see README.md.)
//!
//! The backend is chosen once per process: the best this CPU supports (`cpufeatures`), or
//! the one named by the environment variable `MCX_AEAD_BACKEND` (`portable`, `aesni`,
//! `vaes`). [`Gcm::with_backend`] picks one per key (tests, comparisons). Dispatch happens
//! per call, never per block: the per-packet code runs inside `#[target_feature]` functions,
//! so a plain `cargo build --release` is fast.
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

use std::sync::OnceLock;

pub use gcm::{AuthError, Gcm, OpenJob, SealJob, open_batch, seal_batch};

/// Length of the GCM authentication tag used by RFC 7714 (16 octets).
pub const TAG_LEN: usize = 16;
/// Length of the GCM IV (nonce) used by RFC 7714 (12 octets).
pub const IV_LEN: usize = 12;

/// Environment variable that forces a backend.
pub const BACKEND_ENV: &str = "MCX_AEAD_BACKEND";

/// An AES-GCM implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto `aes` + `ghash`: every CPU.
    Portable,
    /// x86_64 AES-NI + PCLMULQDQ single-buffer kernel.
    AesNi,
    /// x86_64 AES-NI single-buffer kernel plus the VAES + VPCLMULQDQ (AVX-512) multi-buffer
    /// kernel for batches.
    Vaes,
}

impl Backend {
    /// Every backend, best last.
    pub const ALL: [Backend; 3] = [Backend::Portable, Backend::AesNi, Backend::Vaes];

    /// The name used by `MCX_AEAD_BACKEND` and in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Portable => "portable",
            Backend::AesNi => "aesni",
            Backend::Vaes => "vaes",
        }
    }

    /// A longer description, for `mcx --version`.
    pub const fn description(self) -> &'static str {
        match self {
            Backend::Portable => "portable (RustCrypto aes + ghash)",
            Backend::AesNi => "aesni (x86_64 AES-NI + PCLMULQDQ)",
            Backend::Vaes => {
                "vaes (x86_64 AES-NI + PCLMULQDQ; VAES + VPCLMULQDQ four-lane aead batches)"
            }
        }
    }

    /// The backend called `name`.
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether this CPU can run it.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Backend::AesNi => x86::available(),
            #[cfg(target_arch = "x86_64")]
            Backend::Vaes => x86::available() && x86::vaes_available(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::AesNi | Backend::Vaes => false,
        }
    }

    /// The backends this CPU can run, best last.
    pub fn available() -> impl Iterator<Item = Backend> {
        Backend::ALL.into_iter().filter(|b| b.is_available())
    }

    /// The best backend this CPU can run.
    pub fn best() -> Backend {
        Backend::available().last().unwrap_or(Backend::Portable)
    }
}

impl core::fmt::Display for Backend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend was asked for that this CPU (or build) cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable(pub Backend);

impl core::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AES-GCM backend {} is not available on this CPU", self.0)
    }
}

impl core::error::Error for Unavailable {}

static ACTIVE: OnceLock<(Backend, Option<String>)> = OnceLock::new();

fn choose() -> (Backend, Option<String>) {
    let Ok(v) = std::env::var(BACKEND_ENV) else {
        return (Backend::best(), None);
    };
    match Backend::from_name(v.trim()) {
        Some(b) if b.is_available() => (b, None),
        Some(_) => (
            Backend::best(),
            Some(format!(
                "{BACKEND_ENV}={v}: not available on this CPU, using {}",
                Backend::best()
            )),
        ),
        None => (
            Backend::best(),
            Some(format!(
                "{BACKEND_ENV}={v}: unknown backend (portable, aesni, vaes), using {}",
                Backend::best()
            )),
        ),
    }
}

/// The process-wide backend: `MCX_AEAD_BACKEND` if it names one this CPU runs, else the best
/// available. Decided on first use.
pub fn active_backend() -> Backend {
    ACTIVE.get_or_init(choose).0
}

/// Why `MCX_AEAD_BACKEND` was not honoured, if it was set and was not.
pub fn backend_warning() -> Option<&'static str> {
    ACTIVE.get_or_init(choose).1.as_deref()
}

/// Description of the process-wide backend, for reports and `mcx --version`.
pub fn backend_name() -> &'static str {
    active_backend().description()
}
