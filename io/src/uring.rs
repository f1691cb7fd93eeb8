//! The io_uring backend: one ring per worker (single issuer, deferred task run), a multishot
//! `recvmsg` per socket on a provided-buffer ring, and `sendmsg` submissions batched into the
//! same ring enter as the next receive wait.
//!
//! - **Receive.** Each socket has a buffer group: a ring of buffers the kernel picks from as
//!   datagrams arrive. One multishot `RecvMsgMulti` per socket stays armed; its completion
//!   names the buffer, which holds the kernel's `io_uring_recvmsg_out` header, the source
//!   address, the control data (the GRO segment size) and the payload. A buffer goes back to
//!   the group when the worker has copied its datagram out ([`Backend::release`]). A
//!   completion without `IORING_CQE_F_MORE` means the multishot ended (with `ENOBUFS` when the
//!   group ran dry, which is counted): it is armed again.
//! - **Send.** Each message (one datagram, or a GSO train to one destination) has its header,
//!   iovecs and control buffer in a message slot that lives until its completion, and its
//!   packets stay in their slab slots until then ([`crate::bufs`]); `user_data` carries the
//!   message slot and its generation, so a late completion frees nothing that was reused.
//! - **One system call per turn.** The sends queued in a turn and the wait for the next
//!   receive go in one `io_uring_enter` (with a timeout as an extended argument).
//! - **Start-up.** The ring is set up with `SINGLE_ISSUER | DEFER_TASKRUN` (falling back to a
//!   plain ring on kernels before 6.1); `RecvMsg`, `SendMsg` and `Read` are probed; any refusal
//!   is an error that `io = "auto"` answers by choosing `mmsg`.

use std::alloc::{self, Layout};
use std::io;
use std::mem;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, Probe, cqueue, opcode, squeue};

use crate::backend::{Backend, BackendStats, IoKind, Outgoing, Received};
use crate::bufs::{SLOT_SIZE, Slab, SlotRef};
use crate::mmsg::GRO_BUF;
use crate::sock::{self, CmsgBuf, MAX_GSO_SEGMENTS, UdpSocket, Waker};

/// Octets of a provided buffer before the payload: the `io_uring_recvmsg_out` header (16),
/// the address (`sockaddr_storage`, 128) and the control data (24), rounded up.
const RECV_HEADROOM: usize = 256;

const KIND_RECV: u64 = 1;
const KIND_SEND: u64 = 2;
const KIND_WAKE: u64 = 3;
const KIND_CANCEL: u64 = 4;

fn tag(kind: u64, generation: u32, index: u32) -> u64 {
    (kind << 56) | (u64::from(generation & 0x00ff_ffff) << 32) | u64::from(index)
}

fn untag(ud: u64) -> (u64, u32, u32) {
    (ud >> 56, ((ud >> 32) & 0x00ff_ffff) as u32, ud as u32)
}

/// One entry of a provided-buffer ring (`struct io_uring_buf`).
#[repr(C)]
struct BufEntry {
    addr: u64,
    len: u32,
    bid: u16,
    /// Overlaid by the ring's tail in entry 0.
    resv: u16,
}

/// A provided-buffer ring: page-aligned entries the kernel reads; the tail is the `u16` at
/// octet 14 (the `resv` field of entry 0).
struct BufRing {
    base: *mut BufEntry,
    layout: Layout,
    entries: u16,
    tail: u16,
}

