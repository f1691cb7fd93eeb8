//! Concurrency primitives, with every atomic and lock taken from one place so that loom can
//! replace them under `cfg(loom)` (STYLE.md rule 6, after crossbeam's `sync` shim).
//!
//! - [`Rcu`]: publish a value that readers use without locks; the writer waits for a grace
//!   period before handing the old value back (the key store's snapshots).
//! - [`Table`]: a `u64 → Arc<T>` table changed in place by one writer, read without locks;
//!   removed entries come back after a grace period (the key store's data-path index).
//! - [`Ring`]: a bounded lock-free FIFO, the pool's hand-off between threads.
//! - `scatter` (crate-private): lends disjoint parts of one vector to several threads and
//!   gathers it back.

mod rcu;
mod ring;
mod scatter;
mod table;

pub use rcu::{Rcu, RcuGuard};
pub use ring::Ring;
pub(crate) use scatter::{Gather, Share, scatter};
pub use table::{EMPTY_KEY, Table, TableGuard};

#[cfg(loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};

#[cfg(not(loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `core::cell::UnsafeCell` with loom's access-by-closure interface, so that the code using
/// it is the same under `cfg(loom)`.
#[cfg(not(loom))]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(core::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer to the value; the caller makes the access exclusive.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Asks the CPU to start loading every cache line of `value`, so that the misses of a cold
/// key entry overlap instead of arriving one after another. A no-op off x86_64.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: &T) {
    prefetch_prefix(value, core::mem::size_of_val(value));
}

/// As [`prefetch`], for the cache lines of the first `len` octets of `value` only (at most
/// all of it).
#[inline(always)]
pub fn prefetch_prefix<T: ?Sized>(value: &T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = (value as *const T).cast::<i8>();
        let len = len.min(core::mem::size_of_val(value));
        // From the start of the line holding the first octet, so that a value that straddles
        // lines gets its last line too.
        let lead = p as usize % 64;
        let mut off = 0;
        while off < lead + len {
            // SAFETY: a prefetch is a hint: it never faults and has no architectural effect;
            // the address lies in a cache line that holds part of `value`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_sub(lead).wrapping_add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (value, len);
}

/// Gives the CPU (or, under loom, the model's scheduler) a chance while waiting.
pub(crate) fn spin_wait() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}
