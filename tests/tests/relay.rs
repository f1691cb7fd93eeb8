//! The relay over real sockets on loopback: libsrtp protects under the ingress key, the relay
//! unprotects and re-protects, libsrtp unprotects under the egress key — both directions,
//! with `io = "uring"` and `io = "mmsg"`; replays handed between workers; a key revoked and a
//! route removed mid-stream; forged traffic; the control socket's refusals.

use std::net::SocketAddr;
use std::time::Duration;

use mcx_io::relay::{IoChoice, Relay, RelayError, RouteSpec};
use mcx_tests::relay::{
    HopKey, collect, config, eventually, leg, loopback_relay, protected, route, socket, through,
};

const WAIT: Duration = Duration::from_millis(800);

/// A client (CSK) and the core (SPK) on both sides of a relay, both directions routed.
struct Hop {
    relay: Relay,
    client: std::net::UdpSocket,
    server: std::net::UdpSocket,
    csk_up: HopKey,
    spk_up: HopKey,
    spk_down: HopKey,
    csk_down: HopKey,
}

fn hop(io: IoChoice, workers: usize) -> Hop {
    hop_on(loopback_relay(io, workers))
}

fn hop_on(relay: Relay) -> Hop {
    let c = relay.control();
    let client = socket("127.0.0.1:0");
    let server = socket("127.0.0.1:0");
    // TS 33.180: a CSK names the client's stream toward the CS proxy, an SPK the hop to the
    // server. Upstream: CSK in, SPK out; downstream: SPK in, CSK out.
    let (csk_up, spk_up) = (HopKey::new(0x2000_0a01), HopKey::new(0x3000_0b01));
    let (spk_down, csk_down) = (HopKey::new(0x3000_0b02), HopKey::new(0x2000_0a02));
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
    Hop {
        relay,
        client,
        server,
        csk_up,
        spk_up,
        spk_down,
        csk_down,
    }
}

fn both_directions(io: IoChoice, workers: usize) {
    check_both_directions(io, hop(io, workers));
}

fn check_both_directions(io: IoChoice, h: Hop) {
    let c = h.relay.control();
    assert_eq!(
        c.io().0.name(),
        if io == IoChoice::Uring {
            "uring"
        } else {
            "mmsg"
        }
    );
    let clients = leg(&c, "clients");
    let core = leg(&c, "core");
    through(
        &h.client,
        clients,
        &h.server,
        &h.csk_up,
        &h.spk_up,
        &[0x1111_0001, 0x1111_0002, 0x1111_0003],
        60,
    );
    through(
        &h.server,
        core,
        &h.client,
        &h.spk_down,
        &h.csk_down,
        &[0x2222_0001, 0x2222_0002],
        60,
    );
    // The counters are published at the end of each turn, and a send counts at its
    // completion (io_uring reaps it in the next turn).
    assert!(
        eventually(WAIT, || c.stats().sent == 300),
        "{:?}",
        c.stats()
    );
    let s = c.stats();
    assert_eq!(s.received, 300);
    assert_eq!(s.dropped.total(), 0, "{:?}", s.dropped);
    assert_eq!(s.legs[0].received, 180);
    assert_eq!(s.legs[1].sent, 180);
    assert_eq!(s.legs[1].received, 120);
    assert_eq!(s.legs[0].sent, 120);
    let fin = h.relay.shutdown();
    assert_eq!(fin.sent, 300);
}

#[test]
fn libsrtp_in_libsrtp_out_both_directions_uring() {
    both_directions(IoChoice::Uring, 2);
}

#[test]
fn libsrtp_in_libsrtp_out_both_directions_mmsg() {
    both_directions(IoChoice::Mmsg, 2);
}

#[test]
fn one_worker_and_four_workers() {
    both_directions(IoChoice::Mmsg, 1);
    both_directions(IoChoice::Uring, 4);
}

