//! Property tests of the SRTCP contexts (proptest), each case on one of the AES-GCM
//! providers this CPU runs.
//!
//! - round trip for random keys, RTCP sizes 8–1500, starting indices, MKIs and both
//!   protections, in place and out of place;
//! - any single flipped bit of a protected packet is rejected, and the receive context is
//!   unchanged (the genuine packet is still accepted afterwards, and a packet that was
//!   accepted before is still a replay);
//! - replay: duplicates, out-of-order inside the window, too old, far jumps — checked against
//!   a simple model.

use mcx_engine::aead::Provider;
use mcx_engine::secret::{MasterKey, MasterSalt};
use mcx_engine::srtcp::{
    Error, MAX_INDEX, Mki, RxConfig, RxContext, SrtcpKeys, TxConfig, TxContext, protected_len,
};
use mcx_tests::packets::random_rtcp;
use mcx_tests::rng::Rng;
use proptest::prelude::*;

fn keys(key: &[u8], salt: &[u8; 12], provider: Provider) -> SrtcpKeys {
    SrtcpKeys::from_master(
        &MasterKey::from_slice(key).unwrap(),
        &MasterSalt::new(*salt),
        provider,
    )
}

/// Each case runs on one of the providers this CPU has.
fn provider() -> impl Strategy<Value = Provider> {
    prop::sample::select(mcx_tests::providers())
}

fn mki_of(len: usize, seed: u64) -> Mki {
    let bytes = seed.to_be_bytes();
    Mki::from_slice(&bytes[..len]).unwrap()
}

