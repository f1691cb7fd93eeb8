//! UDP sockets for the relay: `SO_REUSEPORT` binds (one socket per worker and leg), address
//! conversions, and the GSO/GRO probes.
//!
//! GSO (`UDP_SEGMENT`, Linux 4.18) lets one `sendmsg` carry many equal-sized datagrams to one
//! destination; GRO (`UDP_GRO`, Linux 5.0) hands several arriving datagrams of one flow to
//! one receive call, with their segment size in a control message. Either may be refused by
//! the kernel or by a device: a probe at start-up says whether the option is accepted, and a
//! send that fails under GSO with `EIO` (no checksum offload), `EINVAL` or `EMSGSIZE` (a
//! segment over the device's MTU) turns GSO off for that socket and is retried
//! datagram by datagram (the approach quinn-udp takes).

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `UDP_SEGMENT` (linux/udp.h): the GSO segment size of a send.
pub(crate) const UDP_SEGMENT: libc::c_int = 103;
/// `UDP_GRO` (linux/udp.h): receive coalesced datagrams with their segment size.
pub(crate) const UDP_GRO: libc::c_int = 104;
/// The most segments one GSO send may carry (the kernel's `UDP_MAX_SEGMENTS` is 64 on the
/// oldest kernels that have GSO).
pub(crate) const MAX_GSO_SEGMENTS: usize = 64;

/// Whether `errno` from a GSO send means the kernel or the device will not take GSO trains
/// on this path: `EIO` (no transmit checksum offload, older kernels), `EINVAL` or `EMSGSIZE`
/// (a segment larger than the device's MTU). The packets then go one by one.
pub(crate) fn gso_refused(errno: i32) -> bool {
    matches!(errno, libc::EIO | libc::EINVAL | libc::EMSGSIZE)
}

/// A bound UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    fd: OwnedFd,
    local: SocketAddr,
    /// Whether the kernel accepted `UDP_SEGMENT` on this socket.
    pub(crate) gso: bool,
    /// Whether `UDP_GRO` is on for this socket.
    pub(crate) gro: bool,
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What a socket should try to turn on.
#[derive(Clone, Copy, Debug)]
pub struct SocketOptions {
    /// Bind with `SO_REUSEPORT`, so that each worker has its own socket on the address.
    pub reuse_port: bool,
    /// Try GSO on send.
    pub gso: bool,
    /// Try GRO on receive.
    pub gro: bool,
    /// `SO_RCVBUF` / `SO_SNDBUF` in octets (0: the kernel's default).
    pub buffer: usize,
}

impl UdpSocket {
    /// A non-blocking UDP socket bound to `addr`.
    pub fn bind(addr: SocketAddr, opts: SocketOptions) -> io::Result<UdpSocket> {
        let family = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                family,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_UDP,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        if opts.reuse_port {
            setsockopt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        if opts.buffer > 0 {
            let n = opts.buffer.min(i32::MAX as usize) as libc::c_int;
            // Best effort: the kernel caps these at net.core.[rw]mem_max.
            let _ = setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, n);
            let _ = setsockopt(raw, libc::SOL_SOCKET, libc::SO_SNDBUF, n);
        }
        if family == libc::AF_INET6 {
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        let (sa, len) = to_sockaddr(addr);
        // SAFETY: `sa` is a valid sockaddr of `len` octets.
        let rc = unsafe { libc::bind(raw, (&raw const sa).cast(), len) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let local = local_addr(raw)?;
        let gso = opts.gso && probe_gso(raw);
        let gro = opts.gro && setsockopt(raw, libc::SOL_UDP, UDP_GRO, 1).is_ok();
        Ok(UdpSocket {
            fd,
            local,
            gso,
            gro,
        })
    }

    /// The address the socket is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether sends may use GSO.
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Whether receives may carry coalesced datagrams.
    pub fn gro(&self) -> bool {
        self.gro
    }
}

/// Whether the kernel knows `UDP_SEGMENT` on this socket: reading it back succeeds.
fn probe_gso(fd: RawFd) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for the kernel to write.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_UDP,
            UDP_SEGMENT,
            (&raw mut v).cast(),
            &raw mut len,
        )
    };
    rc == 0
}

pub(crate) fn setsockopt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a c_int that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const value).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    let mut sa = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `sa` has room for any socket address; the kernel writes at most `len` octets.
    let rc = unsafe { libc::getsockname(fd, sa.as_mut_ptr().cast(), &raw mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zero-initialised and filled by the kernel.
    let sa = unsafe { sa.assume_init() };
    from_sockaddr(&sa).ok_or_else(|| io::Error::other("unexpected address family"))
}

/// `addr` as a `sockaddr_storage` and its length.
pub(crate) fn to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage, which is suitably aligned.
            unsafe { (&raw mut ss).cast::<libc::sockaddr_in>().write(sin) };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage, which is suitably aligned.
            unsafe { (&raw mut ss).cast::<libc::sockaddr_in6>().write(sin6) };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The address in `ss`, if it is IPv4 or IPv6.
pub(crate) fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The segment size in a received message's control data (`UDP_GRO`), if any.
///
/// # Safety
/// `msg` must describe control data the kernel filled (`msg_control`, `msg_controllen`).
pub(crate) unsafe fn gro_segment(msg: &libc::msghdr) -> Option<usize> {
    // SAFETY: the caller guarantees `msg`'s control buffer is valid; the CMSG macros walk it
    // within `msg_controllen`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == UDP_GRO {
                let v = libc::CMSG_DATA(c).cast::<libc::c_int>().read_unaligned();
                return usize::try_from(v).ok().filter(|&v| v > 0);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// Room for one `UDP_SEGMENT` or `UDP_GRO` control message (a c_int), 8-aligned.
pub(crate) const CMSG_SPACE_INT: usize = 24;

/// Writes a `UDP_SEGMENT` control message for `segment` into `buf` and points `msg` at it.
///
/// # Safety
/// `buf` must outlive every use of `msg`.
pub(crate) unsafe fn set_gso_cmsg(msg: &mut libc::msghdr, buf: &mut CmsgBuf, segment: u16) {
    msg.msg_control = buf.0.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(mem::size_of::<u16>() as u32) } as usize;
    // SAFETY: `buf` has CMSG_SPACE_INT octets, more than CMSG_SPACE(2); the header and data
    // written lie inside it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(msg);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as usize;
        libc::CMSG_DATA(c).cast::<u16>().write_unaligned(segment);
    }
}

/// An aligned buffer for one control message.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct CmsgBuf(pub(crate) [u8; CMSG_SPACE_INT]);

impl Default for CmsgBuf {
    fn default() -> CmsgBuf {
        CmsgBuf([0; CMSG_SPACE_INT])
    }
}

/// An eventfd that wakes a worker blocked in its receive call.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// A non-blocking eventfd.
    pub fn new() -> io::Result<Waker> {
        // SAFETY: plain eventfd(2); the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Waker { fd })
    }

    /// Wakes the waiter (the counter saturating is harmless: it is already awake).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 octets from a live u64.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
    }

    /// Clears the counter.
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 octets into a live u64.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut v).cast(), 8) };
    }
}

impl AsRawFd for Waker {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