/// A replay that the kernel steers to another worker (it comes from other source ports) is
/// handed to the stream's owner and refused there.
fn replay_from_other_ports(io: IoChoice) {
    let h = hop(io, 4);
    let c = h.relay.control();
    let clients = leg(&c, "clients");
    let mut tx = h.csk_up.sender();
    let buf = protected(&mut tx, 0x0bad_cafe, 1, 72);
    h.client.send_to(&buf, clients).unwrap();
    assert_eq!(
        collect(&h.server, 1, WAIT).len(),
        1,
        "the original goes through"
    );
    let ports: Vec<_> = (0..24).map(|_| socket("127.0.0.1:0")).collect();
    for s in &ports {
        s.send_to(&buf, clients).unwrap();
    }
    assert!(
        collect(&h.server, 1, Duration::from_millis(400)).is_empty(),
        "no replay forwarded"
    );
    assert!(eventually(WAIT, || c.stats().dropped.replay == 24));
    let s = c.stats();
    let handed: u64 = s.workers.iter().map(|w| w.handed_off).sum();
    let taken: u64 = s.workers.iter().map(|w| w.taken_over).sum();
    assert!(
        handed > 0,
        "24 source ports over 4 workers: some land off the owner"
    );
    assert_eq!(handed, taken);
    assert_eq!(s.sent, 1);
}

#[test]
fn a_replay_from_a_second_source_port_is_refused_uring() {
    replay_from_other_ports(IoChoice::Uring);
}

#[test]
fn a_replay_from_a_second_source_port_is_refused_mmsg() {
    replay_from_other_ports(IoChoice::Mmsg);
}

fn send_one(h: &Hop, to: SocketAddr, tx: &mut mcx_tests::libsrtp::Session, seq: u32) {
    let buf = protected(tx, 0x0101_0101, seq, 72);
    h.client.send_to(&buf, to).unwrap();
}

#[test]
fn a_key_revoked_mid_stream_stops_the_next_packet() {
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let h = hop(io, 2);
        let c = h.relay.control();
        let clients = leg(&c, "clients");
        let mut tx = h.csk_up.sender();
        for seq in 0..10 {
            send_one(&h, clients, &mut tx, seq);
        }
        assert_eq!(collect(&h.server, 10, WAIT).len(), 10);
        c.revoke(h.csk_up.key_id()).unwrap();
        send_one(&h, clients, &mut tx, 10);
        assert!(collect(&h.server, 1, Duration::from_millis(400)).is_empty());
        assert!(
            eventually(WAIT, || c.stats().dropped.key_state == 1),
            "{:?}",
            c.stats().dropped
        );
        // The egress key revoked: protect fails, nothing leaves.
        let mut tx2 = h.spk_down.sender();
        c.revoke(h.csk_down.key_id()).unwrap();
        let buf = protected(&mut tx2, 0x0202_0202, 0, 72);
        h.server.send_to(&buf, leg(&c, "core")).unwrap();
        assert!(collect(&h.client, 1, Duration::from_millis(400)).is_empty());
        assert!(eventually(WAIT, || c.stats().dropped.protect == 1));
        assert_eq!(c.stats().sent, 10);
    }
}

#[test]
fn a_removed_route_forwards_nothing_more() {
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let h = hop(io, 2);
        let c = h.relay.control();
        let clients = leg(&c, "clients");
        let mut tx = h.csk_up.sender();
        send_one(&h, clients, &mut tx, 0);
        assert_eq!(collect(&h.server, 1, WAIT).len(), 1);
        c.remove_route("clients", Some(h.csk_up.key_id())).unwrap();
        assert!(
            c.remove_route("clients", Some(h.csk_up.key_id())).is_err(),
            "gone already"
        );
        send_one(&h, clients, &mut tx, 1);
        assert!(collect(&h.server, 1, Duration::from_millis(400)).is_empty());
        assert!(eventually(WAIT, || c.stats().dropped.no_route == 1));
        // Back again: the stream goes on where it was (the window kept its state).
        c.add_route(&route(
            "clients",
            &h.csk_up,
            "core",
            h.server.local_addr().unwrap(),
            &h.spk_up,
        ))
        .unwrap();
        send_one(&h, clients, &mut tx, 2);
        assert_eq!(collect(&h.server, 1, WAIT).len(), 1);
    }
}

