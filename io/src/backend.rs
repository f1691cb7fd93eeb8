//! What every I/O backend does for a worker: receive a batch from the worker's sockets, send
//! a batch, count what happened. [`crate::uring`] and [`crate::mmsg`] implement it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::bufs::{Slab, SlotRef};
use crate::sock;

/// Which kernel interface moves the packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoKind {
    /// io_uring: multishot `recvmsg` on provided buffers, batched `sendmsg`.
    Uring,
    /// `recvmmsg` / `sendmmsg`.
    Mmsg,
}

impl IoKind {
    /// The configuration spelling.
    pub fn name(self) -> &'static str {
        match self {
            IoKind::Uring => "uring",
            IoKind::Mmsg => "mmsg",
        }
    }
}

impl fmt::Display for IoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A received datagram, or a run of coalesced (GRO) datagrams of `segment` octets each (the
/// last may be shorter), at `off..off + len` of [`Backend::rx_data`].
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// Index of the socket (leg) it arrived on.
    pub sock: u16,
    /// Where it came from.
    pub src: SocketAddr,
    /// Offset in the receive memory.
    pub off: usize,
    /// Length in octets.
    pub len: usize,
    /// Segment size: `len` unless GRO coalesced several datagrams.
    pub segment: usize,
}

/// A destination, converted once for the kernel.
#[derive(Clone, Copy)]
pub struct Dest {
    pub(crate) ss: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
    addr: SocketAddr,
}

impl Dest {
    /// `addr`, ready for the kernel.
    pub fn new(addr: SocketAddr) -> Dest {
        let (ss, len) = sock::to_sockaddr(addr);
        Dest { ss, len, addr }
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Debug for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dest({})", self.addr)
    }
}

impl PartialEq for Dest {
    fn eq(&self, other: &Dest) -> bool {
        self.addr == other.addr
    }
}

/// One message to send: the packets in `slots[first..first + count]` of the slot list passed
/// with it, all `seg_len` octets long but the last (which may be shorter), toward `dst` from
/// socket `sock`. With `count > 1` it goes as one GSO send where the socket allows it, else as
/// `count` datagrams.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing {
    /// Socket (leg) index.
    pub sock: u16,
    /// Destination.
    pub dst: Dest,
    /// First packet in the slot list.
    pub first: u32,
    /// Number of packets.
    pub count: u16,
    /// Length of each packet (the last may be shorter).
    pub seg_len: u16,
    /// Length of the last packet.
    pub last_len: u16,
}

/// Counters a backend keeps (written by its worker only).
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendStats {
    /// Receive system calls (or ring enters).
    pub recv_calls: u64,
    /// Send system calls (or send submissions).
    pub send_calls: u64,
    /// Datagrams the kernel took for sending.
    pub sent: u64,
    /// Datagrams a send refused (buffer full, network error).
    pub send_errors: u64,
    /// GSO sends (one call, several datagrams).
    pub gso_sends: u64,
    /// Times the kernel refused GSO and the socket went on without it.
    pub gso_fallbacks: u64,
    /// Receives that found no provided buffer (io_uring `ENOBUFS`).
    pub enobufs: u64,
    /// Multishot receives armed again after ending.
    pub rearms: u64,
    /// Receive errors.
    pub recv_errors: u64,
    /// Datagrams truncated on receive (larger than a buffer).
    pub truncated: u64,
}

/// A worker's I/O: its sockets, receive buffers and send path.
pub trait Backend: Send {
    /// Which interface this is.
    fn kind(&self) -> IoKind;

    /// Receives what is ready on the worker's sockets into `out` (cleared first, at most
    /// `out.capacity()` entries). When nothing is ready, waits up to `timeout` for a datagram
    /// or for the worker's waker. Sends issued before are submitted by this call too.
    /// Completions of earlier sends free their slots in `slab`.
    fn recv(
        &mut self,
        slab: &mut Slab,
        out: &mut Vec<Received>,
        timeout: Duration,
    ) -> io::Result<()>;

    /// The memory [`Received::off`] points into, valid until [`Backend::release`].
    fn rx_data(&self) -> &[u8];

    /// Gives the buffers of the last receive back for new datagrams.
    fn release(&mut self);

    /// Sends `msgs`, whose packets are the slab slots of `slots`. The backend frees each slot
    /// once the kernel has finished with it (at once for `sendmmsg`, at the completion for
    /// io_uring).
    fn send(&mut self, slab: &mut Slab, msgs: &[Outgoing], slots: &[SlotRef]);

    /// At shutdown: hands the kernel what is queued and waits (briefly) for the sends in
    /// flight to complete, counting them. Datagrams that arrive meanwhile are not taken.
    fn finish(&mut self, slab: &mut Slab) {
        let _ = slab;
    }

    /// The counters.
    fn stats(&self) -> BackendStats;

    /// Whether socket `sock` sends with GSO.
    fn gso(&self, sock: u16) -> bool;
}
