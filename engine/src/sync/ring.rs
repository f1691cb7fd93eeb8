//! A bounded lock-free ring: many producers, many consumers, fixed capacity.
//!
//! The algorithm is D. Vyukov's bounded MPMC queue (the one crossbeam's `ArrayQueue` is built
//! on): every slot carries a stamp that says whose turn it is. A producer at position `p`
//! may write the slot `p mod capacity` when its stamp equals `p`; it claims the position by
//! moving `tail` from `p` to `p + 1` with a compare-and-swap, writes the value and publishes
//! it by setting the stamp to `p + 1` (`Release`). A consumer at position `p` may read when
//! the stamp equals `p + 1`; it claims the position by moving `head`, reads the value and
//! frees the slot for the producer one lap later by setting the stamp to `p + capacity`. A
//! stamp behind the position a producer holds means the slot's last value was not consumed
//! yet: the ring is full and `push` gives the value back. Nothing ever blocks or allocates
//! after `new`.
//!
//! `head` and `tail` are cache-padded so that producers and consumers do not share a line.
//! The pool uses it for hand-off to a worker (submitters produce, the worker consumes) and
//! for completions (workers produce, the submitter consumes). A loom model
//! (`engine/tests/loom_ring.rs`) checks that every value pushed is popped exactly once, in
//! order per producer, and that a full ring refuses instead of overwriting.

use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use super::{AtomicUsize, Ordering, UnsafeCell};

/// A bounded multi-producer multi-consumer FIFO.
pub struct Ring<T> {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
}

struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: a value moves from the producer that wrote it to the one consumer that claimed its
// position (needs `T: Send`); the stamps hand each slot to one thread at a time, with
// `Release`/`Acquire` ordering the write before the read.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; all shared state is atomics and slots owned by turn.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring that holds `capacity` values, rounded up to a power of two (at least 2, at
    /// most 2^30).
    pub fn new(capacity: usize) -> Ring<T> {
        let cap = capacity.clamp(2, 1 << 30).next_power_of_two();
        Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots: (0..cap)
                .map(|i| Slot {
                    stamp: AtomicUsize::new(i),
                    value: UnsafeCell::new(MaybeUninit::uninit()),
                })
                .collect(),
            mask: cap - 1,
        }
    }

    /// How many values the ring holds when full.
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Appends `value`, or gives it back when the ring is full. "Full" may also be answered
    /// for a moment while a consumer is taking the oldest value (its slot is not free yet);
    /// callers that must not fail retry.
    pub fn push(&self, value: T) -> Result<(), T> {
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let stamp = slot.stamp.load(Ordering::Acquire);
            let lag = stamp.wrapping_sub(pos) as isize;
            if lag == 0 {
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the compare-and-swap gave this thread position `pos`, and the
                        // stamp said the slot's previous value was consumed: no other thread
                        // reads or writes this slot until the stamp below publishes it.
                        slot.value
                            .with_mut(|p| unsafe { p.write(MaybeUninit::new(value)) });
                        slot.stamp.store(pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(now) => pos = now,
                }
            } else if lag < 0 {
                // The value of one lap ago is still there.
                return Err(value);
            } else {
                // Another producer took this position; start again from the current tail.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Takes the oldest value, or `None` when the ring is empty. `None` may also be answered
    /// while the oldest position is claimed by a producer that has not written it yet, even
    /// if later values are ready: values come out in position order.
    pub fn pop(&self) -> Option<T> {
        let mut pos = self.head.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[pos & self.mask];
            let stamp = slot.stamp.load(Ordering::Acquire);
            let lag = stamp.wrapping_sub(pos.wrapping_add(1)) as isize;
            if lag == 0 {
                match self.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp (`Acquire`, pairing with the producer's `Release`)
                        // says the slot holds a written value, and the compare-and-swap gave
                        // this thread alone position `pos`: it moves the value out once.
                        let value = slot.value.with_mut(|p| unsafe { p.read().assume_init() });
                        slot.stamp
                            .store(pos.wrapping_add(self.mask + 1), Ordering::Release);
                        return Some(value);
                    }
                    Err(now) => pos = now,
                }
            } else if lag < 0 {
                return None;
            } else {
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// How many values the ring holds (a snapshot; it may change at once).
    pub fn len(&self) -> usize {
        // `head` first: `tail` only grows and never falls behind `head`, so a `tail` read
        // after `head` is at least that `head` and the difference does not wrap.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(self.capacity())
    }

    /// Whether the ring holds no value (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

impl<T> core::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Ring;

    #[test]
    fn fifo_full_and_empty() {
        let r = Ring::new(3);
        assert_eq!(r.capacity(), 4);
        assert_eq!(r.pop(), None);
        for i in 0..4 {
            assert_eq!(r.push(i), Ok(()));
        }
        assert_eq!(r.push(9), Err(9), "a full ring gives the value back");
        assert_eq!(r.len(), 4);
        for lap in 0..3 {
            for i in 0..4 {
                assert_eq!(r.pop(), Some(i + 4 * lap));
                assert_eq!(r.push(i + 4 * (lap + 1)), Ok(()));
            }
        }
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn drop_releases_what_is_left() {
        let counted = std::sync::Arc::new(());
        let r = Ring::new(8);
        for _ in 0..5 {
            assert!(r.push(std::sync::Arc::clone(&counted)).is_ok());
        }
        assert_eq!(std::sync::Arc::strong_count(&counted), 6);
        drop(r);
        assert_eq!(std::sync::Arc::strong_count(&counted), 1);
    }

    #[test]
    fn threads_pass_every_value_once() {
        let r = std::sync::Arc::new(Ring::new(64));
        let producers: Vec<_> = (0..3u64)
            .map(|t| {
                let r = std::sync::Arc::clone(&r);
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        let mut v = (t << 32) | i;
                        while let Err(back) = r.push(v) {
                            v = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u64; 3];
        let mut got = 0;
        while got < 60_000 {
            match r.pop() {
                Some(v) => {
                    let (t, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                    assert_eq!(i, next[t], "per-producer order");
                    next[t] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for p in producers {
            assert!(p.join().is_ok());
        }
        assert_eq!(r.pop(), None);
    }
}
