//! One-off datagrams for the command line (`mcx relay send` / `mcx relay recv`): a way to
//! put a packet through a running relay by hand and see what comes out.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Sends each datagram to `to`, from `from` (or a port the kernel picks). Returns the source
/// address used.
pub fn send(
    from: Option<SocketAddr>,
    to: SocketAddr,
    datagrams: &[Vec<u8>],
) -> io::Result<SocketAddr> {
    let local = from.unwrap_or_else(|| {
        if to.is_ipv4() {
            "0.0.0.0:0".parse().expect("address")
        } else {
            "[::]:0".parse().expect("address")
        }
    });
    let s = UdpSocket::bind(local)?;
    for d in datagrams {
        s.send_to(d, to)?;
    }
    s.local_addr()
}

/// Receives up to `count` datagrams on `on`, waiting at most `timeout` in all.
pub fn receive(
    on: SocketAddr,
    count: usize,
    timeout: Duration,
) -> io::Result<Vec<(SocketAddr, Vec<u8>)>> {
    let s = UdpSocket::bind(on)?;
    let end = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.len() < count {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left))?;
        match s.recv_from(&mut buf) {
            Ok((n, from)) => got.push((from, buf[..n].to_vec())),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
