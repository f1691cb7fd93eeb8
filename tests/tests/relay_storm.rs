//! A storm of forged packets against the relay over loopback: every one dropped and counted
//! by reason, none forwarded, no receive stream made, the process's memory flat. In a file
//! of its own, so that no other test allocates in the process while memory is measured.

use std::time::Duration;

use mcx_io::relay::IoChoice;
use mcx_tests::relay::{
    HopKey, collect, eventually, leg, loopback_relay, protected, route, socket,
};

const WAIT: Duration = Duration::from_millis(800);

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// Forged, truncated, unknown-key and replayed packets: all dropped and counted, none
/// forwarded, no receive stream made, memory flat.
#[test]
fn a_storm_of_forged_packets_is_dropped_with_flat_memory() {
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let relay = loopback_relay(io, 2);
        let c = relay.control();
        let client = socket("127.0.0.1:0");
        let server = socket("127.0.0.1:0");
        let (csk, spk) = (HopKey::new(0x2000_0e01), HopKey::new(0x3000_0e01));
        csk.install(&c);
        spk.install(&c);
        c.add_route(&route(
            "clients",
            &csk,
            "core",
            server.local_addr().unwrap(),
            &spk,
        ))
        .unwrap();
        let clients = leg(&c, "clients");
        let mut rng = mcx_tests::rng::Rng::new(0x5eed);
        let mut tx = csk.sender();
        let good = protected(&mut tx, 0x0303_0303, 0, 72);
        client.send_to(&good, clients).unwrap();
        assert_eq!(collect(&server, 1, WAIT).len(), 1);
        let streams_before = c.store().info(csk.key_id()).unwrap().rx_streams;
        let storm = |count: usize, rng: &mut mcx_tests::rng::Rng| {
            for i in 0..count {
                let mut p = good.clone();
                match i % 5 {
                    // A flipped tag octet.
                    0 => p[40] ^= 1 << (i % 8),
                    // A new SSRC under the real key, forged tag: must not create a stream.
                    1 => {
                        p[4..8].copy_from_slice(&(rng.next_u64() as u32).to_be_bytes());
                    }
                    // Truncated.
                    2 => p.truncate(rng.below(p.len() as u64) as usize),
                    // An MKI no key has (routed nowhere).
                    3 => {
                        let n = p.len();
                        p[n - 4..].copy_from_slice(
                            &(0x2000_0000u32 | rng.next_u64() as u32 & 0x0fff_ffff).to_be_bytes(),
                        );
                    }
                    // The replay of the good packet.
                    _ => {}
                }
                client.send_to(&p, clients).unwrap();
                if i % 16 == 15 {
                    // Paced below what a debug build relays, so that the kernel drops none.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        storm(2_000, &mut rng);
        assert!(
            eventually(Duration::from_secs(3), || c.stats().received == 2_001),
            "{:?}",
            c.stats()
        );
        let before = rss_kib();
        storm(20_000, &mut rng);
        assert!(
            eventually(Duration::from_secs(20), || c.stats().received == 22_001),
            "{:?}",
            c.stats().received
        );
        let after = rss_kib();
        let s = c.stats();
        assert_eq!(s.sent, 1, "nothing forged is forwarded");
        assert_eq!(s.dropped.total(), 22_000, "{:?}", s.dropped);
        assert!(
            s.dropped.auth > 0
                && s.dropped.replay > 0
                && s.dropped.malformed > 0
                && s.dropped.no_route > 0,
            "{:?}",
            s.dropped
        );
        assert!(collect(&server, 1, Duration::from_millis(300)).is_empty());
        assert_eq!(
            c.store().info(csk.key_id()).unwrap().rx_streams,
            streams_before
        );
        assert!(
            after <= before + 512,
            "RSS grew from {before} KiB to {after} KiB"
        );
    }
}
