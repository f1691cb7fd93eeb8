use super::*;
use crate::keys::Service;
use crate::keys::addressing::lookup_of_id;

fn csk(n: u32) -> KeyId {
    KeyId::from_parts(Purpose::Csk, 0x0010_0000 + n)
}

fn install_csk(store: &KeyStore, id: KeyId, owner: &str, now: Timestamp) -> Installed {
    install_with(store, id, 0x42, owner, now).unwrap()
}

/// Installs CSK `id` with key octets `fill`.
fn install_with(
    store: &KeyStore,
    id: KeyId,
    fill: u8,
    owner: &str,
    now: Timestamp,
) -> Result<Installed, StoreError> {
    let key = [fill; 16];
    let k = KeyInstall::new(&key, id, &[1; 16], Service::Mcptt, Owner::new(owner), "srv");
    store.install(&k, now)
}

#[test]
fn debug_output_carries_no_key_material() {
    let key = [0xa7u8; 16];
    let id = KeyId::from_parts(Purpose::Csk, 0x0123_4567);
    let k = KeyInstall::new(
        &key,
        id,
        &[1; 16],
        Service::Mcptt,
        Owner::new("sip:a@x"),
        "srv",
    );
    let store = KeyStore::new(StoreConfig::default());
    store.install(&k, Timestamp(0)).unwrap();
    let g = store.generate(Purpose::Csk, KeyLen::Aes128).unwrap();
    let shown = format!(
        "{k:?} {store:?} {:?} {g:?} {:?}",
        store.read().entry_of(id).unwrap(),
        store.info(id).unwrap()
    );
    assert!(shown.contains("redacted"), "{shown}");
    for secret in ["a7a7", "167, 167", "A7A7"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let hex: String = g.key.expose().iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&hex), "{shown}");
}

/// The data path's index finds exactly the installed keys after installs, revocations and
/// purges, for every purpose; absent IDs (forged MKIs) miss.
#[test]
fn index_agrees_with_the_installed_keys() {
    let store = KeyStore::new(StoreConfig {
        off_network: true,
        ..StoreConfig::default()
    });
    let mut ids = Vec::new();
    for n in 0..300u32 {
        install_csk(&store, csk(n), &format!("sip:u{n}@x"), Timestamp(0));
        ids.push(csk(n));
    }
    let gmk = KeyId::from_parts(Purpose::Gmk, 0x0abc_def0);
    let mut k = KeyInstall::new(&[2; 16], gmk, &[2; 16], Service::Mcptt, Owner::new("g"), "");
    k.guk_id = Some(0x0000_1234);
    store.install(&k, Timestamp(0)).unwrap();
    for id in ids.iter().step_by(3) {
        store.revoke(*id).unwrap();
    }
    let snap = store.read();
    for (n, id) in ids.iter().enumerate() {
        let live = n % 3 != 0;
        assert_eq!(snap.entry_of(*id).map(|e| e.id), live.then_some(*id));
        assert_eq!(
            snap.entry(u64::from(id.get())).map(|e| e.id),
            live.then_some(*id)
        );
    }
    assert_eq!(snap.entry_of(gmk).map(|e| e.id), Some(gmk));
    let member = crate::keys::addressing::gmk_member(gmk.get(), 0x1234);
    assert_eq!(snap.entry(member).map(|e| e.id), Some(gmk));
    let mut x = 0x1234_5678_u32;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let id = x & 0x0fff_ffff | 0x3000_0000;
        assert!(snap.entry(u64::from(id)).is_none());
    }
    drop(snap);
    assert_eq!(store.len(), 201);
}

/// An install costs O(1) whatever the store holds: growing the index copies each entry a
/// bounded number of times, where copying the whole store per install would copy
/// n(n+1)/2 entries.
#[test]
fn installs_do_not_copy_the_store() {
    let store = KeyStore::new(StoreConfig::default());
    let n = 100_000u32;
    for i in 0..n {
        install_csk(&store, csk(i), &format!("u{i}"), Timestamp(0));
    }
    assert_eq!(store.len(), n as usize);
    assert!(
        store.index.copies() < 2 * u64::from(n),
        "{} copies for {n} installs",
        store.index.copies()
    );
    // A bulk install sizes the index once.
    let before = store.index.copies();
    let owners: Vec<String> = (0..1000).map(|i| format!("b{i}")).collect();
    let ks: Vec<KeyInstall<'_>> = (0..1000u32)
        .map(|i| {
            KeyInstall::new(
                &[9; 16],
                csk(n + i),
                &[1; 16],
                Service::Mcptt,
                Owner::new(owners[i as usize].as_str()),
                "srv",
            )
        })
        .collect();
    assert!(
        store
            .install_many(&ks, Timestamp(0))
            .iter()
            .all(Result::is_ok)
    );
    assert!(store.index.copies() - before <= u64::from(n) + 1000);
    assert_eq!(store.len(), n as usize + 1000);
}

