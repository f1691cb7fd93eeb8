//! Read-copy-update publication with two-parity reader counters.
//!
//! Readers never block and never take a lock: [`Rcu::read`] increments a reader counter, loads
//! the current pointer and hands out a guard; dropping the guard decrements the counter. A
//! writer (one at a time, under a writer mutex that readers never touch) swaps the pointer
//! and then waits for a grace period — until no reader that could have loaded the old pointer
//! is still inside its guard — before returning the old value to the caller.
//!
//! The grace period follows the two-counter scheme of sleepable RCU (SRCU, P. McKenney):
//! counters come in two parities and readers use the parity of the current epoch. After the
//! swap the writer waits for the *other* parity to drain (stragglers from an earlier epoch),
//! flips the epoch, then waits for the parity readers were using. New readers always join the
//! parity nobody waits for, so a writer cannot be starved by a steady stream of readers, and
//! it waits at most for the guards already open.
//!
//! Ordering is the store-buffering (Dekker) pattern over `SeqCst` operations: the reader
//! increments its counter, then loads the pointer; the writer swaps the pointer, then reads
//! the counters. All four are `SeqCst`, so they fall in one total order: either the writer's
//! check comes after the reader's increment in that order and sees it (then it waits for the
//! decrement, a `Release` that orders the reader's last use of the value before the writer's
//! `Acquire` load of zero), or the reader's load comes after the writer's swap and sees the
//! new pointer. On x86_64 the reader's side is one locked add and one plain load: no `mfence`,
//! which would stall the loads of the packets after this one (measured: 210 → 134 ns per
//! packet on the 10,000-key engine path). Safety does not depend on which parity a reader
//! picked, only on the writer checking both after its swap; the epoch flip is there for
//! progress.
//!
//! Loom models `SeqCst` accesses as `AcqRel` only (a documented limitation) but models
//! `SeqCst` fences fully, so under `cfg(loom)` the reader adds the fence that stands in for
//! the total order; the writer always has it.
//!
//! Each parity has several cache-padded counters; a thread always uses the same one, so
//! readers on different cores do not bounce one cache line. A loom model
//! (`engine/tests/loom_rcu.rs`) checks that no reader ever sees a value after the writer got
//! it back.

use core::ops::Deref;

use crossbeam_utils::CachePadded;

use super::{AtomicPtr, AtomicUsize, Mutex, Ordering, fence, spin_wait};

#[cfg(not(loom))]
const SLOTS: usize = 8;
#[cfg(loom)]
const SLOTS: usize = 1;

/// A value published for lock-free readers, replaced by one writer at a time.
pub struct Rcu<T> {
    current: AtomicPtr<T>,
    epoch: AtomicUsize,
    readers: [[CachePadded<AtomicUsize>; SLOTS]; 2],
    writer: Mutex<()>,
}

// SAFETY: readers on any thread get `&T` (needs `T: Sync`); `replace` hands the old value to
// whichever thread called it (needs `T: Send`). The raw pointer is owned by the `Rcu`.
unsafe impl<T: Send + Sync> Send for Rcu<T> {}
// SAFETY: as above; all shared state is atomics and a mutex.
unsafe impl<T: Send + Sync> Sync for Rcu<T> {}

/// A reader's view of the published value; the value stays valid while the guard lives.
/// Keep guards short: a writer waits for the guards open when it publishes.
pub struct RcuGuard<'a, T> {
    ptr: *const T,
    counter: &'a AtomicUsize,
}

