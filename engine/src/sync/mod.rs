//! Concurrency primitives, with every atomic and lock taken from one place so that loom can
//! replace them under `cfg(loom)` (STYLE.md rule 6, after crossbeam's `sync` shim).
//!
//! - [`Rcu`]: publish a value that readers use without locks; the writer waits for a grace
//!   period before handing the old value back (the key store's snapshots).

mod rcu;

pub use rcu::{Rcu, RcuGuard};

#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};

#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};

/// Gives the CPU (or, under loom, the model's scheduler) a chance while waiting.
pub(crate) fn spin_wait() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
