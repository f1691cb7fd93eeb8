//! The receive path through the Rust handle, `Engine::srtcp_unprotect`, on the workload of
//! `benches/c/rx_bench.c` (which measures the C ABI the same way): 64 keys, 256 streams,
//! 72-octet RTCP packets, AEAD_AES_128_GCM E=1, 4-octet MKI; each round protects 2048
//! packets untimed and unprotects them in place timed; the median over the rounds.
//! `scripts/bench-c-abi.sh` runs both and prints the ratio.
//!
//! Usage: `cargo run --release -p mcx-benches --example rx_handle [rounds]` (default 201).

use std::sync::Arc;
use std::time::Instant;

use mcx_engine::keys::{KeyId, Service};
use mcx_engine::srtcp::MAX_SRTCP_TRAILER;
use mcx_engine::store::{KeyStore, SrtpInstall, StoreConfig};
use mcx_engine::time::Timestamp;
use mcx_engine::{Engine, EngineConfig};

const KEYS: usize = 64;
const SSRCS: usize = 4;
const PER_ROUND: usize = 2048;
const PLAIN: usize = 72;
const CAP: usize = PLAIN + MAX_SRTCP_TRAILER;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(201)
        .max(1);
    let store = Arc::new(KeyStore::new(StoreConfig {
        provider: mcx_engine::startup::provider_from_env().provider,
        ..StoreConfig::default()
    }));
    let ids: Vec<KeyId> = (0..KEYS as u32)
        .map(|i| KeyId::new(0x2000_1000 + i).expect("a CSK-tagged ID"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let key = [i as u8; 16];
        store
            .install_srtp(
                &SrtpInstall::new(&key, &[1; 12], *id, Service::Mcptt),
                Timestamp(1),
            )
            .expect("install");
    }
    let tx = Engine::new(Arc::clone(&store), EngineConfig::default()).expect("engine");
    let mut rx = tx.handle();
    let mut bufs = vec![[0u8; CAP]; PER_ROUND];
    let mut lens = vec![0usize; PER_ROUND];
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for (j, (b, l)) in bufs.iter_mut().zip(lens.iter_mut()).enumerate() {
            fill(b, j);
            *l = tx
                .srtcp_protect(ids[j % KEYS], b, PLAIN, Timestamp(1))
                .expect("protect")
                .len;
        }
        let t0 = Instant::now();
        for (b, l) in bufs.iter_mut().zip(lens.iter()) {
            let got = rx.srtcp_unprotect(&mut b[..*l], Timestamp(1));
            assert!(got.is_ok(), "unprotect: {got:?}");
        }
        times.push(t0.elapsed().as_secs_f64() * 1e9 / PER_ROUND as f64);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "rust Engine::srtcp_unprotect {:.1} ns/packet",
        times[rounds / 2]
    );
    println!(
        "rust mcx_receiver_unprotect {:.1} ns/packet",
        ffi_receiver(rounds, &ids, &mut bufs, &mut lens)
    );
    println!("backend {}", store.provider());
}

/// The same workload through the C ABI's receiver, called from Rust: what the exported call
/// adds to the handle.
fn ffi_receiver(rounds: usize, ids: &[KeyId], bufs: &mut [[u8; CAP]], lens: &mut [usize]) -> f64 {
    let mut r: *mut mcx::mcx_receiver = core::ptr::null_mut();
    let mut e: *mut mcx::mcx_engine = core::ptr::null_mut();
    // SAFETY: valid out-pointers; NULL config for the defaults; key and salt readable.
    unsafe {
        assert_eq!(
            mcx::mcx_engine_new(core::ptr::null(), &mut e),
            mcx::mcx_status::MCX_OK
        );
        for (i, id) in ids.iter().enumerate() {
            let (key, salt) = ([i as u8; 16], [1u8; 12]);
            let s = mcx::mcx_key_install_srtp(e, id.get(), key.as_ptr(), 16, salt.as_ptr(), 12, 0);
            assert_eq!(s, mcx::mcx_status::MCX_OK);
        }
        assert_eq!(mcx::mcx_receiver_new(e, &mut r), mcx::mcx_status::MCX_OK);
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        for (j, (b, l)) in bufs.iter_mut().zip(lens.iter_mut()).enumerate() {
            fill(b, j);
            let id = ids[j % KEYS].get();
            // SAFETY: a live engine; `b` writable for CAP octets.
            let s = unsafe { mcx::mcx_srtcp_protect_at(e, id, b.as_mut_ptr(), PLAIN, CAP, 1, l) };
            assert_eq!(s, mcx::mcx_status::MCX_OK);
        }
        let t0 = Instant::now();
        for (b, l) in bufs.iter_mut().zip(lens.iter()) {
            let (mut out, mut kid) = (0usize, 0u32);
            // SAFETY: a live receiver of this thread; `b` writable for `l` octets.
            let s = unsafe {
                mcx::mcx_receiver_unprotect(r, b.as_mut_ptr(), *l, 1, &mut out, &mut kid)
            };
            assert_eq!(s, mcx::mcx_status::MCX_OK);
        }
        times.push(t0.elapsed().as_secs_f64() * 1e9 / PER_ROUND as f64);
    }
    // SAFETY: live handles, freed once, the receiver first.
    unsafe {
        mcx::mcx_receiver_free(r);
        mcx::mcx_engine_free(e);
    }
    times.sort_by(f64::total_cmp);
    times[rounds / 2]
}

/// RTCP packet `j` of a round (key `j % 64`, SSRC `(j / 64) % 4`, payload from `j`), as
/// `rx_bench.c` makes it.
fn fill(b: &mut [u8; CAP], j: usize) {
    let ssrc = 0x10000u32 + ((j / KEYS) % SSRCS) as u32;
    b[..4].copy_from_slice(&[0x80, 201, 0, (PLAIN / 4 - 1) as u8]);
    b[4..8].copy_from_slice(&ssrc.to_be_bytes());
    for (i, x) in b[8..PLAIN].iter_mut().enumerate() {
        *x = (i + 8 + j) as u8;
    }
}
