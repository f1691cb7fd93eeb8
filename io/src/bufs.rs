//! The packet slab: fixed-size slots that hold a packet from the moment it is copied out of a
//! receive buffer until the kernel has finished sending it.
//!
//! A slot is taken with [`Slab::alloc`] and given back with [`Slab::free`]. Every slot
//! carries a generation that changes on each `alloc`, and a send completion names the slot
//! and the generation it was issued under: a completion that does not match (late, or for a
//! slot already freed) is refused instead of freeing a slot that holds a newer packet. So a
//! slot is never reused before the completion of the send that reads it has been reaped.
//! Nothing allocates after [`Slab::new`].

/// Octets per slot: the largest datagram the relay takes (an Ethernet MTU, with room for the
/// SRTCP trailer a re-protect adds).
pub const SLOT_SIZE: usize = 2048;

/// A slot's handle: its index and the generation it was allocated under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRef {
    /// The slot's index.
    pub index: u32,
    /// The generation of this allocation.
    pub generation: u32,
}

impl SlotRef {
    /// Packed into 64 bits (for an io_uring `user_data`).
    pub fn pack(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// Unpacked from [`SlotRef::pack`].
    pub fn unpack(v: u64) -> SlotRef {
        SlotRef {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }
}

/// Fixed-size packet slots with generations.
pub struct Slab {
    mem: Box<[u8]>,
    generation: Box<[u32]>,
    in_use: Box<[bool]>,
    free: Vec<u32>,
}

impl std::fmt::Debug for Slab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slab")
            .field("slots", &self.in_use.len())
            .field("free", &self.free.len())
            .finish()
    }
}

impl Slab {
    /// A slab of `slots` slots.
    pub fn new(slots: usize) -> Slab {
        let slots = slots.clamp(1, u32::MAX as usize);
        Slab {
            mem: vec![0u8; slots * SLOT_SIZE].into_boxed_slice(),
            generation: vec![0u32; slots].into_boxed_slice(),
            in_use: vec![false; slots].into_boxed_slice(),
            free: (0..slots as u32).rev().collect(),
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.in_use.len()
    }

    /// Number of free slots.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Takes a free slot, with a new generation; `None` when every slot is in use.
    pub fn alloc(&mut self) -> Option<SlotRef> {
        let index = self.free.pop()?;
        let i = index as usize;
        self.generation[i] = self.generation[i].wrapping_add(1);
        self.in_use[i] = true;
        Some(SlotRef {
            index,
            generation: self.generation[i],
        })
    }

    /// Gives back the slot `r` names. Returns false, and changes nothing, when `r` is stale
    /// (the slot is free or was allocated again since).
    pub fn free(&mut self, r: SlotRef) -> bool {
        let i = r.index as usize;
        if i >= self.in_use.len() || !self.in_use[i] || self.generation[i] != r.generation {
            return false;
        }
        self.in_use[i] = false;
        self.free.push(r.index);
        true
    }

    /// Whether `r` names a slot that is allocated under that generation.
    pub fn is_live(&self, r: SlotRef) -> bool {
        let i = r.index as usize;
        i < self.in_use.len() && self.in_use[i] && self.generation[i] == r.generation
    }

    /// The slot's octets.
    pub fn get_mut(&mut self, index: u32) -> &mut [u8] {
        let off = index as usize * SLOT_SIZE;
        &mut self.mem[off..off + SLOT_SIZE]
    }

    /// The slot's octets.
    pub fn get(&self, index: u32) -> &[u8] {
        let off = index as usize * SLOT_SIZE;
        &self.mem[off..off + SLOT_SIZE]
    }

    /// Mutable views of up to `N` distinct slots at once, in the order of `indices`; the
    /// entries past the views lent are empty. Returns the views and how many were lent:
    /// every index when they are distinct and in range, else those before the first
    /// repeated or out-of-range index (a slot cannot be lent twice).
    pub fn views_mut<const N: usize>(&mut self, indices: &[u32]) -> ([&mut [u8]; N], usize) {
        let mut out: [&mut [u8]; N] = core::array::from_fn(|_| <&mut [u8]>::default());
        let base = self.mem.as_mut_ptr();
        let n = self.in_use.len();
        let mut lent = 0;
        for (k, &i) in indices.iter().take(N).enumerate() {
            if i as usize >= n || indices[..k].contains(&i) {
                break;
            }
            // SAFETY: `i` is in bounds and distinct from every index lent before it in this
            // call, so the slices are disjoint parts of `mem`, which the `&mut self` borrow
            // covers for as long as they live.
            out[k] = unsafe {
                std::slice::from_raw_parts_mut(base.add(i as usize * SLOT_SIZE), SLOT_SIZE)
            };
            lent += 1;
        }
        (out, lent)
    }

    /// The base address of slot `index` (for an iovec the kernel reads).
    pub(crate) fn ptr(&mut self, index: u32) -> *mut u8 {
        self.get_mut(index).as_mut_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_not_reused_before_its_completion() {
        let mut s = Slab::new(2);
        let a = s.alloc().unwrap();
        let b = s.alloc().unwrap();
        assert_ne!(a.index, b.index);
        assert!(s.alloc().is_none(), "every slot is in flight");
        assert!(s.free(a));
        assert!(
            !s.free(a),
            "a second completion for the same send is refused"
        );
        let c = s.alloc().unwrap();
        assert_eq!(c.index, a.index);
        assert_ne!(c.generation, a.generation);
        assert!(
            !s.free(a),
            "a stale completion does not free the newer packet"
        );
        assert!(s.is_live(c));
        assert!(s.free(c));
        assert_eq!(SlotRef::unpack(b.pack()), b);
        assert!(!s.free(SlotRef {
            index: 9,
            generation: 1
        }));
    }

    #[test]
    fn views_lend_distinct_slots_only() {
        let mut s = Slab::new(4);
        let (v, n) = s.views_mut::<4>(&[2, 0, 3]);
        assert_eq!(n, 3);
        assert!(v[3].is_empty());
        v[0][0] = 7;
        v[1][0] = 8;
        assert_eq!(s.get(2)[0], 7);
        assert_eq!(s.get(0)[0], 8);
        assert_eq!(
            s.views_mut::<4>(&[1, 1, 2]).1,
            1,
            "a repeated index ends the list"
        );
        assert_eq!(s.views_mut::<4>(&[5]).1, 0, "out of range");
        assert_eq!(s.views_mut::<2>(&[0, 1, 2]).1, 2, "at most N");
    }
}
