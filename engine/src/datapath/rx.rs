//! Unprotect on the keyed path: the MKI names the key; purpose, status and time are checked,
//! then the packet is authenticated against the (key, SSRC) replay window, and only then
//! decrypted and committed.

use super::stream::{RxState, Window, rx_key};
use super::{
    BATCH_GROUP, EngineConfig, Error, Processed, RxCtx, RxPacket, check_rx, missing, processed_rx,
};
use crate::keys::SrtcpUse;
use crate::srtcp::{self, ReplayWindow, Unprotected, open_checked_4, open_in_place};
use crate::store::{KeyEntry, KeyStore};
use crate::time::Timestamp;

/// A stream key and its entry, or why the packet cannot be processed.
type Found<'s> = Result<(&'s KeyEntry, (u64, u32)), Error>;

/// Unprotects the SRTCP packet `buf` in place, with `rx` holding the handle's windows.
pub(crate) fn unprotect(
    store: &KeyStore,
    config: EngineConfig,
    rx: &mut RxState,
    use_: Option<SrtcpUse>,
    buf: &mut [u8],
    now: Timestamp,
) -> Result<Processed, Error> {
    // The map keys come from the packet itself (MKI, SSRC), so the store probe and the
    // replay-window probe do not wait for the key entry to arrive from memory.
    let key = rx_key(buf).ok_or(srtcp::Error::TooShort)?;
    let snap = store.read();
    rx.prune_if_removed(store, &snap, 1);
    let Some(entry) = snap.entry(key.0) else {
        return Err(missing(store, key.0));
    };
    entry.prefetch();
    let ctx = RxCtx::new(store, config, use_, now);
    let u = rx.unprotect(&ctx, entry, key, buf)?;
    Ok(processed_rx(entry, u))
}

impl RxState {
    /// Checks purpose, status and time of `entry`, then authenticates and decrypts `buf`
    /// against the window of `key`, creating the window (within the per-key bound) only
    /// after the packet authenticated.
    fn unprotect(
        &mut self,
        ctx: &RxCtx,
        entry: &KeyEntry,
        key: (u64, u32),
        buf: &mut [u8],
    ) -> Result<Unprotected, Error> {
        check_rx(ctx, entry)?;
        // One probe of the window map for a known stream.
        if let Some(w) = self.windows.get_mut(&key)
            && w.serial == entry.serial
        {
            let u = open_in_place(&entry.keys, &entry.policy, Some(&w.window), buf)?;
            w.window.commit(u.index);
            return Ok(u);
        }
        // A new stream (or a window left by an earlier key under the same ID): authenticate
        // before claiming one of the key's streams, so that forged packets never hold a claim;
        // give it back if the packet does not open after all.
        srtcp::verify_only(&entry.keys, &entry.policy, buf)?;
        if !entry.claim_rx_stream(ctx.config.max_streams_per_key) {
            return Err(Error::TooManyStreams);
        }
        let u = match open_in_place(&entry.keys, &entry.policy, None, buf) {
            Ok(u) => u,
            Err(e) => {
                entry.release_rx_stream();
                return Err(e.into());
            }
        };
        let Ok(mut window) = ReplayWindow::new(ctx.config.replay_window) else {
            unreachable!("window size checked in Engine::new")
        };
        window.commit(u.index);
        self.windows.insert(
            key,
            Window {
                serial: entry.serial,
                window,
            },
        );
        // The caller adds key ID and purpose: a 16-octet result comes back in registers,
        // where the 24-octet `Processed` would go through memory and be read back wider
        // than it was written (a store-forwarding stall per packet).
        Ok(u)
    }

