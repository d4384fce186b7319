//! The io_uring backend: one ring per worker (single issuer, cooperative task running), one
//! multishot `IORING_OP_RECVMSG` per socket into a shared provided buffer ring, sends as
//! `IORING_OP_SEND` with a destination address from the send slab, the command eventfd
//! read through the ring, and the next tick as an absolute `IORING_OP_TIMEOUT` on
//! `CLOCK_MONOTONIC`, so that one `io_uring_enter` submits every queued send and waits for
//! "datagrams, a command or the deadline".
//!
//! Task running: `IORING_SETUP_COOP_TASKRUN`, not `DEFER_TASKRUN`. With deferred task
//! running, kernels since 6.13 run at most about 20 queued task-work items per
//! `io_uring_enter` while completions are already waiting ("limit local tw done"); a
//! worker with hundreds of sockets bursting at once, whose every wake-up found completions
//! waiting, then left some sockets' receive wake-ups queued for seconds: their datagrams
//! sat in the socket while the multishot receive stayed armed (seen with 750 sockets per
//! worker in `media::tests::confs::five_hundred_conferences_of_3_io_uring`). Cooperative
//! task running runs all of it on every entry.
//!
//! A multishot receive that ends for want of provided buffers (`ENOBUFS`) has its socket
//! drained with plain non-blocking `recvfrom` calls before it is armed again, so nothing
//! queued meanwhile waits for the next datagram.
//!
//! Completion tags (`user_data`): kind in bits 56..64, socket generation (24 bits) in
//! bits 32..56, socket slot or send slot in bits 0..32.

use std::collections::VecDeque;
use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::RawFd;

