use std::ffi::CStr;

use super::*;

#[test]
fn version_is_the_crate_version() {
    // SAFETY: mcx_version returns a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(mcx_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn status_numbers_are_pinned() {
    // Numbers are part of the ABI and must never change or be reused: this list only grows.
    let pinned = [
        (0, "MCX_OK"),
        (1, "MCX_INVALID_ARGUMENT"),
        (2, "MCX_INTERNAL"),
        (3, "MCX_BUFFER_TOO_SMALL"),
        (4, "MCX_UNKNOWN_KEY"),
        (5, "MCX_WRONG_PURPOSE"),
        (6, "MCX_REVOKED"),
        (7, "MCX_SUPERSEDED"),
        (8, "MCX_NOT_YET_VALID"),
        (9, "MCX_EXPIRED"),
        (10, "MCX_TOO_MANY_STREAMS"),
        (11, "MCX_MALFORMED"),
        (12, "MCX_AUTHENTICATION_FAILED"),
        (13, "MCX_REPLAYED"),
        (14, "MCX_TOO_OLD"),
        (15, "MCX_KEY_EXHAUSTED"),
        (16, "MCX_NOT_ENCRYPTED"),
        (17, "MCX_DUPLICATE_KEY_ID"),
        (18, "MCX_BAD_LENGTH"),
        (19, "MCX_NO_CS_ID"),
        (20, "MCX_OFF_NETWORK_DISABLED"),
        (21, "MCX_MISSING_GUK_ID"),
        (22, "MCX_RANDOM_UNAVAILABLE"),
        (23, "MCX_BUSY"),
        (24, "MCX_CLOSED"),
        (25, "MCX_NOT_READY"),
        (26, "MCX_LIMIT_EXCEEDED"),
        (27, "MCX_UNSUPPORTED"),
        (28, "MCX_UNSIGNED"),
        (29, "MCX_MALFORMED_XML"),
        (30, "MCX_KEY_REUSED"),
        (31, "MCX_RELAY_CONFIG"),
        (32, "MCX_RELAY_IO"),
        (33, "MCX_RELAY_REFUSED"),
    ];
    assert_eq!(status::ALL.len(), pinned.len());
    for ((s, _), (n, name)) in status::ALL.iter().zip(pinned) {
        assert_eq!(*s as i32, n);
        assert_eq!(format!("{s:?}"), name);
    }
    for (n, want) in [
        (0, "ok"),
        (12, "authentication failed"),
        (-5, "unknown status"),
        (29, "malformed XML document or XML security element"),
        (30, "key ID and material used before: install a fresh key"),
        (33, "relay operation refused"),
        (34, "unknown status"),
    ] {
        // SAFETY: mcx_status_str returns a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(mcx_status_str(n)) };
        assert_eq!(s.to_str().unwrap(), want);
    }
}

#[test]
fn header_is_current() {
    // The checked-in header must be what cbindgen generates from this crate now.
    let dir = env!("CARGO_MANIFEST_DIR");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).unwrap())
        .generate()
        .expect("cbindgen runs")
        .write(&mut out);
    let path = format!("{dir}/include/mcx.h");
    if std::env::var_os("MCX_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let have = std::fs::read(&path).unwrap_or_default();
    assert!(
        have == out,
        "ffi/include/mcx.h is stale: run `MCX_UPDATE_HEADER=1 cargo test -p mcx-ffi header_is_current` and commit it"
    );
}

/// One stream, one owner: the stream of a packet is the same whether it is read from the
/// RTCP packet before protect, from the SRTCP packet after it, through the Rust API or
/// through the C ABI, for every purpose (a GMK with its 8-octet MKI included), and the shard
/// rule agrees for any number of owners.
#[test]
fn every_surface_gives_a_packet_the_same_stream_and_owner() {
    use ::mcx_engine::StreamId;
    use ::mcx_engine::keys::{KeyId, Purpose};
    use ::mcx_engine::srtcp::MAX_SRTCP_TRAILER;
    use ::mcx_engine::store::{KeyStore, SrtpInstall, StoreConfig};
    use ::mcx_engine::time::Timestamp;
    use ::mcx_engine::{Engine, EngineConfig};
    let store = std::sync::Arc::new(KeyStore::new(StoreConfig {
        off_network: true,
        ..StoreConfig::default()
    }));
    let engine = Engine::new(std::sync::Arc::clone(&store), EngineConfig::default()).unwrap();
    let mut ids = Vec::new();
    for (n, p) in Purpose::ALL.into_iter().enumerate() {
        let id = KeyId::from_parts(p, 0x0123_0000 + n as u32);
        let master = [n as u8; 16];
        let mut k = SrtpInstall::new(&master, &[1; 12], id, ::mcx_engine::keys::Service::Mcptt);
        k.guk_id = (p == Purpose::Gmk).then_some(0x0000_4321);
        store.install_srtp(&k, Timestamp(1)).unwrap();
        ids.push(id);
    }
    let mut x = 0x2545_f491_u32;
    for round in 0..2000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let id = ids[round as usize % ids.len()];
        let ssrc = x;
        let mut buf = vec![0u8; 16 + MAX_SRTCP_TRAILER];
        buf[..4].copy_from_slice(&[0x80, 0xcc, 0x00, 0x03]);
        buf[4..8].copy_from_slice(&ssrc.to_be_bytes());
        buf[8..12].copy_from_slice(b"MCPT");
        let rtcp = buf[..16].to_vec();
        let sent = engine
            .srtcp_protect(id, &mut buf, 16, Timestamp(1))
            .unwrap();
        let srtcp = &buf[..sent.len];
        let want = StreamId::new(id, ssrc);
        assert_eq!(StreamId::of_rtcp(id, &rtcp), Some(want));
        assert_eq!(StreamId::of_srtcp(srtcp), Some(want), "{id}");
        for n in 1..=9u32 {
            // SAFETY: both buffers are readable for their lengths.
            let (a, b) = unsafe {
                (
                    mcx_stream_shard(srtcp.as_ptr(), srtcp.len(), n),
                    mcx_stream_shard_rtcp(id.get(), rtcp.as_ptr(), rtcp.len(), n),
                )
            };
            assert_eq!((a, b), (want.shard(n as usize) as u32, a), "{id} n={n}");
            assert!(a < n);
        }
    }
}
