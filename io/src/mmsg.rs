//! The `recvmmsg`/`sendmmsg` backend: the reference path, and the fallback where io_uring is
//! not available (containers' default seccomp profiles refuse it).
//!
//! Receive: one non-blocking `recvmmsg` per socket per turn into this backend's buffers; only
//! when no socket had anything does the worker sleep in `poll(2)` (on its sockets and its
//! waker). Send: one `sendmmsg` per socket per turn; a message of several equal-sized packets
//! to one destination goes as one GSO datagram train (`UDP_SEGMENT`) where the socket allows
//! it. A send the kernel refuses under GSO ([`sock::gso_refused`]) turns GSO off for the socket and
//! goes again datagram by datagram.

use std::io;
use std::mem;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::backend::{Backend, BackendStats, IoKind, Outgoing, Received};
use crate::bufs::{SLOT_SIZE, Slab, SlotRef};
use crate::sock::{self, CmsgBuf, MAX_GSO_SEGMENTS, UdpSocket, Waker};

/// Receive buffer size with GRO on: the largest coalesced run the kernel hands over.
pub(crate) const GRO_BUF: usize = 65536;

/// The `recvmmsg`/`sendmmsg` backend of one worker.
pub struct Mmsg {
    socks: Vec<UdpSocket>,
    waker: std::sync::Arc<Waker>,
    buf_size: usize,
    batch: usize,
    rx_mem: Box<[u8]>,
    rx_names: Box<[libc::sockaddr_storage]>,
    rx_cmsg: Box<[CmsgBuf]>,
    rx_iov: Box<[libc::iovec]>,
    rx_hdrs: Box<[libc::mmsghdr]>,
    tx_hdrs: Vec<libc::mmsghdr>,
    tx_iov: Vec<libc::iovec>,
    tx_cmsg: Vec<CmsgBuf>,
    tx_dst: Vec<libc::sockaddr_storage>,
    pollfds: Vec<libc::pollfd>,
    /// Sockets to read in this try.
    ready: Vec<bool>,
    /// Sockets that had datagrams in the last try: read again before sleeping.
    busy: Vec<bool>,
    /// Receive tries so far (which socket goes first).
    calls: u64,
    batch_wait: Duration,
    stats: BackendStats,
}

// SAFETY: the raw pointers inside the message headers point only into this value's own heap
// buffers (boxed slices and vectors that are never resized after `new`), and are rebuilt before
// each system call; nothing is shared with another thread.
unsafe impl Send for Mmsg {}

impl std::fmt::Debug for Mmsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mmsg")
            .field("socks", &self.socks.len())
            .field("batch", &self.batch)
            .finish()
    }
}