use io_uring::types::{CancelBuilder, Fd, RecvMsgOut, TimeoutFlags, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use super::MediaHandler;
use super::addr::{NAME_LEN, parse_sockaddr};
use super::bufring::BufRing;
use super::clock::{mono_ns, split_ns};
use super::config::WorkerConfig;
use super::ioctx::Op;
use super::reactor::{GEN_MASK, Reactor, SHUTDOWN_PATIENCE};
use super::sockets::SockState;

const KIND_RECV: u64 = 1;
const KIND_SEND: u64 = 2;
const KIND_TIMEOUT: u64 = 3;
const KIND_WAKE: u64 = 4;
const KIND_CANCEL: u64 = 5;

/// Completions handled per pass before commands and ticks get their turn.
const CQE_BATCH: usize = 256;
const PASSES_PER_WAKE: usize = 4;
/// Datagrams read synchronously from one socket whose receive ran out of buffers.
const DRAIN_MAX: usize = 64;
/// Buffer group id of the worker's provided buffer ring.
const BGID: u16 = 0;

fn tag(kind: u64, generation: u32, idx: u32) -> u64 {
    (kind << 56) | (u64::from(generation & GEN_MASK) << 32) | u64::from(idx)
}

fn untag(ud: u64) -> (u64, u32, u32) {
    (ud >> 56, ((ud >> 32) as u32) & GEN_MASK, ud as u32)
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    let rel: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    let rel = String::from_utf8_lossy(&rel);
    let mut parts = rel.split(|c: char| !c.is_ascii_digit());
    let maj = parts
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    let min = parts
        .next()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(0);
    (maj, min) >= (major, minor)
}

/// The io_uring side of one worker. Created on the worker thread (single issuer).
pub struct RingBackend {
    // Field order matters: the ring must go before the memory it may write into.
    ring: IoUring,
    bufs: ManuallyDrop<BufRing>,
    msghdr: Box<libc::msghdr>,
    wake_fd: RawFd,
    wake_buf: ManuallyDrop<Box<u64>>,
    wake_armed: bool,
    timeout: Box<Timespec>,
    timeout_armed: bool,
    cqes: Box<[MaybeUninit<cqueue::Entry>]>,
    backlog: VecDeque<squeue::Entry>,
    /// Where a socket whose multishot receive ran out of provided buffers is drained
    /// synchronously before its receive is armed again.
    scratch: Box<[u8]>,
}

impl RingBackend {
    /// Sets up the ring and registers the buffer ring. Fails (to be answered by the epoll
    /// fallback) when io_uring is missing, forbidden (seccomp: EPERM) or too old.
    pub fn new(cfg: &WorkerConfig, wake_fd: RawFd) -> io::Result<Self> {
        if !kernel_at_least(6, 1) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring backend needs Linux 6.1 or later",
            ));
        }
        let sq = cfg.sq_entries.next_power_of_two();
        let cq = (u32::from(cfg.recv_buffers) + cfg.send_slots as u32 + 256)
            .next_power_of_two()
            .max(sq * 2);
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .setup_submit_all()
            .setup_cqsize(cq)
            .build(sq)
            .or_else(|_| {
                IoUring::builder()
                    .setup_coop_taskrun()
                    .setup_submit_all()
                    .setup_cqsize(cq)
                    .build(sq)
            })?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for code in [
            opcode::RecvMsgMulti::CODE,
            opcode::Send::CODE,
            opcode::Timeout::CODE,
            opcode::Read::CODE,
            opcode::AsyncCancel::CODE,
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "io_uring opcode not supported",
                ));
            }
        }
        let bufs = BufRing::new(cfg.recv_buffers, cfg.recv_buffer_size, BGID)?;
        bufs.register(&ring.submitter())?;
        // SAFETY: msghdr is plain data; only msg_namelen/msg_controllen matter for multishot.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_namelen = NAME_LEN as libc::socklen_t;
        Ok(Self {
            ring,
            bufs: ManuallyDrop::new(bufs),
            msghdr,
            wake_fd,
            wake_buf: ManuallyDrop::new(Box::new(0)),
            wake_armed: false,
            timeout: Box::new(Timespec::new()),
            timeout_armed: false,
            cqes: (0..CQE_BATCH).map(|_| MaybeUninit::uninit()).collect(),
            backlog: VecDeque::with_capacity(256),
            scratch: vec![0u8; cfg.recv_buffer_size].into_boxed_slice(),
        })
    }

    /// Runs the worker until shutdown.
    pub fn run<H: MediaHandler>(mut self, eng: &mut Reactor<H>) {
        let mut stop_deadline = u64::MAX;
        loop {
            self.flush(eng);
            if eng.run_detached() {
                self.flush(eng);
            }
            if eng.is_stopped() && (eng.drained() || mono_ns() >= stop_deadline) {
                break;
            }
            self.bufs.publish();
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                    ) => {}
                Err(_) => {
                    // The ring is unusable: stop the handler and leave.
                    eng.begin_shutdown();
                    break;
                }
            }
            eng.refresh_now();
            // Commands first: one queued before a datagram arrived (a remote address set
            // before the peer could know our port) applies before that datagram.
            if !eng.is_stopped() {
                eng.run_commands();
            }
            self.reap(eng);
            if !eng.is_stopped() {
                eng.run_ticks();
                if eng.stop_requested() {
                    eng.begin_shutdown();
                    stop_deadline = mono_ns().saturating_add(SHUTDOWN_PATIENCE.as_nanos() as u64);
                }
            }
        }
        drop(self); // cancels whatever is still in the kernel
        eng.finish();
    }

    /// Queues an SQE, submitting to make room if the queue is full, else keeping it for
    /// the next pass (order is kept).
    fn push(&mut self, e: squeue::Entry) {
        if !self.backlog.is_empty() || !self.try_push(&e) {
            self.backlog.push_back(e);
        }
    }

    fn try_push(&mut self, e: &squeue::Entry) -> bool {
        // SAFETY: every pointer an SQE carries (send slot, msghdr, timespec, eventfd
        // buffer) stays valid until its completion: they live in the slab or in self.
        if unsafe { self.ring.submission().push(e) }.is_ok() {
            return true;
        }
        self.bufs.publish();
        let _ = self.ring.submit();
        // SAFETY: as above.
        unsafe { self.ring.submission().push(e) }.is_ok()
    }

    fn arm_recv(&mut self, fd: RawFd, generation: u32, idx: u32) {
        let e = opcode::RecvMsgMulti::new(Fd(fd), &*self.msghdr, self.bufs.bgid())
            .build()
            .user_data(tag(KIND_RECV, generation, idx));
        self.push(e);
    }

    /// End of a callback batch: hand queued sends to the kernel, carry out socket work,
    /// keep the wake-up read and the deadline armed.
    fn flush<H: MediaHandler>(&mut self, eng: &mut Reactor<H>) {
        while let Some(e) = self.backlog.pop_front() {
            if !self.try_push(&e) {
                self.backlog.push_front(e);
                break;
            }
        }
        let io = &mut eng.io;
        for &i in io.slab.pending() {
            let (addr, addr_len) = io.slab.addr(i);
            let data = io.slab.data(i);
            let e = opcode::Send::new(Fd(io.slab.fd(i)), data.as_ptr(), data.len() as u32)
                // No destination on a connected socket's send to its peer.
                .dest_addr(if addr_len == 0 {
                    std::ptr::null()
                } else {
                    addr.as_ptr()
                })
                .dest_addr_len(addr_len)
                .build()
                .user_data(tag(KIND_SEND, 0, i));
            self.push(e);
        }
        io.slab.clear_pending();
        for k in 0..io.ops.len() {
            let op = io.ops[k];
            match op {
                Op::Arm(idx) => {
                    if let Some(s) = io.sockets.slot_mut(idx)
                        && s.state == SockState::Open
                        && !s.armed
                    {
                        s.armed = true;
                        let (fd, generation) = (s.raw_fd(), s.generation);
                        self.arm_recv(fd, generation, idx);
                    }
                }
                Op::Close(idx) | Op::Detach(idx) => {
                    let armed = io.sockets.slot(idx).is_some_and(|s| s.armed);
                    if armed {
                        // The receive's last completion finishes the close or detach.
                        let generation = io.sockets.slot(idx).map_or(0, |s| s.generation);
                        let e = opcode::AsyncCancel::new(tag(KIND_RECV, generation, idx))
                            .build()
                            .user_data(tag(KIND_CANCEL, 0, 0));
                        self.push(e);
                    } else if let Op::Close(_) = op {
                        io.sockets.finish_close(idx);
                    } else if let Some(d) = io.sockets.finish_detach(idx) {
                        io.detached.push(d);
                    }
                }
            }
        }
        io.ops.clear();
        if !self.wake_armed {
            self.wake_armed = true;
            let e = opcode::Read::new(
                Fd(self.wake_fd),
                (&mut **self.wake_buf as *mut u64).cast(),
                8,
            )
            .build()
            .user_data(tag(KIND_WAKE, 0, 0));
            self.push(e);
        }
        if !self.timeout_armed {
            self.timeout_armed = true;
            let at = if eng.is_stopped() {
                // Only the shutdown patience matters now: poll every few milliseconds.
                mono_ns().saturating_add(5_000_000)
            } else {
                eng.grid.next_deadline_ns()
            };
            let (sec, nsec) = split_ns(at);
            *self.timeout = Timespec::new().sec(sec).nsec(nsec);
            let e = opcode::Timeout::new(&*self.timeout)
                .flags(TimeoutFlags::ABS)
                .build()
                .user_data(tag(KIND_TIMEOUT, 0, 0));
            self.push(e);
        }
    }

    /// Handles the completions that are ready (a bounded number of passes).
    fn reap<H: MediaHandler>(&mut self, eng: &mut Reactor<H>) {
        let mut cqes = std::mem::take(&mut self.cqes);
        for pass in 0..PASSES_PER_WAKE {
            if pass > 0 {
                eng.refresh_now();
            }
            let n = self.ring.completion().fill(&mut cqes).len();
            if n == 0 {
                break;
            }
            for slot in &cqes[..n] {
                // SAFETY: `fill` initialised the first n entries.
                let cqe = unsafe { slot.assume_init_ref() };
                self.complete(eng, cqe.user_data(), cqe.result(), cqe.flags());
            }
            if n < CQE_BATCH {
                break;
            }
        }
        self.cqes = cqes;
    }

    fn complete<H: MediaHandler>(&mut self, eng: &mut Reactor<H>, ud: u64, res: i32, flags: u32) {
        let (kind, generation, idx) = untag(ud);
        match kind {
            KIND_RECV => self.complete_recv(eng, generation, idx, res, flags),
            KIND_SEND => {
                let s = &mut eng.io.counters.s;
                if res >= 0 {
                    s.packets_out += 1;
                    s.bytes_out += res as u64;
                } else {
                    s.send_errors += 1;
                }
                eng.io.slab.release(idx);
            }
            KIND_TIMEOUT => self.timeout_armed = false,
            KIND_WAKE => self.wake_armed = false,
            _ => {} // KIND_CANCEL and anything unknown: nothing to do.
        }
    }

    fn complete_recv<H: MediaHandler>(
        &mut self,
        eng: &mut Reactor<H>,
        generation: u32,
        idx: u32,
        res: i32,
        flags: u32,
    ) {
        if let Some(bid) = cqueue::buffer_select(flags) {
            if res > 0 {
                let buf = self.bufs.buffer(bid, res as usize);
                match RecvMsgOut::parse(buf, &self.msghdr) {
                    Ok(m) if !m.is_payload_truncated() && !m.is_name_data_truncated() => {
                        match parse_sockaddr(m.name_data()) {
                            Some(from) => eng.deliver(idx, generation, m.payload_data(), from),
                            None => eng.io.counters.s.recv_errors += 1,
                        }
                    }
                    _ => eng.io.counters.s.recv_errors += 1,
                }
            }
            self.bufs.recycle(bid);
        }
        if cqueue::more(flags) {
            return;
        }
        // The multishot receive has ended.
        let Some(slot) = eng.io.sockets.slot_mut(idx) else {
            return;
        };
        if slot.generation & GEN_MASK != generation || slot.state == SockState::Free {
            return;
        }
        slot.armed = false;
        let s = &mut eng.io.counters.s;
        match -res {
            libc::ENOBUFS => s.recv_enobufs += 1,
            // ECONNREFUSED: a connected socket's peer answered with ICMP port
            // unreachable (it closed its port); nothing is wrong with the receive.
            e if res < 0 && e != libc::ECANCELED && e != libc::ECONNREFUSED => s.recv_errors += 1,
            _ => {}
        }
        if slot.state == SockState::Closing {
            eng.io.sockets.finish_close(idx);
            return;
        }
        if slot.state == SockState::Detaching {
            if let Some(d) = eng.io.sockets.finish_detach(idx) {
                eng.io.detached.push(d);
            }
            return;
        }
        let fatal = matches!(
            -res,
            libc::EBADF | libc::ENOTSOCK | libc::EINVAL | libc::EOPNOTSUPP | libc::EFAULT
        );
        if fatal {
            slot.broken = true;
            return;
        }
        let fd = slot.raw_fd();
        let full_gen = slot.generation;
        s.recv_rearms += 1;
        if res == -libc::ENOBUFS {
            self.drain(eng, fd, idx, generation);
        }
        if let Some(slot) = eng.io.sockets.slot_mut(idx)
            && slot.state == SockState::Open
            && !slot.armed
        {
            slot.armed = true;
            self.arm_recv(fd, full_gen, idx);
        }
    }
}

