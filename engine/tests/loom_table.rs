//! Loom model of the key store's data-path index ([`mcx_engine::sync::Table`]).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p mcx-engine --test loom_table --release`
//! (scripts/test.sh does). Two readers look entries up while the writer removes one (marking
//! what it gets back as reclaimed), inserts two more, which grows the table (a new
//! generation published through the RCU), and inserts the removed key again into its
//! tombstone. No reader may see a reclaimed entry, an entry that stays must stay visible
//! through the growth, and an entry being inserted is seen whole or not at all; a negative
//! control removes without a grace period and must be caught.
#![cfg(loom)]

use std::sync::Arc as StdArc;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use mcx_engine::sync::Table;

struct Node {
    value: u64,
    reclaimed: AtomicBool,
}

fn node(value: u64) -> StdArc<Node> {
    StdArc::new(Node {
        value,
        reclaimed: AtomicBool::new(false),
    })
}

fn model(grace: bool) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(move || {
        let table = Arc::new(Table::new());
        for k in 1..=3 {
            assert!(table.insert(k, node(k)).is_ok());
        }
        let readers: Vec<_> = (0..2u64)
            .map(|r| {
                let table = Arc::clone(&table);
                loom::thread::spawn(move || {
                    let g = table.read();
                    if r == 0 {
                        // Removed, then inserted again as 11.
                        if let Some(n) = g.get(1) {
                            assert!(n.value == 1 || n.value == 11, "{}", n.value);
                            assert!(
                                !n.reclaimed.load(Ordering::SeqCst),
                                "read a reclaimed entry"
                            );
                        }
                    } else {
                        // Never removed: visible before, during and after the growth.
                        assert_eq!(g.get(2).map(|n| n.value), Some(2));
                        // Being inserted: whole or not at all.
                        if let Some(n) = g.get(5) {
                            assert_eq!(n.value, 5);
                        }
                    }
                })
            })
            .collect();
        let gone = if grace {
            table.remove(1)
        } else {
            table.remove_without_grace_period(1)
        };
        let gone = gone.expect("key 1 was live");
        gone.reclaimed.store(true, Ordering::SeqCst);
        // Growth: the fourth and fifth keys pass half of the first generation's slots.
        assert!(table.insert(4, node(4)).is_ok());
        assert!(table.insert(5, node(5)).is_ok());
        assert!(table.insert(1, node(11)).is_ok());
        for r in readers {
            r.join().unwrap();
        }
        let g = table.read();
        assert_eq!(g.get(1).map(|n| n.value), Some(11));
        assert_eq!(g.get(5).map(|n| n.value), Some(5));
    });
}

#[test]
fn no_reader_sees_a_removed_entry_after_it_came_back() {
    model(true);
}

#[test]
fn the_model_catches_a_missing_grace_period() {
    let caught = std::panic::catch_unwind(|| model(false));
    assert!(
        caught.is_err(),
        "loom should find the reader that sees a reclaimed entry"
    );
}

/// `replace_many` swaps key 1's entry in place while two readers look: each sees the old
/// entry or the new one, never neither and never a reclaimed one, through a growth (two new
/// keys) and the removal of key 2.
#[test]
fn a_replaced_entry_is_old_or_new_never_missing() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(|| {
        let table = Arc::new(Table::new());
        for k in 1..=3 {
            assert!(table.insert(k, node(k)).is_ok());
        }
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let table = Arc::clone(&table);
                loom::thread::spawn(move || {
                    let g = table.read();
                    let n = g.get(1).expect("a replaced key is never missing");
                    assert!(n.value == 1 || n.value == 11, "{}", n.value);
                    assert!(
                        !n.reclaimed.load(Ordering::SeqCst),
                        "read a reclaimed entry"
                    );
                    assert_eq!(g.get(3).map(|n| n.value), Some(3));
                })
            })
            .collect();
        let gone = table.replace_many(vec![(1, node(11)), (4, node(4)), (5, node(5))], &[2]);
        let mut values: Vec<u64> = gone.iter().map(|n| n.value).collect();
        values.sort_unstable();
        assert_eq!(values, [1, 2]);
        for n in &gone {
            n.reclaimed.store(true, Ordering::SeqCst);
        }
        for r in readers {
            r.join().unwrap();
        }
        let g = table.read();
        assert_eq!(g.get(1).map(|n| n.value), Some(11));
        assert!(g.get(2).is_none());
    });
}