#[test]
fn control_lines_that_are_wrong_change_nothing() {
    let h = hop(IoChoice::Mmsg, 1);
    let c = h.relay.control();
    let routes = c.routes().len();
    let keys = c.store().len();
    for (line, says) in [
        ("not json", "not a JSON object"),
        ("[1,2]", "not a JSON object"),
        (r#"{"op":"fly"}"#, "unknown op"),
        (r#"{"nop":1}"#, "\"op\""),
        (
            r#"{"op":"route.add","from_leg":"clients","key_id":"2000aaaa","to_leg":"core","to":"127.0.0.1:9","key_id_out":"3000bb01"}"#,
            "no installed key 2000aaaa",
        ),
        (
            r#"{"op":"route.add","from_leg":"nowhere","key_id":"20000a01","to_leg":"core","to":"127.0.0.1:9","key_id_out":"30000b01"}"#,
            "no leg named",
        ),
        (
            r#"{"op":"route.add","from_leg":"clients","key_id":"20000a01","to_leg":"core","to":"127.0.0.1:9","key_id_out":"30000b01"}"#,
            "exists",
        ),
        (
            r#"{"op":"route.add","from_leg":"clients","key_id":"20000a01","to_leg":"core","to":"[::1]:9","key_id_out":"30000b01"}"#,
            "address family",
        ),
        (
            r#"{"op":"route.add","from_leg":"clients","key_id":"20000a01","to_leg":"core","to":"here"}"#,
            "IP:PORT",
        ),
        (
            r#"{"op":"route.add","from_leg":"clients","key_id":"20000a01","to_leg":"core","to":"127.0.0.1:9"}"#,
            "both",
        ),
        (
            r#"{"op":"key.install_srtp","key_id":"2000zz01","master_key":"00","master_salt":"00"}"#,
            "not hex",
        ),
        (
            r#"{"op":"key.install_srtp","key_id":"20000c01","master_key":"0011","master_salt":"00"}"#,
            "",
        ),
        (
            r#"{"op":"key.install","key":"00112233445566778899aabbccddeeff","key_id":"20000c02","rand":"00","service":"mcfax","owner":"sip:a@b","peer":"sip:s@b"}"#,
            "mcfax",
        ),
        (r#"{"op":"key.revoke","key_id":"20000c09"}"#, ""),
        (
            r#"{"op":"route.remove","from_leg":"core","key_id":"20000c09"}"#,
            "no such route",
        ),
    ] {
        let reply: serde_json::Value = serde_json::from_str(&c.handle_line(line)).unwrap();
        assert_eq!(reply["ok"], false, "{line}: {reply}");
        let e = reply["error"].as_str().unwrap();
        assert!(e.contains(says), "{line}: {e}");
        assert!(!e.contains("00112233"), "no key material in a reply");
    }
    assert_eq!(c.routes().len(), routes);
    assert_eq!(c.store().len(), keys);
    // Still running: a packet goes through.
    let mut tx = h.csk_up.sender();
    send_one(&h, leg(&c, "clients"), &mut tx, 0);
    assert_eq!(collect(&h.server, 1, WAIT).len(), 1);
    assert!(eventually(WAIT, || c.stats().sent == 1));
    let ok: serde_json::Value = serde_json::from_str(&c.handle_line(r#"{"op":"stats"}"#)).unwrap();
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["sent"], 1);
    assert_eq!(ok["io"], "mmsg");
}

#[test]
fn the_control_socket_serves_lines_and_refuses_long_ones() {
    let dir = std::env::temp_dir().join(format!("mcx-relay-test-{}", std::process::id()));
    let path = dir.join("relay.sock");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut cfg = config(IoChoice::Mmsg, 1, any, any);
    cfg.relay.control = path.clone();
    let relay = Relay::start(&cfg).unwrap();
    let k = HopKey::new(0x2000_0d01);
    let reply = mcx_io::control::request(
        &path,
        &format!(
            r#"{{"op":"key.install_srtp","key_id":"{:08x}","master_key":"{}","master_salt":"{}"}}"#,
            k.id,
            hex::encode(k.key),
            hex::encode(k.salt)
        ),
    )
    .unwrap();
    assert_eq!(reply, r#"{"key_id":"20000d01","ok":true}"#);
    assert_eq!(relay.control().store().len(), 1);
    let long = format!(
        r#"{{"op":"ping","pad":"{}"}}"#,
        "x".repeat(mcx_io::control::MAX_LINE)
    );
    let reply = mcx_io::control::request(&path, &long).unwrap();
    assert!(reply.contains("longer than"), "{reply}");
    // A second relay on the same control path is refused; the first goes on.
    let mut cfg2 = config(IoChoice::Mmsg, 1, any, any);
    cfg2.relay.control = path.clone();
    let e = Relay::start(&cfg2).unwrap_err();
    assert!(e.to_string().contains("another relay"), "{e}");
    let reply = mcx_io::control::request(&path, r#"{"op":"ping"}"#).unwrap();
    assert_eq!(reply, r#"{"ok":true}"#);
    drop(relay);
    assert!(!path.exists(), "the socket file goes with the relay");
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn a_taken_address_is_a_bind_error() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let cfg = config(IoChoice::Mmsg, 2, taken.local_addr().unwrap(), any);
    match Relay::start(&cfg) {
        Err(RelayError::Bind { leg, .. }) => assert_eq!(leg, "clients"),
        other => panic!("expected a bind error, got {other:?}"),
    }
}

#[test]
fn a_plain_route_forwards_unchanged() {
    let relay = loopback_relay(IoChoice::Mmsg, 1);
    let c = relay.control();
    let a = socket("127.0.0.1:0");
    let b = socket("127.0.0.1:0");
    c.add_route(&RouteSpec {
        from_leg: "clients".into(),
        key_id: None,
        to_leg: "core".into(),
        to: b.local_addr().unwrap(),
        key_id_out: None,
    })
    .unwrap();
    for i in 0..20u8 {
        a.send_to(&[i; 40], leg(&c, "clients")).unwrap();
    }
    let got = collect(&b, 20, WAIT);
    assert_eq!(got.len(), 20);
    assert!(
        got.iter()
            .all(|p| p.len() == 40 && p.iter().all(|&x| x == p[0]))
    );
}

#[test]
fn with_a_batch_wait_and_polling_the_relay_is_the_same() {
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut cfg = config(io, 2, any, any);
        cfg.relay.batch_wait_us = 200;
        cfg.relay.poll_us = 300;
        check_both_directions(io, hop_on(Relay::start(&cfg).unwrap()));
    }
}

/// A client that sends a GSO train (one `sendmsg`, `UDP_SEGMENT`): on loopback the relay's
/// GRO socket receives it as one coalesced datagram, splits it, and relays every packet.
#[test]
fn a_coalesced_receive_is_split_into_its_packets() {
    use std::os::fd::AsRawFd;
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let h = hop(io, 1);
        let c = h.relay.control();
        let clients = leg(&c, "clients");
        let mut tx = h.csk_up.sender();
        let mut pkts = Vec::new();
        for seq in 0..8 {
            let buf = protected(&mut tx, 0x0c0c_0001, seq, 72);
            pkts.push(buf);
        }
        let seg = pkts[0].len();
        assert!(pkts.iter().all(|p| p.len() == seg));
        let mut iov: Vec<libc::iovec> = pkts
            .iter_mut()
            .map(|p| libc::iovec {
                iov_base: p.as_mut_ptr().cast(),
                iov_len: p.len(),
            })
            .collect();
        let std::net::SocketAddr::V4(to) = clients else {
            panic!("v4 leg")
        };
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: to.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(to.ip().octets()),
            },
            sin_zero: [0; 8],
        };
        #[repr(C, align(8))]
        struct Cmsg([u8; 24]);
        let mut cm = Cmsg([0; 24]);
        // SAFETY: plain old data; all-zero is valid.
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        m.msg_name = (&raw const sin) as *mut _;
        m.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        m.msg_iov = iov.as_mut_ptr();
        m.msg_iovlen = iov.len();
        m.msg_control = cm.0.as_mut_ptr().cast();
        // SAFETY: CMSG_* walk the 24-octet control buffer set above, which holds one cmsg
        // with a u16 (UDP_SEGMENT = 103).
        unsafe {
            m.msg_controllen = libc::CMSG_SPACE(2) as usize;
            let c = libc::CMSG_FIRSTHDR(&m);
            (*c).cmsg_level = libc::SOL_UDP;
            (*c).cmsg_type = 103;
            (*c).cmsg_len = libc::CMSG_LEN(2) as usize;
            libc::CMSG_DATA(c).cast::<u16>().write_unaligned(seg as u16);
        }
        // SAFETY: `m` points at live iovecs, address and control buffer.
        let n = unsafe { libc::sendmsg(h.client.as_raw_fd(), &m, 0) };
        assert_eq!(n as usize, seg * 8, "{}", std::io::Error::last_os_error());
        let got = collect(&h.server, 8, WAIT);
        assert_eq!(got.len(), 8, "{io:?}: every packet of the train");
        let mut rx = h.spk_up.receiver();
        for mut p in got {
            assert!(rx.unprotect(&mut p).is_ok());
        }
        assert!(
            eventually(WAIT, || c.stats().workers[0].coalesced == 8),
            "{io:?}: {:?}",
            c.stats().workers[0]
        );
    }
}

#[test]
fn ipv6_legs_relay_too() {
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let any: SocketAddr = "[::1]:0".parse().unwrap();
        let relay = Relay::start(&config(io, 2, any, any)).unwrap();
        let c = relay.control();
        let client = socket("[::1]:0");
        let server = socket("[::1]:0");
        let (csk, spk) = (HopKey::new(0x2000_0601), HopKey::new(0x3000_0601));
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
        through(
            &client,
            leg(&c, "clients"),
            &server,
            &csk,
            &spk,
            &[0x0606_0001, 0x0606_0002],
            20,
        );
        let v4 = route(
            "clients",
            &spk,
            "core",
            "127.0.0.1:9".parse().unwrap(),
            &csk,
        );
        assert!(
            c.add_route(&v4).is_err(),
            "an IPv6 leg cannot send to an IPv4 address"
        );
    }
}

/// Packets of 1,100 octets in bursts of 64 all arrive, and GSO stays on (a train is capped
/// below the 64 KiB a datagram can carry, so the kernel never refuses one for its size).
#[test]
fn long_packets_in_bursts_keep_gso() {
    for io in [IoChoice::Uring, IoChoice::Mmsg] {
        let h = hop(io, 1);
        let c = h.relay.control();
        let clients = leg(&c, "clients");
        let mut tx = h.csk_up.sender();
        let mut sent = 0;
        let mut got = 0;
        let mut buf = [0u8; 2048];
        for burst in 0..4u32 {
            for i in 0..64u32 {
                let p = protected(&mut tx, 0x0d0d_0001, burst * 64 + i, 1100);
                h.client.send_to(&p, clients).unwrap();
                sent += 1;
            }
            while got < sent && h.server.recv(&mut buf).is_ok() {
                got += 1;
            }
        }
        assert_eq!(got, sent, "{io:?}");
        assert!(eventually(WAIT, || c.stats().sent == sent as u64));
        let w = &c.stats().workers[0];
        assert_eq!(w.gso_fallbacks, 0, "{io:?}: {w:?}");
    }
}

#[test]
fn the_control_socket_leaves_other_files_alone_and_stops_without_its_file() {
    let dir = std::env::temp_dir().join(format!("mcx-relay-ctl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-a-socket");
    std::fs::write(&path, "keep me").unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut cfg = config(IoChoice::Mmsg, 1, any, any);
    cfg.relay.control = path.clone();
    let e = Relay::start(&cfg).unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    // A relay whose socket file was removed under it still stops.
    let sock = dir.join("relay.sock");
    cfg.relay.control = sock.clone();
    let relay = Relay::start(&cfg).unwrap();
    std::fs::remove_file(&sock).unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(relay);
        let _ = done_tx.send(());
    });
    assert!(
        done_rx.recv_timeout(Duration::from_secs(5)).is_ok(),
        "the relay stopped"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
