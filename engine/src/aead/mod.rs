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
//!   up to 96 octets per register, each lane with its own key. The engine's batch calls put
//!   four packets at a time through it.
//!
//! The backend is chosen once per process: the one named by the environment variable
//! `MCX_AEAD_BACKEND` (`portable`, `aesni`, `vaes`), else the most capable this CPU supports
//! (`cpufeatures`) — except that `vaes` is the default only where a quarter-millisecond
//! measurement at first use finds its four-lane kernel faster than the single-buffer one.
//! On CPUs that run 512-bit operations as two 256-bit halves (the AMD EPYC we measure on)
//! it is not, and the default is `aesni`; [`backend_note`] says so. [`Gcm::with_backend`] picks one per key (tests, comparisons). Dispatch happens
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

/// The process-wide choice: backend, why `MCX_AEAD_BACKEND` was not honoured, why the
/// default is not the most capable backend.
struct Choice {
    backend: Backend,
    warning: Option<String>,
    note: Option<String>,
}

static ACTIVE: OnceLock<Choice> = OnceLock::new();

fn choose() -> Choice {
    let Ok(v) = std::env::var(BACKEND_ENV) else {
        return default_choice(None);
    };
    match Backend::from_name(v.trim()) {
        Some(b) if b.is_available() => Choice {
            backend: b,
            warning: None,
            note: None,
        },
        Some(_) => default_choice(Some(format!(
            "{BACKEND_ENV}={v}: not available on this CPU, using the default"
        ))),
        None => default_choice(Some(format!(
            "{BACKEND_ENV}={v}: unknown backend (portable, aesni, vaes), using the default"
        ))),
    }
}

/// The default: the most capable backend, except that `vaes` is taken only where its
/// four-lane kernel is faster than the single-buffer one (on CPUs that split 512-bit
/// operations in two, e.g. AMD Zen 4, it is not).
fn default_choice(warning: Option<String>) -> Choice {
    let best = Backend::best();
    #[cfg(target_arch = "x86_64")]
    if best == Backend::Vaes {
        let (single, lanes) = batch_timings();
        // The margin covers the per-group work the engine's batch calls add around the kernel
        // (checks and job set-up for four packets at once: about 9 ns per packet here).
        if lanes >= single * 0.9 {
            return Choice {
                backend: Backend::AesNi,
                warning,
                note: Some(format!(
                    "vaes available but not used: its four-lane kernel sealed 64-octet \
                     batches in {lanes:.1} ns per packet against {single:.1} ns for the \
                     single-buffer kernel on this CPU (set {BACKEND_ENV}=vaes to force it)"
                )),
            };
        }
    }
    Choice {
        backend: best,
        warning,
        note: None,
    }
}

/// Nanoseconds per packet to seal batches of 16 packets of 64 octets with the single-buffer
/// and with the four-lane kernel: best of five runs each, alternating, once per process
/// (about a quarter of a millisecond).
#[cfg(target_arch = "x86_64")]
fn batch_timings() -> (f64, f64) {
    use std::hint::black_box;
    use std::time::Instant;
    const PACKETS: usize = 16;
    const REPS: usize = 20;
    // Four keys, as a batch toward four clients has.
    let keys = |b: Backend| -> Option<Vec<Gcm>> {
        (0..4u8)
            .map(|i| Gcm::with_backend(&[0x5a ^ i; 16], b).ok())
            .collect()
    };
    let (Some(single), Some(lanes)) = (keys(Backend::AesNi), keys(Backend::Vaes)) else {
        return (0.0, f64::INFINITY);
    };
    let mut data = [[0u8; 64]; PACKETS];
    let mut tags = [[0u8; TAG_LEN]; PACKETS];
    let hdr = [0x80u8, 0xc8, 0, 6, 1, 2, 3, 4];
    let word = [0x80u8, 0, 0, 1];
    let mut run = |g: &[Gcm]| {
        let t0 = Instant::now();
        for rep in 0..REPS {
            let mut jobs: Vec<SealJob<'_>> = data
                .iter_mut()
                .zip(tags.iter_mut())
                .enumerate()
                .map(|(i, (d, t))| SealJob {
                    gcm: &g[i % 4],
                    iv: [i as u8, rep as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    aad: [&hdr, &word],
                    data: d,
                    tag: t,
                })
                .collect();
            seal_batch(black_box(&mut jobs));
        }
        t0.elapsed().as_secs_f64() * 1e9 / (REPS * PACKETS) as f64
    };
    let (mut best_single, mut best_lanes) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..5 {
        best_single = best_single.min(run(&single));
        best_lanes = best_lanes.min(run(&lanes));
    }
    black_box(&tags);
    (best_single, best_lanes)
}

/// The process-wide backend: `MCX_AEAD_BACKEND` if it names one this CPU runs, else the
/// default (the most capable backend that pays on this CPU, see [`backend_note`]). Decided
/// on first use.
pub fn active_backend() -> Backend {
    ACTIVE.get_or_init(choose).backend
}

/// Why `MCX_AEAD_BACKEND` was not honoured, if it was set and was not.
pub fn backend_warning() -> Option<&'static str> {
    ACTIVE.get_or_init(choose).warning.as_deref()
}

/// Why the default is not the most capable backend this CPU has, if it is not (measured
/// once, on first use).
pub fn backend_note() -> Option<&'static str> {
    ACTIVE.get_or_init(choose).note.as_deref()
}

/// Description of the process-wide backend, for reports and `mcx --version`.
pub fn backend_name() -> &'static str {
    active_backend().description()
}
