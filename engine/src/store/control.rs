//! The writer's side of the store: the maps only control-plane calls read, under the
//! store's writer mutex.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use super::entry::{KeyEntry, KeyStatus, TimeError};
use crate::idhash::IdMap;
use crate::keys::{KeyId, Purpose};
use crate::time::Timestamp;

/// (purpose, owner, peer): where a replacement key supersedes the one bound before.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Binding {
    pub(super) purpose: Purpose,
    pub(super) user_id: String,
    pub(super) peer: String,
}

/// A time at which an entry may have to leave the store: its expiry, or the end of its
/// grace period once superseded. Stale deadlines (the entry already gone, or a later one of
/// the same ID) are skipped when they come up.
type Deadline = Reverse<(Timestamp, u64, u64)>;

#[derive(Default)]
pub(super) struct Control {
    /// Installed entries by the lookup key of their ID (`addressing::lookup_of_id`).
    pub(super) entries: IdMap<u64, Arc<KeyEntry>>,
    pub(super) bindings: HashMap<Binding, KeyId>,
    /// The bindings that name each entry (by ID lookup key), to drop them with it.
    pub(super) bound: IdMap<u64, Vec<Binding>>,
    deadlines: BinaryHeap<Deadline>,
    /// Retired IDs (lookup key of the ID, record number), oldest first, to bound what the
    /// store remembers of them.
    pub(super) retired_order: VecDeque<(u64, u64)>,
    pub(super) next_serial: u64,
    /// The algorithms recorded with a key (CSK upload, key download), by ID lookup key.
    pub(super) algorithms: IdMap<u64, super::Algorithms>,
    /// The CSK each client (MC Service user ID, IMPU) uploaded last, through whichever of
    /// the proxy's URIs: how a second connection of the same client is recognised.
    pub(super) clients: HashMap<(String, String), KeyId>,
    /// The XML keys of CSKs and SPKs, by ID lookup key: they leave with their key.
    pub(super) xml: IdMap<u64, Arc<crate::xml::XmlKey>>,
    /// The MCData signalling payload keys of CSKs and SPKs, likewise.
    pub(super) mcdata: IdMap<u64, Arc<crate::mcdata::PayloadKey>>,
}

impl Control {
    /// Remembers that the entry (`by_id`, `serial`) may have to go at `at`. Deadlines of
    /// entries that left early are dropped whenever they outnumber the entries.
    pub(super) fn deadline(&mut self, at: Timestamp, by_id: u64, serial: u64) {
        self.deadlines.push(Reverse((at, by_id, serial)));
        if self.deadlines.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.deadlines.retain(|Reverse((_, id, serial))| {
                entries.get(id).is_some_and(|e| e.serial == *serial)
            });
        }
    }

    /// Binds `binding` to key `id` (filed under `by_id`), dropping what it was bound to.
    pub(super) fn bind(&mut self, binding: Binding, id: KeyId, by_id: u64) {
        if let Some(old) = self.bindings.insert(binding.clone(), id) {
            let old_by_id = crate::keys::addressing::lookup_of_id(old);
            if let Some(list) = self.bound.get_mut(&old_by_id) {
                list.retain(|b| *b != binding);
            }
        }
        self.bound.entry(by_id).or_default().push(binding);
    }

    /// Takes an entry out of the maps (not out of the index).
    pub(super) fn take(&mut self, by_id: u64) -> Option<Arc<KeyEntry>> {
        let e = self.entries.remove(&by_id)?;
        self.algorithms.remove(&by_id);
        self.xml.remove(&by_id);
        self.mcdata.remove(&by_id);
        if let Some(impu) = &e.owner.impu {
            let k = (e.owner.user_id.clone(), impu.clone());
            if self.clients.get(&k) == Some(&e.id) {
                self.clients.remove(&k);
            }
        }
        for b in self.bound.remove(&by_id).unwrap_or_default() {
            if self.bindings.get(&b) == Some(&e.id) {
                self.bindings.remove(&b);
            }
        }
        Some(e)
    }

    /// The entries whose deadline has come at `now`: superseded keys past their grace period
    /// and expired keys. They stay in the maps; the caller removes them.
    pub(super) fn due(&mut self, now: Timestamp, grace_ms: u64) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(Reverse((at, by_id, serial))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(e) = self.entries.get(&by_id) else {
                continue;
            };
            // An entry due twice (its expiry and its grace period) is taken once: the
            // second `Control::take` finds nothing.
            if e.serial != serial {
                continue;
            }
            let gone = match e.status() {
                KeyStatus::Active => e.time_check(now) == Err(TimeError::Expired),
                KeyStatus::Superseded(at) => {
                    now >= at.plus_ms(grace_ms) || e.time_check(now) == Err(TimeError::Expired)
                }
                KeyStatus::Revoked => true,
            };
            if gone {
                due.push(by_id);
            }
        }
        due
    }
}