impl RingBackend {
    /// Reads what socket `idx` holds with plain non-blocking `recvfrom` calls (at most
    /// [`DRAIN_MAX`]) and delivers it. Used after a multishot receive ended for want of
    /// provided buffers: the datagrams queued meanwhile are taken now, so the receive
    /// armed next starts from an empty queue and is woken by the next datagram.
    fn drain<H: MediaHandler>(
        &mut self,
        eng: &mut Reactor<H>,
        fd: RawFd,
        idx: u32,
        generation: u32,
    ) {
        for _ in 0..DRAIN_MAX {
            let mut name = super::addr::RawAddr::zeroed();
            let mut name_len = NAME_LEN as libc::socklen_t;
            // SAFETY: scratch and name are valid for the lengths given; fd is the slot's
            // open descriptor.
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    self.scratch.as_mut_ptr().cast(),
                    self.scratch.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                    (&raw mut name).cast(),
                    &raw mut name_len,
                )
            };
            if n < 0 {
                return; // EAGAIN: empty; anything else is for the armed receive to report.
            }
            let n = n as usize;
            eng.io.counters.s.recv_drained += 1;
            if n > self.scratch.len() {
                eng.io.counters.s.recv_errors += 1;
                continue;
            }
            // SAFETY: RawAddr is plain data of at least name_len bytes.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&raw const name).cast::<u8>(),
                    (name_len as usize).min(NAME_LEN),
                )
            };
            match parse_sockaddr(bytes) {
                Some(from) => eng.deliver(idx, generation, &self.scratch[..n], from),
                None => eng.io.counters.s.recv_errors += 1,
            }
        }
    }
}

