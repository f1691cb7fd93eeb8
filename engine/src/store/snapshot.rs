//! A reader's view of the store: the data-path index as it stands, without locks.
//!
//! A [`Snapshot`] is a guard on the store's [`crate::sync::Table`]: entries it returns stay
//! valid (and their key material in memory) while it lives, even if the key is revoked
//! meanwhile (revocation also flips the entry's state, which the data path checks per
//! packet). Keep it for a call or a batch, never across a control-plane call on the same
//! thread: a writer waits for the guards open when it unpublishes an entry.

use crate::keys::KeyId;
use crate::keys::addressing::lookup_of_id;
use crate::sync::TableGuard;

use super::entry::KeyEntry;

/// The data path's view of the store's index.
pub(crate) struct Snapshot<'a> {
    pub(super) index: TableGuard<'a, KeyEntry>,
}

impl Snapshot<'_> {
    /// The entry an MKI's lookup key names.
    #[inline]
    pub(crate) fn entry(&self, lookup: u64) -> Option<&KeyEntry> {
        self.index.get(lookup)
    }

    /// The entry of key `id` (a GMK by its ID alone).
    #[inline]
    pub(crate) fn entry_of(&self, id: KeyId) -> Option<&KeyEntry> {
        self.index.get(lookup_of_id(id))
    }

    /// Starts loading the index slot of `lookup` (batch calls).
    #[inline]
    pub(crate) fn prefetch(&self, lookup: u64) {
        self.index.prefetch(lookup);
    }
}