impl<T> Deref for RcuGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` was loaded after this guard's counter was incremented; a writer that
        // swaps it out waits for that counter to reach zero before it frees or returns the
        // value, and the counter is decremented only when this guard drops.
        unsafe { &*self.ptr }
    }
}

impl<T> Drop for RcuGuard<'_, T> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Release);
    }
}

#[cfg(not(loom))]
fn slot() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize as StdAtomic;
    static NEXT: StdAtomic = StdAtomic::new(0);
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SLOT.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SLOTS);
        }
        s.get()
    })
}

#[cfg(loom)]
fn slot() -> usize {
    0
}

impl<T> Rcu<T> {
    /// Publishes `value` as the first version.
    pub fn new(value: T) -> Rcu<T> {
        Rcu {
            current: AtomicPtr::new(Box::into_raw(Box::new(value))),
            epoch: AtomicUsize::new(0),
            readers: core::array::from_fn(|_| {
                core::array::from_fn(|_| CachePadded::new(AtomicUsize::new(0)))
            }),
            writer: Mutex::new(()),
        }
    }

    /// The current value, without locks. Wait-free: two atomic read-modify-writes and two
    /// loads.
    pub fn read(&self) -> RcuGuard<'_, T> {
        let parity = self.epoch.load(Ordering::Relaxed) & 1;
        let counter: &AtomicUsize = &self.readers[parity][slot()];
        counter.fetch_add(1, Ordering::SeqCst);
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        let ptr = self.current.load(Ordering::SeqCst);
        RcuGuard { ptr, counter }
    }

    /// Publishes `value` and returns the previous value once no reader can still see it.
    /// Writers are serialized; readers are never blocked.
    pub fn replace(&self, value: Box<T>) -> Box<T> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.swap_locked(value)
    }

    /// Builds the next value from the current one and publishes it, with writers serialized
    /// for the whole step (read-copy-update). Returns the previous value after its grace
    /// period, and what `f` returned.
    pub fn update<R>(&self, f: impl FnOnce(&T) -> (Box<T>, R)) -> (Box<T>, R) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: writers are serialized by the mutex held here, and only writers free
        // values, so the current value stays valid for this call.
        let current = unsafe { &*self.current.load(Ordering::Acquire) };
        let (next, r) = f(current);
        (self.swap_locked(next), r)
    }

    /// As [`Rcu::update`], but `f` may refuse: then nothing is published and its error is
    /// returned.
    pub fn try_update<R, E>(
        &self,
        f: impl FnOnce(&T) -> Result<(Box<T>, R), E>,
    ) -> Result<(Box<T>, R), E> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: as in `update`: writers are serialized and only writers free values.
        let current = unsafe { &*self.current.load(Ordering::Acquire) };
        let (next, r) = f(current)?;
        Ok((self.swap_locked(next), r))
    }

    /// Waits for a grace period without publishing anything: once it returns, every guard
    /// that was open when it was called has been dropped. For values reachable from the
    /// published one that a writer unpublished in place (the key store's table slots): a
    /// reader's `SeqCst` load of such a pointer after its [`Rcu::read`] either sees the
    /// writer's change or is waited for here.
    pub fn synchronize(&self) {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        fence(Ordering::SeqCst);
        self.grace_period_locked();
    }

    /// The grace period; the caller holds the writer mutex and has fenced after its change.
    fn grace_period_locked(&self) {
        // Only writers change the epoch, and they hold the writer mutex.
        let epoch = self.epoch.load(Ordering::Relaxed);
        self.wait_for_parity((epoch + 1) & 1);
        self.epoch.store(epoch.wrapping_add(1), Ordering::Relaxed);
        self.wait_for_parity(epoch & 1);
    }

    fn swap_locked(&self, value: Box<T>) -> Box<T> {
        let old = self.current.swap(Box::into_raw(value), Ordering::SeqCst);
        fence(Ordering::SeqCst);
        self.grace_period_locked();
        // SAFETY: `old` came from Box::into_raw; it is no longer published, and every reader
        // that could have loaded it has dropped its guard (grace period above).
        unsafe { Box::from_raw(old) }
    }

    fn wait_for_parity(&self, parity: usize) {
        for c in &self.readers[parity] {
            while c.load(Ordering::SeqCst) != 0 {
                spin_wait();
            }
        }
    }

    /// The negative control of the loom model: publishes without a grace period, which is
    /// wrong. The model must find the reader that sees a returned value.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn replace_without_grace_period(&self, value: Box<T>) -> Box<T> {
        let old = self.current.swap(Box::into_raw(value), Ordering::AcqRel);
        // SAFETY: this is the deliberate bug the loom test looks for.
        unsafe { Box::from_raw(old) }
    }
}

impl<T> Drop for Rcu<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no guard borrows `self`; the pointer came from a Box.
        drop(unsafe { Box::from_raw(self.current.load(Ordering::Acquire)) });
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Rcu<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Rcu").field(&*self.read()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn readers_see_the_latest_value() {
        let r = Rcu::new(1u32);
        assert_eq!(*r.read(), 1);
        assert_eq!(*r.replace(Box::new(2)), 1);
        assert_eq!(*r.read(), 2);
        let (old, x) = r.update(|v| (Box::new(v + 1), "made 3"));
        assert_eq!((*old, x, *r.read()), (2, "made 3", 3));
    }

    #[test]
    fn a_writer_waits_for_an_open_guard() {
        let r = Arc::new(Rcu::new(String::from("old")));
        let g = r.read();
        let done = Arc::new(AtomicBool::new(false));
        let (r2, d2) = (Arc::clone(&r), Arc::clone(&done));
        let w = std::thread::spawn(move || {
            let old = r2.replace(Box::new(String::from("new")));
            d2.store(true, std::sync::atomic::Ordering::SeqCst);
            *old
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !done.load(std::sync::atomic::Ordering::SeqCst),
            "writer returned under a reader"
        );
        assert_eq!(&*g, "old");
        // A reader arriving now is not blocked and sees the new value.
        assert_eq!(&*r.read(), "new");
        drop(g);
        assert_eq!(w.join().unwrap(), "old");
    }

    #[test]
    fn many_readers_and_writers() {
        let r = Arc::new(Rcu::new(vec![0u64; 16]));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (r, stop) = (Arc::clone(&r), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    loop {
                        let g = r.read();
                        // Every published vector is uniform; a torn or freed one would not be.
                        assert!(g.iter().all(|&x| x == g[0]));
                        n += 1;
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break n;
                        }
                    }
                })
            })
            .collect();
        for i in 1..=300u64 {
            let old = r.replace(Box::new(vec![i; 16]));
            assert_eq!(old[0], i - 1);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in readers {
            assert!(t.join().unwrap() > 0);
        }
    }
}
