//! Helpers for the relay tests: a relay on loopback (or given addresses), keys on both
//! sides, libsrtp endpoints, and UDP sockets with timeouts.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mcx_engine::keys::{KeyId, Service};
use mcx_engine::store::SrtpInstall;
use mcx_engine::time::Timestamp;
use mcx_io::relay::{Control, IoChoice, LegConfig, Relay, RelayConfig, RouteSpec};

use crate::libsrtp::{Direction, Session};

/// A key both sides know: an SRTP master key and salt, named by `id` (also the MKI).
#[derive(Clone, Copy, Debug)]
pub struct HopKey {
    /// The key ID.
    pub id: u32,
    /// Master key.
    pub key: [u8; 16],
    /// Master salt.
    pub salt: [u8; 12],
}

impl HopKey {
    /// A key with `id` and material derived from it (distinct per ID).
    pub fn new(id: u32) -> HopKey {
        let b = id.to_be_bytes();
        let mut key = [0u8; 16];
        let mut salt = [0u8; 12];
        for (i, k) in key.iter_mut().enumerate() {
            *k = b[i % 4] ^ (i as u8).wrapping_mul(37) ^ 0x5a;
        }
        for (i, s) in salt.iter_mut().enumerate() {
            *s = b[i % 4] ^ (i as u8).wrapping_mul(11) ^ 0xa5;
        }
        HopKey { id, key, salt }
    }

    /// The key ID.
    pub fn key_id(&self) -> KeyId {
        KeyId::new(self.id).expect("key id")
    }

    /// Installs it in the relay's store.
    pub fn install(&self, c: &Control) {
        c.store()
            .install_srtp(
                &SrtpInstall::new(&self.key, &self.salt, self.key_id(), Service::Mcptt),
                Timestamp::now(),
            )
            .expect("install");
    }

    /// A libsrtp sender under this key (MKI = key ID).
    pub fn sender(&self) -> Session {
        Session::new(
            Direction::Outbound,
            &self.key,
            &self.salt,
            &self.id.to_be_bytes(),
            false,
        )
        .expect("libsrtp outbound")
    }

    /// A libsrtp receiver under this key.
    pub fn receiver(&self) -> Session {
        Session::new(
            Direction::Inbound,
            &self.key,
            &self.salt,
            &self.id.to_be_bytes(),
            false,
        )
        .expect("libsrtp inbound")
    }
}

/// A relay config with the legs `clients` and `core` at the given addresses.
pub fn config(io: IoChoice, workers: usize, clients: SocketAddr, core: SocketAddr) -> RelayConfig {
    let mut c = RelayConfig::default();
    c.relay.workers = workers;
    c.relay.io = io;
    c.relay.control = Default::default();
    c.relay.pin = false;
    c.legs = vec![
        LegConfig {
            name: "clients".into(),
            listen: clients,
        },
        LegConfig {
            name: "core".into(),
            listen: core,
        },
    ];
    c
}

/// A relay on loopback with kernel-chosen ports.
pub fn loopback_relay(io: IoChoice, workers: usize) -> Relay {
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    Relay::start(&config(io, workers, any, any)).expect("relay starts")
}

/// The bound address of leg `name`.
pub fn leg(c: &Control, name: &str) -> SocketAddr {
    c.legs()
        .into_iter()
        .find(|(n, _)| n == name)
        .expect("leg")
        .1
}

/// A UDP socket on `addr` with a short read timeout.
pub fn socket(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    s
}

/// A keyed route.
pub fn route(from: &str, k_in: &HopKey, to_leg: &str, to: SocketAddr, k_out: &HopKey) -> RouteSpec {
    RouteSpec {
        from_leg: from.into(),
        key_id: Some(k_in.key_id()),
        to_leg: to_leg.into(),
        to,
        key_id_out: Some(k_out.key_id()),
    }
}

/// Receives datagrams on `s` until `n` arrived or `wait` passed with nothing new.
pub fn collect(s: &UdpSocket, n: usize, wait: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let mut last = Instant::now();
    while got.len() < n && last.elapsed() < wait {
        if let Ok(len) = s.recv(&mut buf) {
            got.push(buf[..len].to_vec());
            last = Instant::now();
        }
    }
    got
}

/// [`floor_packet`]`(ssrc, seq, len)` protected by the libsrtp sender `tx`.
pub fn protected(tx: &mut Session, ssrc: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len + 64];
    buf[..len].copy_from_slice(&floor_packet(ssrc, seq, len));
    let n = tx.protect(&mut buf, len).expect("libsrtp protects");
    buf.truncate(n);
    buf
}

/// Polls `f` until it holds or `wait` passes.
pub fn eventually(wait: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < wait {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// An MCPTT floor-control APP packet (TS 24.380 §8.2) of `len` octets (multiple of 4, ≥ 12)
/// from `ssrc`, with `seq` in its body.
pub fn floor_packet(ssrc: u32, seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= 12 && len.is_multiple_of(4));
    let words = (len / 4 - 1) as u16;
    let mut p = vec![0x80, 0xcc];
    p.extend_from_slice(&words.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(b"MCPT");
    while p.len() < len {
        let i = p.len() as u32;
        p.extend_from_slice(&(seq ^ i.wrapping_mul(0x9e37_79b9)).to_be_bytes());
    }
    p
}

/// Sends `n` packets per SSRC from `from` (protected by libsrtp under `k_in`) to `to`, checks
/// that `at` receives each as a packet libsrtp unprotects under `k_out` to the same RTCP.
pub fn through(
    from: &std::net::UdpSocket,
    to: SocketAddr,
    at: &std::net::UdpSocket,
    k_in: &HopKey,
    k_out: &HopKey,
    ssrcs: &[u32],
    n: u32,
) {
    let mut tx = k_in.sender();
    let mut rx = k_out.receiver();
    let mut sent = Vec::new();
    for seq in 0..n {
        for &ssrc in ssrcs {
            let rtcp = floor_packet(ssrc, seq, 8 + 64);
            let mut buf = vec![0u8; 2048];
            buf[..rtcp.len()].copy_from_slice(&rtcp);
            let len = tx.protect(&mut buf, rtcp.len()).unwrap();
            assert_eq!(&buf[len - 4..len], &k_in.id.to_be_bytes());
            from.send_to(&buf[..len], to).unwrap();
            sent.push(rtcp);
        }
        if seq % 16 == 15 {
            // Stay well inside the sockets' buffers.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let got = collect(at, sent.len(), Duration::from_millis(800));
    assert_eq!(got.len(), sent.len(), "every packet arrives");
    let mut plain: Vec<Vec<u8>> = Vec::new();
    for mut p in got {
        assert_eq!(&p[p.len() - 4..], &k_out.id.to_be_bytes(), "egress MKI");
        let len = rx
            .unprotect(&mut p)
            .expect("libsrtp unprotects under the egress key");
        plain.push(p[..len].to_vec());
    }
    plain.sort();
    sent.sort();
    assert_eq!(plain, sent, "the same RTCP comes out");
}