fn configs(mki: Mki, auth_only: bool, index: u32) -> (TxConfig, RxConfig) {
    let mut t = TxConfig::new(mki).initial_index(index);
    let mut r = RxConfig::new(mki);
    if auth_only {
        t = t.auth_only();
        r = r.auth_only();
    }
    (t, r)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn round_trip(
        wide in any::<bool>(),
        key in prop::array::uniform32(any::<u8>()),
        salt in any::<[u8; 12]>(),
        words in 0usize..=373,
        index in 0u32..=MAX_INDEX,
        mki_len in prop::sample::select(vec![0usize, 4, 8]),
        auth_only in any::<bool>(),
        seed in any::<u64>(),
        provider in provider(),
    ) {
        let key = if wide { &key[..] } else { &key[..16] };
        let k = keys(key, &salt, provider);
        let mki = mki_of(mki_len, seed);
        let (tc, rc) = configs(mki, auth_only, index);
        let mut rng = Rng::new(seed);
        let plain = random_rtcp(&mut rng, seed as u32, 8 + 4 * words);
        let n = protected_len(plain.len(), mki_len);

        // Out of place.
        let mut tx = TxContext::try_new(k.clone(), tc).unwrap();
        let mut wire = vec![0u8; n];
        let p = tx.protect(&plain, &mut wire).unwrap();
        prop_assert_eq!((p.len, p.index), (n, index));
        let mut rx = RxContext::new(k.clone(), rc).unwrap();
        let mut out = vec![0u8; plain.len()];
        let u = rx.unprotect(&wire, &mut out).unwrap();
        prop_assert_eq!((u.len, u.index, u.encrypted), (plain.len(), index, !auth_only));
        prop_assert_eq!(&out, &plain);
        if !auth_only && plain.len() > 16 {
            prop_assert_ne!(&wire[8..plain.len()], &plain[8..]);
        }

        // In place, with a fresh sender at the same index: the same bytes.
        let mut tx2 = TxContext::try_new(k.clone(), tc).unwrap();
        let mut buf = plain.clone();
        buf.resize(n + 5, 0);
        let p2 = tx2.protect_in_place(&mut buf, plain.len()).unwrap();
        prop_assert_eq!(&buf[..p2.len], &wire[..]);
        let mut rx2 = RxContext::new(k, rc).unwrap();
        let u2 = rx2.unprotect_in_place(&mut buf[..p2.len]).unwrap();
        prop_assert_eq!(&buf[..u2.len], &plain[..]);
    }

    #[test]
    fn any_flipped_bit_is_rejected_and_changes_nothing(
        key in any::<[u8; 16]>(),
        salt in any::<[u8; 12]>(),
        words in 0usize..=64,
        mki_len in prop::sample::select(vec![0usize, 4, 8]),
        auth_only in any::<bool>(),
        seed in any::<u64>(),
        bit in any::<prop::sample::Index>(),
        provider in provider(),
    ) {
        let k = keys(&key, &salt, provider);
        let mki = mki_of(mki_len, seed);
        let (tc, rc) = configs(mki, auth_only, 7);
        let mut rng = Rng::new(seed);
        let plain = random_rtcp(&mut rng, 0x4d61_7273, 8 + 4 * words);
        let mut tx = TxContext::new(k.clone(), tc);
        let n = protected_len(plain.len(), mki_len);
        let mut earlier = vec![0u8; n];
        tx.protect(&plain, &mut earlier).unwrap();
        let mut wire = vec![0u8; n];
        tx.protect(&plain, &mut wire).unwrap();

        let mut rx = RxContext::new(k, rc).unwrap();
        let mut out = vec![0x5au8; plain.len()];
        rx.unprotect(&earlier, &mut out).unwrap();
        let highest = rx.window().highest();

        let b = bit.index(8 * n);
        let mut bad = wire.clone();
        bad[b / 8] ^= 1 << (b % 8);
        let sentinel = vec![0xc3u8; plain.len()];
        let mut out = sentinel.clone();
        prop_assert!(rx.unprotect(&bad, &mut out).is_err(), "bit {} accepted", b);
        prop_assert_eq!(&out, &sentinel);
        let copy = bad.clone();
        prop_assert!(rx.unprotect_in_place(&mut bad).is_err());
        prop_assert_eq!(&bad, &copy);
        prop_assert_eq!(rx.window().highest(), highest);

        // The state is as it was: the earlier packet is still a replay, the real one passes.
        prop_assert_eq!(rx.unprotect(&earlier, &mut out), Err(Error::Replayed));
        let u = rx.unprotect(&wire, &mut out).unwrap();
        prop_assert_eq!(&out[..u.len], &plain[..]);
    }

    #[test]
    fn replay_follows_the_model(
        window in 64u32..=512,
        steps in prop::collection::vec((0u8..4, 0u32..2000), 1..200),
        provider in provider(),
    ) {
        let k = keys(&[1; 16], &[2; 12], provider);
        let plain = random_rtcp(&mut Rng::new(1), 1, 28);
        let mut rx = RxContext::new(k.clone(), RxConfig::new(Mki::NONE).replay_window(window)).unwrap();
        let mut accepted = std::collections::BTreeSet::new();
        let mut top: Option<u32> = None;
        let mut out = [0u8; 64];
        for (kind, amount) in steps {
            let index = match (kind, top) {
                (_, None) => amount,
                (0, Some(t)) => t,                                   // duplicate of the newest
                (1, Some(t)) => t.saturating_sub(amount % window),   // inside or at the edge
                (2, Some(t)) => t.saturating_sub(window + amount),   // too old
                (_, Some(t)) => t + 1 + amount * 1000,               // far jump ahead
            };
            let mut tx = TxContext::try_new(k.clone(), TxConfig::new(Mki::NONE).initial_index(index)).unwrap();
            let mut wire = [0u8; 48];
            tx.protect(&plain, &mut wire).unwrap();
            let want = match top {
                Some(t) if index <= t && t - index >= window => Err(Error::TooOld),
                _ if accepted.contains(&index) => Err(Error::Replayed),
                _ => Ok(index),
            };
            let got = rx.unprotect(&wire, &mut out).map(|u| u.index);
            prop_assert_eq!(got, want, "index {} top {:?}", index, top);
            if got.is_ok() {
                accepted.insert(index);
                top = Some(top.map_or(index, |t| t.max(index)));
            }
        }
    }
}
