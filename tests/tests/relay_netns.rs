//! The relay between two hosts: a client host, the relay's host and a server host, each a
//! network namespace this test makes, joined by veth pairs (10.211.1.0/24 on the client
//! side, 10.211.2.0/24 on the core side). libsrtp on the client protects under its CSK; the
//! relay re-keys to the SPK toward the server, and back — with io_uring and with mmsg.
//!
//! Needs root and iproute2 (`scripts/test.sh` installs it; CI runs as root). Without them
//! the test fails: a check that did not run is not a pass.

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use mcx_io::relay::{IoChoice, Relay};
use mcx_tests::relay::{HopKey, config, protected, route, through};

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e} (iproute2 is needed)"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The three namespaces; removed on drop.
struct Hosts {
    client: String,
    relay: String,
    server: String,
    /// The relay's end of the veth toward the server.
    relay_core_dev: String,
}

impl Hosts {
    /// Namespaces for test `tag` (0..=9) of this process.
    fn new(tag: u32) -> Hosts {
        let id = std::process::id() % 10_000 * 10 + tag;
        let h = Hosts {
            client: format!("mcxc{id}"),
            relay: format!("mcxr{id}"),
            server: format!("mcxs{id}"),
            relay_core_dev: format!("vsr{id}"),
        };
        for ns in [&h.client, &h.relay, &h.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let (vc, vcr) = (format!("vc{id}"), format!("vcr{id}"));
        let (vs, vsr) = (format!("vs{id}"), format!("vsr{id}"));
        ip(&[
            "link", "add", &vc, "netns", &h.client, "type", "veth", "peer", "name", &vcr, "netns",
            &h.relay,
        ]);
        ip(&[
            "link", "add", &vs, "netns", &h.server, "type", "veth", "peer", "name", &vsr, "netns",
            &h.relay,
        ]);
        for (ns, dev, addr) in [
            (&h.client, &vc, "10.211.1.2/24"),
            (&h.relay, &vcr, "10.211.1.1/24"),
            (&h.relay, &vsr, "10.211.2.1/24"),
            (&h.server, &vs, "10.211.2.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        ip(&[
            "-n",
            &h.client,
            "route",
            "add",
            "default",
            "via",
            "10.211.1.1",
        ]);
        ip(&[
            "-n",
            &h.server,
            "route",
            "add",
            "default",
            "via",
            "10.211.2.1",
        ]);
        h
    }

    /// Runs `f` on a thread that has entered namespace `ns`; sockets it makes stay there.
    fn within<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = File::open(&path).expect("namespace file");
            // SAFETY: setns on a namespace descriptor this thread opened; it changes only
            // this thread's network namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for ns in [&self.client, &self.relay, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn bound(ns: &str, addr: &'static str) -> UdpSocket {
    Hosts::within(ns, move || {
        let s = UdpSocket::bind(addr).expect("bind in namespace");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s
    })
}

#[test]
fn client_host_and_core_host_through_the_relay() {
    let hosts = Hosts::new(0);
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let clients: SocketAddr = "10.211.1.1:40000".parse().unwrap();
        let core: SocketAddr = "10.211.2.1:40002".parse().unwrap();
        let cfg = config(io, 2, clients, core);
        let relay: Relay = Hosts::within(&hosts.relay, move || Relay::start(&cfg).expect("relay"));
        let c = relay.control();
        let client = bound(&hosts.client, "10.211.1.2:0");
        let server = bound(&hosts.server, "10.211.2.2:0");
        let (csk_up, spk_up) = (HopKey::new(0x2000_1101), HopKey::new(0x3000_1101));
        let (spk_down, csk_down) = (HopKey::new(0x3000_1102), HopKey::new(0x2000_1102));
        for k in [&csk_up, &spk_up, &spk_down, &csk_down] {
            k.install(&c);
        }
        c.add_route(&route(
            "clients",
            &csk_up,
            "core",
            server.local_addr().unwrap(),
            &spk_up,
        ))
        .unwrap();
        c.add_route(&route(
            "core",
            &spk_down,
            "clients",
            client.local_addr().unwrap(),
            &csk_down,
        ))
        .unwrap();
        through(
            &client,
            clients,
            &server,
            &csk_up,
            &spk_up,
            &[0x5151_0001, 0x5151_0002],
            50,
        );
        through(
            &server,
            core,
            &client,
            &spk_down,
            &csk_down,
            &[0x5252_0001],
            50,
        );
        // The far side sees the relay's core address as the source, not the client's.
        let mut tx = csk_up.sender();
        let buf = protected(&mut tx, 0x5151_0003, 0, 72);
        client.send_to(&buf, clients).unwrap();
        let mut got = [0u8; 2048];
        let (_, from) = server.recv_from(&mut got).expect("relayed");
        assert_eq!(from, core);
        let s = relay.shutdown();
        assert_eq!(s.dropped.total(), 0, "{:?}", s.dropped);
        assert_eq!(s.sent, 151);
    }
    drop(hosts);
}

/// A device the kernel will not put a GSO train through (its MTU is below the segment size:
/// `EINVAL`): the relay turns GSO off for that socket, sends the refused train's packets one
/// by one, and loses none.
#[test]
fn a_device_that_refuses_gso_gets_single_datagrams() {
    let hosts = Hosts::new(1);
    // An MTU below the packets' size: the kernel fragments single datagrams but refuses a
    // GSO train (EINVAL).
    ip(&[
        "-n",
        &hosts.relay,
        "link",
        "set",
        &hosts.relay_core_dev,
        "mtu",
        "100",
    ]);
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let clients: SocketAddr = "10.211.1.1:40000".parse().unwrap();
        let core: SocketAddr = "10.211.2.1:40002".parse().unwrap();
        let cfg = config(io, 1, clients, core);
        let relay: Relay = Hosts::within(&hosts.relay, move || Relay::start(&cfg).expect("relay"));
        let c = relay.control();
        let client = bound(&hosts.client, "10.211.1.2:0");
        let server = bound(&hosts.server, "10.211.2.2:0");
        let (csk, spk) = (HopKey::new(0x2000_1201), HopKey::new(0x3000_1201));
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
        // Bursts of equal-sized packets to one destination: GSO trains, refused by the device.
        let mut tx = csk.sender();
        let mut rx = spk.receiver();
        let mut sent = 0;
        let mut got = 0;
        let mut buf = [0u8; 2048];
        for burst in 0..20u32 {
            for i in 0..16u32 {
                let p = protected(&mut tx, 0x5353_0001, burst * 16 + i, 72);
                client.send_to(&p, clients).unwrap();
                sent += 1;
            }
            while let Ok(n) = server.recv(&mut buf) {
                assert!(rx.unprotect(&mut buf[..n]).is_ok());
                got += 1;
                if got == sent {
                    break;
                }
            }
        }
        assert_eq!(
            got,
            sent,
            "{io:?}: every packet arrives: {:?}",
            c.stats().workers
        );
        let s = relay.shutdown();
        let fallbacks: u64 = s.workers.iter().map(|w| w.gso_fallbacks).sum();
        let trains: u64 = s.workers.iter().map(|w| w.gso_sends).sum();
        assert!(
            fallbacks >= 1,
            "{io:?}: GSO was refused and turned off ({s:?})"
        );
        assert_eq!(trains, 0, "{io:?}: no train got through the device");
    }
    drop(hosts);
}
