//! Protect on the keyed path: one packet, a batch, a fan-out.

use super::{
    BATCH_GROUP, Error, Processed, TxPacket, check_time, check_use, missing, processed_tx,
};
use crate::keys::addressing::lookup_of_id;
use crate::keys::{KeyId, SrtcpUse};
use crate::srtcp::{self, SealItem, seal_checked_4, seal_in_place, ssrc_of};
use crate::store::{KeyEntry, KeyStatus, KeyStore, TakeError};
use crate::time::Timestamp;

/// Protects the RTCP packet `buf[..len]` in place with key `key_id`, for `use_`.
pub(crate) fn protect(
    store: &KeyStore,
    use_: SrtcpUse,
    key_id: KeyId,
    buf: &mut [u8],
    len: usize,
    now: Timestamp,
) -> Result<Processed, Error> {
    let snap = store.read();
    let Some(entry) = snap.entry_of(key_id) else {
        return Err(missing(store, lookup_of_id(key_id)));
    };
    entry.prefetch_tx();
    let index = take_index(store, entry, use_, buf, len, now)?;
    let n = seal_in_place(&entry.keys, &entry.policy, buf, len, index)?;
    Ok(processed_tx(entry, n, index))
}

/// Checks key and packet for a protect and takes the packet's SRTCP index: after `Ok`,
/// `buf[..len]` is a valid RTCP packet and `buf` holds its protected length.
fn take_index(
    store: &KeyStore,
    entry: &KeyEntry,
    use_: SrtcpUse,
    buf: &[u8],
    len: usize,
    now: Timestamp,
) -> Result<u32, Error> {
    check_use(entry, use_, store.config().off_network)?;
    match entry.status() {
        KeyStatus::Active => {}
        KeyStatus::Superseded(_) => return Err(Error::Superseded),
        KeyStatus::Revoked => return Err(Error::Revoked),
    }
    check_time(entry, now)?;
    // Check the packet before taking an index, so that a refused packet wastes none.
    let plain = buf.get(..len).ok_or(srtcp::Error::BufferTooSmall)?;
    let ssrc = ssrc_of(plain).ok_or(srtcp::Error::TooShort)?;
    srtcp::check_outgoing(plain, entry.policy.length_check)?;
    if buf.len() < srtcp::protected_len(len, entry.policy.mki.len()) {
        return Err(srtcp::Error::BufferTooSmall.into());
    }
    match entry.tx.take(ssrc) {
        Ok(i) => {
            store.took_index(entry, ssrc, i);
            Ok(i)
        }
        Err(TakeError::Exhausted) => Err(srtcp::Error::KeyExhausted.into()),
        Err(TakeError::TooManySsrcs) => Err(Error::TooManyStreams),
    }
}