    /// Unprotects four packets of a batch together through the multi-buffer kernel, when all
    /// four can go: keys on the `vaes` provider that pass their checks, four distinct streams
    /// that already have replay windows (so that neither a duplicate inside the four nor a
    /// new stream's bound needs the one-by-one order), E=1 packets that pass the checks before
    /// the tag. Returns `false`, having changed nothing, when they cannot; the caller then
    /// processes them one by one.
    fn unprotect_4(&mut self, ctx: &RxCtx, found: &[Found<'_>], pkts: &mut [RxPacket<'_>]) -> bool {
        let ([Ok(a), Ok(b), Ok(c), Ok(d)], [pa, pb, pc, pd]) = (found, pkts) else {
            return false;
        };
        let four = [*a, *b, *c, *d];
        if !four
            .iter()
            .all(|(e, _)| e.keys.gcm().has_lanes() && check_rx(ctx, e).is_ok())
        {
            return false;
        }
        let st = four.map(|(_, st)| st);
        if st[0] == st[1]
            || st[0] == st[2]
            || st[0] == st[3]
            || st[1] == st[2]
            || st[1] == st[3]
            || st[2] == st[3]
        {
            return false;
        }
        let window = |i: usize| {
            self.windows
                .get(&st[i])
                .filter(|w| w.serial == four[i].0.serial)
                .map(|w| &w.window)
        };
        let (Some(wa), Some(wb), Some(wc), Some(wd)) = (window(0), window(1), window(2), window(3))
        else {
            return false;
        };
        let [(ea, _), (eb, _), (ec, _), (ed, _)] = four;
        let Some(results) = open_checked_4([
            (&ea.keys, &ea.policy, wa, &mut *pa.buf),
            (&eb.keys, &eb.policy, wb, &mut *pb.buf),
            (&ec.keys, &ec.policy, wc, &mut *pc.buf),
            (&ed.keys, &ed.policy, wd, &mut *pd.buf),
        ]) else {
            return false;
        };
        for ((r, (e, st)), p) in results.into_iter().zip(four).zip([pa, pb, pc, pd]) {
            p.result = Some(match r {
                Ok(u) => {
                    if let Some(w) = self.windows.get_mut(&st) {
                        w.window.commit(u.index);
                    }
                    Ok(processed_rx(e, u))
                }
                Err(err) => Err(Error::Srtcp(err)),
            });
        }
        true
    }
}

/// Unprotects a batch: every packet gets its own result; returns how many succeeded.
///
/// The key and replay-window lookups of a group of packets are issued before any of them is
/// processed, so the cache misses of cold keys overlap instead of adding up.
pub(crate) fn unprotect_batch(
    store: &KeyStore,
    config: EngineConfig,
    rx: &mut RxState,
    use_: Option<SrtcpUse>,
    pkts: &mut [RxPacket<'_>],
    now: Timestamp,
) -> usize {
    let snap = store.read();
    rx.prune_if_removed(store, &snap, pkts.len());
    let ctx = RxCtx::new(store, config, use_, now);
    let mut ok = 0;
    for group in pkts.chunks_mut(BATCH_GROUP) {
        // Three passes, so that each level's cache misses overlap across the group: the
        // index slots, then the entries and replay windows, then the packets.
        let mut keys: [Option<(u64, u32)>; BATCH_GROUP] = [None; BATCH_GROUP];
        for (k, p) in keys.iter_mut().zip(group.iter()) {
            *k = rx_key(p.buf);
            if let Some(k) = k {
                snap.prefetch(k.0);
            }
        }
        let mut found: [Found<'_>; BATCH_GROUP] = [Err(Error::UnknownKey); BATCH_GROUP];
        for (f, k) in found.iter_mut().zip(keys.iter()) {
            *f = match *k {
                None => Err(srtcp::Error::TooShort.into()),
                Some(k) => match snap.entry(k.0) {
                    None => Err(missing(store, k.0)),
                    Some(e) => {
                        e.prefetch();
                        if let Some(w) = rx.windows.get(&k) {
                            crate::sync::prefetch::<ReplayWindow>(&w.window);
                        }
                        Ok((e, k))
                    }
                },
            };
        }
        for (found, pkts) in found.chunks(4).zip(group.chunks_mut(4)) {
            if !rx.unprotect_4(&ctx, found, pkts) {
                for (f, p) in found.iter().zip(pkts.iter_mut()) {
                    p.result = Some(match *f {
                        Ok((e, k)) => rx.unprotect(&ctx, e, k, p.buf).map(|u| processed_rx(e, u)),
                        Err(err) => Err(err),
                    });
                }
            }
            ok += pkts
                .iter()
                .filter(|p| matches!(p.result, Some(Ok(_))))
                .count();
        }
    }
    ok
}