impl BufRing {
    fn new(entries: u16) -> BufRing {
        // The kernel maps the ring: it must start on a page.
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|p| p.is_power_of_two())
            .unwrap_or(4096);
        let layout = Layout::from_size_align(entries as usize * mem::size_of::<BufEntry>(), page)
            .expect("ring layout");
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { alloc::alloc_zeroed(layout) }.cast::<BufEntry>();
        if base.is_null() {
            alloc::handle_alloc_error(layout);
        }
        BufRing {
            base,
            layout,
            entries,
            tail: 0,
        }
    }

    /// Queues buffer `bid` at `addr`, `len` octets (visible to the kernel at [`BufRing::publish`]).
    fn push(&mut self, addr: *mut u8, len: usize, bid: u16) {
        let i = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: `i` < entries; only the fields the kernel reads are written, never `resv`
        // (in entry 0 it is the tail the kernel reads).
        unsafe {
            let e = self.base.add(i);
            (&raw mut (*e).addr).write(addr as u64);
            (&raw mut (*e).len).write(len as u32);
            (&raw mut (*e).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: octet 14 of the page-aligned ring is the 2-aligned tail field the kernel
        // reads; it is only accessed atomically by this thread and read by the kernel.
        let tail = unsafe { &*(self.base.cast::<u8>().add(14).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { alloc::dealloc(self.base.cast(), self.layout) };
    }
}

/// A send in flight: everything the kernel reads until its completion.
struct SendSlot {
    hdr: libc::msghdr,
    iov: [libc::iovec; MAX_GSO_SEGMENTS],
    cmsg: CmsgBuf,
    dst: libc::sockaddr_storage,
    slots: [SlotRef; MAX_GSO_SEGMENTS],
    n: usize,
    sock: u16,
    generation: u32,
}

/// The io_uring backend of one worker.
pub struct Uring {
    // Declared first so that it drops first: the kernel stops using the buffers and message
    // slots below before they are freed.
    ring: IoUring,
    socks: Vec<UdpSocket>,
    waker: Arc<Waker>,
    wake_buf: Box<u64>,
    buf_rings: Vec<BufRing>,
    entries: u16,
    buf_size: usize,
    rx_mem: Box<[u8]>,
    rx_hdr: Box<[libc::msghdr]>,
    held: Vec<(u16, u16)>,
    rearm: Vec<bool>,
    /// The waker's read completed and is not armed again yet.
    wake_unarmed: bool,
    sends: Box<[SendSlot]>,
    send_free: Vec<u32>,
    /// Once a datagram is in, wait this long for the rest of a batch (0: return at once).
    batch_wait_us: u32,
    batch: usize,
    stats: BackendStats,
}

// SAFETY: the raw pointers (buffer rings, message headers) point into this value's own heap
// memory, which the kernel uses on behalf of this ring only; the ring is driven from the one
// thread that owns the value.
unsafe impl Send for Uring {}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("socks", &self.socks.len())
            .field("entries", &self.entries)
            .finish()
    }
}

/// Checks that this kernel and this process may use io_uring for the relay the way the
/// backend does: a ring set up, the opcodes there, and one datagram received through a
/// provided-buffer ring by a multishot `recvmsg` with a timed wait, on a loopback socket of
/// its own (that covers Linux 5.11's timed waits, 5.19's buffer rings and 6.0's multishot
/// `recvmsg`, and seccomp filters that refuse any of it). The error says what failed.
pub fn probe() -> io::Result<()> {
    let ring = new_ring(8)?;
    check_opcodes(&ring)?;
    drop(ring);
    let opts = sock::SocketOptions {
        reuse_port: false,
        gso: false,
        gro: false,
        buffer: 0,
    };
    let s = UdpSocket::bind("127.0.0.1:0".parse().expect("address"), opts)?;
    let addr = s.local_addr();
    let mut u = Uring::new(vec![s], Arc::new(Waker::new()?), 1, 4, Duration::ZERO)?;
    let tx = std::net::UdpSocket::bind("127.0.0.1:0")?;
    tx.send_to(b"mcx-io probe", addr)?;
    let mut slab = Slab::new(1);
    let mut out = Vec::with_capacity(1);
    for _ in 0..3 {
        u.recv(&mut slab, &mut out, Duration::from_millis(200))?;
        if let Some(r) = out.first() {
            let ok = &u.rx_data()[r.off..r.off + r.len] == b"mcx-io probe";
            u.release();
            return if ok {
                Ok(())
            } else {
                Err(io::Error::other("the probe datagram came back changed"))
            };
        }
        if u.stats.recv_errors > 0 || u.stats.rearms > 1 {
            break;
        }
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "a multishot recvmsg on a provided-buffer ring did not deliver a datagram",
    ))
}

