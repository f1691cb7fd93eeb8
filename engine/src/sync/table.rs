//! A concurrent open-addressed table from `u64` keys to `Arc<T>`: lock-free readers, one
//! writer at a time, changed in place.
//!
//! The key store's data-path index. Readers take a guard ([`Table::read`]), probe a slot and
//! get `&T` for as long as the guard lives, with no lock and no write to shared memory beyond
//! the guard's reader counter. The writer inserts and removes in place, so an insert costs
//! O(1) whatever the table holds; only when the table would pass half full (live entries and
//! tombstones together) does it build a larger table and publish it through [`Rcu`], which
//! doubling keeps at O(1) per insert on average.
//!
//! # Slots and ordering
//!
//! A slot is a key (`EMPTY` until first used) and a pointer from `Arc::into_raw`, or null
//! for a tombstone. A key, once written to a slot, never changes: a removed entry leaves its
//! key with a null pointer, and a later insert of the same key reuses the slot. The writer
//! stores the pointer before the key (`Release`); a reader that loads the key (`Acquire`)
//! then sees that pointer or a later one. Probes run until the key or an `EMPTY` slot; since
//! at most half the slots are used, every probe ends.
//!
//! # Reclamation
//!
//! A removed pointer is handed back as an `Arc` only after a grace period of the table's
//! [`Rcu`] ([`Rcu::synchronize`]): every reader that could have loaded it has dropped its
//! guard by then. A grown table holds its own reference to each entry, and the old table
//! goes (dropping its references) after the grace period of its replacement. A loom model
//! (`engine/tests/loom_table.rs`) checks that no reader sees an entry after the writer got
//! it back.

use std::sync::Arc;

use super::{AtomicPtr, AtomicU64, Mutex, Ordering, Rcu, RcuGuard};

/// The key of a slot never used. Keys must differ from it.
pub const EMPTY_KEY: u64 = u64::MAX;

/// Fibonacci hashing: the multiplier is 2^64 / φ; the top bits of the product pick the slot,
/// so keys chosen in sequence spread evenly.
const PHI: u64 = 0x9e37_79b9_7f4a_7c15;

struct Slot<T> {
    key: AtomicU64,
    value: AtomicPtr<T>,
}

/// One generation of slots. Owns one `Arc` reference per non-null pointer.
struct Slots<T> {
    slots: Box<[Slot<T>]>,
    mask: usize,
    shift: u32,
}

// SAFETY: the raw pointers are `Arc<T>` references owned by the table; readers get `&T`
// (needs `T: Sync`) and the writer hands `Arc<T>` to its caller (needs `T: Send + Sync`).
unsafe impl<T: Send + Sync> Send for Slots<T> {}
// SAFETY: as above; all shared state is atomics.
unsafe impl<T: Send + Sync> Sync for Slots<T> {}

impl<T> Slots<T> {
    fn with_len(len: usize) -> Slots<T> {
        let len = len.next_power_of_two().max(4);
        Slots {
            slots: (0..len)
                .map(|_| Slot {
                    key: AtomicU64::new(EMPTY_KEY),
                    value: AtomicPtr::new(core::ptr::null_mut()),
                })
                .collect(),
            mask: len - 1,
            shift: 64 - len.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(PHI) >> self.shift) as usize & self.mask
    }

    /// The slot holding `key` (live or tombstone), or `None` at the first empty slot.
    #[inline]
    fn find(&self, key: u64) -> Option<&Slot<T>> {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            match s.key.load(Ordering::Acquire) {
                k if k == key => return Some(s),
                EMPTY_KEY => return None,
                _ => i = (i + 1) & self.mask,
            }
        }
    }

    /// The slot for `key`: the one holding it, or the first empty one on its probe.
    fn slot_for(&self, key: u64) -> (&Slot<T>, bool) {
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            match s.key.load(Ordering::Relaxed) {
                k if k == key => return (s, true),
                EMPTY_KEY => return (s, false),
                _ => i = (i + 1) & self.mask,
            }
        }
    }
}

impl<T> Drop for Slots<T> {
    fn drop(&mut self) {
        for s in self.slots.iter() {
            let p = s.value.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: a non-null pointer is a reference from `Arc::into_raw` that this
                // generation owns; `&mut self` means no reader holds it through this
                // generation any more.
                drop(unsafe { Arc::from_raw(p.cast_const()) });
            }
        }
    }
}

/// What the writer keeps: how many slots hold a key, how many a live entry.
#[derive(Default)]
struct Counts {
    used: usize,
    live: usize,
}

