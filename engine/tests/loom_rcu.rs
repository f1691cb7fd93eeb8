//! Loom model of the key store's publication mechanism ([`mcx_engine::sync::Rcu`]).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p mcx-engine --test loom_rcu --release`
//! (scripts/test.sh does). Two readers and a writer that publishes twice; each value the
//! writer gets back is marked reclaimed, and no reader may see a reclaimed value inside its
//! guard. A negative control publishes without a grace period and must be caught.
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use mcx_engine::sync::Rcu;

struct Node {
    value: u32,
    reclaimed: AtomicBool,
}

fn node(value: u32) -> Box<Node> {
    Box::new(Node {
        value,
        reclaimed: AtomicBool::new(false),
    })
}

fn model(grace: bool) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(move || {
        let rcu = Arc::new(Rcu::new(*node(0)));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let rcu = Arc::clone(&rcu);
                loom::thread::spawn(move || {
                    let g = rcu.read();
                    let v = g.value;
                    assert!(
                        !g.reclaimed.load(Ordering::SeqCst),
                        "read a reclaimed value {v}"
                    );
                    v
                })
            })
            .collect();
        let mut kept = Vec::new();
        for v in 1..=2 {
            let old = if grace {
                rcu.replace(node(v))
            } else {
                rcu.replace_without_grace_period(node(v))
            };
            old.reclaimed.store(true, Ordering::SeqCst);
            kept.push(old);
        }
        for r in readers {
            assert!(r.join().unwrap() <= 2);
        }
        assert_eq!(rcu.read().value, 2);
    });
}

#[test]
fn no_reader_sees_a_reclaimed_value() {
    model(true);
}

#[test]
fn the_model_catches_a_missing_grace_period() {
    let caught = std::panic::catch_unwind(|| model(false));
    assert!(
        caught.is_err(),
        "loom should find the reader that sees a reclaimed value"
    );
}