fn new_ring(entries: u32) -> io::Result<IoUring> {
    let flagged = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries * 4)
        .build(entries);
    match flagged {
        Ok(r) => Ok(r),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            IoUring::builder().setup_cqsize(entries * 4).build(entries)
        }
        Err(e) => Err(e),
    }
}

fn check_opcodes(ring: &IoUring) -> io::Result<()> {
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for (code, name) in [
        (opcode::RecvMsg::CODE, "recvmsg"),
        (opcode::SendMsg::CODE, "sendmsg"),
        (opcode::Read::CODE, "read"),
    ] {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring has no {name} opcode"),
            ));
        }
    }
    Ok(())
}

impl Uring {
    /// A ring over `socks`, with room for `tx_max` packets in flight.
    ///
    /// A wait that has a datagram goes on up to `batch_wait` for more, up to `batch` of them
    /// (`IORING_FEAT_MIN_TIMEOUT`, Linux 6.12; without it the wait ends at the first).
    pub fn new(
        socks: Vec<UdpSocket>,
        waker: Arc<Waker>,
        batch: usize,
        tx_max: usize,
        batch_wait: Duration,
    ) -> io::Result<Uring> {
        let ring = new_ring(1024)?;
        check_opcodes(&ring)?;
        let batch_wait_us = if ring.params().is_feature_min_timeout() {
            batch_wait.as_micros().min(u32::MAX as u128) as u32
        } else {
            0
        };
        let gro = socks.iter().any(|s| s.gro);
        // Each buffer holds the kernel's `io_uring_recvmsg_out` header, the address and the
        // control data before the payload: room for those on top of the largest payload.
        let (entries, buf_size): (u16, usize) = if gro {
            (64, GRO_BUF + RECV_HEADROOM)
        } else {
            (256, SLOT_SIZE + RECV_HEADROOM)
        };
        let n = socks.len();
        let rx_mem = vec![0u8; n * entries as usize * buf_size].into_boxed_slice();
        // SAFETY: plain old data; all-zero is valid.
        let zero_hdr: libc::msghdr = unsafe { mem::zeroed() };
        let mut rx_hdr = vec![zero_hdr; n].into_boxed_slice();
        for (h, s) in rx_hdr.iter_mut().zip(&socks) {
            h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_controllen = if s.gro { sock::CMSG_SPACE_INT } else { 0 };
        }
        let sends = (0..tx_max.max(1))
            .map(|_| SendSlot {
                hdr: zero_hdr,
                iov: [libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                }; MAX_GSO_SEGMENTS],
                cmsg: CmsgBuf::default(),
                // SAFETY: plain old data; all-zero is valid.
                dst: unsafe { mem::zeroed() },
                slots: [SlotRef {
                    index: 0,
                    generation: 0,
                }; MAX_GSO_SEGMENTS],
                n: 0,
                sock: 0,
                generation: 0,
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let mut u = Uring {
            ring,
            waker,
            wake_buf: Box::new(0),
            buf_rings: (0..n).map(|_| BufRing::new(entries)).collect(),
            entries,
            buf_size,
            rx_mem,
            rx_hdr,
            held: Vec::with_capacity(n * entries as usize),
            rearm: vec![false; n],
            wake_unarmed: false,
            send_free: (0..sends.len() as u32).rev().collect(),
            batch_wait_us,
            batch: batch.max(1),
            sends,
            socks,
            stats: BackendStats::default(),
        };
        for si in 0..n {
            for bid in 0..entries {
                let addr = u.buf_addr(si, bid);
                u.buf_rings[si].push(addr, buf_size, bid);
            }
            u.buf_rings[si].publish();
            // SAFETY: the ring memory lives in `u.buf_rings[si]`, which outlives the
            // registration (the ring is dropped first).
            unsafe {
                u.ring.submitter().register_buf_ring_with_flags(
                    u.buf_rings[si].base as u64,
                    entries,
                    si as u16,
                    0,
                )?;
            }
            u.arm_recv(si)?;
        }
        u.arm_wake()?;
        u.ring.submit()?;
        Ok(u)
    }

    fn buf_addr(&mut self, sock: usize, bid: u16) -> *mut u8 {
        let off = (sock * self.entries as usize + bid as usize) * self.buf_size;
        self.rx_mem[off..].as_mut_ptr()
    }

    fn push_sqe(&mut self, e: &squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry pushed points at memory this value keeps alive until the
            // entry's completion: message headers in `rx_hdr`/`sends`, the wake buffer, and
            // buffers registered in a buffer group.
            if unsafe { self.ring.submission().push(e) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    fn arm_recv(&mut self, si: usize) -> io::Result<()> {
        let fd = self.socks[si].as_raw_fd();
        let e = opcode::RecvMsgMulti::new(Fd(fd), &raw const self.rx_hdr[si], si as u16)
            .build()
            .user_data(tag(KIND_RECV, 0, si as u32));
        self.push_sqe(&e)
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let e = opcode::Read::new(
            Fd(self.waker.as_raw_fd()),
            (&raw mut *self.wake_buf).cast(),
            8,
        )
        .build()
        .user_data(tag(KIND_WAKE, 0, 0));
        self.push_sqe(&e)
    }

    fn on_recv(&mut self, si: usize, res: i32, flags: u32, out: &mut Vec<Received>) {
        if !cqueue::more(flags) {
            self.rearm[si] = true;
        }
        if res < 0 {
            if -res == libc::ENOBUFS {
                self.stats.enobufs += 1;
            } else if -res != libc::ECANCELED {
                self.stats.recv_errors += 1;
            }
            return;
        }
        let Some(bid) = cqueue::buffer_select(flags) else {
            self.stats.recv_errors += 1;
            return;
        };
        self.held.push((si as u16, bid));
        let off = (si * self.entries as usize + bid as usize) * self.buf_size;
        let buf = &self.rx_mem[off..off + (res as usize).min(self.buf_size)];
        let Ok(m) = io_uring::types::RecvMsgOut::parse(buf, &self.rx_hdr[si]) else {
            self.stats.recv_errors += 1;
            return;
        };
        if m.is_payload_truncated() {
            self.stats.truncated += 1;
            return;
        }
        // SAFETY: plain old data; all-zero is valid.
        let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let name = m.name_data();
        let nl = name.len().min(mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: copies at most the storage's size from the kernel's name field.
        unsafe {
            std::ptr::copy_nonoverlapping(name.as_ptr(), (&raw mut ss).cast::<u8>(), nl);
        }
        let Some(src) = sock::from_sockaddr(&ss) else {
            return;
        };
        let payload = m.payload_data();
        let len = payload.len();
        let segment = {
            let ctl = m.control_data();
            if ctl.is_empty() {
                None
            } else {
                // SAFETY: plain old data; all-zero is valid.
                let mut h: libc::msghdr = unsafe { mem::zeroed() };
                h.msg_control = ctl.as_ptr() as *mut _;
                h.msg_controllen = ctl.len();
                // SAFETY: `h` describes the control data the kernel wrote into this buffer.
                unsafe { sock::gro_segment(&h) }
            }
        };
        let poff = payload.as_ptr() as usize - self.rx_mem.as_ptr() as usize;
        if out.len() < out.capacity() {
            out.push(Received {
                sock: si as u16,
                src,
                off: poff,
                len,
                segment: segment.unwrap_or(len).max(1),
            });
        }
    }

    fn on_send(&mut self, slab: &mut Slab, generation: u32, index: u32, res: i32) {
        let Some(s) = self.sends.get_mut(index as usize) else {
            return;
        };
        if s.generation & 0x00ff_ffff != generation || s.n == 0 {
            return;
        }
        let n = s.n;
        if res < 0 && n > 1 && crate::sock::gso_refused(-res) {
            // The kernel (or the device) refuses GSO here: the socket goes on without it,
            // and this train's packets, still in their slots, go one by one.
            let (sock, dst, dst_len) = (s.sock, s.dst, s.hdr.msg_namelen);
            let slots = s.slots;
            let lens: [usize; MAX_GSO_SEGMENTS] = core::array::from_fn(|j| s.iov[j].iov_len);
            s.n = 0;
            self.send_free.push(index);
            self.socks[sock as usize].gso = false;
            self.stats.gso_fallbacks += 1;
            for j in 0..n {
                self.queue_send(slab, sock, &dst, dst_len, 0, &slots[j..j + 1], |_| lens[j]);
            }
            return;
        }
        for r in &s.slots[..n] {
            slab.free(*r);
        }
        if res < 0 {
            self.stats.send_errors += n as u64;
        } else {
            self.stats.sent += n as u64;
            if n > 1 {
                self.stats.gso_sends += 1;
            }
        }
        s.n = 0;
        self.send_free.push(index);
    }

    /// Queues one message of `n` packets (GSO when `n > 1`).
    #[allow(clippy::too_many_arguments)]
    fn queue_send(
        &mut self,
        slab: &mut Slab,
        sock: u16,
        dst: &libc::sockaddr_storage,
        dst_len: libc::socklen_t,
        seg_len: u16,
        packets: &[SlotRef],
        lens: impl Fn(usize) -> usize,
    ) {
        let Some(index) = self.send_free.pop() else {
            self.stats.send_errors += packets.len() as u64;
            for p in packets {
                slab.free(*p);
            }
            return;
        };
        let fd = self.socks[sock as usize].as_raw_fd();
        let s = &mut self.sends[index as usize];
        s.generation = s.generation.wrapping_add(1);
        s.n = packets.len();
        s.sock = sock;
        s.dst = *dst;
        for (j, p) in packets.iter().enumerate() {
            s.slots[j] = *p;
            s.iov[j] = libc::iovec {
                iov_base: slab.ptr(p.index).cast(),
                iov_len: lens(j),
            };
        }
        // SAFETY: plain old data; all-zero is valid.
        s.hdr = unsafe { mem::zeroed() };
        s.hdr.msg_name = (&raw mut s.dst).cast();
        s.hdr.msg_namelen = dst_len;
        s.hdr.msg_iov = s.iov.as_mut_ptr();
        s.hdr.msg_iovlen = packets.len();
        if packets.len() > 1 {
            // SAFETY: the control buffer lives in the send slot until the completion.
            unsafe { sock::set_gso_cmsg(&mut s.hdr, &mut s.cmsg, seg_len) };
        }
        let e = opcode::SendMsg::new(Fd(fd), &raw const s.hdr)
            .build()
            .user_data(tag(KIND_SEND, s.generation, index));
        self.stats.send_calls += 1;
        if self.push_sqe(&e).is_err() {
            self.on_send(
                slab,
                self.sends[index as usize].generation & 0x00ff_ffff,
                index,
                -libc::EAGAIN,
            );
        }
    }
}

impl Backend for Uring {
    fn kind(&self) -> IoKind {
        IoKind::Uring
    }

    fn recv(
        &mut self,
        slab: &mut Slab,
        out: &mut Vec<Received>,
        timeout: Duration,
    ) -> io::Result<()> {
        out.clear();
        for si in 0..self.rearm.len() {
            if self.rearm[si] {
                self.arm_recv(si)?;
                // Cleared once armed: a failed submission is tried again next turn.
                self.rearm[si] = false;
                self.stats.rearms += 1;
            }
        }
        let ts = Timespec::new()
            .sec(timeout.as_secs())
            .nsec(timeout.subsec_nanos());
        self.stats.recv_calls += 1;
        let (want, args) = if self.batch_wait_us > 0 && !timeout.is_zero() {
            // Wake once per batch, not once per datagram: after the first completion the
            // kernel waits up to `batch_wait_us` for the rest.
            (
                self.batch,
                SubmitArgs::new()
                    .timespec(&ts)
                    .min_wait_usec(self.batch_wait_us),
            )
        } else {
            (1, SubmitArgs::new().timespec(&ts))
        };
        let mut rearm_wake = false;
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        // The last turn's sends complete inline, so their completions may end this wait at
        // once with no datagram: the worker then publishes them and waits again.
        loop {
            if out.len() >= out.capacity() {
                break;
            }
            let Some(cqe) = self.ring.completion().next() else {
                break;
            };
            let (kind, generation, index) = untag(cqe.user_data());
            match kind {
                KIND_RECV => self.on_recv(index as usize, cqe.result(), cqe.flags(), out),
                KIND_SEND => self.on_send(slab, generation, index, cqe.result()),
                KIND_WAKE => rearm_wake = true,
                _ => {}
            }
        }
        if rearm_wake {
            self.wake_unarmed = true;
        }
        if self.wake_unarmed {
            self.arm_wake()?;
            self.wake_unarmed = false;
        }
        Ok(())
    }

    fn rx_data(&self) -> &[u8] {
        &self.rx_mem
    }

    fn release(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        for &(si, bid) in &held {
            let addr = self.buf_addr(si as usize, bid);
            let size = self.buf_size;
            self.buf_rings[si as usize].push(addr, size, bid);
        }
        for r in &self.buf_rings {
            r.publish();
        }
        self.held = held;
        self.held.clear();
    }

    fn send(&mut self, slab: &mut Slab, msgs: &[Outgoing], slots: &[SlotRef]) {
        for m in msgs {
            let all = &slots[m.first as usize..m.first as usize + m.count as usize];
            let count = all.len();
            let per = if self.socks[m.sock as usize].gso && count > 1 {
                MAX_GSO_SEGMENTS
            } else {
                1
            };
            let mut k = 0;
            while k < count {
                let n = per.min(count - k);
                let lens = |j: usize| {
                    if k + j + 1 == count {
                        m.last_len as usize
                    } else {
                        m.seg_len as usize
                    }
                };
                self.queue_send(
                    slab,
                    m.sock,
                    &m.dst.ss,
                    m.dst.len,
                    m.seg_len,
                    &all[k..k + n],
                    lens,
                );
                k += n;
            }
        }
    }

    fn finish(&mut self, slab: &mut Slab) {
        let deadline = std::time::Instant::now() + Duration::from_millis(200);
        while self.send_free.len() < self.sends.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let ts = Timespec::new().nsec(left.subsec_nanos().max(1));
            let args = SubmitArgs::new().timespec(&ts);
            if let Err(e) = self.ring.submitter().submit_with_args(1, &args)
                && !matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                )
            {
                break;
            }
            loop {
                let Some(cqe) = self.ring.completion().next() else {
                    break;
                };
                let (kind, generation, index) = untag(cqe.user_data());
                if kind == KIND_SEND {
                    self.on_send(slab, generation, index, cqe.result());
                }
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

impl Drop for Uring {
    fn drop(&mut self) {
        // Cancel the armed receives and the wake read, and wait briefly for the kernel to let
        // go of them before the memory goes.
        let e = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(tag(KIND_CANCEL, 0, 0));
        if self.push_sqe(&e).is_ok() {
            let ts = Timespec::new().nsec(50_000_000);
            let args = SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            while self.ring.completion().next().is_some() {}
        }
        for si in 0..self.buf_rings.len() {
            let _ = self.ring.submitter().unregister_buf_ring(si as u16);
        }
    }
}