/// A concurrent `u64 → Arc<T>` table; see the module docs.
pub struct Table<T> {
    current: Rcu<Slots<T>>,
    writer: Mutex<Counts>,
    /// Entries copied into grown tables so far (what an insert costs beyond its own slot).
    copies: AtomicU64,
}

/// A reader's view of a [`Table`]; entries it hands out live as long as it does.
pub struct TableGuard<'a, T> {
    slots: RcuGuard<'a, Slots<T>>,
}

impl<'a, T> TableGuard<'a, T> {
    /// The entry under `key`.
    #[inline]
    pub fn get(&self, key: u64) -> Option<&T> {
        // `SeqCst` (a plain load on x86_64): with the writer's fence after it unpublishes a
        // pointer, either this load sees the null or the writer sees this guard's counter.
        let p = self.slots.find(key)?.value.load(Ordering::SeqCst);
        // SAFETY: a non-null pointer came from `Arc::into_raw` and its reference is released
        // only after a grace period that waits for this guard (module docs, Reclamation).
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Starts loading the slot where a probe for `key` begins.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        super::prefetch(&self.slots.slots[self.slots.home(key)]);
    }
}

impl<T: Send + Sync> Default for Table<T> {
    fn default() -> Self {
        Table::new()
    }
}

impl<T: Send + Sync> Table<T> {
    /// An empty table.
    pub fn new() -> Table<T> {
        Table {
            current: Rcu::new(Slots::with_len(8)),
            writer: Mutex::new(Counts::default()),
            copies: AtomicU64::new(0),
        }
    }

