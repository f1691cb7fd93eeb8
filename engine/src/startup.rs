//! What a surface decides once at start-up, outside the pure core: which AES-GCM
//! [`Provider`] to pass to the key store.
//!
//! [`fastest_provider`] is the default of the `mcx` tools and the C ABI: the most capable
//! provider the CPU runs, except that `vaes` is taken only where a quarter-millisecond
//! measurement finds its four-lane kernel faster than the single-buffer one (on CPUs that
//! split 512-bit operations in two, such as AMD Zen 4, it is not, and the note says so).
//! [`provider_from_env`] honours `MCX_AEAD_BACKEND` (`portable`, `aesni`, `vaes`) on top.
//! This is the one module of the engine crate that reads the environment and a clock; the
//! layers below take the provider as a value.

use std::sync::OnceLock;

use crate::aead::Provider;
#[cfg(target_arch = "x86_64")]
use crate::aead::{Gcm, SealJob, TAG_LEN, seal_batch};

/// Environment variable that forces a provider.
pub const PROVIDER_ENV: &str = "MCX_AEAD_BACKEND";

/// A provider choice and what a report should say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The provider.
    pub provider: Provider,
    /// Why the environment's choice was not honoured, if it was set and was not.
    pub warning: Option<String>,
    /// Why the choice is not the most capable provider this CPU has, if it is not.
    pub note: Option<String>,
}

/// The measured default (measured once per process, on first call).
pub fn fastest_provider() -> &'static Choice {
    static FASTEST: OnceLock<Choice> = OnceLock::new();
    FASTEST.get_or_init(measure)
}

/// `MCX_AEAD_BACKEND` if it names a provider this CPU runs, else [`fastest_provider`] (with
/// a warning saying why).
pub fn provider_from_env() -> Choice {
    provider_from(std::env::var(PROVIDER_ENV).ok().as_deref())
}

/// As [`provider_from_env`], for the value `name` (`None`: unset).
pub fn provider_from(name: Option<&str>) -> Choice {
    let Some(v) = name else {
        return fastest_provider().clone();
    };
    let mut c = fastest_provider().clone();
    match Provider::from_name(v.trim()) {
        Some(p) if p.is_available() => Choice {
            provider: p,
            warning: None,
            note: None,
        },
        Some(_) => {
            c.warning = Some(format!(
                "{PROVIDER_ENV}={v}: not available on this CPU, using the default"
            ));
            c
        }
        None => {
            c.warning = Some(format!(
                "{PROVIDER_ENV}={v}: unknown backend (portable, aesni, vaes), using the default"
            ));
            c
        }
    }
}

fn measure() -> Choice {
    let best = Provider::best();
    #[cfg(target_arch = "x86_64")]
    if best == Provider::Vaes {
        let (single, lanes) = batch_timings();
        // The margin covers the per-group work the engine's batch calls add around the kernel
        // (checks and job set-up for four packets at once: about 9 ns per packet here).
        if lanes >= single * 0.9 {
            return Choice {
                provider: Provider::AesNi,
                warning: None,
                note: Some(format!(
                    "vaes available but not used: its four-lane kernel sealed 64-octet \
                     batches in {lanes:.1} ns per packet against {single:.1} ns for the \
                     single-buffer kernel on this CPU (set {PROVIDER_ENV}=vaes to force it)"
                )),
            };
        }
    }
    Choice {
        provider: best,
        warning: None,
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
    let keys = |b: Provider| -> Option<Vec<Gcm>> {
        (0..4u8)
            .map(|i| Gcm::with_provider(&[0x5a ^ i; 16], b).ok())
            .collect()
    };
    let (Some(single), Some(lanes)) = (keys(Provider::AesNi), keys(Provider::Vaes)) else {
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