impl Drop for RingBackend {
    /// Cancels every request still in the kernel (synchronously) before the memory the
    /// kernel may write into (receive buffers, the eventfd read buffer) is freed; if that
    /// cannot be confirmed, that memory is leaked rather than freed under the kernel.
    fn drop(&mut self) {
        let patience = Timespec::from(SHUTDOWN_PATIENCE);
        let ok = match self
            .ring
            .submitter()
            .register_sync_cancel(Some(patience), CancelBuilder::any())
        {
            Ok(()) => true,
            // Nothing was left to cancel.
            Err(e) => e.raw_os_error() == Some(libc::ENOENT),
        };
        let _ = self.ring.submitter().unregister_buf_ring(BGID);
        if ok {
            // SAFETY: no request is left that could write into these; never used again.
            unsafe {
                ManuallyDrop::drop(&mut self.bufs);
                ManuallyDrop::drop(&mut self.wake_buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip() {
        let ud = tag(KIND_RECV, 0x1234_5678, 0xdead_beef);
        assert_eq!(untag(ud), (KIND_RECV, 0x34_5678, 0xdead_beef));
        assert_eq!(untag(tag(KIND_SEND, 0, 7)), (KIND_SEND, 0, 7));
    }

    #[test]
    fn this_kernel_is_new_enough() {
        assert!(kernel_at_least(2, 6));
        assert!(!kernel_at_least(9999, 0));
    }
}