impl Mmsg {
    /// A backend over `socks`, receiving at most `batch` datagrams per turn and sending at
    /// most `tx_max` packets per turn.
    ///
    /// After a sleep ends with fewer than `batch` datagrams, it waits up to `batch_wait` once
    /// for the rest, so that a burst costs one wake-up rather than one per datagram.
    pub fn new(
        socks: Vec<UdpSocket>,
        waker: std::sync::Arc<Waker>,
        batch: usize,
        tx_max: usize,
        batch_wait: Duration,
    ) -> Mmsg {
        let gro = socks.iter().any(|s| s.gro);
        let buf_size = if gro { GRO_BUF } else { SLOT_SIZE };
        let batch = batch.clamp(1, 1024);
        // SAFETY: these C structs are plain old data; all-zero is valid for each.
        let zero_ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let zero_iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: as above.
        let zero_hdr: libc::mmsghdr = unsafe { mem::zeroed() };
        let mut pollfds: Vec<libc::pollfd> = socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        pollfds.push(libc::pollfd {
            fd: waker.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        Mmsg {
            socks,
            waker,
            buf_size,
            batch,
            rx_mem: vec![0u8; batch * buf_size].into_boxed_slice(),
            rx_names: vec![zero_ss; batch].into_boxed_slice(),
            rx_cmsg: vec![CmsgBuf::default(); batch].into_boxed_slice(),
            rx_iov: vec![zero_iov; batch].into_boxed_slice(),
            rx_hdrs: vec![zero_hdr; batch].into_boxed_slice(),
            tx_hdrs: Vec::with_capacity(tx_max),
            tx_iov: Vec::with_capacity(tx_max),
            tx_cmsg: vec![CmsgBuf::default(); tx_max],
            tx_dst: vec![zero_ss; tx_max],
            ready: vec![true; pollfds.len() - 1],
            busy: vec![false; pollfds.len() - 1],
            calls: 0,
            pollfds,
            batch_wait,
            stats: BackendStats::default(),
        }
    }

    /// One non-blocking `recvmmsg` per socket, into the free buffers; returns how many
    /// datagrams came.
    fn try_recv(&mut self, out: &mut Vec<Received>) -> usize {
        self.try_recv_after(out, 0)
    }

    /// As `try_recv`, into the buffers from `start` on (those before hold datagrams of this
    /// turn already).
    fn try_recv_after(&mut self, out: &mut Vec<Received>, start: usize) -> usize {
        let max = self.batch.min(out.capacity());
        let mut used = start;
        // The first socket read takes what it has up to the batch; which socket goes first
        // turns round, so a busy leg cannot keep another from being read.
        let n = self.socks.len();
        let first = (self.calls % n as u64) as usize;
        self.calls = self.calls.wrapping_add(1);
        for j in 0..n {
            let si = (first + j) % n;
            if used >= max {
                break;
            }
            if !self.ready[si] {
                continue;
            }
            self.busy[si] = false;
            for k in used..max {
                self.rx_iov[k] = libc::iovec {
                    iov_base: self.rx_mem[k * self.buf_size..].as_mut_ptr().cast(),
                    iov_len: self.buf_size,
                };
                let h = &mut self.rx_hdrs[k].msg_hdr;
                h.msg_name = (&raw mut self.rx_names[k]).cast();
                h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &raw mut self.rx_iov[k];
                h.msg_iovlen = 1;
                h.msg_control = self.rx_cmsg[k].0.as_mut_ptr().cast();
                h.msg_controllen = sock::CMSG_SPACE_INT;
                h.msg_flags = 0;
                self.rx_hdrs[k].msg_len = 0;
            }
            self.stats.recv_calls += 1;
            // SAFETY: headers `used..max` point at this backend's live buffers, set up above.
            let n = unsafe {
                libc::recvmmsg(
                    self.socks[si].as_raw_fd(),
                    self.rx_hdrs[used..].as_mut_ptr(),
                    (max - used) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted {
                    self.stats.recv_errors += 1;
                }
                continue;
            }
            self.busy[si] = n > 0;
            for k in used..used + n as usize {
                let h = &self.rx_hdrs[k];
                let len = h.msg_len as usize;
                if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                    self.stats.truncated += 1;
                    continue;
                }
                let Some(src) = sock::from_sockaddr(&self.rx_names[k]) else {
                    continue;
                };
                // SAFETY: the kernel filled this header's control buffer and length.
                let segment = unsafe { sock::gro_segment(&h.msg_hdr) }.unwrap_or(len);
                out.push(Received {
                    sock: si as u16,
                    src,
                    off: k * self.buf_size,
                    len,
                    segment: segment.max(1),
                });
            }
            used += n as usize;
        }
        used - start
    }

    /// Sends the messages of socket `si` with `sendmmsg`, GSO where allowed.
    fn send_sock(&mut self, si: u16, slab: &mut Slab, msgs: &[Outgoing], slots: &[SlotRef]) {
        let gso = self.socks[si as usize].gso;
        self.tx_hdrs.clear();
        self.tx_iov.clear();
        // Each header's iovecs are a run of `tx_iov`; the pointers are filled once the vector
        // is complete (it never reallocates: capacity is the slab's packet bound).
        let cap = self.tx_iov.capacity();
        for m in msgs.iter().filter(|m| m.sock == si) {
            let count = m.count as usize;
            let per_msg = if gso && count > 1 {
                count.min(MAX_GSO_SEGMENTS)
            } else {
                1
            };
            let mut k = 0;
            while k < count {
                let n = per_msg.min(count - k);
                if self.tx_iov.len() + n > cap || self.tx_hdrs.len() >= self.tx_cmsg.len() {
                    // More than a turn's worth: cannot happen with the relay's sizing; the
                    // packets are counted as lost rather than sent out of bounds.
                    self.stats.send_errors += (count - k) as u64;
                    break;
                }
                let iov_start = self.tx_iov.len();
                for j in k..k + n {
                    let slot = slots[m.first as usize + j];
                    let len = if j + 1 == count {
                        m.last_len
                    } else {
                        m.seg_len
                    } as usize;
                    self.tx_iov.push(libc::iovec {
                        iov_base: slab.ptr(slot.index).cast(),
                        iov_len: len,
                    });
                }
                let hi = self.tx_hdrs.len();
                self.tx_dst[hi] = m.dst.ss;
                // SAFETY: plain old data; all-zero is valid.
                let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
                h.msg_hdr.msg_name = (&raw mut self.tx_dst[hi]).cast();
                h.msg_hdr.msg_namelen = m.dst.len;
                h.msg_hdr.msg_iov = iov_start as *mut libc::iovec; // fixed below
                h.msg_hdr.msg_iovlen = n;
                if n > 1 {
                    // SAFETY: the control buffer lives in `tx_cmsg` until the send returns.
                    unsafe { sock::set_gso_cmsg(&mut h.msg_hdr, &mut self.tx_cmsg[hi], m.seg_len) };
                }
                self.tx_hdrs.push(h);
                k += n;
            }
        }
        let base = self.tx_iov.as_mut_ptr();
        for h in &mut self.tx_hdrs {
            let start = h.msg_hdr.msg_iov as usize;
            // SAFETY: `start` is an index into `tx_iov` recorded above.
            h.msg_hdr.msg_iov = unsafe { base.add(start) };
        }
        let fd = self.socks[si as usize].as_raw_fd();
        let mut done = 0usize;
        while done < self.tx_hdrs.len() {
            self.stats.send_calls += 1;
            // SAFETY: headers `done..` point at live iovecs, addresses and control buffers of
            // this backend, and the iovecs at slab slots that stay allocated until after the
            // call.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.tx_hdrs[done..].as_mut_ptr(),
                    (self.tx_hdrs.len() - done) as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                for h in &self.tx_hdrs[done..done + n as usize] {
                    let segs = h.msg_hdr.msg_iovlen as u64;
                    self.stats.sent += segs;
                    if segs > 1 {
                        self.stats.gso_sends += 1;
                    }
                }
                done += n as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            let h = self.tx_hdrs[done];
            let segs = h.msg_hdr.msg_iovlen;
            let gso_refused = segs > 1 && e.raw_os_error().is_some_and(sock::gso_refused);
            if gso_refused {
                // The kernel or the device refuses GSO: go on without it, and send this
                // message's packets one by one.
                self.socks[si as usize].gso = false;
                self.stats.gso_fallbacks += 1;
                for j in 0..segs {
                    // SAFETY: the iovec lies in `tx_iov`, alive for this call.
                    let mut iov = unsafe { *h.msg_hdr.msg_iov.add(j) };
                    // SAFETY: plain old data; all-zero is valid.
                    let mut one: libc::msghdr = unsafe { mem::zeroed() };
                    one.msg_name = h.msg_hdr.msg_name;
                    one.msg_namelen = h.msg_hdr.msg_namelen;
                    one.msg_iov = &raw mut iov;
                    one.msg_iovlen = 1;
                    // SAFETY: as for the sendmmsg above.
                    let r = unsafe { libc::sendmsg(fd, &raw const one, 0) };
                    self.stats.send_calls += 1;
                    if r < 0 {
                        self.stats.send_errors += 1;
                    } else {
                        self.stats.sent += 1;
                    }
                }
            } else if e.kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                // Buffer full or a network error: this message is lost, the rest goes on.
                self.stats.send_errors += segs as u64;
            }
            done += 1;
        }
    }
}

impl Backend for Mmsg {
    fn kind(&self) -> IoKind {
        IoKind::Mmsg
    }