    /// A reader's view, without locks.
    #[inline]
    pub fn read(&self) -> TableGuard<'_, T> {
        TableGuard {
            slots: self.current.read(),
        }
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.counts().live
    }

    /// How many entries growing the table has copied so far: about twice the inserts at
    /// most, however many entries the table holds.
    pub fn copies(&self) -> u64 {
        self.copies.load(Ordering::Relaxed)
    }

    /// Whether the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn counts(&self) -> impl core::ops::DerefMut<Target = Counts> + '_ {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes room for `more` inserts of new keys without growing the table in between (one
    /// publication for a bulk insert).
    pub fn reserve(&self, more: usize) {
        let mut c = self.counts();
        self.make_room(&mut c, more);
    }

    fn make_room(&self, c: &mut Counts, more: usize) {
        // The caller holds the writer mutex: only it changes `current` or the counts.
        let len = self.current.read().slots.len();
        if (c.used + more) * 2 <= len {
            return;
        }
        // Tombstones are dropped by the rebuild; size for the live entries and `more`, at
        // most half full.
        let need = ((c.live + more) * 2).max(8);
        let next = {
            let cur = self.current.read();
            let next = Slots::<T>::with_len(need);
            for s in cur.slots.iter() {
                let p = s.value.load(Ordering::Acquire);
                if p.is_null() {
                    continue;
                }
                let k = s.key.load(Ordering::Relaxed);
                // SAFETY: `p` is a live reference owned by the current generation (the
                // writer mutex is held, so nobody releases it meanwhile); the new
                // generation takes a reference of its own.
                unsafe { Arc::increment_strong_count(p.cast_const()) };
                self.copies.fetch_add(1, Ordering::Relaxed);
                let (slot, _) = next.slot_for(k);
                slot.value.store(p, Ordering::Relaxed);
                slot.key.store(k, Ordering::Relaxed);
            }
            next
        };
        c.used = c.live;
        // The old generation is dropped after its grace period, releasing its references.
        drop(self.current.replace(Box::new(next)));
    }

    /// Inserts `value` under `key`. Returns it back if `key` already has a live entry.
    /// `key` must not be [`EMPTY_KEY`].
    pub fn insert(&self, key: u64, value: Arc<T>) -> Result<(), Arc<T>> {
        assert_ne!(key, EMPTY_KEY, "EMPTY_KEY is reserved");
        let mut c = self.counts();
        {
            let cur = self.current.read();
            if let Some(s) = cur.find(key)
                && !s.value.load(Ordering::Relaxed).is_null()
            {
                return Err(value);
            }
        }
        self.make_room(&mut c, 1);
        let cur = self.current.read();
        let (slot, reused) = cur.slot_for(key);
        slot.value
            .store(Arc::into_raw(value).cast_mut(), Ordering::Release);
        if !reused {
            slot.key.store(key, Ordering::Release);
            c.used += 1;
        }
        c.live += 1;
        Ok(())
    }

    /// Removes the entries under `keys` and hands them back once no reader can still see
    /// them (one grace period for all of them). Keys without a live entry are skipped.
    pub fn remove_many(&self, keys: &[u64]) -> Vec<Arc<T>> {
        let mut c = self.counts();
        let mut taken = Vec::new();
        {
            let cur = self.current.read();
            for &k in keys {
                if let Some(s) = cur.find(k) {
                    let p = s.value.swap(core::ptr::null_mut(), Ordering::AcqRel);
                    if !p.is_null() {
                        taken.push(p);
                        c.live -= 1;
                    }
                }
            }
        }
        drop(c);
        self.reclaim(taken)
    }

    /// Puts each `(key, value)` of `put` in place of whatever `key` held, and removes the
    /// entries under `remove` (a key also in `put` is kept), in one writer step: a reader
    /// sees, for every key, either the old entry or the new one, never neither. The entries
    /// replaced or removed are handed back once no reader can still see them.
    pub fn replace_many(&self, put: Vec<(u64, Arc<T>)>, remove: &[u64]) -> Vec<Arc<T>> {
        let mut c = self.counts();
        let fresh = {
            let cur = self.current.read();
            put.iter()
                .filter(|(k, _)| {
                    assert_ne!(*k, EMPTY_KEY, "EMPTY_KEY is reserved");
                    cur.find(*k).is_none()
                })
                .count()
        };
        self.make_room(&mut c, fresh);
        let mut taken = Vec::new();
        {
            let cur = self.current.read();
            for &k in remove {
                if put.iter().any(|(p, _)| *p == k) {
                    continue;
                }
                if let Some(s) = cur.find(k) {
                    let p = s.value.swap(core::ptr::null_mut(), Ordering::AcqRel);
                    if !p.is_null() {
                        taken.push(p);
                        c.live -= 1;
                    }
                }
            }
            for (k, v) in put {
                let (slot, reused) = cur.slot_for(k);
                let old = slot
                    .value
                    .swap(Arc::into_raw(v).cast_mut(), Ordering::AcqRel);
                if !reused {
                    slot.key.store(k, Ordering::Release);
                    c.used += 1;
                }
                if old.is_null() {
                    c.live += 1;
                } else {
                    taken.push(old);
                }
            }
        }
        drop(c);
        self.reclaim(taken)
    }

    /// Hands back the references `taken` (unpublished by the writer, whose lock is
    /// released) once a grace period has passed.
    fn reclaim(&self, taken: Vec<*mut T>) -> Vec<Arc<T>> {
        if taken.is_empty() {
            return Vec::new();
        }
        self.current.synchronize();
        taken
            .into_iter()
            // SAFETY: each pointer was a generation's reference, unpublished by the caller;
            // the grace period has passed, so no reader still holds it from this table.
            .map(|p| unsafe { Arc::from_raw(p.cast_const()) })
            .collect()
    }

    /// Waits until no reader that began before this call still holds its guard.
    pub fn synchronize(&self) {
        self.current.synchronize();
    }

    /// Removes the entry under `key` (see [`Table::remove_many`]).
    pub fn remove(&self, key: u64) -> Option<Arc<T>> {
        self.remove_many(&[key]).pop()
    }

    /// The negative control of the loom model: removes without a grace period, which is
    /// wrong. The model must find the reader that sees a returned entry.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn remove_without_grace_period(&self, key: u64) -> Option<Arc<T>> {
        let _c = self.counts();
        let cur = self.current.read();
        let p = cur
            .find(key)?
            .value
            .swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: this is the deliberate bug the loom test looks for.
        (!p.is_null()).then(|| unsafe { Arc::from_raw(p.cast_const()) })
    }
}