/// Removal is per key too: purging expired keys looks only at keys whose deadline came.
#[test]
fn purge_takes_only_what_is_due() {
    let store = KeyStore::new(StoreConfig::default());
    for i in 0..10u32 {
        let mut k = KeyInstall::new(
            &[3; 16],
            csk(i),
            &[1; 16],
            Service::Mcptt,
            Owner::new(format!("e{i}")),
            "srv",
        );
        k.valid_until = Some(Timestamp(1000 + u64::from(i)));
        store.install(&k, Timestamp(0)).unwrap();
    }
    assert_eq!(store.purge(Timestamp(1004)).len(), 5);
    assert_eq!(store.len(), 5);
    assert_eq!(
        store.retired(u64::from(csk(0).get())),
        Some(Retired::Expired)
    );
    assert_eq!(store.retired(u64::from(csk(9).get())), None);
}

#[test]
fn validity_and_guk_id_are_checked_at_install() {
    let store = KeyStore::new(StoreConfig {
        off_network: true,
        ..StoreConfig::default()
    });
    let mut k = KeyInstall::new(
        &[3; 16],
        csk(1),
        &[1; 16],
        Service::Mcptt,
        Owner::new("a"),
        "s",
    );
    k.valid_until = Some(Timestamp(100));
    assert_eq!(
        store.install(&k, Timestamp(100)),
        Err(StoreError::AlreadyExpired)
    );
    k.valid_from = Some(Timestamp(300));
    k.valid_until = Some(Timestamp(200));
    assert_eq!(
        store.install(&k, Timestamp(0)),
        Err(StoreError::EmptyValidity)
    );
    let gmk = KeyId::from_parts(Purpose::Gmk, 0x0abc_def0);
    let mut g = KeyInstall::new(&[2; 16], gmk, &[2; 16], Service::Mcptt, Owner::new("g"), "");
    g.guk_id = Some(0x2000_1234);
    assert_eq!(
        store.install(&g, Timestamp(0)),
        Err(StoreError::BadGukId(0x2000_1234))
    );
    assert!(store.is_empty());
}

/// A key ID installed again after it left the store: with the same material it is refused
/// (its old packets could be replayed); with new material it continues above every index it
/// sent with, for every SSRC.
#[test]
fn a_reinstalled_key_id_never_reuses_an_index() {
    let store = KeyStore::new(StoreConfig::default());
    let id = csk(7);
    install_csk(&store, id, "a", Timestamp(0));
    let e = store
        .read()
        .entry_of(id)
        .map(|e| (e.tx.take(5), e.tx.take(5), e.tx.take(6)));
    assert_eq!(e, Some((Ok(0), Ok(1), Ok(0))));
    store.revoke(id).unwrap();
    assert_eq!(store.retired(u64::from(id.get())), Some(Retired::Revoked));
    assert_eq!(
        install_with(&store, id, 0x42, "a", Timestamp(0)),
        Err(StoreError::ReusedKey(id))
    );
    assert!(store.is_empty());
    install_with(&store, id, 0x43, "a", Timestamp(0)).unwrap();
    assert_eq!(store.retired(u64::from(id.get())), None);
    let snap = store.read();
    let e = snap.entry_of(id).unwrap();
    assert_eq!(e.tx.take(5), Ok(2));
    assert_eq!(e.tx.take(6), Ok(2));
    assert_eq!(e.tx.take(99), Ok(2));
}

/// An ID retired, reinstalled and retired again is remembered by its latest record: the
/// eviction of its first place in the queue leaves the record alone.
#[test]
fn a_record_outlives_its_earlier_place_in_the_queue() {
    let store = KeyStore::new(StoreConfig {
        retired_keys: 16,
        ..StoreConfig::default()
    });
    let k = csk(1);
    install_with(&store, k, 1, "k", Timestamp(0)).unwrap();
    store.revoke(k).unwrap();
    install_with(&store, k, 2, "k", Timestamp(0)).unwrap();
    for i in 0..15u32 {
        install_csk(&store, csk(100 + i), "o", Timestamp(0));
        store.revoke(csk(100 + i)).unwrap();
    }
    store.revoke(k).unwrap();
    // The queue passed its bound: K's first place was evicted, its record stays.
    assert_eq!(store.retired(u64::from(k.get())), Some(Retired::Revoked));
    assert_eq!(
        install_with(&store, k, 2, "k", Timestamp(0)),
        Err(StoreError::ReusedKey(k))
    );
}