/// Protects a batch: every packet gets its own result; returns how many succeeded.
pub(crate) fn protect_batch(
    store: &KeyStore,
    use_: Option<SrtcpUse>,
    pkts: &mut [TxPacket<'_>],
    now: Timestamp,
) -> usize {
    for p in pkts.iter_mut() {
        p.result = None;
    }
    protect_pending(store, use_, pkts, now)
}

/// Protects the packets of `pkts` that have no result yet.
///
/// The key lookups of a group of packets are issued before any of them is processed, so
/// the cache misses of cold keys overlap instead of adding up; then checks and indices; then
/// the sealing, four packets at a time, so that the batch kernel can take them together.
fn protect_pending(
    store: &KeyStore,
    use_: Option<SrtcpUse>,
    pkts: &mut [TxPacket<'_>],
    now: Timestamp,
) -> usize {
    let snap = store.read();
    let mut ok = 0;
    for group in pkts.chunks_mut(BATCH_GROUP) {
        let mut entries: [Option<&KeyEntry>; BATCH_GROUP] = [None; BATCH_GROUP];
        for p in group.iter() {
            if p.result.is_none() {
                snap.prefetch(lookup_of_id(p.key_id));
            }
        }
        for (e, p) in entries.iter_mut().zip(group.iter()) {
            if p.result.is_none() {
                *e = snap.entry_of(p.key_id);
                if let Some(e) = e {
                    e.prefetch_tx();
                }
            }
        }
        let mut ready: [Option<(&KeyEntry, u32)>; BATCH_GROUP] = [None; BATCH_GROUP];
        for ((e, r), p) in entries.iter().zip(ready.iter_mut()).zip(group.iter_mut()) {
            if p.result.is_some() {
                continue;
            }
            let taken = match e {
                None => Err(missing(store, lookup_of_id(p.key_id))),
                Some(e) => {
                    let u = use_.unwrap_or(SrtcpUse::of(e.purpose));
                    take_index(store, e, u, p.buf, p.len, now).map(|i| (*e, i))
                }
            };
            match taken {
                Ok(t) => *r = Some(t),
                Err(err) => p.result = Some(Err(err)),
            }
        }
        let mut todo = group
            .iter_mut()
            .zip(ready.iter())
            .filter_map(|(p, r)| r.map(|r| (p, r)));
        loop {
            let four: [Option<_>; 4] = core::array::from_fn(|_| todo.next());
            let full = four.iter().all(Option::is_some);
            let lanes = four.iter().all(|x| {
                x.as_ref()
                    .is_some_and(|(_, (e, _))| e.keys.gcm().has_lanes())
            });
            match (lanes, four) {
                (true, [Some(a), Some(b), Some(c), Some(d)]) => {
                    let [(ia, ra, pa), (ib, rb, pb), (ic, rc, pc), (id, rd, pd)] = [a, b, c, d]
                        .map(|(p, (e, index))| {
                            let TxPacket {
                                buf, len, result, ..
                            } = p;
                            let n = srtcp::protected_len(*len, e.policy.mki.len());
                            let item = SealItem {
                                keys: &e.keys,
                                policy: &e.policy,
                                out: &mut buf[..n],
                                len: *len,
                                index,
                            };
                            (item, result, processed_tx(e, n, index))
                        });
                    seal_checked_4([ia, ib, ic, id]);
                    for (r, done) in [(ra, pa), (rb, pb), (rc, pc), (rd, pd)] {
                        *r = Some(Ok(done));
                    }
                    ok += 4;
                }
                (_, four) => {
                    for (p, (e, index)) in four.into_iter().flatten() {
                        let r = seal_in_place(&e.keys, &e.policy, p.buf, p.len, index)
                            .map(|n| processed_tx(e, n, index))
                            .map_err(Error::from);
                        ok += usize::from(r.is_ok());
                        p.result = Some(r);
                    }
                    if !full {
                        break;
                    }
                }
            }
        }
    }
    ok
}

/// Fan-out: `plain` copied into every target's buffer and protected there with the target's
/// key, for `use_`. A target that fails is left with zeros where the plaintext was copied.
pub(crate) fn fan_out(
    store: &KeyStore,
    use_: SrtcpUse,
    plain: &[u8],
    targets: &mut [TxPacket<'_>],
    now: Timestamp,
) -> usize {
    for t in targets.iter_mut() {
        t.len = plain.len();
        t.result = None;
        match t.buf.get_mut(..plain.len()) {
            Some(b) => b.copy_from_slice(plain),
            None => t.result = Some(Err(srtcp::Error::BufferTooSmall.into())),
        }
    }
    let ok = protect_pending(store, Some(use_), targets, now);
    // A target that failed got the plaintext copied in before its key was checked: wipe it,
    // so that a refused recipient's buffer never holds the clear packet.
    for t in targets.iter_mut() {
        if matches!(t.result, Some(Err(_)))
            && let Some(b) = t.buf.get_mut(..plain.len())
        {
            b.fill(0);
        }
    }
    ok
}