impl<T> core::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Table").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_reinsert() {
        let t: Table<u32> = Table::new();
        for k in 0..1000u64 {
            t.insert(k * 7, Arc::new(k as u32)).unwrap();
        }
        assert!(t.insert(7, Arc::new(0)).is_err());
        assert_eq!(t.len(), 1000);
        {
            let g = t.read();
            for k in 0..1000u64 {
                assert_eq!(g.get(k * 7), Some(&(k as u32)));
                assert_eq!(g.get(k * 7 + 1), None);
            }
        }
        let gone = t.remove_many(&[0, 7, 14, 3]);
        assert_eq!(gone.iter().map(|a| **a).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(t.len(), 997);
        assert_eq!(t.read().get(7), None);
        t.insert(7, Arc::new(42)).unwrap();
        assert_eq!(t.read().get(7), Some(&42));
        // The table lets go of its references: the entries handed back are unique.
        assert!(gone.iter().all(|a| Arc::strong_count(a) == 1));
    }

    #[test]
    fn churn_keeps_the_table_small() {
        let t: Table<u64> = Table::new();
        for k in 0..100_000u64 {
            t.insert(k, Arc::new(k)).unwrap();
            if k >= 4 {
                assert!(t.remove(k - 4).is_some());
            }
        }
        assert_eq!(t.len(), 4);
        // Tombstones are dropped when the table is rebuilt: it never grows past what four
        // live entries and the rebuild threshold need.
        assert!(
            t.read().slots.slots.len() <= 64,
            "{}",
            t.read().slots.slots.len()
        );
    }

    #[test]
    fn replace_many_swaps_in_place_and_removes_the_rest() {
        let t: Table<u32> = Table::new();
        for k in 0..4u64 {
            t.insert(k, Arc::new(k as u32)).unwrap();
        }
        t.remove(3);
        // 0 replaced, 3 (a tombstone) and 9 (new) put, 1 removed, 2 left alone; a key both
        // put and removed is kept.
        let old = t.replace_many(
            vec![(0, Arc::new(100)), (3, Arc::new(103)), (9, Arc::new(109))],
            &[1, 9, 77],
        );
        let mut back: Vec<u32> = old.iter().map(|a| **a).collect();
        back.sort_unstable();
        assert_eq!(back, [0, 1]);
        assert!(old.iter().all(|a| Arc::strong_count(a) == 1));
        let g = t.read();
        let got: Vec<Option<u32>> = [0, 1, 2, 3, 9].iter().map(|&k| g.get(k).copied()).collect();
        assert_eq!(got, [Some(100), None, Some(2), Some(103), Some(109)]);
        drop(g);
        assert_eq!(t.len(), 4);
        // Growth on the way: many new keys at once.
        let put: Vec<(u64, Arc<u32>)> = (100..400u64).map(|k| (k, Arc::new(k as u32))).collect();
        assert!(t.replace_many(put, &[]).is_empty());
        assert_eq!(t.len(), 304);
        assert_eq!(t.read().get(399), Some(&399));
    }

    #[test]
    fn a_replaced_key_is_never_missing_to_readers() {
        let t = Arc::new(Table::<[u64; 4]>::new());
        for k in 0..64u64 {
            t.insert(k, Arc::new([k; 4])).unwrap();
        }
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let looked = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (t, stop, looked) = (Arc::clone(&t), Arc::clone(&stop), Arc::clone(&looked));
                std::thread::spawn(move || {
                    let mut lookups = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let g = t.read();
                        for k in 0..64u64 {
                            let v = g.get(k).expect("a replaced key is always there");
                            assert!(v.iter().all(|&x| x % 64 == k), "{v:?}");
                            lookups += 1;
                        }
                        looked.fetch_add(64, Ordering::Relaxed);
                    }
                    lookups
                })
            })
            .collect();
        // At least 200 rounds, and on until the readers have looked many times while they
        // ran (a reader may start late); bounded by 20 000 rounds and 20 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut round = 1u64;
        while round < 20_000 && std::time::Instant::now() < deadline {
            let put: Vec<(u64, Arc<[u64; 4]>)> = (0..64u64)
                .map(|k| (k, Arc::new([k + 64 * round; 4])))
                .collect();
            for a in t.replace_many(put, &[]) {
                assert_eq!(Arc::strong_count(&a), 1);
            }
            round += 1;
            if round > 200 && looked.load(Ordering::Relaxed) >= 64 * 2_000 {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert!(looked.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn readers_during_growth_and_removal() {
        let t = Arc::new(Table::<[u64; 4]>::new());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (t, stop) = (Arc::clone(&t), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut seen = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let g = t.read();
                        for k in 0..512u64 {
                            if let Some(v) = g.get(k) {
                                // Every entry is uniform; a freed one would not be.
                                assert!(v.iter().all(|&x| x == k));
                                seen += 1;
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        for round in 0..20u64 {
            for k in 0..512u64 {
                let _ = t.insert(k, Arc::new([k; 4]));
            }
            let ks: Vec<u64> = (0..512).filter(|k| (k + round) % 3 == 0).collect();
            for a in t.remove_many(&ks) {
                assert_eq!(Arc::strong_count(&a), 1);
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
    }
}