    fn recv(
        &mut self,
        _slab: &mut Slab,
        out: &mut Vec<Received>,
        timeout: Duration,
    ) -> io::Result<()> {
        out.clear();
        // Sockets that had datagrams last time are read again at once; only when none has
        // any does the worker sleep, and then it reads only the sockets poll names.
        let any_busy = self.busy.iter().any(|&b| b);
        if any_busy || timeout.is_zero() {
            // Every fourth try reads every socket, so that one that was quiet while another
            // kept the worker busy is found again.
            let all = timeout.is_zero() || !any_busy || self.calls.is_multiple_of(4);
            for (r, &b) in self.ready.iter_mut().zip(&self.busy) {
                *r = b || all;
            }
            if self.try_recv(out) > 0 || timeout.is_zero() {
                return Ok(());
            }
        }
        for p in &mut self.pollfds {
            p.revents = 0;
        }
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: `pollfds` is a live array of the given length.
        let rc = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                ms,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e);
        }
        if self.pollfds.last().is_some_and(|p| p.revents != 0) {
            self.waker.drain();
        }
        if rc > 0 {
            for (r, p) in self.ready.iter_mut().zip(&self.pollfds) {
                *r = p.revents != 0;
            }
            let got = self.try_recv(out);
            if got > 0 && got < self.batch.min(out.capacity()) && !self.batch_wait.is_zero() {
                // The rest of the burst goes into the free buffers after what came first.
                std::thread::sleep(self.batch_wait);
                self.try_recv_after(out, got);
            }
        }
        Ok(())
    }

    fn rx_data(&self) -> &[u8] {
        &self.rx_mem
    }

    fn release(&mut self) {}

    fn send(&mut self, slab: &mut Slab, msgs: &[Outgoing], slots: &[SlotRef]) {
        for si in 0..self.socks.len() as u16 {
            if msgs.iter().any(|m| m.sock == si) {
                self.send_sock(si, slab, msgs, slots);
            }
        }
        for m in msgs {
            for s in &slots[m.first as usize..m.first as usize + m.count as usize] {
                slab.free(*s);
            }
        }
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }

    fn gso(&self, sock: u16) -> bool {
        self.socks.get(sock as usize).is_some_and(|s| s.gso)
    }
}