/// A GMK that left is reported as such whether it is named by ID (protect) or by its
/// member MKI (unprotect), and its ID stays remembered for `generate` and reinstalls.
#[test]
fn a_retired_gmk_is_known_by_both_names() {
    let store = KeyStore::new(StoreConfig {
        off_network: true,
        ..StoreConfig::default()
    });
    let gmk = KeyId::from_parts(Purpose::Gmk, 0x0abc_def0);
    let mut k = KeyInstall::new(&[2; 16], gmk, &[2; 16], Service::Mcptt, Owner::new("g"), "");
    k.guk_id = Some(0x0000_1234);
    store.install(&k, Timestamp(0)).unwrap();
    store.revoke(gmk).unwrap();
    let member = crate::keys::addressing::gmk_member(gmk.get(), 0x1234);
    assert_eq!(store.retired(member), Some(Retired::Revoked));
    assert_eq!(store.retired(lookup_of_id(gmk)), Some(Retired::Revoked));
    // The same material under another GUK-ID derives other keys: a new key, not a reuse.
    k.guk_id = Some(0x0000_9999);
    assert!(store.install(&k, Timestamp(0)).is_ok());
}

/// A successor whose streams carry over past the soft limit reports them at install.
#[test]
fn a_successor_past_the_soft_limit_reports_its_streams() {
    let store = KeyStore::new(StoreConfig {
        index_soft_limit: 2,
        ..StoreConfig::default()
    });
    install_with(&store, csk(1), 1, "a", Timestamp(0)).unwrap();
    {
        let snap = store.read();
        let e = snap.entry_of(csk(1)).unwrap();
        for _ in 0..4 {
            let i = e.tx.take(8).unwrap();
            store.took_index(e, 8, i);
        }
    }
    assert!(matches!(
        store.poll_event(),
        Some(StoreEvent::IndexSoftLimit { index: 2, .. })
    ));
    install_with(&store, csk(2), 2, "a", Timestamp(0)).unwrap();
    assert_eq!(
        store.poll_event(),
        Some(StoreEvent::IndexSoftLimit {
            key_id: csk(2),
            ssrc: 8,
            index: 4
        })
    );
    assert_eq!(store.poll_event(), None);
}

#[test]
fn the_soft_limit_raises_one_event_per_stream() {
    let store = KeyStore::new(StoreConfig {
        index_soft_limit: 3,
        ..StoreConfig::default()
    });
    let id = csk(1);
    install_csk(&store, id, "a", Timestamp(0));
    let snap = store.read();
    let e = snap.entry_of(id).unwrap();
    for _ in 0..6 {
        for ssrc in [10, 11] {
            let i = e.tx.take(ssrc).unwrap();
            store.took_index(e, ssrc, i);
        }
    }
    drop(snap);
    let ev = |ssrc| StoreEvent::IndexSoftLimit {
        key_id: id,
        ssrc,
        index: 3,
    };
    assert_eq!(store.poll_event(), Some(ev(10)));
    assert_eq!(store.poll_event(), Some(ev(11)));
    assert_eq!(store.poll_event(), None);
    assert_eq!(store.events_raised(), 2);
}

/// What the store remembers of retired keys is bounded.
#[test]
fn retired_keys_are_bounded() {
    let store = KeyStore::new(StoreConfig {
        retired_keys: 64,
        ..StoreConfig::default()
    });
    for i in 0..1000u32 {
        install_csk(&store, csk(i), "a", Timestamp(0));
        store.revoke(csk(i)).unwrap();
    }
    assert!(store.control().retired_order.len() <= 64);
    assert!(store.retired.len() <= 64);
    assert_eq!(
        store.retired(u64::from(csk(999).get())),
        Some(Retired::Revoked)
    );
    assert!(store.is_empty());
    assert!(store.control().entries.is_empty() && store.control().bound.is_empty());
}

/// The entry every packet reads stays compact: the key schedule and checks up front, the
/// transmit slots after them, the regions for SPK trunks out of line.
#[test]
fn entries_stay_compact() {
    let tx = core::mem::size_of::<tx::TxIndices>();
    assert!(tx <= 96, "TxIndices is {tx} octets");
    let at = core::mem::offset_of!(KeyEntry, tx);
    assert!(at <= 768, "the hot prefix is {at} octets");
}
