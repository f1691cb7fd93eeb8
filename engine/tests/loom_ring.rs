//! Loom models of the pool's hand-off ring ([`mcx_engine::sync::Ring`]) and of key
//! publication as a worker sees it.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p mcx-engine --test loom_ring --release`
//! (scripts/test.sh does).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use mcx_engine::sync::{Rcu, Ring};

fn builder() -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b
}

/// Two submitters push into one worker's ring while the worker pops: every value arrives
/// exactly once and each submitter's values arrive in the order it pushed them.
#[test]
fn submit_ring_delivers_each_value_once_in_order() {
    builder().check(|| {
        let ring = Arc::new(Ring::new(2));
        let producers: Vec<_> = (0..2u32)
            .map(|t| {
                let ring = Arc::clone(&ring);
                loom::thread::spawn(move || {
                    let mut pushed = 0;
                    for i in 0..2u32 {
                        if ring.push(t * 10 + i).is_ok() {
                            pushed += 1;
                        } else {
                            // Full: the value came back; a submitter reports Busy.
                            break;
                        }
                    }
                    pushed
                })
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Some(v) = ring.pop() {
                got.push(v);
            }
            loom::thread::yield_now();
        }
        let pushed: u32 = producers.into_iter().map(|p| p.join().unwrap()).sum();
        while let Some(v) = ring.pop() {
            got.push(v);
        }
        assert_eq!(got.len() as u32, pushed, "lost or duplicated: {got:?}");
        for t in 0..2 {
            let mine: Vec<_> = got.iter().filter(|v| **v / 10 == t).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "order: {got:?}");
        }
    });
}

/// A full ring refuses and keeps what it holds; a pop makes room for exactly one more.
#[test]
fn full_ring_refuses_without_overwriting() {
    builder().check(|| {
        let ring = Arc::new(Ring::new(2));
        assert!(ring.push(1).is_ok() && ring.push(2).is_ok());
        let consumer = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || ring.pop())
        };
        let third = ring.push(3);
        let popped = consumer.join().unwrap();
        assert_eq!(popped, Some(1));
        let mut rest = Vec::new();
        while let Some(v) = ring.pop() {
            rest.push(v);
        }
        match third {
            Ok(()) => assert_eq!(rest, vec![2, 3]),
            Err(v) => {
                assert_eq!(v, 3);
                assert_eq!(rest, vec![2]);
            }
        }
    });
}

/// Completions: two workers push into one submitter's completion ring, which the submitter
/// sized for everything it has in flight; the submitter polls until it has both.
#[test]
fn completion_ring_loses_nothing() {
    builder().check(|| {
        let done = Arc::new(Ring::new(2));
        let workers: Vec<_> = (0..2u32)
            .map(|w| {
                let done = Arc::clone(&done);
                loom::thread::spawn(move || assert!(done.push(w).is_ok()))
            })
            .collect();
        let mut got = Vec::new();
        while got.len() < 2 {
            match done.pop() {
                Some(v) => got.push(v),
                None => loom::thread::yield_now(),
            }
        }
        for w in workers {
            w.join().unwrap();
        }
        got.sort();
        assert_eq!(got, vec![0, 1]);
    });
}

struct Key {
    id: u32,
    reclaimed: AtomicBool,
}

fn key(id: u32) -> Box<Key> {
    Box::new(Key {
        id,
        reclaimed: AtomicBool::new(false),
    })
}

/// Key publication seen from a worker: the control plane publishes a new key snapshot and
/// then submits a job; the worker that pops the job reads the store and must see that
/// snapshot (or a newer one), never a reclaimed one.
#[test]
fn worker_sees_the_key_published_before_the_job() {
    builder().check(|| {
        let store = Arc::new(Rcu::new(*key(0)));
        let ring = Arc::new(Ring::new(2));
        let worker = {
            let (store, ring) = (Arc::clone(&store), Arc::clone(&ring));
            loom::thread::spawn(move || {
                let job = loop {
                    if let Some(j) = ring.pop() {
                        break j;
                    }
                    loom::thread::yield_now();
                };
                let snap = store.read();
                assert!(!snap.reclaimed.load(Ordering::SeqCst), "reclaimed key read");
                assert!(snap.id >= job, "job {job} saw key {}", snap.id);
            })
        };
        let old = store.replace(key(1));
        old.reclaimed.store(true, Ordering::SeqCst);
        assert!(ring.push(1u32).is_ok());
        let older = store.replace(key(2));
        older.reclaimed.store(true, Ordering::SeqCst);
        worker.join().unwrap();
    });
}
